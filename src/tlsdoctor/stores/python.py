"""Python's certifi: the Mozilla bundle requests, httpx and pip verify with.

certifi's ``cacert.pem`` belongs to the package: an upgrade replaces it, and an edited copy
breaks ``pip install --require-hashes`` checks of the environment. So it is never edited.
Adding a CA writes a *combined* bundle (certifi's roots, then the added CAs) to a path
tlsdoctor owns, and the plan's notes say which variables point the clients at it. The
combined bundle is rebuilt from certifi's current roots at every change, so a certifi
upgrade reaches it the next time a CA is added or removed.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

from cryptography import x509

from tlsdoctor.stores.base import (
    Plan,
    Step,
    StoreError,
    StoreInfo,
    StoreKind,
    contains,
    run,
    same_ca,
)
from tlsdoctor.stores.system import pem_of, read_bundle, tlsdoctor_data_dir

__all__ = ["CertifiStore", "default_bundle_dir"]

_WHERE = "import certifi; print(certifi.where())"
# The variables naming another bundle, per client that otherwise reads certifi's.
CLIENT_VARIABLES = {
    "python-requests": ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"),
    "httpx": ("SSL_CERT_FILE",),
}
PIP_TRUSTSTORE_NOTE = (
    "pip >= 24.2 also trusts the system store (through truststore), so a CA added to the "
    "system store is enough for pip; --cert / PIP_CERT makes it use this bundle instead."
)


def default_bundle_dir() -> Path:
    """Where combined bundles live: ``~/.local/share/tlsdoctor/bundles``."""
    return tlsdoctor_data_dir() / "bundles"


class CertifiStore:
    """The certifi bundle of one Python interpreter, extended by a combined bundle."""

    kind = StoreKind.PYTHON

    def __init__(
        self,
        interpreter: str = sys.executable,
        directory: str | os.PathLike[str] | None = None,
        *,
        store_id: str = "certifi",
    ) -> None:
        self.id = store_id
        self.interpreter = interpreter
        self.directory = Path(directory) if directory is not None else default_bundle_dir()
        self._certifi: Path | None = None

    @property
    def clients(self) -> tuple[str, ...]:
        """Who reads the bundle this store stands for, in this environment: certifi's own
        is read by requests and httpx unless a variable names another file; the combined
        bundle only by those whose variable names it (see :mod:`.readers`)."""
        try:
            location = self.location()
        except StoreError:
            return ()
        readers = []
        for client, names in CLIENT_VARIABLES.items():
            named = next((os.environ[n] for n in names if os.environ.get(n)), None)
            if (named is None and location == self.certifi_bundle) or (
                named is not None and _same(Path(named), location)
            ):
                readers.append(client)
        return tuple(readers)

    def location(self) -> Path:
        """The bundle this store stands for: the combined one once written."""
        combined = self.combined
        return combined if combined.is_file() else self.certifi_bundle

    # Where things are ---------------------------------------------------------------------
    @property
    def certifi_bundle(self) -> Path:
        """certifi's own ``cacert.pem`` for this interpreter (asked once)."""
        if self._certifi is None and self.interpreter == sys.executable:
            try:  # this interpreter's own certifi: no child process needed
                import certifi

                self._certifi = Path(certifi.where())
            except ImportError:
                pass
        if self._certifi is None:
            try:
                said = run((self.interpreter, "-c", _WHERE)).strip()
            except StoreError as exc:
                raise StoreError(f"{self.interpreter} has no certifi: {exc}") from exc
            path = Path(said.splitlines()[-1]) if said else None
            if path is None or not path.is_file():
                raise StoreError(f"{self.interpreter}: certifi names no bundle ({said!r})")
            self._certifi = path
        return self._certifi

    @property
    def combined(self) -> Path:
        """The combined bundle: one per certifi installation, named after its path."""
        digest = hashlib.sha256(str(self.certifi_bundle).encode()).hexdigest()[:8]
        return self.directory / f"certifi-{digest}.pem"

    # The interface ------------------------------------------------------------------------
    def info(self) -> StoreInfo:
        try:
            location = self.location()
        except StoreError as exc:
            name, where = "Python certifi", self.interpreter
            return StoreInfo(self.id, self.kind, name, where, self.clients, None, False, str(exc))
        return StoreInfo(
            id=self.id,
            kind=self.kind,
            name=f"Python certifi ({self.interpreter})",
            location=str(location),
            clients=self.clients,
            count=len(self.certificates()),
            writable=_writable_dir(self.directory),
        )

    def certificates(self) -> list[x509.Certificate]:
        return read_bundle(self.location())

    def plan_add(self, ca: x509.Certificate, label: str) -> Plan:
        combined = self.combined
        notes = self._notes(combined)
        if contains(self, ca):
            return Plan(self.id, "add", (), notes, already=True)
        extras = [*self._extras(), (label, ca)]
        self._prepare_directory()
        step = Step(
            f"write certifi's roots and {label} to {combined}",
            write=combined,
            content=self._bundle(extras),
        )
        return Plan(self.id, "add", (step,), notes)

    def plan_remove(self, ca: x509.Certificate, label: str) -> Plan:
        combined = self.combined
        extras = self._extras()
        kept = [(name, cert) for name, cert in extras if not same_ca(cert, ca)]
        if len(kept) == len(extras):
            if any(same_ca(cert, ca) for cert in read_bundle(self.certifi_bundle)):
                raise StoreError(
                    f"{label} is one of certifi's own (Mozilla's) roots: tlsdoctor never edits "
                    f"{self.certifi_bundle}; point REQUESTS_CA_BUNDLE at a bundle without it"
                )
            return Plan(self.id, "remove", (), (), already=True)
        if not kept:
            unset = (
                "Nothing but certifi's roots is left: the bundle is removed; unset "
                "REQUESTS_CA_BUNDLE, SSL_CERT_FILE and PIP_CERT (pip config unset global.cert) "
                "where they name it."
            )
            step = Step(f"remove {combined} (only certifi's roots were left)", remove=combined)
            return Plan(self.id, "remove", (step,), (unset,))
        step = Step(
            f"rewrite {combined} without {label}", write=combined, content=self._bundle(kept)
        )
        return Plan(self.id, "remove", (step,), self._notes(combined))

    # Helpers -----------------------------------------------------------------------------
    def _extras(self) -> list[tuple[str, x509.Certificate]]:
        """The CAs the combined bundle holds beyond certifi's roots, with their labels."""
        combined = self.combined
        if not combined.is_file():
            return []
        roots = read_bundle(self.certifi_bundle)
        labels = _labels(combined)
        extras: list[tuple[str, x509.Certificate]] = []
        for index, cert in enumerate(read_bundle(combined)):
            if not any(same_ca(cert, root) for root in roots):
                extras.append((labels.get(index, "added"), cert))
        return extras

    def _bundle(self, extras: list[tuple[str, x509.Certificate]]) -> bytes:
        try:
            roots = self.certifi_bundle.read_bytes()
        except OSError as exc:
            raise StoreError(f"{self.certifi_bundle}: cannot be read ({exc.strerror})") from exc
        parts = [roots.rstrip(b"\n") + b"\n"]
        for label, cert in extras:
            parts.append(f"\n# tlsdoctor: {label}\n".encode() + pem_of(cert))
        return b"".join(parts)

    def _prepare_directory(self) -> None:
        """Create tlsdoctor's own bundle directory (not a store: planning may create it)."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"{self.directory}: cannot be created ({exc.strerror})") from exc

    def _notes(self, combined: Path) -> tuple[str, ...]:
        return (
            f"export REQUESTS_CA_BUNDLE={combined}   # requests",
            f"export SSL_CERT_FILE={combined}   # httpx, Python's ssl module",
            f"export PIP_CERT={combined}   # or: pip config set global.cert {combined}",
            PIP_TRUSTSTORE_NOTE,
        )


def _same(one: Path, other: Path) -> bool:
    try:
        return one.resolve() == other.resolve()
    except OSError:
        return False


def _labels(path: Path) -> dict[int, str]:
    """The ``# tlsdoctor: LABEL`` comment before each certificate, by its position."""
    labels: dict[int, str] = {}
    pending: str | None = None
    index = 0
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("# tlsdoctor: "):
            pending = line.removeprefix("# tlsdoctor: ").strip()
        elif line.startswith("-----BEGIN CERTIFICATE-----"):
            if pending:
                labels[index] = pending
            pending = None
            index += 1
    return labels


def _writable_dir(directory: Path) -> bool:
    probe = directory
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return os.access(probe, os.W_OK)
