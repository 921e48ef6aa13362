"""A throwaway PostgreSQL server for tests: initdb into a temporary folder, listen on a
free loopback port, one fresh database per test, stopped and deleted at the end.

PostgreSQL refuses to run as root, and CI runs as root: the server then runs as the
``postgres`` system user (``nobody`` if there is none) through ``setpriv``, in a folder
that user owns. Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

START_SECONDS = 30.0


def find_bindir() -> Path | None:
    """The newest installed PostgreSQL's bin folder (Debian layout, then PATH)."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0,
    )
    for folder in reversed(candidates):
        if (Path(folder) / "initdb").exists() and (Path(folder) / "postgres").exists():
            return Path(folder)
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def unavailable_reason() -> str | None:
    """Why a server cannot run here, or None when it can."""
    if find_bindir() is None:
        return "PostgreSQL server binaries (initdb, postgres) are not installed"
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        return "running as root needs setpriv (util-linux) to start PostgreSQL as another user"
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    port: int
    user: str = "tlsdoctor"
    _names: Iterator[int] = field(default_factory=itertools.count)

    def url(self, database: str) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database; its URL."""
        name = f"t{os.getpid()}_{next(self._names)}"
        with psycopg.connect(
            host="127.0.0.1", port=self.port, user=self.user, dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def _as_user(argv: list[str], user: pwd.struct_passwd | None) -> list[str]:
    if user is None:
        return argv
    return [
        "setpriv",
        f"--reuid={user.pw_uid}",
        f"--regid={user.pw_gid}",
        "--clear-groups",
        *argv,
    ]


@contextlib.contextmanager
def running_server() -> Iterator[Server]:
    """Start a server; yield it; stop it and delete its files."""
    bindir = find_bindir()
    assert bindir is not None, unavailable_reason()
    user: pwd.struct_passwd | None = None
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            user = pwd.getpwnam("nobody")
    folder = Path(tempfile.mkdtemp(prefix="tlsdoctor-pg-"))
    process: subprocess.Popen[bytes] | None = None
    log = folder / "server.log"
    try:
        data = folder / "data"
        if user is not None:
            os.chown(folder, user.pw_uid, user.pw_gid)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}
        subprocess.run(
            _as_user(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    "tlsdoctor",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--no-sync",
                ],
                user,
            ),
            check=True,
            capture_output=True,
            timeout=120,
            env=env,
            cwd=folder,
        )
        port = free_port()
        with log.open("wb") as out:
            process = subprocess.Popen(
                _as_user(
                    [
                        str(bindir / "postgres"),
                        "-D",
                        str(data),
                        "-p",
                        str(port),
                        "-k",
                        str(folder),
                        "-c",
                        "listen_addresses=127.0.0.1",
                        # A test server: durability is not what is under test here.
                        "-c",
                        "fsync=off",
                        "-c",
                        "full_page_writes=off",
                        "-c",
                        "synchronous_commit=off",
                    ],
                    user,
                ),
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=folder,
            )
        deadline = time.monotonic() + START_SECONDS
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"postgres exited at start: {log.read_text()[-2000:]}")
            try:
                with psycopg.connect(
                    host="127.0.0.1",
                    port=port,
                    user="tlsdoctor",
                    dbname="postgres",
                    connect_timeout=2,
                ):
                    break
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"postgres not ready after {START_SECONDS:.0f} s: {log.read_text()[-2000:]}"
                    ) from None
                time.sleep(0.1)
        yield Server(port)
    finally:
        if process is not None:
            # SIGINT is PostgreSQL's "fast" shutdown: it ends open sessions, where
            # SIGTERM ("smart") would wait for clients a failed test left behind.
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)
        shutil.rmtree(folder, ignore_errors=True)
