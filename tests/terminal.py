"""Run a command as a user does: in a pseudo-terminal of a given size, or into a pipe."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import termios
import time
from collections.abc import Mapping, Sequence

READ_TIMEOUT = 60.0  # seconds a command may stay silent before the test gives up


def run_in_terminal(
    argv: Sequence[str],
    *,
    columns: int = 80,
    rows: int = 40,
    env: Mapping[str, str] | None = None,
    stop_after: str | None = None,
) -> tuple[str, int]:
    """What ``argv`` prints on a ``columns`` x ``rows`` terminal (CR LF made LF, colour
    codes left in), and its exit code. Everything is bounded by ``READ_TIMEOUT``.
    ``stop_after``: once the output matches this pattern, the command gets Ctrl-C (SIGINT),
    for commands that serve until then."""
    environment = dict(env if env is not None else os.environ)
    environment.pop("COLUMNS", None)
    environment.pop("LINES", None)
    environment["TERM"] = "xterm-256color"
    pid, fd = pty.fork()
    if pid == 0:  # the child: its terminal has the size asked for
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        os.execve(argv[0], list(argv), environment)
    output = bytearray()
    deadline = time.monotonic() + READ_TIMEOUT
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if not ready:
                continue
            try:
                data = os.read(fd, 65536)
            except OSError:  # EIO: the child exited and closed the terminal
                break
            if not data:
                break
            output += data
            if stop_after is not None and re.search(stop_after, output.decode("utf-8", "replace")):
                os.kill(pid, signal.SIGINT)
                stop_after = None
        else:
            os.kill(pid, signal.SIGKILL)  # silent too long: the test fails on its output
    finally:
        os.close(fd)
    _, status = os.waitpid(pid, 0)
    return output.decode("utf-8", "replace").replace("\r\n", "\n"), os.waitstatus_to_exitcode(
        status
    )
