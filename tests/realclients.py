"""Real TLS clients against lab endpoints: run one and get what it did and what it printed.

``run(client, endpoint, ca_file)`` connects the real program ``client`` to
``https://{endpoint.host}:{endpoint.port}/``, with the host name resolved to 127.0.0.1 and
only ``ca_file`` trusted, and returns an ``Outcome``: ``ok`` (it connected and trusted the
server), everything it printed, its exit code, and ``message``, the line(s) a user reads.
A client that cannot run here raises ``Unavailable`` with the reason; ``unavailable(client)``
asks first.

How each client is pointed at 127.0.0.1 while verifying the real name, and made to trust the
lab CA alone (no system store on the side):

=================  ===========================================================================
curl               ``--resolve host:port:127.0.0.1``; ``--cacert CA --capath EMPTY``; ``-q``
                   skips ~/.curlrc
wget               wget has no ``--resolve``: it runs under ``unshare --mount`` (plus
                   ``--map-root-user`` when not root) with a one-line hosts file bind-mounted
                   over /etc/hosts in that private mount namespace only (the system's file
                   is not touched); ``--ca-certificate=CA --ca-directory=EMPTY``,
                   ``--no-config``
python             a child ``python -c``: ``ssl.create_default_context(cafile=CA)`` (no
                   default certificates then), a socket to 127.0.0.1, ``server_hostname=host``,
                   one GET; an exception ends it with the usual traceback
python-requests    a child that wraps ``socket.getaddrinfo`` to answer 127.0.0.1 for the host
                   (what urllib3 calls), then ``requests.get(url, verify=CA)``
node               ``https.get(url, {ca, lookup})``: ``ca`` replaces the bundled roots, the
                   ``lookup`` callback answers 127.0.0.1; prints ``String(err)`` and the code
java               ``tests/java/TlsProbe.java`` (HttpsURLConnection) compiled once with javac;
                   the CA imported with keytool into a temporary PKCS12 trust store
                   (``-Djavax.net.ssl.trustStore``); ``-Djdk.net.hosts.file`` maps the name
openssl-s_client   ``-connect 127.0.0.1:port -servername host -verify_hostname host -CAfile CA
                   -no-CApath -no-CAstore -verify_return_error``; an HTTP GET on stdin with
                   ``-ign_eof``, so a TLS 1.3 alert sent after the handshake (client
                   certificate required) is read, as an HTTPS client would
gnutls-cli         ``--x509cafile=CA --port=PORT --sni-hostname=host --verify-hostname=host
                   127.0.0.1``, the same GET on stdin
chromium           headless (``--headless=new --dump-dom URL``) with ``HOME`` a temporary folder
                   whose NSS database (``~/.pki/nssdb``, made with certutil) holds only the
                   CA, trusted for TLS servers (``-t C,,``), and a fresh ``--user-data-dir``;
                   ``--host-resolver-rules`` maps the name to 127.0.0.1 and every other name
                   to nothing (IP literals such as the lab's AIA URL stay as they are). The
                   Chrome Root Store is built in and cannot be removed, but no lab certificate
                   is under it. Chromium exits 0 either way: ``--enable-logging=stderr`` makes
                   it print ``Page load failed: net::ERR_...`` (the code its error page
                   shows), and a loaded page is the server's response dumped as a DOM. Two run
                   at a time at most, each in its own process group, killed whole on timeout
=================  ===========================================================================

Every child runs with ``LC_ALL=C`` (stable messages: wget's quotes are ASCII), without proxy
or CA-bundle environment variables, and is killed after ``TIMEOUT`` seconds.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from tlsdoctor.lab import LabEndpoint

TIMEOUT = 15.0
LOOPBACK = "127.0.0.1"
JAVA_SOURCE = Path(__file__).parent / "java" / "TlsProbe.java"
TRUSTSTORE_PASSWORD = "changeit"
CHROMIUM_PARALLEL = 2  # browsers at once: each starts several processes (2 cores here)

# The real clients, in the matrix's column order.
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
# The clients.json profile each real client is compared with. openssl s_client and
# gnutls-cli have no profile of their own: s_client is OpenSSL's verifier as curl uses it,
# gnutls-cli is GnuTLS's as wget (Debian's GnuTLS build) uses it.
PROFILE_OF: dict[str, str] = {
    "curl": "curl",
    "wget": "wget",
    "python": "python",
    "python-requests": "python-requests",
    "node": "node",
    "java": "java",
    "openssl-s_client": "curl",
    "gnutls-cli": "wget",
    "chromium": "chrome",
}
# Where each comes from on Debian (for CI's apt-get / pip install).
PACKAGES: dict[str, str] = {
    "curl": "apt: curl",
    "wget": "apt: wget (and util-linux, mount for unshare)",
    "python": "the interpreter running the tests",
    "python-requests": "pip: requests",
    "node": "apt: nodejs",
    "java": "apt: openjdk-17-jdk-headless (javac, keytool)",
    "openssl-s_client": "apt: openssl",
    "gnutls-cli": "apt: gnutls-bin",
    "chromium": "apt: chromium, libnss3-tools (certutil)",
}

_DROPPED_ENV = {
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
}


class Unavailable(Exception):
    """The client cannot run here; the message says why."""


@dataclass(frozen=True)
class Outcome:
    ok: bool  # connected and trusted the server
    output: str  # everything the client printed, stdout and stderr interleaved
    exit_code: int  # -1: killed after TIMEOUT
    message: str = ""  # what a user reads: the error line(s); "" when ok


# host, port, CA file, a private temporary folder
_Runner = Callable[[str, int, str, Path], Outcome]


# --------------------------------------------------------------------------------------
# Availability


@cache
def unavailable(client: str) -> str | None:
    """Why ``client`` cannot run here, or None when it can."""
    if client not in PROFILE_OF:
        return f"unknown client {client!r}"
    needs = {
        "curl": ["curl"],
        "wget": ["wget", "unshare"],
        "node": ["node"],
        "java": ["java", "javac", "keytool"],
        "openssl-s_client": ["openssl"],
        "gnutls-cli": ["gnutls-cli"],
        "chromium": ["chromium", "certutil"],
    }.get(client, [])
    missing = [name for name in needs if shutil.which(name) is None]
    if missing:
        return f"{', '.join(missing)} not installed ({PACKAGES[client]})"
    if client == "python-requests":
        probe = _exec([sys.executable, "-c", "import requests"], timeout=TIMEOUT)
        if probe[0] != 0:
            return f"requests is not importable by {sys.executable} ({PACKAGES[client]})"
    if client == "wget":
        return _hosts_namespace_problem()
    if client == "java":
        try:
            _java_classes()
        except Unavailable as exc:
            return str(exc)
    return None


def _hosts_namespace_problem() -> str | None:
    """Can a private mount namespace give wget its own /etc/hosts here?"""
    with tempfile.TemporaryDirectory(prefix="realclients-") as folder:
        hosts = Path(folder) / "hosts"
        hosts.write_text(f"{LOOPBACK} probe.realclients.test\n")
        code, output = _exec(
            [*_with_hosts_file(hosts), "getent", "hosts", "probe.realclients.test"],
            timeout=TIMEOUT,
        )
    if code != 0 or LOOPBACK not in output:
        return (
            "wget has no --resolve, and a private mount namespace with its own /etc/hosts "
            f"(unshare --mount) is not possible here: {output.strip() or f'exit {code}'}"
        )
    return None


def _with_hosts_file(hosts: Path) -> list[str]:
    """A command prefix: run the rest in a private mount namespace where ``hosts`` is
    /etc/hosts. Only that namespace sees the bind mount (unshare makes mounts private)."""
    namespace = ["unshare", "--mount"] if os.geteuid() == 0 else ["unshare", "-r", "--mount"]
    script = 'mount --bind "$0" /etc/hosts && exec "$@"'
    return [*namespace, "sh", "-c", script, str(hosts)]


@cache
def version(client: str) -> str:
    """The client's version line, for the matrix's header."""
    commands = {
        "curl": ["curl", "--version"],
        "wget": ["wget", "--version"],
        "python": [
            sys.executable,
            "-c",
            "import ssl,sys; print(sys.version.split()[0], ssl.OPENSSL_VERSION)",
        ],
        "python-requests": [
            sys.executable,
            "-c",
            "import requests, urllib3; "
            "print('requests', requests.__version__, 'urllib3', urllib3.__version__)",
        ],
        "node": [
            "node",
            "-p",
            "'node ' + process.version + ' OpenSSL ' + process.versions.openssl",
        ],
        "java": ["java", "-version"],
        "openssl-s_client": ["openssl", "version"],
        "gnutls-cli": ["gnutls-cli", "--version"],
        "chromium": ["chromium", "--version"],
    }
    if client not in commands or unavailable(client):
        return "-"
    _, output = _exec(commands[client], timeout=TIMEOUT)
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    if client == "chromium":  # Debian's launcher script may complain first
        lines = [line for line in lines if line.startswith("Chromium")] or lines
    return lines[0] if lines else "?"


# --------------------------------------------------------------------------------------
# Running


def run(client: str, endpoint: LabEndpoint, ca_file: str | os.PathLike[str]) -> Outcome:
    """Connect the real ``client`` to the endpoint by name, trusting only ``ca_file``."""
    if endpoint.address != LOOPBACK:
        raise ValueError(f"only {LOOPBACK} is a target, not {endpoint.address}")
    reason = unavailable(client)
    if reason is not None:
        raise Unavailable(reason)
    ca = str(Path(ca_file).resolve())
    with tempfile.TemporaryDirectory(prefix="realclients-") as folder:
        return _RUNNERS[client](endpoint.host, endpoint.port, ca, Path(folder))


def _curl(host: str, port: int, ca: str, folder: Path) -> Outcome:
    argv = [
        "curl",
        "-q",
        "-sS",
        "-o",
        "/dev/null",
        "--max-time",
        "10",
        "--noproxy",
        "*",
        "--cacert",
        ca,
        "--capath",
        str(_empty_dir()),
        "--resolve",
        f"{host}:{port}:{LOOPBACK}",
        f"https://{host}:{port}/",
    ]
    code, output = _exec(argv)
    lines = [line for line in output.splitlines() if line.startswith("curl: (")]
    return Outcome(code == 0, output, code, "" if code == 0 else _first(lines, output))


_WGET_PROGRESS = re.compile(
    r"^(--\d|\d{4}-\d\d-\d\d |Loaded CA|Resolving |Connecting to |HTTP request sent|Length:|"
    r"Saving to:|\s)"
)


def _wget(host: str, port: int, ca: str, folder: Path) -> Outcome:
    hosts = folder / "hosts"
    hosts.write_text(f"{LOOPBACK} {host}\n")
    argv = [
        *_with_hosts_file(hosts),
        "wget",
        "--no-config",
        "--no-hsts",
        "--tries=1",
        "--timeout=10",
        "-O",
        "/dev/null",
        f"--ca-certificate={ca}",
        f"--ca-directory={_empty_dir()}",
        f"https://{host}:{port}/",
    ]
    code, output = _exec(argv)
    # An error that comes while wget awaits the response (a TLS 1.3 server aborting
    # after the handshake) is printed on the progress line itself: keep what follows.
    lines = [
        line.strip().removeprefix("HTTP request sent, awaiting response... ")
        for line in output.splitlines()
        if line.strip()
    ]
    errors = [line for line in lines if not _WGET_PROGRESS.match(line)]
    return Outcome(code == 0, output, code, "" if code == 0 else " ".join(errors))


_PYTHON_SSL = """\
import socket, ssl, sys
host, port, ca = sys.argv[1], int(sys.argv[2]), sys.argv[3]
context = ssl.create_default_context(cafile=ca)
with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
    with context.wrap_socket(sock, server_hostname=host) as tls:
        request = f"GET / HTTP/1.1\\r\\nHost: {host}:{port}\\r\\nConnection: close\\r\\n\\r\\n"
        tls.sendall(request.encode())
        while tls.recv(65536):
            pass
"""

_PYTHON_REQUESTS = """\
import socket, sys
host, port, ca = sys.argv[1], int(sys.argv[2]), sys.argv[3]
_getaddrinfo = socket.getaddrinfo
def getaddrinfo(name, *args, **kwargs):
    return _getaddrinfo("127.0.0.1" if name == host else name, *args, **kwargs)
socket.getaddrinfo = getaddrinfo
import requests
requests.get(f"https://{host}:{port}/", verify=ca, timeout=10)
"""


def _python(script: str) -> _Runner:
    def runner(host: str, port: int, ca: str, folder: Path) -> Outcome:
        code, output = _exec([sys.executable, "-c", script, host, str(port), ca])
        lines = [line for line in output.splitlines() if line.strip()]
        return Outcome(code == 0, output, code, "" if code == 0 else _last(lines, output))

    return runner


_NODE = r"""
const https = require('https');
const fs = require('fs');
const [host, port, ca] = process.argv.slice(1);
const lookup = (name, options, callback) => options && options.all
  ? callback(null, [{address: '127.0.0.1', family: 4}])
  : callback(null, '127.0.0.1', 4);
const request = https.get(
  {host, port: Number(port), path: '/', ca: fs.readFileSync(ca), lookup, timeout: 10000},
  (response) => { response.resume(); response.on('end', () => process.exit(0)); });
request.on('timeout', () => request.destroy(new Error('timeout')));
request.on('error', (err) => {
  const text = String(err).trim().replace(/\s*\n\s*/g, ' ');
  console.log(err.code ? `${text} (code: '${err.code}')` : text);
  process.exit(1);
});
"""


def _node(host: str, port: int, ca: str, folder: Path) -> Outcome:
    code, output = _exec(["node", "-e", _NODE, host, str(port), ca])
    lines = [line for line in output.splitlines() if line.strip()]
    return Outcome(code == 0, output, code, "" if code == 0 else _last(lines, output))


def _java(host: str, port: int, ca: str, folder: Path) -> Outcome:
    classes = _java_classes()
    hosts = folder / "hosts"
    hosts.write_text(f"{LOOPBACK} {host}\n")
    argv = [
        "java",
        "-XX:TieredStopAtLevel=1",
        "-XX:+UseSerialGC",
        "-Xshare:auto",
        f"-Djdk.net.hosts.file={hosts}",
        f"-Djavax.net.ssl.trustStore={_truststore(ca)}",
        "-Djavax.net.ssl.trustStoreType=PKCS12",
        f"-Djavax.net.ssl.trustStorePassword={TRUSTSTORE_PASSWORD}",
        "-cp",
        str(classes),
        "TlsProbe",
        f"https://{host}:{port}/",
    ]
    code, output = _exec(argv)
    lines = [line for line in output.splitlines() if line.strip()]
    return Outcome(code == 0, output, code, "" if code == 0 else _last(lines, output))


def _http_get(host: str, port: int) -> bytes:
    return f"GET / HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode()


_OPENSSL_ERROR = re.compile(r"^[0-9A-F]+:error:")


def _s_client(host: str, port: int, ca: str, folder: Path) -> Outcome:
    argv = [
        "openssl",
        "s_client",
        "-connect",
        f"{LOOPBACK}:{port}",
        "-servername",
        host,
        "-verify_hostname",
        host,
        "-CAfile",
        ca,
        "-no-CApath",
        "-no-CAstore",
        "-verify_return_error",
        "-ign_eof",
    ]
    code, output = _exec(argv, stdin=_http_get(host, port))
    lines = [
        line.strip()
        for line in output.splitlines()
        if line.startswith("verify error:") or _OPENSSL_ERROR.match(line)
    ]
    return Outcome(
        code == 0, output, code, "" if code == 0 else " ".join(lines) or _last([], output)
    )


def _gnutls_cli(host: str, port: int, ca: str, folder: Path) -> Outcome:
    argv = [
        "gnutls-cli",
        f"--x509cafile={ca}",
        f"--port={port}",
        f"--sni-hostname={host}",
        f"--verify-hostname={host}",
        LOOPBACK,
    ]
    code, output = _exec(argv, stdin=_http_get(host, port))
    lines = [
        line.strip()
        for line in output.splitlines()
        if line.startswith("*** ") or line.startswith("- Status: The certificate is NOT")
    ]
    return Outcome(
        code == 0, output, code, "" if code == 0 else " ".join(lines) or _last([], output)
    )


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
        for key, value in _environment().items()
        if not key.startswith("XDG_") and key not in {"DISPLAY", "WAYLAND_DISPLAY"}
    }
    env["HOME"] = str(home)
    with _chromium_slots:
        code, output = _exec_group(argv, env=env)
    failed = _CHROMIUM_FAILED.search(output)
    ok = code == 0 and failed is None and "<body" in output
    if ok:
        return Outcome(True, output, code, "")
    return Outcome(False, output, code, failed.group(1) if failed else _last([], output))


# --------------------------------------------------------------------------------------
# Helpers

_RUNNERS: dict[str, _Runner] = {
    "curl": _curl,
    "wget": _wget,
    "python": _python(_PYTHON_SSL),
    "python-requests": _python(_PYTHON_REQUESTS),
    "node": _node,
    "java": _java,
    "openssl-s_client": _s_client,
    "gnutls-cli": _gnutls_cli,
    "chromium": _chromium,
}


def _environment() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key.lower() not in _DROPPED_ENV}
    env["LC_ALL"] = "C"
    env.pop("LANGUAGE", None)
    return env


def _exec(
    argv: list[str], *, stdin: bytes | None = None, timeout: float = TIMEOUT
) -> tuple[int, str]:
    """Run ``argv``; its exit code and everything it printed (-1 and a note on timeout)."""
    try:
        done = subprocess.run(
            argv,
            input=stdin if stdin is not None else b"",
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=_environment(),
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        partial = (exc.output or b"").decode("utf-8", "replace")
        return -1, f"{partial}\n[killed after {timeout:g} s]"
    except OSError as exc:
        return -1, f"[cannot run {argv[0]}: {exc}]"
    return done.returncode, done.stdout.decode("utf-8", "replace")


def _exec_group(
    argv: list[str], *, env: dict[str, str], timeout: float = TIMEOUT
) -> tuple[int, str]:
    """``_exec`` for a program that starts helper processes (a browser): it runs in a process
    group of its own, killed whole on timeout and after it exits (no helper outlives it)."""
    try:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    except OSError as exc:
        return -1, f"[cannot run {argv[0]}: {exc}]"
    try:
        data, _ = process.communicate(timeout=timeout)
        code = process.returncode
        note = ""
    except subprocess.TimeoutExpired:
        _kill_group(process.pid)
        data, _ = process.communicate()
        code, note = -1, f"\n[killed after {timeout:g} s]"
    finally:
        _kill_group(process.pid)
    return code, data.decode("utf-8", "replace") + note


def _kill_group(group: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, signal.SIGKILL)


def _first(lines: list[str], output: str) -> str:
    return lines[0].strip() if lines else _last([], output)


def _last(lines: list[str], output: str) -> str:
    if lines:
        return lines[-1].strip()
    rest = [line.strip() for line in output.splitlines() if line.strip()]
    return rest[-1] if rest else "(no output)"


_lock = threading.Lock()
_workspace: Path | None = None


def _workdir() -> Path:
    """One temporary directory for the whole run (compiled Java, trust stores), removed at
    exit. Callers hold ``_lock``."""
    global _workspace
    if _workspace is None:
        _workspace = Path(tempfile.mkdtemp(prefix="realclients-"))
        atexit.register(shutil.rmtree, _workspace, True)
    return _workspace


def _empty_dir() -> Path:
    """An empty CA directory: given as the CA path, it keeps the system store out."""
    with _lock:
        empty = _workdir() / "empty-ca-dir"
        empty.mkdir(exist_ok=True)
        return empty


def _java_classes() -> Path:
    """TlsProbe.java compiled once."""
    with _lock:
        classes = _workdir() / "java-classes"
        if (classes / "TlsProbe.class").exists():
            return classes
        classes.mkdir(exist_ok=True)
        code, output = _exec(["javac", "-d", str(classes), str(JAVA_SOURCE)], timeout=120)
        if code != 0:
            raise Unavailable(f"javac cannot compile {JAVA_SOURCE.name}: {output.strip()}")
        return classes


def _truststore(ca: str) -> Path:
    """A PKCS12 trust store holding only ``ca`` (made once per CA file content)."""
    with _lock:
        digest = hashlib.sha256(Path(ca).read_bytes()).hexdigest()[:16]
        store = _workdir() / f"truststore-{digest}.p12"
        if store.exists():
            return store
        partial = store.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        argv = [
            "keytool",
            "-importcert",
            "-noprompt",
            "-alias",
            "tlsdoctor-lab-ca",
            "-file",
            ca,
            "-keystore",
            str(partial),
            "-storetype",
            "PKCS12",
            "-storepass",
            TRUSTSTORE_PASSWORD,
        ]
        code, output = _exec(argv, timeout=60)
        if code != 0:
            raise Unavailable(f"keytool cannot import the CA: {output.strip()}")
        partial.rename(store)
        return store


def _nss_database(ca: str) -> Path:
    """An NSS database (what Chromium reads under ~/.pki/nssdb) trusting only ``ca``, for
    TLS servers; made once per CA file content, copied for each run."""
    with _lock:
        digest = hashlib.sha256(Path(ca).read_bytes()).hexdigest()[:16]
        database = _workdir() / f"nssdb-{digest}"
        if database.exists():
            return database
        partial = database.with_suffix(".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir()
        for argv in (
            ["certutil", "-N", "--empty-password", "-d", f"sql:{partial}"],
            ["certutil", "-A", "-t", "C,,", "-n", "lab-ca", "-i", ca, "-d", f"sql:{partial}"],
        ):
            code, output = _exec(argv, timeout=60)
            if code != 0:
                raise Unavailable(f"certutil cannot make the NSS database: {output.strip()}")
        partial.rename(database)
        return database
