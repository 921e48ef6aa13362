"""Diagnosis of one chain: the orchestration that turns certificates into a :class:`Report`.

This is the only place that reads the clock or picks default trust anchors; every
analysis function below it takes them as arguments.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509

from tlsdoctor.analysis.clients import client_verdicts
from tlsdoctor.analysis.constraints import (
    constraint_findings,
    critical_extension_findings,
    invalid_chain,
    path_judge,
)
from tlsdoctor.analysis.facts import CertFacts
from tlsdoctor.analysis.names import HostName, hostname_finding, parse_host
from tlsdoctor.analysis.order import chain_order_finding
from tlsdoctor.analysis.path import ChainPath, PathEnd, build_path, openssl_path
from tlsdoctor.analysis.roles import role
from tlsdoctor.analysis.standards import standards_finding
from tlsdoctor.analysis.strength import strength_findings
from tlsdoctor.analysis.trust import fetched_intermediates_finding, trust_findings
from tlsdoctor.analysis.validity import validity_findings, validity_period_finding
from tlsdoctor.analysis.webpki import models_path, webpki_error
from tlsdoctor.anchors import CUSTOM, TrustAnchors, default_anchors, mozilla_anchors
from tlsdoctor.codes import FindingCode, Severity, priority
from tlsdoctor.diagnosis_cache import DiagnosisCache, Question
from tlsdoctor.errors import InputError
from tlsdoctor.fetch import Fetcher, FetchPolicy
from tlsdoctor.knowledge import client_catalogue, interception_products, known_bad_roots
from tlsdoctor.models import (
    CertSummary,
    FetchRecord,
    Finding,
    Report,
    RevocationStatus,
    ServerClock,
    Source,
    Target,
    TlsInfo,
)
from tlsdoctor.online import RevocationInput, fetch_issuers, revocation_of


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
    fetch: bool = False,
    revocation: RevocationInput | None = None,
    check_revocation: bool = True,
) -> Report:
    """Diagnose a chain (leaf first, as a server sends it) for ``host`` at time ``at``.

    ``anchors`` defaults to Mozilla's roots plus the system store; ``at`` to now.
    ``public_roots`` are the roots whose leaves the CA/Browser Forum rules bind
    (default: Mozilla's). Offline by default: ``fetch`` downloads AIA issuers, CRLs and
    OCSP answers; ``revocation`` gives CRLs and OCSP responses as files. Every problem is
    reported, primary cause first.
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
    target = Target(host=host, source=Source.FILE, files=tuple(files))
    given = revocation or RevocationInput()
    if not fetch and not given.given:
        findings, path = diagnose(presented, trust, public, when, host_name, warn_days)
        return build_report(target, checked_at, when, findings, presented, path, trust)

    async def online() -> tuple[Judged, tuple[FetchRecord, ...]]:
        async with Fetcher(policy=FetchPolicy.for_files()) as fetcher:
            judged = await judge_chain(
                presented,
                trust,
                public,
                when,
                host_name,
                warn_days,
                fetcher if fetch else None,
                given,
                check_revocation,
            )
            return judged, tuple(fetcher.log)

    judged, log = asyncio.run(online())
    return build_report(
        target,
        checked_at,
        when,
        judged.findings,
        presented,
        judged.path,
        trust,
        revocation=judged.revocation,
        fetches=log,
    )


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
    revocation: RevocationStatus | None = None,
    fetches: tuple[FetchRecord, ...] = (),
    notes: tuple[str, ...] = (),
) -> Report:
    """The report of a diagnosis: findings, chain and path summaries, client verdicts."""
    anchor_kinds = path.anchor.kinds if path is not None and path.anchor is not None else None
    clients = client_verdicts(
        findings,
        client_catalogue(),
        target.host,
        anchor_kinds,
        custom_anchors=anchors.kinds == {CUSTOM},
        port=target.port,
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
        revocation=revocation,
        fetches=fetches,
        notes=notes,
    )


# One diagnosis per identical chain (and host, anchors, time window) in this process.
DIAGNOSES = DiagnosisCache()


def diagnose(
    presented: Sequence[CertFacts],
    anchors: TrustAnchors,
    public_roots: TrustAnchors,
    at: dt.datetime,
    host: HostName | None,
    warn_days: int | None,
    fetched: Sequence[CertFacts] = (),
) -> tuple[list[Finding], ChainPath]:
    """Every finding for ``presented`` (pure: all inputs are arguments), primary first.

    ``fetched`` are issuers found elsewhere (AIA): the path may use them, and each one it
    uses is reported as the intermediate the server should have sent. The same chain seen
    again for the same host, anchors and warning window, at a time no certificate's dates
    tell apart, is answered from :data:`DIAGNOSES`.
    """
    question = Question(presented, fetched, anchors, public_roots, host, warn_days)
    known = DIAGNOSES.get(question, at)
    if known is not None:
        return known
    findings, path = _diagnose(presented, anchors, public_roots, at, host, warn_days, fetched)
    DIAGNOSES.put(question, at, findings, path)
    return findings, path


def _diagnose(
    presented: Sequence[CertFacts],
    anchors: TrustAnchors,
    public_roots: TrustAnchors,
    at: dt.datetime,
    host: HostName | None,
    warn_days: int | None,
    fetched: Sequence[CertFacts],
) -> tuple[list[Finding], ChainPath]:
    leaf = choose_leaf(presented)
    candidates = [*presented, *fetched]
    # Signatures are the dearest part of a diagnosis. A path whose links are unambiguous
    # is built without checking them when the webpki verifier, which checks every
    # signature, then accepts the chain; otherwise it is built again, fully checked.
    judge = path_judge(at)
    path = build_path(leaf, candidates, anchors, check_unique_links=False, judge=judge)
    findings = _path_findings(presented, leaf, path, anchors, public_roots, at, host, warn_days)
    verifier_error: str | None = None
    verified = False
    # The verifier is asked only about paths it judges as clients do (models_path).
    if (
        models_path(path.certs)
        and path.trusted
        and not any(f.severity is Severity.ERROR for f in findings)
    ):
        publicly_trusted = public_roots.matching(path.last) is not None
        intermediates = [f for f in presented if f is not leaf]
        verifier_error = webpki_error(leaf, intermediates, anchors, at, host, publicly_trusted)
        verified = verifier_error is None
    if not path.signatures_checked and not verified:
        path = build_path(leaf, candidates, anchors, check_unique_links=True, judge=judge)
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
    if path.alternatives and not any(f.severity is Severity.ERROR for f in findings):
        findings.extend(
            _openssl_path_findings(presented, leaf, path, anchors, public_roots, at, host)
        )
    return _ordered(findings), path


def _openssl_path_findings(
    presented: Sequence[CertFacts],
    leaf: CertFacts,
    path: ChainPath,
    anchors: TrustAnchors,
    public_roots: TrustAnchors,
    at: dt.datetime,
    host: HostName | None,
) -> list[Finding]:
    """Where OpenSSL, which does not backtrack, takes another path than the best one and
    that path fails: its errors, marked as refused by OpenSSL-based clients only."""
    taken = openssl_path(leaf, presented, anchors, at)
    if [f.sha256 for f in taken.certs] == [f.sha256 for f in path.certs]:
        return []
    errors = [
        f
        for f in _path_findings(presented, leaf, taken, anchors, public_roots, at, host, None)
        if f.severity is Severity.ERROR
    ]
    via = " > ".join(f"'{facts.display_name}'" for facts in taken.certs[1:])
    return [
        dataclasses.replace(
            finding,
            message=(
                f"OpenSSL-based clients (curl, Python, Node) do not backtrack: they build "
                f"the path through {via or 'the leaf alone'} from the certificates in the "
                f"order sent, and on it: {finding.message} Go and browsers find the valid "
                "path."
            ),
            evidence={
                **finding.evidence,
                "refused_by": ["openssl"],
                "openssl_path": [facts.sha256 for facts in taken.certs],
            },
            fix=(
                "Send only the certificates of the valid path, leaf first, each followed "
                "by its issuer (`tlsdoctor fix chain` writes it).",
                *finding.fix,
            ),
        )
        for finding in errors
    ]


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
    sent = {facts.sha256 for facts in presented}
    unsent = fetched_intermediates_finding(path, sent, public_roots)
    if unsent is not None:
        findings.append(unsent)
    findings.extend(validity_findings(path.certs, at, warn_days))
    if host is not None:
        mismatch = hostname_finding(leaf, host)
        if mismatch is not None:
            findings.append(mismatch)
    findings.extend(strength_findings(path.certs))
    findings.extend(constraint_findings(path.certs, path.trusted))
    findings.extend(
        critical_extension_findings(
            path.certs, path.trusted, client_catalogue().critical_extensions_handled
        )
    )
    publicly_trusted = path.trusted and public_roots.matching(path.last) is not None
    too_long = validity_period_finding(leaf, publicly_trusted)
    if too_long is not None:
        findings.append(too_long)
    order = chain_order_finding(presented, path, at)
    if order is not None:
        findings.append(order)
    # Rules clients let pass matter on a chain they trust; on a failing one they would only
    # push its real cause down the report.
    if not any(f.severity is Severity.ERROR for f in findings):
        standards = standards_finding(
            path.certs, publicly_trusted, lambda facts: public_roots.matching(facts) is None
        )
        if standards is not None:
            findings.append(standards)
    return findings


@dataclass(frozen=True)
class Judged:
    """A diagnosis completed with the network's help (AIA, revocation)."""

    findings: list[Finding]
    path: ChainPath
    fetched: tuple[CertFacts, ...]
    revocation: RevocationStatus | None


async def judge_chain(
    presented: Sequence[CertFacts],
    anchors: TrustAnchors,
    public_roots: TrustAnchors,
    at: dt.datetime,
    host: HostName | None,
    warn_days: int | None,
    fetcher: Fetcher | None,
    given: RevocationInput,
    revocation: bool,
) -> Judged:
    """:func:`diagnose`, then what the network can add: the issuers a missing-intermediate
    chain names in AIA, and the leaf's revocation status (files first, else CRL, OCSP)."""
    findings, path = diagnose(presented, anchors, public_roots, at, host, warn_days)
    fetched: tuple[CertFacts, ...] = ()
    if fetcher is not None and path.end is PathEnd.MISSING_ISSUER and path.last.ca_issuer_urls:
        aia = await fetch_issuers(path.last, anchors, fetcher)
        if aia.certificates:
            fetched = tuple(aia.certificates)
            findings, path = diagnose(
                presented, anchors, public_roots, at, host, warn_days, fetched
            )
        if aia.problems:
            findings = [_with_aia_problems(f, aia.problems) for f in findings]
    status = None
    if revocation and (fetcher is not None or given.given):
        status, more = await revocation_of(path, at, fetcher, given)
        findings = _ordered([*findings, *more])
    return Judged(findings, path, fetched, status)


def _with_aia_problems(finding: Finding, problems: Sequence[str]) -> Finding:
    if finding.code is not FindingCode.MISSING_INTERMEDIATE:
        return finding
    evidence = dict(finding.evidence)
    evidence["aia_problems"] = list(problems)
    return dataclasses.replace(finding, evidence=evidence)


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
