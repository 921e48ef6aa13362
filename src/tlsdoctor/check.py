"""Diagnosis of one chain: the orchestration that turns certificates into a :class:`Report`.

This is the only place that reads the clock or picks default trust anchors; every
analysis function below it takes them as arguments.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from cryptography import x509

from tlsdoctor.analysis.clients import client_verdicts
from tlsdoctor.analysis.constraints import constraint_findings, invalid_chain
from tlsdoctor.analysis.facts import CertFacts
from tlsdoctor.analysis.names import HostName, hostname_finding, parse_host
from tlsdoctor.analysis.order import chain_order_finding
from tlsdoctor.analysis.path import ChainPath, build_path
from tlsdoctor.analysis.roles import role
from tlsdoctor.analysis.strength import strength_findings
from tlsdoctor.analysis.trust import trust_findings
from tlsdoctor.analysis.validity import validity_findings, validity_period_finding
from tlsdoctor.analysis.webpki import webpki_error
from tlsdoctor.anchors import CUSTOM, TrustAnchors, default_anchors, mozilla_anchors
from tlsdoctor.codes import Severity, priority
from tlsdoctor.errors import InputError
from tlsdoctor.knowledge import client_catalogue, interception_products, known_bad_roots
from tlsdoctor.models import (
    CertSummary,
    Finding,
    Report,
    ServerClock,
    Source,
    Target,
    TlsInfo,
)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def check_chain(
    certificates: Sequence[x509.Certificate],
    host: str | None = None,
    *,
    at: dt.datetime | None = None,
    anchors: TrustAnchors | None = None,
    warn_days: int | None = None,
    files: Sequence[str] = (),
    public_roots: TrustAnchors | None = None,
) -> Report:
    """Diagnose a chain (leaf first, as a server sends it) for ``host`` at time ``at``.

    ``anchors`` defaults to Mozilla's roots plus the system store; ``at`` to now.
    ``public_roots`` are the roots whose leaves the CA/Browser Forum rules bind
    (default: Mozilla's). Every problem is reported, primary cause first.
    """
    if not certificates:
        raise InputError("no certificate to check")
    checked_at = utc_now()
    if at is None:
        when = checked_at
    elif at.tzinfo is None:  # a naive time is UTC, as on the command line
        when = at.replace(tzinfo=dt.timezone.utc)
    else:
        when = at.astimezone(dt.timezone.utc)
    trust = default_anchors() if anchors is None else anchors
    host_name = parse_host(host) if host else None
    presented = [CertFacts.of(cert) for cert in certificates]
    public = mozilla_anchors() if public_roots is None else public_roots
    findings, path = diagnose(presented, trust, public, when, host_name, warn_days)
    target = Target(host=host, source=Source.FILE, files=tuple(files))
    return build_report(target, checked_at, when, findings, presented, path, trust)


def build_report(
    target: Target,
    checked_at: dt.datetime,
    evaluated_at: dt.datetime,
    findings: Sequence[Finding],
    presented: Sequence[CertFacts],
    path: ChainPath | None,
    anchors: TrustAnchors,
    tls: TlsInfo | None = None,
    server_clock: ServerClock | None = None,
) -> Report:
    """The report of a diagnosis: findings, chain and path summaries, client verdicts."""
    anchor_kinds = path.anchor.kinds if path is not None and path.anchor is not None else None
    clients = client_verdicts(
        findings,
        client_catalogue(),
        target.host,
        anchor_kinds,
        custom_anchors=anchors.kinds == {CUSTOM},
    )
    sent = {facts.sha256 for facts in presented}
    path_certs = path.certs if path is not None else ()
    summaries: dict[str, CertSummary] = {}
    for facts in (*presented, *path_certs):
        if facts.sha256 not in summaries:
            summaries[facts.sha256] = _summary(facts, path_certs, facts.sha256 in sent)
    return Report(
        target=target,
        checked_at=checked_at,
        evaluated_at=evaluated_at,
        findings=tuple(findings),
        chain=tuple(summaries[facts.sha256] for facts in presented),
        path=tuple(summaries[facts.sha256] for facts in path_certs),
        trust_anchors=anchors.sources,
        clients=clients,
        tls=tls,
        server_clock=server_clock,
    )


def diagnose(
    presented: Sequence[CertFacts],
    anchors: TrustAnchors,
    public_roots: TrustAnchors,
    at: dt.datetime,
    host: HostName | None,
    warn_days: int | None,
) -> tuple[list[Finding], ChainPath]:
    """Every finding for ``presented`` (pure: all inputs are arguments), primary first."""
    leaf = choose_leaf(presented)
    # Signatures are the dearest part of a diagnosis. A path whose links are unambiguous
    # is built without checking them when the webpki verifier, which checks every
    # signature, then accepts the chain; otherwise it is built again, fully checked.
    path = build_path(leaf, presented, anchors, check_unique_links=False)
    findings = _path_findings(presented, leaf, path, anchors, public_roots, at, host, warn_days)
    verifier_error: str | None = None
    if path.trusted and not any(f.severity is Severity.ERROR for f in findings):
        publicly_trusted = public_roots.matching(path.last) is not None
        intermediates = [f for f in presented if f is not leaf]
        verifier_error = webpki_error(leaf, intermediates, anchors, at, host, publicly_trusted)
        if verifier_error is None:
            return _ordered(findings), path
    if not path.signatures_checked:
        path = build_path(leaf, presented, anchors, check_unique_links=True)
        findings = _path_findings(presented, leaf, path, anchors, public_roots, at, host, warn_days)
    if verifier_error is not None and not any(f.severity is Severity.ERROR for f in findings):
        findings.append(
            invalid_chain(
                "verifier",
                f"The certificate verifier (webpki profile) rejects the chain: {verifier_error}.",
                leaf,
                path.certs,
                ("Reissue the certificate with a standard profile (SAN, AKI, keyUsage).",),
                verifier_error=verifier_error,
            )
        )
    return _ordered(findings), path


def _ordered(findings: list[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda finding: priority(finding.code))


def _path_findings(
    presented: Sequence[CertFacts],
    leaf: CertFacts,
    path: ChainPath,
    anchors: TrustAnchors,
    public_roots: TrustAnchors,
    at: dt.datetime,
    host: HostName | None,
    warn_days: int | None,
) -> list[Finding]:
    """What tlsdoctor's own checks find along ``path``."""
    findings = trust_findings(
        path, anchors, public_roots, known_bad_roots(), interception_products()
    )
    findings.extend(validity_findings(path.certs, at, warn_days))
    if host is not None:
        mismatch = hostname_finding(leaf, host)
        if mismatch is not None:
            findings.append(mismatch)
    findings.extend(strength_findings(path.certs))
    findings.extend(constraint_findings(path.certs, path.trusted))
    publicly_trusted = path.trusted and public_roots.matching(path.last) is not None
    too_long = validity_period_finding(leaf, publicly_trusted)
    if too_long is not None:
        findings.append(too_long)
    order = chain_order_finding(presented, path, at)
    if order is not None:
        findings.append(order)
    return findings


def choose_leaf(presented: Sequence[CertFacts]) -> CertFacts:
    """The server's own certificate: the first one that issued none of the others.

    Servers send it first; people pasting files do not always.
    """
    issuers = {facts.issuer_key for facts in presented if not facts.is_self_issued}
    candidates = [facts for facts in presented if facts.subject_key not in issuers]
    if not candidates or presented[0] in candidates:
        return presented[0]
    end_entities = [facts for facts in candidates if not facts.is_ca]
    return (end_entities or candidates)[0]


def _summary(facts: CertFacts, path: Sequence[CertFacts], presented: bool) -> CertSummary:
    if any(p.sha256 == facts.sha256 for p in path):
        kind = role(facts, path)
    elif facts.is_self_issued and facts.is_ca:
        kind = "root"
    else:
        kind = "intermediate" if facts.is_ca else "leaf"
    return facts.summary.placed(kind, presented)
