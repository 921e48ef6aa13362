"""Scheduling in the history: leasing due targets to one checker at a time, giving
leases back, and when the next target falls due."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Row

from tlsdoctor.history.schema import targets as t_targets
from tlsdoctor.watch_model import WatchTarget

if TYPE_CHECKING:
    from typing import TypeAlias

    from typing_extensions import Unpack

    _Row: TypeAlias = Row[Unpack[tuple[Any, ...]]]

from tlsdoctor.history.engine import Connected
from tlsdoctor.history.rows import (
    _TARGET_COLUMNS,
    DEFAULT_LEASE,
    _chunks,
    _target_of,
)


class LeasesMixin(Connected):
    """The scheduling half of :class:`~tlsdoctor.history.store.History`."""

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
