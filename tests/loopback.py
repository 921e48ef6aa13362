"""Receivers on loopback for alerts: an SMTP server (aiosmtpd) and a webhook endpoint,
each recording exactly what arrived."""

from __future__ import annotations

import email
import email.policy
import json
import ssl
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from servers import free_port


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    tls: bool
    login: str | None


@dataclass
class Inbox:
    """aiosmtpd handler and authenticator in one: records mail and AUTH attempts."""

    user: str = ""
    password: str = ""
    received: list[Received] = field(default_factory=list)
    auth: list[tuple[str, str, bool]] = field(default_factory=list)  # mechanism, login, ok

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content if isinstance(envelope.content, bytes) else b""
        message = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        data = session.auth_data
        # session.ssl is only set by STARTTLS; implicit TLS shows in the transport.
        transport = server.transport
        implicit = transport is not None and transport.get_extra_info("ssl_object") is not None
        self.received.append(
            Received(
                str(envelope.mail_from),
                list(envelope.rcpt_tos),
                message,
                session.ssl is not None or implicit,
                data.login.decode() if isinstance(data, LoginPassword) else None,
            )
        )
        return "250 OK"

    def __call__(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            self.user.encode(),
            self.password.encode(),
        )
        login = data.login.decode() if isinstance(data, LoginPassword) else "?"
        self.auth.append((mechanism, login, ok))
        return AuthResult(success=ok, handled=False, auth_data=data)


@contextmanager
def smtp_server(
    inbox: Inbox,
    *,
    starttls: ssl.SSLContext | None = None,
    implicit: ssl.SSLContext | None = None,
    auth: bool = False,
    exclude: Sequence[str] = (),
    port: int | None = None,
) -> Iterator[int]:
    port = free_port() if port is None else port
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        server_hostname="mail.test",
        ssl_context=implicit,
        tls_context=starttls,
        require_starttls=starttls is not None,
        # aiosmtpd counts only STARTTLS as TLS for AUTH; on implicit TLS it must be told.
        auth_required=auth and implicit is None,
        auth_require_tls=implicit is None,
        authenticator=inbox if auth else None,
        auth_exclude_mechanism=list(exclude),
        ready_timeout=5.0,
    )
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


@dataclass(frozen=True)
class Request:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@contextmanager
def receiver(
    status: int = 200, reply: bytes = b"ok", delay: float = 0.0
) -> Iterator[tuple[str, list[Request]]]:
    """An HTTP server on 127.0.0.1 that records each POST and answers ``status``."""
    requests: list[Request] = []
    release = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(min(length, 1 << 20))
            requests.append(
                Request(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            )
            if delay:
                release.wait(delay)
            try:
                self.send_response(status)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)
            except OSError:
                pass  # the client gave up first: that is what the slow test wants

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requests
    finally:
        release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)
