"""Which notifier hears of which alert, and one message per check and target.

Per ``[[notify]]`` table::

    min_severity = "warning"        # info < warning < critical; default info (everything)
    codes = ["unknown_issuer"]      # only alerts about these finding codes
    exclude_codes = ["revocation_unknown"]
    target_labels = ["prod"]        # only targets with at least one of these labels

A recovery is routed like the outage it ends (it carries that outage's code, and counts
as critical here), so whoever was paged hears that it is over. Info-level alerts (a
renewal) can go to a ``kind = "log"`` notifier only, with ``min_severity = "warning"``
on the others.

Alerts raised by one check of one target (a certificate swap: changed, and maybe an
expiry window, a recovery) reach each notifier as one message: :func:`bundle`.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from tlsdoctor.codes import FindingCode
from tlsdoctor.watch_model import Alert, AlertKind, AlertSeverity

SEVERITY_ORDER = (AlertSeverity.INFO, AlertSeverity.WARNING, AlertSeverity.CRITICAL)
_KIND_ORDER = (
    AlertKind.BROKEN,
    AlertKind.EXPIRY,
    AlertKind.NEW_FINDING,
    AlertKind.RECOVERED,
    AlertKind.CERTIFICATE_CHANGED,
)
ROUTE_KEYS = frozenset({"min_severity", "codes", "exclude_codes", "target_labels"})


def alert_code(alert: Alert) -> str | None:
    """The finding code an alert is about, if it is about one."""
    if alert.kind is AlertKind.EXPIRY:
        return FindingCode.EXPIRING_SOON.value
    code = alert.facts.get("code")
    return code if isinstance(code, str) and code else None


def _rank(severity: AlertSeverity) -> int:
    return SEVERITY_ORDER.index(severity)


@dataclass(frozen=True)
class Route:
    """One notifier's filter; the default lets everything through."""

    min_severity: AlertSeverity = AlertSeverity.INFO
    codes: frozenset[str] = frozenset()  # empty: any
    exclude_codes: frozenset[str] = frozenset()
    target_labels: frozenset[str] = frozenset()  # empty: any target

    def accepts(self, alert: Alert, labels: Collection[str]) -> bool:
        severity = AlertSeverity.CRITICAL if alert.kind is AlertKind.RECOVERED else alert.severity
        if _rank(severity) < _rank(self.min_severity):
            return False
        if self.target_labels and not self.target_labels & set(labels):
            return False
        code = alert_code(alert)
        if self.codes and code not in self.codes:
            return False
        return code not in self.exclude_codes


def bundle(alerts: Sequence[Alert]) -> Alert:
    """One alert that tells ``alerts`` (of one target, raised by one check) together:
    the most important one's title and facts, every body, the highest severity."""
    if len(alerts) == 1:
        return alerts[0]
    ordered = sorted(alerts, key=lambda a: (-_rank(a.severity), _KIND_ORDER.index(a.kind)))
    lead = ordered[0]
    others = ", ".join(a.kind.value.replace("_", " ") for a in ordered[1:])
    return Alert(
        target=lead.target,
        kind=lead.kind,
        severity=lead.severity,
        key="+".join(a.key for a in ordered),
        raised_at=lead.raised_at,
        title=f"{lead.title} (also: {others})",
        body="\n\n".join(f"{a.title}\n{a.body}" for a in ordered),
        facts=lead.facts,
    )
