"""Which store each client really reads on this machine, in this environment.

A store holding a CA is not a client trusting it: Python requests and httpx read certifi's
own ``cacert.pem`` unless a variable names another bundle, Node reads the roots built into
it unless a flag or NODE_EXTRA_CA_CERTS says otherwise, and pip reads the system store only
from version 24.2 (truststore). So every claim ``trust find`` and ``trust add`` make goes
through :func:`readings`: for each client, the store or file it reads, and when that is
none tlsdoctor changes, what the user must do instead. Where each fact comes from:

- requests: ``Session.merge_environment_settings`` takes ``REQUESTS_CA_BUNDLE``, then
  ``CURL_CA_BUNDLE``, else ``certifi.where()`` (requests/sessions.py, utils.py).
- httpx: ``create_ssl_context`` loads ``SSL_CERT_FILE`` (then ``SSL_CERT_DIR``) when
  ``trust_env``, else ``certifi.where()`` (httpx/_config.py, 0.27-0.29).
- pip: since 24.2 ``truststore.SSLContext`` (the system's default verify paths) plus its
  vendored certifi (pip/_internal/cli/index_command.py); before, its vendored certifi,
  which Debian's python3-pip patches to return /etc/ssl/certs/ca-certificates.crt.
- node: bundled roots; ``--use-openssl-ca`` (every version here) reads OpenSSL's default
  store; ``--use-system-ca`` only from 22.15 / 23.8; ``NODE_EXTRA_CA_CERTS`` adds a file
  (``node --help`` of the installed version lists what it has).
"""

from __future__ import annotations

import contextlib
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from tlsdoctor.stores.base import StoreError, StoreKind, TrustStore, same_ca

__all__ = [
    "Claim",
    "NodeFacts",
    "PipFacts",
    "Reading",
    "claims",
    "node_advice",
    "node_facts",
    "pip_facts",
    "readers_of",
    "readings",
    "trusting",
]

# Clients that read the system bundle through OpenSSL or GnuTLS defaults.
SYSTEM_READERS = ("curl", "wget", "openssl", "gnutls-cli", "python", "git", "go")
_VERSION = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?")


@dataclass(frozen=True)
class NodeFacts:
    version: tuple[int, int, int]
    use_openssl_ca: bool  # the flag exists (node --help)
    use_system_ca: bool

    @property
    def shown(self) -> str:
        return "node " + ".".join(map(str, self.version))


@dataclass(frozen=True)
class PipFacts:
    version: tuple[int, int, int]
    location: Path  # the pip package directory
    reads_system: bool  # truststore (24.2+) or Debian's patched certifi
    certifi: Path | None  # its own bundle, when it reads one

    @property
    def shown(self) -> str:
        return "pip " + ".".join(map(str, self.version))


@dataclass(frozen=True)
class Reading:
    """What one client reads: stores (ids) and files; ``advice`` when that is no store
    tlsdoctor changes, so adding a CA to the stores does not reach it."""

    client: str
    stores: tuple[str, ...]
    files: tuple[Path, ...] = ()
    advice: str | None = None
    how: str = ""  # e.g. "REQUESTS_CA_BUNDLE", "truststore", "--use-openssl-ca"


def readings(
    stores: Sequence[TrustStore],
    environ: Mapping[str, str],
    node: NodeFacts | None,
    pip: PipFacts | None,
) -> list[Reading]:
    """Per client, what it reads here. Pure: the facts about Node and pip come in."""
    system = next((s for s in stores if s.kind is StoreKind.SYSTEM), None)
    system_ids = (system.id,) if system is not None else ()
    bundle = Path(str(getattr(system, "bundle", "/etc/ssl/certs/ca-certificates.crt")))
    result = [Reading(client, system_ids) for client in SYSTEM_READERS]
    for store in stores:
        if store.kind in (StoreKind.NSS, StoreKind.JAVA):
            for client in store.clients:
                result.append(Reading(client, (store.id,)))
    result.extend(_python_clients(stores, environ, system_ids, bundle))
    if pip is not None:
        result.append(_pip(pip, environ, system_ids, bundle))
    if node is not None:
        result.append(_node(node, environ, system_ids, bundle))
    return _merged(result)


def trusting(
    reading: Reading, held: Mapping[str, bool | None], ca: x509.Certificate
) -> bool | None:
    """Whether the client trusts ``ca``: one of its stores or files holds it (None: one
    could not be read and none of the others holds it)."""
    from tlsdoctor.stores.system import read_bundle

    answers: list[bool | None] = [held.get(store) for store in reading.stores]
    for file in reading.files:
        try:
            answers.append(any(same_ca(cert, ca) for cert in read_bundle(file)))
        except StoreError:
            answers.append(None)
    if any(answers):
        return True
    return None if None in answers else False


def _python_clients(
    stores: Sequence[TrustStore],
    environ: Mapping[str, str],
    system_ids: tuple[str, ...],
    bundle: Path,
) -> list[Reading]:
    from tlsdoctor.stores.python import CLIENT_VARIABLES, CertifiStore

    certifi = next((s for s in stores if isinstance(s, CertifiStore)), None)
    own: Path | None = None
    if certifi is not None:
        try:
            own = certifi.certifi_bundle
        except StoreError:
            own = None
    result = []
    for client, names in CLIENT_VARIABLES.items():
        named = next((name for name in names if environ.get(name)), None)
        if named is not None:
            result.append(_file_reading(client, Path(environ[named]), named, system_ids, bundle))
        elif own is not None and _same_file(own, bundle):
            result.append(Reading(client, system_ids, how="certifi patched to the system"))
        elif own is not None:
            advice = (
                f"{client} reads certifi's bundle ({own}), not the system store: set "
                f"{names[0]}={bundle} in your shell profile (the system bundle, which "
                "`trust add` updates), or see `tlsdoctor trust env`"
            )
            result.append(Reading(client, (), (own,), advice, "certifi"))
    return result


def _pip(
    pip: PipFacts, environ: Mapping[str, str], system_ids: tuple[str, ...], bundle: Path
) -> Reading:
    for name in ("PIP_CERT", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        if environ.get(name):
            return _file_reading("pip", Path(environ[name]), name, system_ids, bundle)
    if pip.reads_system:
        files = (pip.certifi,) if pip.certifi is not None else ()
        how = "truststore" if pip.version >= (24, 2, 0) else "Debian's certifi"
        return Reading("pip", system_ids, files, how=how)
    advice = (
        f"{pip.shown} reads its own certifi bundle, not the system store: upgrade pip "
        f"(24.2 and later read the system store), or `pip config set global.cert {bundle}`"
    )
    files = (pip.certifi,) if pip.certifi is not None else ()
    return Reading("pip", (), files, advice, "certifi")


def _node(
    node: NodeFacts, environ: Mapping[str, str], system_ids: tuple[str, ...], bundle: Path
) -> Reading:
    options = environ.get("NODE_OPTIONS", "").split()
    extra = environ.get("NODE_EXTRA_CA_CERTS")
    files = (Path(extra),) if extra else ()
    for flag in ("--use-system-ca", "--use-openssl-ca"):
        if flag in options:
            return Reading("node", system_ids, files, how=f"NODE_OPTIONS={flag}")
    if extra and _same_file(Path(extra), bundle):  # the system bundle as the extra file
        return Reading("node", system_ids, how="NODE_EXTRA_CA_CERTS")
    how = "NODE_EXTRA_CA_CERTS" if extra else "bundled roots"
    return Reading("node", (), files, node_advice(node, bundle), how)


def node_advice(node: NodeFacts, bundle: Path) -> str:
    """How to make the installed Node trust what the system store holds."""
    if node.use_system_ca:
        flag = "--use-system-ca"
    elif node.use_openssl_ca:
        flag = "--use-openssl-ca"
    else:
        return (
            f"{node.shown} reads only its built-in roots: set NODE_EXTRA_CA_CERTS=CA_FILE "
            "where it starts"
        )
    return (
        f"{node.shown} reads its built-in roots, not the system store: run it with {flag} "
        f"(NODE_OPTIONS={flag} in the environment it starts from), or set "
        "NODE_EXTRA_CA_CERTS=CA_FILE"
    )


def _file_reading(
    client: str, file: Path, variable: str, system_ids: tuple[str, ...], bundle: Path
) -> Reading:
    if _same_file(file, bundle):
        return Reading(client, system_ids, how=variable)
    return Reading(client, (), (file,), how=variable)


def _same_file(one: Path, other: Path) -> bool:
    try:
        return one.resolve() == other.resolve()
    except OSError:
        return False


def _merged(items: list[Reading]) -> list[Reading]:
    """One reading per client (a browser reading several profiles reads them all)."""
    merged: dict[str, Reading] = {}
    for item in items:
        seen = merged.get(item.client)
        if seen is None:
            merged[item.client] = item
        else:
            merged[item.client] = Reading(
                item.client,
                tuple(dict.fromkeys(seen.stores + item.stores)),
                tuple(dict.fromkeys(seen.files + item.files)),
                seen.advice,
                seen.how,
            )
    return list(merged.values())


# The facts, from the installed programs ----------------------------------------------------
def node_facts(node: str | None = None) -> NodeFacts | None:
    """The installed Node's version and CA flags (None: no node). Remembered per binary."""
    from tlsdoctor.stores.base import run
    from tlsdoctor.stores.cache import remembered

    found = node or shutil.which("node")
    if found is None:
        return None
    binary = Path(found).resolve()

    def ask() -> list[str]:
        return [run((str(binary), "--version")), run((str(binary), "--help"))]

    try:
        said = remembered("node", (binary,), lambda: list(ask()))
    except StoreError:
        return None
    if not isinstance(said, list) or len(said) != 2:
        return None
    version, helptext = str(said[0]), str(said[1])
    return NodeFacts(
        _version(version), "--use-openssl-ca" in helptext, "--use-system-ca" in helptext
    )


def pip_facts(pip: str | None = None) -> PipFacts | None:
    """The pip on PATH: its version and the bundle it reads (None: no pip)."""
    from tlsdoctor.stores.base import run
    from tlsdoctor.stores.cache import remembered

    found = pip or shutil.which("pip3") or shutil.which("pip")
    if found is None:
        return None
    binary = Path(found).resolve()
    try:
        said = str(remembered("pip", (binary,), lambda: run((str(binary), "--version"))))
    except StoreError:
        return None
    match = re.match(r"pip (\S+) from (.+?) \(python", said.strip())
    if match is None:
        return None
    version = _version(match[1])
    location = Path(match[2])
    certifi_dir = location / "_vendor" / "certifi"
    certifi = certifi_dir / "cacert.pem"
    try:
        core = (certifi_dir / "core.py").read_text(errors="replace")
    except OSError:
        core = ""
    debian = "/etc/ssl/certs/ca-certificates.crt" in core
    return PipFacts(
        version,
        location,
        version >= (24, 2, 0) or debian,
        certifi if certifi.is_file() and not debian else None,
    )


def _version(text: str) -> tuple[int, int, int]:
    match = _VERSION.search(text)
    if match is None:
        return (0, 0, 0)
    return (int(match[1]), int(match[2]), int(match[3] or 0))


@dataclass(frozen=True)
class Claim:
    """Whether one client trusts a CA here, and why not."""

    reading: Reading
    trusts: bool | None


def claims(
    ca: x509.Certificate, stores: Sequence[TrustStore], environ: Mapping[str, str]
) -> tuple[dict[str, bool | None], list[Claim]]:
    """Per store: does it hold ``ca`` (None: unreadable); per client: does it trust it."""
    from tlsdoctor.stores.base import contains

    held: dict[str, bool | None] = {}
    for store in stores:
        try:
            held[store.id] = contains(store, ca)
        except StoreError:
            held[store.id] = None
    found = readings(stores, environ, node_facts(), pip_facts())
    return held, [Claim(reading, trusting(reading, held, ca)) for reading in found]


def readers_of(store: TrustStore, found: Sequence[Reading]) -> tuple[str, ...]:
    """The clients that read ``store`` here (its own list when no reading names it)."""
    location = getattr(store, "location", None)
    files: set[Path] = set()
    if callable(location):
        with contextlib.suppress(StoreError):
            files.add(Path(location()).resolve())
    named = tuple(
        reading.client
        for reading in found
        if store.id in reading.stores or any(f.resolve() in files for f in reading.files)
    )
    return named if named or store.kind is StoreKind.PYTHON else store.clients
