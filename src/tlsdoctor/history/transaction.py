"""One write transaction of the history: recording checks (state runs merged or
started), raising and forgetting alerts, on one connection."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Connection, Row

from tlsdoctor.history.schema import alerts as t_alerts
from tlsdoctor.history.schema import deliveries as t_deliveries
from tlsdoctor.history.schema import runs as t_runs
from tlsdoctor.history.schema import targets as t_targets
from tlsdoctor.watch_model import Alert, Observation

if TYPE_CHECKING:
    from typing import TypeAlias

    from sqlalchemy.dialects import postgresql
    from typing_extensions import Unpack

    _Row: TypeAlias = Row[Unpack[tuple[Any, ...]]]

from tlsdoctor.history.rows import (
    _ALERT_COLUMNS,
    _CHUNK,
    _MERGE_COLUMNS,
    _RUN_COLUMNS,
    DeliveryStatus,
    StateRun,
    _alert_of,
    _chunks,
    _codes_text,
    _identity,
    _observation_identity,
    _observation_of,
    _pack,
    _run_of,
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
