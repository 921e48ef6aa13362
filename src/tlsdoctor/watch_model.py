"""What `watch` keeps and says: watched targets, what a check saw, and alerts.

These types are shared by the history database, the alert rules, the notifiers, the
calendar, the metrics and the dashboard, so each of those can be written and tested
without the others. They live outside ``monitor/`` so that ``history/``, which
``monitor/`` builds on, never imports back up into it.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from tlsdoctor.codes import FindingCode, Verdict

DEFAULT_EVERY = dt.timedelta(hours=6)
DAY = dt.timedelta(days=1)
_EVERY_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def days_left(moment: dt.datetime | None, now: dt.datetime) -> int | None:
    """Whole days from ``now`` until ``moment``, rounded toward zero: -30 once it passed
    30 days and some hours ago, as the findings ("expired 30 days ago") count. The one
    count of days of the list, the dashboard, the API and the alerts."""
    return None if moment is None else int((moment - now) / DAY)


def format_every(every: dt.timedelta) -> str:
    """An interval as the watch list writes it: ``1m``, ``6h``, ``1h30m``, ``1d``."""
    seconds = int(every.total_seconds())
    out = []
    for unit, size in _EVERY_UNITS:
        count, seconds = divmod(seconds, size)
        if count:
            out.append(f"{count}{unit}")
    return "".join(out) or "0s"


@dataclass(frozen=True)
class WatchTarget:
    """One endpoint under watch, as the user named it (``host``, ``host:port``, a URL)."""

    name: str
    every: dt.timedelta = DEFAULT_EVERY
    starttls: str | None = None  # a protocol name as `check --starttls` takes it
    servername: str | None = None  # SNI, when it differs from the host
    connect: str | None = None  # dial this address instead of resolving the host
    labels: tuple[str, ...] = ()
    ca_files: tuple[str, ...] = ()  # roots trusted for this target besides the public ones
    warn_days: int | None = None  # the first expiry alert this many days ahead
    ignore: tuple[str, ...] = ()  # finding codes that raise no alert here ...
    ignore_reason: str | None = None  # ... and why (shown on the dashboard)
    mute_until: dt.datetime | None = None  # alerts are kept but told to nobody until then

    def muted(self, now: dt.datetime) -> bool:
        return self.mute_until is not None and now < self.mute_until


@dataclass(frozen=True)
class Observation:
    """The part of one check's report that the watch keeps, compares and alerts on.

    ``leaf_*`` are None when no certificate was seen (the check could not connect).
    ``expires_at`` is the earliest notAfter of the chain the server presented, the date
    on which something in it breaks.
    """

    target: str
    checked_at: dt.datetime
    verdict: Verdict
    exit_code: int
    codes: tuple[FindingCode, ...]
    leaf_sha256: str | None
    leaf_subject: str | None
    leaf_not_before: dt.datetime | None
    leaf_not_after: dt.datetime | None
    expires_at: dt.datetime | None
    seconds: float | None  # how long the check took
    error: str | None = None  # the message of the primary finding when verdict is error
    report: Mapping[str, object] = field(default_factory=dict, compare=False)  # spec JSON

    @property
    def state(self) -> tuple[Verdict, tuple[FindingCode, ...], str | None]:
        """What must change for this observation to count as a change in history. Behind
        a load balancer whose backends serve different certificates
        (``inconsistent_backends``), which leaf a check saw is chance: the state is the
        set of findings, not the leaf, so it stays one state instead of flapping."""
        leaf = None if self.serves_several_leaves else self.leaf_sha256
        return (self.verdict, tuple(sorted(set(self.codes), key=str)), leaf)

    @property
    def serves_several_leaves(self) -> bool:
        return FindingCode.INCONSISTENT_BACKENDS in self.codes


class AlertKind(str, enum.Enum):
    """Why the watch speaks up."""

    EXPIRY = "expiry"  # a certificate entered an expiry window
    BROKEN = "broken"  # the verdict went from trusted to untrusted or error
    RECOVERED = "recovered"  # back to trusted
    CERTIFICATE_CHANGED = "certificate_changed"  # a new leaf: renewal or replacement
    NEW_FINDING = "new_finding"  # a finding code that was not there before

    def __str__(self) -> str:
        return self.value


class AlertSeverity(str, enum.Enum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Alert:
    """One thing to tell people, once.

    ``key`` names the state the alert is about (for example
    ``expiry:<leaf sha256>:7d``): an alert whose key was already raised for the target is
    never raised again, across restarts too, which is what keeps the watch from storming.
    """

    target: str
    kind: AlertKind
    severity: AlertSeverity
    key: str
    raised_at: dt.datetime
    title: str  # one line, for a subject or a chat message
    body: str  # a few plain lines: what changed, the evidence, the fix
    facts: Mapping[str, str | int | float | None] = field(default_factory=dict)
