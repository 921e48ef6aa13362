"""The one exception tree of tlsdoctor.

::

    TlsDoctorError                 anything tlsdoctor reports instead of a traceback (exit 3)
    ├── InputError                 a file or argument that cannot be used
    │   └── CertificateParseError  a file holds no readable certificate
    └── ProbeError(target)         a live endpoint could not be checked; ``code`` says why
        ├── DnsFailure             dns_failure
        ├── ConnectionRefused      connection_refused
        ├── ProbeTimeout           timeout
        ├── ConnectionReset        connection_reset
        └── NotTls                 not_tls (``protocol`` names what the port speaks)

Foreign exceptions (``ValueError`` from cryptography, ``OSError`` from the file system)
are translated where they arise, with ``raise ... from exc``, so callers only ever catch
``TlsDoctorError``. Each message is one sentence a user can act on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tlsdoctor.codes import FindingCode

if TYPE_CHECKING:
    from tlsdoctor.models import JsonValue


class TlsDoctorError(Exception):
    """Base of every error tlsdoctor reports; the CLI turns it into exit code 3."""


class InputError(TlsDoctorError):
    """An argument or input file cannot be used."""


class CertificateParseError(InputError):
    """A file that should hold certificates holds none that can be read."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


class ProbeError(TlsDoctorError):
    """A live endpoint could not be checked: the report carries ``code`` as its finding."""

    code: FindingCode = FindingCode.CONNECTION_RESET

    def __init__(self, target: str, message: str, **evidence: JsonValue) -> None:
        super().__init__(f"{target}: {message}")
        self.target = target
        self.message = message
        self.evidence: dict[str, JsonValue] = dict(evidence)


class DnsFailure(ProbeError):
    code = FindingCode.DNS_FAILURE


class ConnectionRefused(ProbeError):
    code = FindingCode.CONNECTION_REFUSED


class ProbeTimeout(ProbeError):
    code = FindingCode.TIMEOUT


class ConnectionReset(ProbeError):
    code = FindingCode.CONNECTION_RESET


class NotTls(ProbeError):
    code = FindingCode.NOT_TLS
