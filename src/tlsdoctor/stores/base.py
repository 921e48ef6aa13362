"""The interface every trust-store backend implements, and the plans they produce."""

from __future__ import annotations

import enum
import hashlib
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tlsdoctor.errors import TlsDoctorError

COMMAND_TIMEOUT = 60.0


class StoreError(TlsDoctorError):
    """A store cannot be read or changed: a missing tool, a read-only file, a refusal.
    Nothing was changed when this is raised."""


class StoreKind(str, enum.Enum):
    SYSTEM = "system"  # the OS bundle OpenSSL-based clients read
    NSS = "nss"  # Firefox profiles, Chrome/Chromium on Linux (~/.pki/nssdb)
    JAVA = "java"  # a JDK's cacerts
    PYTHON = "python"  # certifi (requests, httpx, pip)
    MACOS = "macos"  # the System keychain (commands as data here)
    WINDOWS = "windows"  # the machine's Root store (commands as data here)
    ENV = "env"  # environment variables and tool settings (Node, curl, git, pip, npm)

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Step:
    """One action of a plan: a command to run, or a file to write."""

    description: str
    command: tuple[str, ...] = ()  # run with subprocess (no shell)
    write: Path | None = None  # write ``content`` here, atomically
    content: bytes = b""
    remove: Path | None = None  # delete this file
    stdin: bytes = b""  # what ``command`` reads on its standard input

    def shown(self) -> str:
        """How --dry-run prints it."""
        if self.command:
            shown = " ".join(_quote(part) for part in self.command)
            if self.stdin:
                shown = f"printf %s {_quote(self.stdin.decode(errors='replace'))} | {shown}"
            return shown
        if self.write is not None:
            return f"write {self.write} ({len(self.content)} bytes)"
        return f"remove {self.remove}"


@dataclass(frozen=True)
class Plan:
    """What adding or removing a CA in one store takes; empty ``steps``: nothing to do."""

    store: str  # the store's id
    action: str  # "add" or "remove"
    steps: tuple[Step, ...]
    notes: tuple[str, ...] = ()  # e.g. the variables to set
    already: bool = False  # the store is already in the wanted state (idempotent)
    runnable: bool = True  # False: commands for another platform, shown not run


@dataclass(frozen=True)
class StoreInfo:
    """A store as ``trust list`` shows it."""

    id: str
    kind: StoreKind
    name: str
    location: str
    clients: tuple[str, ...]  # client ids of knowledge/clients.json, or tool names
    count: int | None  # roots it holds (None: unknown)
    writable: bool
    problem: str | None = None  # why it cannot be used, when it cannot


class TrustStore(Protocol):
    """One trust store."""

    id: str
    kind: StoreKind

    @property
    def clients(self) -> tuple[str, ...]:
        """Who reads it: client ids of knowledge/clients.json, or tool names."""
        ...

    def info(self) -> StoreInfo: ...

    def certificates(self) -> list[x509.Certificate]: ...

    def plan_add(self, ca: x509.Certificate, label: str) -> Plan: ...

    def plan_remove(self, ca: x509.Certificate, label: str) -> Plan: ...


def info_by_reading(store: TrustStore, name: str, location: str, writable: bool) -> StoreInfo:
    """``store.info()`` for a store read through a tool (certutil, keytool): the roots it
    holds, or why it cannot be read."""
    count: int | None = None
    problem: str | None = None
    try:
        count = len(store.certificates())
    except StoreError as exc:
        problem = str(exc)
    return StoreInfo(
        id=store.id,
        kind=store.kind,
        name=name,
        location=location,
        clients=store.clients,
        count=count,
        writable=writable,
        problem=problem,
    )


def contains(store: TrustStore, ca: x509.Certificate) -> bool:
    """Whether the store holds ``ca`` (see :func:`same_ca`)."""
    return any(same_ca(cert, ca) for cert in store.certificates())


def same_ca(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    """The same certificate, or the same name and key (a re-issued copy of the root
    trusts exactly what ``ca`` does)."""
    if cert == ca:
        return True
    return cert.subject == ca.subject and _spki(cert) == _spki(ca)


def fingerprint(ca: x509.Certificate) -> str:
    return hashlib.sha256(ca.public_bytes(serialization.Encoding.DER)).hexdigest()


def through_a_copy(
    folder: Path, ca: x509.Certificate, tool: str, step: Callable[[Path], Step]
) -> tuple[Step, ...]:
    """Steps that hand ``ca`` to a tool that reads it from a file (certutil, keytool): a
    copy written beside the store, ``step(copy)`` run on it, the copy removed."""
    copy = folder / f".tlsdoctor-{fingerprint(ca)[:16]}.pem"
    return (
        Step(
            f"write the CA to {copy.name} for {tool} to read",
            write=copy,
            content=ca.public_bytes(serialization.Encoding.PEM),
        ),
        step(copy),
        Step(f"remove {copy.name}", remove=copy),
    )


def label_for(ca: x509.Certificate) -> str:
    """A file/alias name for ``ca``: its CN (or organisation), safe for every tool."""
    from tlsdoctor.analysis.facts import CertFacts

    name = CertFacts.of(ca).display_name
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in name).strip("-.")
    return f"tlsdoctor-{safe or 'ca'}-{fingerprint(ca)[:8]}"


def run(command: Sequence[str], *, input_bytes: bytes | None = None) -> str:
    """Run one command of a plan; a failure is a StoreError with the tool's own words."""
    try:
        result = subprocess.run(
            list(command),
            input=input_bytes,
            capture_output=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
    except FileNotFoundError as exc:
        raise StoreError(f"'{command[0]}' is not installed") from exc
    except subprocess.TimeoutExpired as exc:
        raise StoreError(f"'{command[0]}' did not finish in {COMMAND_TIMEOUT:g} s") from exc
    if result.returncode != 0:
        said = (result.stderr or result.stdout).decode(errors="replace").strip().splitlines()
        raise StoreError(
            f"'{' '.join(command[:2])}' failed ({said[-1] if said else result.returncode})"
        )
    return result.stdout.decode(errors="replace")


def apply(plan: Plan) -> None:
    """Carry out a runnable plan, step by step."""
    from tlsdoctor.remedy.files import write_atomically

    if not plan.runnable:
        raise StoreError(f"the {plan.store} store is not on this machine: run the commands shown")
    for step in plan.steps:
        if step.command:
            run(step.command, input_bytes=step.stdin or None)
        elif step.write is not None:
            try:
                write_atomically(step.write, step.content, force=True)
            except OSError as exc:
                raise StoreError(f"{step.write}: cannot be written ({exc.strerror})") from exc
            except TlsDoctorError as exc:  # a symlink write_atomically refuses to replace
                raise StoreError(str(exc)) from exc
        elif step.remove is not None:
            try:
                step.remove.unlink(missing_ok=True)
            except OSError as exc:
                raise StoreError(f"{step.remove}: cannot be removed ({exc.strerror})") from exc


def _spki(cert: x509.Certificate) -> bytes:
    return cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _quote(part: str) -> str:
    import shlex

    return shlex.quote(part)
