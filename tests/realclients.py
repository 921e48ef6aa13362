"""Real TLS clients against lab endpoints: run one and get what it did and what it printed.

``run(client, endpoint, ca_file)`` connects the real program ``client`` to
``https://{endpoint.host}:{endpoint.port}/``, with the host name resolved to 127.0.0.1 and
only ``ca_file`` trusted, and returns an ``Outcome``: ``ok`` (it connected and trusted the
server), everything it printed, its exit code, and ``message``, the line(s) a user reads.
A client that cannot run here raises ``Unavailable`` with the reason; ``unavailable(client)``
asks first.

Every client but Chromium is the product's own runner (``tlsdoctor.tryclients.runners``,
what ``check --try-clients`` runs; its docstring says how each is pointed at 127.0.0.1 and
made to trust the lab CA alone). Chromium is run only here:

chromium           headless (``--headless=new --dump-dom URL``) with ``HOME`` a temporary folder
                   whose NSS database (``~/.pki/nssdb``, made with certutil) holds only the
                   CA, trusted for TLS servers (``-t C,,``), and a fresh ``--user-data-dir``;
                   ``--host-resolver-rules`` maps the name to 127.0.0.1 and every other name
                   to nothing (IP literals such as the lab's AIA URL stay as they are). The
                   Chrome Root Store is built in and cannot be removed, but no lab certificate
                   is under it. Chromium exits 0 either way: ``--enable-logging=stderr`` makes
                   it print ``Page load failed: net::ERR_...`` (the code its error page
                   shows), and a loaded page is the server's response dumped as a DOM. Two run
                   at a time at most, each in its own process group, killed whole on timeout.
"""

from __future__ import annotations

import atexit
import hashlib
import re
import shutil
import tempfile
import threading
from functools import cache
from pathlib import Path

from tlsdoctor.lab import LabEndpoint
from tlsdoctor.tryclients import runners
from tlsdoctor.tryclients.builds import build_of
from tlsdoctor.tryclients.process import client_environment, run_group
from tlsdoctor.tryclients.runners import Dial, Outcome, Unavailable

__all__ = ["CLIENTS", "PACKAGES", "PROFILE_OF", "Outcome", "Unavailable", "run", "unavailable"]

TIMEOUT = 15.0
LOOPBACK = "127.0.0.1"
CHROMIUM_PARALLEL = 2  # browsers at once: each starts several processes (2 cores here)

# The real clients of the test matrix, in its column order.
CLIENTS: tuple[str, ...] = (
    "curl",
    "wget",
    "python",
    "python-requests",
    "node",
    "java",
    "openssl-s_client",
    "gnutls-cli",
    "chromium",
)
PROFILE_OF: dict[str, str] = {**runners.PROFILE_OF, "chromium": "chrome"}
PACKAGES: dict[str, str] = {
    **runners.PACKAGES,
    "python": "the interpreter running the tests",
    "chromium": "apt: chromium, libnss3-tools (certutil)",
}

_lock = threading.Lock()
_workspace: runners.Workspace | None = None


def _work() -> runners.Workspace:
    """One temporary cache for the whole run (compiled Java and Go, trust stores)."""
    global _workspace
    with _lock:
        if _workspace is None:
            folder = Path(tempfile.mkdtemp(prefix="realclients-"))
            atexit.register(shutil.rmtree, folder, True)
            _workspace = runners.Workspace(folder)
        return _workspace


def _probe_dial() -> Dial:
    """A dial by name to 127.0.0.1: what every lab run needs (wget's hosts mapping)."""
    return Dial("probe.realclients.test", 443, LOOPBACK, None)


@cache
def unavailable(client: str) -> str | None:
    """Why ``client`` cannot run here, or None when it can."""
    if client == "chromium":
        missing = [name for name in ("chromium", "certutil") if shutil.which(name) is None]
        return f"{', '.join(missing)} not installed ({PACKAGES[client]})" if missing else None
    if client not in runners.PROFILE_OF:
        return f"unknown client {client!r}"
    return runners.prepare(client, _probe_dial(), _work())


@cache
def version(client: str) -> str:
    """The client's version, for the matrix's header."""
    if unavailable(client):
        return "-"
    if client == "chromium":
        output = run_group(["chromium", "--version"], timeout=TIMEOUT).output
        lines = [line.strip() for line in output.splitlines() if line.startswith("Chromium")]
        return lines[0] if lines else "?"
    build = build_of(client)
    return f"{build.version} ({build.library})" if build else "?"


def run(client: str, endpoint: LabEndpoint, ca_file: str | Path) -> Outcome:
    """Connect the real ``client`` to the endpoint by name, trusting only ``ca_file``."""
    if endpoint.address != LOOPBACK:
        raise ValueError(f"only {LOOPBACK} is a target, not {endpoint.address}")
    reason = unavailable(client)
    if reason is not None:
        raise Unavailable(reason)
    ca = str(Path(ca_file).resolve())
    if client == "chromium":
        with tempfile.TemporaryDirectory(prefix="realclients-") as folder:
            return _chromium(endpoint.host, endpoint.port, ca, Path(folder))
    dial = Dial(endpoint.host, endpoint.port, LOOPBACK, ca)
    return runners.run_client(client, dial, _work(), TIMEOUT)


_CHROMIUM_FAILED = re.compile(r"Page load failed: (\S+)")
_chromium_slots = threading.BoundedSemaphore(CHROMIUM_PARALLEL)


def _chromium(host: str, port: int, ca: str, folder: Path) -> Outcome:
    home = folder / "home"
    shutil.copytree(_nss_database(ca), home / ".pki" / "nssdb")
    argv = [
        "chromium",
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={folder / 'profile'}",
        f"--host-resolver-rules=MAP {host} {LOOPBACK}, MAP * ~NOTFOUND, EXCLUDE {LOOPBACK}",
        "--enable-logging=stderr",
        "--v=0",
        "--dump-dom",
        f"https://{host}:{port}/",
    ]
    env = {
        key: value
        for key, value in client_environment().items()
        if not key.startswith("XDG_") and key not in {"DISPLAY", "WAYLAND_DISPLAY"}
    }
    env["HOME"] = str(home)
    with _chromium_slots:
        done = run_group(argv, timeout=TIMEOUT, env=env)
    failed = _CHROMIUM_FAILED.search(done.output)
    ok = done.exit_code == 0 and failed is None and "<body" in done.output
    if ok:
        return Outcome("chromium", True, done.exit_code, "", done.output, False, done.seconds)
    lines = [line.strip() for line in done.output.splitlines() if line.strip()]
    message = failed.group(1) if failed else (lines[-1] if lines else "(no output)")
    if done.killed:
        message = f"(killed after {TIMEOUT:g} s: no answer in time)"
    return Outcome(
        "chromium", False, done.exit_code, message, done.output, done.killed, done.seconds
    )


def _nss_database(ca: str) -> Path:
    """An NSS database (what Chromium reads under ~/.pki/nssdb) trusting only ``ca``, for
    TLS servers; made once per CA file content, copied for each run."""
    with _lock:
        digest = hashlib.sha256(Path(ca).read_bytes()).hexdigest()[:16]
    folder = _work().private("nssdb")
    with _lock:
        database = folder / digest
        if database.exists():
            return database
        partial = database.with_suffix(".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir()
        for argv in (
            ["certutil", "-N", "--empty-password", "-d", f"sql:{partial}"],
            ["certutil", "-A", "-t", "C,,", "-n", "lab-ca", "-i", ca, "-d", f"sql:{partial}"],
        ):
            done = run_group(argv, timeout=60)
            if done.exit_code != 0:
                raise Unavailable(f"certutil cannot make the NSS database: {done.output.strip()}")
        partial.rename(database)
        return database
