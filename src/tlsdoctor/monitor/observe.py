"""A check's report, reduced to what the watch keeps and compares."""

from __future__ import annotations

from tlsdoctor.codes import Verdict
from tlsdoctor.models import Report
from tlsdoctor.render.json_report import report_to_dict
from tlsdoctor.watch_model import Observation


def observation_of(name: str, report: Report) -> Observation:
    """``name`` is the watched target's name, which the report's target may spell otherwise
    (a default port added, a URL reduced to its host)."""
    presented = [cert for cert in report.chain if cert.presented]
    leaf = presented[0] if presented else None
    error = None
    if report.verdict is Verdict.ERROR and report.findings:
        error = report.findings[0].message
    return Observation(
        target=name,
        checked_at=report.checked_at,
        verdict=report.verdict,
        exit_code=report.exit_code,
        codes=report.codes,
        leaf_sha256=None if leaf is None else leaf.sha256,
        leaf_subject=None if leaf is None else leaf.subject,
        leaf_not_before=None if leaf is None else leaf.not_before,
        leaf_not_after=None if leaf is None else leaf.not_after,
        expires_at=min((cert.not_after for cert in presented), default=None),
        seconds=None if report.tls is None else report.tls.seconds,
        error=error,
        report=report_to_dict(report),
    )
