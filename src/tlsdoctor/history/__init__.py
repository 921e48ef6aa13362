"""The history of ``tlsdoctor watch``: watched targets, what each check saw, alerts.

One schema (SQLAlchemy Core) on SQLite, the default, or PostgreSQL. See
:mod:`tlsdoctor.history.store` for the guarantees (crash safety, retention, alerts
once per key) and :mod:`tlsdoctor.history.schema` for the tables and migrations.
"""

from tlsdoctor.history.store import (
    DEFAULT_LEASE,
    AlertRecord,
    Delivery,
    DeliveryStatus,
    History,
    HistoryError,
    Pruned,
    Recorded,
    StateRun,
    Transaction,
    default_url,
)

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
