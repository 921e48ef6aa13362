"""Running a client program: bounded in time and output, killed with its process group.

Every child starts in a session (process group) of its own, with ``LC_ALL=C`` (stable
messages) and without the proxy and CA-bundle variables that would change what it trusts.
At its time bound the whole group is killed (a JVM, a browser or ``sh -c`` leave helpers
behind otherwise), and once it exits the group is killed again so no helper outlives it.
Output is read as it comes and kept up to ``MAX_OUTPUT`` bytes: a server that streams
forever cannot fill the memory.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass

MAX_OUTPUT = 256 * 1024  # bytes of a client's output kept
_CHUNK = 65536

_DROPPED_ENV = frozenset(
    {
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "no_proxy",
        "ssl_cert_file",
        "ssl_cert_dir",
        "requests_ca_bundle",
        "curl_ca_bundle",
        "node_extra_ca_certs",
        "node_options",
        "java_tool_options",
        "_java_options",
        "jdk_java_options",
        "wgetrc",
        "curl_home",
        "goflags",
    }
)


def client_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment a client runs in: this one, minus proxies and CA overrides."""
    env = {key: value for key, value in os.environ.items() if key.lower() not in _DROPPED_ENV}
    env["LC_ALL"] = "C"
    env.pop("LANGUAGE", None)
    env.update(extra or {})
    return env


@dataclass(frozen=True)
class Finished:
    """How a child ended: its exit code (-1 when killed or not started), its output."""

    exit_code: int
    output: str
    killed: bool = False
    seconds: float = 0.0
    truncated: bool = False


def run_group(
    argv: list[str],
    *,
    timeout: float,
    stdin: bytes = b"",
    env: dict[str, str] | None = None,
    cwd: str | None = None,
) -> Finished:
    """Run ``argv`` in its own process group; kill the group at ``timeout`` seconds."""
    started = time.monotonic()
    try:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env if env is not None else client_environment(),
            cwd=cwd,
            start_new_session=True,
        )
    except OSError as exc:
        return Finished(-1, f"cannot run {argv[0]}: {exc.strerror or exc}")
    stdout, writer = process.stdout, process.stdin
    if stdout is None or writer is None:  # not possible with PIPE; for the type checker
        raise RuntimeError("subprocess pipes missing")
    kept = bytearray()
    seen = [0]

    def read() -> None:
        while chunk := os.read(stdout.fileno(), _CHUNK):
            seen[0] += len(chunk)
            if len(kept) < MAX_OUTPUT:
                kept.extend(chunk[: MAX_OUTPUT - len(kept)])

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    with contextlib.suppress(OSError):  # a client that exits before reading its stdin
        writer.write(stdin)
    with contextlib.suppress(OSError):
        writer.close()
    killed = False
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        killed = True
        kill_group(process.pid)
        process.wait()
    finally:
        kill_group(process.pid)
    reader.join(timeout=5)
    stdout.close()
    text = kept.decode("utf-8", "replace")
    return Finished(
        -1 if killed else process.returncode,
        text,
        killed,
        time.monotonic() - started,
        seen[0] > len(kept),
    )


def run_bounded(argv: list[str], *, timeout: float) -> tuple[int, str]:
    """A short helper command (a version query): exit code and output."""
    done = run_group(argv, timeout=timeout)
    return done.exit_code, done.output


def kill_group(group: int) -> None:
    """SIGKILL every process of ``group`` (gone already: nothing to do)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, signal.SIGKILL)
