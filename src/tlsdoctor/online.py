"""Evidence from the network beyond the handshake: AIA issuers, CRLs, OCSP.

Orchestration, like :mod:`tlsdoctor.live`: it downloads through one
:class:`tlsdoctor.fetch.Fetcher` and hands what it got to the pure judges of
:mod:`tlsdoctor.analysis.revocation` and the path builder.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from dataclasses import dataclass, field

from cryptography import x509

from tlsdoctor.analysis.facts import CertFacts, signed_by
from tlsdoctor.analysis.path import ChainPath
from tlsdoctor.analysis.revocation import (
    Evidence,
    State,
    judge_crl,
    judge_ocsp,
    ocsp_request,
    parse_crl,
    revocation_findings,
)
from tlsdoctor.anchors import TrustAnchors
from tlsdoctor.errors import CertificateParseError
from tlsdoctor.fetch import Fetcher
from tlsdoctor.models import Finding, RevocationStatus
from tlsdoctor.pem import parse_certificates

# Issuers followed through AIA before giving up: real chains have one or two.
MAX_AIA_CERTIFICATES = 4
MAX_URLS = 3  # per certificate and kind: a certificate listing dozens is hostile


@dataclass(frozen=True)
class RevocationInput:
    """Revocation evidence given as files (``--crl``, ``--ocsp-response``)."""

    crls: tuple[tuple[str, bytes], ...] = ()  # (file name, content)
    ocsp_responses: tuple[tuple[str, bytes], ...] = ()
    stapled: bytes | None = None  # the OCSP response the server stapled

    @property
    def given(self) -> bool:
        return bool(self.crls or self.ocsp_responses)


@dataclass
class AiaResult:
    """The issuers AIA led to, and what went wrong on the way."""

    certificates: list[CertFacts] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


async def fetch_issuers(start: CertFacts, anchors: TrustAnchors, fetcher: Fetcher) -> AiaResult:
    """Follow caIssuers URLs from ``start`` up to a certificate the store knows the
    issuer of (or a self-signed one); each download's signature is checked; loops and
    depth are bounded."""
    result = AiaResult()
    seen = {start.sha256}
    current = start
    while len(result.certificates) < MAX_AIA_CERTIFICATES:
        if current.is_self_signed or anchors.matching(current) is not None:
            break
        if any(
            signed_by(current, anchor.facts) for anchor in anchors.by_subject(current.issuer_key)
        ):
            break
        issuer = await _issuer_from_aia(current, fetcher, seen, result.problems)
        if issuer is None:
            break
        result.certificates.append(issuer)
        seen.add(issuer.sha256)
        current = issuer
    return result


async def download_certificates(
    url: str, fetcher: Fetcher, problems: list[str]
) -> list[x509.Certificate]:
    """The certificates at an AIA URL (DER, PEM or PKCS#7); what went wrong goes to
    ``problems``."""
    fetched = await fetcher.get(url, "aia")
    if fetched.content is None:
        problems.append(f"{url}: {fetched.error}")
        return []
    try:
        return parse_certificates(fetched.content, url)
    except CertificateParseError as exc:
        problems.append(f"{url}: {exc.reason}")
        return []


async def _issuer_from_aia(
    child: CertFacts, fetcher: Fetcher, seen: set[str], problems: list[str]
) -> CertFacts | None:
    urls = child.ca_issuer_urls[:MAX_URLS]
    # All at once (they share the check's deadline): one slow server does not hold up
    # the others. Problems are kept in URL order, whatever order the answers come in.
    notes: list[list[str]] = [[] for _ in urls]
    downloads = await asyncio.gather(
        *(download_certificates(url, fetcher, note) for url, note in zip(urls, notes, strict=True))
    )
    for note in notes:
        problems.extend(note)
    for url, certificates in zip(urls, downloads, strict=True):
        if not certificates:
            continue
        for certificate in certificates:
            facts = CertFacts.of(certificate)
            if facts.sha256 in seen:
                problems.append(f"{url}: leads back to a certificate already in the chain")
                continue
            if signed_by(child, facts):
                return facts
        problems.append(f"{url}: holds no certificate that signed '{child.display_name}'")
    return None


async def revocation_of(
    path: ChainPath, at: dt.datetime, fetcher: Fetcher | None, given: RevocationInput
) -> tuple[RevocationStatus, list[Finding]]:
    """Whether the leaf, or an intermediate, is revoked: files when given, else the CRL
    first, then OCSP. The status is the leaf's; findings may name intermediates too.

    The leaf and each intermediate are judged concurrently (at most
    ``MAX_CHECKED_INTERMEDIATES`` of them, each trying its URLs in turn), as hard-fail
    clients (Java with revocation checking, Windows strict mode) check the whole path.
    """
    leaf = path.certs[0]
    issuer = path.certs[1] if len(path.certs) > 1 else None
    if leaf.is_self_signed:
        return RevocationStatus("not_checked", None, None, "a self-signed certificate"), []
    if issuer is None:
        # The chain findings already say the issuer is missing; no CRL or OCSP answer can
        # be judged without its key.
        return RevocationStatus("not_checked", None, None, "the issuer is not available"), []
    intermediates = [
        (cert, path.certs[index + 1])
        for index, cert in enumerate(path.certs[1:-1], start=1)
        if not cert.is_self_signed
    ][:MAX_CHECKED_INTERMEDIATES]
    leaf_judged, *above = await asyncio.gather(
        _judge_leaf(leaf, issuer, at, fetcher, given),
        *(_judge_intermediate(cert, up, at, fetcher, given) for cert, up in intermediates),
    )
    if leaf_judged is None:
        return RevocationStatus("not_checked", None, None, "revocation was not checked"), []
    evidence, pointers = leaf_judged
    findings = revocation_findings(evidence, pointers, issuer_known=True)
    for (cert, _), judged in zip(intermediates, above, strict=True):
        if judged is not None:
            findings.extend(
                revocation_findings(*judged, issuer_known=True, intermediate=cert, path=path.certs)
            )
    decisive = next((e for e in evidence if e.state is not State.UNKNOWN), None)
    if decisive is not None:
        status = RevocationStatus(
            decisive.state.value, decisive.source, decisive.where, decisive.detail
        )
    elif not evidence and pointers == 0:
        status = RevocationStatus("not_checked", None, None, NO_POINTER)
    else:
        detail = findings[0].message if findings else "no source could answer"
        status = RevocationStatus("unknown", None, None, detail)
    return status, findings


# What the report's revocation section says of a certificate that names no CRL and no OCSP
# responder: nothing to check, and not a finding (docs/findings.md, revocation_unknown).
NO_POINTER = (
    "not checkable: no pointer (the certificate names no CRL distribution point and no OCSP "
    "responder)"
)
# Intermediates whose revocation is checked besides the leaf's: real paths have one or two.
MAX_CHECKED_INTERMEDIATES = 4

Judged = tuple[list[Evidence], int]  # the evidence, and how many pointers it came from


async def _judge_leaf(
    leaf: CertFacts,
    issuer: CertFacts,
    at: dt.datetime,
    fetcher: Fetcher | None,
    given: RevocationInput,
) -> Judged | None:
    evidence: list[Evidence] = []
    if given.stapled is not None:
        # What browsers see first: the server's own, fresh answer.
        evidence.append(
            judge_ocsp(
                leaf, issuer, given.stapled, at, "stapled", "the server's stapled response", None
            )
        )
    if not any(e.state is not State.UNKNOWN for e in evidence):
        if given.given:
            evidence.extend(_judge_files(leaf, issuer, at, given))
        elif fetcher is not None:
            evidence.extend(await _judge_online(leaf, issuer, at, fetcher))
        elif not evidence:
            return None
    pointers = (
        len(leaf.crl_urls) + len(leaf.ocsp_urls) + len(given.crls) + len(given.ocsp_responses)
    )
    return evidence, pointers


async def _judge_intermediate(
    cert: CertFacts,
    issuer: CertFacts,
    at: dt.datetime,
    fetcher: Fetcher | None,
    given: RevocationInput,
) -> Judged | None:
    """An intermediate: the CRL files its issuer signed, else its own pointers online."""
    if given.given:
        mine = [
            judge_crl(cert, issuer, data, at, "crl-file", name)
            for name, data in given.crls
            if _crl_issued_by(data, issuer)
        ]
        return (mine, len(mine)) if mine else None
    if fetcher is None:
        return None
    return await _judge_online(cert, issuer, at, fetcher), len(cert.crl_urls) + len(cert.ocsp_urls)


def _crl_issued_by(data: bytes, issuer: CertFacts) -> bool:
    try:
        return parse_crl(data).issuer == issuer.cert.subject
    except ValueError:
        return False


def _judge_files(
    leaf: CertFacts, issuer: CertFacts, at: dt.datetime, given: RevocationInput
) -> list[Evidence]:
    evidence = [judge_crl(leaf, issuer, data, at, "crl-file", name) for name, data in given.crls]
    evidence.extend(
        judge_ocsp(leaf, issuer, data, at, "ocsp-file", name, None)
        for name, data in given.ocsp_responses
    )
    return evidence


async def _judge_online(
    leaf: CertFacts, issuer: CertFacts, at: dt.datetime, fetcher: Fetcher
) -> list[Evidence]:
    evidence: list[Evidence] = []
    for url in leaf.crl_urls[:MAX_URLS]:
        fetched = await fetcher.get(url, "crl")
        if fetched.content is None:
            evidence.append(Evidence(State.UNKNOWN, "crl", url, f"not fetched: {fetched.error}"))
            continue
        judged = judge_crl(leaf, issuer, fetched.content, at, "crl", url)
        evidence.append(judged)
        if judged.state is not State.UNKNOWN:
            if judged.next_update is not None and not fetched.cached:
                fetcher.remember("crl", fetched, judged.next_update.timestamp())
            return evidence
    for url in leaf.ocsp_urls[:MAX_URLS]:
        nonce = os.urandom(16)
        fetched = await fetcher.post(
            url, "ocsp", ocsp_request(leaf, issuer, nonce), "application/ocsp-request"
        )
        if fetched.content is None:
            evidence.append(Evidence(State.UNKNOWN, "ocsp", url, f"not fetched: {fetched.error}"))
            continue
        judged = judge_ocsp(leaf, issuer, fetched.content, at, "ocsp", url, nonce)
        evidence.append(judged)
        if judged.state is not State.UNKNOWN:
            return evidence
    return evidence
