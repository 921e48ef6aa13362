"""Where renewed certificates live: versions side by side, ``live`` pointing at one.

Servers read ``DIR/live/fullchain.pem`` and ``DIR/live/privkey.pem``. Each issuance is
written, complete, into its own ``versions/NNNN/`` folder; then the ``live`` link is
replaced in one rename. A server (re)loading at any moment sees the old key and
certificate or the new ones, never a new certificate beside an old key, and a crash in
the middle leaves the old pair serving.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from tlsdoctor.certs.build import PrivateKey
from tlsdoctor.errors import InputError
from tlsdoctor.remedy.files import chain_outputs, key_pem, write_atomically, write_outputs

KEEP_VERSIONS = 3  # older versions, keys included, are deleted


@dataclass(frozen=True)
class Installed:
    version: Path  # the folder written
    live: Path  # the link servers read through
    fullchain: Path
    privkey: Path


class Lineage:
    """One certificate's folder: ``live`` -> ``versions/NNNN`` (key, cert, chain, fullchain)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.live = self.folder / "live"
        self.versions = self.folder / "versions"

    def current_chain(self) -> list[x509.Certificate] | None:
        """The certificates ``live`` serves now, leaf first; None before the first issuance."""
        from tlsdoctor.pem import load_certificates

        fullchain = self.live / "fullchain.pem"
        if not fullchain.exists():
            return None
        return load_certificates(fullchain)

    def current_key_path(self) -> Path | None:
        path = self.live / "privkey.pem"
        return path if path.exists() else None

    def prepare(self) -> None:
        """Say in one sentence why the folder cannot be used, creating nothing: an order
        that fails afterwards must not leave empty folders behind."""
        if self.live.exists() and not self.live.is_symlink():
            raise InputError(
                f"{self.live}: exists and is not the link tlsdoctor manages; choose another -o"
            )
        existing = self.versions
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir():
            raise InputError(f"{self.folder}: cannot be created ({existing} is not a folder)")
        if not os.access(existing, os.W_OK | os.X_OK):
            raise InputError(f"{self.folder}: not writable by this user")

    def install(self, chain: Sequence[x509.Certificate], key: PrivateKey) -> Installed:
        """Write a new version and switch ``live`` to it."""
        self.prepare()
        try:
            self.versions.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"{self.versions}: cannot be created ({exc.strerror})") from exc
        numbers = [int(p.name) for p in self.versions.iterdir() if p.name.isdigit()]
        version = self.versions / f"{max(numbers, default=0) + 1:04d}"
        try:
            version.mkdir(mode=0o755)
        except OSError as exc:
            raise InputError(f"{version}: cannot be created ({exc.strerror})") from exc
        write_atomically(version / "privkey.pem", key_pem(key), force=False)
        _, outputs = chain_outputs(version, chain)
        write_outputs(outputs, force=False)
        self._switch(version)
        self._prune()
        return Installed(version, self.live, self.live / "fullchain.pem", self.live / "privkey.pem")

    def _switch(self, version: Path) -> None:
        temporary = self.folder / f".live.{os.getpid()}.tmp"
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        os.symlink(os.path.relpath(version, self.folder), temporary)
        os.replace(temporary, self.live)

    def _prune(self) -> None:
        kept = sorted((p for p in self.versions.iterdir() if p.name.isdigit()), reverse=True)
        for old in kept[KEEP_VERSIONS:]:
            for file in old.iterdir():
                file.unlink()
            old.rmdir()
