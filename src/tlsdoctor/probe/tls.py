"""One TLS handshake with verification off, recording what the server presented and said.

The context offers every protocol version and cipher OpenSSL still has (TLS 1.0-1.3,
``@SECLEVEL=0``), so the handshake completes with servers no current client accepts and
the report can say exactly what they speak; judging is left to the analysis. OpenSSL's
message callback records a CertificateRequest and any alert the server sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import email.utils
import enum
import ssl
import warnings
from dataclasses import dataclass, field
from typing import Any

HTTP_ANSWER_LIMIT = 16384
_CERTIFICATE_REQUEST = 13
_ALERT = 21


class ClientProfile(str, enum.Enum):
    """Which client the handshake imitates."""

    WIDE = "wide"  # everything OpenSSL can still do: what the server speaks
    MODERN = "modern"  # what current clients offer (OpenSSL's defaults, TLS 1.2+)


@dataclass(frozen=True)
class HttpAnswer:
    """The head of the server's answer to one HTTP request."""

    status: str | None
    date: dt.datetime | None
    server: str | None


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

    @property
    def completed(self) -> bool:
        return self.error is None


@dataclass
class _Recorder:
    certificate_requested: bool = False
    alerts: list[str] = field(default_factory=list)

    def __call__(
        self, conn: Any, direction: str, version: Any, content_type: Any, msg_type: Any, data: Any
    ) -> None:
        if direction != "read":
            return
        if content_type == ssl._TLSContentType.HANDSHAKE and msg_type == _CERTIFICATE_REQUEST:  # type: ignore[attr-defined]
            self.certificate_requested = True
        elif content_type == _ALERT and hasattr(msg_type, "name"):
            self.alerts.append(str(msg_type.name))


def make_context(
    profile: ClientProfile,
    alpn: bool,
    maximum: ssl.TLSVersion | None = None,
    minimum: ssl.TLSVersion | None = None,
) -> tuple[ssl.SSLContext, _Recorder]:
    """A client context that verifies nothing (tlsdoctor judges) and records messages."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if profile is ClientProfile.WIDE:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # TLSv1 is the point here
            context.minimum_version = ssl.TLSVersion.TLSv1
        context.set_ciphers("ALL:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        if minimum is not None:
            context.minimum_version = minimum
        if maximum is not None:
            context.maximum_version = maximum
    if alpn:
        context.set_alpn_protocols(["http/1.1"])
    recorder = _Recorder()
    # A private hook, but the only way the standard library exposes handshake messages.
    context._msg_callback = recorder  # type: ignore[attr-defined]
    return context, recorder


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
    if "date" in headers:
        with contextlib.suppress(TypeError, ValueError, IndexError):
            date = email.utils.parsedate_to_datetime(headers["date"])
            if date.tzinfo is None:
                date = date.replace(tzinfo=dt.timezone.utc)
    status = lines[0].split(" ", 1)[1] if " " in lines[0] else None
    return HttpAnswer(status=status, date=date, server=headers.get("server"))


async def close(writer: asyncio.StreamWriter) -> None:
    """Close without waiting long for a peer that does not answer close_notify."""
    writer.close()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(writer.wait_closed(), 0.5)
