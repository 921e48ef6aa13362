"""``chain_order``: what the server sends against what it should send.

Leaf first, then each issuer in turn; no duplicates; nothing that does not belong to the
path (an expired cross-certificate is the classic: old OpenSSL builds follow it and fail).
Sending the root is harmless and not reported.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from tlsdoctor.analysis.facts import CertFacts
from tlsdoctor.analysis.path import ChainPath
from tlsdoctor.codes import FindingCode, Severity
from tlsdoctor.models import Finding, JsonValue


def chain_order_finding(
    presented: Sequence[CertFacts], path: ChainPath, at: dt.datetime
) -> Finding | None:
    """A chain_order warning listing every ordering problem, or None for a clean chain."""
    position: dict[bytes, int] = {}
    for depth, facts in enumerate(path.certs):
        position.setdefault(facts.subject_key + facts.spki, depth)
    problems: list[str] = []
    extras: list[JsonValue] = []
    if presented and presented[0].sha256 != path.leaf.sha256:
        problems.append(
            f"the first certificate is '{presented[0].display_name}', not the server's own "
            f"certificate '{path.leaf.display_name}'"
        )
    seen: set[str] = set()
    last_index = -1
    out_of_order = False
    for facts in presented:
        if facts.sha256 in seen:
            problems.append(f"'{facts.display_name}' is sent more than once")
            continue
        seen.add(facts.sha256)
        index = position.get(facts.subject_key + facts.spki)
        in_path = index is not None and path.certs[index].sha256 == facts.sha256
        expired = at > facts.not_after
        # A current cross-signed copy of the path's root serves older clients: it belongs.
        cross_sign = index == len(path.certs) - 1 and not expired
        if index is None or not (in_path or cross_sign):
            note = " (expired)" if expired else ""
            problems.append(f"'{facts.display_name}'{note} does not belong to the path")
            extras.append(facts.subject_text)
            continue
        if index < last_index:
            out_of_order = True
        last_index = max(last_index, index)
    if out_of_order:
        problems.append("the certificates are not in issuing order")
    if not problems:
        return None
    expected = [facts.display_name for facts in path.certs if _sent_in(facts, presented)]
    evidence: dict[str, JsonValue] = {
        "problems": list(problems),
        "presented_order": [facts.display_name for facts in presented],
        "expected_order": list(expected),
        "extra_certificates": extras,
    }
    return Finding(
        FindingCode.CHAIN_ORDER,
        Severity.WARNING,
        "The chain is not sent as clients expect: " + "; ".join(problems) + ".",
        evidence,
        (
            "Serve the leaf first, then each intermediate in issuing order: "
            + " -> ".join(expected)
            + ".",
            "Remove certificates that do not belong (old or expired cross-signs) from the "
            "chain file; `tlsdoctor fix chain` writes the right one.",
        ),
    )


def _sent_in(facts: CertFacts, presented: Sequence[CertFacts]) -> bool:
    return any(p.subject_key == facts.subject_key and p.spki == facts.spki for p in presented)
