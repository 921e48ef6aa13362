"""Structural reasons a path is invalid (``invalid_chain``), each named in the evidence.

These are the rules of RFC 5280 and the CA/Browser Forum profile that a path can break
even when every signature verifies: an issuer that is not a CA, a leaf that may not be
used for TLS servers, path length and name constraints, malformed extensions.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Callable, Mapping, Sequence

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from tlsdoctor.analysis.facts import CertFacts
from tlsdoctor.analysis.roles import cert_evidence, sentence_label
from tlsdoctor.codes import FindingCode, Severity
from tlsdoctor.models import Finding, JsonValue

# Intermediates a verifier follows before giving up (webpki's limit; OpenSSL allows more).
MAX_INTERMEDIATES = 8


def invalid_chain(
    reason: str,
    message: str,
    facts: CertFacts | None,
    path: Sequence[CertFacts],
    fix: Sequence[str],
    **extra: JsonValue,
) -> Finding:
    """An ``invalid_chain`` finding whose evidence names ``reason``."""
    evidence: dict[str, JsonValue] = {"reason": reason}
    if facts is not None:
        evidence.update(cert_evidence(facts, path))
    evidence.update(extra)
    return Finding(FindingCode.INVALID_CHAIN, Severity.ERROR, message, evidence, tuple(fix))


def constraint_findings(path: Sequence[CertFacts], trusted: bool) -> list[Finding]:
    """invalid_chain findings for the path (leaf first; with ``trusted`` the last is the anchor)."""
    findings: list[Finding] = []
    leaf = path[0]
    for facts in path:
        for problem in facts.malformed:
            findings.append(
                invalid_chain(
                    "malformed_extension",
                    f"{sentence_label(facts, path)} has an extension that cannot be "
                    f"parsed ({problem}); strict clients reject it.",
                    facts,
                    path,
                    ("Reissue the certificate; report the malformed extension to the CA.",),
                    detail=problem,
                )
            )
    if leaf.is_ca and not leaf.is_self_signed and len(path) > 1:
        findings.append(
            invalid_chain(
                "leaf_is_ca",
                f"{sentence_label(leaf, path)} is a CA certificate (basicConstraints "
                "CA:TRUE); Firefox refuses a CA certificate as a server certificate "
                "(mozilla::pkix); OpenSSL, Go and Python accept it (oracle tests).",
                leaf,
                path,
                ("Reissue the server certificate with basicConstraints CA:FALSE.",),
                refused_by=["nss"],
            )
        )
    findings.extend(_usage_findings(leaf, path))
    findings.extend(_issuer_findings(path, trusted))
    findings.extend(_name_constraint_findings(path))
    intermediates = len(path) - 2 if trusted else len(path) - 1
    if intermediates > MAX_INTERMEDIATES:
        # OpenSSL (depth 100) and Go accept such a path (checked by the oracle tests):
        # only the webpki verifiers (rustls, cryptography) stop, so it is a warning.
        findings.append(
            Finding(
                FindingCode.STANDARDS_VIOLATION,
                Severity.WARNING,
                f"The path has {intermediates} intermediate certificates; OpenSSL and Go "
                f"accept it, but webpki verifiers (rustls, Python cryptography) stop after "
                f"{MAX_INTERMEDIATES}.",
                {
                    "rule": "path_too_long",
                    "source": "webpki path-length limit (not an RFC 5280 rule)",
                    "refused_by_strict": ["rustls-webpki", "cryptography"],
                    "intermediates": intermediates,
                },
                (
                    "Serve the shortest chain your CA offers; a real chain has one or two "
                    "intermediates.",
                ),
            )
        )
    return findings


def path_judge(at: dt.datetime) -> Callable[[Sequence[CertFacts], bool], int]:
    """How many rules a candidate path breaks at ``at``: what backtracking path builders
    (Go, browsers, Java) avoid when they choose among several issuers."""

    def judge(path: Sequence[CertFacts], trusted: bool) -> int:
        outside = sum(1 for facts in path if not facts.not_before <= at <= facts.not_after)
        broken = constraint_findings(path, trusted)
        return outside + sum(1 for f in broken if f.severity is Severity.ERROR)

    return judge


def critical_extension_findings(
    path: Sequence[CertFacts], trusted: bool, handled: Mapping[str, frozenset[str]]
) -> list[Finding]:
    """invalid_chain for critical extensions a verifier does not process (RFC 5280 4.2:
    it must then refuse the certificate). An extension nobody knows fails every client;
    a standard one marked critical (AIA, AKI) fails only the engines in ``handled`` that
    lack it (OpenSSL refuses both; Go accepts both)."""
    findings: list[Finding] = []
    certs = path[:-1] if trusted else path
    everyone = frozenset.intersection(*handled.values()) if handled else frozenset()
    for facts in certs:
        for oid, known in facts.critical_extensions:
            if oid in everyone:  # basicConstraints, keyUsage...: the common case, at once
                continue
            if known:
                refused = sorted(engine for engine, oids in handled.items() if oid not in oids)
                if not refused:
                    continue
                who = ", ".join(refused)
                extra: dict[str, JsonValue] = {"refused_by": list(refused)}
            else:
                who = "every client (RFC 5280 4.2)"
                extra = {}
            name = known or oid
            findings.append(
                invalid_chain(
                    "unhandled_critical_extension",
                    f"{sentence_label(facts, path)} marks the extension {name} ({oid}) "
                    f"critical, and verifiers that do not process it must refuse the "
                    f"certificate: refused by {who}.",
                    facts,
                    path,
                    (
                        "Reissue the certificate without marking that extension critical "
                        "(only basicConstraints, keyUsage and nameConstraints need to be).",
                    ),
                    extension=oid,
                    extension_name=known or None,
                    **extra,
                )
            )
    return findings


def _refused_by(engines: list[str] | None) -> dict[str, JsonValue]:
    """The evidence that limits a finding to the clients of ``engines`` (None: all)."""
    return {} if engines is None else {"refused_by": list[JsonValue](engines)}


def _usage_findings(leaf: CertFacts, path: Sequence[CertFacts]) -> list[Finding]:
    findings: list[Finding] = []
    for facts in path[:-1] if len(path) > 1 else path:
        eku = facts.extended_key_usage
        if eku is None or ExtendedKeyUsageOID.SERVER_AUTH in eku:
            continue
        allowed = ", ".join(oid._name for oid in eku) or "nothing"
        # anyExtendedKeyUsage without serverAuth: Go accepts it, OpenSSL's sslserver
        # purpose does not ("unsupported certificate purpose"; both run by the oracles).
        only_any = ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in eku
        findings.append(
            invalid_chain(
                "no_server_auth_eku",
                f"{sentence_label(facts, path)} is restricted to {allowed} by its "
                "extendedKeyUsage, which does not include TLS server authentication"
                + (
                    ": OpenSSL-based clients refuse anyExtendedKeyUsage without "
                    "serverAuth; Go accepts it."
                    if only_any
                    else "."
                ),
                facts,
                path,
                (
                    "Reissue the certificate with extendedKeyUsage serverAuth "
                    "(a TLS server profile at your CA).",
                ),
                extended_key_usage=[oid.dotted_string for oid in eku],
                **_refused_by(["openssl"] if only_any else None),
            )
        )
    usage = leaf.key_usage
    if (
        usage is not None
        and not leaf.is_ca
        and not (usage.digital_signature or usage.key_encipherment or usage.key_agreement)
    ):
        # OpenSSL's TLS key usages (KU_TLS): digitalSignature, keyEncipherment,
        # keyAgreement; Go ignores keyUsage when it verifies (both run by the oracles).
        findings.append(
            invalid_chain(
                "leaf_key_usage",
                f"{sentence_label(leaf, path)} has a keyUsage that allows none of "
                "digitalSignature, keyEncipherment, keyAgreement, so it cannot be used for "
                "TLS (Go alone does not check).",
                leaf,
                path,
                ("Reissue the certificate with keyUsage digitalSignature.",),
                accepted_by=["go"],
            )
        )
    return findings


def _issuer_findings(path: Sequence[CertFacts], trusted: bool) -> list[Finding]:
    findings: list[Finding] = []
    for depth, issuer in enumerate(path[1:], start=1):
        # A trust anchor's own extensions are not checked by OpenSSL; webpki checks them,
        # but a root that is a CA at all is what matters for the diagnosis.
        if issuer.cert.version is x509.Version.v1 and not (trusted and depth == len(path) - 1):
            findings.append(
                invalid_chain(
                    "v1_issuer",
                    f"{sentence_label(issuer, path)} is an X.509 version 1 certificate, "
                    "which cannot carry basicConstraints and so cannot act as a CA.",
                    issuer,
                    path,
                    ("Reissue the CA certificate as version 3 with basicConstraints CA:TRUE.",),
                )
            )
            continue
        if issuer.cert.version is x509.Version.v1:
            continue
        if not issuer.is_ca and not issuer.malformed:  # unreadable: said once, above
            findings.append(
                invalid_chain(
                    "issuer_not_ca",
                    f"{sentence_label(issuer, path)} signed the certificate below it but "
                    "is not a CA (its basicConstraints say CA:FALSE or are missing).",
                    issuer,
                    path,
                    (
                        "A certificate can only be issued by a CA certificate: reissue the "
                        "issuer with basicConstraints CA:TRUE, or get the leaf from a real CA.",
                    ),
                )
            )
        usage = issuer.key_usage
        if usage is not None and not usage.key_cert_sign:
            findings.append(
                invalid_chain(
                    "issuer_key_usage",
                    f"{sentence_label(issuer, path)} has a keyUsage without "
                    "keyCertSign, so it may not sign certificates.",
                    issuer,
                    path,
                    ("Reissue the CA certificate with keyUsage keyCertSign, cRLSign.",),
                )
            )
        constraints = issuer.basic_constraints
        if constraints is not None and constraints.path_length is not None:
            below = sum(1 for facts in path[1:depth] if not facts.is_self_issued)
            if below > constraints.path_length:
                findings.append(
                    invalid_chain(
                        "path_length",
                        f"{sentence_label(issuer, path)} allows {constraints.path_length} "
                        f"CA certificates below it (pathLenConstraint) but the path has {below}.",
                        issuer,
                        path,
                        ("Issue the leaf from a CA that is allowed to issue at this depth.",),
                        path_length=constraints.path_length,
                        intermediates_below=below,
                    )
                )
            elif depth - 1 > constraints.path_length:
                # Go (1.19, run by the oracle tests) counts self-issued CA certificates
                # too, against RFC 5280 4.2.1.9; OpenSSL and browsers do not.
                findings.append(
                    invalid_chain(
                        "path_length",
                        f"{sentence_label(issuer, path)} allows {constraints.path_length} "
                        f"CA certificates below it; the path has {below} plus "
                        f"{depth - 1 - below} self-issued ones, which RFC 5280 does not "
                        "count but Go's crypto/x509 does: Go refuses the chain.",
                        issuer,
                        path,
                        ("Issue the leaf from a CA that is allowed to issue at this depth.",),
                        path_length=constraints.path_length,
                        intermediates_below=below,
                        self_issued_below=depth - 1 - below,
                        refused_by=["go"],
                    )
                )
    return findings


def _name_constraint_findings(path: Sequence[CertFacts]) -> list[Finding]:
    findings: list[Finding] = []
    leaf = path[0]
    for index, issuer in enumerate(path[1:], start=1):
        constraints = issuer.extension(x509.NameConstraints)
        if constraints is None:
            continue
        unsupported = _go_unsupported_forms(constraints)
        if unsupported and any(oid == _NAME_CONSTRAINTS for oid, _ in issuer.critical_extensions):
            findings.append(
                invalid_chain(
                    "unhandled_critical_extension",
                    f"{sentence_label(issuer, path)} has critical name constraints of a "
                    f"form Go does not process ({', '.join(unsupported)}): Go refuses the "
                    "chain as an unhandled critical extension; OpenSSL applies them.",
                    issuer,
                    path,
                    ("Constrain DNS names, IP addresses and e-mail addresses only.",),
                    extension=_NAME_CONSTRAINTS,
                    refused_by=["go"],
                )
            )
        # Subject names of the certificates below the constraining CA (self-issued
        # intermediates excepted, RFC 5280 6.1.3 b).
        below = [f for f in path[:index] if f is leaf or not f.is_self_issued]
        violations = [
            facts.subject_text
            for facts in below
            if not _directory_allowed(facts.cert.subject, constraints)
        ]
        violations.extend(
            name for name in leaf.dns_names if not _dns_allowed(name.lower(), constraints)
        )
        violations.extend(ip for ip in leaf.ip_addresses if not _ip_allowed(ip, constraints))
        if not leaf.dns_names:
            findings.extend(_cn_constraint_findings(leaf, issuer, path, constraints))
        san = leaf.extension(x509.SubjectAlternativeName)
        emails = san.get_values_for_type(x509.RFC822Name) if san is not None else []
        violations.extend(e for e in emails if not _email_allowed(e.lower(), constraints))
        if violations:
            findings.append(
                invalid_chain(
                    "name_constraints",
                    f"{sentence_label(issuer, path)} is name-constrained and may not "
                    f"issue for {', '.join(violations[:5])}.",
                    issuer,
                    path,
                    (
                        "Get the certificate from a CA allowed to issue for these names, or "
                        "widen the constraints of the internal CA.",
                    ),
                    violating_names=list(violations[:50]),
                )
            )
    return findings


def _cn_constraint_findings(
    leaf: CertFacts, issuer: CertFacts, path: Sequence[CertFacts], constraints: x509.NameConstraints
) -> list[Finding]:
    """OpenSSL's extra rule: a leaf without a DNS SAN has each CN that looks like a host
    name held to the DNS constraints (x509_vfy.c check_name_constraints, cn2dnsid), so an
    IP-only leaf named ``CN=127.0.0.1`` under a DNS-permitted CA is refused by curl,
    Python and ``openssl verify`` (and GnuTLS), while Go and browsers read the SAN only."""
    outside = [
        cn
        for cn in leaf.cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        if isinstance(cn.value, str)
        and _looks_like_dns_name(cn.value)
        and not _dns_allowed(cn.value.lower(), constraints)
    ]
    if not outside:
        return []
    names = ", ".join(str(cn.value) for cn in outside[:5])
    return [
        invalid_chain(
            "name_constraints_common_name",
            f"{sentence_label(issuer, path)} is name-constrained, and the leaf has no DNS name "
            f"in its SAN, so OpenSSL-based clients hold its common name ({names}) to the DNS "
            "constraints and refuse it; Go and browsers read only the SAN.",
            issuer,
            path,
            (
                "Issue the leaf without a common name (the SAN carries its addresses), or "
                "with a CN inside the CA's permitted names.",
            ),
            violating_names=[str(cn.value) for cn in outside[:50]],
            refused_by=["openssl", "gnutls"],
        )
    ]


def _looks_like_dns_name(value: str) -> bool:
    """OpenSSL's cn2dnsid test: letters, digits, inner hyphens and dots, at least two
    labels (a single trailing dot is ignored)."""
    text = value[:-1] if value.endswith(".") else value
    if not text or "." not in text or not text.isascii():
        return False
    for index, char in enumerate(text):
        if char.isalnum():
            continue
        inner = 0 < index < len(text) - 1
        if inner and char == "-":
            continue
        neighbours = (text[index - 1], text[index + 1]) if inner else ()
        if inner and char == "." and "-" not in neighbours and "." not in neighbours:
            continue
        return False
    return True


def _in_subtree(name: str, base: str) -> bool:
    """RFC 5280 4.2.1.10: a DNS subtree is the name itself and every name below it. A
    base with a leading dot (".example.com") holds only the names below it, as OpenSSL
    (nc_dns) and Go apply it (oracle tests: the apex is outside)."""
    base = base.lower().rstrip(".")
    if base.startswith("."):
        return name.endswith(base)
    return name == base or name.endswith("." + base)


def _dns_allowed(name: str, constraints: x509.NameConstraints) -> bool:
    name = name.rstrip(".").removeprefix("*.")
    excluded = [s.value for s in constraints.excluded_subtrees or () if isinstance(s, x509.DNSName)]
    if any(_in_subtree(name, base) for base in excluded):
        return False
    permitted = [
        s.value for s in constraints.permitted_subtrees or () if isinstance(s, x509.DNSName)
    ]
    return not permitted or any(_in_subtree(name, base) for base in permitted)


_NAME_CONSTRAINTS = "2.5.29.30"


def _go_unsupported_forms(constraints: x509.NameConstraints) -> list[str]:
    """Constraint forms other than DNS, IP, e-mail and URI, which Go's parser leaves
    unhandled (a directoryName constraint made Go 1.19 refuse with "unhandled critical
    extension" in the oracle tests)."""
    handled = (x509.DNSName, x509.IPAddress, x509.RFC822Name, x509.UniformResourceIdentifier)
    subtrees = [*(constraints.permitted_subtrees or ()), *(constraints.excluded_subtrees or ())]
    return sorted({type(s).__name__ for s in subtrees if not isinstance(s, handled)})


def _directory_allowed(subject: x509.Name, constraints: x509.NameConstraints) -> bool:
    """RFC 5280 4.2.1.10: a name is in a directoryName subtree when its RDNs begin with
    the base's; an empty subject is in none and is not checked."""
    rdns = list(subject.rdns)
    if not rdns:
        return True

    def within(base: x509.Name) -> bool:
        prefix = list(base.rdns)
        return rdns[: len(prefix)] == prefix

    excluded = [
        s.value for s in constraints.excluded_subtrees or () if isinstance(s, x509.DirectoryName)
    ]
    if any(within(base) for base in excluded):
        return False
    permitted = [
        s.value for s in constraints.permitted_subtrees or () if isinstance(s, x509.DirectoryName)
    ]
    return not permitted or any(within(base) for base in permitted)


def _in_mail_subtree(address: str, base: str) -> bool:
    """RFC 5280 4.2.1.10: a mailbox, every mailbox of a host, or (leading dot) of every
    host below a domain."""
    base = base.lower()
    if "@" in base:
        return address == base
    host = address.rpartition("@")[2]
    return host.endswith(base) if base.startswith(".") else host == base


def _email_allowed(address: str, constraints: x509.NameConstraints) -> bool:
    excluded = [
        s.value for s in constraints.excluded_subtrees or () if isinstance(s, x509.RFC822Name)
    ]
    if any(_in_mail_subtree(address, base) for base in excluded):
        return False
    permitted = [
        s.value for s in constraints.permitted_subtrees or () if isinstance(s, x509.RFC822Name)
    ]
    return not permitted or any(_in_mail_subtree(address, base) for base in permitted)


def _ip_allowed(ip: str, constraints: x509.NameConstraints) -> bool:
    address = ipaddress.ip_address(ip)
    excluded = [
        s.value for s in constraints.excluded_subtrees or () if isinstance(s, x509.IPAddress)
    ]
    if any(
        isinstance(net, (ipaddress.IPv4Network, ipaddress.IPv6Network)) and address in net
        for net in excluded
    ):
        return False
    permitted = [
        s.value for s in constraints.permitted_subtrees or () if isinstance(s, x509.IPAddress)
    ]
    return not permitted or any(
        isinstance(net, (ipaddress.IPv4Network, ipaddress.IPv6Network)) and address in net
        for net in permitted
    )
