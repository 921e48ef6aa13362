"""Reports as the JSON of ``spec/findings.md``.

The committed schema is ``tlsdoctor/schema/report.schema.json``.
"""

from __future__ import annotations

import json as _json
from typing import Any

from tlsdoctor.models import (
    CertSummary,
    ClientVerdict,
    Finding,
    JsonValue,
    Report,
    ServerClock,
    TlsInfo,
    rfc3339,
)
from tlsdoctor.render.safe import json_visible


def cert_to_dict(cert: CertSummary) -> dict[str, JsonValue]:
    return {
        "subject": cert.subject,
        "issuer": cert.issuer,
        "not_before": rfc3339(cert.not_before),
        "not_after": rfc3339(cert.not_after),
        "sha256": cert.sha256,
        "serial": cert.serial,
        "san": list(cert.san),
        "key": cert.key,
        "signature": cert.signature,
        "role": cert.role,
        "presented": cert.presented,
    }


def finding_to_dict(finding: Finding) -> dict[str, JsonValue]:
    return {
        "code": finding.code.value,
        "severity": finding.severity.value,
        "message": finding.message,
        "evidence": dict(finding.evidence),
        "fix": list(finding.fix),
    }


def client_to_dict(client: ClientVerdict) -> dict[str, JsonValue]:
    return {
        "client": client.client,
        "trusted": client.trusted,
        "codes": [code.value for code in client.codes],
        "expected_error": client.expected_error,
        "store": client.store,
    }


def report_to_dict(report: Report) -> dict[str, Any]:
    """The report as the spec's JSON object (unknown values are null, never omitted)."""
    target = report.target
    return {
        "target": {
            "host": target.host,
            "port": target.port,
            "sni": target.sni,
            "source": target.source.value,
            "files": list(target.files),
        },
        "checked_at": rfc3339(report.checked_at),
        "evaluated_at": rfc3339(report.evaluated_at),
        "verdict": report.verdict.value,
        "exit_code": report.exit_code,
        "findings": [finding_to_dict(f) for f in report.findings],
        "chain": [cert_to_dict(c) for c in report.chain],
        "path": [cert_to_dict(c) for c in report.path],
        "trust_anchors": [
            {"name": s.name, "source": s.source, "count": s.count, "kind": s.kind}
            for s in report.trust_anchors
        ],
        "clients": [client_to_dict(c) for c in report.clients],
        "tls": None if report.tls is None else tls_to_dict(report.tls),
        "server_clock": None if report.server_clock is None else clock_to_dict(report.server_clock),
        "revocation": None
        if report.revocation is None
        else {
            "state": report.revocation.state,
            "source": report.revocation.source,
            "url": report.revocation.url,
            "detail": report.revocation.detail,
        },
        "fetches": [
            {
                "url": f.url,
                "purpose": f.purpose,
                "status": f.status,
                "bytes": f.bytes,
                "seconds": f.seconds,
                "cached": f.cached,
                "error": f.error,
            }
            for f in report.fetches
        ],
        "notes": list(report.notes),
        "backends": [
            {
                "address": b.address,
                "verdict": b.verdict.value,
                "codes": [code.value for code in b.codes],
                "leaf_sha256": b.leaf_sha256,
                "chain_sha256": list(b.chain_sha256),
                "not_after": None if b.not_after is None else rfc3339(b.not_after),
                "tls_version": b.tls_version,
            }
            for b in report.backends
        ],
    }


def tls_to_dict(tls: TlsInfo) -> dict[str, JsonValue]:
    return {
        "version": tls.version,
        "cipher": tls.cipher,
        "address": tls.address,
        "addresses": list(tls.addresses),
        "alpn": tls.alpn,
        "starttls": tls.starttls,
        "client_certificate": tls.client_certificate,
        "seconds": None if tls.seconds is None else round(tls.seconds, 4),
        "server": tls.server,
    }


def clock_to_dict(clock: ServerClock) -> dict[str, JsonValue]:
    return {
        "date": rfc3339(clock.date),
        "offset_seconds": round(clock.offset_seconds, 1),
        "source": clock.source,
    }


def dumps(data: Any, pretty: bool = False) -> str:
    """JSON text: one line (JSON Lines friendly) unless ``pretty``."""
    if pretty:
        return json_visible(_json.dumps(data, indent=2, ensure_ascii=False))
    return json_visible(_json.dumps(data, ensure_ascii=False, separators=(",", ":")))
