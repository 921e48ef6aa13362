"""tlsdoctor: why is this TLS connection not trusted, and what exactly fixes it?

The supported API (everything the ``tlsdoctor`` command does; see :mod:`tlsdoctor.api`)::

    import tlsdoctor
    certs = tlsdoctor.load_certificates("fullchain.pem")
    report = tlsdoctor.check_chain(certs, "www.example.com")       # offline, a chain
    report = tlsdoctor.check_endpoint("www.example.com:443")        # live, one endpoint
    report.verdict, report.codes, report.exit_code
    tlsdoctor.report_to_dict(report)                                # the JSON report
    async for report in tlsdoctor.scan_endpoints(["a.example", "b.example:8443"]): ...
    tlsdoctor.explain_message("x509: certificate signed by unknown authority")
    tlsdoctor.apply_trust(tlsdoctor.plan_trust("corp-root.pem", stores=["system"]))

Everything not listed in ``__all__`` is internal and may change. Names are imported on
first use, so ``import tlsdoctor`` (and ``tlsdoctor --help``) stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tlsdoctor.anchors import TrustAnchors, anchors_from_files, default_anchors
    from tlsdoctor.api import (
        TrustPlan,
        apply_trust,
        check_endpoint,
        check_endpoint_async,
        check_options,
        endpoint,
        explain_message,
        explanation_exit_code,
        plan_trust,
        render_text,
        scan_endpoints,
        trust_exit_code,
        with_machine_stores,
    )
    from tlsdoctor.check import check_chain
    from tlsdoctor.codes import FindingCode, Severity, Verdict
    from tlsdoctor.describe import CertificateDetails, describe_certificate
    from tlsdoctor.errors import CertificateParseError, InputError, ProbeError, TlsDoctorError
    from tlsdoctor.explain import Explanation
    from tlsdoctor.live import LiveOptions
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
    from tlsdoctor.probe.targets import Endpoint
    from tlsdoctor.render.explanation import explanation_to_dict
    from tlsdoctor.render.json_report import report_to_dict
    from tlsdoctor.stores.changes import Outcome, Planned

_EXPORTS = {
    "CertSummary": "tlsdoctor.models",
    "CertificateDetails": "tlsdoctor.describe",
    "CertificateParseError": "tlsdoctor.errors",
    "ClientVerdict": "tlsdoctor.models",
    "Endpoint": "tlsdoctor.probe.targets",
    "Explanation": "tlsdoctor.explain",
    "Finding": "tlsdoctor.models",
    "FindingCode": "tlsdoctor.codes",
    "InputError": "tlsdoctor.errors",
    "LiveOptions": "tlsdoctor.live",
    "Outcome": "tlsdoctor.stores.changes",
    "PasswordRequired": "tlsdoctor.pem",
    "Planned": "tlsdoctor.stores.changes",
    "ProbeError": "tlsdoctor.errors",
    "Report": "tlsdoctor.models",
    "Severity": "tlsdoctor.codes",
    "Source": "tlsdoctor.models",
    "Target": "tlsdoctor.models",
    "TlsDoctorError": "tlsdoctor.errors",
    "TrustAnchorSource": "tlsdoctor.models",
    "TrustAnchors": "tlsdoctor.anchors",
    "TrustPlan": "tlsdoctor.api",
    "Verdict": "tlsdoctor.codes",
    "anchors_from_files": "tlsdoctor.anchors",
    "apply_trust": "tlsdoctor.api",
    "check_chain": "tlsdoctor.check",
    "check_endpoint": "tlsdoctor.api",
    "check_endpoint_async": "tlsdoctor.api",
    "check_options": "tlsdoctor.api",
    "default_anchors": "tlsdoctor.anchors",
    "describe_certificate": "tlsdoctor.describe",
    "endpoint": "tlsdoctor.api",
    "explain_message": "tlsdoctor.api",
    "explanation_exit_code": "tlsdoctor.api",
    "explanation_to_dict": "tlsdoctor.render.explanation",
    "load_certificates": "tlsdoctor.pem",
    "parse_certificates": "tlsdoctor.pem",
    "plan_trust": "tlsdoctor.api",
    "render_text": "tlsdoctor.api",
    "report_to_dict": "tlsdoctor.render.json_report",
    "scan_endpoints": "tlsdoctor.api",
    "trust_exit_code": "tlsdoctor.api",
    "with_machine_stores": "tlsdoctor.api",
}
__all__ = [
    "CertSummary",
    "CertificateDetails",
    "CertificateParseError",
    "ClientVerdict",
    "Endpoint",
    "Explanation",
    "Finding",
    "FindingCode",
    "InputError",
    "LiveOptions",
    "Outcome",
    "PasswordRequired",
    "Planned",
    "ProbeError",
    "Report",
    "Severity",
    "Source",
    "Target",
    "TlsDoctorError",
    "TrustAnchorSource",
    "TrustAnchors",
    "TrustPlan",
    "Verdict",
    "anchors_from_files",
    "apply_trust",
    "check_chain",
    "check_endpoint",
    "check_endpoint_async",
    "check_options",
    "default_anchors",
    "describe_certificate",
    "endpoint",
    "explain_message",
    "explanation_exit_code",
    "explanation_to_dict",
    "load_certificates",
    "parse_certificates",
    "plan_trust",
    "render_text",
    "report_to_dict",
    "scan_endpoints",
    "trust_exit_code",
    "with_machine_stores",
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
