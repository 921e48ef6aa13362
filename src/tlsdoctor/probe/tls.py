"""One TLS handshake with verification off, recording what the server presented and said.

The context offers every protocol version and cipher OpenSSL still has (TLS 1.0-1.3,
``@SECLEVEL=0``), so the handshake completes with servers no current client accepts and
the report can say exactly what they speak; judging is left to the analysis. OpenSSL's
message callback records a CertificateRequest and any alert the server sends.
"""

from __future__ import annotations

import _ssl
import asyncio
import contextlib
import datetime as dt
import email.utils
import enum
import functools
import ssl
import warnings
import weakref
from dataclasses import dataclass, field
from typing import Any

HTTP_ANSWER_LIMIT = 16384
DATE_TEXT_LIMIT = 64  # a Date header is 29 characters; more is kept for the note only
_HANDSHAKE = 22  # TLS record content types and handshake message type (RFC 8446)
_ALERT = 21
_CERTIFICATE_REQUEST = 13
_MESSAGES_KEPT = 32  # a handshake has a dozen messages (and alerts); a hostile server no more


class ClientProfile(str, enum.Enum):
    """Which client the handshake imitates."""

    WIDE = "wide"  # everything OpenSSL can still do: what the server speaks
    MODERN = "modern"  # what current clients offer (OpenSSL's defaults, TLS 1.2+)


@dataclass(frozen=True)
class HttpAnswer:
    """The head of the server's answer to one HTTP request."""

    status: str | None
    date: dt.datetime | None  # in UTC; None when absent or not a date
    server: str | None
    date_text: str | None = None  # the Date header as sent (printable, bounded)


@dataclass(frozen=True)
class Handshake:
    """What one handshake saw. ``error`` is set (and ``chain`` empty) when it failed."""

    chain: tuple[bytes, ...] = ()
    version: str | None = None
    cipher: str | None = None
    alpn: str | None = None
    certificate_requested: bool = False
    alert: str | None = None  # the alert the server sent, as OpenSSL names it
    error: str | None = None  # the SSL error reason when the handshake failed
    http: HttpAnswer | None = None
    aborted_after_handshake: bool = False  # closed/alerted before answering (TLS 1.3 mTLS)
    alert_after_handshake: str | None = None  # a fatal alert once the handshake was done
    recorded: bool = True  # False: failed on a shared context, the server's words unknown
    # The handshake messages the server sent (their RFC 8446 type numbers, in order): a
    # failure after a ServerHello is a broken TLS server, not a port that speaks no TLS.
    server_messages: tuple[int, ...] = ()

    @property
    def completed(self) -> bool:
        return self.error is None


@dataclass
class Recorder:
    """What the server said during one handshake, as OpenSSL's message callback saw it."""

    certificate_requested: bool = False
    alerts: list[str] = field(default_factory=list)
    messages: list[int] = field(default_factory=list)  # handshake message types read

    def note(self, direction: str, content_type: int, msg_type: int) -> None:
        if direction != "read":
            return
        if content_type == _HANDSHAKE:
            if len(self.messages) < _MESSAGES_KEPT:
                self.messages.append(msg_type)
            if msg_type == _CERTIFICATE_REQUEST:
                self.certificate_requested = True
        elif content_type == _ALERT and len(self.alerts) < _MESSAGES_KEPT:
            try:
                self.alerts.append(ssl._TLSAlertType(msg_type).name)  # type: ignore[attr-defined]
            except ValueError:
                self.alerts.append(f"ALERT_{msg_type}")


# Recorders of the connections made with the shared contexts, by their SSLObject (which
# the callback receives as its first argument); entries vanish with their connections.
_RECORDERS: weakref.WeakKeyDictionary[Any, Recorder] = weakref.WeakKeyDictionary()


def _shared_callback(
    conn: Any, direction: str, version: int, content_type: int, msg_type: int, data: bytes
) -> None:
    if direction == "read" and content_type in (_HANDSHAKE, _ALERT):
        recorder = _RECORDERS.get(conn)
        if recorder is None:
            recorder = _RECORDERS[conn] = Recorder()
        recorder.note(direction, content_type, msg_type)


def recorder_of(ssl_object: Any) -> Recorder:
    """What the server said on a connection made with :func:`make_context`, kept up to
    date for as long as the connection lives (an alert after the handshake lands in it)."""
    if ssl_object is None:
        return Recorder()
    recorder = _RECORDERS.get(ssl_object)
    if recorder is None:
        recorder = _RECORDERS[ssl_object] = Recorder()
    return recorder


def _set_callback(context: ssl.SSLContext, callback: Any) -> None:
    # The C-level hook: ssl.SSLContext's own property wraps every call to turn its
    # numbers into enums, which costs more than the rest of a handshake's Python work.
    # Both are private (the only way the standard library exposes handshake messages).
    try:
        _ssl._SSLContext._msg_callback.__set__(context, callback)  # type: ignore[attr-defined]
    except (AttributeError, TypeError):
        context._msg_callback = callback  # type: ignore[attr-defined]


def make_context(
    profile: ClientProfile,
    alpn: bool,
    maximum: ssl.TLSVersion | None = None,
    minimum: ssl.TLSVersion | None = None,
    dedicated: bool = False,
) -> tuple[ssl.SSLContext, Recorder | None]:
    """A client context that verifies nothing (tlsdoctor judges) and records what the
    server says in the handshake.

    Shared contexts (the default; making one costs more than a handshake's Python work)
    record per connection, found after a successful handshake by :func:`recorder_of`; a
    failed handshake leaves no connection to ask, so it is repeated with a ``dedicated``
    context whose recorder is returned with it.
    """
    if not dedicated:
        return _shared_context(profile, alpn, maximum, minimum), None
    context = _new_context(profile, alpn, maximum, minimum)
    recorder = Recorder()
    _set_callback(
        context,
        lambda conn, direction, version, content_type, msg_type, data: recorder.note(
            direction, content_type, msg_type
        ),
    )
    return context, recorder


@functools.lru_cache(maxsize=32)
def _shared_context(
    profile: ClientProfile,
    alpn: bool,
    maximum: ssl.TLSVersion | None,
    minimum: ssl.TLSVersion | None,
) -> ssl.SSLContext:
    context = _new_context(profile, alpn, maximum, minimum)
    _set_callback(context, _shared_callback)
    return context


def _new_context(
    profile: ClientProfile,
    alpn: bool,
    maximum: ssl.TLSVersion | None,
    minimum: ssl.TLSVersion | None,
) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLSv1 is the point here
        if profile is ClientProfile.WIDE:
            context.minimum_version = ssl.TLSVersion.TLSv1
            context.set_ciphers("ALL:@SECLEVEL=0")
        if minimum is not None:
            context.minimum_version = minimum
        if maximum is not None:
            context.maximum_version = maximum
    if alpn:
        context.set_alpn_protocols(["http/1.1"])
    return context


async def start_tls(
    writer: asyncio.StreamWriter, context: ssl.SSLContext, server_hostname: str | None
) -> None:
    """Upgrade an open stream to TLS (``StreamWriter.start_tls`` exists from 3.11)."""
    if hasattr(writer, "start_tls"):
        await writer.start_tls(context, server_hostname=server_hostname)
        return
    # Python 3.10: what StreamWriter.start_tls does in 3.11, by hand.
    loop = asyncio.get_running_loop()
    protocol = writer.transport.get_protocol()
    transport = await loop.start_tls(
        writer.transport, protocol, context, server_hostname=server_hostname
    )
    writer._transport = transport  # type: ignore[attr-defined]
    protocol._transport = transport  # type: ignore[attr-defined]
    protocol._over_ssl = True  # type: ignore[attr-defined]


def presented_chain(writer: asyncio.StreamWriter) -> tuple[bytes, ...]:
    """The certificates exactly as the server sent them, as DER."""
    ssl_object = writer.get_extra_info("ssl_object")
    if ssl_object is None:
        return ()
    getter = getattr(ssl_object, "get_unverified_chain", None)  # Python 3.13+
    if getter is None:
        getter = getattr(getattr(ssl_object, "_sslobj", None), "get_unverified_chain", None)
    chain = getter() if getter is not None else None
    if not chain:
        der = ssl_object.getpeercert(binary_form=True)
        return (der,) if der else ()
    return tuple(
        item if isinstance(item, bytes) else item.public_bytes(ssl._ssl.ENCODING_DER)  # type: ignore[attr-defined]
        for item in chain
    )


async def ask_http(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, wait: float
) -> HttpAnswer | None:
    """One request: the status, the server's clock (``Date``) and software. GET, not HEAD:
    some servers (openssl s_server -www among them) answer nothing else; only the head of
    the answer is read."""
    writer.write(
        f"GET / HTTP/1.1\r\nHost: {host}\r\nUser-Agent: tlsdoctor\r\n"
        "Accept: */*\r\nConnection: close\r\n\r\n".encode("ascii", "replace")
    )
    data = b""
    while b"\r\n\r\n" not in data and len(data) < HTTP_ANSWER_LIMIT:
        chunk = await asyncio.wait_for(reader.read(4096), wait)
        if not chunk:
            break
        data += chunk
    if not data:
        return None
    return parse_http_head(data)


def parse_http_head(data: bytes) -> HttpAnswer | None:
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    lines = head.split("\r\n")
    if not lines[0].startswith("HTTP/"):
        return None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), value.strip())
    date = None
    date_text = None
    if "date" in headers:
        date_text = "".join(
            c if c.isprintable() else "?" for c in headers["date"][:DATE_TEXT_LIMIT]
        )
        # A hostile or broken server sends anything: year 9999 with a -2359 offset is past
        # what datetime holds once in UTC (OverflowError), '+9999' is no offset at all.
        with contextlib.suppress(TypeError, ValueError, IndexError, OverflowError):
            parsed = email.utils.parsedate_to_datetime(headers["date"])
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=dt.timezone.utc)
            date = parsed.astimezone(dt.timezone.utc)
    status = lines[0].split(" ", 1)[1] if " " in lines[0] else None
    return HttpAnswer(status=status, date=date, server=headers.get("server"), date_text=date_text)


async def close(writer: asyncio.StreamWriter) -> None:
    """Close without waiting long for a peer that does not answer close_notify."""
    writer.close()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(writer.wait_closed(), 0.5)
