"""A loopback HTTP server for AIA, CRL and OCSP tests, with routes that misbehave on
purpose: slow, endless, redirect loops, garbage."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

# A route answers (status, headers, body chunks) for the request body it is given.
Route = Callable[[bytes], tuple[int, dict[str, str], Iterator[bytes]]]


def static(body: bytes, content_type: str = "application/octet-stream") -> Route:
    return lambda _: (
        200,
        {"Content-Type": content_type, "Content-Length": str(len(body))},
        iter([body]),
    )


def redirect(location: str) -> Route:
    return lambda _: (302, {"Location": location, "Content-Length": "0"}, iter([]))


def slow(seconds: float, body: bytes = b"late") -> Route:
    def route(_: bytes) -> tuple[int, dict[str, str], Iterator[bytes]]:
        time.sleep(seconds)
        return 200, {"Content-Length": str(len(body))}, iter([body])

    return route


def endless(limit_bytes: int = 1 << 30) -> Route:
    """A body of up to 1 GiB, streamed without a Content-Length (the client must cut it)."""

    def chunks() -> Iterator[bytes]:
        sent = 0
        block = b"\0" * 65536
        while sent < limit_bytes:
            sent += len(block)
            yield block

    return lambda _: (200, {}, chunks())


def answer(handler: Callable[[bytes], bytes], content_type: str) -> Route:
    def route(body: bytes) -> tuple[int, dict[str, str], Iterator[bytes]]:
        data = handler(body)
        return 200, {"Content-Type": content_type, "Content-Length": str(len(data))}, iter([data])

    return route


class _Handler(BaseHTTPRequestHandler):
    # Replaced per server by serving(): each server gets its own class with its own dicts.
    routes: ClassVar[dict[str, Route]] = {}
    hits: ClassVar[list[str]] = []

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _serve(self, body: bytes) -> None:
        self.hits.append(self.path)
        route = self.routes.get(self.path)
        if route is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        status, headers, chunks = route(body)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if "Content-Length" not in headers:
            self.send_header("Connection", "close")
        self.end_headers()
        try:
            for chunk in chunks:
                self.wfile.write(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_GET(self) -> None:
        self._serve(b"")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self._serve(self.rfile.read(min(length, 1 << 20)))


@dataclass
class Site:
    """A running server: its base URL, its routes (add to them at will), the paths hit."""

    base: str
    routes: dict[str, Route]
    hits: list[str]


@contextmanager
def serving() -> Iterator[Site]:
    """An HTTP server on 127.0.0.1 with no routes yet."""
    # Replaced per server by serving(): each server gets its own class with its own dicts.
    routes: ClassVar[dict[str, Route]] = {}
    hits: ClassVar[list[str]] = []
    handler = type("Handler", (_Handler,), {"routes": routes, "hits": hits})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield Site(f"http://127.0.0.1:{server.server_address[1]}", routes, hits)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
