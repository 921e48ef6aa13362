"""The Dask distributed back end: chunks of targets to workers, reports streamed back.

Targets are read lazily and cut into chunks; at most two chunks per worker thread are out
at once (one running, one waiting), so the client's memory is bounded by that window
however long the list. A worker that dies takes its chunk with it: the scheduler runs the
chunk again on another worker, and since a chunk's reports come back once, as one result,
every target is reported exactly once. A scheduler that cannot be reached, or goes away,
ends the run with one :class:`ClusterError`; what was printed before stays printed.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib
import itertools
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tlsdoctor.errors import TlsDoctorError
from tlsdoctor.execute import ClusterError
from tlsdoctor.execute.chunk import Chunk, VersionMismatch, run_chunk
from tlsdoctor.live import LiveOptions
from tlsdoctor.models import Report
from tlsdoctor.probe.targets import Endpoint
from tlsdoctor.render.safe import safe_text
from tlsdoctor.scan import DEFAULT_CONCURRENCY, bounded

# Dask's own objects (Client, Future, LocalCluster) carry no type hints: ``Any`` here.
Client = Any
DaskFuture = Any

CONNECT_TIMEOUT = 10.0  # seconds to reach the scheduler and to see a first worker
CHUNKS_PER_THREAD = 2  # chunks out per worker thread: one running, one ready to start
WORKER_POLL = 5.0  # seconds between looks at whether any worker is left
NO_WORKER_LIMIT = 30.0  # seconds without a worker before the scan gives up


def quiet_dask() -> None:
    """Dask's own logging and warnings never reach the user's terminal: what matters
    comes back as one sentence (a ClusterError)."""
    import distributed  # noqa: F401 - its import sets up the loggers silenced here

    for name in ("distributed", "tornado", "asyncio.distributed", "bokeh"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    for name in list(logging.root.manager.loggerDict):
        if name.startswith("distributed."):
            logging.getLogger(name).setLevel(logging.CRITICAL)


class DaskExecutor:
    """Runs :func:`~tlsdoctor.execute.chunk.run_chunk` on a Dask cluster's workers."""

    def __init__(self, client: Client, where: str, chunk_size: int) -> None:
        self.client = client
        self.where = where  # "the Dask scheduler at ...", for messages
        self.chunk_size = chunk_size

    def threads(self) -> int:
        workers = self.client.scheduler_info().get("workers", {})
        return max(1, sum(int(w.get("nthreads", 1)) for w in workers.values()))

    async def reports(
        self,
        endpoints: Iterable[Endpoint],
        options: LiveOptions,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        ordered: bool = True,
        on_report: Callable[[Report], None] | None = None,
    ) -> AsyncIterator[Report]:
        loop = asyncio.get_running_loop()
        run = uuid.uuid4().hex[:12]
        window = CHUNKS_PER_THREAD * self.threads()
        template = Chunk.of((), options, concurrency)  # anchors made portable once

        async def job(number: int, chunk: tuple[Endpoint, ...]) -> list[Report]:
            settled: asyncio.Future[list[Report]] = loop.create_future()
            future: DaskFuture = self.client.submit(
                run_chunk,
                dataclasses.replace(template, endpoints=chunk),
                key=f"tlsdoctor-{run}-{number}",
                priority=-number,  # earlier chunks first: input order costs no waiting
                pure=False,
            )
            future.add_done_callback(lambda done: self._settle(loop, settled, done, chunk))
            try:
                reports = await self._while_workers_remain(settled)
            finally:
                settled.cancel()  # given up (an error elsewhere): a late outcome is dropped
                future.release()
            if on_report is not None:
                for report in reports:
                    on_report(report)
            return reports

        jobs = itertools.starmap(job, enumerate(_chunks(endpoints, self.chunk_size)))
        async with contextlib.aclosing(bounded(jobs, window, ordered=ordered)) as results:
            async for reports in results:
                for report in reports:
                    yield report

    async def _while_workers_remain(self, settled: asyncio.Future[list[Report]]) -> list[Report]:
        """The chunk's reports; a ClusterError once the scheduler has had no worker for
        ``NO_WORKER_LIMIT`` seconds (all killed, none started): its tasks would wait for
        ever, and a scan must end by itself."""
        loop = asyncio.get_running_loop()
        alone_since: float | None = None
        while True:
            # asyncio.wait, not wait_for: on Python < 3.12 wait_for can swallow a Ctrl-C
            # (a cancellation) that arrives as the chunk completes.
            done, _ = await asyncio.wait({settled}, timeout=WORKER_POLL)
            if done:
                return settled.result()
            if self.client.scheduler_info().get("workers"):  # refreshed every 2 s
                alone_since = None
            elif alone_since is None:
                alone_since = loop.time()
            elif loop.time() - alone_since > NO_WORKER_LIMIT:
                raise ClusterError(
                    f"{self.where} has had no worker for "
                    f"{NO_WORKER_LIMIT:.0f} s: stopped; the reports printed stand"
                )

    def _settle(
        self,
        loop: asyncio.AbstractEventLoop,
        settled: asyncio.Future[list[Report]],
        done: DaskFuture,
        chunk: tuple[Endpoint, ...],
    ) -> None:
        """In Dask's callback thread: the chunk's reports, or why there are none, handed
        to the event loop."""
        outcome: list[Report] | BaseException
        try:
            outcome = self._outcome(done, chunk)
        except BaseException as exc:  # delivered to the loop, raised there
            outcome = exc

        def deliver() -> None:
            if settled.done():
                return
            if isinstance(outcome, BaseException):
                settled.set_exception(outcome)
            else:
                settled.set_result(outcome)

        with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits any more
            loop.call_soon_threadsafe(deliver)

    def _outcome(self, done: DaskFuture, chunk: tuple[Endpoint, ...]) -> list[Report]:
        from distributed import KilledWorker

        where = self.where
        if done.status == "cancelled":
            raise ClusterError(f"lost the connection to {where}; the reports printed stand")
        try:
            result = done.result(timeout=CONNECT_TIMEOUT)
        except KilledWorker as exc:
            raise ClusterError(
                f"{len(chunk)} targets from {chunk[0]} on were running each time a worker "
                f"of {where} died, three times: stopped ({safe_text(exc, 200)})"
            ) from exc
        except VersionMismatch as exc:
            raise ClusterError(f"a worker of {where}: {exc}") from exc
        except (OSError, TimeoutError) as exc:
            raise ClusterError(f"lost the connection to {where} ({exc})") from exc
        except TlsDoctorError:
            raise
        except Exception as exc:
            kind = type(exc).__name__
            raise ClusterError(
                f"a worker of {where} failed on {len(chunk)} targets from {chunk[0]} on "
                f"({kind}: {safe_text(exc, 200)})"
            ) from exc
        if not isinstance(result, list):
            raise ClusterError(f"a worker of {where} answered with something else than reports")
        return result


def _chunks(endpoints: Iterable[Endpoint], size: int) -> Iterator[tuple[Endpoint, ...]]:
    iterator = iter(endpoints)
    while chunk := tuple(itertools.islice(iterator, size)):
        yield chunk


@contextlib.contextmanager
def dask_executor(
    workers: int | None, cluster: str | None, chunk_size: int
) -> Iterator[DaskExecutor]:
    """A :class:`DaskExecutor` on ``workers`` local processes or on the
    scheduler at ``cluster``; closed on the way out."""
    quiet_dask()
    with contextlib.ExitStack() as stack, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Dask's warnings are not the user's business
        if cluster is not None:
            client = stack.enter_context(_connect(cluster))
            where = f"the Dask scheduler at {safe_text(cluster, 200)}"
            yield DaskExecutor(client, where, chunk_size)
        else:
            client = stack.enter_context(_local_processes(workers or 1))
            yield DaskExecutor(client, "the local Dask scheduler of --workers", chunk_size)


@contextlib.contextmanager
def _connect(address: str) -> Iterator[Client]:
    dask: Any = importlib.import_module("distributed")
    where = f"the Dask scheduler at {safe_text(address, 200)}"
    _check_address(address, where)
    try:
        client: Client = dask.Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise ClusterError(f"cannot reach {where} ({_reason(exc)})") from exc
    except ValueError as exc:
        raise ClusterError(f"{where}: {NOT_AN_ADDRESS} ({_reason(exc)})") from exc
    try:
        try:
            client.wait_for_workers(1, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as exc:
            raise ClusterError(f"{where} has no worker (start one: dask worker {address})") from exc
        yield client
    finally:
        _close(client)


@contextlib.contextmanager
def _local_processes(workers: int) -> Iterator[Client]:
    """A Dask scheduler and ``workers`` worker processes on 127.0.0.1, started here as
    `dask scheduler` and `dask worker` are by an operator, and stopped on the way out.

    Not a LocalCluster: its scheduler and nannies live in this process, where they fight
    the printing of reports for the GIL; measured, that made --workers 2 2.2-3.9 x slower
    than the same two workers under their own scheduler at 10,000 targets (docs/scale.md).
    """
    with tempfile.TemporaryDirectory(prefix="tlsdoctor-dask-") as folder:
        address_file = Path(folder) / "scheduler.json"
        dask = [sys.executable, "-m", "dask"]
        local = ["--host", "127.0.0.1", "--no-dashboard"]
        env = {**os.environ, "DASK_LOGGING__DISTRIBUTED": "error"}
        if sys.platform.startswith("linux"):  # a worker forked from its nanny starts at once
            env.setdefault(START_METHOD_VARIABLE, "fork")
        started: list[subprocess.Popen[bytes]] = []
        try:
            for argv in (
                [*dask, "scheduler", *local, "--port", "0", "--scheduler-file", str(address_file)],
                [*dask, "worker", *local, "--scheduler-file", str(address_file), *each(workers)],
            ):
                started.append(
                    subprocess.Popen(
                        argv,
                        stdin=subprocess.DEVNULL,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                        env=env,
                        start_new_session=True,  # Ctrl-C reaches us; we stop them
                        preexec_fn=_die_with_parent,  # one prctl, then exec
                    )
                )
            address = _scheduler_address(address_file, started)
            distributed: Any = importlib.import_module("distributed")
            client: Client = distributed.Client(
                address, timeout=CONNECT_TIMEOUT, set_as_default=False
            )
            try:
                client.wait_for_workers(workers, timeout=START_TIMEOUT)
            except (OSError, TimeoutError) as exc:
                _close(client)
                raise ClusterError(f"{workers} local workers did not start") from exc
            try:
                yield client
            finally:
                with contextlib.suppress(Exception):
                    client.shutdown()  # the scheduler and workers exit together, at once
                _close(client)
        finally:
            _stop(started)


START_TIMEOUT = 60.0  # seconds for local worker processes to start on a loaded machine
STOP_TIMEOUT = 0.5  # seconds for one to stop by itself before it is killed


def each(workers: int) -> list[str]:
    """`dask worker` options: ``workers`` processes of one thread (one chunk at a time: the
    scanner's own concurrency fills the process), no memory limit (a check holds little)."""
    return ["--nworkers", str(workers), "--nthreads", "1", "--memory-limit", "0"]


def _die_with_parent() -> None:
    """In the child, before exec: on Linux, SIGTERM when tlsdoctor dies (killed, or ended
    by a timeout), so no scheduler or worker of --workers outlives the run that started
    it; a nanny's forked workers follow their nanny."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _scheduler_address(address_file: Path, started: list[subprocess.Popen[bytes]]) -> str:
    end = time.monotonic() + START_TIMEOUT
    while time.monotonic() < end and started[0].poll() is None:
        with contextlib.suppress(OSError, ValueError, KeyError):
            return str(json.loads(address_file.read_text())["address"])
        time.sleep(0.05)
    raise ClusterError("the local Dask scheduler did not start")


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    """What did not exit with the scheduler: SIGTERM, then SIGKILL to each one's process
    group, which also holds the workers a nanny forked (they would outlive it by seconds);
    they hold nothing that needs saving."""
    for process in reversed(processes):
        with contextlib.suppress(OSError):
            process.terminate()
    for process in reversed(processes):
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=STOP_TIMEOUT)
        with contextlib.suppress(OSError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=CONNECT_TIMEOUT)


NOT_AN_ADDRESS = "not an address like tcp://HOST:8786"
SCHEMES = ("tcp", "tls", "ws", "wss", "ucx")  # what distributed's comm layer speaks


def _check_address(address: str, where: str) -> None:
    """Refuse what no scheduler could be at before Dask tries (and, failing, leaves a
    half-made client that prints a traceback at exit)."""
    try:
        parts = urlsplit(address)
        port = parts.port
    except ValueError as exc:
        raise ClusterError(f"{where}: {NOT_AN_ADDRESS} ({_reason(exc)})") from exc
    if parts.scheme not in SCHEMES or not parts.hostname or port is None:
        raise ClusterError(f"{where}: {NOT_AN_ADDRESS}, with one of {', '.join(SCHEMES)}")


# The variable Dask reads for how a nanny starts its worker: an operator's choice wins.
START_METHOD_VARIABLE = "DASK_DISTRIBUTED__WORKER__MULTIPROCESSING_METHOD"


def _close(client: Any) -> None:
    with contextlib.suppress(Exception):
        client.close(timeout=2)


def _reason(exc: BaseException) -> str:
    return safe_text(str(exc).splitlines()[0] if str(exc) else type(exc).__name__, 200)
