"""``fix chain``'s orchestration: get the served chain (endpoint or files), download the
issuers AIA names until a trust anchor is reached, and plan the chain to serve."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from cryptography import x509

from tlsdoctor.anchors import TrustAnchors, mozilla_anchors
from tlsdoctor.errors import CertificateParseError, InputError, ProbeError
from tlsdoctor.fetch import Fetcher, FetchPolicy
from tlsdoctor.models import FetchRecord
from tlsdoctor.online import MAX_URLS, download_certificates
from tlsdoctor.probe.endpoint import Deadline, is_ip, probe
from tlsdoctor.probe.targets import Endpoint
from tlsdoctor.remedy.chain import ChainPlan, plan_chain

# AIA rounds: each may add one issuer; real chains need one or two.
MAX_ROUNDS = 4


@dataclass(frozen=True)
class Repair:
    """The plan, and what it was made from."""

    plan: ChainPlan
    served: tuple[x509.Certificate, ...]
    server_header: str | None  # the HTTP Server header, when an endpoint was asked
    fetches: tuple[FetchRecord, ...]
    problems: tuple[str, ...]  # downloads that gave nothing usable


async def served_chain(
    endpoint: Endpoint, timeout: float
) -> tuple[tuple[x509.Certificate, ...], str | None, str]:
    """The chain an endpoint sends, its Server header and the address it answered on.
    A certificate that cannot be parsed is left out (the planned chain replaces what is
    sent); an unreadable leaf leaves nothing to plan for."""
    sni = None if is_ip(endpoint.host) else endpoint.host
    result = await probe(endpoint, sni, Deadline(timeout))
    handshake = result.handshake
    if not handshake.completed or not handshake.chain:
        raise ProbeError(
            str(endpoint), f"the TLS handshake failed ({handshake.error}): there is no chain to fix"
        )
    try:
        leaf = x509.load_der_x509_certificate(handshake.chain[0])
    except ValueError as exc:
        raise ProbeError(
            str(endpoint), "the certificate the server sends cannot be parsed"
        ) from exc
    certificates = (leaf, *_readable(handshake.chain[1:]))
    header = handshake.http.server if handshake.http else None
    return certificates, header, result.address


def _readable(chain: Sequence[bytes]) -> Iterator[x509.Certificate]:
    for der in chain:
        try:
            yield x509.load_der_x509_certificate(der)
        except ValueError:
            continue


async def repair_chain(
    served: Sequence[x509.Certificate],
    anchors: TrustAnchors,
    *,
    at: dt.datetime,
    host: str | None,
    include_root: bool,
    fetch: bool,
    extra: Sequence[x509.Certificate] = (),
    server_header: str | None = None,
    policy: FetchPolicy | None = None,
) -> Repair:
    """Plan the chain; while the path stops at a missing issuer with AIA URLs, download
    them (when ``fetch``) and plan again."""
    candidates = list(extra)
    sources: dict[x509.Certificate, str] = dict.fromkeys(extra, "the files given")
    problems: list[str] = []
    public = mozilla_anchors()

    def replan() -> ChainPlan:
        return plan_chain(
            served,
            candidates,
            anchors,
            at=at,
            host=host,
            include_root=include_root,
            public_roots=public,
            sources=sources,
        )

    async with Fetcher(policy=policy or FetchPolicy.for_files()) as fetcher:
        plan = replan()
        for _ in range(MAX_ROUNDS):
            if not fetch or not plan.issuer_urls:
                break
            found = await _download(plan.issuer_urls, fetcher, candidates, problems)
            if not found:
                break
            for cert, url in found:
                candidates.append(cert)
                sources[cert] = url
            plan = replan()
        log = tuple(fetcher.log)
    return Repair(plan, tuple(served), server_header, log, tuple(problems))


async def _download(
    urls: Sequence[str],
    fetcher: Fetcher,
    known: Sequence[x509.Certificate],
    problems: list[str],
) -> list[tuple[x509.Certificate, str]]:
    found: list[tuple[x509.Certificate, str]] = []
    for url in urls[:MAX_URLS]:
        certificates = await download_certificates(url, fetcher, problems)
        found.extend((cert, url) for cert in certificates if cert not in known)
    return found


def read_extra(paths: Sequence[str]) -> list[x509.Certificate]:
    """Intermediates the user already has (``--with FILE``)."""
    from tlsdoctor.pem import load_certificates

    certificates: list[x509.Certificate] = []
    for path in paths:
        try:
            certificates.extend(load_certificates(path))
        except CertificateParseError as exc:
            raise InputError(str(exc)) from exc
    return certificates
