"""A TLS 1.2 server on loopback that writes hand-made records: the broken and hostile
servers no real server software can be configured to be (an alert after ClientHello,
garbage after ServerHello, a Certificate message of 270 KB or 16 MB, no Finished).

It answers every connection with ``script(client_hello)``: the bytes to send, in chunks;
``None`` in the list means "stay silent until the client gives up". Every socket has a
timeout and the accept loop stops with the context, so nothing outlives a test.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Callable, Iterator, Sequence

SOCKET_TIMEOUT = 10.0
RSA_AES128_GCM_SHA256 = 0x009C  # offered by tlsdoctor's wide client (ALL:@SECLEVEL=0)

Script = Callable[[bytes], Sequence[bytes | None]]


def record(content_type: int, payload: bytes) -> bytes:
    """TLS records (RFC 5246 6.2.1) carrying ``payload``, split at 16 KiB."""
    chunks = [payload[i : i + 16384] for i in range(0, len(payload), 16384)] or [b""]
    return b"".join(
        bytes([content_type]) + b"\x03\x03" + len(chunk).to_bytes(2, "big") + chunk
        for chunk in chunks
    )


def handshake_message(kind: int, body: bytes, declared: int | None = None) -> bytes:
    length = len(body) if declared is None else declared
    return bytes([kind]) + length.to_bytes(3, "big") + body


def server_hello(cipher: int = RSA_AES128_GCM_SHA256) -> bytes:
    """A TLS 1.2 ServerHello with renegotiation_info (OpenSSL 3 clients require it)."""
    extensions = b"\xff\x01\x00\x01\x00"
    body = (
        b"\x03\x03"
        + os.urandom(32)
        + b"\x00"
        + cipher.to_bytes(2, "big")
        + b"\x00"
        + len(extensions).to_bytes(2, "big")
        + extensions
    )
    return record(22, handshake_message(2, body))


def certificate(ders: Sequence[bytes]) -> bytes:
    """A Certificate message (RFC 5246 7.4.2) with ``ders``, as one or more records."""
    entries = b"".join(len(der).to_bytes(3, "big") + der for der in ders)
    body = len(entries).to_bytes(3, "big") + entries
    return record(22, handshake_message(11, body))


def server_hello_done() -> bytes:
    return record(22, handshake_message(14, b""))


def alert(description: int, level: int = 2) -> bytes:
    return record(21, bytes([level, description]))


def _read_client_hello(conn: socket.socket) -> bytes:
    data = b""
    while len(data) < 5 or len(data) < 5 + int.from_bytes(data[3:5], "big"):
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def _serve(conn: socket.socket, script: Script, stop: threading.Event) -> None:
    with conn:
        conn.settimeout(SOCKET_TIMEOUT)
        with contextlib.suppress(OSError):
            hello = _read_client_hello(conn)
            for chunk in script(hello):
                if chunk is None:
                    # Silent: drain what the client sends until it closes or we stop.
                    while not stop.is_set() and conn.recv(65536):
                        pass
                    return
                conn.sendall(chunk)
            stop.wait(0.5)  # let the client read it all before the close


@contextlib.contextmanager
def crafted_server(script: Script, host: str = "127.0.0.1") -> Iterator[int]:
    """Serve ``script`` on a free port of ``host``; yields the port."""
    listener = socket.socket()
    listener.bind((host, 0))
    listener.listen(16)
    listener.settimeout(0.2)
    stop = threading.Event()
    workers: list[threading.Thread] = []

    def accept_loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            worker = threading.Thread(target=_serve, args=(conn, script, stop), daemon=True)
            worker.start()
            workers.append(worker)

    thread = threading.Thread(target=accept_loop, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join(5)
        listener.close()
        for worker in workers:
            worker.join(SOCKET_TIMEOUT + 1)
