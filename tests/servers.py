"""Real servers on loopback for the live tests: openssl s_server, nginx, a silent port.

Every server is started on a free port, waited for until it accepts, and stopped (and
reaped) when the test is done; all of them listen on 127.0.0.1 or [::1] only.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

STARTUP_SECONDS = 10.0


def free_port(family: int = socket.AF_INET) -> int:
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind(("::1" if family == socket.AF_INET6 else "127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_listening(host: str, port: int, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            output = process.stdout.read().decode() if process.stdout else ""
            raise RuntimeError(f"server exited with {process.returncode}: {output[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {host}:{port} after {STARTUP_SECONDS} s")


@contextlib.contextmanager
def running(argv: Sequence[str], host: str, port: int, cwd: Path | None = None) -> Iterator[int]:
    process = subprocess.Popen(
        list(argv),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_listening(host, port, process)
        yield port
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate, then kill if it lingers; always reaped."""
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)
    if process.stdout:
        process.stdout.close()


def served_serial(port: int, name: str) -> int:
    """The serial number of the certificate a loopback server sends for SNI ``name``."""
    import ssl

    from cryptography import x509

    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=name) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


@contextlib.contextmanager
def s_server(
    cert: Path, key: Path, *extra: str, chain: Path | None = None, host: str = "127.0.0.1"
) -> Iterator[int]:
    """`openssl s_server` on a free port (``host`` may be ``::1``)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    port = free_port(family)
    accept = f"[{host}]:{port}" if family == socket.AF_INET6 else f"{host}:{port}"
    argv = [
        "openssl",
        "s_server",
        "-accept",
        accept,
        "-cert",
        str(cert),
        "-key",
        str(key),
        "-quiet",
    ]
    if chain is not None:
        argv += ["-cert_chain", str(chain)]
    with running([*argv, *extra], host, port) as bound:
        yield bound


@contextlib.contextmanager
def silent_port() -> Iterator[int]:
    """A port whose listen queue accepts the TCP connection and then says nothing."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield int(sock.getsockname()[1])


def nginx_available() -> bool:
    return shutil.which("nginx") is not None


def nginx_config(folder: Path, port: int, blocks: Sequence[str]) -> Path:
    """An nginx.conf in ``folder`` serving the given ``server`` block bodies on
    127.0.0.1:``port`` (each body: server_name, certificates, ...)."""
    (folder / "logs").mkdir(exist_ok=True)
    servers = "".join(
        f"""
    server {{
        {body}
        location / {{ return 200 "ok\\n"; }}
    }}"""
        for body in blocks
    )
    config = folder / "nginx.conf"
    config.write_text(
        f"""
daemon off;
master_process on;
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/logs/error.log;
user root;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    {servers}
}}
"""
    )
    return config


@contextlib.contextmanager
def nginx(folder: Path, servers: Sequence[tuple[str, Path, Path, bool]]) -> Iterator[int]:
    """nginx with one TLS server block per (server_name, chain, key, default) on one port."""
    port = free_port()
    blocks = [
        f"listen 127.0.0.1:{port} ssl{' default_server' if default else ''};\n"
        f"        server_name {name};\n"
        f"        ssl_certificate {chain};\n"
        f"        ssl_certificate_key {key};"
        for name, chain, key, default in servers
    ]
    config = nginx_config(folder, port, blocks)
    with running(["nginx", "-c", str(config), "-p", str(folder)], "127.0.0.1", port) as bound:
        yield bound


def wait_serving(port: int, name: str, serial: int) -> None:
    """Until a reloaded server sends the certificate ``serial``: old workers may take a
    new connection until they see the reload, so several in a row must get it."""
    deadline, in_a_row = time.monotonic() + STARTUP_SECONDS, 0
    while in_a_row < 5:
        if time.monotonic() > deadline:
            raise RuntimeError(f"127.0.0.1:{port} still does not send certificate {serial:x}")
        if served_serial(port, name) == serial:
            in_a_row += 1
        else:
            in_a_row = 0
            time.sleep(0.05)
