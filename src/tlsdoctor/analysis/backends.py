"""Several addresses behind one name: what each served, whether they agree, which is worst.

Pure functions of the reports of each address (made by :mod:`tlsdoctor.live`). A client
gets one of the addresses, so a name is only as good as its worst backend: the report of
a name with several addresses is that backend's, with ``inconsistent_backends`` when they
differ (the classic "it fails sometimes").
"""

from __future__ import annotations

from collections.abc import Sequence

from tlsdoctor.codes import FindingCode, Severity, Verdict
from tlsdoctor.models import Backend, Finding, JsonValue, Report, rfc3339

# At most this many addresses of one name are checked (concurrently); more is a note.
MAX_BACKENDS = 16
# Worst first: a backend clients refuse is a certain failure for whoever lands on it (no
# client retries another address after a TLS failure); one that broke the handshake could
# not be checked and fails too. An address that refuses the connection or never accepts
# it comes last: clients that get it try the next address (curl, browsers' Happy
# Eyeballs, Go, Python's create_connection), so it costs time, not the connection; it
# speaks for the name only when no address accepts.
_VERDICT_RANK = {Verdict.UNTRUSTED: 0, Verdict.ERROR: 1, Verdict.TRUSTED: 2}
_UNREACHABLE_RANK = 3
# Codes that may differ between two answers of the same backend (a CRL or OCSP download
# that failed once): not a difference between backends.
_UNSTABLE = frozenset({FindingCode.REVOCATION_UNKNOWN, FindingCode.INCONSISTENT_BACKENDS})


def backend_of(address: str, report: Report) -> Backend:
    """What the check of one address found."""
    leaf = report.chain[0] if report.chain else None
    first = report.findings[0] if report.findings else None
    unreachable = first is not None and (
        first.code is FindingCode.CONNECTION_REFUSED
        or (first.code is FindingCode.TIMEOUT and first.evidence.get("step") == "connecting")
    )
    return Backend(
        address=address,
        verdict=report.verdict,
        codes=report.codes,
        leaf_sha256=leaf.sha256 if leaf is not None else None,
        chain_sha256=tuple(cert.sha256 for cert in report.chain),
        not_after=leaf.not_after if leaf is not None else None,
        tls_version=report.tls.version if report.tls is not None else None,
        reachable=not unreachable,
    )


def worst_backend(backends: Sequence[Backend]) -> int:
    """The index of the backend whose report speaks for the name: the worst verdict
    among the addresses that accept connections, then the most findings, then the first
    in resolver order."""

    def rank(i: int) -> tuple[int, int, int]:
        backend = backends[i]
        verdict = _VERDICT_RANK[backend.verdict] if backend.reachable else _UNREACHABLE_RANK
        return verdict, -len(backend.codes), i

    return min(range(len(backends)), key=rank)


def _signature(backend: Backend) -> tuple[tuple[str, ...], frozenset[FindingCode]]:
    return backend.chain_sha256, frozenset(backend.codes) - _UNSTABLE


def inconsistent_backends_finding(backends: Sequence[Backend], shown: str) -> Finding | None:
    """inconsistent_backends when the addresses do not serve the same chain with the same
    outcome; ``shown`` is the address whose findings the report lists."""
    if len({_signature(backend) for backend in backends}) < 2:
        return None
    chains = len({backend.chain_sha256 for backend in backends if backend.chain_sha256})
    described = "; ".join(_describe(backend) for backend in backends)
    evidence: dict[str, JsonValue] = {
        "addresses": [backend.address for backend in backends],
        "distinct_chains": chains,
        # One line an address (the report's "backends" has them field by field).
        "outcomes": [_outcome(backend) for backend in backends],
        "reported_address": shown,
    }
    return Finding(
        FindingCode.INCONSISTENT_BACKENDS,
        Severity.WARNING,
        f"The name resolves to {len(backends)} addresses that do not answer alike ({described}): "
        f"clients fail or succeed depending on the address they get. This report's chain and "
        f"other findings are those of {shown}.",
        evidence,
        (
            "Install the same certificate and chain on every backend (every member of the "
            "load-balancer pool, every host of the DNS round-robin), then reload each.",
            "Check each address on its own: `tlsdoctor check NAME --connect ADDRESS`.",
        ),
    )


def _describe(backend: Backend) -> str:
    if backend.leaf_sha256 is None:
        outcome = ", ".join(code.value for code in backend.codes) or "no certificate"
        return f"{backend.address}: {outcome}"
    until = rfc3339(backend.not_after) if backend.not_after is not None else "?"
    problems = ", ".join(code.value for code in backend.codes) or "trusted"
    return f"{backend.address}: leaf {backend.leaf_sha256[:12]} valid until {until}, {problems}"


def _outcome(backend: Backend) -> str:
    codes = ", ".join(code.value for code in backend.codes)
    return f"{backend.address}: {backend.verdict.value}" + (f" ({codes})" if codes else "")
