"""A watch sweep against `check -f` on the same 1,000 targets, side by side.

Goal (issue 8, then issue 17: 1.3 x for the repeat sweep): one `watch once` sweep of N
targets takes at most 1.5 x the time of
`check -f` over the same targets: storing every result, evaluating alerts and writing the
database must not cost more than half the checking itself.

Both contenders are whole processes started the same way, on the same local nginx with one
SNI name per target (bench_live's PKI and server), alternating, median of --runs. The
database is a fresh SQLite file per run (the first sweep inserts a state run per target,
the worst case for the writer); a second "repeat" sweep of the same database measures the
steady state, where most results only extend their state run.

    python3 bench/bench_watch.py [--targets 1000] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from bench_live import (  # noqa: E402 - bench_live lives beside this script
    make_pki,
    nginx_running,
    tlsdoctor_command,
    write_targets,
)


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, int]:
    start = time.perf_counter()
    done = subprocess.run(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, timeout=900, check=False
    )
    seconds = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"{argv[1:3]} failed (exit {done.returncode}): {done.stderr[-800:]!r}")
    return seconds, done.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--port", type=int, default=18444)
    args = parser.parse_args()
    tool = tlsdoctor_command()
    with tempfile.TemporaryDirectory(prefix="tlsdoctor-bench-watch-") as temp:
        work = Path(temp)
        names = [f"site{i:05d}.bench.tlsdoctor.test" for i in range(args.targets)]
        pki = make_pki(work / "pki", names)
        port = args.port
        targets = write_targets(work / "targets.txt", names, port)
        settings = work / "watch.toml"
        settings.write_text(
            f'[check]\nconcurrency = {args.concurrency}\nca_files = ["{pki.root}"]\n'
            "public_roots = false\n"  # the same trust as check --ca-file
        )
        env = {**os.environ, "TLSDOCTOR_HOME": str(work / "home")}
        check_argv = [
            tool, "check", "-f", str(targets), "--json", "--ca-file", str(pki.root),
            "--concurrency", str(args.concurrency),
        ]  # fmt: skip
        timings: dict[str, list[float]] = {"check -f": [], "watch once": [], "watch repeat": []}
        with nginx_running(work / "nginx", pki, port):
            for run in range(args.runs):
                db = f"sqlite:///{work}/watch-{run}.db"
                watch = [tool, "watch", "--db", db, "--config", str(settings)]
                subprocess.run([*watch, "import", str(targets)], check=True, env=env,
                               capture_output=True, timeout=300)  # fmt: skip
                timings["check -f"].append(timed(check_argv, env)[0])
                timings["watch once"].append(timed([*watch, "once", "--json"], env)[0])
                timings["watch repeat"].append(timed([*watch, "once", "--all", "--json"], env)[0])
                size = Path(db.removeprefix("sqlite:///")).stat().st_size
                print(
                    f"run {run + 1}: check -f {timings['check -f'][-1]:.2f} s, "
                    f"watch once {timings['watch once'][-1]:.2f} s, "
                    f"repeat {timings['watch repeat'][-1]:.2f} s, db {size / 1024:.0f} KiB",
                    flush=True,
                )
        medians = {name: statistics.median(values) for name, values in timings.items()}
        print(f"\n{args.targets} targets, median of {args.runs} runs (process wall time):")
        for name, value in medians.items():
            print(f"  {name:<13} {value:6.2f} s  {args.targets / value:6.0f} targets/s")
        first = medians["watch once"] / medians["check -f"]
        steady = medians["watch repeat"] / medians["check -f"]
        print(f"  watch once / check -f = {first:.2f} x (goal <= 1.5 x)")
        print(f"  repeat sweep / check -f = {steady:.2f} x")


if __name__ == "__main__":
    main()
