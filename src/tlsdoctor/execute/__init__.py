"""Execution of many checks: one interface, two back ends.

:class:`InProcess` runs the async scanner (:func:`tlsdoctor.scan.scan`) in this process.
:class:`~tlsdoctor.execute.cluster.DaskExecutor` sends chunks of targets to Dask distributed
workers (a ``LocalCluster`` of processes for ``--workers``, an existing scheduler for
``--cluster``), each of which runs that same scanner on its chunk
(:func:`tlsdoctor.execute.chunk.run_chunk`). Either way the reports come back to the calling
process, which alone prints, stores and raises alerts.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Protocol

from tlsdoctor.errors import InputError, TlsDoctorError
from tlsdoctor.live import LiveOptions
from tlsdoctor.models import Report
from tlsdoctor.probe.targets import Endpoint
from tlsdoctor.scan import DEFAULT_CONCURRENCY, scan

DEFAULT_CHUNK = 100  # targets per task sent to a worker
MAX_WORKERS = 512


class ClusterError(TlsDoctorError):
    """The Dask scheduler cannot be reached, went away, or a chunk cannot be run."""


class Executor(Protocol):
    """Runs checks of many endpoints and hands their reports back in this process."""

    def reports(
        self,
        endpoints: Iterable[Endpoint],
        options: LiveOptions,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        ordered: bool = True,
        on_report: Callable[[Report], None] | None = None,
    ) -> AsyncIterator[Report]:
        """Every endpoint's report, in input order (or as they finish when not
        ``ordered``); ``on_report`` is called in this process as each one arrives."""
        ...


class InProcess:
    """The async scanner, in this process: one core."""

    def reports(
        self,
        endpoints: Iterable[Endpoint],
        options: LiveOptions,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        ordered: bool = True,
        on_report: Callable[[Report], None] | None = None,
    ) -> AsyncIterator[Report]:
        return scan(
            endpoints, options, concurrency=concurrency, on_report=on_report, ordered=ordered
        )


def parse_workers(text: str) -> int:
    """``--workers``: a number of processes, or ``auto`` for one per core this process may
    use."""
    if text.strip().lower() == "auto":
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except AttributeError:  # not on macOS or Windows
            return max(1, os.cpu_count() or 1)
    if not text.strip().isdigit() or not 1 <= int(text) <= MAX_WORKERS:
        raise InputError(f"--workers '{text}': give a number from 1 to {MAX_WORKERS}, or 'auto'")
    return int(text)


@contextlib.contextmanager
def open_executor(
    workers: int | None = None, cluster: str | None = None, chunk_size: int = DEFAULT_CHUNK
) -> Iterator[Executor]:
    """The executor the options ask for: in this process (neither), ``workers`` local
    processes, or the Dask scheduler at ``cluster``; closed (and local workers stopped)
    on the way out."""
    if workers is not None and cluster is not None:
        raise InputError("give either --workers or --cluster, not both")
    if workers is None and cluster is None:
        yield InProcess()
        return
    from tlsdoctor.execute.cluster import dask_executor

    with dask_executor(workers, cluster, chunk_size) as executor:
        yield executor
