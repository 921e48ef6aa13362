"""The real clients of this machine, one HTTPS GET each, with verification on.

``run_client(name, dial, workspace, timeout)`` runs one client against ``dial`` and returns
an :class:`Outcome`: whether it connected and trusted the server, its exit code, the
line(s) of its own error a user reads, everything it printed (bounded). How each client
is pointed at the endpoint:

=================  ===========================================================================
curl               ``--resolve host:port:ADDR`` for --connect; ``--cacert CA --capath EMPTY``
                   (only CA); ``-q`` skips ~/.curlrc; ``--max-time``
wget               ``--ca-certificate=CA --ca-directory=EMPTY``, ``--no-config``; wget has no
                   ``--resolve``: for --connect it runs under ``unshare --mount`` (plus
                   ``--map-root-user`` when not root) with a one-line hosts file bind-mounted
                   over /etc/hosts in that private mount namespace only
openssl-s_client   ``-connect ADDR:port -servername host -verify_hostname host
                   -verify_return_error``, ``-CAfile CA -no-CApath -no-CAstore``; an HTTP GET
                   on stdin with ``-ign_eof``, so an alert sent after a TLS 1.3 handshake
                   (client certificate required) is read as an HTTPS client would
gnutls-cli         ``--x509cafile=CA --port --sni-hostname=host --verify-hostname=host ADDR``
python             ``ssl.create_default_context(cafile=CA)``, a socket to ADDR,
                   ``server_hostname=host`` (tlsdoctor's own interpreter)
python-requests    ``requests.get(url, verify=CA)``, ``socket.getaddrinfo`` answering ADDR
python-httpx       ``httpx.get(url, verify=ssl.create_default_context(cafile=CA))``, likewise
node               ``https.get({ca, lookup})``: ``ca`` replaces the bundled roots, ``lookup``
                   answers ADDR
java               ``TlsProbe`` (HttpsURLConnection) compiled once with javac (else run as a
                   single source file); the CA imported with keytool into a PKCS12 trust store
                   (``-Djavax.net.ssl.trustStore``); ``-Djdk.net.hosts.file`` maps the name
go                 a net/http program built once with ``go build`` (standard library only,
                   ``GOFLAGS=-mod=mod GOPROXY=off``, GOCACHE in tlsdoctor's cache), its dialer
                   sending ADDR; ``RootCAs`` from CA
=================  ===========================================================================

Without a CA file each client uses its own default store, as it does for its users.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import re
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tlsdoctor.tryclients import probes
from tlsdoctor.tryclients.process import Finished, client_environment, run_bounded, run_group

DEFAULT_TIMEOUT = 20.0  # seconds per client, startup included (a JVM takes ~1 s here)
PREPARE_TIMEOUT = 180.0  # seconds to compile a probe once (a cold Go build takes ~10 s here)
TRUSTSTORE_PASSWORD = "changeit"

# Every client tlsdoctor knows how to run, in display order.
CLIENTS: tuple[str, ...] = (
    "curl",
    "wget",
    "openssl-s_client",
    "gnutls-cli",
    "python",
    "python-requests",
    "python-httpx",
    "node",
    "java",
    "go",
)
# The report's client profile each real client is judged by (clients.json): s_client is
# OpenSSL's verifier as curl uses it, gnutls-cli GnuTLS's as Debian's wget uses it, httpx
# reads certifi as requests does.
PROFILE_OF: dict[str, str] = {
    "curl": "curl",
    "wget": "wget",
    "openssl-s_client": "curl",
    "gnutls-cli": "wget",
    "python": "python",
    "python-requests": "python-requests",
    "python-httpx": "python-requests",
    "node": "node",
    "java": "java",
    "go": "go",
}
# Where each comes from on Debian: said when one is missing.
PACKAGES: dict[str, str] = {
    "curl": "apt: curl",
    "wget": "apt: wget",
    "openssl-s_client": "apt: openssl",
    "gnutls-cli": "apt: gnutls-bin",
    "python": "the interpreter running tlsdoctor",
    "python-requests": "pip: requests",
    "python-httpx": "pip: httpx",
    "node": "apt: nodejs",
    "java": "apt: openjdk-17-jdk-headless (java, keytool)",
    "go": "apt: golang-go",
}
_PROGRAMS: dict[str, tuple[str, ...]] = {
    "curl": ("curl",),
    "wget": ("wget",),
    "openssl-s_client": ("openssl",),
    "gnutls-cli": ("gnutls-cli",),
    "node": ("node",),
    "java": ("java",),
    "go": ("go",),
}
_MODULES = {"python-requests": "requests", "python-httpx": "httpx"}


@dataclass(frozen=True)
class Dial:
    """Where a client connects: ``host`` is the name for SNI and verification; ``address``
    is dialed instead of resolving it (None: resolve); ``ca_file`` the only anchors (None:
    the client's own default store)."""

    host: str
    port: int
    address: str | None = None
    ca_file: str | None = None

    @property
    def url(self) -> str:
        name = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{name}:{self.port}/"

    @property
    def dial_address(self) -> str:
        return self.address or self.host


@dataclass(frozen=True)
class Outcome:
    """What one real client did."""

    client: str
    ok: bool  # exited 0: connected, verified, got an answer
    exit_code: int  # -1: killed at its time bound, or could not start
    message: str  # its own error line(s); "" when ok
    output: str  # everything it printed, stdout and stderr interleaved (bounded)
    killed: bool = False
    seconds: float = 0.0


class Workspace:
    """Where probes are compiled (kept between runs: ``cache``) and per-run files go."""

    def __init__(self, cache: Path) -> None:
        self.cache = cache
        self._lock = threading.Lock()

    def private(self, name: str) -> Path:
        """A directory of the cache, made owner-only (compiled code is run from it)."""
        with self._lock:
            folder = self.cache / name
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            if folder.stat().st_uid != os.geteuid():
                raise Unavailable(f"{folder} belongs to another user")
            return folder

    def empty_dir(self) -> Path:
        """An empty CA directory: given as the CA path, it keeps the system store out."""
        return self.private("empty-ca-dir")


class Unavailable(Exception):
    """A client cannot run here; the message says why."""


def default_cache() -> Path:
    """tlsdoctor's per-user cache for compiled probes (platformdirs' user cache)."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("tlsdoctor")) / "clients"


# --------------------------------------------------------------------------------------
# Availability


def unavailable(client: str, dial: Dial | None = None) -> str | None:
    """Why ``client`` cannot run here (for ``dial``), or None when it can."""
    if client not in PROFILE_OF:
        return f"unknown client '{client}'; known: {', '.join(CLIENTS)}"
    missing = [name for name in _PROGRAMS.get(client, ()) if shutil.which(name) is None]
    if missing:
        return f"{', '.join(missing)} not installed ({PACKAGES[client]})"
    module = _MODULES.get(client)
    if module is not None and importlib.util.find_spec(module) is None:
        return f"{module} is not importable by {sys.executable} ({PACKAGES[client]})"
    if client == "java" and dial is not None and dial.ca_file and shutil.which("keytool") is None:
        return "keytool not installed: needed to give java the CA file"
    if client == "wget" and dial is not None and _needs_hosts_mapping(dial):
        return hosts_namespace_problem()
    return None


def _needs_hosts_mapping(dial: Dial) -> bool:
    return dial.address is not None and dial.address != dial.host


_hosts_lock = threading.Lock()
_hosts_problem: list[str | None] = []


def hosts_namespace_problem() -> str | None:
    """Can a private mount namespace give wget its own /etc/hosts here? (asked once)"""
    with _hosts_lock:
        if not _hosts_problem:
            _hosts_problem.append(_probe_hosts_namespace())
        return _hosts_problem[0]


def _probe_hosts_namespace() -> str | None:
    if shutil.which("unshare") is None:
        return "wget has no --resolve, and unshare (util-linux) is not installed"
    with tempfile.TemporaryDirectory(prefix="tlsdoctor-") as folder:
        hosts = Path(folder) / "hosts"
        hosts.write_text("127.0.0.1 probe.tryclients.test\n")
        code, output = run_bounded(
            [*_with_hosts_file(hosts), "getent", "hosts", "probe.tryclients.test"], timeout=15
        )
    if code != 0 or "127.0.0.1" not in output:
        first = output.strip().splitlines()[0] if output.strip() else f"exit {code}"
        return (
            "wget has no --resolve, and a private mount namespace with its own /etc/hosts "
            f"(unshare --mount) is not possible here: {first[:200]}"
        )
    return None


def _with_hosts_file(hosts: Path) -> list[str]:
    """A command prefix: run the rest in a private mount namespace where ``hosts`` is
    /etc/hosts. Only that namespace sees the bind mount (unshare makes mounts private)."""
    namespace = ["unshare", "--mount"] if os.geteuid() == 0 else ["unshare", "-r", "--mount"]
    script = 'mount --bind "$0" /etc/hosts && exec "$@"'
    return [*namespace, "sh", "-c", script, str(hosts)]


def _hosts_file(folder: Path, dial: Dial) -> Path:
    hosts = folder / "hosts"
    hosts.write_text(f"{dial.dial_address} {dial.host}\n")
    return hosts


# --------------------------------------------------------------------------------------
# Running


def run_client(client: str, dial: Dial, workspace: Workspace, timeout: float) -> Outcome:
    """Run one real client against ``dial``; killed with its process group at ``timeout``."""
    reason = unavailable(client, dial)
    if reason is not None:
        raise Unavailable(reason)
    own_timeout = max(1.0, timeout - 2.0)  # its own limit first: its own timeout message
    with tempfile.TemporaryDirectory(prefix="tlsdoctor-client-") as folder:
        argv, stdin, env = _COMMANDS[client](dial, workspace, Path(folder), own_timeout)
        done = run_group(argv, timeout=timeout, stdin=stdin, env=env, cwd=folder)
    return _outcome(client, done, _MESSAGES.get(client, _last_line), timeout)


def _outcome(client: str, done: Finished, read: Callable[[str], str], timeout: float) -> Outcome:
    ok = done.exit_code == 0 and not done.killed
    if ok:
        message = ""
    elif done.killed:
        message = f"(killed after {timeout:g} s: no answer in time)"
    else:
        message = read(done.output)
    return Outcome(client, ok, done.exit_code, message, done.output, done.killed, done.seconds)


_Command = tuple[list[str], bytes, "dict[str, str] | None"]


def _curl(dial: Dial, workspace: Workspace, folder: Path, timeout: float) -> _Command:
    argv = ["curl", "-q", "-sS", "-o", "/dev/null", "--max-time", f"{timeout:g}"]
    argv += ["--noproxy", "*"]
    if dial.ca_file:
        argv += ["--cacert", dial.ca_file, "--capath", str(workspace.empty_dir())]
    if _needs_hosts_mapping(dial):
        address = f"[{dial.address}]" if ":" in dial.dial_address else dial.dial_address
        argv += ["--resolve", f"{dial.host}:{dial.port}:{address}"]
    return [*argv, dial.url], b"", None


def _wget(dial: Dial, workspace: Workspace, folder: Path, timeout: float) -> _Command:
    prefix = _with_hosts_file(_hosts_file(folder, dial)) if _needs_hosts_mapping(dial) else []
    argv = [*prefix, "wget", "--no-config", "--no-hsts", "--tries=1", f"--timeout={timeout:g}"]
    argv += ["-O", "/dev/null"]
    if dial.ca_file:
        argv += [f"--ca-certificate={dial.ca_file}", f"--ca-directory={workspace.empty_dir()}"]
    return [*argv, dial.url], b"", None


def _http_get(dial: Dial) -> bytes:
    name = f"[{dial.host}]" if ":" in dial.host else dial.host
    return f"GET / HTTP/1.1\r\nHost: {name}:{dial.port}\r\nConnection: close\r\n\r\n".encode()


def _s_client(dial: Dial, workspace: Workspace, folder: Path, timeout: float) -> _Command:
    from tlsdoctor.probe.endpoint import is_ip

    address = f"[{dial.dial_address}]" if ":" in dial.dial_address else dial.dial_address
    argv = ["openssl", "s_client", "-connect", f"{address}:{dial.port}"]
    if is_ip(dial.host):
        argv += ["-verify_ip", dial.host, "-noservername"]
    else:
        argv += ["-servername", dial.host, "-verify_hostname", dial.host]
    argv += ["-verify_return_error", "-ign_eof"]
    if dial.ca_file:
        argv += ["-CAfile", dial.ca_file, "-no-CApath", "-no-CAstore"]
    return argv, _http_get(dial), None


def _gnutls_cli(dial: Dial, workspace: Workspace, folder: Path, timeout: float) -> _Command:
    from tlsdoctor.probe.endpoint import is_ip

    argv = ["gnutls-cli", f"--port={dial.port}", f"--verify-hostname={dial.host}"]
    if not is_ip(dial.host):
        argv.append(f"--sni-hostname={dial.host}")
    if dial.ca_file:
        argv.append(f"--x509cafile={dial.ca_file}")
    return [*argv, dial.dial_address], _http_get(dial), None


def _python(script: str) -> Callable[[Dial, Workspace, Path, float], _Command]:
    def command(dial: Dial, workspace: Workspace, folder: Path, timeout: float) -> _Command:
        arguments = [dial.host, str(dial.port), dial.address or "", dial.ca_file or ""]
        return [sys.executable, "-c", script, *arguments, f"{timeout:g}"], b"", None

    return command


def _node(dial: Dial, workspace: Workspace, folder: Path, timeout: float) -> _Command:
    arguments = [dial.host, str(dial.port), dial.address or "", dial.ca_file or ""]
    return ["node", "-e", probes.NODE, *arguments, f"{timeout:g}"], b"", None


def _java(dial: Dial, workspace: Workspace, folder: Path, timeout: float) -> _Command:
    argv = ["java", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xshare:auto"]
    if _needs_hosts_mapping(dial):
        argv.append(f"-Djdk.net.hosts.file={_hosts_file(folder, dial)}")
    if dial.ca_file:
        argv += [
            f"-Djavax.net.ssl.trustStore={java_truststore(dial.ca_file, workspace)}",
            "-Djavax.net.ssl.trustStoreType=PKCS12",
            f"-Djavax.net.ssl.trustStorePassword={TRUSTSTORE_PASSWORD}",
        ]
    classes = java_classes(workspace)
    program = ["-cp", str(classes), probes.JAVA_CLASS] if classes else [_java_source(workspace)]
    return [*argv, *program, dial.url, str(int(timeout * 1000))], b"", None


def _go(dial: Dial, workspace: Workspace, folder: Path, timeout: float) -> _Command:
    argv = [str(go_binary(workspace)), dial.url, dial.address or "", dial.ca_file or ""]
    return [*argv, f"{int(timeout * 1000)}ms"], b"", None


_COMMANDS: dict[str, Callable[[Dial, Workspace, Path, float], _Command]] = {
    "curl": _curl,
    "wget": _wget,
    "openssl-s_client": _s_client,
    "gnutls-cli": _gnutls_cli,
    "python": _python(probes.PYTHON_SSL),
    "python-requests": _python(probes.PYTHON_REQUESTS),
    "python-httpx": _python(probes.PYTHON_HTTPX),
    "node": _node,
    "java": _java,
    "go": _go,
}


# --------------------------------------------------------------------------------------
# What a user reads of each client's output


def _last_line(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def _curl_message(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.startswith("curl: (")]
    return lines[0] if lines else _last_line(output)


_WGET_PROGRESS = re.compile(
    r"^(--\d|\d{4}-\d\d-\d\d |Loaded CA|Resolving |Connecting to |HTTP request sent|Length:|"
    r"Saving to:|\s)"
)


def _wget_message(output: str) -> str:
    # An error that comes while wget awaits the response (a TLS 1.3 server aborting after
    # the handshake) is printed on the progress line itself: keep what follows.
    lines = [
        line.strip().removeprefix("HTTP request sent, awaiting response... ")
        for line in output.splitlines()
        if line.strip()
    ]
    errors = [line for line in lines if not _WGET_PROGRESS.match(line)]
    return " ".join(errors) or _last_line(output)


_OPENSSL_ERROR = re.compile(r"^[0-9A-F]+:error:")


def _s_client_message(output: str) -> str:
    lines = [
        line.strip()
        for line in output.splitlines()
        if line.startswith("verify error:") or _OPENSSL_ERROR.match(line)
    ]
    return " ".join(lines) or _last_line(output)


def _gnutls_message(output: str) -> str:
    lines = [
        line.strip()
        for line in output.splitlines()
        if line.startswith("*** ") or line.startswith("- Status: The certificate is NOT")
    ]
    return " ".join(lines) or _last_line(output)


_MESSAGES: dict[str, Callable[[str], str]] = {
    "curl": _curl_message,
    "wget": _wget_message,
    "openssl-s_client": _s_client_message,
    "gnutls-cli": _gnutls_message,
}


# --------------------------------------------------------------------------------------
# Probes compiled once (kept in the cache, keyed by the source and the toolchain)


def _digest(*parts: str | bytes) -> str:
    hashed = hashlib.sha256()
    for part in parts:
        hashed.update(part.encode() if isinstance(part, str) else part)
        hashed.update(b"\0")
    return hashed.hexdigest()[:16]


@functools.cache
def _toolchain(*argv: str) -> str:
    """A toolchain's version text (asked once): part of a compiled probe's cache key."""
    return run_bounded(list(argv), timeout=30)[1]


def java_classes(workspace: Workspace) -> Path | None:
    """TlsProbe compiled with javac (None without javac: run as a single source file)."""
    if shutil.which("javac") is None:
        return None
    folder = workspace.private(f"java-{_digest(probes.JAVA, _toolchain('javac', '-version'))}")
    if (folder / f"{probes.JAVA_CLASS}.class").exists():
        return folder
    source = folder / f"{probes.JAVA_CLASS}.java"
    source.write_text(probes.JAVA)
    code, output = run_bounded(["javac", "-d", str(folder), str(source)], timeout=PREPARE_TIMEOUT)
    if code != 0:
        raise Unavailable(f"javac cannot compile the probe: {_last_line(output)[:200]}")
    return folder


def _java_source(workspace: Workspace) -> str:
    source = workspace.private("java-source") / f"{probes.JAVA_CLASS}.java"
    source.write_text(probes.JAVA)
    return str(source)


def java_truststore(ca_file: str, workspace: Workspace) -> Path:
    """A PKCS12 trust store holding only the certificates of ``ca_file``."""
    data = Path(ca_file).read_bytes()
    folder = workspace.private("java-truststores")
    store = folder / f"{_digest(data)}.p12"
    if store.exists():
        return store
    partial = folder / f"{store.name}.{os.getpid()}.{threading.get_ident()}.partial"
    partial.unlink(missing_ok=True)
    argv = ["keytool", "-importcert", "-noprompt", "-file", ca_file, "-keystore", str(partial)]
    argv += ["-storetype", "PKCS12", "-storepass", TRUSTSTORE_PASSWORD]
    from cryptography import x509

    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError:
        certificates = []
    if len(certificates) > 1:  # keytool -importcert takes one: import each as its alias
        for index, certificate in enumerate(certificates):
            one = folder / f"{partial.name}.{index}.pem"
            from cryptography.hazmat.primitives.serialization import Encoding

            one.write_bytes(certificate.public_bytes(Encoding.PEM))
            step = [*argv, "-alias", f"ca-{index}"]
            step[step.index("-file") + 1] = str(one)
            code, output = run_bounded(step, timeout=60)
            one.unlink(missing_ok=True)
            if code != 0:
                raise Unavailable(f"keytool cannot import the CA: {_last_line(output)[:200]}")
    else:
        code, output = run_bounded([*argv, "-alias", "ca-0"], timeout=60)
        if code != 0:
            raise Unavailable(f"keytool cannot import the CA: {_last_line(output)[:200]}")
    partial.rename(store)
    return store


_go_lock = threading.Lock()


def go_binary(workspace: Workspace) -> Path:
    """The Go probe built once: standard library only, no network, its own GOCACHE."""
    with _go_lock:
        version = _toolchain("go", "version")
        folder = workspace.private(f"go-{_digest(probes.GO, probes.GO_MOD, version)}")
        binary = folder / "tlsprobe"
        if binary.exists():
            return binary
        (folder / "main.go").write_text(probes.GO)
        (folder / "go.mod").write_text(probes.GO_MOD)
        env = client_environment(
            {
                "GOFLAGS": "-mod=mod",
                "GOPROXY": "off",
                "GOTOOLCHAIN": "local",
                "GOCACHE": str(workspace.private("go-build-cache")),
                "GOPATH": str(workspace.private("go-path")),
                "CGO_ENABLED": "0",
            }
        )
        done = run_group(
            ["go", "build", "-o", "tlsprobe.partial", "."],
            timeout=PREPARE_TIMEOUT,
            env=env,
            cwd=str(folder),
        )
        if done.exit_code != 0:
            raise Unavailable(f"go cannot build the probe: {_last_line(done.output)[:200]}")
        (folder / "tlsprobe.partial").rename(binary)
        return binary


def prepare(client: str, dial: Dial, workspace: Workspace) -> str | None:
    """Compile what ``client`` needs before the clock of its run starts; why it cannot
    run, or None."""
    reason = unavailable(client, dial)
    if reason is not None:
        return reason
    try:
        if client == "java":
            java_classes(workspace)
            if dial.ca_file:
                java_truststore(dial.ca_file, workspace)
        elif client == "go":
            go_binary(workspace)
    except (Unavailable, OSError) as exc:
        return str(exc)
    return None
