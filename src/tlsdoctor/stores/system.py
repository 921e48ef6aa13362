"""The operating system's trust store on Linux: the bundle OpenSSL-based clients read.

Each distribution family has its own tool, and every one works the same way: the
administrator drops a PEM file into a directory, and the tool rebuilds the bundle
(``/etc/ssl/certs/ca-certificates.crt`` and friends) from the distribution's roots plus
those files.

- Debian, Ubuntu: ``update-ca-certificates`` (a shell script) over
  ``/usr/local/share/ca-certificates/*.crt``. Every path it uses has an option
  (``--certsconf``, ``--certsdir``, ``--localcertsdir``, ``--etccertsdir``,
  ``--hooksdir``; ``--help`` lists none of them, the script does), so
  :class:`DebianStore` runs the real tool in a sandbox for tests, with no mount tricks.
  Java follows through Debian's hook ``/etc/ca-certificates/update.d/jks-keystore``
  (package ca-certificates-java), which the tool runs after the bundle.
- RHEL, Fedora, CentOS, Amazon Linux: ``update-ca-trust extract`` over
  ``/etc/pki/ca-trust/source/anchors/``.
- Alpine: its own ``update-ca-certificates`` over ``/usr/local/share/ca-certificates``.
- Arch, openSUSE: p11-kit's ``trust anchor --store FILE`` / ``trust anchor --remove FILE``.

Only the Debian tool is on the machines the tests run on; the others are plans (data)
whose exact commands the tests check, and whose ``info().problem`` says the tool is
missing where it is.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tlsdoctor.anchors import parse_bundle
from tlsdoctor.stores.base import (
    Plan,
    Step,
    StoreError,
    StoreInfo,
    StoreKind,
    TrustStore,
    contains,
    same_ca,
)

__all__ = [
    "AlpineStore",
    "DebianStore",
    "P11KitStore",
    "RedHatStore",
    "detect_system_store",
    "tlsdoctor_data_dir",
]

# The clients that read the system bundle (ids of knowledge/clients.json).
# Java reads its own keystore, even where a hook of this store keeps that in step.
OPENSSL_CLIENTS = ("curl", "wget", "python", "go", "dotnet-linux")
RESTART_NOTE = (
    "Running programs read the bundle once, at start: restart long-running services "
    "(web servers, daemons, IDEs) for them to see the change."
)
BROWSER_NOTE = (
    "Firefox and Chrome/Chromium on Linux do not read this store (NSS databases); "
    "Node reads it only with --use-openssl-ca or NODE_EXTRA_CA_CERTS."
)


def tlsdoctor_data_dir() -> Path:
    """tlsdoctor's own data directory: ``$TLSDOCTOR_HOME/.local/share/tlsdoctor`` (for
    sandboxes), ``$XDG_DATA_HOME/tlsdoctor``, else ``~/.local/share/tlsdoctor``."""
    return user_dir("XDG_DATA_HOME", ".local/share")


def user_dir(variable: str, default: str) -> Path:
    """``$TLSDOCTOR_HOME/DEFAULT/tlsdoctor`` (sandboxes), ``$VARIABLE/tlsdoctor`` (an
    absolute XDG variable), else ``~/DEFAULT/tlsdoctor``."""
    home = os.environ.get("TLSDOCTOR_HOME")
    if home:
        return Path(home) / default / "tlsdoctor"
    base = os.environ.get(variable)
    root = Path(base) if base and os.path.isabs(base) else Path.home() / default
    return root / "tlsdoctor"


def pem_of(ca: x509.Certificate) -> bytes:
    return ca.public_bytes(serialization.Encoding.PEM)


_parsed: dict[str, tuple[x509.Certificate, ...]] = {}


def read_bundle(path: Path) -> list[x509.Certificate]:
    """The certificates of a PEM bundle; [] when the file does not exist. Parsed once per
    version of the file in this process (planning asks several times)."""
    from tlsdoctor.stores.cache import identity

    key = identity((path,))
    if key is not None and key in _parsed:
        return list(_parsed[key])
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise StoreError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    certificates, _ = parse_bundle(data)
    if key is not None:
        _parsed[key] = tuple(certificates)
    return certificates


def _check_label(label: str) -> None:
    if not label or label.startswith(".") or "/" in label or "\0" in label:
        raise StoreError(f"'{label}' cannot be a file name: use letters, digits, '-', '_', '.'")


class _AnchorDirectoryStore:
    """A store fed by PEM files in a directory and rebuilt by one tool."""

    kind = StoreKind.SYSTEM
    name = "System"
    suffix = ".crt"
    pattern = "*.crt"  # the files the tool reads
    clients: tuple[str, ...] = OPENSSL_CLIENTS
    install_hint = ""

    def __init__(self, store_id: str, anchors_dir: Path, bundle: Path, tool: str) -> None:
        self.id = store_id
        self.anchors_dir = Path(anchors_dir)
        self.bundle = Path(bundle)
        self.tool = tool

    # What the subclasses say -------------------------------------------------------------
    def add_commands(self) -> tuple[tuple[str, ...], ...]:
        raise NotImplementedError

    def remove_commands(self) -> tuple[tuple[str, ...], ...]:
        return self.add_commands()

    def preflight(self) -> tuple[str, ...] | None:
        """A command that changes nothing and fails when the tool is missing, run before
        the first file is written (None: no such command known for this tool)."""
        return None

    def notes(self) -> tuple[str, ...]:
        return (RESTART_NOTE, BROWSER_NOTE)

    def permission_notes(self) -> tuple[str, ...]:
        """Said in every plan (so --dry-run tells a normal user) when the change needs root."""
        if _writable(self.anchors_dir) and _writable(self.bundle.parent):
            return ()
        return (f"{self.anchors_dir} is not writable by this user: run the change with sudo",)

    # The interface -----------------------------------------------------------------------
    def problem(self) -> str | None:
        if shutil.which(self.tool) is None:
            hint = f" ({self.install_hint})" if self.install_hint else ""
            return f"'{self.tool}' is not installed{hint}"
        if not self.bundle.is_file():
            return f"{self.bundle} does not exist"
        return None

    def info(self) -> StoreInfo:
        exists = self.bundle.is_file()
        return StoreInfo(
            id=self.id,
            kind=self.kind,
            name=self.name,
            location=str(self.bundle),
            clients=self.clients,
            count=len(self.certificates()) if exists else None,
            writable=_writable(self.anchors_dir) and _writable(self.bundle.parent),
            problem=self.problem(),
        )

    def certificates(self) -> list[x509.Certificate]:
        return read_bundle(self.bundle)

    def plan_add(self, ca: x509.Certificate, label: str) -> Plan:
        _check_label(label)
        if contains(self, ca):
            return Plan(self.id, "add", (), self.notes(), already=True)
        target = self.anchors_dir / f"{label}{self.suffix}"
        held = read_bundle(target)
        if held and not any(same_ca(cert, ca) for cert in held):
            raise StoreError(f"{target} already holds another certificate: choose another label")
        steps = [*self._preflight_steps()]
        steps.append(Step(f"add {label} to {self.anchors_dir}", write=target, content=pem_of(ca)))
        steps.extend(Step(f"rebuild {self.bundle}", command=c) for c in self.add_commands())
        return Plan(self.id, "add", tuple(steps), (*self.permission_notes(), *self.notes()))

    def plan_remove(self, ca: x509.Certificate, label: str) -> Plan:
        _check_label(label)
        holders = self._holders(ca)
        if not holders:
            if contains(self, ca):
                raise StoreError(
                    f"{_name_of(ca)} is one of the distribution's roots, not a file in "
                    f"{self.anchors_dir}: {self.distrust_hint()}"
                )
            return Plan(self.id, "remove", (), self.notes(), already=True)
        steps = [*self._preflight_steps()]
        steps.extend(Step(f"remove {path.name}", remove=path) for path in holders)
        steps.extend(self.unlinked(holders))
        steps.extend(Step(f"rebuild {self.bundle}", command=c) for c in self.remove_commands())
        steps.extend(self.after_remove(ca))
        return Plan(self.id, "remove", tuple(steps), (*self.permission_notes(), *self.notes()))

    # Helpers ------------------------------------------------------------------------------
    def distrust_hint(self) -> str:
        return "distrust it with the distribution's own tools"

    def unlinked(self, holders: list[Path]) -> tuple[Step, ...]:
        """Steps dropping what points at the removed files, before the rebuild."""
        return ()

    def after_remove(self, ca: x509.Certificate) -> tuple[Step, ...]:
        return ()

    def _preflight_steps(self) -> tuple[Step, ...]:
        command = self.preflight()
        if command is None:
            return ()
        return (Step(f"check that {self.tool} is installed", command=command),)

    def _holders(self, ca: x509.Certificate) -> list[Path]:
        """The files of the anchors directory holding ``ca``; a file that holds other
        certificates too cannot be removed for it."""
        if not self.anchors_dir.is_dir():
            return []
        found: list[Path] = []
        for path in sorted(self.anchors_dir.rglob(self.pattern)):
            held = read_bundle(path)
            if not any(same_ca(cert, ca) for cert in held):
                continue
            if len(held) > 1:
                raise StoreError(
                    f"{path} holds {len(held)} certificates, {_name_of(ca)} among them: "
                    "split it by hand, removing it would remove the others too"
                )
            found.append(path)
        return found


class DebianStore(_AnchorDirectoryStore):
    """Debian/Ubuntu: ``update-ca-certificates`` over ``/usr/local/share/ca-certificates``.

    Every directory (and the configuration file) is configurable, so the real tool runs
    in a sandbox; the command passes only the options that differ from the defaults.
    """

    name = "System (Debian/Ubuntu ca-certificates)"
    clients = OPENSSL_CLIENTS
    install_hint = "apt install ca-certificates"
    DEFAULTS: ClassVar[dict[str, Path]] = {
        "--certsconf": Path("/etc/ca-certificates.conf"),
        "--certsdir": Path("/usr/share/ca-certificates"),
        "--localcertsdir": Path("/usr/local/share/ca-certificates"),
        "--etccertsdir": Path("/etc/ssl/certs"),
        "--hooksdir": Path("/etc/ca-certificates/update.d"),
    }

    def __init__(
        self,
        *,
        local_certs_dir: str | os.PathLike[str] = "/usr/local/share/ca-certificates",
        certs_dir: str | os.PathLike[str] = "/usr/share/ca-certificates",
        etc_certs_dir: str | os.PathLike[str] = "/etc/ssl/certs",
        hooks_dir: str | os.PathLike[str] = "/etc/ca-certificates/update.d",
        certs_conf: str | os.PathLike[str] = "/etc/ca-certificates.conf",
        tool: str = "update-ca-certificates",
        store_id: str = "system",
    ) -> None:
        etc = Path(etc_certs_dir)
        super().__init__(store_id, Path(local_certs_dir), etc / "ca-certificates.crt", tool)
        self.certs_dir = Path(certs_dir)
        self.etc_certs_dir = etc
        self.hooks_dir = Path(hooks_dir)
        self.certs_conf = Path(certs_conf)

    def options(self) -> tuple[str, ...]:
        values = {
            "--certsconf": self.certs_conf,
            "--certsdir": self.certs_dir,
            "--localcertsdir": self.anchors_dir,
            "--etccertsdir": self.etc_certs_dir,
            "--hooksdir": self.hooks_dir,
        }
        options: list[str] = []
        for option, value in values.items():
            if value != self.DEFAULTS[option]:
                options += [option, str(value)]
        return tuple(options)

    def preflight(self) -> tuple[str, ...]:
        # The script prints its usage and exits 0 on --help: it changes nothing.
        return (self.tool, "--help")

    def add_commands(self) -> tuple[tuple[str, ...], ...]:
        return ((self.tool, *self.options()),)

    def remove_commands(self) -> tuple[tuple[str, ...], ...]:
        # Not --fresh: it re-adds every distribution root, and its hooks (Java's) then
        # re-import them all. The links of the removed file are dropped by the plan itself,
        # and openssl rehash renumbers the hash links as the tool would have.
        return ((self.tool, *self.options()), ("openssl", "rehash", str(self.etc_certs_dir)))

    def hooks(self) -> list[Path]:
        """The hooks the tool runs (as run-parts picks them: executable, plain names)."""
        if not self.hooks_dir.is_dir():
            return []
        return [
            path
            for path in sorted(self.hooks_dir.iterdir())
            if re.fullmatch(r"[A-Za-z0-9_-]+", path.name)
            and path.is_file()
            and os.access(path, os.X_OK)
        ]

    def java_keystore(self) -> Path | None:
        """The keystore Debian's Java hook (ca-certificates-java) keeps in step with this
        store, when that hook is installed: it imports each added file as
        ``debian:NAME.pem``, so nothing else must import it again."""
        from tlsdoctor.stores.java import DEBIAN_CACERTS

        if (self.hooks_dir / "jks-keystore").is_file() and DEBIAN_CACERTS.is_file():
            return DEBIAN_CACERTS
        return None

    def hooked_aliases(self, ca: x509.Certificate) -> frozenset[str]:
        """The aliases the Java hook gave the files holding ``ca`` (lower case)."""
        return frozenset(f"debian:{link.name.lower()}" for link in self._links(self._holders(ca)))

    def notes(self) -> tuple[str, ...]:
        java = (
            f"Java: the hook {self.hooks_dir / 'jks-keystore'} (package ca-certificates-java) "
            "updates /etc/ssl/certs/java/cacerts, which Debian's JDKs read."
        )
        return (RESTART_NOTE, java, BROWSER_NOTE)

    def distrust_hint(self) -> str:
        return (
            "deselect it with 'dpkg-reconfigure ca-certificates' (a '!' line in "
            f"{self.certs_conf}), then run update-ca-certificates --fresh"
        )

    def _links(self, holders: list[Path]) -> list[Path]:
        """The tool's link for each file (its add() names it so)."""
        names = [
            path.stem.replace(" ", "_").replace("(", "=").replace(")", "=") for path in holders
        ]
        return [self.etc_certs_dir / f"{name.replace(',', '_')}.pem" for name in names]

    def unlinked(self, holders: list[Path]) -> tuple[Step, ...]:
        return tuple(
            Step(f"remove the link {link.name}", remove=link)
            for link in self._links(holders)
            if link.is_symlink()
        )

    def after_remove(self, ca: x509.Certificate) -> tuple[Step, ...]:
        steps: list[Step] = []
        links = self._links(self._holders(ca))
        # The tool tells its hooks "+FILE" for the links it makes and "-FILE" for the ones
        # it drops; it did not drop these (the plan did), so they are told as it would.
        told = "".join(f"-{link}\n" for link in links).encode()
        for hook in self.hooks():
            steps.append(Step(f"tell the hook {hook.name}", command=(str(hook),), stdin=told))
        if not any(not same_ca(cert, ca) for cert in self.certificates()):
            # With no certificate left the tool writes no new bundle and leaves the old
            # one, still holding the CA: empty it.
            steps.append(
                Step(f"empty {self.bundle} (no root is left)", write=self.bundle, content=b"")
            )
        return tuple(steps)

    def plan_add(self, ca: x509.Certificate, label: str) -> Plan:
        if not self.anchors_dir.is_dir():
            raise StoreError(
                f"{self.anchors_dir} does not exist: is ca-certificates installed? "
                f"({self.install_hint})"
            )
        return super().plan_add(ca, label)


class RedHatStore(_AnchorDirectoryStore):
    """RHEL, Fedora, CentOS, Amazon Linux: ``update-ca-trust extract`` over
    ``/etc/pki/ca-trust/source/anchors``; Java reads the extracted ``java/cacerts``."""

    name = "System (RHEL/Fedora ca-trust)"
    suffix = ".pem"
    pattern = "*"  # any file name is read
    clients = OPENSSL_CLIENTS
    install_hint = "dnf install ca-certificates"

    def __init__(
        self,
        *,
        anchors_dir: str | os.PathLike[str] = "/etc/pki/ca-trust/source/anchors",
        bundle: str | os.PathLike[str] = "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
        tool: str = "update-ca-trust",
        store_id: str = "system",
    ) -> None:
        super().__init__(store_id, Path(anchors_dir), Path(bundle), tool)

    def add_commands(self) -> tuple[tuple[str, ...], ...]:
        return ((self.tool, "extract"),)

    def distrust_hint(self) -> str:
        return (
            "copy it to /etc/pki/ca-trust/source/blocklist/ (blacklist/ before RHEL 9), "
            "then run update-ca-trust extract"
        )


class AlpineStore(_AnchorDirectoryStore):
    """Alpine: its ``update-ca-certificates`` over ``/usr/local/share/ca-certificates``
    (it rebuilds the whole bundle every run: no --fresh needed)."""

    name = "System (Alpine ca-certificates)"
    install_hint = "apk add ca-certificates"

    def __init__(
        self,
        *,
        local_certs_dir: str | os.PathLike[str] = "/usr/local/share/ca-certificates",
        bundle: str | os.PathLike[str] = "/etc/ssl/certs/ca-certificates.crt",
        tool: str = "update-ca-certificates",
        store_id: str = "system",
    ) -> None:
        super().__init__(store_id, Path(local_certs_dir), Path(bundle), tool)

    def add_commands(self) -> tuple[tuple[str, ...], ...]:
        return ((self.tool,),)

    def distrust_hint(self) -> str:
        return "remove its line from /etc/ca-certificates.conf, then run update-ca-certificates"


class P11KitStore:
    """Arch, openSUSE: p11-kit's ``trust anchor``; it keeps its own copy of the anchor and
    rebuilds the bundles itself (``trust extract-compat``). The CA is handed to it from a
    file kept under tlsdoctor's data directory, which removal needs again."""

    kind = StoreKind.SYSTEM
    name = "System (p11-kit trust)"
    clients = OPENSSL_CLIENTS
    install_hint = "pacman -S p11-kit / zypper install p11-kit-tools"
    BUNDLES = (
        Path("/etc/ssl/certs/ca-certificates.crt"),  # Arch
        Path("/var/lib/ca-certificates/ca-bundle.pem"),  # openSUSE
        Path("/etc/ssl/ca-bundle.pem"),  # openSUSE, the link
    )

    def __init__(
        self,
        *,
        bundle: str | os.PathLike[str] | None = None,
        staging_dir: str | os.PathLike[str] | None = None,
        tool: str = "trust",
        store_id: str = "system",
    ) -> None:
        self.id = store_id
        if bundle is None:
            bundle = next((b for b in self.BUNDLES if b.is_file()), self.BUNDLES[0])
        self.bundle = Path(bundle)
        self.staging_dir = (
            Path(staging_dir) if staging_dir is not None else tlsdoctor_data_dir() / "anchors"
        )
        self.tool = tool

    def info(self) -> StoreInfo:
        problem = None
        if shutil.which(self.tool) is None:
            problem = (
                f"'{self.tool}' is not installed (pacman -S p11-kit / zypper in p11-kit-tools)"
            )
        elif not self.bundle.is_file():
            problem = f"{self.bundle} does not exist"
        return StoreInfo(
            id=self.id,
            kind=self.kind,
            name=self.name,
            location=str(self.bundle),
            clients=self.clients,
            count=len(self.certificates()) if self.bundle.is_file() else None,
            writable=os.geteuid() == 0,  # trust writes under /etc: root only
            problem=problem,
        )

    def certificates(self) -> list[x509.Certificate]:
        return read_bundle(self.bundle)

    def staged(self, label: str) -> Path:
        return self.staging_dir / f"{label}.pem"

    def plan_add(self, ca: x509.Certificate, label: str) -> Plan:
        _check_label(label)
        notes = (RESTART_NOTE, BROWSER_NOTE)
        if contains(self, ca):
            return Plan(self.id, "add", (), notes, already=True)
        staged = self.staged(label)
        steps = (
            Step(f"keep a copy of {label} for trust", write=staged, content=pem_of(ca)),
            Step("add it as a trust anchor", command=(self.tool, "anchor", "--store", str(staged))),
        )
        return Plan(self.id, "add", steps, notes)

    def plan_remove(self, ca: x509.Certificate, label: str) -> Plan:
        _check_label(label)
        notes = (RESTART_NOTE,)
        if not contains(self, ca):
            return Plan(self.id, "remove", (), notes, already=True)
        staged = self.staged(label)
        steps = (
            Step(f"the copy of {label} trust removes by", write=staged, content=pem_of(ca)),
            Step("remove the anchor", command=(self.tool, "anchor", "--remove", str(staged))),
            Step(f"remove the copy of {label}", remove=staged),
        )
        return Plan(self.id, "remove", steps, notes)


def detect_system_store(
    os_release: str | os.PathLike[str] = "/etc/os-release",
    which: Callable[[str], str | None] = shutil.which,
) -> TrustStore | None:
    """The system store of this machine: by ``/etc/os-release`` (ID, then ID_LIKE), then by
    the tools present; None when neither tells (macOS, Windows, a bare container)."""
    ids = _os_ids(Path(os_release))
    by_family: tuple[tuple[frozenset[str], Callable[[], TrustStore]], ...] = (
        (frozenset({"debian", "ubuntu"}), DebianStore),
        (frozenset({"rhel", "fedora", "centos", "amzn", "rocky", "almalinux", "ol"}), RedHatStore),
        (frozenset({"alpine"}), AlpineStore),
        (frozenset({"arch", "opensuse", "suse", "sles", "manjaro"}), P11KitStore),
    )
    for os_id in ids:
        for family, make in by_family:
            if os_id in family or any(os_id.startswith(f"{name}-") for name in family):
                return make()
    if which("update-ca-trust"):
        return RedHatStore()
    if which("update-ca-certificates"):
        return DebianStore() if Path("/etc/debian_version").exists() else AlpineStore()
    if which("trust"):
        return P11KitStore()
    return None


def _os_ids(path: Path) -> list[str]:
    """ID then the words of ID_LIKE, lower case ("opensuse-leap" stays one word)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return []
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip().strip("\"'").lower()
    ids = [values["ID"]] if values.get("ID") else []
    return ids + values.get("ID_LIKE", "").split()


def _writable(directory: Path) -> bool:
    return directory.is_dir() and os.access(directory, os.W_OK)


def _name_of(ca: x509.Certificate) -> str:
    from tlsdoctor.analysis.facts import CertFacts

    return f"'{CertFacts.of(ca).display_name}'"
