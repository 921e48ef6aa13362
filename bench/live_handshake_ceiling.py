"""The ceiling for a Python client: bare asyncio TLS handshakes, no verification, no diagnosis.

Run: python bench/live_handshake_ceiling.py TARGETS [--concurrency 50] [--timeout 10] [--threads]

TARGETS has one target a line, as `tlsdoctor check -f` reads them: `HOST[:PORT] [ADDR]`
(e.g. `site0001.bench.test:18443 127.0.0.1`). For each: connect to ADDR (HOST if absent),
handshake with SNI HOST (check_hostname off, CERT_NONE), take the leaf with
getpeercert(binary_form=True), close. Prints one JSON object: counts and the in-process time.
--threads does the same with blocking sockets in a pool of CONCURRENCY threads (for
comparison: CPython releases the GIL during the handshake, asyncio's SSL runs in one thread).
bench/bench_live.py runs it as a subprocess so it is timed as a process like the contenders.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import socket
import ssl
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def parse_targets(path: Path) -> list[tuple[str, int, str]]:
    targets = []
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        host, _, port = parts[0].rpartition(":") if ":" in parts[0] else (parts[0], "", "443")
        targets.append((host, int(port), parts[1] if len(parts) > 1 else host))
    return targets


async def handshake(
    host: str, port: int, addr: str, ctx: ssl.SSLContext, timeout: float
) -> bytes | None:
    writer = None
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(addr, port, ssl=ctx, server_hostname=host), timeout
        )
        ssl_object = writer.get_extra_info("ssl_object")
        return ssl_object.getpeercert(binary_form=True) if ssl_object else None
    except (OSError, asyncio.TimeoutError, ssl.SSLError):
        return None
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError, asyncio.TimeoutError, ssl.SSLError):
                await asyncio.wait_for(writer.wait_closed(), timeout)


async def run(
    targets: list[tuple[str, int, str]], concurrency: int, timeout: float
) -> tuple[int, int, set[bytes]]:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    semaphore = asyncio.Semaphore(concurrency)
    leaves: set[bytes] = set()
    counts = {"ok": 0, "failed": 0}

    async def one(host: str, port: int, addr: str) -> None:
        try:
            der = await handshake(host, port, addr, ctx, timeout)
        finally:
            semaphore.release()
        if der is None:
            counts["failed"] += 1
        else:
            counts["ok"] += 1
            leaves.add(hashlib.sha256(der).digest())

    # A task is made only when the semaphore lets it run: memory stays bounded by the
    # concurrency, not by the number of targets (10,000 in the memory benchmark).
    running: set[asyncio.Task[None]] = set()
    for target in targets:
        await semaphore.acquire()
        task = asyncio.create_task(one(*target))
        running.add(task)
        task.add_done_callback(running.discard)
    await asyncio.gather(*running)
    return counts["ok"], counts["failed"], leaves


def run_threads(
    targets: list[tuple[str, int, str]], concurrency: int, timeout: float
) -> tuple[int, int, set[bytes]]:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE

    def one(target: tuple[str, int, str]) -> bytes | None:
        host, port, addr = target
        try:
            with (
                socket.create_connection((addr, port), timeout=timeout) as raw,
                ctx.wrap_socket(raw, server_hostname=host) as tls,
            ):
                der = tls.getpeercert(binary_form=True)
        except (OSError, ssl.SSLError):
            return None
        return hashlib.sha256(der).digest() if der else None

    with ThreadPoolExecutor(concurrency) as pool:
        digests = list(pool.map(one, targets))
    leaves = {digest for digest in digests if digest is not None}
    ok = sum(digest is not None for digest in digests)
    return ok, len(digests) - ok, leaves


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("targets", type=Path)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--timeout", type=float, default=10.0, help="per connection, seconds")
    parser.add_argument("--threads", action="store_true", help="blocking sockets in threads")
    args = parser.parse_args()
    targets = parse_targets(args.targets)
    start = time.perf_counter()
    if args.threads:
        ok, failed, leaves = run_threads(targets, args.concurrency, args.timeout)
    else:
        ok, failed, leaves = asyncio.run(run(targets, args.concurrency, args.timeout))
    seconds = time.perf_counter() - start
    summary = {
        "targets": len(targets),
        "ok": ok,
        "failed": failed,
        "distinct_leaves": len(leaves),
        "seconds": round(seconds, 4),
    }
    print(json.dumps(summary))
    sys.exit(0 if failed == 0 else 1)


if __name__ == "__main__":
    main()
