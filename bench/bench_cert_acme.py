"""Issuance and renewal times of `tlsdoctor cert renew` against Debian's pebble on loopback.

Run: python bench/bench_cert_acme.py [--runs 5]

Each row is the wall time of one `tlsdoctor cert renew` process (interpreter start, ACME
round trips, tlsdoctor's check of the new certificate, installation), median and range:
- first: a new account, then an order over HTTP-01 (standalone);
- repeat: the same account, a new order for the same names (`cert renew -o DIR`,
  settings read from the stored configuration);
- not due: `cert renew --all` with nothing due (what the timer does twice a day);
- DNS-01: a wildcard and its apex, RFC 2136 updates to a real BIND, waited for there.
Pebble validates at once (PEBBLE_VA_NOSLEEP=1): the times are tlsdoctor's and the
protocol's, not a CA's queue.
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from bind import bind, bind_available
from pebble import pebble
from servers import free_port


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {done.stderr}")
    return elapsed


def row(label: str, times: list[float]) -> str:
    return (
        f"{label:34} median {statistics.median(times) * 1000:7.0f} ms   "
        f"min {min(times) * 1000:6.0f}   max {max(times) * 1000:6.0f}   (n={len(times)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    tool = [sys.executable, "-m", "tlsdoctor"]
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        with (
            bind(work / "bind") as dns,
            pebble(work / "pebble", free_port(), dns_server=dns.address) as ca,
        ):
            root = work / "root.pem"
            root.write_bytes(ca.issuing_root())
            common = ["--acme-directory", ca.directory, "--directory-ca", str(ca.ca_file),
                      "--ca-file", str(root), "--agree-tos"]  # fmt: skip
            http = ["--standalone", "--http-address", "127.0.0.1", "--http-port",
                    str(ca.http_port)]  # fmt: skip
            first, repeat, idle, dns01 = [], [], [], []
            for run in range(runs):
                env = {**os.environ, "TLSDOCTOR_HOME": str(work / f"home{run}")}
                out = work / f"shop{run}"
                first.append(timed([*tool, "cert", "renew", *common, *http, "-o", str(out),
                                    "--domain", "shop.example.test"], env))  # fmt: skip
                repeat.append(timed([*tool, "cert", "renew", "-o", str(out)], env))
                idle.append(timed([*tool, "cert", "renew", "--all"], env))
                if bind_available():
                    wild = ["-o", str(work / f"wild{run}"), "--dns-rfc2136", dns.address,
                            "--dns-tsig-key", str(dns.key_file), "--domain", "*.example.test",
                            "--domain", "example.test"]  # fmt: skip
                    dns01.append(timed([*tool, "cert", "renew", *common, *wild], env))
    print(row("first issuance (new account)", first))
    print(row("repeat issuance (stored settings)", repeat))
    print(row("renew --all, nothing due", idle))
    if dns01:
        print(row("DNS-01 wildcard + apex (BIND)", dns01))


if __name__ == "__main__":
    main()
