"""What this machine's client builds really allow: read from the builds, not assumed.

Upstream defaults are not what a distribution ships. Debian's python3 leaves the default
context's minimum version at ``MINIMUM_SUPPORTED`` (upstream 3.10+ sets TLS 1.2), so against
a TLS 1.0-only server it gets as far as the server's signature and fails with OpenSSL's
"legacy sigalg disallowed or unsupported", not with a protocol-version alert. Each reader
here asks the build itself:

==============  ===========================================================================
OpenSSL         ``openssl version`` (library version), ``openssl version -a`` (the compiled
                default security level, ``-DOPENSSL_TLS_SECURITY_LEVEL=N``; 1 when absent),
                and the configuration file (``$OPENSSL_CONF`` or OPENSSLDIR/openssl.cnf):
                ``MinProtocol`` and ``@SECLEVEL=`` of the ``system_default`` section
python ssl      ``ssl.create_default_context()``: ``minimum_version``, ``security_level``,
                ``hostname_checks_common_name``, ``ssl.OPENSSL_VERSION`` (the running
                interpreter, the one tlsdoctor starts as the ``python`` client)
curl            ``curl -V``: libcurl's version and TLS backend (``OpenSSL/3.0.22``); libcurl
                defaults to TLS 1.2 as minimum from 8.16.0 (curl commit 9d8998c, PR #17894),
                before that to the backend's own minimum
requests        urllib3's own context (``create_urllib3_context()``): urllib3 2 sets TLS 1.2
                as minimum and no CN fallback; httpx uses ``ssl.create_default_context()``
wget            ``wget -V``: ``+ssl/gnutls`` or ``+ssl/openssl``
node            ``process.versions`` (node and its OpenSSL), ``tls.DEFAULT_MIN_VERSION``;
                node does not read the system openssl.cnf's default section (it reads
                ``nodejs_conf``), so its level is OpenSSL's compiled default: 1 up to
                OpenSSL 3.1, 2 from OpenSSL 3.2 (node's doc/api/tls.md, commit 583b1b2)
java            ``java -XshowSettings:properties -version`` (version, java.home) and
                java.home/conf/security/java.security: ``jdk.tls.disabledAlgorithms``
go              ``go version``; Go clients default to TLS 1.2 as minimum since Go 1.18
                (crypto/tls ``Config.MinVersion`` documentation)
==============  ===========================================================================

Why the security level matters: from OpenSSL 3.0 the SHA-1 and MD5+SHA-1 signatures of the
TLS 1.0/1.1 handshake count below security level 1, so "TLS 1.0, TLS 1.1 ... no longer
work at the default security level of 1" (OpenSSL CHANGES.md 3.0, commit aba03ae), and an
OpenSSL 3 client whose minimum still allows TLS 1.0 fails on the server's signature.

Everything is read once per process (``functools.cache``) and only when asked: nothing of
this runs for a plain ``check``.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import shutil
import ssl
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

from tlsdoctor.tryclients.process import run_bounded

READ_TIMEOUT = 15.0  # seconds for one version command (a JVM starts in about 1 s)
_MAX_CONFIG_BYTES = 1024 * 1024

# The protocol names the client profiles use, oldest first.
PROTOCOLS = ("SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")
_CONF_PROTOCOLS = {
    "sslv3": "SSLv3",
    "tlsv1": "TLSv1",
    "tlsv1.0": "TLSv1",
    "tlsv1.1": "TLSv1.1",
    "tlsv1.2": "TLSv1.2",
    "tlsv1.3": "TLSv1.3",
}
_PYTHON_PROTOCOLS = {
    ssl.TLSVersion.SSLv3: "SSLv3",
    ssl.TLSVersion.TLSv1: "TLSv1",
    ssl.TLSVersion.TLSv1_1: "TLSv1.1",
    ssl.TLSVersion.TLSv1_2: "TLSv1.2",
    ssl.TLSVersion.TLSv1_3: "TLSv1.3",
}


@dataclass(frozen=True)
class TlsBuild:
    """One client's TLS build, as far as it could be read.

    ``library`` is the TLS library and its version ("OpenSSL 3.0.22", "GnuTLS", "JSSE",
    "Go crypto/tls"); ``min_protocol`` the oldest version the client offers by default and
    ``security_level`` OpenSSL's level (None: not OpenSSL, or not readable);
    ``checks_common_name`` whether a certificate without SANs is matched by its CN (a
    Python context's ``hostname_checks_common_name``). ``sources`` says where each value
    came from.
    """

    client: str
    version: str
    library: str
    min_protocol: str | None
    security_level: int | None
    sources: tuple[str, ...]
    checks_common_name: bool | None = None  # falls back to the CN without SANs (None: unknown)

    @property
    def openssl_version(self) -> tuple[int, ...] | None:
        """The OpenSSL version as numbers, when the library is OpenSSL."""
        found = re.match(r"OpenSSL (\d+)\.(\d+)\.(\d+)", self.library)
        return tuple(int(part) for part in found.groups()) if found else None


# --------------------------------------------------------------------------------------
# OpenSSL (the command line tool and its configuration)


@dataclass(frozen=True)
class OpenSslConfig:
    """What the system's OpenSSL applies to every context that loads its configuration."""

    library: str  # "OpenSSL 3.0.22"
    compiled_level: int  # -DOPENSSL_TLS_SECURITY_LEVEL, else OpenSSL's default 1
    config_file: str | None
    min_protocol: str | None  # MinProtocol of system_default
    config_level: int | None  # @SECLEVEL= in its CipherString

    @property
    def security_level(self) -> int:
        return self.config_level if self.config_level is not None else self.compiled_level


@functools.cache
def openssl_config() -> OpenSslConfig | None:
    """The system OpenSSL's version, compiled security level and configuration."""
    if shutil.which("openssl") is None:
        return None
    code, text = run_bounded(["openssl", "version", "-a"], timeout=READ_TIMEOUT)
    if code != 0:
        return None
    library = _first_match(r"^(OpenSSL \d+\.\d+\.\d+\S*)", text) or "OpenSSL"
    level = _first_match(r"-DOPENSSL_TLS_SECURITY_LEVEL=(\d)", text)
    directory = _first_match(r'^OPENSSLDIR: "([^"]*)"', text)
    path = os.environ.get("OPENSSL_CONF") or (
        str(Path(directory) / "openssl.cnf") if directory else None
    )
    sections = _read_conf(path) if path else {}
    minimum, config_level = system_default(sections)
    return OpenSslConfig(
        library=library,
        compiled_level=int(level) if level else 1,
        config_file=path if sections else None,
        min_protocol=minimum,
        config_level=config_level,
    )


def _read_conf(path: str) -> dict[str, dict[str, str]]:
    """An OpenSSL configuration file as sections of key = value (no includes followed)."""
    try:
        with open(path, "rb") as handle:
            text = handle.read(_MAX_CONFIG_BYTES).decode("utf-8", "replace")
    except OSError:
        return {}
    return parse_conf(text)


def parse_conf(text: str) -> dict[str, dict[str, str]]:
    """Sections of an OpenSSL configuration text (``default`` for the lines before any)."""
    sections: dict[str, dict[str, str]] = {"default": {}}
    current = sections["default"]
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        header = re.fullmatch(r"\[\s*([^\]\s]+)\s*\]", line)
        if header:
            current = sections.setdefault(header.group(1), {})
        elif "=" in line:
            key, value = line.split("=", 1)
            current[key.strip()] = value.strip().strip('"')
    return sections


def system_default(sections: dict[str, dict[str, str]]) -> tuple[str | None, int | None]:
    """MinProtocol and @SECLEVEL of the section OpenSSL applies to every SSL context:
    openssl_conf -> its ssl_conf -> its system_default."""
    init = sections.get(sections["default"].get("openssl_conf", ""), {})
    ssl_section = sections.get(init.get("ssl_conf", ""), {})
    applied = sections.get(ssl_section.get("system_default", ""), {})
    minimum = _CONF_PROTOCOLS.get(applied.get("MinProtocol", "").lower())
    level = re.search(r"@SECLEVEL=(\d)", applied.get("CipherString", ""))
    return minimum, int(level.group(1)) if level else None


def _first_match(pattern: str, text: str) -> str | None:
    found = re.search(pattern, text, re.MULTILINE)
    return found.group(1) if found else None


def _openssl_backed(client: str, version: str, library: str, floor: str | None) -> TlsBuild:
    """A client on the system OpenSSL: its minimum is ``floor`` (the client's own), else
    the configuration's MinProtocol, else TLS 1.0 (OpenSSL 3 is built without SSLv3)."""
    config = openssl_config()
    sources = ["openssl version -a"]
    minimum, level = floor, None
    if config is not None:
        level = config.security_level
        if config.config_file:
            sources.append(config.config_file)
        if minimum is None or (
            config.min_protocol is not None
            and PROTOCOLS.index(config.min_protocol) > PROTOCOLS.index(minimum)
        ):
            minimum = config.min_protocol or minimum
    return TlsBuild(client, version, library, minimum or "TLSv1", level, tuple(sources))


# --------------------------------------------------------------------------------------
# One reader per client


@functools.cache
def python_build() -> TlsBuild:
    """The running interpreter's ssl module: what its default context really allows."""
    return context_build(ssl.create_default_context(), "ssl.create_default_context()")


def context_build(context: ssl.SSLContext, source: str, client: str = "python") -> TlsBuild:
    """What one Python ``SSLContext`` allows: its minimum version and security level."""
    with warnings.catch_warnings():  # minimum_version of an old build can warn
        warnings.simplefilter("ignore", DeprecationWarning)
        minimum = context.minimum_version
    library = " ".join(ssl.OPENSSL_VERSION.split()[:2])
    protocol = _PYTHON_PROTOCOLS.get(minimum)
    if protocol is None:  # MINIMUM_SUPPORTED: whatever OpenSSL allows (no SSLv3 in 3.x)
        config = openssl_config()
        protocol = (config.min_protocol if config else None) or "TLSv1"
    return TlsBuild(
        client,
        f"Python {sys.version.split()[0]}",
        library,
        protocol,
        context.security_level,
        (source, "ssl.OPENSSL_VERSION"),
        context.hostname_checks_common_name,
    )


@functools.cache
def curl_build() -> TlsBuild | None:
    if shutil.which("curl") is None:
        return None
    _, text = run_bounded(["curl", "-q", "-V"], timeout=READ_TIMEOUT)
    full = re.search(r"libcurl/(\d+)\.(\d+)\.?(\d*)", text)
    backend = _first_match(r"libcurl/\S+ (\S+)", text) or "?"
    version = f"curl {full.group(0).split('/')[1]}" if full else "curl"
    # libcurl 8.16.0 made TLS 1.2 the default minimum (curl PR #17894).
    floor = None
    if full and (int(full.group(1)), int(full.group(2))) >= (8, 16):
        floor = "TLSv1.2"
    if backend.startswith("OpenSSL/"):
        library = "OpenSSL " + backend.split("/", 1)[1]
        build = _openssl_backed("curl", version, library, floor)
        return TlsBuild(
            "curl", version, library, build.min_protocol, build.security_level,
            ("curl -V", *build.sources),
        )  # fmt: skip
    return TlsBuild("curl", version, backend.replace("/", " "), floor, None, ("curl -V",))


@functools.cache
def wget_build() -> TlsBuild | None:
    if shutil.which("wget") is None:
        return None
    _, text = run_bounded(["wget", "-V"], timeout=READ_TIMEOUT)
    version = _first_match(r"^(GNU Wget \S+)", text) or "wget"
    backend = _first_match(r"\+ssl/(\w+)", text)
    if backend == "openssl":
        return _openssl_backed("wget", version, openssl_library_name(), None)
    library = "GnuTLS" if backend == "gnutls" else (backend or "no TLS")
    return TlsBuild("wget", version, library, None, None, ("wget -V",))


def openssl_library_name() -> str:
    config = openssl_config()
    return config.library if config else "OpenSSL"


@functools.cache
def openssl_cli_build() -> TlsBuild | None:
    config = openssl_config()
    if config is None:
        return None
    return _openssl_backed("openssl-s_client", config.library, config.library, None)


@functools.cache
def gnutls_build() -> TlsBuild | None:
    if shutil.which("gnutls-cli") is None:
        return None
    _, text = run_bounded(["gnutls-cli", "--version"], timeout=READ_TIMEOUT)
    version = _first_match(r"^gnutls-cli (\S+)", text)
    library = f"GnuTLS {version}" if version else "GnuTLS"
    return TlsBuild("gnutls-cli", library, library, None, None, ("gnutls-cli --version",))


_NODE = (
    "const t=require('tls');"
    "console.log(process.versions.node, process.versions.openssl, t.DEFAULT_MIN_VERSION)"
)


@functools.cache
def node_build() -> TlsBuild | None:
    if shutil.which("node") is None:
        return None
    code, text = run_bounded(["node", "-e", _NODE], timeout=READ_TIMEOUT)
    parts = text.split()
    if code != 0 or len(parts) < 3:
        return None
    node, openssl, minimum = parts[:3]
    numbers = re.match(r"(\d+)\.(\d+)", openssl)
    # Node's own default level: OpenSSL's compiled default (1 before OpenSSL 3.2, then 2).
    level = 2 if numbers and (int(numbers.group(1)), int(numbers.group(2))) >= (3, 2) else 1
    return TlsBuild(
        "node",
        f"node {node}",
        f"OpenSSL {openssl}",
        _CONF_PROTOCOLS.get(minimum.lower(), minimum),
        level,
        ("process.versions", "tls.DEFAULT_MIN_VERSION"),
    )


@functools.cache
def java_build() -> TlsBuild | None:
    if shutil.which("java") is None:
        return None
    _, text = run_bounded(["java", "-XshowSettings:properties", "-version"], timeout=READ_TIMEOUT)
    version = _first_match(r"java\.runtime\.version = (\S+)", text) or _first_match(
        r'version "([^"]+)"', text
    )
    home = _first_match(r"java\.home = (\S+)", text)
    minimum, sources = None, ["java -XshowSettings:properties"]
    if home:
        security = Path(home) / "conf" / "security" / "java.security"
        disabled = _java_property(security, "jdk.tls.disabledAlgorithms")
        if disabled is not None:
            sources.append(str(security))
            off = {item.strip() for item in disabled.split(",")}
            minimum = next(
                (name for name in ("TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3") if name not in off),
                None,
            )
    return TlsBuild("java", f"Java {version or '?'}", "JSSE", minimum, None, tuple(sources))


def _java_property(path: Path, key: str) -> str | None:
    """A property of a java.security file, its continuation lines joined."""
    try:
        with open(path, "rb") as handle:
            text = handle.read(_MAX_CONFIG_BYTES).decode("utf-8", "replace")
    except OSError:
        return None
    found = re.search(rf"^{re.escape(key)}\s*=\s*((?:[^\n]*\\\n)*[^\n]*)", text, re.MULTILINE)
    if found is None:
        return None
    return re.sub(r"\\\n\s*", "", found.group(1))


@functools.cache
def go_build() -> TlsBuild | None:
    if shutil.which("go") is None:
        return None
    code, text = run_bounded(["go", "version"], timeout=READ_TIMEOUT)
    found = re.search(r"go(\d+)\.(\d+)(\.\d+)?", text)
    if code != 0 or found is None:
        return None
    # Go 1.18 raised the client default minimum to TLS 1.2 (crypto/tls Config.MinVersion).
    minimum = "TLSv1.2" if (int(found.group(1)), int(found.group(2))) >= (1, 18) else "TLSv1"
    return TlsBuild("go", found.group(0), "Go crypto/tls", minimum, None, ("go version",))


@functools.cache
def requests_build() -> TlsBuild:
    """requests on urllib3: urllib3 2 raises the minimum to TLS 1.2 in its own context, so
    ask that context (``urllib3.util.ssl_.create_urllib3_context()``)."""
    base = dataclasses.replace(python_build(), client="python-requests")
    try:
        from urllib3.util.ssl_ import create_urllib3_context
    except ImportError:
        return base
    from importlib.metadata import version

    context = create_urllib3_context()
    minimum = _PYTHON_PROTOCOLS.get(context.minimum_version, base.min_protocol)
    return dataclasses.replace(
        base,
        version=f"{base.version}, urllib3 {version('urllib3')}",
        min_protocol=minimum,
        sources=(*base.sources, "urllib3.util.ssl_.create_urllib3_context()"),
        checks_common_name=context.hostname_checks_common_name,
    )


_READERS = {
    "curl": curl_build,
    "wget": wget_build,
    "openssl-s_client": openssl_cli_build,
    "gnutls-cli": gnutls_build,
    "python": python_build,
    "python-requests": requests_build,
    "node": node_build,
    "java": java_build,
    "go": go_build,
}
# httpx (0.28+) makes its context with ssl.create_default_context(): Python's own.
_SAME_BUILD = {"python-httpx": "python"}


def build_of(client: str) -> TlsBuild | None:
    """The build facts of one local client (read once), None when unknown."""
    reader = _READERS.get(_SAME_BUILD.get(client, client))
    if reader is None:
        return None
    build = reader()
    if build is not None and client in _SAME_BUILD:
        return dataclasses.replace(build, client=client)
    return build
