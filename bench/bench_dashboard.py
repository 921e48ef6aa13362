"""The dashboard and the metrics at fleet size: /metrics, the overview page, the API and
`watch metrics` over N watched targets (10,000 by default), each with a stored report.

The targets and their reports are bench_history's simulated endpoints (real reports of
four chain shapes, varied per endpoint), one check each, in a temporary SQLite file.
Timed in-process through the real Starlette app (TestClient), median of --runs.

    python3 bench/bench_dashboard.py [--targets 10000] [--runs 5]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from bench_history import START, Endpoint, templates  # noqa: E402 - beside this script
from tlsdoctor.history import History  # noqa: E402
from tlsdoctor.monitor.metrics import history_exposition  # noqa: E402
from tlsdoctor.watch_model import WatchTarget  # noqa: E402
from tlsdoctor.web import create_app  # noqa: E402

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*httpx2")
    from starlette.testclient import TestClient


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    rng = random.Random(1)
    shapes = templates()
    at = START + dt.timedelta(days=40)
    with tempfile.TemporaryDirectory(prefix="tlsdoctor-bench-dashboard-") as temp:
        url = f"sqlite:///{temp}/watch.db"
        with History.open(url) as history:
            endpoints = [
                Endpoint(i, random.Random(rng.random()), shapes) for i in range(args.targets)
            ]
            history.add_targets([WatchTarget(e.name, labels=("prod",)) for e in endpoints], at)
            history.record_many([(e.check(at), at + dt.timedelta(hours=6)) for e in endpoints])
            history.record_sweep(at, at + dt.timedelta(seconds=30), args.targets)
            now = at + dt.timedelta(hours=1)
            timings: dict[str, list[float]] = {}
            sizes: dict[str, int] = {}

            def timed(name: str, call) -> None:  # type: ignore[no-untyped-def]
                start = time.perf_counter()
                size = call()
                timings.setdefault(name, []).append(time.perf_counter() - start)
                sizes[name] = size

            with TestClient(create_app(history, token=None, clock=lambda: now)) as client:
                for _ in range(args.runs):
                    timed("watch metrics (function)", lambda: len(history_exposition(history, now)))
                    timed("GET /metrics", lambda: len(client.get("/metrics").content))
                    timed("GET / (page 1 of 100)", lambda: len(client.get("/").content))
                    timed("GET /?q=host0999", lambda: len(client.get("/?q=host0999").content))
                    timed("GET /api/targets (all)", lambda: len(client.get("/api/targets").content))
                    timed("GET /healthz", lambda: len(client.get("/healthz").content))
        print(f"{args.targets} targets, median of {args.runs} runs:")
        for name, values in timings.items():
            took = statistics.median(values) * 1000
            print(f"  {name:<28} {took:8.0f} ms  {sizes[name] / 1024:8.0f} KiB")


if __name__ == "__main__":
    main()
