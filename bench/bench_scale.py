"""Benchmark of `check -f` across processes: one process, --workers 2, a 2-worker Dask cluster.

Run: python bench/bench_scale.py [--names 1000] [--sizes 1000,10000] [--memory 30000]
                                 [--concurrency 50] [--port 18543] [--runs 1]

Sets up bench/bench_live.py's local nginx (one SNI server block per name, 1,000 names by
default, certificates made at run time) and, side by side in one run, for each size
(targets = the names repeated):
- ceiling x1: the bare asyncio handshake loop (bench/live_handshake_ceiling.py), one process;
- ceiling x2: the same loop in two processes at once, each on half of the targets;
- tlsdoctor: `tlsdoctor check -f --json --ca-file root.pem` in one process;
- --workers 2: the same with two local worker processes (a Dask scheduler and workers that
  tlsdoctor starts and stops, in the timing);
- --cluster: the same against a `dask scheduler` and two `dask worker --nthreads 1`
  processes started before the timing (as an operator's cluster would be);
and the Dask-specific start-up cost: --workers 2's scheduler and workers up, one task each,
down, against two plain spawned processes (concurrent.futures) doing the same: what one
code path (Dask for --workers too) costs at 1,000 targets.
For the cluster runs, the CPU seconds of the scheduler, of the client and of the workers
(/proc), so the scheduler's overhead per target is measured, not guessed. Last, the peak
RSS of the client through the cluster over `--memory` targets.
Every process is timed from spawn to exit (wall) with its peak RSS (GNU time). Only
127.0.0.1 is contacted; nginx, the scheduler and the workers are stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_live as live

CEILING = Path(__file__).resolve().parent / "live_handshake_ceiling.py"
TICK = os.sysconf("SC_CLK_TCK")
WORKER = ("--no-nanny", "--no-dashboard", "--memory-limit", "0")


@dataclass
class Row:
    label: str
    targets: int
    wall: float
    rss_mb: float
    cpu: float  # CPU seconds of the process itself (for --cluster: the client alone)
    note: str = ""

    @property
    def rate(self) -> float:
        return self.targets / self.wall


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (and its threads), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / TICK


def wait_for_line(path: Path, text: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    end = time.monotonic() + timeout
    while text not in path.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > end:
            raise SystemExit(f"no '{text}' from {proc.args}: {path.read_text()[-2000:]}")
        time.sleep(0.1)


@contextmanager
def dask_cluster(work: Path, workers: int) -> Iterator[tuple[str, list[int], int]]:
    """`dask scheduler` + ``workers`` x `dask worker --nthreads 1` on 127.0.0.1."""
    port = live_free_port()
    address = f"tcp://127.0.0.1:{port}"
    dask = [sys.executable, "-m", "dask"]
    started: list[subprocess.Popen[bytes]] = []
    try:
        log = work / "scheduler.log"
        scheduler = subprocess.Popen(
            [*dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
            stdout=subprocess.DEVNULL,
            stderr=log.open("wb"),
            start_new_session=True,
        )
        started.append(scheduler)
        wait_for_line(log, "Scheduler at", scheduler, 60)
        pids = []
        for n in range(workers):
            wlog = work / f"worker{n}.log"
            worker = subprocess.Popen(
                [*dask, "worker", address, "--host", "127.0.0.1", "--nthreads", "1", *WORKER],
                stdout=subprocess.DEVNULL,
                stderr=wlog.open("wb"),
                start_new_session=True,
            )
            started.append(worker)
            wait_for_line(wlog, "Registered to", worker, 60)
            pids.append(worker.pid)
        yield address, pids, scheduler.pid
    finally:
        for proc in started:
            with suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        for proc in started:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def live_free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def complete(out: Path, expected: int) -> str:
    lines = out.read_text().splitlines() if out.exists() else []
    verdicts = {json.loads(line)["verdict"] for line in lines}
    ok = len(lines) == expected and verdicts == {"trusted"}
    return f"{len(lines)}/{expected} reports, verdicts {sorted(verdicts)}" + ("" if ok else " !!")


def measure(
    label: str, argv: list[str], targets: int, work: Path, nginx: int, *, reports: bool
) -> Row:
    out = work / f"{label.replace(' ', '_')}-{targets}.out"
    run = live.run_measured(argv, stdout=out, timeout=120 + 0.5 * targets, nginx_pid=nginx)
    if reports:
        note = complete(out, targets)
    else:
        summary = json.loads(out.read_text() or "{}") if out.exists() else {}
        note = f"{summary.get('ok')}/{targets} handshakes"
    if run.returncode not in (0, 1) or run.timed_out:
        note += f"; exit {run.returncode}: {run.last_error_line()}"
    row = Row(label, targets, run.wall, run.max_rss_mb, run.cpu, note)
    print(
        f"  {label:<18} {targets:>7} targets {row.wall:8.2f} s {row.rate:8.0f}/s "
        f"RSS {row.rss_mb:6.0f} MB CPU {row.cpu:6.2f} s  {note}",
        flush=True,
    )
    return row


def startup_cost() -> dict[str, float]:
    """Dask's own start-up (LocalCluster of 2, one task importing tlsdoctor, close) against
    two plain spawned processes doing the same: what --workers pays for one code path."""
    code = """
import time, sys
start = time.perf_counter()
from tlsdoctor.execute.chunk import tlsdoctor_version  # imports the scanner, as a chunk does
def main():
    if sys.argv[1] == "dask":
        from tlsdoctor.execute.cluster import _local_processes, quiet_dask
        quiet_dask()
        with _local_processes(2) as client:
            client.gather([client.submit(tlsdoctor_version, pure=False) for _ in range(2)])
    else:
        from concurrent.futures import ProcessPoolExecutor
        import multiprocessing
        with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
            [f.result() for f in [pool.submit(tlsdoctor_version) for _ in range(2)]]
    print(time.perf_counter() - start)
if __name__ == "__main__":
    main()
"""
    result = {}
    for kind in ("dask", "processes"):
        times = []
        for _ in range(2):
            script = Path(tempfile.gettempdir()) / "tlsdoctor_bench_startup.py"
            script.write_text(code)  # a file: spawned processes import the main module
            done = subprocess.run(
                [sys.executable, str(script), kind], capture_output=True, text=True, timeout=120
            )
            if done.returncode != 0:
                raise SystemExit(f"start-up run ({kind}) failed: {done.stderr[-2000:]}")
            times.append(float(done.stdout.strip().splitlines()[-1]))
        result[kind] = min(times)
    return result


def compile_package() -> None:
    """Byte-compile tlsdoctor once, as pip does when it installs the package: with
    PYTHONDONTWRITEBYTECODE set (as on this machine) an editable install would otherwise
    compile every module again in every process timed (~60 ms of each start-up)."""
    import compileall

    import tlsdoctor

    compileall.compile_dir(str(Path(tlsdoctor.__file__).parent), quiet=1)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--names", type=int, default=1000)
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--memory", type=int, default=30000, help="targets of the RSS run")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--port", type=int, default=18543)
    args = parser.parse_args()
    gnu = live.gnu_time()
    if gnu:
        live.GNU_TIME.append(gnu)
    names = [f"site{n:04d}.{live.DOMAIN}" for n in range(args.names)]
    tlsdoctor = live.tlsdoctor_command()
    results: dict[str, object] = {"cores": os.cpu_count(), "load": os.getloadavg()}
    compile_package()
    import importlib.util

    choice = os.environ.get("TLSDOCTOR_EVENT_LOOP", "auto")
    loop = "uvloop" if choice != "asyncio" and importlib.util.find_spec("uvloop") else "asyncio"
    results["event_loop"] = loop
    print(f"tlsdoctor's event loop: {loop} (TLSDOCTOR_EVENT_LOOP={choice}); the ceiling's: asyncio")
    print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()} (a shared machine)")
    startup = startup_cost()
    results["startup"] = startup
    print(
        f"start-up: --workers 2 (Dask) {startup['dask']:.2f} s, 2 spawned processes "
        f"{startup['processes']:.2f} s",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="tlsdoctor-scale-") as folder:
        work = Path(folder)
        pki = live.make_pki(work / "pki", names)
        with live.nginx_running(work / "nginx", pki, args.port) as nginx_proc:
            nginx = nginx_proc.pid
            with dask_cluster(work, 2) as (address, worker_pids, scheduler_pid):
                rows = []
                for size in [int(s) for s in args.sizes.split(",")]:
                    targets = live.write_targets(
                        work / f"t{size}.txt", names, args.port, repeat=max(1, size // len(names))
                    )
                    half = [work / f"t{size}.a.txt", work / f"t{size}.b.txt"]
                    lines = targets.read_text().splitlines(keepends=True)
                    half[0].write_text("".join(lines[0::2]))
                    half[1].write_text("".join(lines[1::2]))
                    base = [tlsdoctor, "check", "-f", str(targets), "--json", "--ca-file"]
                    base += [str(pki.root), "--concurrency", str(args.concurrency)]
                    ceiling = [sys.executable, str(CEILING), "--concurrency", str(args.concurrency)]
                    print(f"{size} targets:", flush=True)
                    rows.append(
                        measure(
                            "ceiling x1", [*ceiling, str(targets)], size, work, nginx, reports=False
                        )
                    )
                    both = " & ".join(f"{' '.join(ceiling)} {h} > /dev/null" for h in half)
                    rows.append(
                        measure(
                            "ceiling x2",
                            ["sh", "-c", f"{both}; wait"],
                            size,
                            work,
                            nginx,
                            reports=False,
                        )
                    )
                    rows.append(measure("one process", base, size, work, nginx, reports=True))
                    rows.append(
                        measure(
                            "--workers 2",
                            [*base, "--workers", "2"],
                            size,
                            work,
                            nginx,
                            reports=True,
                        )
                    )
                    before = {p: cpu_seconds(p) for p in [scheduler_pid, *worker_pids]}
                    row = measure(
                        "--cluster", [*base, "--cluster", address], size, work, nginx, reports=True
                    )
                    spent = {p: cpu_seconds(p) - before[p] for p in before}
                    rows.append(row)
                    results[f"cluster_cpu_{size}"] = {
                        "scheduler": spent[scheduler_pid],
                        "workers": sum(spent[p] for p in worker_pids),
                    }
                    print(
                        f"  cluster CPU: scheduler {spent[scheduler_pid]:.2f} s, workers "
                        f"{sum(spent[p] for p in worker_pids):.2f} s",
                        flush=True,
                    )
                if args.memory:
                    targets = live.write_targets(
                        work / "tmem.txt", names, args.port, repeat=args.memory // len(names)
                    )
                    argv = [
                        tlsdoctor,
                        "check",
                        "-f",
                        str(targets),
                        "--json",
                        "--ca-file",
                        str(pki.root),
                        "--cluster",
                        address,
                    ]
                    rows.append(measure("memory", argv, args.memory, work, nginx, reports=True))
    results["rows"] = [row.__dict__ | {"rate": row.rate} for row in rows]
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = live.RESULTS / f"scale-{stamp}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"results: {out}")


if __name__ == "__main__":
    main()
