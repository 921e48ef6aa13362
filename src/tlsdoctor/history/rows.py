"""What the watch history stores and hands out: the records (state runs, deliveries,
alerts), how reports and codes are encoded in their columns, and the row converters
the other modules of the history share."""

from __future__ import annotations

import datetime as dt
import enum
import json
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Row

from tlsdoctor.codes import FindingCode, Verdict
from tlsdoctor.history import schema
from tlsdoctor.history.schema import alerts as t_alerts
from tlsdoctor.history.schema import runs as t_runs
from tlsdoctor.history.schema import targets as t_targets
from tlsdoctor.watch_model import Alert, AlertKind, AlertSeverity, Observation, WatchTarget

if TYPE_CHECKING:
    from typing import TypeAlias

    from typing_extensions import Unpack

    _Row: TypeAlias = Row[Unpack[tuple[Any, ...]]]

DEFAULT_LEASE = dt.timedelta(minutes=5)
# Bound on the names in one IN (...) list: SQLite's limit on bound parameters is 32766,
# and smaller statements keep PostgreSQL's plans simple.
_CHUNK = 500
_SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")
_PG_CONNECT_TIMEOUT = 10


class DeliveryStatus(str, enum.Enum):
    """Where one alert stands with one notifier."""

    PENDING = "pending"  # not tried yet (or its attempt is running: see next_attempt)
    FAILED = "failed"  # tried and failed; tried again at next_attempt
    DELIVERED = "delivered"
    GAVE_UP = "gave_up"  # the notifier stopped retrying

    def __str__(self) -> str:
        return self.value


_OPEN = (DeliveryStatus.PENDING.value, DeliveryStatus.FAILED.value)


@dataclass(frozen=True)
class StateRun:
    """Consecutive checks of one target that saw the same state, newest values kept.

    ``codes``, ``error`` and ``seconds`` are the newest check's; ``report`` is the first
    check's spec JSON (the evidence of the change), empty when not asked for.
    """

    id: int
    target: str
    first_seen: dt.datetime
    last_seen: dt.datetime
    seen_count: int
    verdict: Verdict
    exit_code: int
    codes: tuple[FindingCode, ...]
    leaf_sha256: str | None
    leaf_subject: str | None
    leaf_not_before: dt.datetime | None
    leaf_not_after: dt.datetime | None
    expires_at: dt.datetime | None
    error: str | None
    seconds: float | None
    seconds_min: float | None
    seconds_max: float | None
    seconds_mean: float | None
    report: Mapping[str, object] = field(default_factory=dict, compare=False)

    @property
    def state(self) -> tuple[Verdict, tuple[FindingCode, ...], str | None]:
        """The same triple as :attr:`Observation.state`."""
        return self.observation().state

    def observation(self) -> Observation:
        """The run's newest check, as the rest of the watch takes it."""
        return Observation(
            target=self.target,
            checked_at=self.last_seen,
            verdict=self.verdict,
            exit_code=self.exit_code,
            codes=self.codes,
            leaf_sha256=self.leaf_sha256,
            leaf_subject=self.leaf_subject,
            leaf_not_before=self.leaf_not_before,
            leaf_not_after=self.leaf_not_after,
            expires_at=self.expires_at,
            seconds=self.seconds,
            error=self.error,
            report=self.report,
        )


@dataclass(frozen=True)
class Delivery:
    """One alert to send through one notifier.

    ``attempts`` counts the attempts started before this one; a notifier backs off by it
    and gives up past its own maximum.
    """

    id: int
    notifier: str
    alert: Alert
    attempts: int
    status: DeliveryStatus = DeliveryStatus.PENDING
    next_attempt: dt.datetime | None = None
    last_error: str | None = None
    delivered_at: dt.datetime | None = None


@dataclass(frozen=True)
class AlertRecord:
    """An alert as stored: ``active`` while its key still blocks a repeat."""

    id: int
    alert: Alert
    active: bool
    deliveries: tuple[Delivery, ...]


@dataclass(frozen=True)
class Recorded:
    """What one ``record`` call stored: observations, and the alerts newly raised."""

    observations: int
    raised: tuple[Alert, ...] = ()


@dataclass(frozen=True)
class Pruned:
    runs: int
    alerts: int


# -- encoding ---------------------------------------------------------------------------


def _pack(report: Mapping[str, object]) -> bytes | None:
    if not report:
        return None
    # default=str: an odd value in a report must not cost the observation its record.
    text = json.dumps(report, separators=(",", ":"), default=str).encode()
    packer = zlib.compressobj(6, zdict=schema.REPORT_DICTIONARY_V1)
    return bytes([schema.REPORT_MARKER_V1]) + packer.compress(text) + packer.flush()


def _unpack(blob: bytes | None) -> dict[str, object]:
    if not blob:
        return {}
    if blob[0] != schema.REPORT_MARKER_V1:
        # Unreachable through migrate(): a new marker comes with a new schema version.
        raise ValueError(f"report stored in an unknown format ({blob[0]})")
    unpacker = zlib.decompressobj(zdict=schema.REPORT_DICTIONARY_V1)
    value = json.loads(unpacker.decompress(blob[1:]) + unpacker.flush())
    return value if isinstance(value, dict) else {}


def _codes_text(codes: Iterable[FindingCode]) -> str:
    return ",".join(str(code) for code in codes)


def _codes_of(text: str) -> tuple[FindingCode, ...]:
    known = FindingCode._value2member_map_
    # A code written by a newer tlsdoctor (codes are added, never renamed) is skipped
    # rather than making the whole history unreadable to this version.
    return tuple(FindingCode(part) for part in text.split(",") if part in known)


def _identity(
    verdict: str, codes: Iterable[str], leaf: str | None, expires: dt.datetime | None, exit: int
) -> tuple[object, ...]:
    # Observation.state, plus the chain's expiry and the exit code: a new intermediate
    # on the same leaf changes what breaks when, and that is a change worth keeping.
    # Backends that serve different certificates are one state (see Observation.state).
    found = tuple(sorted(set(codes)))
    if FindingCode.INCONSISTENT_BACKENDS.value in found:
        leaf, expires = None, None
    return (verdict, found, leaf, expires, exit)


def _observation_identity(obs: Observation) -> tuple[object, ...]:
    return _identity(
        obs.verdict.value,
        (str(c) for c in obs.codes),
        obs.leaf_sha256,
        obs.expires_at,
        obs.exit_code,
    )


def _target_of(row: _Row) -> WatchTarget:
    return WatchTarget(
        name=row.name,
        every=dt.timedelta(seconds=row.every_seconds),
        starttls=row.starttls,
        servername=row.servername,
        connect=row.connect,
        labels=tuple(json.loads(row.labels)),
        **_settings_of(row.settings),
    )


def _settings_text(target: WatchTarget) -> str:
    """The per-target settings as the ``settings`` column keeps them (JSON)."""
    settings: dict[str, Any] = {
        "ca_files": list(target.ca_files),
        "warn_days": target.warn_days,
        "ignore": list(target.ignore),
        "ignore_reason": target.ignore_reason,
        "mute_until": None if target.mute_until is None else target.mute_until.isoformat(),
    }
    return json.dumps({k: v for k, v in settings.items() if v not in (None, [])}, sort_keys=True)


def _settings_of(text: str | None) -> dict[str, Any]:
    data = json.loads(text or "{}")
    if not isinstance(data, dict):
        return {}
    settings: dict[str, Any] = {}
    if isinstance(data.get("ca_files"), list):
        settings["ca_files"] = tuple(str(path) for path in data["ca_files"])
    if isinstance(data.get("warn_days"), int):
        settings["warn_days"] = data["warn_days"]
    if isinstance(data.get("ignore"), list):
        settings["ignore"] = tuple(str(code) for code in data["ignore"])
    if isinstance(data.get("ignore_reason"), str):
        settings["ignore_reason"] = data["ignore_reason"]
    if isinstance(data.get("mute_until"), str):
        settings["mute_until"] = dt.datetime.fromisoformat(data["mute_until"])
    return settings


def _alert_of(row: _Row) -> Alert:
    return Alert(
        target=row.target_name,
        kind=AlertKind(row.kind),
        severity=AlertSeverity(row.severity),
        key=row.key,
        raised_at=row.raised_at,
        title=row.title,
        body=row.body,
        facts=json.loads(row.facts),
    )


def _every_seconds(target: WatchTarget) -> int:
    return max(1, round(target.every.total_seconds()))


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


_TARGET_COLUMNS = (
    t_targets.c.id,
    t_targets.c.name,
    t_targets.c.every_seconds,
    t_targets.c.starttls,
    t_targets.c.servername,
    t_targets.c.connect,
    t_targets.c.labels,
    t_targets.c.settings,
)
_RUN_COLUMNS = (
    t_runs.c.id.label("run_id"),
    t_runs.c.first_seen,
    t_runs.c.last_seen,
    t_runs.c.seen_count,
    t_runs.c.verdict,
    t_runs.c.exit_code,
    t_runs.c.codes,
    t_runs.c.leaf_sha256,
    t_runs.c.leaf_subject,
    t_runs.c.leaf_not_before,
    t_runs.c.leaf_not_after,
    t_runs.c.expires_at,
    t_runs.c.error,
    t_runs.c.seconds_last,
    t_runs.c.seconds_min,
    t_runs.c.seconds_max,
    t_runs.c.seconds_total,
    t_runs.c.timed_count,
)
# What record() reads of a target's current run: its identity and what a merge adds to.
_MERGE_COLUMNS = (
    t_runs.c.id.label("run_id"),
    t_runs.c.verdict,
    t_runs.c.exit_code,
    t_runs.c.codes,
    t_runs.c.leaf_sha256,
    t_runs.c.expires_at,
    t_runs.c.seen_count,
    t_runs.c.seconds_min,
    t_runs.c.seconds_max,
    t_runs.c.seconds_total,
    t_runs.c.timed_count,
)
_ALERT_COLUMNS = (
    t_alerts.c.id.label("alert_id"),
    t_targets.c.name.label("target_name"),
    t_alerts.c.kind,
    t_alerts.c.severity,
    t_alerts.c.key,
    t_alerts.c.active_key,
    t_alerts.c.raised_at,
    t_alerts.c.title,
    t_alerts.c.body,
    t_alerts.c.facts,
)


def _observation_of(row: _Row, name: str, report: bytes | None) -> Observation:
    return Observation(
        target=name,
        checked_at=row.last_seen,
        verdict=Verdict(row.verdict),
        exit_code=row.exit_code,
        codes=_codes_of(row.codes),
        leaf_sha256=row.leaf_sha256,
        leaf_subject=row.leaf_subject,
        leaf_not_before=row.leaf_not_before,
        leaf_not_after=row.leaf_not_after,
        expires_at=row.expires_at,
        seconds=row.seconds_last,
        error=row.error,
        report=_unpack(report),
    )


def _run_of(row: _Row, name: str, report: bytes | None) -> StateRun:
    return StateRun(
        id=row.run_id,
        target=name,
        first_seen=row.first_seen,
        last_seen=row.last_seen,
        seen_count=row.seen_count,
        verdict=Verdict(row.verdict),
        exit_code=row.exit_code,
        codes=_codes_of(row.codes),
        leaf_sha256=row.leaf_sha256,
        leaf_subject=row.leaf_subject,
        leaf_not_before=row.leaf_not_before,
        leaf_not_after=row.leaf_not_after,
        expires_at=row.expires_at,
        error=row.error,
        seconds=row.seconds_last,
        seconds_min=row.seconds_min,
        seconds_max=row.seconds_max,
        seconds_mean=row.seconds_total / row.timed_count if row.timed_count else None,
        report=_unpack(report),
    )
