"""The one place where foreign exceptions become the spec's could-not-check codes."""

from __future__ import annotations

import asyncio
import socket
import ssl

from tlsdoctor.errors import (
    ConnectionRefused,
    ConnectionReset,
    DnsFailure,
    ProbeError,
    ProbeTimeout,
)

# SSL errors that mean the peer does not speak TLS at all: its first bytes are not a
# TLS record (a banner, an HTTP response, ...).
NOT_TLS_REASONS = frozenset(
    {
        "WRONG_VERSION_NUMBER",
        "RECORD_LAYER_FAILURE",
        "PACKET_LENGTH_TOO_LONG",
        "HTTP_REQUEST",
        "HTTPS_PROXY_REQUEST",
        "UNKNOWN_PROTOCOL",
        "UNEXPECTED_RECORD",
    }
)


def translate(
    exc: BaseException, target: str, step: str, timeout: float, where: str | None = None
) -> ProbeError:
    """``exc``, raised while ``step`` (resolving, connecting, ...) with the address
    ``where``, as a ProbeError."""
    if isinstance(exc, ProbeError):
        return exc
    if isinstance(exc, socket.gaierror):
        return DnsFailure(
            target,
            f"the name does not resolve ({exc.strerror or exc})",
            step=step,
            resolver_error=str(exc),
        )
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return ProbeTimeout(
            target,
            f"no answer within {timeout:g} s while {step}",
            step=step,
            timeout_seconds=timeout,
        )
    if isinstance(exc, ConnectionRefusedError):
        place = f" on {where}" if where else ""
        return ConnectionRefused(
            target, f"nothing listens{place}: the connection was refused", step=step
        )
    if isinstance(
        exc,
        (
            ConnectionResetError,
            BrokenPipeError,
            asyncio.IncompleteReadError,
            ssl.SSLEOFError,
            ssl.SSLZeroReturnError,
            EOFError,
        ),
    ):
        return ConnectionReset(
            target,
            f"the server closed the connection while {step}, without a TLS alert to say why",
            step=step,
            error=type(exc).__name__,
        )
    if isinstance(exc, OSError):
        # No route, network unreachable, address not available: nothing reachable listens.
        return ConnectionRefused(
            target, f"cannot connect while {step} ({exc.strerror or exc})", step=step
        )
    return ConnectionReset(target, f"failed while {step}: {exc}", step=step, error=repr(exc))
