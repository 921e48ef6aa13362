"""Many endpoints at once: one scanner with a global and a per-host concurrency limit.

Reports come out in input order (or, ``ordered=False``, as they finish). At most
``window`` checks are started ahead of the oldest unfinished one, so memory stays flat
whatever the number of targets (targets are read lazily too), and a slow target delays the
output of the ones after it by no more than its own timeout.

This is the in-process back end of :mod:`tlsdoctor.execute`; its Dask back end runs this
same function on each chunk of targets a worker receives.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable
from typing import TypeVar

from tlsdoctor.live import LiveOptions, check_endpoint_async
from tlsdoctor.models import Report
from tlsdoctor.probe.targets import Endpoint

T = TypeVar("T")

DEFAULT_CONCURRENCY = 50
DEFAULT_PER_HOST = 8
# Descriptors one check may hold at once (the handshake, the no-SNI comparison, the
# downloads it runs together), and what the process keeps for itself (stores, logs).
FILES_PER_CHECK = 6
FILES_RESERVED = 24


def fitting_concurrency(wanted: int) -> int:
    """``wanted``, or fewer: as many checks as the open-file limit lets run at once.

    The soft limit is raised to the hard one first; past it, more checks at once would
    only fail with EMFILE and blame the targets for our own limit.
    """
    try:
        import resource
    except ImportError:  # not on Windows
        return wanted
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = FILES_RESERVED + FILES_PER_CHECK * wanted
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(1, min(wanted, (soft - FILES_RESERVED) // FILES_PER_CHECK))


class _HostLimits:
    """One semaphore per host name, dropped when no check of that host is running."""

    def __init__(self, per_host: int) -> None:
        self.per_host = per_host
        self._limits: dict[str, tuple[asyncio.Semaphore, int]] = {}

    async def run(self, host: str, job: Callable[[], Awaitable[Report]]) -> Report:
        semaphore, users = self._limits.get(host, (asyncio.Semaphore(self.per_host), 0))
        self._limits[host] = (semaphore, users + 1)
        try:
            async with semaphore:
                return await job()
        finally:
            semaphore, users = self._limits[host]
            if users == 1:
                del self._limits[host]
            else:
                self._limits[host] = (semaphore, users - 1)


async def scan(
    endpoints: Iterable[Endpoint],
    options: LiveOptions | None = None,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    per_host: int = DEFAULT_PER_HOST,
    on_report: Callable[[Report], None] | None = None,
    ordered: bool = True,
) -> AsyncIterator[Report]:
    """Check every endpoint; yield the reports in input order, or as they finish."""
    settings = LiveOptions() if options is None else options
    concurrency = fitting_concurrency(concurrency)
    slots = asyncio.Semaphore(concurrency)
    hosts = _HostLimits(per_host)
    window = max(4 * concurrency, 64)

    async def one(endpoint: Endpoint) -> Report:
        async with slots:
            report = await hosts.run(
                endpoint.host, lambda: check_endpoint_async(endpoint, settings)
            )
        if on_report is not None:
            on_report(report)
        return report

    async with contextlib.aclosing(bounded(map(one, endpoints), window, ordered=ordered)) as out:
        async for report in out:
            yield report


def bounded(
    jobs: Iterable[Awaitable[T]], window: int, *, ordered: bool = True
) -> AsyncGenerator[T, None]:
    """The result of each job, in the jobs' order or as they finish, with at most ``window``
    jobs started and not yet handed out: ``jobs`` is advanced (and so started) lazily.
    Closing the generator cancels the jobs still running."""
    return _in_order(jobs, window) if ordered else _as_finished(jobs, window)


async def _in_order(jobs: Iterable[Awaitable[T]], window: int) -> AsyncGenerator[T, None]:
    pending: deque[asyncio.Future[T]] = deque()
    try:
        for job in jobs:  # each job is started as soon as it is taken
            pending.append(asyncio.ensure_future(job))
            if len(pending) >= window:
                yield await pending.popleft()
        while pending:
            yield await pending.popleft()
    finally:
        _abandon(pending)


async def _as_finished(jobs: Iterable[Awaitable[T]], window: int) -> AsyncGenerator[T, None]:
    running: set[asyncio.Future[T]] = set()
    waiting = iter(jobs)
    try:
        while True:
            while len(running) < window:  # each job is started as soon as it is taken
                job = next(waiting, None)
                if job is None:
                    break
                running.add(asyncio.ensure_future(job))
            if not running:
                return
            done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            finished = list(done)
            while finished:
                task = finished.pop()
                if task.exception() is not None:
                    _abandon(finished)
                yield task.result()
    finally:
        _abandon(running)


def _abandon(tasks: Iterable[asyncio.Future[T]]) -> None:
    """Jobs nobody will wait for (the consumer stopped, or one failed): the running ones
    cancelled, the failed ones' errors taken, so asyncio does not print them at exit."""
    for task in tasks:
        if not task.done():
            task.cancel()
        elif not task.cancelled():
            task.exception()
