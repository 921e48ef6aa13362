"""The lab's servers: every port served by one asyncio event loop in one background thread.

TLS is done here over memory BIOs (``ssl.SSLObject``), not by asyncio's SSL transport:
then every connection, half-handshaken or not, is one task the lab owns, which ``stop()``
cancels and whose socket it closes at once. (``Server.close()`` before Python 3.13 leaves
connections still in asyncio's TLS handshake running, to be reported later as unclosed.)

Each connection answers one HTTP/1.x request, with a ``Date`` header from the real clock
(a client may compare it with its own), and closes. Every read and write has a timeout. A
request body is read only up to its ``Content-Length`` (at most ``MAX_REQUEST_BODY``
bytes, no chunked bodies), so that a service's ``handler`` can answer POSTs (OCSP).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import http
import logging
import re
import socket
import ssl
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path
from typing import Protocol, TypeVar

from tlsdoctor.lab.pki import LabError

IO_TIMEOUT = 5.0  # one read or write
CONNECTION_TIMEOUT = 15.0  # a whole connection, however slowly a client trickles bytes
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
READ_SIZE = 16 * 1024
MAX_REQUEST_HEAD = 16 * 1024
MAX_REQUEST_BODY = 64 * 1024  # an OCSP request is about 100 bytes; a signed one a few KiB
TEXT = "text/plain; charset=utf-8"

_log = logging.getLogger(__name__)
_T = TypeVar("_T")


@dataclass(frozen=True)
class HttpRequest:
    """One request as read: ``target`` as sent (``/ocsp/MFEw...``), header names in lower
    case (the last of repeated ones), the body (``Content-Length`` bytes, else empty)."""

    method: str
    target: str
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class HttpReply:
    status: int
    content_type: str
    body: bytes


# Answers a request, or returns None to leave it to the service's files and text. It runs
# on the lab's event loop, so it must be quick and must not block.
Handler = Callable[[HttpRequest], HttpReply | None]


@dataclass(frozen=True)
class Service:
    """What one listening socket serves."""

    name: str
    sock: socket.socket  # bound and listening; the loop owns it once started
    context: ssl.SSLContext | None  # None: plain HTTP
    body: str  # the text every request is answered with
    files: Mapping[str, tuple[str, bytes]] = field(default_factory=dict)  # path: (type, data)
    handler: Handler | None = None  # asked first


def server_context(
    chain_file: Path,
    key_file: Path,
    *,
    legacy: bool = False,
    tls1_0_only: bool = False,
    client_ca_file: Path | None = None,
) -> ssl.SSLContext:
    """A server context sending ``chain_file`` exactly as written: leaf first, then the
    other certificates in file order. (OpenSSL completes a chain from its verify store only
    when the file has none, and no store here holds the issuer of a served leaf.)"""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    if tls1_0_only:
        # The deprecation is the point of this endpoint; only here is it silenced.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = ssl.TLSVersion.TLSv1
            context.maximum_version = ssl.TLSVersion.TLSv1
    if legacy or tls1_0_only:
        # Security level 0. At Python's level 2, OpenSSL 3 refuses to load a leaf with an
        # RSA-1024 key (EE_KEY_TOO_SMALL) or a SHA-1 signature (CA_MD_TOO_WEAK, also at
        # level 1), and a TLS 1.0 server cannot sign its handshake (MD5+SHA-1 or SHA-1):
        # NO_SUITABLE_SIGNATURE_ALGORITHM at levels 1 and 2.
        context.set_ciphers("ALL:@SECLEVEL=0" if tls1_0_only else "DEFAULT:@SECLEVEL=0")
    if client_ca_file is not None:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(cafile=str(client_ca_file))
    context.load_cert_chain(str(chain_file), str(key_file))
    return context


class ServerThread:
    """Every service on one event loop in one daemon thread; ``stop()`` ends them all."""

    def __init__(self, services: Sequence[Service]) -> None:
        self._services = tuple(services)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._connections: set[asyncio.Task[object]] = set()

    def start(self) -> None:
        """Return once every socket is served; raise LabError (all stopped) otherwise."""
        self._thread = threading.Thread(target=self._run, name="tlsdoctor-lab", daemon=True)
        self._thread.start()
        ready = self._ready.wait(START_TIMEOUT)
        error = self._error
        if ready and error is None:
            return
        self.stop()
        if error is not None:
            raise LabError(f"the lab's servers could not start: {error}") from error
        raise LabError(f"the lab's servers did not start within {START_TIMEOUT:g} s")

    def stop(self) -> None:
        """Close every listening socket and connection and join the thread (idempotent)."""
        thread, loop, stopping = self._thread, self._loop, self._stopping
        if thread is not None:
            if loop is not None and stopping is not None:
                with contextlib.suppress(RuntimeError):  # the loop has already ended
                    loop.call_soon_threadsafe(stopping.set)
            thread.join(STOP_TIMEOUT)
            if thread.is_alive():
                raise LabError(f"the lab's server thread did not stop within {STOP_TIMEOUT:g} s")
        for service in self._services:  # those the loop never took over
            service.sock.close()

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported by start(); the thread must end quietly
            self._error = self._error or exc
        finally:
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        servers: list[asyncio.Server] = []
        try:
            for service in self._services:
                handler = functools.partial(self._serve, service)
                servers.append(await asyncio.start_server(handler, sock=service.sock))
        except BaseException as exc:
            self._error = exc
            await self._shutdown(servers)
            return
        self._ready.set()
        try:
            await self._stopping.wait()
        finally:
            await self._shutdown(servers)

    async def _shutdown(self, servers: Sequence[asyncio.Server]) -> None:
        for server in servers:
            server.close()
        tasks = list(self._connections)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for server in servers:
            await server.wait_closed()
        # Aborted transports close their sockets on the next turns of the loop.
        for _ in range(3):
            await asyncio.sleep(0)

    async def _serve(
        self, service: Service, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        try:
            try:
                await asyncio.wait_for(_converse(service, reader, writer), CONNECTION_TIMEOUT)
            except (OSError, asyncio.TimeoutError, EOFError) as exc:
                # Clients that hang up, time out or fail the handshake are the lab's daily
                # bread (several endpoints exist to make handshakes fail).
                _log.debug("lab %s: connection ended: %r", service.name, exc)
            except Exception:
                _log.exception("lab %s: connection failed", service.name)
            writer.close()
            await asyncio.wait_for(writer.wait_closed(), IO_TIMEOUT)
        except (OSError, asyncio.TimeoutError):
            writer.transport.abort()
        except asyncio.CancelledError:
            # stop(): drop the connection now, without waiting for the peer. The task ends
            # normally: this is its top level, and asyncio 3.11's stream callback calls
            # exception() on it, which raises (and logs) for a cancelled task.
            writer.transport.abort()
        finally:
            if task is not None:
                self._connections.discard(task)


class _Stream(Protocol):
    async def read(self) -> bytes: ...

    async def write(self, data: bytes) -> None: ...


class _PlainStream:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    async def read(self) -> bytes:
        return await asyncio.wait_for(self._reader.read(READ_SIZE), IO_TIMEOUT)

    async def write(self, data: bytes) -> None:
        self._writer.write(data)
        await asyncio.wait_for(self._writer.drain(), IO_TIMEOUT)


class _TlsStream:
    """The server side of TLS over memory BIOs, on top of a plain stream."""

    def __init__(self, context: ssl.SSLContext, plain: _PlainStream) -> None:
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._tls = context.wrap_bio(self._incoming, self._outgoing, server_side=True)
        self._plain = plain

    async def handshake(self) -> None:
        await self._run(self._tls.do_handshake)

    async def read(self) -> bytes:
        try:
            return await self._run(lambda: self._tls.read(READ_SIZE))
        except ssl.SSLZeroReturnError:  # the client's close_notify
            return b""

    async def write(self, data: bytes) -> None:
        await self._run(lambda: self._tls.write(data))

    async def close(self) -> None:
        """Send close_notify; the client's is not waited for."""
        with contextlib.suppress(ssl.SSLError):
            self._tls.unwrap()
        await self._flush()

    async def _run(self, operation: Callable[[], _T]) -> _T:
        while True:
            try:
                result = operation()
            except ssl.SSLWantReadError:
                await self._flush()
                data = await self._plain.read()
                if data:
                    self._incoming.write(data)
                elif self._incoming.eof:
                    raise ConnectionAbortedError("the client closed the connection") from None
                else:
                    self._incoming.write_eof()
                continue
            except ssl.SSLError:
                # OpenSSL has queued its alert (certificate_required, protocol_version, ...):
                # send it, so the client learns why, before the connection is closed.
                with contextlib.suppress(OSError, asyncio.TimeoutError):
                    await self._flush()
                raise
            await self._flush()
            return result

    async def _flush(self) -> None:
        data = self._outgoing.read()
        if data:
            await self._plain.write(data)


async def _converse(
    service: Service, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    plain = _PlainStream(reader, writer)
    if service.context is None:
        await _answer(plain, service)
        return
    tls = _TlsStream(service.context, plain)
    await tls.handshake()
    await _answer(tls, service)
    await tls.close()


async def _answer(stream: _Stream, service: Service) -> None:
    """Read one request and answer it; a client that sends nothing gets nothing."""
    data = b""
    while not _complete(data) and len(data) < MAX_REQUEST_HEAD:
        chunk = await stream.read()
        if not chunk:
            break
        data += chunk
    if data:
        await stream.write(await _reply(stream, service, data))


async def _reply(stream: _Stream, service: Service, data: bytes) -> bytes:
    """The answer to a request whose head (and perhaps some of its body) is ``data``."""
    head, complete, body = _split_head(data)
    parts = head.split(b"\n", 1)[0].decode("latin-1").split()
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        return _response(HttpReply(400, TEXT, b"Not HTTP/1.x.\n"))
    method, target = parts[0], parts[1]
    headers = _headers(head)
    if complete:  # a body is read only after a whole head
        if "transfer-encoding" in headers:
            return _response(HttpReply(411, TEXT, b"Send a Content-Length, not chunks.\n"))
        length = headers.get("content-length", "0")
        if not re.fullmatch(r"[0-9]{1,9}", length):
            return _response(HttpReply(400, TEXT, b"Bad Content-Length.\n"))
        size = int(length)
        if size > MAX_REQUEST_BODY:
            return _response(HttpReply(413, TEXT, f"At most {MAX_REQUEST_BODY} bytes.\n".encode()))
        if len(body) < size and headers.get("expect", "").lower() == "100-continue":
            await stream.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        # Each read has its timeout, and the whole connection its own (CONNECTION_TIMEOUT).
        while len(body) < size:
            chunk = await stream.read()
            if not chunk:
                return _response(HttpReply(400, TEXT, b"Body shorter than Content-Length.\n"))
            body += chunk
        body = body[:size]
    else:
        body = b""
    return _response(
        respond(HttpRequest(method, target, headers, body), service),
        head_only=method == "HEAD",
    )


def respond(request: HttpRequest, service: Service) -> HttpReply:
    """The service's handler's answer; else 200 with the service's text (or a published
    file) for GET and HEAD, 405 for other methods."""
    if service.handler is not None:
        try:
            reply = service.handler(request)
        except Exception:
            _log.exception("lab %s: %s %s failed", service.name, request.method, request.target)
            return HttpReply(500, TEXT, b"The lab failed to answer; see its log.\n")
        if reply is not None:
            return reply
    if request.method not in ("GET", "HEAD"):
        return HttpReply(405, TEXT, b"GET or HEAD only.\n")
    content_type, body = service.files.get(request.target, (TEXT, service.body.encode()))
    return HttpReply(200, content_type, body)


def _complete(head: bytes) -> bool:
    """True once ``head`` is a whole request head, or cannot become one.

    A request line is printable ASCII: anything else (a TLS ClientHello starts with 0x16)
    is answered at once with 400, as web servers do, instead of waiting for a blank line
    that never comes. That 400 is how a TLS client recognises a plain-HTTP port.
    """
    if b"\r\n\r\n" in head or b"\n\n" in head:
        return True
    line = head.split(b"\n", 1)[0].rstrip(b"\r")
    return any(byte < 0x20 or byte > 0x7E for byte in line)


def _split_head(data: bytes) -> tuple[bytes, bool, bytes]:
    """(head, whether it is whole, what follows its blank line)."""
    ends = [
        (index, len(mark)) for mark in (b"\r\n\r\n", b"\n\n") if (index := data.find(mark)) >= 0
    ]
    if not ends:
        return data, False, b""
    index, size = min(ends)
    return data[:index], True, data[index + size :]


def _headers(head: bytes) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in head.decode("latin-1").splitlines()[1:]:
        name, colon, value = line.partition(":")
        if colon and name and name == name.strip():
            fields[name.lower()] = value.strip()
    return fields


def _response(reply: HttpReply, *, head_only: bool = False) -> bytes:
    lines = (
        f"HTTP/1.1 {reply.status} {http.HTTPStatus(reply.status).phrase}",
        f"Date: {formatdate(usegmt=True)}",  # RFC 7231 IMF-fixdate, from the real clock
        "Server: tlsdoctor-lab",
        f"Content-Type: {reply.content_type}",
        f"Content-Length: {len(reply.body)}",
        "Connection: close",
    )
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head if head_only else head + reply.body
