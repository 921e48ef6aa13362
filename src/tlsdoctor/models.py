"""The results of a diagnosis: frozen dataclasses that know nothing of JSON or terminals."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeAlias, Union

from tlsdoctor.codes import COULD_NOT_CHECK, FindingCode, Severity, Verdict, exit_code

# The values evidence may hold: what JSON can carry, so every renderer can show it.
# Union, not |: the alias is evaluated at run time, where 3.10 cannot | a string.
JsonValue: TypeAlias = Union[  # noqa: UP007
    str, int, float, bool, list["JsonValue"], dict[str, "JsonValue"], None
]
Evidence = Mapping[str, JsonValue]


def rfc3339(moment: dt.datetime) -> str:
    """UTC with a Z, as the spec writes times: 2026-11-27T10:00:00Z, and the fraction of a
    second when there is one (``--at 2026-11-27T10:00:00.25Z``): 2026-11-27T10:00:00.25Z."""
    utc = moment.astimezone(dt.timezone.utc)
    fraction = f".{utc.microsecond:06d}".rstrip("0") if utc.microsecond else ""
    return utc.strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z"


class Source(str, enum.Enum):
    """Where the certificates of a report came from."""

    NETWORK = "network"
    FILE = "file"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Target:
    """What was checked: an endpoint, or the host name a chain from files is meant for."""

    host: str | None
    port: int | None = None
    sni: str | None = None
    source: Source = Source.FILE
    files: tuple[str, ...] = ()


@dataclass(frozen=True)
class CertSummary:
    """One certificate as a report lists it."""

    subject: str
    issuer: str
    not_before: dt.datetime
    not_after: dt.datetime
    sha256: str
    serial: str
    san: tuple[str, ...]
    key: str
    signature: str
    role: str  # "leaf", "intermediate" or "root"
    presented: bool  # sent by the server / given in the files (False: taken from the trust store)

    def placed(self, role: str, presented: bool) -> CertSummary:
        """This certificate in another place of a chain (dataclasses.replace is slower)."""
        if role == self.role and presented == self.presented:
            return self
        return CertSummary(
            self.subject,
            self.issuer,
            self.not_before,
            self.not_after,
            self.sha256,
            self.serial,
            self.san,
            self.key,
            self.signature,
            role,
            presented,
        )


@dataclass(frozen=True)
class Finding:
    """One reason the chain fails or is fragile, with the evidence and the fix."""

    code: FindingCode
    severity: Severity
    message: str
    evidence: Evidence = field(default_factory=dict)
    fix: tuple[str, ...] = ()


@dataclass(frozen=True)
class TrustAnchorSource:
    """One set of roots a verdict was judged against."""

    name: str
    source: str
    count: int
    kind: str  # "mozilla", "system" or "custom"


@dataclass(frozen=True)
class ClientVerdict:
    """Whether one client, with the same trust anchors, would complete the connection."""

    client: str
    trusted: bool
    codes: tuple[FindingCode, ...]
    expected_error: str | None
    store: str = "mozilla"  # the roots it reads: "mozilla", "system" or "custom"


@dataclass(frozen=True)
class TlsInfo:
    """What a live connection negotiated, and where it went."""

    version: str | None
    cipher: str | None
    address: str | None  # the address the handshake used
    addresses: tuple[str, ...] = ()  # every address the name resolved to
    alpn: str | None = None
    starttls: str | None = None
    client_certificate: str | None = None  # "requested", "required" or None
    seconds: float | None = None  # how long the probe took
    server: str | None = None  # the HTTP Server header, when one was seen


@dataclass(frozen=True)
class ServerClock:
    """The server's clock as its HTTP ``Date`` header gave it."""

    date: dt.datetime
    offset_seconds: float  # local clock minus the server's
    source: str


@dataclass(frozen=True)
class FetchRecord:
    """One download made for the diagnosis (AIA, CRL, OCSP), as the report lists it."""

    url: str
    purpose: str  # "aia", "crl" or "ocsp"
    status: int | None
    bytes: int | None
    seconds: float
    cached: bool
    error: str | None


@dataclass(frozen=True)
class RevocationStatus:
    """What revocation checking concluded for the leaf."""

    state: str  # "good", "revoked", "unknown" or "not_checked"
    source: str | None  # "crl", "ocsp", "crl-file", "ocsp-file"
    url: str | None
    detail: str


@dataclass(frozen=True)
class Backend:
    """One address behind a name, as the check of that address saw it."""

    address: str
    verdict: Verdict
    codes: tuple[FindingCode, ...]
    leaf_sha256: str | None  # None: no certificate was seen
    chain_sha256: tuple[str, ...]  # the certificates as sent, in order
    not_after: dt.datetime | None  # the leaf's
    tls_version: str | None
    reachable: bool = True  # False: refused, or silent while connecting


@dataclass(frozen=True)
class Report:
    """Everything tlsdoctor concluded about one target."""

    target: Target
    checked_at: dt.datetime
    evaluated_at: dt.datetime
    findings: tuple[Finding, ...]
    chain: tuple[CertSummary, ...]
    path: tuple[CertSummary, ...]
    trust_anchors: tuple[TrustAnchorSource, ...]
    clients: tuple[ClientVerdict, ...]
    tls: TlsInfo | None = None
    server_clock: ServerClock | None = None
    revocation: RevocationStatus | None = None
    fetches: tuple[FetchRecord, ...] = ()
    # What the check saw but set aside, one sentence each (an absurd Date header, ...).
    notes: tuple[str, ...] = ()
    # With several addresses behind the name: what each of them served.
    backends: tuple[Backend, ...] = ()

    @property
    def verdict(self) -> Verdict:
        """``error`` if it could not be checked, ``untrusted`` on any error finding."""
        if any(f.code in COULD_NOT_CHECK for f in self.findings):
            return Verdict.ERROR
        if any(f.severity is Severity.ERROR for f in self.findings):
            return Verdict.UNTRUSTED
        return Verdict.TRUSTED

    @property
    def codes(self) -> tuple[FindingCode, ...]:
        """The finding codes, primary cause first."""
        return tuple(f.code for f in self.findings)

    @property
    def exit_code(self) -> int:
        """The spec's exit code for this report."""
        has_warnings = any(f.severity is Severity.WARNING for f in self.findings)
        return exit_code(self.verdict, has_warnings)
