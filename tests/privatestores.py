"""Run a command where this machine's trust stores are private copies.

``private_stores(argv, workdir)`` runs ``argv`` in a new mount namespace (``unshare
--mount``: mounts made there are private to it) where each path of ``PRIVATE_PATHS`` is a
bind mount of a copy made under ``workdir``: the system store (/etc/ssl, with Java's
cacerts), the local CA directory, and what Debian's Java hook writes through dpkg's
triggers (/var/lib/dpkg, /var/lib/ca-certificates-java, /var/log/dpkg.log). /etc/hosts is
a copy too, with ``hosts`` lines appended, so every client resolves the test's names to
127.0.0.1. The real files are never written: the namespace ends with the command.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

PRIVATE_PATHS = (
    "/etc/ssl",
    "/usr/local/share/ca-certificates",
    "/var/lib/dpkg",
    "/var/lib/ca-certificates-java",
    "/var/log/dpkg.log",
    "/etc/hosts",
)

_SCRIPT = """
set -e
while [ "$1" != "--" ]; do
    mount --bind "$1" "$2"
    shift 2
done
shift
exec "$@"
"""


def unavailable() -> str | None:
    """Why the private namespace cannot be made here (None: it can)."""
    if os.geteuid() != 0:
        return "bind mounts over /etc need root in a mount namespace (run the tests as root)"
    if shutil.which("unshare") is None or shutil.which("update-ca-certificates") is None:
        return "unshare (util-linux) and update-ca-certificates (ca-certificates) are needed"
    return None


def private_stores(
    argv: Sequence[str],
    workdir: Path,
    *,
    hosts: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    timeout: float = 600.0,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` over private copies of the stores (see the module docstring)."""
    copies = workdir / "copies"
    copies.mkdir(parents=True, exist_ok=True)
    pairs: list[str] = []
    for index, path in enumerate(PRIVATE_PATHS):
        real = Path(path)
        if not real.exists():
            continue
        copy = copies / f"{index}-{real.name}"
        if real.is_dir():
            shutil.copytree(real, copy, symlinks=True)
        else:
            shutil.copy2(real, copy)
        if path == "/etc/hosts":
            with open(copy, "a", encoding="utf-8") as handle:
                handle.writelines(f"{line}\n" for line in hosts)
        pairs += [str(copy), path]
    command = ["unshare", "--mount", "--propagation", "private", "sh", "-c", _SCRIPT, "sh"]
    return subprocess.run(
        [*command, *pairs, "--", *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(env) if env is not None else None,
        check=False,
    )
