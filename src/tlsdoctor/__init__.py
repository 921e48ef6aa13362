"""tlsdoctor: why is this TLS connection not trusted, and what exactly fixes it?

The supported API::

    import tlsdoctor
    certs = tlsdoctor.load_certificates("fullchain.pem")
    report = tlsdoctor.check_chain(certs, "www.example.com")
    report.verdict, report.codes, report.exit_code

Everything not listed in ``__all__`` is internal and may change. Names are imported on
first use, so ``import tlsdoctor`` (and ``tlsdoctor --help``) stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tlsdoctor.anchors import TrustAnchors, anchors_from_files, default_anchors
    from tlsdoctor.check import check_chain
    from tlsdoctor.codes import FindingCode, Severity, Verdict
    from tlsdoctor.describe import CertificateDetails, describe_certificate
    from tlsdoctor.errors import CertificateParseError, InputError, ProbeError, TlsDoctorError
    from tlsdoctor.models import (
        CertSummary,
        ClientVerdict,
        Finding,
        Report,
        Source,
        Target,
        TrustAnchorSource,
    )
    from tlsdoctor.pem import PasswordRequired, load_certificates, parse_certificates
    from tlsdoctor.render.json_report import report_to_dict

_EXPORTS = {
    "CertSummary": "tlsdoctor.models",
    "CertificateDetails": "tlsdoctor.describe",
    "CertificateParseError": "tlsdoctor.errors",
    "ClientVerdict": "tlsdoctor.models",
    "Finding": "tlsdoctor.models",
    "FindingCode": "tlsdoctor.codes",
    "InputError": "tlsdoctor.errors",
    "PasswordRequired": "tlsdoctor.pem",
    "ProbeError": "tlsdoctor.errors",
    "Report": "tlsdoctor.models",
    "Severity": "tlsdoctor.codes",
    "Source": "tlsdoctor.models",
    "Target": "tlsdoctor.models",
    "TlsDoctorError": "tlsdoctor.errors",
    "TrustAnchorSource": "tlsdoctor.models",
    "TrustAnchors": "tlsdoctor.anchors",
    "Verdict": "tlsdoctor.codes",
    "anchors_from_files": "tlsdoctor.anchors",
    "check_chain": "tlsdoctor.check",
    "default_anchors": "tlsdoctor.anchors",
    "describe_certificate": "tlsdoctor.describe",
    "load_certificates": "tlsdoctor.pem",
    "parse_certificates": "tlsdoctor.pem",
    "report_to_dict": "tlsdoctor.render.json_report",
}
__all__ = [
    "CertSummary",
    "CertificateDetails",
    "CertificateParseError",
    "ClientVerdict",
    "Finding",
    "FindingCode",
    "InputError",
    "PasswordRequired",
    "ProbeError",
    "Report",
    "Severity",
    "Source",
    "Target",
    "TlsDoctorError",
    "TrustAnchorSource",
    "TrustAnchors",
    "Verdict",
    "anchors_from_files",
    "check_chain",
    "default_anchors",
    "describe_certificate",
    "load_certificates",
    "parse_certificates",
    "report_to_dict",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'tlsdoctor' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
