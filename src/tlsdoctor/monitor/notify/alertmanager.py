"""Prometheus Alertmanager: tlsdoctor alerts as Alertmanager alerts (API v2).

Alertmanager then does what SREs run it for: grouping, routing, silences, inhibition
and on-call paging. What it receives (``POST <url>/api/v2/alerts``, a list of
``postableAlert``: labels, annotations, startsAt, endsAt, generatorURL):

- labels ``alertname`` (one per kind: ``TLSEndpointBroken``, ``TLSCertificateExpiring``,
  ``TLSNewFinding``), ``target``, ``code`` (the finding code of tlsdoctor's spec),
  ``severity`` (critical, warning) and the notifier's own ``labels``;
- annotations ``summary`` (the alert's title), ``description`` (its body), ``fix`` (the
  fix lines, when the finding has some) and ``dashboard`` (a link to the target's page,
  also the ``generatorURL``) when ``dashboard_url`` is set.

Alertmanager identifies an alert by its labels, so a recovery is the broken alert's
labels again with ``endsAt`` set: it resolves it. A renewed certificate resolves the
target's expiry alerts. Alertmanager also needs an end for a firing alert (without one
it resolves it after its ``resolve_timeout``, 5 minutes by default, unless it is sent
again): an expiry alert ends when the certificate does, the others after the notifier's
``hold`` (7 days unless set) if tlsdoctor has not resolved them by then.

Info-level events (a renewal, a recovery) are never posted as alerts of their own:
they only resolve. :func:`alertmanager_payload` is pure; the sending is the webhooks'.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from tlsdoctor.codes import FindingCode
from tlsdoctor.models import rfc3339
from tlsdoctor.monitor.notify.config import AlertmanagerConfig
from tlsdoctor.monitor.notify.webhook import post_json
from tlsdoctor.watch_model import Alert, AlertKind, AlertSeverity

log = logging.getLogger(__name__)

API_PATH = "/api/v2/alerts"
ALERTNAMES: Mapping[AlertKind, str] = {
    AlertKind.BROKEN: "TLSEndpointBroken",
    AlertKind.EXPIRY: "TLSCertificateExpiring",
    AlertKind.NEW_FINDING: "TLSNewFinding",
}
TEST_ALERTNAME = "TLSDoctorTest"
TEST_HOLD = dt.timedelta(minutes=5)
_ANNOTATION_LIMIT = 4000  # bytes Alertmanager keeps are unbounded; receivers' are not


def _fix(body: str) -> str:
    """The lines after "Fix:" in an alert's body (the rules put the finding's fix there)."""
    lines = body.splitlines()
    if "Fix:" not in lines:
        return ""
    return "\n".join(line.strip() for line in lines[lines.index("Fix:") + 1 :] if line.strip())


def _labels(
    config: AlertmanagerConfig, alertname: str, alert: Alert, code: str, severity: str
) -> dict[str, str]:
    return {
        **dict(config.labels),
        "alertname": alertname,
        "target": alert.target,
        "code": code,
        "severity": severity,
    }


def _link(config: AlertmanagerConfig, target: str) -> str | None:
    if config.dashboard_url is None:
        return None
    return f"{config.dashboard_url}/target/{quote(target, safe='')}"


def _firing(
    config: AlertmanagerConfig, alert: Alert, alertname: str, code: str, ends: dt.datetime
) -> dict[str, Any]:
    annotations = {"summary": alert.title, "description": alert.body[:_ANNOTATION_LIMIT]}
    fix = _fix(alert.body)
    if fix:
        annotations["fix"] = fix[:_ANNOTATION_LIMIT]
    link = _link(config, alert.target)
    posted: dict[str, Any] = {
        "labels": _labels(config, alertname, alert, code, alert.severity.value),
        "annotations": annotations,
        "startsAt": rfc3339(_started(alert)),
        "endsAt": rfc3339(max(ends, alert.raised_at + dt.timedelta(minutes=1))),
    }
    if link is not None:
        annotations["dashboard"] = link
        posted["generatorURL"] = link
    return posted


def _started(alert: Alert) -> dt.datetime:
    """When the trouble began: a confirmed outage's first failed check (``since``)."""
    since = alert.facts.get("since")
    if isinstance(since, str):
        try:
            return min(dt.datetime.fromisoformat(since), alert.raised_at)
        except ValueError:
            pass
    return alert.raised_at


def _resolved(
    config: AlertmanagerConfig, alert: Alert, alertname: str, code: str, severity: str
) -> dict[str, Any]:
    # Same labels, an end: Alertmanager resolves the alert with that fingerprint (and
    # keeps its earlier startsAt). A resolution of an alert it never had is harmless.
    moment = rfc3339(alert.raised_at)
    return {
        "labels": _labels(config, alertname, alert, code, severity),
        "annotations": {"summary": alert.title},
        "startsAt": moment,
        "endsAt": moment,
    }


def _expiry_end(alert: Alert) -> dt.datetime | None:
    expires = alert.facts.get("expires_at")
    if not isinstance(expires, str):
        return None
    try:
        return dt.datetime.fromisoformat(expires)
    except ValueError:
        return None


def alertmanager_payload(alert: Alert, config: AlertmanagerConfig) -> list[dict[str, Any]]:
    """The postableAlerts for ``alert`` (an empty list: nothing to tell Alertmanager)."""
    code = str(alert.facts.get("code") or "")
    if alert.facts.get("test"):
        return [_firing(config, alert, TEST_ALERTNAME, "test", alert.raised_at + TEST_HOLD)]
    if alert.kind is AlertKind.RECOVERED:
        broken = ALERTNAMES[AlertKind.BROKEN]
        return [_resolved(config, alert, broken, code, AlertSeverity.CRITICAL.value)]
    if alert.kind is AlertKind.CERTIFICATE_CHANGED:
        expiring = ALERTNAMES[AlertKind.EXPIRY]
        code = FindingCode.EXPIRING_SOON.value
        return [
            _resolved(config, alert, expiring, code, severity.value)
            for severity in (AlertSeverity.WARNING, AlertSeverity.CRITICAL)
        ]
    if alert.kind is AlertKind.EXPIRY:
        ends = _expiry_end(alert) or alert.raised_at + config.hold
        code = FindingCode.EXPIRING_SOON.value
        return [_firing(config, alert, ALERTNAMES[alert.kind], code, ends)]
    return [_firing(config, alert, ALERTNAMES[alert.kind], code, alert.raised_at + config.hold)]


@dataclass(frozen=True)
class AlertmanagerNotifier:
    """Posts alerts to Alertmanager's v2 API."""

    config: AlertmanagerConfig

    @property
    def name(self) -> str:
        return self.config.name

    def send(self, alert: Alert) -> None:
        self.send_all([alert])

    def send_all(self, alerts: Sequence[Alert]) -> None:
        """Alerts raised together, in one POST: Alertmanager takes a list and groups."""
        payload = [
            posted for alert in alerts for posted in alertmanager_payload(alert, self.config)
        ]
        if not payload:
            return
        post_json(self.config.endpoint, API_PATH, payload, what="Alertmanager URL")
        log.debug("%s: posted %d alerts", self.config.name, len(payload))
