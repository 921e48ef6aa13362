"""Diagnosis of a live endpoint: probe, then the same analysis as for files.

The one handshake of :func:`tlsdoctor.probe.endpoint.probe` answers most questions; the
extra handshakes (no SNI, a modern client, legacy versions) run only when they can add
information. Like :mod:`tlsdoctor.check`, this module reads the clock and picks defaults;
everything it judges with is a pure function.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import functools
import ssl
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cryptography import x509

from tlsdoctor.analysis.backends import (
    MAX_BACKENDS,
    backend_of,
    inconsistent_backends_finding,
    worst_backend,
)
from tlsdoctor.analysis.clients import client_verdicts
from tlsdoctor.analysis.constraints import invalid_chain
from tlsdoctor.analysis.facts import CertFacts
from tlsdoctor.analysis.handshake import (
    client_certificate_state,
    handshake_findings,
    probe_error_finding,
)
from tlsdoctor.analysis.names import parse_host
from tlsdoctor.analysis.path import ChainPath
from tlsdoctor.analysis.revocation import about_leaf
from tlsdoctor.anchors import CUSTOM, TrustAnchors, default_anchors, mozilla_anchors
from tlsdoctor.check import build_report, judge_chain, utc_now
from tlsdoctor.codes import FindingCode, priority
from tlsdoctor.errors import ProbeError
from tlsdoctor.fetch import Fetcher, FetchPolicy
from tlsdoctor.knowledge import client_catalogue
from tlsdoctor.models import (
    Finding,
    Report,
    RevocationStatus,
    Source,
    Target,
    TlsInfo,
)
from tlsdoctor.online import RevocationInput, revocation_of
from tlsdoctor.probe.endpoint import (
    Deadline,
    ProbeResult,
    is_ip,
    probe,
    probe_again,
    resolve,
)
from tlsdoctor.probe.staple import stapled_response
from tlsdoctor.probe.targets import Endpoint
from tlsdoctor.probe.tls import ClientProfile, Handshake
from tlsdoctor.serverclock import REVOCATION_CODES, judge_clock, server_clock_of

DEFAULT_TIMEOUT = 10.0
FETCH_TIMEOUT = 5.0  # for each AIA/CRL/OCSP download, within the check's own budget
_LEGACY_PROBES = (("TLSv1", ssl.TLSVersion.TLSv1), ("TLSv1.1", ssl.TLSVersion.TLSv1_1))


@dataclass(frozen=True)
class LiveOptions:
    """How to check endpoints; every field has the CLI's default."""

    anchors: TrustAnchors | None = None
    at: dt.datetime | None = None
    warn_days: int | None = None
    timeout: float = DEFAULT_TIMEOUT
    servername: str | None = None
    no_sni: bool = False
    probe_protocols: bool = False
    fetch: bool = True  # AIA issuers, CRLs and OCSP over the network
    revocation: bool = True
    one_address: bool = False  # check the first address that accepts, not every backend
    # The resolver's answer for these names (lower case), as a hosts file gives it.
    hosts: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True)
class _Check:
    """What the checks of every address behind one endpoint share."""

    endpoint: Endpoint
    options: LiveOptions
    anchors: TrustAnchors
    deadline: Deadline
    sni: str | None
    target: Target
    checked_at: dt.datetime


async def check_endpoint_async(endpoint: Endpoint, options: LiveOptions = LiveOptions()) -> Report:
    """Diagnose one endpoint; a failure to check becomes a report with verdict 'error'.

    A name with several addresses has each of them checked (at most
    :data:`MAX_BACKENDS`, concurrently) unless ``options.one_address``: the report is
    the worst backend's, with ``inconsistent_backends`` when they differ.
    """
    anchors = default_anchors() if options.anchors is None else options.anchors
    deadline = Deadline(options.timeout)
    sni = _sni(endpoint, options)
    target = Target(host=endpoint.host, port=endpoint.port, sni=sni, source=Source.NETWORK)
    check = _Check(endpoint, options, anchors, deadline, sni, target, utc_now())
    try:
        addresses = await resolve(endpoint, deadline, options.hosts)
    except ProbeError as error:
        return _could_not_check(target, check.checked_at, anchors, error)
    if options.one_address or len(addresses) == 1:
        return await _check_on(check, addresses, addresses)
    checked = addresses[:MAX_BACKENDS]
    reports = await asyncio.gather(*(_check_on(check, addresses, (a,)) for a in checked))
    notes: tuple[str, ...] = ()
    if len(addresses) > len(checked):
        notes = (
            f"The name resolves to {len(addresses)} addresses; the first {len(checked)} "
            "were checked.",
        )
    return _worst_of(checked, reports, notes)


def _worst_of(
    addresses: Sequence[str], reports: Sequence[Report], notes: tuple[str, ...]
) -> Report:
    """The report of the worst backend, which speaks for the name, with every backend
    listed and ``inconsistent_backends`` when they differ."""
    backends = tuple(backend_of(a, r) for a, r in zip(addresses, reports, strict=True))
    worst = worst_backend(backends)
    report = reports[worst]
    findings = list(report.findings)
    differ = inconsistent_backends_finding(backends, backends[worst].address)
    if differ is not None:
        findings.append(differ)
        findings.sort(key=lambda finding: priority(finding.code))
    return dataclasses.replace(
        report, findings=tuple(findings), backends=backends, notes=report.notes + notes
    )


async def _check_on(check: _Check, addresses: tuple[str, ...], dial: tuple[str, ...]) -> Report:
    """The check made through the first of ``dial`` that accepts (``addresses``: all the
    name resolved to)."""
    endpoint, options, anchors, deadline = (
        check.endpoint,
        check.options,
        check.anchors,
        check.deadline,
    )
    sni, target, checked_at = check.sni, check.target, check.checked_at
    try:
        result = await probe(endpoint, sni, deadline, dial)
    except ProbeError as error:
        tls = TlsInfo(None, None, dial[0], addresses) if len(dial) == 1 else None
        return _could_not_check(target, checked_at, anchors, error, tls)
    result = dataclasses.replace(result, addresses=addresses)
    handshake = result.handshake
    modern = await _modern_if_needed(result, deadline, sni)
    legacy = await _legacy_versions(result, deadline, sni) if options.probe_protocols else []
    findings = handshake_findings(handshake, modern, legacy, sni)
    presented, unreadable = _parse_presented(handshake.chain)
    findings.extend(unreadable)
    if handshake.completed and not handshake.chain and not findings:
        # An anonymous suite, or a server that sent no Certificate: nothing to trust.
        findings.append(
            invalid_chain(
                "no_certificate",
                f"The handshake completed ({handshake.cipher}) but the server sent no "
                "certificate: no client that authenticates the server can trust it.",
                None,
                (),
                ("Configure the server with its certificate and a cipher suite that uses it.",),
                cipher=handshake.cipher,
            )
        )
    local_now = checked_at if options.at is None else options.at
    server_clock, notes = server_clock_of(handshake, checked_at, endpoint)
    path: ChainPath | None = None
    revocation: RevocationStatus | None = None
    fetcher = (
        Fetcher(FETCH_TIMEOUT, until=deadline.end, policy=FetchPolicy.near(result.address))
        if options.fetch
        else None
    )
    try:
        if presented:
            host_name = parse_host(endpoint.host)
            judged = await judge_chain(
                presented,
                anchors,
                mozilla_anchors(),
                local_now,
                host_name,
                options.warn_days,
                fetcher,
                RevocationInput(),
                options.revocation,
            )
            chain_findings, path, revocation = judged.findings, judged.path, judged.revocation
            if options.revocation and _staple_may_help(endpoint, path, revocation):
                chain_findings, revocation = await _with_staple(
                    chain_findings, path, revocation, result, sni, local_now, deadline
                )
            if server_clock is not None and options.at is None:
                chain_findings, path, local_now, clock_notes = judge_clock(
                    chain_findings,
                    path,
                    presented,
                    judged.fetched,
                    anchors,
                    server_clock,
                    local_now,
                    host_name,
                    options.warn_days,
                )
                notes += clock_notes
            chain_findings = await _explain_default_certificate(
                chain_findings, result, deadline, sni, presented[0]
            )
            findings.extend(chain_findings)
    finally:
        if fetcher is not None:
            await fetcher.aclose()
    server_header = handshake.http.server if handshake.http is not None else None
    findings = [_for_server(finding, server_header, endpoint.host) for finding in findings]
    findings.sort(key=lambda finding: priority(finding.code))
    tls = TlsInfo(
        version=handshake.version,
        cipher=handshake.cipher,
        address=result.address,
        addresses=result.addresses,
        alpn=handshake.alpn,
        starttls=endpoint.starttls.value if endpoint.starttls else None,
        client_certificate=client_certificate_state(handshake),
        seconds=result.seconds,
        server=server_header,
    )
    report = build_report(
        target,
        checked_at,
        local_now,
        findings,
        presented,
        path,
        anchors,
        tls=tls,
        server_clock=server_clock,
        revocation=revocation,
        fetches=tuple(fetcher.log) if fetcher is not None else (),
        notes=notes,
    )
    if not handshake.completed:
        # The clients' catalogued messages are for certificate problems; what each prints
        # for this alert or broken record is not known, and is not made up.
        clients = tuple(dataclasses.replace(c, expected_error=None) for c in report.clients)
        report = dataclasses.replace(report, clients=clients)
    return report


_CHAIN_CODES = frozenset({FindingCode.MISSING_INTERMEDIATE, FindingCode.CHAIN_ORDER})


def _for_server(finding: Finding, server_header: str | None, host: str) -> Finding:
    """A chain finding's fix, in the words of the server software the Server header names."""
    if finding.code not in _CHAIN_CODES or not server_header:
        return finding
    from pathlib import Path

    from tlsdoctor.remedy.files import ChainFiles
    from tlsdoctor.remedy.servers import ServerSoftware, instructions_for_header

    folder = Path("/etc/ssl") / host
    files = ChainFiles(
        fullchain=folder / "fullchain.pem",
        chain=folder / "chain.pem",
        cert=folder / "cert.pem",
        key=folder / "privkey.pem",
    )
    steps = instructions_for_header(server_header, files, site=host)
    if steps.software is ServerSoftware.UNKNOWN:
        return finding
    fix = (
        f"`tlsdoctor fix chain {host} -o {folder}` writes the chain; then, for "
        f"{steps.title} (the server says '{server_header}'):\n{steps.config}\n"
        f"then: {steps.apply}",
        *finding.fix,
    )
    return dataclasses.replace(finding, fix=fix)


def _staple_may_help(
    endpoint: Endpoint, path: ChainPath, revocation: RevocationStatus | None
) -> bool:
    """Ask for the stapled OCSP response only when it can change the answer: nothing else
    decided, or the certificate demands stapling (OCSP must-staple)."""
    if endpoint.starttls is not None or len(path.certs) < 2:
        return False
    must_staple = path.leaf.extension(x509.TLSFeature) is not None
    undecided = revocation is None or revocation.state in ("unknown", "not_checked")
    # A server can only staple what an OCSP responder gave it.
    return must_staple or (undecided and bool(path.leaf.ocsp_urls))


async def _with_staple(
    findings: list[Finding],
    path: ChainPath,
    revocation: RevocationStatus | None,
    result: ProbeResult,
    sni: str | None,
    at: dt.datetime,
    deadline: Deadline,
) -> tuple[list[Finding], RevocationStatus | None]:
    staple = await stapled_response(
        result.address, result.endpoint.port, sni, min(FETCH_TIMEOUT, deadline.left())
    )
    if staple is None:
        return findings, revocation
    status, judged = await revocation_of(path, at, None, RevocationInput(stapled=staple))
    if status.state not in ("good", "revoked"):
        return findings, revocation
    kept = [f for f in findings if f.code not in REVOCATION_CODES or not about_leaf(f)]
    return [*kept, *judged], status


def _parse_presented(chain: tuple[bytes, ...]) -> tuple[list[CertFacts], list[Finding]]:
    """The certificates the server sent, and an invalid_chain finding for each that cannot
    be parsed (it is left out of the path)."""
    presented: list[CertFacts] = []
    findings: list[Finding] = []
    for position, der in enumerate(chain):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # odd serials and the like: still usable
                presented.append(CertFacts.of(x509.load_der_x509_certificate(der)))
        except ValueError as exc:
            findings.append(
                invalid_chain(
                    "unparseable_certificate",
                    f"Certificate {position + 1} the server sends cannot be parsed ({exc}); "
                    "clients reject the handshake.",
                    None,
                    (),
                    ("Replace the certificate file on the server with the one the CA issued.",),
                    position=position,
                    der_bytes=len(der),
                )
            )
    return presented, findings


def check_endpoint(endpoint: Endpoint, options: LiveOptions = LiveOptions()) -> Report:
    """:func:`check_endpoint_async` for callers without an event loop."""
    return asyncio.run(check_endpoint_async(endpoint, options))


def _sni(endpoint: Endpoint, options: LiveOptions) -> str | None:
    if options.no_sni:
        return None
    name = options.servername or endpoint.host
    return None if is_ip(name) else name  # RFC 6066: no IP literals in SNI


async def _modern_if_needed(
    result: ProbeResult, deadline: Deadline, sni: str | None
) -> Handshake | None:
    """A handshake as a current client, when the wide one chose a cipher they lack."""
    handshake = result.handshake
    if not handshake.completed or handshake.version not in ("TLSv1.2", "TLSv1.3"):
        return None
    if handshake.cipher is None or handshake.cipher in _modern_ciphers():
        return None
    return await probe_again(result, deadline, sni=sni, profile=ClientProfile.MODERN)


@functools.cache
def _modern_ciphers() -> frozenset[str]:
    """The cipher suites a current client offers (OpenSSL's defaults, no legacy)."""
    return frozenset(
        cipher["name"] for cipher in ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).get_ciphers()
    )


async def _legacy_versions(result: ProbeResult, deadline: Deadline, sni: str | None) -> list[str]:
    """The legacy versions a modern server still accepts (only with --protocols)."""
    if result.handshake.version not in ("TLSv1.2", "TLSv1.3"):
        return []
    accepted = []
    for name, version in _LEGACY_PROBES:
        answer = await probe_again(result, deadline, sni=sni, maximum=version, minimum=version)
        if answer is not None and answer.completed:
            accepted.append(name)
    return accepted


async def _explain_default_certificate(
    findings: list[Finding],
    result: ProbeResult,
    deadline: Deadline,
    sni: str | None,
    leaf: CertFacts,
) -> list[Finding]:
    """On a name mismatch, compare with the certificate served without SNI: the same one
    means the server has no site for this name and returns its default."""
    mismatch = next((f for f in findings if f.code is FindingCode.HOSTNAME_MISMATCH), None)
    if mismatch is None or sni is None:
        return findings
    other = await probe_again(result, deadline, sni=None)
    if other is None or not other.chain:
        return findings
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            default_leaf = CertFacts.of(x509.load_der_x509_certificate(other.chain[0]))
    except ValueError:
        return findings  # a default certificate that cannot be read explains nothing
    same = default_leaf.sha256 == leaf.sha256
    evidence = dict(mismatch.evidence)
    evidence["default_certificate"] = same
    evidence["no_sni_certificate"] = default_leaf.subject_text
    message = mismatch.message
    fix = mismatch.fix
    if same:
        message += (
            f" The server returns the same certificate without SNI: it has no site for "
            f"'{sni}' and answers with its default certificate."
        )
        fix = (
            f"Configure a virtual host for {sni} with its own certificate (nginx: a server "
            f"block with `server_name {sni};`), or add {sni} to the default certificate.",
            *fix,
        )
    updated = dataclasses.replace(mismatch, message=message, evidence=evidence, fix=fix)
    return [updated if f is mismatch else f for f in findings]


def _could_not_check(
    target: Target,
    checked_at: dt.datetime,
    anchors: TrustAnchors,
    error: ProbeError,
    tls: TlsInfo | None = None,
) -> Report:
    finding = probe_error_finding(error)
    clients = client_verdicts(
        [finding], client_catalogue(), target.host, None, custom_anchors=anchors.kinds == {CUSTOM}
    )
    return Report(
        target=target,
        checked_at=checked_at,
        evaluated_at=checked_at,
        findings=(finding,),
        chain=(),
        path=(),
        trust_anchors=anchors.sources,
        clients=clients,
        tls=tls,
    )
