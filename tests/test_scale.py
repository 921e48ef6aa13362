"""check -f across processes: --workers (a Dask LocalCluster) and --cluster (real `dask
scheduler` and `dask worker` processes on 127.0.0.1, started and stopped here) give the
reports one process gives; a worker SIGKILLed mid-scan costs nothing; a scheduler that is
unreachable or goes away ends the run with one sentence and exit 3."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import servers
from conftest import validate_report_json
from pki import DAY, make_root

NOW_REAL = dt.datetime.now(dt.timezone.utc)
# Fields that differ from one run to the next whoever runs the check.
VOLATILE = frozenset({"checked_at", "evaluated_at", "seconds", "offset_seconds", "date"})
TIMEOUT = "2"  # per check: the silent targets take this long, which makes chunks slow

pytestmark = pytest.mark.skipif(not servers.nginx_available(), reason="nginx is not installed")


@dataclass
class Site:
    root: Path  # the CA file to trust
    port: int  # nginx serving *.scale.test with its chain
    silent: int  # a port that accepts and says nothing
    closed: int


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("scale")
    root = make_root("Scale Root", not_before=NOW_REAL - 10 * DAY, not_after=NOW_REAL + 3650 * DAY)
    issuing = root.issue_ca("Scale CA", not_before=NOW_REAL - DAY, not_after=NOW_REAL + 365 * DAY)
    leaf = issuing.issue_leaf(
        ["*.scale.test"], not_before=NOW_REAL - DAY, not_after=NOW_REAL + 80 * DAY
    )
    (folder / "root.pem").write_bytes(root.pem())
    (folder / "full.pem").write_bytes(leaf.pem() + issuing.pem())
    (folder / "key.pem").write_bytes(leaf.key_pem())
    served = [("_", folder / "full.pem", folder / "key.pem", True)]
    with servers.nginx(folder, served) as port, servers.silent_port() as silent:
        yield Site(folder / "root.pem", port, silent, servers.free_port())


def targets(site: Site, folder: Path, good: int, *, silent: int = 0) -> Path:
    """A target file: ``good`` trusted names, one wrong name, one closed port, a bad line,
    and ``silent`` targets that time out, spread among the others."""
    lines = [f"s{n}.scale.test:{site.port} 127.0.0.1" for n in range(good)]
    lines.insert(good // 2, f"wrong.example:{site.port} 127.0.0.1")
    lines.insert(1, f"127.0.0.1:{site.closed}")
    lines.insert(3, "not a target line at all")
    for n in range(silent):
        lines.insert(2 * n, f"quiet{n}.scale.test:{site.silent} 127.0.0.1")
    path = folder / "targets.txt"
    path.write_text("# fleet\n" + "\n".join(lines) + "\n")
    return path


def tlsdoctor(site: Site, target_file: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "tlsdoctor",
        "check",
        "-f",
        str(target_file),
        "--ca-file",
        str(site.root),
        "--no-revocation",
        "--timeout",
        TIMEOUT,
        "--no-progress",
        *extra,
    ]


def run(argv: Sequence[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)


def stable(line: str) -> dict[str, Any]:
    data = json.loads(line)
    validate_report_json(data)
    return dict(_without_volatile(data))


def _without_volatile(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_volatile(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_without_volatile(v) for v in value]
    return value


def names(out: str) -> list[str]:
    return [json.loads(line)["target"]["host"] for line in out.splitlines()]


def only_our_sentences(stderr: str) -> None:
    """Dask's logs and tracebacks never reach the terminal: every line is tlsdoctor's."""
    assert "Traceback" not in stderr, stderr
    for line in stderr.splitlines():
        assert line.startswith("tlsdoctor: "), stderr


def test_workers_give_the_reports_of_one_process(site: Site, tmp_path: Path) -> None:
    target_file = targets(site, tmp_path, 12, silent=1)
    one = run(tlsdoctor(site, target_file, "--json"))
    two = run(tlsdoctor(site, target_file, "--json", "--workers", "2", "--chunk-size", "3"))
    assert one.returncode == two.returncode == 3, two.stderr
    assert [stable(line) for line in two.stdout.splitlines()] == [
        stable(line) for line in one.stdout.splitlines()
    ]
    verdicts = [json.loads(line)["verdict"] for line in one.stdout.splitlines()]
    assert len(verdicts) == 15 and verdicts.count("trusted") == 12
    assert verdicts.count("untrusted") == 1 and verdicts.count("error") == 2
    # The bad line is reported once, by the process that reads the file, and skipped.
    assert one.stderr.count("skipped") == two.stderr.count("skipped") == 1
    only_our_sentences(two.stderr)
    # The text summary is the same too.
    text_one = run(tlsdoctor(site, target_file))
    text_two = run(tlsdoctor(site, target_file, "--workers", "2", "--chunk-size", "4"))
    assert text_one.returncode == text_two.returncode == 3
    summary = text_one.stdout[text_one.stdout.index("Summary") :]
    assert "Summary" in summary and summary == text_two.stdout[text_two.stdout.index("Summary") :]


def test_unordered_streams_as_checks_finish(site: Site, tmp_path: Path) -> None:
    # The silent target comes first in the file and last when reports stream as they finish.
    target_file = targets(site, tmp_path, 6, silent=1)
    ordered = run(tlsdoctor(site, target_file, "--json", "--workers", "2", "--chunk-size", "1"))
    unordered = run(
        tlsdoctor(site, target_file, "--json", "--workers", "2", "--chunk-size", "1", "--unordered")
    )
    assert names(ordered.stdout)[0] == "quiet0.scale.test"
    # Streamed: reports of the other worker come out while the silent target waits. Not
    # necessarily all of them: Dask may queue a chunk behind the silent one on its worker,
    # which then finishes after it (seen here: the closed port came last once).
    assert names(unordered.stdout)[0] != "quiet0.scale.test"
    assert sorted(names(ordered.stdout)) == sorted(names(unordered.stdout))
    in_process = run(tlsdoctor(site, target_file, "--json", "--unordered"))
    assert names(in_process.stdout)[-1] == "quiet0.scale.test"
    assert unordered.returncode == ordered.returncode == in_process.returncode == 3


def test_bad_worker_counts_are_refused(site: Site, tmp_path: Path) -> None:
    target_file = targets(site, tmp_path, 1)
    for bad in ("0", "lots", "-2"):
        result = run(tlsdoctor(site, target_file, "--workers", bad))
        assert result.returncode == 3 and result.stdout == ""
        assert result.stderr.startswith("tlsdoctor: error: --workers"), result.stderr
    both = run(tlsdoctor(site, target_file, "--workers", "2", "--cluster", "tcp://127.0.0.1:1"))
    assert both.returncode == 3 and "either --workers or --cluster" in both.stderr


# --- a real scheduler and real workers ---------------------------------------------------------


def dask(*argv: str) -> list[str]:
    return [sys.executable, "-m", "dask", *argv]


class Process:
    """A process whose stderr is read in the background, to wait for a line."""

    def __init__(self, argv: Sequence[str]) -> None:
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)

    def wait_for(self, text: str, timeout: float = 60) -> None:
        end = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            assert self.proc.poll() is None, "".join(self.lines)
            assert time.monotonic() < end, f"no '{text}' in: {''.join(self.lines)}"
            time.sleep(0.1)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self._reader.join(timeout=5)
        if self.proc.stderr is not None:
            self.proc.stderr.close()


@contextlib.contextmanager
def cluster(workers: int) -> Iterator[tuple[str, Process, list[Process]]]:
    """`dask scheduler` and ``workers`` `dask worker` processes (no nanny: a killed worker
    stays dead) on 127.0.0.1; all stopped on the way out."""
    port = servers.free_port()
    address = f"tcp://127.0.0.1:{port}"
    started: list[Process] = []
    try:
        scheduler = Process(
            dask("scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard")
        )
        started.append(scheduler)
        scheduler.wait_for("Scheduler at")
        crew = []
        for _ in range(workers):
            worker = Process(
                dask(
                    "worker",
                    address,
                    "--host",
                    "127.0.0.1",
                    "--nthreads",
                    "1",
                    "--no-nanny",
                    "--no-dashboard",
                    "--memory-limit",
                    "0",
                )
            )
            started.append(worker)
            crew.append(worker)
        for worker in crew:
            worker.wait_for("Registered to")
        yield address, scheduler, crew
    finally:
        for process in started:
            process.kill()


def first_line_then(
    argv: Sequence[str], action: Any, delay: float, timeout: float = 120
) -> tuple[int, list[str], str]:
    """Run ``argv``; ``delay`` seconds after its first report, call ``action`` with its
    process; then (exit code, stdout lines, stderr) once it ends."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    errors: list[str] = []

    def read(stream: Any, into: list[str]) -> None:
        for line in stream:
            into.append(line.rstrip("\n"))

    readers = [
        threading.Thread(target=read, args=(proc.stdout, lines), daemon=True),
        threading.Thread(target=read, args=(proc.stderr, errors), daemon=True),
    ]
    for reader in readers:
        reader.start()
    end = time.monotonic() + timeout
    while not lines:
        assert proc.poll() is None and time.monotonic() < end, errors
        time.sleep(0.05)
    time.sleep(delay)
    action(proc)
    proc.wait(timeout=timeout)
    for reader in readers:
        reader.join(timeout=10)
    for stream in (proc.stdout, proc.stderr):
        assert stream is not None
        stream.close()
    return proc.returncode, lines, "".join(f"{line}\n" for line in errors)


def test_cluster_gives_the_reports_of_one_process(site: Site, tmp_path: Path) -> None:
    target_file = targets(site, tmp_path, 10, silent=1)
    one = run(tlsdoctor(site, target_file, "--json"))
    with cluster(2) as (address, _, _):
        remote = run(
            tlsdoctor(site, target_file, "--json", "--cluster", address, "--chunk-size", "2")
        )
    assert remote.returncode == one.returncode == 3, remote.stderr
    assert [stable(line) for line in remote.stdout.splitlines()] == [
        stable(line) for line in one.stdout.splitlines()
    ]
    only_our_sentences(remote.stderr)


def test_a_worker_killed_mid_scan_costs_nothing(site: Site, tmp_path: Path) -> None:
    # Every chunk of two holds a silent target, so each takes the 2 s timeout: when the
    # first report is out, both workers are in the middle of a chunk.
    target_file = targets(site, tmp_path, 8, silent=6)
    expected = sorted(names(run(tlsdoctor(site, target_file, "--json")).stdout))
    with cluster(2) as (address, _, (victim, survivor)):
        argv = tlsdoctor(site, target_file, "--json", "--cluster", address, "--chunk-size", "2")
        code, lines, err = first_line_then([*argv, "--unordered"], lambda _: victim.kill(), 0.7)
        assert survivor.proc.poll() is None
    assert victim.proc.returncode == -signal.SIGKILL
    assert code == 3, err
    assert len(lines) < 1 + len(expected)  # the kill came before the end ...
    assert sorted(names("\n".join(lines))) == expected, err  # ... and every target came once
    only_our_sentences(err)


def test_a_scheduler_that_goes_away(site: Site, tmp_path: Path) -> None:
    target_file = targets(site, tmp_path, 8, silent=6)
    with cluster(1) as (address, scheduler, _):
        argv = tlsdoctor(site, target_file, "--json", "--cluster", address, "--chunk-size", "2")
        start = time.monotonic()
        code, lines, err = first_line_then(argv, lambda _: scheduler.kill(), 0.3)
        took = time.monotonic() - start
    assert code == 3
    assert took < 30  # no waiting for a scheduler that will not come back
    assert "lost the connection to the Dask scheduler" in err, err
    assert err.count("tlsdoctor: error:") == 1
    only_our_sentences(err)
    assert 1 <= len(lines) < 15  # what was printed before stands, each a whole report
    for line in lines:
        stable(line)


def test_an_unreachable_scheduler(site: Site, tmp_path: Path) -> None:
    target_file = targets(site, tmp_path, 2)
    address = f"tcp://127.0.0.1:{servers.free_port()}"
    result = run(tlsdoctor(site, target_file, "--json", "--cluster", address))
    assert result.returncode == 3 and result.stdout == ""
    assert f"cannot reach the Dask scheduler at {address}" in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr  # before any target is read
    only_our_sentences(result.stderr)
    garbage = run(tlsdoctor(site, target_file, "--cluster", "no-such-scheme://x"))
    assert garbage.returncode == 3 and "not an address like tcp://HOST:8786" in garbage.stderr
    only_our_sentences(garbage.stderr)


def test_cluster_address_from_the_environment(site: Site, tmp_path: Path) -> None:
    target_file = targets(site, tmp_path, 2)
    address = f"tcp://127.0.0.1:{servers.free_port()}"
    env = {**os.environ, "TLSDOCTOR_CLUSTER": address}
    result = subprocess.run(
        tlsdoctor(site, target_file, "--json"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert (
        result.returncode == 3 and f"cannot reach the Dask scheduler at {address}" in result.stderr
    )


# --- watch sweeps through the same executors ---------------------------------------------------


def watch_db(site: Site, folder: Path) -> list[str]:
    """A watch list of a trusted name, a wrong name and a closed port; the base argv."""
    folder.mkdir()
    config = folder / "watch.toml"
    config.write_text(f'[check]\ntimeout = 3\nca_files = ["{site.root}"]\n')
    base = [
        sys.executable,
        "-m",
        "tlsdoctor",
        "watch",
        "--db",
        f"sqlite:///{folder / 'watch.db'}",
        "--config",
        str(config),
    ]
    for target in (f"a.scale.test:{site.port}", f"wrong.example:{site.port}"):
        assert run([*base, "add", target, "--connect", "127.0.0.1"]).returncode == 0
    assert run([*base, "add", f"127.0.0.1:{site.closed}"]).returncode == 0
    return base


def stored(folder: Path) -> tuple[list[tuple[str, str, int]], list[tuple[str, str]]]:
    """What the history holds: (target, verdict, exit code) of each run; (target, alert)."""
    with contextlib.closing(sqlite3.connect(folder / "watch.db")) as db:
        runs = db.execute(
            "SELECT t.name, r.verdict, r.exit_code FROM runs r JOIN targets t ON t.id = r.target_id"
            " ORDER BY t.name"
        ).fetchall()
        alerts = db.execute(
            "SELECT t.name, a.kind FROM alerts a JOIN targets t ON t.id = a.target_id"
            " ORDER BY t.name, a.kind"
        ).fetchall()
    return runs, alerts


def test_watch_sweeps_through_workers_and_a_cluster_store_and_alert_the_same(
    site: Site, tmp_path: Path
) -> None:
    here = watch_db(site, tmp_path / "here")
    local = watch_db(site, tmp_path / "local")
    remote = watch_db(site, tmp_path / "remote")
    # Two sweeps each: some alerts (a target that cannot be checked) need a second failure.
    sweeps = [run([*here, "once", "--all", "--json"]) for _ in range(2)]
    sweeps += [run([*local, "once", "--all", "--json", "--workers", "2"]) for _ in range(2)]
    with cluster(1) as (address, _, _):
        sweeps += [run([*remote, "once", "--all", "--json", "--cluster", address]) for _ in "12"]
    assert [sweep.returncode for sweep in sweeps] == [3] * 6, sweeps[-1].stderr
    observed = [
        sorted((o["target"], o["verdict"], tuple(o["codes"])) for o in map(json.loads, lines))
        for lines in (sweep.stdout.splitlines() for sweep in sweeps)
    ]
    assert len(observed[0]) == 3 and all(seen == observed[0] for seen in observed)
    runs, alerts = stored(tmp_path / "here")
    assert len(alerts) == 2  # the wrong name and the closed port, once each
    assert stored(tmp_path / "local") == stored(tmp_path / "remote") == (runs, alerts)
    for sweep in sweeps:
        only_our_sentences(sweep.stderr)


def test_every_worker_killed_ends_the_scan_by_itself(site: Site, tmp_path: Path) -> None:
    target_file = targets(site, tmp_path, 8, silent=6)
    with cluster(2) as (address, _, crew):
        argv = tlsdoctor(site, target_file, "--json", "--cluster", address, "--chunk-size", "2")

        def kill_all(_: object) -> None:
            for worker in crew:
                worker.kill()

        start = time.monotonic()
        code, lines, err = first_line_then(argv, kill_all, 0.3)
        took = time.monotonic() - start
    assert code == 3 and took < 90
    assert "has had no worker for 30 s: stopped; the reports printed stand" in err, err
    assert err.count("tlsdoctor: error:") == 1
    only_our_sentences(err)
    assert 1 <= len(lines) < 15
    for line in lines:
        stable(line)


def children(pid: int) -> set[int]:
    """Every descendant of ``pid``, from /proc."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            with contextlib.suppress(OSError):
                kids = {int(kid) for kid in (task / "children").read_text().split()}
                todo.extend(kids - found)
                found |= kids
    return found


def alive(pids: set[int]) -> set[int]:
    return {pid for pid in pids if Path(f"/proc/{pid}").exists()}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux's parent-death signal")
def test_local_workers_do_not_outlive_a_killed_run(site: Site, tmp_path: Path) -> None:
    target_file = targets(site, tmp_path, 8, silent=6)
    argv = tlsdoctor(site, target_file, "--json", "--workers", "2", "--chunk-size", "2")
    started: set[int] = set()

    def kill_tlsdoctor(proc: subprocess.Popen[str]) -> None:
        started.update(children(proc.pid))
        proc.kill()

    code, _, _ = first_line_then(argv, kill_tlsdoctor, 0.2)
    assert code == -signal.SIGKILL
    assert len(started) >= 3  # the scheduler, the nanny and its workers
    end = time.monotonic() + 30
    while alive(started) and time.monotonic() < end:
        time.sleep(0.2)
    assert not alive(started)
