"""Rules of RFC 5280 and the CA/Browser Forum Baseline Requirements that clients let pass.

A chain can be trusted by every mainstream client and still be badly made: a serial number
of 0, a CA whose basicConstraints is not critical, a common name that is not among the
SANs. Strict validators (linters, ``openssl verify -x509_strict``) refuse such chains, and
clients grow stricter over time, so the rules a chain breaks are one ``standards_violation``
warning.

The rules are data (:data:`tlsdoctor.analysis.standards_rules.RULES`): an id, the section
that states it, the scope (every chain, or only chains under a public root, which the
Baseline Requirements bind), which strict validators refuse it (observed here, see
``tests/test_standards.py``), and one small pure test. What a mainstream client refuses (an
unhandled critical extension, a wildcard over a public suffix, a missing SAN) is a trust
failure judged elsewhere, not a rule here.

DigiCert's pkilint was measured for this (bench/bench_standards.py, docs/standards.md):
seconds to import, milliseconds per certificate, against well under a millisecond for a
whole ``check_chain``; it is an oracle of the tests, not a dependency.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tlsdoctor.analysis.facts import CertFacts
from tlsdoctor.analysis.roles import role
from tlsdoctor.analysis.standards_rules import RULES, Place, Rule, Scope
from tlsdoctor.codes import FindingCode, Severity
from tlsdoctor.models import Finding, JsonValue


@dataclass(frozen=True)
class Violation:
    rule: Rule
    certificate: CertFacts
    role: str
    detail: str


def violations(
    path: Sequence[CertFacts], public: bool, linted: Callable[[CertFacts], bool]
) -> list[Violation]:
    """Every rule each certificate of ``path`` (leaf first) breaks.

    ``public``: the path ends in a public root, so the Baseline Requirements bind it.
    ``linted`` says which certificates are the chain's own: the roots of a public root
    program were reviewed by it, and their flaws are nothing the server can fix. A
    certificate whose extensions cannot be parsed is not linted: that is an invalid chain.
    """
    found: list[Violation] = []
    for facts in path:
        if not linted(facts) or facts.malformed:
            continue
        place_role = role(facts, path)
        key = (facts.sha256, place_role, public)
        broken = _BROKEN_CACHE.get(key)
        if broken is None:
            if len(_BROKEN_CACHE) >= _CACHE_LIMIT:
                _BROKEN_CACHE.clear()
            broken = _BROKEN_CACHE[key] = _broken(facts, place_role, public)
        found.extend(Violation(rule, facts, place_role, detail) for rule, detail in broken)
    return found


# Each certificate is linted once per place: a scan sees the same intermediates again and again.
_BROKEN_CACHE: dict[tuple[str, str, bool], tuple[tuple[Rule, str], ...]] = {}
_CACHE_LIMIT = 4096


def _broken(facts: CertFacts, place_role: str, public: bool) -> tuple[tuple[Rule, str], ...]:
    critical = {extension.oid: extension.critical for extension in facts.cert.extensions}
    place = Place(place_role, public, critical)
    broken = []
    for rule in RULES:
        if (rule.scope is Scope.PUBLIC and not public) or (rule.scope is Scope.PRIVATE and public):
            continue
        detail = rule.test(facts, place)
        if detail is not None:
            broken.append((rule, detail))
    return tuple(broken)


def standards_finding(
    path: Sequence[CertFacts], public: bool, linted: Callable[[CertFacts], bool]
) -> Finding | None:
    """One ``standards_violation`` warning for the whole path, or None.

    One finding, not one per certificate or per rule: a warning that clients do not act on
    must not push the errors off a 40-line terminal. The text shows one line per broken
    rule (at most 8, then "+N more"); the JSON evidence has every detail.
    """
    found = violations(path, public, linted)
    if not found:
        return None
    certificates = {v.certificate.sha256 for v in found}
    refused = list[JsonValue](sorted({name for v in found for name in v.rule.refused_by}))
    rules: list[JsonValue] = [
        f"{v.role} '{v.certificate.display_name[:60]}': {v.detail} ({v.rule.section})"
        for v in found
    ]
    details: list[JsonValue] = [
        {
            "rule": v.rule.id,
            "section": v.rule.section,
            "certificate": v.role,
            "subject": v.certificate.subject_text,
            "sha256": v.certificate.sha256,
            "detail": v.detail,
            "refused_by": list[JsonValue](v.rule.refused_by),
        }
        for v in found
    ]
    count, broken = len(certificates), len(found)
    return Finding(
        FindingCode.STANDARDS_VIOLATION,
        Severity.WARNING,
        f"{count} certificate{'s' if count > 1 else ''} of the chain break"
        f"{'' if count > 1 else 's'} {broken} rule{'s' if broken > 1 else ''} of RFC 5280 "
        "or the Baseline Requirements that mainstream clients do not enforce.",
        {"rules": rules, "refused_by": refused, "violations": details},
        (
            "Reissue from a CA profile that follows RFC 5280 and the Baseline Requirements: "
            "strict validators refuse this chain today.",
        ),
    )
