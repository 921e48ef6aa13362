"""The watch's own health, from its history: when it last swept, whether targets are
overdue, what the outbox holds. What ``/healthz`` and the self-metrics report."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tlsdoctor.history.schema import alerts as t_alerts
from tlsdoctor.history.schema import deliveries as t_deliveries
from tlsdoctor.history.schema import sweeps as t_sweeps
from tlsdoctor.history.schema import targets as t_targets

# Sweeps kept: enough for a look back, few enough that the table never matters.
KEEP_SWEEPS = 200
# A target is overdue when it has not been checked for this many of its intervals:
# then no sweep is running (a watch that stopped, a cron job that no longer runs).
OVERDUE_INTERVALS = 2
_OPEN = ("pending", "failed")


@dataclass(frozen=True)
class WatchHealth:
    targets: int
    overdue: int  # targets unchecked for OVERDUE_INTERVALS of their interval or more
    last_sweep_started: dt.datetime | None
    last_sweep_finished: dt.datetime | None
    last_sweep_checked: int | None
    outbox_pending: int  # deliveries not made yet (pending or to retry)
    oldest_pending: dt.datetime | None  # when the oldest of their alerts was raised

    @property
    def healthy(self) -> bool:
        return self.overdue == 0


def record_sweep(
    conn: Connection, started: dt.datetime, finished: dt.datetime, checked: int
) -> None:
    conn.execute(
        t_sweeps.insert().values(started_at=started, finished_at=finished, checked=checked)
    )
    newest = sa.select(t_sweeps.c.id).order_by(t_sweeps.c.id.desc()).limit(KEEP_SWEEPS)
    conn.execute(t_sweeps.delete().where(t_sweeps.c.id.not_in(newest.scalar_subquery())))


def watch_health(conn: Connection, now: dt.datetime) -> WatchHealth:
    overdue = targets = 0
    rows = conn.execute(
        sa.select(t_targets.c.every_seconds, t_targets.c.last_checked_at, t_targets.c.added_at)
    )
    for every, checked, added in rows:
        targets += 1
        since = checked or added
        if since + dt.timedelta(seconds=every * OVERDUE_INTERVALS) < now:
            overdue += 1
    last = conn.execute(
        sa.select(t_sweeps.c.started_at, t_sweeps.c.finished_at, t_sweeps.c.checked)
        .order_by(t_sweeps.c.id.desc())
        .limit(1)
    ).first()
    pending, oldest = conn.execute(
        sa.select(sa.func.count(), sa.func.min(t_alerts.c.raised_at))
        .select_from(t_deliveries.join(t_alerts))
        .where(t_deliveries.c.status.in_(_OPEN))
    ).one()
    return WatchHealth(
        targets=targets,
        overdue=overdue,
        last_sweep_started=None if last is None else last.started_at,
        last_sweep_finished=None if last is None else last.finished_at,
        last_sweep_checked=None if last is None else last.checked,
        outbox_pending=int(pending or 0),
        oldest_pending=oldest,
    )
