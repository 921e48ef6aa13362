"""``check`` over many targets: JSON Lines or one line each, a progress bar, a summary.

Imported only when a command checks several targets, so Rich and the scanner cost
nothing to ``tlsdoctor --help``.
"""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from collections.abc import Iterator, Sequence

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TimeRemainingColumn

from tlsdoctor.live import LiveOptions
from tlsdoctor.models import Report
from tlsdoctor.probe.targets import Endpoint, Starttls, parse_target, read_targets
from tlsdoctor.render.json_report import dumps, report_to_dict
from tlsdoctor.render.text import make_console, render_line, render_summary
from tlsdoctor.scan import scan


def endpoints(
    targets: Sequence[str], target_file: str | None, connect: str | None, mode: Starttls | None
) -> Iterator[Endpoint]:
    """The targets from the command line, then from the file, read lazily."""
    for text in targets:
        yield parse_target(text, connect=connect, starttls=mode)
    if target_file:
        for endpoint in read_targets(target_file, starttls=mode):
            if connect is not None:
                endpoint = parse_target(str(endpoint), connect=connect, starttls=mode)
            yield endpoint


def check_many(
    targets: Sequence[str],
    target_file: str | None,
    connect: str | None,
    mode: Starttls | None,
    options: LiveOptions,
    concurrency: int,
    progress: bool | None,
    as_json: bool,
) -> int:
    """Check every target; print each report when ready, in input order; return the worst
    exit code."""
    stderr = Console(stderr=True)
    show_progress = stderr.is_terminal if progress is None else progress
    stdout = None if as_json else make_console()
    verdicts: Counter[str] = Counter()
    codes: Counter[str] = Counter()
    worst = 0

    async def run() -> None:
        nonlocal worst
        bar = _Bar(stderr, _count(targets, target_file)) if show_progress else None
        try:
            async for report in scan(
                endpoints(targets, target_file, connect, mode),
                options,
                concurrency=concurrency,
                on_report=bar.advance if bar is not None else None,
            ):
                worst = max(worst, report.exit_code)
                verdicts[report.verdict.value] += 1
                codes.update(code.value for code in report.codes)
                if stdout is None:
                    sys.stdout.write(dumps(report_to_dict(report)) + "\n")
                    sys.stdout.flush()
                else:
                    render_line(report, stdout)
        finally:
            if bar is not None:
                bar.stop()

    asyncio.run(run())
    if stdout is not None:
        render_summary(stdout, verdicts, codes)
    return worst


class _Bar:
    """A progress bar on stderr, advanced as each check finishes."""

    def __init__(self, console: Console, total: int | None) -> None:
        self.progress = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        self.progress.start()
        self.task: TaskID = self.progress.add_task("checking", total=total)

    def advance(self, _: Report) -> None:
        self.progress.advance(self.task)

    def stop(self) -> None:
        self.progress.stop()


def _count(targets: Sequence[str], target_file: str | None) -> int | None:
    """How many targets there are (for the bar's total): one pass over the file."""
    if not target_file:
        return len(targets)
    try:
        with open(target_file, encoding="utf-8") as handle:
            lines = sum(1 for line in handle if line.split("#", 1)[0].strip())
    except OSError:
        return None
    return len(targets) + lines
