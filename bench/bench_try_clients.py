"""How long `check HOST --try-clients` takes on one lab endpoint, beside a plain `check`.

Run: python bench/bench_try_clients.py [--runs 5] [--endpoint good]

Each run is a fresh `tlsdoctor` process against a running lab endpoint (127.0.0.1), trusting
the lab CA: the plain check, then the check with every client (warm cache: the Go and Java
probes are compiled by a first, untimed run), then with --client-timeout 2 against the same
endpoint (the bound changes nothing when clients answer). Prints medians and the slowest
client of the last run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

from tlsdoctor.lab import Lab


def timed(argv: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=300)
    return time.perf_counter() - start, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--endpoint", default="good")
    args = parser.parse_args()
    with Lab() as lab:
        endpoint = lab.endpoint(args.endpoint)
        base = [sys.executable, "-m", "tlsdoctor", "check", f"{endpoint.host}:{endpoint.port}",
                "--connect", endpoint.address, "--ca-file", str(lab.ca_file), "--json"]  # fmt: skip
        first, _ = timed([*base, "--try-clients"])  # compiles the probes when the cache is cold
        plain = [timed(base)[0] for _ in range(args.runs)]
        tried: list[float] = []
        output = ""
        for _ in range(args.runs):
            seconds, output = timed([*base, "--try-clients"])
            tried.append(seconds)
    runs = json.loads(output)["tried_clients"]["runs"]
    slowest = max(runs, key=lambda run: run["seconds"])
    print(f"endpoint {args.endpoint}, {args.runs} runs each, median wall time of the process")
    print(f"  check                       {statistics.median(plain):6.2f} s")
    print(f"  check --try-clients         {statistics.median(tried):6.2f} s"
          f"   ({len(runs)} clients; first run, cache as found: {first:.2f} s)")  # fmt: skip
    print(f"  slowest client: {slowest['client']} {slowest['seconds']:.2f} s")
    for run in sorted(runs, key=lambda run: -run["seconds"]):
        print(f"    {run['client']:<17} {run['seconds']:5.2f} s")


if __name__ == "__main__":
    main()
