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

import dataclasses
import datetime as dt
import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Row

from tlsdoctor.history import schema
from tlsdoctor.history.health import WatchHealth, record_sweep, watch_health
from tlsdoctor.history.schema import alerts as t_alerts
from tlsdoctor.history.schema import deliveries as t_deliveries
from tlsdoctor.history.schema import runs as t_runs
from tlsdoctor.history.schema import targets as t_targets
from tlsdoctor.watch_model import Alert, Observation, WatchTarget

if TYPE_CHECKING:
    from typing import TypeAlias

    from typing_extensions import Unpack

    _Row: TypeAlias = Row[Unpack[tuple[Any, ...]]]

from tlsdoctor.history.engine import (
    _PG_CONNECT_TIMEOUT,
    HistoryError,
    _engine_url,
    _sqlite_engine,
    _UsageError,
    default_url,
)
from tlsdoctor.history.leases import LeasesMixin
from tlsdoctor.history.outbox import OutboxMixin
from tlsdoctor.history.rows import (
    _OPEN,
    _RUN_COLUMNS,
    _TARGET_COLUMNS,
    DEFAULT_LEASE,
    AlertRecord,
    Delivery,
    DeliveryStatus,
    Pruned,
    Recorded,
    StateRun,
    _chunks,
    _every_seconds,
    _observation_of,
    _run_of,
    _settings_text,
    _target_of,
    _unpack,
)
from tlsdoctor.history.transaction import Transaction

__all__ = [
    "DEFAULT_LEASE",
    "AlertRecord",
    "Delivery",
    "DeliveryStatus",
    "History",
    "HistoryError",
    "Pruned",
    "Recorded",
    "StateRun",
    "Transaction",
    "default_url",
]


class History(LeasesMixin, OutboxMixin):
    """The watch history in one SQLite file or PostgreSQL database. Use :meth:`open`.

    Its parts: :mod:`~tlsdoctor.history.engine` (the database), :mod:`.leases`
    (scheduling), :mod:`.outbox` (deliveries), :mod:`.transaction` (recording, alerts),
    :mod:`.rows` (records and encoding), :mod:`.schema` (tables, migrations).
    """

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

    def mute(self, names: Iterable[str], until: dt.datetime | None) -> list[str]:
        """Mute these targets until ``until`` (None: unmute); their other settings stay.
        Returns the names that are watched."""
        changed: list[str] = []
        with self._begin(write=True) as conn:
            for chunk in _chunks(sorted(set(names))):
                rows = conn.execute(sa.select(*_TARGET_COLUMNS).where(t_targets.c.name.in_(chunk)))
                for row in rows.all():
                    target = dataclasses.replace(_target_of(row), mute_until=until)
                    conn.execute(
                        t_targets.update()
                        .where(t_targets.c.id == row.id)
                        .values(settings=_settings_text(target))
                    )
                    changed.append(row.name)
        return changed

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
