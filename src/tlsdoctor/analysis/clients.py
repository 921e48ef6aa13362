"""Per-client verdicts: which clients would refuse this chain, and what each would print.

Clients differ in three ways that matter here: the trust store they read (Python requests
and Node carry Mozilla's roots, curl and Java read the system's), whether they repair a
missing intermediate (browsers and Windows fetch it through AIA, Firefox ships the public
ones; curl, Python, Node, Java and Go do not), and a few rules only some enforce (maximum
validity in Chrome and Safari, RSA-1024 still accepted by Java and Go).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from tlsdoctor.codes import FindingCode, Severity
from tlsdoctor.knowledge import ClientCatalogue, ClientProfile
from tlsdoctor.models import ClientVerdict, Finding, JsonValue


def variant(finding: Finding) -> str | None:
    """Which form of a finding a client's message depends on."""
    evidence = finding.evidence
    code = finding.code
    if code is FindingCode.UNTRUSTED_ROOT and evidence.get("root_presented"):
        return "in_chain"
    if code is FindingCode.MISSING_INTERMEDIATE and evidence.get("certificate") == "leaf":
        return "leaf_only"
    if code in (FindingCode.EXPIRED, FindingCode.NOT_YET_VALID, FindingCode.WEAK_KEY):
        return None if evidence.get("certificate") == "leaf" else "issuer"
    if code is FindingCode.INVALID_CHAIN:
        reason = evidence.get("reason")
        return reason if isinstance(reason, str) else None
    if code is FindingCode.HOSTNAME_MISMATCH and evidence.get("has_san") is False:
        return "cn_only"
    return None


_VERSION_ORDER = {"SSLv3": 0, "TLSv1": 1, "TLSv1.1": 2, "TLSv1.2": 3, "TLSv1.3": 4}


def _client_fails(profile: ClientProfile, finding: Finding, public_chain: bool) -> bool:
    """Whether ``profile`` refuses the connection for ``finding``: the places where real
    clients differ (checked against them by tests/test_client_matrix.py)."""
    if finding.severity is not Severity.ERROR:
        return False
    code = finding.code
    evidence = finding.evidence
    refused_by = evidence.get("refused_by")
    if isinstance(refused_by, list):  # only some verifiers refuse (e.g. OpenSSL's path)
        return profile.engine in refused_by
    accepted_by = evidence.get("accepted_by")
    if isinstance(accepted_by, list) and profile.engine in accepted_by:
        return False  # a rule this verifier does not check (Go and keyUsage)
    if code is FindingCode.REVOKED:
        return profile.checks_revocation
    if code is FindingCode.HOSTNAME_MISMATCH and evidence.get("has_san") is False:
        return not (profile.accepts_cn_only and _cn_matches(evidence))
    if code is FindingCode.WEAK_SIGNATURE and profile.sha1_public_roots_only:
        return public_chain
    if code is FindingCode.PROTOCOL_MISMATCH:
        server = _VERSION_ORDER.get(str(evidence.get("server_max_version")), -1)
        return server < _VERSION_ORDER[profile.min_protocol]
    if code is FindingCode.MISSING_INTERMEDIATE:
        if profile.fetches_aia and evidence.get("aia_url"):
            return False
        return not (profile.preloads_intermediates and evidence.get("issuer_is_public_ca"))
    if code is FindingCode.VALIDITY_TOO_LONG:
        return profile.enforces_max_validity
    if code is FindingCode.WEAK_KEY:
        if profile.rsa_minimum_public_roots_only and not public_chain:
            return False
        bits = evidence.get("bits")
        key = str(evidence.get("key", ""))
        if key.startswith("RSA") and isinstance(bits, int):
            return bits < profile.min_rsa_bits
    return True


def _cn_matches(evidence: Mapping[str, JsonValue]) -> bool:
    """For a CN-only certificate: whether its CN is the requested name (clients that fall
    back to the CN then connect)."""
    from tlsdoctor.analysis.names import dns_name_matches

    cn, requested = evidence.get("common_name"), evidence.get("requested")
    if not isinstance(cn, str) or not isinstance(requested, str):
        return False
    return dns_name_matches(cn, requested.lower().rstrip("."))


def client_verdicts(
    findings: Sequence[Finding],
    catalogue: ClientCatalogue,
    host: str | None,
    anchor_kinds: frozenset[str] | None,
    custom_anchors: bool,
    port: int | None = None,
) -> tuple[ClientVerdict, ...]:
    """One verdict per client profile.

    ``anchor_kinds`` are the anchor sets holding the root the path reached (None: no root
    reached). With ``custom_anchors`` every client is taken to trust the user's anchors.
    """
    errors = [finding for finding in findings if finding.severity is Severity.ERROR]
    stores_agree = custom_anchors or anchor_kinds is None or catalogue.stores <= anchor_kinds
    public_chain = not custom_anchors and anchor_kinds is not None and "mozilla" in anchor_kinds
    if not errors and stores_agree:
        return catalogue.all_trusted_custom if custom_anchors else catalogue.all_trusted
    verdicts: list[ClientVerdict] = []
    for profile in catalogue.clients:
        failing = [finding for finding in errors if _client_fails(profile, finding, public_chain)]
        codes = [finding.code for finding in failing]
        if (
            not custom_anchors
            and anchor_kinds is not None
            and profile.store not in anchor_kinds
            and FindingCode.UNTRUSTED_ROOT not in codes
        ):
            codes.insert(0, FindingCode.UNTRUSTED_ROOT)
        expected: str | None = None
        if codes:
            first = failing[0] if failing and failing[0].code is codes[0] else None
            key = codes[0].value
            kind = variant(first) if first is not None else None
            values = {
                "host": host or "the host",
                "port": str(port or 443),
                "openssl_reason": catalogue.openssl_reason(key, kind).format(
                    host=host or "the host"
                ),
            }
            expected = profile.error_for(key, kind, values)
        store = "custom" if custom_anchors else profile.store
        verdicts.append(
            ClientVerdict(profile.id, not codes, tuple(dict.fromkeys(codes)), expected, store)
        )
    return tuple(verdicts)
