"""Probing one endpoint: resolve, connect, STARTTLS, handshake, ask for the time.

:func:`probe` is the one handshake every check makes. The ``probe_*`` functions are the
extra handshakes the analysis asks for only when they add information (no SNI, a modern
client, one protocol version at a time).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import re
import socket
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass

from tlsdoctor.errors import ConnectionReset, NotTls, ProbeError
from tlsdoctor.probe.failures import NOT_TLS_REASONS, translate
from tlsdoctor.probe.sniff import identify
from tlsdoctor.probe.starttls import PREAMBLES
from tlsdoctor.probe.targets import Endpoint
from tlsdoctor.probe.tls import (
    ClientProfile,
    Handshake,
    ask_http,
    close,
    make_context,
    presented_chain,
    recorder_of,
    start_tls,
)

# After the handshake, how long a TLS 1.3 server that requested a certificate has to
# abort before we take it that the certificate was optional.
CERTIFICATE_ABORT_WAIT = 1.0
_CLOSE_NOTIFY = "CLOSE_NOTIFY"  # as the Recorder names alerts


@dataclass(frozen=True)
class ProbeResult:
    """Everything the network said about one endpoint."""

    endpoint: Endpoint
    addresses: tuple[str, ...]  # every address the name resolved to
    address: str  # the one the handshake used
    sni: str | None
    handshake: Handshake
    seconds: float


class Deadline:
    """One time budget for a whole check: every step gets what is left of it."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return max(0.01, self.end - time.monotonic())


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


async def resolve(
    endpoint: Endpoint, deadline: Deadline, hosts: Mapping[str, tuple[str, ...]] | None = None
) -> tuple[str, ...]:
    """Every address of the endpoint (A and AAAA), or the --connect address; ``hosts``
    overrides the resolver for the names it holds, as a hosts file does: keys are
    'name:port' or 'name' (any port), in lower case."""
    if endpoint.connect:
        return (endpoint.connect,)
    if is_ip(endpoint.host):
        return (endpoint.host,)
    if hosts:
        name = endpoint.host.lower()
        overridden = hosts.get(f"{name}:{endpoint.port}") or hosts.get(name)
        if overridden:
            return overridden
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(endpoint.host, endpoint.port, type=socket.SOCK_STREAM),
            deadline.left(),
        )
    except Exception as exc:
        raise translate(exc, str(endpoint), "resolving the name", deadline.seconds) from exc
    return tuple(dict.fromkeys(str(info[4][0]) for info in infos))


async def _connect(
    endpoint: Endpoint, addresses: tuple[str, ...], deadline: Deadline
) -> tuple[str, asyncio.StreamReader, asyncio.StreamWriter]:
    """The first address that accepts, in resolver order (as clients try them)."""
    failure: BaseException | None = None
    for address in addresses:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(address, endpoint.port), deadline.left()
            )
        except (OSError, asyncio.TimeoutError) as exc:
            failure = exc
            continue
        return address, reader, writer
    assert failure is not None
    where = ", ".join(f"{a} port {endpoint.port}" for a in addresses)
    raise translate(failure, str(endpoint), "connecting", deadline.seconds, where) from failure


async def _handshake_on(
    endpoint: Endpoint,
    address: str,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    sni: str | None,
    profile: ClientProfile,
    deadline: Deadline,
    maximum: ssl.TLSVersion | None = None,
    minimum: ssl.TLSVersion | None = None,
    ask_time: bool = True,
    dedicated: bool = False,
) -> Handshake:
    step = "negotiating STARTTLS"
    try:
        if endpoint.starttls is not None:
            await asyncio.wait_for(
                PREAMBLES[endpoint.starttls](reader, writer, str(endpoint)), deadline.left()
            )
        step = "in the TLS handshake"
        context, recorder = make_context(profile, endpoint.http, maximum, minimum, dedicated)
        try:
            await asyncio.wait_for(start_tls(writer, context, sni), deadline.left())
        except ssl.SSLError as exc:
            reason = exc.reason or _reason_in_text(exc) or type(exc).__name__
            if recorder is None:
                # A shared context cannot say what the server sent before failing (a
                # ServerHello? an alert?): the caller asks again on a dedicated one.
                return Handshake(error=reason, recorded=False)
            alert = recorder.alerts[-1] if recorder.alerts else None
            spoke_tls = bool(recorder.messages) or alert is not None
            if reason in NOT_TLS_REASONS and not spoke_tls:
                raise await _not_tls(endpoint, address, deadline, reason) from exc
            if isinstance(exc, (ssl.SSLEOFError, ssl.SSLZeroReturnError)) and not spoke_tls:
                raise
            return Handshake(
                certificate_requested=recorder.certificate_requested,
                alert=alert,
                error=reason,
                server_messages=tuple(recorder.messages),
            )
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            if recorder is None or not recorder.messages:
                raise
            # Closed mid-handshake after the server had begun it: say how far it got.
            return Handshake(
                certificate_requested=recorder.certificate_requested,
                error=type(exc).__name__,
                server_messages=tuple(recorder.messages),
            )
        ssl_object = writer.get_extra_info("ssl_object")
        cipher = ssl_object.cipher() if ssl_object is not None else None
        if recorder is None:
            recorder = recorder_of(ssl_object)
        requested = recorder.certificate_requested
        # Alerts so far came during the handshake (a warning such as unrecognized_name,
        # which the handshake survived); only those after it can break the connection.
        during_handshake = len(recorder.alerts)
        http = None
        aborted = False
        step = "waiting for the server's answer"
        if endpoint.http and ask_time:
            try:
                http = await ask_http(reader, writer, sni or endpoint.host, min(deadline.left(), 5))
            except (ssl.SSLError, ConnectionError, asyncio.IncompleteReadError):
                aborted = True
            except asyncio.TimeoutError:
                http = None
            aborted = aborted or (requested and http is None)
        elif requested:
            aborted = await _aborts(reader, min(deadline.left(), CERTIFICATE_ABORT_WAIT))
        # A fatal alert after the handshake (TLS 1.3 servers judge the client's Finished
        # after the client is done): the server broke the connection it had just accepted.
        after = [alert for alert in recorder.alerts[during_handshake:] if alert != _CLOSE_NOTIFY]
        aborted = aborted or bool(after)
        return Handshake(
            chain=presented_chain(writer),
            version=ssl_object.version() if ssl_object is not None else None,
            cipher=cipher[0] if cipher else None,
            alpn=ssl_object.selected_alpn_protocol() if ssl_object is not None else None,
            certificate_requested=requested,
            alert=recorder.alerts[-1] if recorder.alerts else None,
            http=http,
            aborted_after_handshake=aborted,
            alert_after_handshake=after[0] if after else None,
            server_messages=tuple(recorder.messages),
        )
    except ProbeError:
        raise
    except Exception as exc:
        raise translate(exc, str(endpoint), step, deadline.seconds) from exc
    finally:
        await close(writer)


async def _aborts(reader: asyncio.StreamReader, wait: float) -> bool:
    """Whether the server closes or alerts within ``wait`` (it would not for a client
    certificate that was only requested)."""
    try:
        data = await asyncio.wait_for(reader.read(1), wait)
    except asyncio.TimeoutError:
        return False
    except (ssl.SSLError, ConnectionError):
        return True
    return not data


async def _not_tls(endpoint: Endpoint, address: str, deadline: Deadline, reason: str) -> NotTls:
    protocol = None
    with contextlib.suppress(Exception):
        protocol = await identify(address, endpoint.port, min(deadline.left(), 3.0))
    if protocol is None:
        return NotTls(
            str(endpoint),
            f"the port does not answer in TLS ({reason}) and its protocol is not recognised",
            protocol=None,
            tls_error=reason,
        )
    return NotTls(
        str(endpoint),
        f"the port speaks {protocol.name}, not TLS ({protocol.said!r}): {protocol.advice}",
        protocol=protocol.name,
        server_said=protocol.said,
        advice=protocol.advice,
        tls_error=reason,
    )


async def probe(
    endpoint: Endpoint,
    sni: str | None,
    deadline: Deadline,
    addresses: tuple[str, ...] | None = None,
) -> ProbeResult:
    """The one handshake of a check, with the widest client, and the server's time, on
    the first of ``addresses`` (default: the name's) that accepts."""
    started = time.monotonic()
    if addresses is None:
        addresses = await resolve(endpoint, deadline)
    address, handshake = await _first_handshake(endpoint, addresses, sni, deadline)
    return ProbeResult(endpoint, addresses, address, sni, handshake, time.monotonic() - started)


async def _first_handshake(
    endpoint: Endpoint, addresses: tuple[str, ...], sni: str | None, deadline: Deadline
) -> tuple[str, Handshake]:
    address, reader, writer = await _connect(endpoint, addresses, deadline)
    handshake: Handshake | None = None
    with contextlib.suppress(ConnectionReset):
        handshake = await _handshake_on(
            endpoint, address, reader, writer, sni, ClientProfile.WIDE, deadline
        )
    if handshake is None or not handshake.recorded:
        handshake = await _recorded_handshake(endpoint, address, sni, ClientProfile.WIDE, deadline)
    return address, handshake


async def _handshake_at(
    endpoint: Endpoint,
    address: str,
    sni: str | None,
    profile: ClientProfile,
    deadline: Deadline,
    maximum: ssl.TLSVersion | None = None,
    minimum: ssl.TLSVersion | None = None,
    ask_time: bool = True,
    dedicated: bool = False,
) -> Handshake:
    """A new connection to ``address`` and one handshake on it."""
    _, reader, writer = await _connect(endpoint, (address,), deadline)
    return await _handshake_on(
        endpoint,
        address,
        reader,
        writer,
        sni,
        profile,
        deadline,
        maximum,
        minimum,
        ask_time=ask_time,
        dedicated=dedicated,
    )


async def _recorded_handshake(
    endpoint: Endpoint, address: str, sni: str | None, profile: ClientProfile, deadline: Deadline
) -> Handshake:
    """A failed handshake on a shared context leaves nothing to ask what the server said
    (a ServerHello, an alert, a CertificateRequest): it is repeated once on a dedicated
    context, which records it."""
    return await _handshake_at(endpoint, address, sni, profile, deadline, dedicated=True)


async def probe_again(
    result: ProbeResult,
    deadline: Deadline,
    *,
    sni: str | None,
    profile: ClientProfile = ClientProfile.WIDE,
    maximum: ssl.TLSVersion | None = None,
    minimum: ssl.TLSVersion | None = None,
) -> Handshake | None:
    """Another handshake to the same address; None when it could not be made. A failure
    is repeated on a dedicated context, which records what the server said."""
    endpoint, address = result.endpoint, result.address
    try:
        handshake = await _handshake_at(
            endpoint, address, sni, profile, deadline, maximum, minimum, ask_time=False
        )
        if not handshake.recorded:
            handshake = await _handshake_at(
                endpoint, address, sni, profile, deadline, maximum, minimum, False, True
            )
        return handshake
    except ProbeError:
        return None


def _reason_in_text(exc: ssl.SSLError) -> str | None:
    """OpenSSL's reason when Python has no mnemonic for it: common reasons such as
    ERR_R_ASN1_LIB (an unparseable certificate in the server's Certificate message) come
    as ``[SSL] ASN1 lib (_ssl.c:1006)`` with ``reason`` None; ``ASN1_LIB`` is returned."""
    text = str(exc.args[1]) if len(exc.args) > 1 else ""
    match = re.match(r"\[\w+\] ([A-Za-z0-9 ]{1,60}) \(", text)
    return match.group(1).strip().upper().replace(" ", "_") if match else None
