"""NSS databases: Firefox profiles, and Chrome/Chromium/Edge on Linux (``~/.pki/nssdb``).

Read and changed with ``certutil`` (Debian/Ubuntu: libnss3-tools; Fedora: nss-tools) on
the SQLite format (``sql:`` prefix, ``cert9.db``). A CA counts as trusted when its trust
flags have ``C`` in the SSL column (a CA trusted to issue TLS server certificates); entries
with other flags (Firefox caches every intermediate it sees with ``,,``) are not roots.
The Mozilla roots built into Firefox live in a separate module (libnssckbi) that
``certutil`` does not load: they are not listed here.

certutil reads the CA from a file, so adding writes a copy into the database folder first
and removes it after. Every check that can fail (tool, database, permissions) runs when the
plan is made, before anything changes.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from tlsdoctor.models import JsonValue
from tlsdoctor.stores.base import (
    COMMAND_TIMEOUT,
    Plan,
    Step,
    StoreError,
    StoreInfo,
    StoreKind,
    contains,
    info_by_reading,
    run,
    same_ca,
    through_a_copy,
)
from tlsdoctor.stores.cache import remembered, rows

__all__ = ["SSL_TRUST", "NssEntry", "NssStore", "discover_nss"]

CERTUTIL = "certutil"
INSTALL_HINT = "apt install libnss3-tools (Debian/Ubuntu) or dnf install nss-tools (Fedora)"
SSL_TRUST = "C,,"  # trusted CA for TLS servers; nothing for mail or code signing
DATABASE_FILES = ("cert9.db", "key4.db")
# "nickname<spaces>SSL,S/MIME,JAR/XPI" (flags are letters: C, T, c, P, p, u, w)
_ENTRY = re.compile(r"^(?P<nickname>.*\S)\s+(?P<trust>[A-Za-z]*,[A-Za-z]*,[A-Za-z]*)\s*$")
_RESTART = "Firefox and Chrome read the database when they start: restart them to see the change."


@dataclass(frozen=True)
class NssEntry:
    """One nickname trusted as a TLS CA, and the certificates under it."""

    nickname: str
    trust: str  # e.g. "CT,C,C"
    certificates: tuple[x509.Certificate, ...]


class NssStore:
    """One NSS database folder (the one holding ``cert9.db``)."""

    def __init__(
        self,
        directory: Path,
        name: str | None = None,
        clients: Sequence[str] = ("firefox", "chrome"),
    ) -> None:
        self.directory = Path(directory)
        self.name = name or f"NSS database {self.directory}"
        self.clients = tuple(clients)
        self.id = f"nss:{self.directory}"
        self.kind = StoreKind.NSS

    @property
    def database(self) -> str:
        """The database as certutil's ``-d`` takes it."""
        return f"sql:{self.directory}"

    # Reading ----------------------------------------------------------------------------
    def info(self) -> StoreInfo:
        return info_by_reading(self, self.name, self.database, self._writable())

    def certificates(self) -> list[x509.Certificate]:
        """Every certificate trusted as a CA for TLS servers."""
        return [cert for entry in self.entries() for cert in entry.certificates]

    def entries(self) -> list[NssEntry]:
        """The nicknames trusted as TLS CAs ("C" in the SSL column), with their certificates."""
        tool = self._tool()
        self._check_database()
        files = [self.directory / name for name in DATABASE_FILES]
        listed = remembered("nss", [f for f in files if f.exists()], lambda: self._listing(tool))
        entries = []
        for nickname, trust, pem in rows(listed, 3):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # serial 0 and other quirks of real roots
                try:
                    certs = tuple(x509.load_pem_x509_certificates(pem.encode()))
                except ValueError as exc:
                    raise StoreError(
                        f"{self.database}: the certificate '{nickname}' cannot be read"
                    ) from exc
            entries.append(NssEntry(nickname, trust, certs))
        return entries

    def _listing(self, tool: str) -> JsonValue:
        """[nickname, trust, PEM] for each nickname trusted as a TLS CA (certutil runs once
        for the list and once per such nickname)."""
        listing = run((tool, "-L", "-d", self.database))
        trusted: dict[str, str] = {}
        for line in listing.splitlines():
            match = _ENTRY.match(line)
            if match and "C" in match["trust"].split(",")[0]:
                trusted.setdefault(match["nickname"], match["trust"])
        return [
            [nickname, trust, run((tool, "-L", "-d", self.database, "-a", "-n", nickname))]
            for nickname, trust in trusted.items()
        ]

    # Planning ---------------------------------------------------------------------------
    def plan_add(self, ca: x509.Certificate, label: str) -> Plan:
        tool = self._tool()
        _check_label(label)
        self._check_database(write=True)
        self._check_no_password(tool)
        if contains(self, ca):
            return Plan(
                self.id, "add", (), notes=("already trusted for TLS servers",), already=True
            )
        steps = through_a_copy(
            self.directory,
            ca,
            "certutil",
            lambda copy: Step(
                f"trust it for TLS servers as '{label}' in {self.name}",
                command=(
                    *self._as_owner(),
                    tool,
                    "-A",
                    "-d",
                    self.database,
                    "-n",
                    label,
                    "-t",
                    SSL_TRUST,
                    "-i",
                    str(copy),
                ),
            ),
        )
        return Plan(self.id, "add", steps, notes=(_RESTART,))

    def plan_remove(self, ca: x509.Certificate, label: str) -> Plan:
        """Delete every nickname holding ``ca`` (``label`` when tlsdoctor added it; the
        name someone else gave it otherwise)."""
        tool = self._tool()
        self._check_database(write=True)
        nicknames = [
            entry.nickname
            for entry in self.entries()
            if any(same_ca(cert, ca) for cert in entry.certificates)
        ]
        if not nicknames:
            return Plan(
                self.id, "remove", (), notes=("not trusted here: nothing to do",), already=True
            )
        notes = [_RESTART]
        if label not in nicknames:
            notes.append(
                f"it is trusted under {', '.join(repr(n) for n in nicknames)}, not '{label}'"
            )
        steps = tuple(
            Step(
                f"delete '{nickname}' from {self.name}",
                command=(*self._as_owner(), tool, "-D", "-d", self.database, "-n", nickname),
            )
            for nickname in nicknames
        )
        return Plan(self.id, "remove", steps, notes=tuple(notes))

    # Checks -----------------------------------------------------------------------------
    def _tool(self) -> str:
        found = shutil.which(CERTUTIL)
        if found is None:
            raise StoreError(f"'{CERTUTIL}' is not installed: {INSTALL_HINT}")
        return found

    def _as_owner(self) -> tuple[str, ...]:
        """A prefix running certutil as the database's owner when root changes another
        user's database (sudo): files certutil creates stay that user's."""
        try:
            owner = (self.directory / "cert9.db").stat()
        except OSError:
            return ()
        if os.geteuid() != 0 or owner.st_uid == 0 or shutil.which("setpriv") is None:
            return ()
        return (
            "setpriv",
            f"--reuid={owner.st_uid}",
            f"--regid={owner.st_gid}",
            "--clear-groups",
            "--",
        )

    def _check_database(self, *, write: bool = False) -> None:
        folder = self.directory
        if not folder.is_dir():
            raise StoreError(f"{folder}: no such directory")
        if not (folder / "cert9.db").is_file():
            if (folder / "cert8.db").is_file():
                raise StoreError(
                    f"{folder}: an old NSS database (cert8.db); open the profile once with a "
                    "current Firefox to convert it to cert9.db"
                )
            raise StoreError(
                f"{folder}: no NSS database (cert9.db); create one with "
                f"certutil -N --empty-password -d sql:{folder}"
            )
        if write and not self._writable():
            raise StoreError(
                f"{folder}: the NSS database is read-only here (run as the user who owns it)"
            )

    def _check_no_password(self, tool: str) -> None:
        """A database with a primary password makes certutil ask for it on the terminal,
        and without one it imports the certificate *untrusted* and fails: refuse first."""
        try:
            done = subprocess.run(
                (tool, "-K", "-d", self.database, "-f", os.devnull),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=COMMAND_TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise StoreError(f"{self.database}: certutil cannot open it ({exc})") from exc
        if b"SEC_ERROR_BAD_PASSWORD" in done.stdout + done.stderr:
            raise StoreError(
                f"{self.directory}: the NSS database is protected by a primary password; "
                "import the CA in the browser's certificate settings, or run the certutil "
                "command shown by --dry-run yourself (it asks for the password)"
            )

    def _writable(self) -> bool:
        if not self.directory.is_dir() or not os.access(self.directory, os.W_OK):
            return False
        files = (self.directory / name for name in DATABASE_FILES)
        return all(os.access(path, os.W_OK) for path in files if path.exists())


def discover_nss(home: Path) -> list[NssStore]:
    """The NSS databases under ``home``: Chrome/Chromium/Edge's ``~/.pki/nssdb`` (also the
    Chromium snap's) and every Firefox profile (regular, snap, flatpak) that has a
    ``cert9.db``."""
    found: list[NssStore] = []
    seen: set[Path] = set()

    def add(folder: Path, name: str, clients: tuple[str, ...]) -> None:
        if not (folder / "cert9.db").is_file():
            return
        real = folder.resolve()
        if real in seen:
            return
        seen.add(real)
        found.append(NssStore(folder, name, clients))

    chrome = ("chrome", "edge")
    add(home / ".pki" / "nssdb", "Chrome/Chromium (~/.pki/nssdb)", chrome)
    add(home / "snap" / "chromium" / "current" / ".pki" / "nssdb", "Chromium snap", chrome)
    firefox_roots = (
        (home / ".mozilla" / "firefox", "Firefox"),
        (home / "snap" / "firefox" / "common" / ".mozilla" / "firefox", "Firefox snap"),
        (home / ".var" / "app" / "org.mozilla.firefox" / ".mozilla" / "firefox", "Firefox flatpak"),
    )
    for root, product in firefox_roots:
        if not root.is_dir():
            continue
        for database in sorted(root.glob("*/cert9.db")):
            profile = database.parent
            add(profile, f"{product} profile {profile.name}", ("firefox",))
    return found


def _check_label(label: str) -> None:
    if not label.strip():
        raise StoreError("the nickname for NSS is empty")
    if ":" in label:
        raise StoreError(
            f"'{label}': NSS reads a nickname with ':' as TOKEN:NICKNAME; choose one without"
        )
