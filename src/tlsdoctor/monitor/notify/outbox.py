"""Delivery: a send with an overall deadline, and when a failed one is tried again.

Delivery never blocks the watch: :func:`deliver` runs a send in a worker thread with an
overall deadline, and :func:`next_attempt` says when a failed delivery is tried again
(the persistent outbox it serves lives in the history database).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from tlsdoctor.check import utc_now
from tlsdoctor.history.store import Delivery, History
from tlsdoctor.monitor.notify.base import Notifier, NotifyError
from tlsdoctor.monitor.notify.routing import bundle
from tlsdoctor.watch_model import Alert

# Backoff: 30 s, 1 min, 2 min, ... doubling up to an hour between tries; after
# MAX_ATTEMPTS failures (about a day of trying) the delivery is given up.
FIRST_RETRY = dt.timedelta(seconds=30)
MAX_RETRY = dt.timedelta(hours=1)
MAX_ATTEMPTS = 30


def next_attempt(
    attempts: int,
    now: dt.datetime,
    *,
    first: dt.timedelta = FIRST_RETRY,
    cap: dt.timedelta = MAX_RETRY,
    max_attempts: int = MAX_ATTEMPTS,
) -> dt.datetime | None:
    """When to try a delivery again after ``attempts`` failed tries, or None to give up.

    ``attempts`` = 0 means not tried yet: now. Then ``first``, doubling per failure up to
    ``cap`` (30 s, 1 min, 2 min, ... 32 min, 1 h, 1 h, ...); after ``max_attempts``
    failures (by default about a day of trying) None.
    """
    if attempts <= 0:
        return now
    if attempts >= max_attempts:
        return None
    # Bounded exponent: 2**attempts of a large count would be a huge integer for nothing.
    delay = first * (1 << min(attempts - 1, 32))
    return now + min(delay, cap)


def deliver(notifier: Notifier, alert: Alert | Sequence[Alert], timeout: float) -> None:
    """``notifier.send(alert)`` with an overall deadline of ``timeout`` seconds.

    Several alerts (raised by one check of one target) go as one message: to a notifier
    with ``send_all`` (Alertmanager, which takes a list) as they are, to the others as
    their :func:`bundle`.

    The send runs in a daemon thread: a server that trickles bytes can keep a socket
    alive far beyond its per-operation timeout, and a check must never wait for that. On
    the deadline this raises NotifyError and leaves the thread to end on its own socket
    timeout. Anything but NotifyError that escapes a sender becomes a NotifyError too, so
    one broken channel cannot stop the others.
    """
    outcome: list[BaseException | None] = []

    alerts = [alert] if isinstance(alert, Alert) else list(alert)
    send_all = getattr(notifier, "send_all", None)

    def run() -> None:
        try:
            if send_all is not None:
                send_all(alerts)
            else:
                notifier.send(bundle(alerts))
        except BaseException as exc:  # handed over to the caller's thread below
            outcome.append(exc)
        else:
            outcome.append(None)

    worker = threading.Thread(target=run, name=f"tlsdoctor-notify-{notifier.name}", daemon=True)
    worker.start()
    worker.join(timeout)
    if not outcome:
        raise NotifyError(notifier.name, f"gave up waiting after {timeout:g} s")
    error = outcome[0]
    if error is None:
        return
    if isinstance(error, NotifyError):
        raise error
    if not isinstance(error, Exception):
        raise error  # KeyboardInterrupt and SystemExit are not notification failures
    # The message of an unexpected exception might quote a secret: name the type only.
    raise NotifyError(notifier.name, f"unexpected {type(error).__name__} while sending") from None


@dataclass(frozen=True)
class DeliveryReport:
    delivered: int
    failed: int
    gave_up: int


def deliver_due(
    history: History,
    notifiers: Mapping[str, Notifier],
    now: Callable[[], dt.datetime] = utc_now,
    *,
    timeout: float = 30.0,
    limit: int = 100,
) -> DeliveryReport:
    """Send what the outbox holds and is due; failures are retried with backoff."""
    delivered = failed = gave_up = 0
    # One message per notifier for the alerts one check of one target raised together.
    together: dict[tuple[str, str, dt.datetime], list[Delivery]] = {}
    for delivery in history.due_deliveries(now(), limit=limit):
        alert = delivery.alert
        together.setdefault((delivery.notifier, alert.target, alert.raised_at), []).append(delivery)
    for (name, _, _), group in together.items():
        notifier = notifiers.get(name)
        if notifier is None:
            for delivery in group:
                history.gave_up(delivery.id, now(), "this notifier is no longer configured")
            gave_up += len(group)
            continue
        try:
            deliver(notifier, [delivery.alert for delivery in group], timeout)
        except NotifyError as exc:
            attempts = max(delivery.attempts for delivery in group)
            retry = None if exc.permanent else next_attempt(attempts + 1, now())
            for delivery in group:
                if retry is None:
                    history.gave_up(delivery.id, now(), str(exc))
                else:
                    history.delivery_failed(delivery.id, now(), str(exc), retry)
            if retry is None:
                gave_up += len(group)
            else:
                failed += len(group)
            continue
        for delivery in group:
            history.delivered(delivery.id, now())
        delivered += len(group)
    return DeliveryReport(delivered, failed, gave_up)
