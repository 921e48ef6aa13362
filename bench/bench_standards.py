"""What the standards rules and the intermediates' revocation cost, side by side in one run.

Run: python bench/bench_standards.py [--chains 2000] [--rounds 5]

1. In process, `check_chain` (what `check --chain` and each target of `check -f` run) on
   the same distinct chains, cold caches each round, alternating: without the standards
   step (the diagnosis as before) and with it. Rounds alternate so machine noise hits both.
   Goal (issue 12): at most +15 % for the new checks together.
2. The standards rules alone, per certificate; and, when installed (the test extra),
   DigiCert's pkilint per certificate, the alternative that was measured and not taken.
3. Online over loopback HTTP: `check_chain(fetch=True)` of a chain whose leaf and
   intermediate each name a CRL, leaf only (as before) against leaf and intermediate
   (concurrently, as now).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from bench_check import clear_caches
from pki import NOW, make_root


def chains(count: int) -> tuple[Any, list[list[Any]]]:
    root = make_root("Bench Root")
    issuers = [root.issue_ca(f"Bench Issuing CA {i}") for i in range(4)]
    made = []
    for i in range(count):
        issuer = issuers[i % len(issuers)]
        made.append([issuer.issue_leaf([f"host{i}.example.test"]).cert, issuer.cert])
    return root, made


def in_process(count: int, rounds: int) -> None:
    import tlsdoctor.check
    from tlsdoctor.analysis import standards
    from tlsdoctor.anchors import CUSTOM, TrustAnchors
    from tlsdoctor.check import check_chain
    from tlsdoctor.models import TrustAnchorSource

    root, made = chains(count)
    anchors = TrustAnchors([(TrustAnchorSource("bench", "<bench>", 1, CUSTOM), [root.cert])])
    real = tlsdoctor.check.standards_finding

    def run(step: Callable[..., Any]) -> float:
        tlsdoctor.check.standards_finding = step  # type: ignore[attr-defined]
        clear_caches()
        standards._BROKEN_CACHE.clear()  # cold, as the facts: every leaf is new
        start = time.perf_counter()
        for i, chain in enumerate(made):
            check_chain(chain, f"host{i}.example.test", at=NOW, anchors=anchors)
        return count / (time.perf_counter() - start)

    before, after = [], []
    for _ in range(rounds):
        before.append(run(lambda *args: None))
        after.append(run(real))
    tlsdoctor.check.standards_finding = real  # type: ignore[attr-defined]
    b, a = statistics.median(before), statistics.median(after)
    print(f"\ncheck_chain in process, {count} distinct chains, median of {rounds} rounds:")
    print(f"  without the standards step (before)  {b:8.0f} chains/s")
    print(f"  with the standards step (after)      {a:8.0f} chains/s")
    print(f"  cost of the standards step: {100 * (b / a - 1):+.1f} % time per chain")


def per_certificate(count: int) -> None:
    from tlsdoctor.analysis.facts import CertFacts
    from tlsdoctor.analysis.standards import _BROKEN_CACHE, standards_finding

    _, made = chains(count)
    paths = [tuple(CertFacts.of(cert) for cert in chain) for chain in made]
    _BROKEN_CACHE.clear()
    for path in paths:  # warm the facts every diagnosis computes anyway
        _ = [facts.dns_names for facts in path]
    start = time.perf_counter()
    for path in paths:
        standards_finding(path, False, lambda facts: True)
    elapsed = time.perf_counter() - start
    print(f"\nstandards rules alone: {1e6 * elapsed / (2 * count):.1f} µs per certificate")
    try:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
        import pkilint_oracle
    except ImportError:
        print("pkilint: not installed (pip install -e '.[test]')")
        return
    start = time.perf_counter()
    pkilint_oracle.codes(made[0][0])  # imports and builds its validators once
    first = time.perf_counter() - start
    sample = [chain[0] for chain in made[:50]]
    start = time.perf_counter()
    for cert in sample:
        pkilint_oracle.codes(cert)
    each = (time.perf_counter() - start) / len(sample)
    print(f"pkilint: first certificate {1000 * first:.0f} ms, then {1000 * each:.1f} ms each")


def online(rounds: int) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization

    import httpserver
    import pki
    import tlsdoctor.online
    from tlsdoctor.anchors import CUSTOM, TrustAnchors
    from tlsdoctor.certs.build import build_certificate
    from tlsdoctor.check import check_chain
    from tlsdoctor.models import TrustAnchorSource

    def crl(issuer: pki.Issued) -> bytes:
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(issuer.name)
            .last_update(NOW - pki.DAY)
            .next_update(NOW + pki.DAY)
        )
        return builder.sign(issuer.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)

    with httpserver.serving() as site:
        root = make_root("Bench CRL Root")
        key = pki.ec_key()
        inter_cert = build_certificate(
            subject=pki.name("Bench CRL Issuing"), key=key, issuer_name=root.name,
            issuer_key=root.key, not_before=NOW - 30 * pki.DAY, not_after=NOW + 900 * pki.DAY,
            ca=True, crl_url=f"{site.base}/root.crl",
        )  # fmt: skip
        inter = pki.Issued(inter_cert, key)
        leaf = inter.issue_leaf(["crl.example.test"], crl_url=f"{site.base}/inter.crl")
        site.routes["/root.crl"] = httpserver.static(crl(root))
        site.routes["/inter.crl"] = httpserver.static(crl(inter))
        anchors = TrustAnchors([(TrustAnchorSource("b", "<b>", 1, CUSTOM), [root.cert])])

        def run(limit: int) -> float:
            tlsdoctor.online.MAX_CHECKED_INTERMEDIATES = limit
            start = time.perf_counter()
            report = check_chain(
                [leaf.cert, inter.cert], "crl.example.test", at=NOW, anchors=anchors, fetch=True
            )
            if report.revocation is None or report.revocation.state != "good":
                raise SystemExit(f"unexpected revocation status: {report.revocation}")
            return time.perf_counter() - start

        leaf_only, both = [], []
        for _ in range(rounds):
            leaf_only.append(run(0))
            both.append(run(4))
        tlsdoctor.online.MAX_CHECKED_INTERMEDIATES = 4
    print(f"\ncheck_chain(fetch=True) over loopback, median of {rounds} (CRLs of leaf, issuer):")
    print(f"  leaf's CRL only (before)               {1000 * statistics.median(leaf_only):6.1f} ms")
    print(f"  leaf's and intermediate's (after)      {1000 * statistics.median(both):6.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--chains", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    in_process(args.chains, args.rounds)
    per_certificate(min(args.chains, 1000))
    online(args.rounds)


if __name__ == "__main__":
    main()
