"""The watch history: targets, what each check saw, and the alert outbox, in one database.

Everything that changes state happens in one transaction, so a process killed at any
point (``kill -9`` included) leaves either all of a step or none of it:

- ``claim_due`` leases targets; a sweep that dies leaves leases that simply expire, and
  the targets become due again, so nothing is skipped and no target overlaps itself.
- ``record`` stores an observation, releases the lease and sets ``next_due`` together;
  the due times live in the database, so a restarted watch resumes where it stopped.
- Alerts raised in the same :meth:`History.transaction` as the observation that caused
  them cannot be lost between the two, and UNIQUE (target, active key) makes raising
  one twice a no-op, across restarts too.
- Delivery is at least once: a notifier marks a delivery done right after sending; a
  crash between the send and that mark (a few milliseconds) sends it once more after its
  lease expires. Nothing else repeats a message.

Retention keeps every change and thins repeats: consecutive checks of a target that saw
the same state (verdict, codes, leaf, expiry of the chain, exit code) share one ``runs``
row that counts them and keeps their timings (last, min, max, mean). The full report is
kept for the newest check of each target and for the first check of every run, so each
change keeps its evidence. Measured by ``bench/bench_history.py``: a year of 6-hourly
checks of 10,000 endpoints (14.6 million checks, renewals every 60-90 days, outages,
flapping hosts) is 179,000 runs in a 164 MB SQLite file, 16 kB per endpoint and year.

SQLite runs in WAL mode with ``synchronous=NORMAL``: a committed transaction survives the
process being killed; only a power loss can undo the last few, never corrupt the file.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import os
import re
import sys
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import platformdirs
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Connection, Engine, Row

from tlsdoctor.codes import FindingCode, Verdict
from tlsdoctor.errors import InputError
from tlsdoctor.history import schema
from tlsdoctor.history.health import WatchHealth, record_sweep, watch_health
from tlsdoctor.history.schema import alerts as t_alerts
from tlsdoctor.history.schema import deliveries as t_deliveries
from tlsdoctor.history.schema import runs as t_runs
from tlsdoctor.history.schema import targets as t_targets
from tlsdoctor.watch_model import Alert, AlertKind, AlertSeverity, Observation, WatchTarget

if TYPE_CHECKING:
    from typing import TypeAlias

    from sqlalchemy.dialects import postgresql
    from typing_extensions import Unpack

    _Row: TypeAlias = Row[Unpack[tuple[Any, ...]]]

DEFAULT_LEASE = dt.timedelta(minutes=5)
# Bound on the names in one IN (...) list: SQLite's limit on bound parameters is 32766,
# and smaller statements keep PostgreSQL's plans simple.
_CHUNK = 500
_SQLITE_BUSY_SECONDS = 30.0
_SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")
_PG_CONNECT_TIMEOUT = 10


class HistoryError(InputError):
    """The history database cannot be opened or used; the message says which and why."""


def default_url() -> str:
    """Where ``watch`` keeps its history unless ``--db`` says otherwise.

    ``$TLSDOCTOR_DB`` (a URL) wins; else ``watch.db`` in tlsdoctor's data directory,
    where the local CA and the ACME accounts live too (``$TLSDOCTOR_HOME/.local/share/
    tlsdoctor`` in a sandbox, ``~/.local/share/tlsdoctor`` on Linux, the platform's
    place elsewhere).
    """
    url = os.environ.get("TLSDOCTOR_DB")
    if url:
        return url
    if os.environ.get("TLSDOCTOR_HOME") or sys.platform.startswith("linux"):
        from tlsdoctor.stores.system import tlsdoctor_data_dir

        folder = tlsdoctor_data_dir()
    else:
        folder = Path(platformdirs.user_data_dir("tlsdoctor", False))
    return f"sqlite:///{folder / 'watch.db'}"


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


# -- one transaction --------------------------------------------------------------------


class Transaction:
    """The writes that must commit together, on one connection inside one transaction.

    Got from :meth:`History.transaction`; the ``History`` methods of the same names
    each run one of these on their own.
    """

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def _target_id(self, name: str) -> int | None:
        found = self._conn.execute(
            sa.select(t_targets.c.id).where(t_targets.c.name == name)
        ).scalar()
        return None if found is None else int(found)

    def latest(self, name: str) -> Observation | None:
        """The newest observation of ``name``, report included; None before any check."""
        row = self._conn.execute(
            sa.select(t_targets.c.last_report, *_RUN_COLUMNS)
            .select_from(t_targets.join(t_runs, t_runs.c.id == t_targets.c.current_run))
            .where(t_targets.c.name == name)
        ).first()
        return None if row is None else _observation_of(row, name, row.last_report)

    def latest_many(self, names: Iterable[str]) -> dict[str, StateRun]:
        """The current state run of each of ``names`` that has one, without its report
        (what comparing a sweep's results with the previous ones needs, in one query per
        chunk instead of one per target)."""
        found: dict[str, StateRun] = {}
        for chunk in _chunks(sorted(set(names))):
            rows = self._conn.execute(
                sa.select(t_targets.c.name, *_RUN_COLUMNS)
                .select_from(t_targets.join(t_runs, t_runs.c.id == t_targets.c.current_run))
                .where(t_targets.c.name.in_(chunk))
            )
            for row in rows:
                found[row.name] = _run_of(row, row.name, None)
        return found

    def alert_keys_many(self, names: Iterable[str]) -> dict[str, set[str]]:
        """:meth:`alert_keys` of each of ``names`` (an empty set for none)."""
        keys: dict[str, set[str]] = {name: set() for name in names}
        for chunk in _chunks(sorted(keys)):
            rows = self._conn.execute(
                sa.select(t_targets.c.name, t_alerts.c.active_key)
                .select_from(t_alerts.join(t_targets))
                .where(t_targets.c.name.in_(chunk), t_alerts.c.active_key.is_not(None))
            )
            for name, key in rows:
                keys[name].add(key)
        return keys

    def record(self, observation: Observation, next_due: dt.datetime) -> bool:
        """Store one observation; False when its target is no longer watched."""
        return self.record_many([(observation, next_due)]) == 1

    def record_many(self, items: Iterable[tuple[Observation, dt.datetime]]) -> int:
        """Store observations, release their leases, set their next due times.

        Returns how many were stored: an observation of a target removed while it was
        being checked is dropped.
        """
        pending = list(items)
        stored = 0
        chunk: list[tuple[Observation, dt.datetime]] = []
        names: set[str] = set()
        for item in pending:
            # A target seen twice in one chunk would read its run before the first
            # write: cut the chunk there so each sees the other's result.
            if item[0].target in names or len(chunk) >= _CHUNK:
                stored += self._record_chunk(chunk)
                chunk, names = [], set()
            chunk.append(item)
            names.add(item[0].target)
        if chunk:
            stored += self._record_chunk(chunk)
        return stored

    def _record_chunk(self, chunk: Sequence[tuple[Observation, dt.datetime]]) -> int:
        conn = self._conn
        names = sorted({obs.target for obs, _ in chunk})
        current = {
            row.name: row
            for row in conn.execute(
                sa.select(t_targets.c.id, t_targets.c.name, *_MERGE_COLUMNS)
                .select_from(t_targets.outerjoin(t_runs, t_runs.c.id == t_targets.c.current_run))
                .where(t_targets.c.name.in_(names))
                # Locks in name order, so two writers never wait on each other in a cycle.
                .order_by(t_targets.c.name)
                .with_for_update(of=t_targets)
            )
        }
        merges: list[dict[str, Any]] = []
        inserts: list[dict[str, Any]] = []
        inserted_for: list[int] = []  # index into updates of each insert's target
        updates: list[dict[str, Any]] = []
        for obs, next_due in chunk:
            row = current.get(obs.target)
            if row is None:
                continue
            report = _pack(obs.report)
            codes = _codes_text(obs.codes)
            seconds = obs.seconds
            update = {
                "b_id": row.id,
                "b_next_due": next_due,
                "b_checked": obs.checked_at,
                "b_report": report,
                "b_run": row.run_id,
            }
            same = row.run_id is not None and _observation_identity(obs) == _identity(
                row.verdict,
                row.codes.split(",") if row.codes else (),
                row.leaf_sha256,
                row.expires_at,
                row.exit_code,
            )
            if same:
                timed = seconds is not None
                merges.append(
                    {
                        "b_id": row.run_id,
                        "b_last_seen": obs.checked_at,
                        "b_seen_count": row.seen_count + 1,
                        "b_codes": codes,
                        "b_error": obs.error,
                        "b_seconds_last": seconds,
                        "b_seconds_min": _fold(min, row.seconds_min, seconds),
                        "b_seconds_max": _fold(max, row.seconds_max, seconds),
                        "b_seconds_total": row.seconds_total + (seconds or 0.0),
                        "b_timed_count": row.timed_count + (1 if timed else 0),
                    }
                )
            else:
                inserts.append(
                    {
                        "target_id": row.id,
                        "first_seen": obs.checked_at,
                        "last_seen": obs.checked_at,
                        "seen_count": 1,
                        "verdict": obs.verdict.value,
                        "exit_code": obs.exit_code,
                        "codes": codes,
                        "leaf_sha256": obs.leaf_sha256,
                        "leaf_subject": obs.leaf_subject,
                        "leaf_not_before": obs.leaf_not_before,
                        "leaf_not_after": obs.leaf_not_after,
                        "expires_at": obs.expires_at,
                        "error": obs.error,
                        "seconds_last": seconds,
                        "seconds_min": seconds,
                        "seconds_max": seconds,
                        "seconds_total": seconds or 0.0,
                        "timed_count": 0 if seconds is None else 1,
                        "first_report": report,
                    }
                )
                inserted_for.append(len(updates))
            updates.append(update)
        if merges:
            conn.execute(_MERGE_RUN, merges)
        if inserts:
            ids = conn.execute(
                t_runs.insert().returning(t_runs.c.id, sort_by_parameter_order=True), inserts
            ).scalars()
            for index, run_id in zip(inserted_for, ids, strict=True):
                updates[index]["b_run"] = run_id
        if updates:
            conn.execute(_UPDATE_TARGET, updates)
        return len(updates)

    def raise_alert(self, alert: Alert, notifiers: Sequence[str]) -> bool:
        """Store ``alert`` and queue it for each notifier, unless its key is taken.

        Returns False, changing nothing, when the target already has an active alert
        with this key, or is not watched.
        """
        target_id = self._target_id(alert.target)
        if target_id is None:
            return False
        values = {
            "target_id": target_id,
            "key": alert.key,
            "active_key": alert.key,
            "kind": alert.kind.value,
            "severity": alert.severity.value,
            "raised_at": alert.raised_at,
            "title": alert.title,
            "body": alert.body,
            "facts": json.dumps(dict(alert.facts), separators=(",", ":"), default=str),
        }
        # ON CONFLICT DO NOTHING rather than check-then-insert: two processes raising the
        # same alert at once both reach the insert, and exactly one row must win.
        unique = ["target_id", "active_key"]
        insert: postgresql.Insert | sqlite.Insert
        if self._conn.dialect.name == "postgresql":
            from sqlalchemy.dialects import postgresql  # loaded by the engine already

            insert = postgresql.insert(t_alerts).on_conflict_do_nothing(index_elements=unique)
        else:
            insert = sqlite.insert(t_alerts).on_conflict_do_nothing(index_elements=unique)
        alert_id = self._conn.execute(insert.values(values).returning(t_alerts.c.id)).scalar()
        if alert_id is None:
            return False
        queued = list(dict.fromkeys(notifiers))
        if queued:
            self._conn.execute(
                t_deliveries.insert(),
                [
                    {
                        "alert_id": alert_id,
                        "notifier": notifier,
                        "status": DeliveryStatus.PENDING.value,
                        "attempts": 0,
                        "next_attempt": alert.raised_at,
                        "updated_at": alert.raised_at,
                    }
                    for notifier in queued
                ],
            )
        return True

    def forget_alerts(
        self, target: str, keys: Iterable[str] = (), *, prefix: str | None = None
    ) -> int:
        """Let these alert keys be raised again (a recovery re-arms ``broken``).

        The alerts stay listed and their deliveries go on; only the block on a repeat is
        lifted. ``prefix`` forgets every key that starts with it. Returns how many.
        """
        target_id = self._target_id(target)
        chosen = list(dict.fromkeys(keys))
        if target_id is None or (not chosen and prefix is None):
            return 0
        matches: list[sa.ColumnElement[bool]] = []
        if chosen:
            matches.append(t_alerts.c.active_key.in_(chosen))
        if prefix is not None:
            matches.append(t_alerts.c.active_key.startswith(prefix, autoescape=True))
        result = self._conn.execute(
            t_alerts.update()
            .where(t_alerts.c.target_id == target_id, sa.or_(*matches))
            .values(active_key=None)
        )
        return int(result.rowcount)

    def active_alert(self, target: str, key: str) -> Alert | None:
        """The alert of ``target`` that holds ``key`` now, if one does."""
        row = self._conn.execute(
            sa.select(*_ALERT_COLUMNS)
            .select_from(t_alerts.join(t_targets))
            .where(t_targets.c.name == target, t_alerts.c.active_key == key)
        ).first()
        return None if row is None else _alert_of(row)

    def alert_keys(self, target: str) -> set[str]:
        """The keys that would make a new alert of ``target`` a repeat."""
        return set(
            self._conn.execute(
                sa.select(t_alerts.c.active_key)
                .select_from(t_alerts.join(t_targets))
                .where(t_targets.c.name == target, t_alerts.c.active_key.is_not(None))
            ).scalars()
        )


def _fold(pick: Any, old: float | None, new: float | None) -> float | None:
    if old is None:
        return new
    if new is None:
        return old
    return float(pick(old, new))


_MERGE_RUN = (
    t_runs.update()
    .where(t_runs.c.id == sa.bindparam("b_id"))
    .values(
        last_seen=sa.bindparam("b_last_seen"),
        seen_count=sa.bindparam("b_seen_count"),
        codes=sa.bindparam("b_codes"),
        error=sa.bindparam("b_error"),
        seconds_last=sa.bindparam("b_seconds_last"),
        seconds_min=sa.bindparam("b_seconds_min"),
        seconds_max=sa.bindparam("b_seconds_max"),
        seconds_total=sa.bindparam("b_seconds_total"),
        timed_count=sa.bindparam("b_timed_count"),
    )
)
_UPDATE_TARGET = (
    t_targets.update()
    .where(t_targets.c.id == sa.bindparam("b_id"))
    .values(
        next_due=sa.bindparam("b_next_due"),
        lease_until=None,
        last_checked_at=sa.bindparam("b_checked"),
        last_report=sa.bindparam("b_report"),
        current_run=sa.bindparam("b_run"),
    )
)


# -- the database -----------------------------------------------------------------------


def _engine_url(url: str) -> sa.URL:
    if "://" not in url:
        # A bare path is the friendliest spelling of an SQLite file for --db; but a value
        # that looks like neither a path nor a URL ("not a url", a mistyped
        # "postgresql:/host") is a mistake, not the name of a new file.
        path = Path(url).expanduser()
        looks_like_a_path = (
            os.sep in url or path.suffix.lower() in _SQLITE_SUFFIXES or path.is_file()
        )
        if not looks_like_a_path or re.match(r"[A-Za-z][A-Za-z0-9+.-]+:", url):
            raise HistoryError(
                f"{url!r} is not a database URL: give sqlite:///path/to/watch.db, a file"
                " path (./watch.db) or postgresql://host/db"
            )
        return sa.URL.create("sqlite", database=str(path))
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise HistoryError(f"{url!r} is not a database URL") from exc
    backend = parsed.get_backend_name()
    if backend in ("postgresql", "postgres"):
        if "+" not in parsed.drivername:
            parsed = parsed.set(drivername="postgresql+psycopg")
        elif backend == "postgres":
            parsed = parsed.set(drivername="postgresql+" + parsed.get_driver_name())
        return parsed
    if backend == "sqlite":
        return parsed
    raise HistoryError(
        f"{parsed.render_as_string(hide_password=True)}: the history database must be "
        "SQLite (sqlite:///path) or PostgreSQL (postgresql://...)"
    )


def _reason(exc: BaseException) -> str:
    cause = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(cause).strip().splitlines() if line.strip()]
    return lines[0] if lines else type(cause).__name__


class History:
    """The watch history in one SQLite file or PostgreSQL database. Use :meth:`open`."""

    def __init__(self, engine: Engine, where: str) -> None:
        self._engine = engine
        self.where = where  # the file or the URL without its password, for messages

    @classmethod
    def open(cls, url: str | None = None) -> History:
        """Open (creating and migrating as needed) the history at ``url``.

        ``url`` is ``sqlite:///path``, a bare path, or ``postgresql://...``; None means
        :func:`default_url`. Raises :class:`HistoryError` with one plain sentence when it
        cannot be used: unreachable server, unwritable folder, not a database, newer schema.
        """
        parsed = _engine_url(url or default_url())
        if parsed.get_backend_name() == "sqlite":
            engine, where = _sqlite_engine(parsed)
        else:
            where = parsed.render_as_string(hide_password=True)
            connect_args: dict[str, Any] = {"application_name": "tlsdoctor"}
            if "connect_timeout" not in parsed.query:
                # Without it an unreachable host hangs for the OS TCP timeout (minutes).
                connect_args["connect_timeout"] = _PG_CONNECT_TIMEOUT
            # pre_ping: a PostgreSQL restart kills pooled connections; the watch runs
            # for months and must not fail its next write because of one.
            engine = sa.create_engine(parsed, pool_pre_ping=True, connect_args=connect_args)
        history = cls(engine, where)
        try:
            with history._begin(write=True) as conn:
                schema.migrate(conn)
        except schema.SchemaTooNew as exc:
            engine.dispose()
            raise HistoryError(
                f"{where} was written by a newer tlsdoctor (history schema {exc.found}, "
                f"this one knows up to {exc.known}): upgrade tlsdoctor or use another --db"
            ) from exc
        except _UsageError as exc:
            engine.dispose()
            raise HistoryError(f"{where}: cannot open the watch history ({exc.reason})") from (
                exc.__cause__
            )
        return history

    def close(self) -> None:
        """Close every pooled connection; the object is unusable afterwards."""
        self._engine.dispose()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def _begin(self, write: bool) -> Iterator[Connection]:
        try:
            with self._engine.connect() as conn:
                if write:
                    conn.execution_options(tlsdoctor_write=True)
                with conn.begin():
                    yield conn
        except sa.exc.DBAPIError as exc:
            raise _UsageError(self.where, _reason(exc)) from exc

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """One write transaction: record an observation and raise the alerts it causes
        together, so a crash between the two cannot lose an alert."""
        with self._begin(write=True) as conn:
            yield Transaction(conn)

    # -- targets ---------------------------------------------------------------------

    def add_targets(self, targets: Iterable[WatchTarget], now: dt.datetime) -> list[str]:
        """Watch these targets; return the names that were not watched yet.

        A new target is due at once. Re-adding a watched name updates its options; a new
        interval counts from its last check.
        """
        wanted = {target.name: target for target in targets}
        added: list[str] = []
        with self._begin(write=True) as conn:
            for names in _chunks(sorted(wanted)):
                existing = {
                    row.name: row
                    for row in conn.execute(
                        sa.select(*_TARGET_COLUMNS, t_targets.c.last_checked_at).where(
                            t_targets.c.name.in_(names)
                        )
                    )
                }
                fresh = [wanted[name] for name in names if name not in existing]
                if fresh:
                    conn.execute(
                        t_targets.insert(),
                        [
                            {
                                "name": target.name,
                                "every_seconds": _every_seconds(target),
                                "starttls": target.starttls,
                                "servername": target.servername,
                                "connect": target.connect,
                                "labels": json.dumps(list(target.labels)),
                                "settings": _settings_text(target),
                                "added_at": now,
                                "next_due": now,
                            }
                            for target in fresh
                        ],
                    )
                    added.extend(target.name for target in fresh)
                for name, row in existing.items():
                    target = wanted[name]
                    if _target_of(row) == target:
                        continue
                    values: dict[str, Any] = {
                        "every_seconds": _every_seconds(target),
                        "starttls": target.starttls,
                        "servername": target.servername,
                        "connect": target.connect,
                        "labels": json.dumps(list(target.labels)),
                        "settings": _settings_text(target),
                    }
                    if row.every_seconds != values["every_seconds"] and row.last_checked_at:
                        values["next_due"] = row.last_checked_at + dt.timedelta(
                            seconds=values["every_seconds"]
                        )
                    conn.execute(t_targets.update().where(t_targets.c.id == row.id).values(values))
        return added

    def remove_targets(self, names: Iterable[str]) -> list[str]:
        """Stop watching; return the names that were watched. Their history, alerts and
        queued deliveries go with them."""
        removed: list[str] = []
        with self._begin(write=True) as conn:
            for chunk in _chunks(sorted(set(names))):
                found = list(
                    conn.execute(
                        sa.select(t_targets.c.name).where(t_targets.c.name.in_(chunk))
                    ).scalars()
                )
                if found:
                    conn.execute(t_targets.delete().where(t_targets.c.name.in_(found)))
                    removed.extend(found)
        return removed

    def targets(self) -> list[WatchTarget]:
        """Every watched target, by name."""
        with self._begin(write=False) as conn:
            rows = conn.execute(sa.select(*_TARGET_COLUMNS).order_by(t_targets.c.name))
            return [_target_of(row) for row in rows]

    def target(self, name: str) -> WatchTarget | None:
        with self._begin(write=False) as conn:
            row = conn.execute(sa.select(*_TARGET_COLUMNS).where(t_targets.c.name == name)).first()
            return None if row is None else _target_of(row)

    # -- scheduling ------------------------------------------------------------------

    def claim_due(
        self, now: dt.datetime, limit: int = 100, lease: dt.timedelta = DEFAULT_LEASE
    ) -> list[WatchTarget]:
        """Lease up to ``limit`` due targets, most overdue first, for one check each.

        A leased target is not due again until :meth:`record` releases it or the lease
        runs out (its checker died), so no target is checked twice at once, by this
        process or another. ``lease`` must outlast the slowest check.
        """
        with self._begin(write=True) as conn:
            rows = conn.execute(
                sa.select(*_TARGET_COLUMNS)
                .where(
                    t_targets.c.next_due <= now,
                    sa.or_(t_targets.c.lease_until.is_(None), t_targets.c.lease_until <= now),
                )
                .order_by(t_targets.c.next_due, t_targets.c.id)
                .limit(max(0, limit))
                # Another worker's claim in progress is skipped, not waited for.
                .with_for_update(skip_locked=True)
            ).all()
            if rows:
                conn.execute(
                    t_targets.update()
                    .where(t_targets.c.id.in_([row.id for row in rows]))
                    .values(lease_until=now + lease)
                )
            return [_target_of(row) for row in rows]

    def release(self, names: Iterable[str]) -> None:
        """Give back leases without recording (a clean shutdown mid-sweep)."""
        with self._begin(write=True) as conn:
            for chunk in _chunks(sorted(set(names))):
                conn.execute(
                    t_targets.update().where(t_targets.c.name.in_(chunk)).values(lease_until=None)
                )

    def next_due_at(self) -> dt.datetime | None:
        """When the next target falls due (a leased one: not before its lease ends)."""
        leased = sa.and_(
            t_targets.c.lease_until.is_not(None),
            t_targets.c.lease_until > t_targets.c.next_due,
        )
        due = sa.case((leased, t_targets.c.lease_until), else_=t_targets.c.next_due)
        with self._begin(write=False) as conn:
            value: dt.datetime | None = conn.execute(sa.select(sa.func.min(due))).scalar()
            return value

    # -- observations ----------------------------------------------------------------

    def record(
        self,
        observation: Observation,
        next_due: dt.datetime,
        alerts: Sequence[Alert] = (),
        notifiers: Sequence[str] = (),
    ) -> Recorded:
        """Store one check, release its lease, set its next due time, and raise
        ``alerts`` for ``notifiers``: all in one transaction."""
        return self.record_many([(observation, next_due)], alerts, notifiers)

    def record_many(
        self,
        items: Iterable[tuple[Observation, dt.datetime]],
        alerts: Sequence[Alert] = (),
        notifiers: Sequence[str] = (),
    ) -> Recorded:
        """:meth:`record` for a batch, in one transaction (a sweep's worth at a time)."""
        with self.transaction() as tx:
            stored = tx.record_many(items)
            raised = tuple(alert for alert in alerts if tx.raise_alert(alert, notifiers))
        return Recorded(stored, raised)

    def latest(self, name: str) -> Observation | None:
        """The newest observation of ``name``, with its report; None if never checked."""
        with self._begin(write=False) as conn:
            return Transaction(conn).latest(name)

    def latest_all(
        self, with_reports: bool = False
    ) -> list[tuple[WatchTarget, Observation | None]]:
        """Every target with its newest observation, by name (reports only if asked:
        decompressing ten thousand of them costs about half a second)."""
        report = t_targets.c.last_report if with_reports else sa.null().label("last_report")
        with self._begin(write=False) as conn:
            rows = conn.execute(
                sa.select(*_TARGET_COLUMNS, report, *_RUN_COLUMNS)
                .select_from(t_targets.outerjoin(t_runs, t_runs.c.id == t_targets.c.current_run))
                .order_by(t_targets.c.name)
            )
            return [
                (
                    _target_of(row),
                    None if row.run_id is None else _observation_of(row, row.name, row.last_report),
                )
                for row in rows
            ]

    def latest_reports(self, names: Iterable[str]) -> dict[str, dict[str, object]]:
        """The report of the newest check of each of ``names`` that has one."""
        found: dict[str, dict[str, object]] = {}
        with self._begin(write=False) as conn:
            for chunk in _chunks(sorted(set(names))):
                rows = conn.execute(
                    sa.select(t_targets.c.name, t_targets.c.last_report).where(
                        t_targets.c.name.in_(chunk), t_targets.c.last_report.is_not(None)
                    )
                )
                for name, blob in rows:
                    found[name] = _unpack(blob)
        return found

    def history(self, name: str, limit: int = 100, with_reports: bool = True) -> list[StateRun]:
        """The state runs of ``name``, newest first: every change it went through."""
        report = t_runs.c.first_report if with_reports else sa.null().label("first_report")
        with self._begin(write=False) as conn:
            rows = conn.execute(
                sa.select(*_RUN_COLUMNS, report)
                .select_from(t_runs.join(t_targets))
                .where(t_targets.c.name == name)
                .order_by(t_runs.c.id.desc())
                .limit(max(0, limit))
            )
            return [_run_of(row, name, row.first_report) for row in rows]

    def prune(self, before: dt.datetime, *, dry_run: bool = False) -> Pruned:
        """Delete runs last seen before ``before`` (never a target's newest), and forgotten
        alerts raised before it whose deliveries are all settled; ``dry_run`` only counts
        them (what ``watch prune`` asks about before deleting most of the history)."""
        current = sa.select(t_targets.c.current_run).where(t_targets.c.current_run.is_not(None))
        old_runs = sa.and_(t_runs.c.last_seen < before, t_runs.c.id.not_in(current))
        unsettled = sa.select(t_deliveries.c.alert_id).where(t_deliveries.c.status.in_(_OPEN))
        old_alerts = sa.and_(
            t_alerts.c.active_key.is_(None),
            t_alerts.c.raised_at < before,
            t_alerts.c.id.not_in(unsettled),
        )
        with self._begin(write=not dry_run) as conn:
            if dry_run:
                count = sa.select(sa.func.count())
                runs = conn.execute(count.select_from(t_runs).where(old_runs)).scalar()
                alerts = conn.execute(count.select_from(t_alerts).where(old_alerts)).scalar()
            else:
                runs = conn.execute(t_runs.delete().where(old_runs)).rowcount
                alerts = conn.execute(t_alerts.delete().where(old_alerts)).rowcount
        return Pruned(int(runs or 0), int(alerts or 0))

    def record_sweep(self, started: dt.datetime, finished: dt.datetime, checked: int) -> None:
        """Note a finished sweep (for /healthz and the self-metrics)."""
        with self._begin(write=True) as conn:
            record_sweep(conn, started, finished, checked)

    def health(self, now: dt.datetime) -> WatchHealth:
        """The watch's own state: last sweep, overdue targets, outbox backlog."""
        with self._begin(write=False) as conn:
            return watch_health(conn, now)

    def counts(self) -> dict[str, int]:
        """Rows per table, for ``watch status`` and the benchmark."""
        with self._begin(write=False) as conn:
            return {
                table.name: int(
                    conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() or 0
                )
                for table in (t_targets, t_runs, t_alerts, t_deliveries)
            }

    # -- alerts ----------------------------------------------------------------------

    def raise_alert(self, alert: Alert, notifiers: Sequence[str]) -> bool:
        """Store ``alert`` and queue one delivery per notifier; False, and nothing
        done, if the target already has an active alert with ``alert.key``."""
        with self.transaction() as tx:
            return tx.raise_alert(alert, notifiers)

    def forget_alerts(
        self, target: str, keys: Iterable[str] = (), *, prefix: str | None = None
    ) -> int:
        """Let these keys of ``target`` be raised again; see :meth:`Transaction.forget_alerts`."""
        with self.transaction() as tx:
            return tx.forget_alerts(target, keys, prefix=prefix)

    def alert_keys(self, target: str) -> set[str]:
        """The keys that would make a new alert of ``target`` a repeat."""
        with self._begin(write=False) as conn:
            return Transaction(conn).alert_keys(target)

    def due_deliveries(
        self, now: dt.datetime, limit: int = 100, lease: dt.timedelta = DEFAULT_LEASE
    ) -> list[Delivery]:
        """Claim up to ``limit`` deliveries whose time has come, oldest first.

        Claiming counts the attempt and moves ``next_attempt`` to ``now + lease``: a
        notifier that dies mid-send leaves the delivery to be retried when that passes.
        """
        with self._begin(write=True) as conn:
            rows = conn.execute(
                sa.select(
                    t_deliveries.c.id,
                    t_deliveries.c.notifier,
                    t_deliveries.c.attempts,
                    t_deliveries.c.status,
                    t_deliveries.c.last_error,
                    *_ALERT_COLUMNS,
                )
                .select_from(t_deliveries.join(t_alerts).join(t_targets))
                .where(t_deliveries.c.status.in_(_OPEN), t_deliveries.c.next_attempt <= now)
                .order_by(t_deliveries.c.next_attempt, t_deliveries.c.id)
                .limit(max(0, limit))
                .with_for_update(of=t_deliveries, skip_locked=True)
            ).all()
            if rows:
                conn.execute(
                    t_deliveries.update()
                    .where(t_deliveries.c.id.in_([row.id for row in rows]))
                    .values(
                        attempts=t_deliveries.c.attempts + 1,
                        next_attempt=now + lease,
                        updated_at=now,
                    )
                )
            return [
                Delivery(
                    id=row.id,
                    notifier=row.notifier,
                    alert=_alert_of(row),
                    attempts=row.attempts,
                    status=DeliveryStatus(row.status),
                    next_attempt=now + lease,
                    last_error=row.last_error,
                )
                for row in rows
            ]

    def next_delivery_at(self) -> dt.datetime | None:
        """When the next delivery (or retry) falls due; None when the outbox is empty."""
        with self._begin(write=False) as conn:
            value: dt.datetime | None = conn.execute(
                sa.select(sa.func.min(t_deliveries.c.next_attempt)).where(
                    t_deliveries.c.status.in_(_OPEN)
                )
            ).scalar()
            return value

    def delivered(self, delivery_id: int, now: dt.datetime) -> None:
        """The notifier sent it: never again."""
        self._settle(
            delivery_id,
            status=DeliveryStatus.DELIVERED.value,
            updated_at=now,
            delivered_at=now,
        )

    def delivery_failed(
        self, delivery_id: int, now: dt.datetime, error: str, next_attempt: dt.datetime
    ) -> None:
        """The attempt failed; try again at ``next_attempt`` (the notifier's backoff)."""
        self._settle(
            delivery_id,
            status=DeliveryStatus.FAILED.value,
            updated_at=now,
            last_error=error,
            next_attempt=next_attempt,
        )

    def gave_up(self, delivery_id: int, now: dt.datetime, error: str) -> None:
        """The notifier stops retrying; the alert stays listed with ``error``."""
        self._settle(
            delivery_id, status=DeliveryStatus.GAVE_UP.value, updated_at=now, last_error=error
        )

    def _settle(self, delivery_id: int, **values: Any) -> None:
        with self._begin(write=True) as conn:
            conn.execute(
                t_deliveries.update()
                # A late report from an attempt whose lease ran out never undoes a
                # delivery another attempt completed.
                .where(t_deliveries.c.id == delivery_id, t_deliveries.c.status.in_(_OPEN))
                .values(values)
            )

    def alerts(self, target: str | None = None, limit: int = 100) -> list[AlertRecord]:
        """Raised alerts, newest first, with where each delivery stands."""
        with self._begin(write=False) as conn:
            query = sa.select(*_ALERT_COLUMNS).select_from(t_alerts.join(t_targets))
            if target is not None:
                query = query.where(t_targets.c.name == target)
            rows = conn.execute(query.order_by(t_alerts.c.id.desc()).limit(max(0, limit))).all()
            by_alert: dict[int, list[_Row]] = {row.alert_id: [] for row in rows}
            for chunk in _chunks(list(by_alert)):
                for delivery in conn.execute(
                    sa.select(t_deliveries)
                    .where(t_deliveries.c.alert_id.in_(chunk))
                    .order_by(t_deliveries.c.id)
                ):
                    by_alert[delivery.alert_id].append(delivery)
            records = []
            for row in rows:
                alert = _alert_of(row)
                records.append(
                    AlertRecord(
                        id=row.alert_id,
                        alert=alert,
                        active=row.active_key is not None,
                        deliveries=tuple(
                            Delivery(
                                id=d.id,
                                notifier=d.notifier,
                                alert=alert,
                                attempts=d.attempts,
                                status=DeliveryStatus(d.status),
                                next_attempt=d.next_attempt,
                                last_error=d.last_error,
                                delivered_at=d.delivered_at,
                            )
                            for d in by_alert[row.alert_id]
                        ),
                    )
                )
            return records


class _UsageError(HistoryError):
    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: the watch history failed ({reason})")
        self.reason = reason


def _sqlite_engine(url: sa.URL) -> tuple[Engine, str]:
    database = url.database or ""
    in_memory = database in ("", ":memory:") or database.startswith("file:")
    if not in_memory:
        path = Path(database).expanduser()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise HistoryError(
                f"{path}: cannot create the folder of the watch history ({reason})"
            ) from exc
        url = url.set(database=str(path))
    where = database or ":memory:"
    # timeout is SQLite's busy timeout: a second watch process waits for the write lock
    # instead of failing at once.
    engine = sa.create_engine(url, connect_args={"timeout": _SQLITE_BUSY_SECONDS})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # The sqlite3 module's own transaction handling begins late and never for DDL;
        # off, so that _on_begin decides (SQLAlchemy's documented recipe).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            if not in_memory:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Writers take the write lock up front: a deferred transaction that reads, then
        # writes, fails with SQLITE_BUSY when another writer got in between, and the
        # busy timeout cannot help it. Readers stay deferred and never block in WAL.
        write = conn.get_execution_options().get("tlsdoctor_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine, where
