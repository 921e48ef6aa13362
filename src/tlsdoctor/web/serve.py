"""``tlsdoctor watch serve``: the dashboard on a socket, until Ctrl-C or SIGTERM.

Loopback by default; HTTPS with ``--tls-cert``/``--tls-key``. Any other address needs
a token of at least MIN_TOKEN_LENGTH characters (``--token-env VAR``): a dashboard
lists every endpoint an organisation watches and what is wrong with each, which is not
for whoever can reach the port. The token is read from the environment, never from the
command line, where ``ps`` would show it.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import signal
import socket
import ssl
import sys
import threading
from collections.abc import Iterator
from typing import Any

from tlsdoctor.errors import InputError

__all__ = ["is_loopback", "serve", "token_from_env"]

_BACKLOG = 128
# Beyond loopback a token is a password anyone on the network may try: 24 characters of
# token_urlsafe are 144 bits.
MIN_TOKEN_LENGTH = 24
# Open keep-alive connections (a browser tab) must not hold up the exit.
_GRACEFUL_SECONDS = 5


def token_from_env(token_env: str | None) -> str | None:
    """The token in ``$token_env``; None without ``--token-env``; an error when the
    variable is named but unset or empty (a typo must not silently drop the token)."""
    if token_env is None:
        return None
    value = os.environ.get(token_env, "")
    if not value.strip():
        raise InputError(
            f"--token-env {token_env}: ${token_env} is not set or is empty; "
            f"export {token_env}=<a long random token> first"
        )
    return value


def _resolve(host: str, port: int) -> tuple[socket.AddressFamily, tuple[Any, ...]]:
    try:
        infos = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise InputError(f"--host {host}: cannot listen there ({exc.strerror})") from exc
    family, _, _, _, address = infos[0]
    return family, address


def is_loopback(address: str) -> bool:
    """Whether ``address`` (an IP address, as resolved) is reachable from this machine
    only."""
    try:
        return ipaddress.ip_address(address.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _bind(host: str, family: socket.AddressFamily, address: tuple[Any, ...]) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        # A restart must not wait for the old socket's TIME_WAIT to pass.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(_BACKLOG)
    except OSError as exc:
        sock.close()
        raise InputError(
            f"cannot listen on {_netloc(host, address[1])}: {exc.strerror or exc}"
        ) from exc
    return sock


def _netloc(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _ignore(signum: int, frame: object) -> None:
    """Stands in for the default handlers while uvicorn runs (see _quiet_signals)."""


@contextlib.contextmanager
def _quiet_signals() -> Iterator[None]:
    # uvicorn catches SIGINT/SIGTERM, shuts down gracefully, then raises the signal once
    # more for the handler it found, which would turn a clean stop into a
    # KeyboardInterrupt or a kill by SIGTERM. It finds this one instead; ours come back
    # after it returns.
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _ignore) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _tls_files(tls_cert: str | None, tls_key: str | None) -> bool:
    """Whether to speak HTTPS; the pair is loaded once here so that a wrong file is one
    sentence now, not a traceback from uvicorn."""
    if tls_cert is None and tls_key is None:
        return False
    if tls_cert is None or tls_key is None:
        raise InputError("--tls-cert and --tls-key go together")
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(tls_cert, tls_key)
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or str(exc)
        raise InputError(
            f"--tls-cert {tls_cert} / --tls-key {tls_key}: cannot be used ({reason})"
        ) from exc
    return True


def serve(
    db_url: str | None,
    *,
    host: str,
    port: int,
    token_env: str | None,
    tls_cert: str | None = None,
    tls_key: str | None = None,
) -> int:
    """Serve the dashboard of the history at ``db_url`` on ``host:port`` until stopped.

    Refuses (:class:`InputError`) a non-loopback address without a token, or with one
    shorter than MIN_TOKEN_LENGTH. HTTPS with ``tls_cert``/``tls_key``. Prints the
    address on stderr once listening; returns 0 after Ctrl-C or SIGTERM.
    """
    token = token_from_env(token_env)
    https = _tls_files(tls_cert, tls_key)
    family, address = _resolve(host, port)
    if not is_loopback(str(address[0])):
        if token is None:
            raise InputError(
                f"refusing to serve the dashboard on {host or 'every address'} without a"
                " token: anyone who can reach it would see every watched endpoint; put a"
                " token in an environment variable and pass --token-env VAR, or use"
                " --host 127.0.0.1"
            )
        if len(token) < MIN_TOKEN_LENGTH:
            raise InputError(
                f"--token-env {token_env}: a token of {len(token)} characters is too easy"
                f" to guess for a dashboard beyond loopback; use at least {MIN_TOKEN_LENGTH}"
                " (e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
    try:
        import uvicorn

        from tlsdoctor.web.app import create_app
    except ImportError as exc:
        raise InputError(
            f"the dashboard needs {exc.name or 'its extra packages'}: pip install 'tlsdoctor[web]'"
        ) from exc
    from tlsdoctor.history.store import History

    with History.open(db_url) as history:
        sock = _bind(host, family, address)
        with sock:
            bound_port = int(sock.getsockname()[1])
            # Without a token, answer only to loopback names: see app.py on rebinding.
            allowed = None if token else {"localhost", "127.0.0.1", "[::1]", host.lower()}
            app = create_app(history, token=token, allowed_hosts=allowed, https=https)
            config = uvicorn.Config(
                app,
                log_level="warning",
                lifespan="on",
                server_header=False,
                timeout_graceful_shutdown=_GRACEFUL_SECONDS,
                ssl_certfile=tls_cert if https else None,
                ssl_keyfile=tls_key if https else None,
            )
            server = uvicorn.Server(config)
            shown = f"[{host}]" if ":" in host else host or "0.0.0.0"
            url = f"{'https' if https else 'http'}://{shown}:{bound_port}/"
            print(f"tlsdoctor dashboard of {history.where} at {url}", file=sys.stderr)
            if token_env is not None:
                print(
                    f"every request needs the token in ${token_env}: open {url}?token=... once"
                    " in a browser, or send 'Authorization: Bearer ...'",
                    file=sys.stderr,
                )
            print("Ctrl-C stops it.", file=sys.stderr, flush=True)
            with _quiet_signals():
                server.run(sockets=[sock])
    return 0
