"""The alert outbox in the history: deliveries claimed, retried, settled; and the
alerts listed with where each delivery stands."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Row

from tlsdoctor.history.schema import alerts as t_alerts
from tlsdoctor.history.schema import deliveries as t_deliveries
from tlsdoctor.history.schema import targets as t_targets

if TYPE_CHECKING:
    from typing import TypeAlias

    from typing_extensions import Unpack

    _Row: TypeAlias = Row[Unpack[tuple[Any, ...]]]

from tlsdoctor.history.engine import Connected
from tlsdoctor.history.rows import (
    _ALERT_COLUMNS,
    _OPEN,
    DEFAULT_LEASE,
    AlertRecord,
    Delivery,
    DeliveryStatus,
    _alert_of,
    _chunks,
)


class OutboxMixin(Connected):
    """The outbox half of :class:`~tlsdoctor.history.store.History`."""

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
