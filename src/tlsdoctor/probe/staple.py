"""The OCSP response a server staples to its handshake (status_request).

Python's ssl module cannot ask for a stapled response; pyOpenSSL can. This is one extra
handshake, made only when the staple can add information (see tlsdoctor.live).
"""

from __future__ import annotations

import asyncio
import contextlib
import select
import socket
import time


def _staple_blocking(address: str, port: int, sni: str | None, timeout: float) -> bytes | None:
    from OpenSSL import SSL

    deadline = time.monotonic() + timeout
    context = SSL.Context(SSL.TLS_CLIENT_METHOD)
    context.set_verify(SSL.VERIFY_NONE, lambda *args: True)
    got: list[bytes] = []

    def keep(connection: SSL.Connection, data: bytes, _: object) -> bool:
        if data:
            got.append(data)
        return True  # tlsdoctor judges the response itself

    context.set_ocsp_client_callback(keep)
    sock = socket.create_connection((address, port), timeout=timeout)
    sock.setblocking(False)
    connection = SSL.Connection(context, sock)
    try:
        if sni:
            connection.set_tlsext_host_name(sni.encode("idna"))
        connection.request_ocsp()
        connection.set_connect_state()
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                connection.do_handshake()
                break
            except SSL.WantReadError:
                select.select([sock], [], [], left)
            except SSL.WantWriteError:
                select.select([], [sock], [], left)
        return got[0] if got else None
    except (SSL.Error, OSError):
        return got[0] if got else None
    finally:
        with contextlib.suppress(SSL.Error, OSError):
            connection.shutdown()
        sock.close()


async def stapled_response(
    address: str, port: int, sni: str | None, timeout: float
) -> bytes | None:
    """The DER OCSP response the server staples, or None (none stapled, or no answer)."""
    try:
        return await asyncio.wait_for(
            asyncio.to_thread(_staple_blocking, address, port, sni, timeout), timeout + 1
        )
    except (asyncio.TimeoutError, OSError):
        return None
