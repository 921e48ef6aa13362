"""``check`` over many targets: JSON Lines or one line each, a progress bar, a summary.

Imported only when a command checks several targets, so Rich and the scanner cost
nothing to ``tlsdoctor --help``.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterator, Sequence

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TimeRemainingColumn

from tlsdoctor.errors import InputError
from tlsdoctor.eventloop import run as run_loop
from tlsdoctor.execute import DEFAULT_CHUNK, Executor, open_executor
from tlsdoctor.live import LiveOptions
from tlsdoctor.models import Report
from tlsdoctor.pem import open_input
from tlsdoctor.probe.targets import Endpoint, Starttls, parse_target
from tlsdoctor.render.json_report import dumps, report_to_dict
from tlsdoctor.render.safe import safe_bytes, safe_text
from tlsdoctor.render.text import make_console, render_line, render_summary
from tlsdoctor.scan import fitting_concurrency

# The longest line a target file may have: a host name is at most 253 characters.
MAX_LINE_BYTES = 4096


def target_lines(path: str) -> Iterator[tuple[int, str | InputError]]:
    """``(number, text)`` for each line of the target file at ``path`` (``-``: stdin),
    read lazily and bounded: a line too long or not UTF-8 comes as an :class:`InputError`
    for that line, and reading goes on at the next one."""
    handle = open_input(path)
    try:
        number = 0
        while True:
            raw = handle.readline(MAX_LINE_BYTES + 1)
            if not raw:
                return
            number += 1
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                while raw and not raw.endswith(b"\n"):  # skip the rest, in bounded pieces
                    raw = handle.readline(MAX_LINE_BYTES)
                yield (
                    number,
                    InputError(
                        f"{path}:{number}: a line longer than {MAX_LINE_BYTES} bytes, "
                        "not 'HOST[:PORT] [ADDR]'"
                    ),
                )
                continue
            try:
                yield number, raw.decode("utf-8")
            except UnicodeDecodeError:
                yield (
                    number,
                    InputError(f"{path}:{number}: not UTF-8 text ({safe_bytes(raw.strip(), 40)})"),
                )
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    finally:
        if handle is not sys.stdin.buffer:
            handle.close()


def _line_target(
    path: str, number: int, text: str, connect: str | None, mode: Starttls | None
) -> Endpoint | None:
    """The endpoint a line names; None for a blank or comment line."""
    line = text.split("#", 1)[0].strip()
    if not line:
        return None
    fields = line.split()
    if len(fields) > 2:
        raise InputError(
            f"{path}:{number}: expected 'HOST[:PORT] [ADDR]', got '{safe_text(line, 80)}'"
        )
    try:
        endpoint = parse_target(
            fields[0], connect=fields[1] if len(fields) == 2 else None, starttls=mode
        )
        if connect is not None:
            endpoint = parse_target(str(endpoint), connect=connect, starttls=mode)
    except InputError as exc:
        raise InputError(f"{path}:{number}: {exc}") from exc
    return endpoint


def endpoints(
    targets: Sequence[str],
    target_file: str | None,
    connect: str | None,
    mode: Starttls | None,
    bad_lines: list[InputError] | None = None,
) -> Iterator[Endpoint]:
    """The targets from the command line, then from the file, read lazily. A bad line
    of the file is reported on stderr (and kept in ``bad_lines``) and skipped: one typo
    must not cost the results of every other line."""
    for text in targets:
        yield parse_target(text, connect=connect, starttls=mode)
    if not target_file:
        return
    for number, line in target_lines(target_file):
        try:
            if isinstance(line, InputError):
                raise line
            endpoint = _line_target(target_file, number, line, connect, mode)
        except InputError as exc:
            click.echo(f"tlsdoctor: skipped: {safe_text(exc, 500)}", err=True)
            if bad_lines is not None:
                bad_lines.append(exc)
            continue
        if endpoint is not None:
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
    *,
    workers: int | None = None,
    cluster: str | None = None,
    ordered: bool = True,
    chunk_size: int = DEFAULT_CHUNK,
) -> int:
    """Check every target (in this process, on ``workers`` local processes or on the Dask
    scheduler at ``cluster``); print each report when ready, in input order unless not
    ``ordered``; return the worst exit code."""
    stderr = Console(stderr=True)
    show_progress = stderr.is_terminal if progress is None else progress
    stdout = None if as_json else make_console()
    verdicts: Counter[str] = Counter()
    codes: Counter[str] = Counter()
    worst = 0
    bad_lines: list[InputError] = []
    if target_file and target_file != "-":
        open_input(target_file).close()  # a missing file or a FIFO: refused before any check
    fitting = fitting_concurrency(concurrency)
    if fitting < concurrency and workers is None and cluster is None:
        click.echo(
            f"tlsdoctor: checking {fitting} targets at once, not {concurrency}: "
            "the open-file limit (ulimit -n) allows no more",
            err=True,
        )

    async def run(executor: Executor) -> None:
        nonlocal worst
        bar = _Bar(stderr, _count(targets, target_file)) if show_progress else None
        try:
            async for report in executor.reports(
                endpoints(targets, target_file, connect, mode, bad_lines),
                options,
                concurrency=fitting,
                ordered=ordered,
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

    try:
        with open_executor(workers, cluster, chunk_size) as executor:
            run_loop(run(executor))
    finally:  # what finished is summed up even when the run stops early
        if stdout is not None:
            if bad_lines:
                verdicts["error"] += len(bad_lines)
                codes["(unreadable lines, skipped)"] += len(bad_lines)
            render_summary(stdout, verdicts, codes)
    return max(worst, 3) if bad_lines else worst


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
    if not target_file or target_file == "-":
        return len(targets) if not target_file else None
    try:
        lines = sum(
            1
            for _, text in target_lines(target_file)
            if isinstance(text, InputError) or text.split("#", 1)[0].strip()
        )
    except InputError:
        return None
    return len(targets) + lines
