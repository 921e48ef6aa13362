"""macOS and Windows machine stores, as exact commands (data, ``runnable=False``).

tlsdoctor runs on Linux here; for a Mac or a Windows machine it writes the CA file to copy
there and the commands to type, as an administrator:

- macOS, the System keychain (Safari, Chrome, Edge, curl and Python of Apple's build,
  Go, .NET, Java with -Djavax.net.ssl.trustStoreType=KeychainStore):
  ``security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain FILE``;
  removal: ``security remove-trusted-cert -d FILE`` then
  ``security delete-certificate -Z SHA1 /Library/Keychains/System.keychain``.
- Windows, the machine's Root store (Edge, Chrome, .NET, PowerShell, curl.exe with
  Schannel): ``certutil -addstore -f Root FILE.cer`` / ``certutil -delstore Root SHA1``,
  or PowerShell's ``Import-Certificate`` / ``Remove-Item`` on ``Cert:\\LocalMachine\\Root``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tlsdoctor.stores.base import Plan, Step, StoreError, StoreInfo, StoreKind

__all__ = ["MacStore", "WindowsStore", "sha1_thumbprint"]

SYSTEM_KEYCHAIN = "/Library/Keychains/System.keychain"
_ADD_TRUSTED = ("security", "add-trusted-cert", "-d", "-r", "trustRoot")
WINDOWS_ROOT = "Cert:\\LocalMachine\\Root"


def sha1_thumbprint(ca: x509.Certificate) -> str:
    """The SHA-1 of the DER certificate, upper-case hex: what Keychain Access, certutil and
    PowerShell call the certificate's hash or thumbprint."""
    return hashlib.sha1(ca.public_bytes(serialization.Encoding.DER)).hexdigest().upper()


def _check_label(label: str) -> None:
    if not label or any(ch in label for ch in "/\\:\0\"'`$;&|<>*? "):
        raise StoreError(f"'{label}' cannot be a file name on every platform")


class MacStore:
    """The macOS System keychain, as commands for an administrator's Terminal."""

    kind = StoreKind.MACOS
    clients = ("safari", "chrome", "edge", "curl", "go")

    def __init__(self, keychain: str = SYSTEM_KEYCHAIN, *, store_id: str = "macos") -> None:
        self.id = store_id
        self.keychain = keychain

    def info(self) -> StoreInfo:
        return StoreInfo(
            id=self.id,
            kind=self.kind,
            name="macOS System keychain",
            location=self.keychain,
            clients=self.clients,
            count=None,
            writable=False,
            problem="not this machine: the commands are shown, to run on the Mac",
        )

    def certificates(self) -> list[x509.Certificate]:
        return []  # not readable from here

    def plan_add(self, ca: x509.Certificate, label: str) -> Plan:
        _check_label(label)
        file = f"{label}.pem"
        steps = (
            Step(f"the CA to copy to the Mac as {file}", write=Path(file), content=_pem(ca)),
            Step(
                "trust it for every user (asks for an administrator's password)",
                command=(*_ADD_TRUSTED, "-k", self.keychain, file),
            ),
        )
        return Plan(self.id, "add", steps, _MAC_NOTES, runnable=False)

    def plan_remove(self, ca: x509.Certificate, label: str) -> Plan:
        _check_label(label)
        file = f"{label}.pem"
        thumbprint = sha1_thumbprint(ca)
        steps = (
            Step(f"the CA to copy to the Mac as {file}", write=Path(file), content=_pem(ca)),
            Step(
                "remove its trust settings",
                command=("security", "remove-trusted-cert", "-d", file),
            ),
            Step(
                "delete it from the System keychain",
                command=("security", "delete-certificate", "-Z", thumbprint, self.keychain),
            ),
        )
        return Plan(self.id, "remove", steps, _MAC_NOTES, runnable=False)


_MAC_NOTES = (
    "Run in Terminal as an administrator; over SSH (no password dialog) prefix sudo.",
    "Firefox keeps its own store unless security.enterprise_roots.enabled is true; "
    "Homebrew's curl and python.org's Python read their own bundles, not the keychain.",
)


class WindowsStore:
    """The Windows machine Root store, as commands for an elevated prompt.

    ``powershell=False`` gives certutil (cmd.exe); True gives the PowerShell cmdlets.
    """

    kind = StoreKind.WINDOWS
    clients = ("edge", "chrome", "dotnet-windows", "curl")

    def __init__(self, *, powershell: bool = False, store_id: str = "windows") -> None:
        self.id = store_id
        self.powershell = powershell

    def info(self) -> StoreInfo:
        return StoreInfo(
            id=self.id,
            kind=self.kind,
            name="Windows Trusted Root Certification Authorities (Local Computer)",
            location=WINDOWS_ROOT,
            clients=self.clients,
            count=None,
            writable=False,
            problem="not this machine: the commands are shown, to run on Windows",
        )

    def certificates(self) -> list[x509.Certificate]:
        return []  # not readable from here

    def plan_add(self, ca: x509.Certificate, label: str) -> Plan:
        _check_label(label)
        file = f"{label}.cer"
        der = ca.public_bytes(serialization.Encoding.DER)
        copy = Step(f"the CA to copy to Windows as {file}", write=Path(file), content=der)
        if self.powershell:
            command: tuple[str, ...] = _powershell(
                f"Import-Certificate -FilePath {file} -CertStoreLocation {WINDOWS_ROOT}"
            )
        else:
            command = ("certutil", "-addstore", "-f", "Root", file)
        steps = (copy, Step("add it to the machine's Root store (as administrator)", command))
        return Plan(self.id, "add", steps, self._notes(), runnable=False)

    def plan_remove(self, ca: x509.Certificate, label: str) -> Plan:
        _check_label(label)
        thumbprint = sha1_thumbprint(ca)
        if self.powershell:
            command: tuple[str, ...] = _powershell(
                f"Get-ChildItem {WINDOWS_ROOT}\\{thumbprint} | Remove-Item"
            )
        else:
            command = ("certutil", "-delstore", "Root", thumbprint)
        steps = (Step("remove it from the machine's Root store (as administrator)", command),)
        return Plan(self.id, "remove", steps, self._notes(), runnable=False)

    def _notes(self) -> tuple[str, ...]:
        where = "an elevated PowerShell" if self.powershell else "an elevated Command Prompt"
        return (
            f"Run in {where}.",
            "Firefox reads it only with security.enterprise_roots.enabled (the default "
            "since Firefox 120 on Windows); Java, Node and Python's certifi do not.",
        )


def _powershell(script: str) -> tuple[str, ...]:
    """A PowerShell command line as one argv (a pipeline is PowerShell's, not a shell's)."""
    return ("powershell", "-NoProfile", "-Command", script)


def _pem(ca: x509.Certificate) -> bytes:
    return ca.public_bytes(serialization.Encoding.PEM)
