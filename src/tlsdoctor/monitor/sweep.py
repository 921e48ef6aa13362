"""One sweep over due targets, the daemon that repeats it, and the alert outbox.

Checks go through the same scanner as ``check -f`` (global and per-host concurrency).
Results are stored with their alerts in one transaction per batch, a fraction of a second
after they come in, so a process killed at any moment leaves every check finished before
then stored with its alerts, and the unfinished ones leased until their lease runs out,
when they are due again. Notifications are sent from the outbox by a
separate loop: a mail server that is down delays mail, never checks.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import random
import signal
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from tlsdoctor.anchors import TrustAnchors
from tlsdoctor.check import utc_now
from tlsdoctor.execute import Executor, InProcess
from tlsdoctor.history.store import History, HistoryError, Transaction
from tlsdoctor.live import LiveOptions
from tlsdoctor.models import Report
from tlsdoctor.monitor.config import WatchSettings
from tlsdoctor.monitor.notify import Notifier
from tlsdoctor.monitor.notify.outbox import deliver_due
from tlsdoctor.monitor.notify.routing import Route
from tlsdoctor.monitor.observe import observation_of
from tlsdoctor.monitor.per_target import (
    anchors_key,
    policy_for,
    recipients,
    trust_for,
    with_ignored,
)
from tlsdoctor.monitor.rules import evaluate
from tlsdoctor.probe.targets import Endpoint, Starttls, parse_target
from tlsdoctor.watch_model import Alert, AlertKind, Observation, WatchTarget

BATCH = 64  # at most this many results stored per transaction
FLUSH_AFTER = 0.25  # seconds a result waits for others to share its transaction
JITTER_SHARE = 0.1  # next checks spread over +-10% of the interval ...
JITTER_CAP = dt.timedelta(minutes=15)  # ... but never more than this
IDLE_POLL = dt.timedelta(seconds=30)  # the daemon looks again at least this often
STORE_RETRY = dt.timedelta(seconds=1)  # a failed store is tried once more after this


class SweepStoreError(HistoryError):
    """The history refused a sweep's results: the sweep stopped, and says how many
    results it could not keep."""

    def __init__(self, cause: HistoryError, unstored: int) -> None:
        super().__init__(
            f"{cause}; the sweep stopped and {unstored} check result(s) were not stored"
            " (their targets are checked again by the next sweep)"
        )
        self.unstored = unstored


async def _drain_until(reports: AsyncIterator[Report], stop: asyncio.Event) -> None:
    """Consume ``reports`` until they end or ``stop`` is set; then the checks still in
    flight are cancelled (closing the scan cancels its tasks)."""

    async def drain() -> None:
        async for _ in reports:
            if stop.is_set():
                return

    consumer = asyncio.ensure_future(drain())
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({consumer, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await stopper
        consumer.cancel()
        try:
            with contextlib.suppress(asyncio.CancelledError):
                await consumer  # re-raises what a check raised, if anything
        finally:
            aclose = getattr(reports, "aclose", None)
            if aclose is not None:
                await aclose()


def endpoint_of(target: WatchTarget) -> Endpoint:
    starttls = None if target.starttls is None else Starttls(target.starttls)
    return parse_target(target.name, connect=target.connect, starttls=starttls)


def next_due(target: WatchTarget, checked_at: dt.datetime, rng: random.Random) -> dt.datetime:
    """One interval later, give or take a little, so that targets added together do not
    stay in lockstep and a large watch list spreads its load."""
    spread = min(target.every * JITTER_SHARE, JITTER_CAP)
    return checked_at + target.every + spread * rng.uniform(-1.0, 1.0)


@dataclass(frozen=True)
class SweepResult:
    observations: tuple[Observation, ...]
    alerts: tuple[Alert, ...]  # newly raised (a repeat of an active key is not)


class Sweeper:
    """Checks targets, stores what it saw, raises alerts: the work of `watch once` and
    `watch run`."""

    def __init__(
        self,
        history: History,
        settings: WatchSettings,
        notifiers: Sequence[str],
        *,
        routes: Mapping[str, Route] | None = None,
        anchors: TrustAnchors | None = None,
        seed: int | None = None,
        executor: Executor | None = None,
    ) -> None:
        self.history = history
        # Where the checks run (this process, local workers, a Dask cluster): results
        # always come back here, where they are stored and alerted.
        self.executor = InProcess() if executor is None else executor
        self.settings = settings
        self.notifiers = tuple(notifiers)
        self.routes: Mapping[str, Route] = routes or {}
        self.anchors = anchors  # given: used for every target (tests, the lab)
        self._rng = random.Random(seed)
        self._stored: set[str] = set()  # names whose check is in the database

    def lease(self) -> dt.timedelta:
        """Long enough for the slowest check of a full batch, with room to store it."""
        return dt.timedelta(seconds=self.settings.timeout * 3 + 60)

    async def sweep(self, targets: Sequence[WatchTarget]) -> SweepResult:
        """Check ``targets`` now; store and alert results in batches as they come in.

        A batch is stored when it is full or a moment after its first result arrived, so
        a slow target never holds back the storing of fast ones, and a large sweep costs
        few transactions. Storing runs on the event loop's thread: a writer thread would
        fight the handshakes for the GIL at every SQLite and zlib call, which costs more
        than the few milliseconds a batch takes.

        A batch leaves the pending list only once it is stored. When the database fails
        (read-only, full, gone), the sweep stops at once: checks in flight are
        cancelled, storing is tried once more after STORE_RETRY, and then one
        :class:`SweepStoreError` says what failed and how many results were not kept
        (their leases are given back, or run out, and they are due again).
        """
        loop = asyncio.get_running_loop()
        started = utc_now()
        observations: list[Observation] = []
        alerts: list[Alert] = []
        pending: list[tuple[WatchTarget, Observation]] = []
        timer: asyncio.TimerHandle | None = None
        failed = asyncio.Event()
        failures: list[HistoryError] = []

        def flush() -> None:
            nonlocal timer
            if timer is not None:
                timer.cancel()
                timer = None
            while pending and not failed.is_set():
                batch = pending[:BATCH]
                try:
                    alerts.extend(self._store(batch))
                except HistoryError as exc:
                    failures.append(exc)
                    failed.set()
                    return
                del pending[: len(batch)]

        # SNI and the trusted roots are options of a whole scan: targets that set their
        # own are scanned apart.
        groups: dict[tuple[str | None, tuple[str, ...]], list[WatchTarget]] = {}
        for target in targets:
            key = (target.servername, anchors_key(target, self.settings))
            groups.setdefault(key, []).append(target)
        for (servername, ca_files), members in groups.items():
            if failed.is_set():
                break
            # Watched names are the endpoints' canonical host:port, unique in the database.
            by_endpoint = {(e.host, e.port): t for t in members for e in [endpoint_of(t)]}

            def finished(
                report: Report,
                by_endpoint: Mapping[tuple[str, int], WatchTarget] = by_endpoint,
            ) -> None:
                nonlocal timer
                target = by_endpoint[(report.target.host or "", report.target.port or 0)]
                observation = with_ignored(target, observation_of(target.name, report))
                observations.append(observation)
                pending.append((target, observation))
                if failed.is_set():
                    return
                if len(pending) >= BATCH:
                    flush()
                elif timer is None:
                    timer = loop.call_later(FLUSH_AFTER, flush)

            anchors = self.anchors or trust_for(ca_files, self.settings.public_roots)
            options = LiveOptions(
                anchors=anchors, timeout=self.settings.timeout, servername=servername
            )
            reports = self.executor.reports(
                (endpoint_of(t) for t in members),
                options,
                concurrency=self.settings.concurrency,
                on_report=finished,
            )
            await _drain_until(reports, failed)
        if failed.is_set():
            await asyncio.sleep(STORE_RETRY.total_seconds())
            failed.clear()
        flush()
        if failed.is_set():
            raise SweepStoreError(failures[-1], unstored=len(pending))
        if observations:
            self.history.record_sweep(started, utc_now(), len(observations))
        return SweepResult(tuple(observations), tuple(alerts))

    def _store(self, batch: Sequence[tuple[WatchTarget, Observation]]) -> list[Alert]:
        """One transaction: compare with the previous state, raise alerts, record."""
        raised: list[Alert] = []
        names = [target.name for target, _ in batch]
        with self.history.transaction() as tx:
            previous = tx.latest_many(names)
            keys = tx.alert_keys_many(names)
            for target, observation in batch:
                run = previous.get(target.name)
                outcome = evaluate(
                    None if run is None else run.observation(),
                    observation,
                    policy_for(target, self.settings.policy),
                    frozenset(keys[target.name]),
                    previous_checks=1 if run is None else run.seen_count,
                    previous_since=None if run is None else run.first_seen,
                )
                told = [self._resolving(tx, alert) for alert in outcome.alerts]
                if outcome.forget:
                    tx.forget_alerts(target.name, outcome.forget)
                raised.extend(
                    alert
                    for alert in told
                    if tx.raise_alert(alert, recipients(alert, target, self.notifiers, self.routes))
                )
            tx.record_many(
                (observation, next_due(target, observation.checked_at, self._rng))
                for target, observation in batch
            )
        self._stored.update(names)
        return raised

    @staticmethod
    def _resolving(tx: Transaction, alert: Alert) -> Alert:
        """A recovery carries the code of the outage it ends, which the rules, seeing
        only the last check, do not know: Alertmanager resolves an alert by its labels."""
        if alert.kind is not AlertKind.RECOVERED:
            return alert
        broken = tx.active_alert(alert.target, "broken")
        if broken is None or broken.facts.get("code") is None:
            return alert
        return replace(alert, facts={**alert.facts, "code": broken.facts["code"]})

    async def sweep_due(self, now: dt.datetime, limit: int) -> SweepResult:
        """Lease the due targets (at most ``limit``) and sweep them."""
        due = self.history.claim_due(now, limit=limit, lease=self.lease())
        if not due:
            return SweepResult((), ())
        try:
            return await self.sweep(due)
        except BaseException:
            # Interrupted (Ctrl-C, SIGTERM): what was stored stays; the rest is due again
            # now rather than when its lease runs out.
            with contextlib.suppress(Exception):
                self.history.release(t.name for t in due if t.name not in self._stored)
            raise


def current_exit_code(rows: Iterable[tuple[WatchTarget, Observation | None]]) -> int:
    """The worst exit code over every target's latest check (``History.latest_all()``):
    what ``watch once`` returns, so a cron job or a monitoring plugin sees the state of the
    whole watch list; a target never checked counts as could-not-check."""
    return max((3 if latest is None else latest.exit_code for _, latest in rows), default=0)


class Daemon:
    """``watch run``: sweep what is due, deliver the outbox, until told to stop."""

    def __init__(
        self,
        sweeper: Sweeper,
        notifiers: Mapping[str, Notifier],
        *,
        on_sweep: Callable[[SweepResult], None] | None = None,
    ) -> None:
        self.sweeper = sweeper
        self.notifiers = notifiers
        self.on_sweep = on_sweep
        self.stopping = threading.Event()
        self._outbox_due = threading.Event()  # set when a sweep raised alerts
        self.failure: HistoryError | None = None  # what stopped the outbox, if anything

    def stop(self, *_: object) -> None:
        self.stopping.set()
        self._outbox_due.set()

    def run(self) -> None:
        """Until SIGTERM or SIGINT: in-flight checks finish (each bounded by its timeout)
        and are stored; nothing new starts."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self.stop)
        outbox = threading.Thread(target=self._outbox, name="tlsdoctor-outbox", daemon=True)
        outbox.start()
        try:
            asyncio.run(self._checks())
        finally:
            self.stop()
            outbox.join(timeout=self.sweeper.settings.timeout + 35)
        if self.failure is not None:
            raise self.failure

    async def _checks(self) -> None:
        batch = max(self.sweeper.settings.concurrency * 4, 64)
        history = self.sweeper.history
        while not self.stopping.is_set():
            result = await self.sweeper.sweep_due(utc_now(), batch)
            if result.alerts:
                self._outbox_due.set()
            if self.on_sweep is not None and result.observations:
                self.on_sweep(result)
            if result.observations:
                continue  # more may be due already
            await self._sleep_until(history.next_due_at())

    async def _sleep_until(self, moment: dt.datetime | None) -> None:
        wait = IDLE_POLL if moment is None else min(moment - utc_now(), IDLE_POLL)
        end = asyncio.get_running_loop().time() + max(wait.total_seconds(), 0.05)
        while not self.stopping.is_set() and asyncio.get_running_loop().time() < end:
            await asyncio.sleep(0.2)

    def _outbox(self) -> None:
        history = self.sweeper.history
        try:
            while not self.stopping.is_set():
                deliver_due(history, self.notifiers)
                moment = history.next_delivery_at()
                wait = IDLE_POLL if moment is None else min(moment - utc_now(), IDLE_POLL)
                self._outbox_due.wait(max(wait.total_seconds(), 0.2))
                self._outbox_due.clear()
            deliver_due(history, self.notifiers, timeout=10.0)  # a last round on the way out
        except HistoryError as exc:
            # The database failed under the outbox: the watch cannot keep its promises
            # (no lost alert, none twice), so it stops and says why, once.
            if not self.stopping.is_set():
                self.failure = exc
                self.stop()
