"""Benchmarks of `check --chain`: process wall time and in-process chains per second.

Run: python bench/bench_check.py [--chains 10000] [--runs 21]

Side by side in one run, on the same chains:
- process wall time of `tlsdoctor check --chain` (default stores, and --ca-file), against
  `openssl verify` and a bare `python -c "import cryptography.x509"`;
- in-process chains per second of `tlsdoctor.check_chain` against the bare verdict of
  `cryptography.x509.verification` (the floor: one verifier call, no diagnosis).
Goals (issue 2): process median < 300 ms; >= 2,000 chains/s in process.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from pki import DAY, NOW, make_root


def timed_runs(argv: list[str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=False, timeout=60)
        times.append(time.perf_counter() - start)
    return times


def process_benchmark(folder: Path, runs: int) -> None:
    root = make_root("Bench Root")
    issuing = root.issue_ca("Bench Issuing CA")
    leaf = issuing.issue_leaf(
        not_before=NOW - DAY, not_after=dt.datetime.now(dt.timezone.utc) + 60 * DAY
    )
    chain = folder / "chain.pem"
    chain.write_bytes(leaf.pem() + issuing.pem())
    root_file = folder / "root.pem"
    root_file.write_bytes(root.pem())
    tlsdoctor = str(Path(sys.executable).parent / "tlsdoctor")
    cases = {
        "tlsdoctor check --chain (default stores)": [
            tlsdoctor,
            "check",
            "--chain",
            str(chain),
            "--host",
            "www.example.test",
        ],
        "tlsdoctor check --chain --json (default stores)": [
            tlsdoctor,
            "check",
            "--chain",
            str(chain),
            "--json",
        ],
        "tlsdoctor check --chain --ca-file": [
            tlsdoctor,
            "check",
            "--chain",
            str(chain),
            "--ca-file",
            str(root_file),
        ],
        "tlsdoctor --help": [tlsdoctor, "--help"],
        "openssl verify (baseline)": [
            "openssl",
            "verify",
            "-CAfile",
            str(root_file),
            "-untrusted",
            str(chain),
            str(chain),
        ],
        "python -c 'import cryptography.x509' (floor)": [
            sys.executable,
            "-c",
            "import cryptography.x509",
        ],
    }
    print(f"\nProcess wall time, {runs} runs each (median, min, max in ms):")
    medians = {}
    for label, argv in cases.items():
        times = timed_runs(argv, runs)
        medians[label] = statistics.median(times)
        low, high = 1000 * min(times), 1000 * max(times)
        print(f"  {label:52s} {1000 * medians[label]:7.1f} {low:7.1f} {high:7.1f}")
    main = medians["tlsdoctor check --chain (default stores)"]
    print(
        f"  ratio tlsdoctor/openssl verify: {main / medians['openssl verify (baseline)']:.1f}x;"
        f" tlsdoctor/python+cryptography import: {main / medians[list(cases)[-1]]:.2f}x"
    )


def throughput_benchmark(count: int) -> None:
    from cryptography.x509 import DNSName
    from cryptography.x509.verification import PolicyBuilder

    from tlsdoctor.anchors import CUSTOM, TrustAnchors, default_anchors
    from tlsdoctor.check import check_chain
    from tlsdoctor.models import TrustAnchorSource

    root = make_root("Bench Root")
    issuers = [root.issue_ca(f"Bench Issuing CA {i}") for i in range(4)]
    started = time.perf_counter()
    chains = []
    for i in range(count):
        issuer = issuers[i % len(issuers)]
        leaf = issuer.issue_leaf([f"host{i}.example.test"])
        chains.append([leaf.cert, issuer.cert])
    print(f"\nIn process, {count} distinct chains (made in {time.perf_counter() - started:.1f} s):")
    hosts = [f"host{i}.example.test" for i in range(count)]
    custom = TrustAnchors([(TrustAnchorSource("bench", "<bench>", 1, CUSTOM), [root.cert])])
    defaults = default_anchors()
    store = custom.verification_store()

    def run_tlsdoctor(anchors: TrustAnchors) -> float:
        clear_caches()  # every run starts cold: no facts or signatures from the last one
        start = time.perf_counter()
        for chain, host in zip(chains, hosts, strict=True):
            check_chain(chain, host, at=NOW, anchors=anchors)
        return count / (time.perf_counter() - start)

    def run_bare() -> float:
        start = time.perf_counter()
        for chain, host in zip(chains, hosts, strict=True):
            verifier = PolicyBuilder().store(store).time(NOW).build_server_verifier(DNSName(host))
            verifier.verify(chain[0], chain[1:])
        return count / (time.perf_counter() - start)

    bare = run_bare()
    trusted = run_tlsdoctor(custom)
    untrusted = run_tlsdoctor(defaults)
    rows = [
        ("cryptography verifier alone (floor)", bare),
        ("tlsdoctor check_chain, trusted (custom root)", trusted),
        ("tlsdoctor check_chain, untrusted (defaults)", untrusted),
    ]
    for label, rate in rows:
        print(f"  {label:46s} {rate:8.0f} chains/s  ({bare / rate:.1f}x the floor's cost)")


def clear_caches() -> None:
    from tlsdoctor.analysis import facts

    facts._FACTS_CACHE.clear()
    facts._NAME_TEXT_CACHE.clear()
    facts._SIGNATURE_CACHE.clear()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--chains", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        process_benchmark(Path(tmp), args.runs)
    throughput_benchmark(args.chains)


if __name__ == "__main__":
    main()
