"""The one exception tree of tlsdoctor.

::

    TlsDoctorError                 anything tlsdoctor reports instead of a traceback (exit 3)
    ├── InputError                 a file or argument that cannot be used
    │   └── CertificateParseError  a file holds no readable certificate
    └── ProbeError(target)         a live endpoint could not be checked (network layer)

Foreign exceptions (``ValueError`` from cryptography, ``OSError`` from the file system)
are translated where they arise, with ``raise ... from exc``, so callers only ever catch
``TlsDoctorError``. Each message is one sentence a user can act on.
"""

from __future__ import annotations


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
    """A live endpoint could not be checked."""

    def __init__(self, target: str, message: str) -> None:
        super().__init__(f"{target}: {message}")
        self.target = target
