"""Java keystores (a JDK's ``cacerts``, or any trust store given with
``-Djavax.net.ssl.trustStore``), via ``keytool``.

Java trusts every trusted-certificate entry of the store, and the certificate of every key
entry. ``keytool`` is found on PATH, else in ``$JAVA_HOME/bin``. keytool reads the CA from a
file, so adding writes a copy beside the keystore first and removes it after. Every check
that can fail (tool, keystore, permissions, password) runs when the plan is made, before
anything changes.

Distributions generate the shared ``cacerts`` from the system store: Debian/Ubuntu's
``/etc/ssl/certs/java/cacerts`` (every JDK's ``lib/security/cacerts`` links to it) is kept
in step by ca-certificates-java's hook of ``update-ca-certificates``; Fedora's
``/etc/pki/ca-trust/extracted/java/cacerts`` is rewritten whole by ``update-ca-trust``.
"""

from __future__ import annotations

import os
import re
import shutil
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

from cryptography import x509

from tlsdoctor.models import JsonValue
from tlsdoctor.stores.base import (
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

__all__ = ["DEBIAN_CACERTS", "FEDORA_CACERTS", "JavaStore", "discover_java", "find_keytool"]

KEYTOOL = "keytool"
DEFAULT_PASSWORD = "changeit"
DEBIAN_CACERTS = Path("/etc/ssl/certs/java/cacerts")
FEDORA_CACERTS = Path("/etc/pki/ca-trust/extracted/java/cacerts")
JVM_DIRECTORIES = (Path("/usr/lib/jvm"), Path("/usr/lib64/jvm"))
# keytool's own words are translated: ask for English to read "Alias name:".
_ENGLISH = ("-J-Duser.language=en", "-J-Duser.country=US")
_ALIAS = re.compile(r"^Alias name: (.*)$", re.MULTILINE)
_PEM = re.compile(
    r"-----BEGIN CERTIFICATE-----\s+[A-Za-z0-9+/=\s]+?-----END CERTIFICATE-----", re.DOTALL
)
_RESTART = "Java reads its trust store when it starts: restart the Java programs."
_GENERATED_NAMES = {
    DEBIAN_CACERTS: "kept in step with the system store by update-ca-certificates",
    FEDORA_CACERTS: "rewritten by update-ca-trust",
}
_GENERATED_NOTES = {
    DEBIAN_CACERTS: (
        "Debian's ca-certificates-java keeps this file in step with the system store: "
        "update-ca-certificates (--fresh) re-adds or removes the 'debian:*' entries, and "
        "other aliases stay. For a lasting change use the system store "
        "(/usr/local/share/ca-certificates/NAME.crt, then update-ca-certificates), "
        "which its hook copies here."
    ),
    FEDORA_CACERTS: (
        "update-ca-trust rewrites this file from the system store, dropping changes made "
        "with keytool: put the CA in /etc/pki/ca-trust/source/anchors/ and run "
        "update-ca-trust instead."
    ),
}


class JavaStore:
    """One Java keystore used as a trust store."""

    def __init__(
        self,
        keystore: Path,
        password: str = DEFAULT_PASSWORD,
        name: str | None = None,
        clients: Sequence[str] = ("java",),
    ) -> None:
        self.keystore = Path(keystore)
        self.password = password
        self.clients = tuple(clients)
        self.id = f"java:{self.keystore}"
        self.kind = StoreKind.JAVA
        generated = self._generated()
        if name is None:
            name = f"Java keystore {self.keystore}"
            if generated is not None:
                name += f" ({_GENERATED_NAMES[generated]})"
        self.name = name

    # Reading ----------------------------------------------------------------------------
    def info(self) -> StoreInfo:
        return info_by_reading(self, self.name, str(self.keystore), self._writable())

    def certificates(self) -> list[x509.Certificate]:
        return [cert for _, cert in self.entries()]

    def entries(self) -> list[tuple[str, x509.Certificate]]:
        """(alias, certificate) for every entry Java trusts: trusted-certificate entries,
        and the first certificate of each key entry. Read once per keystore version (see
        :mod:`tlsdoctor.stores.cache`): keytool costs a JVM start."""
        tool = find_keytool()
        self._check_keystore()
        listed = remembered("java", (self.keystore,), lambda: self._listing(tool))
        entries = []
        for alias, pem in rows(listed, 2):
            cert = _load(pem.encode())
            if cert is not None:  # one odd entry does not hide the others
                entries.append((alias, cert))
        return entries

    def _listing(self, tool: str) -> JsonValue:
        listing = run(
            (
                tool,
                *_ENGLISH,
                "-list",
                "-rfc",
                "-keystore",
                str(self.keystore),
                "-storepass",
                self.password,
            )
        )
        entries: list[JsonValue] = []
        starts = list(_ALIAS.finditer(listing))
        for index, match in enumerate(starts):
            end = starts[index + 1].start() if index + 1 < len(starts) else len(listing)
            block = _PEM.search(listing, match.end(), end)
            if block is not None:
                entries.append([match[1].strip(), block.group(0)])
        return entries

    # Planning ---------------------------------------------------------------------------
    def plan_add(self, ca: x509.Certificate, label: str) -> Plan:
        tool = find_keytool()
        if not label.strip():
            raise StoreError("the alias for keytool is empty")
        self._check_keystore(write=True)
        notes = self._notes()
        if contains(self, ca):
            return Plan(self.id, "add", (), notes=("already trusted", *notes), already=True)
        steps = through_a_copy(
            self.keystore.parent,
            ca,
            "keytool",
            lambda copy: Step(
                f"import it as '{label}' into {self.name}",
                command=(
                    tool,
                    "-importcert",
                    "-noprompt",
                    "-trustcacerts",
                    "-alias",
                    label,
                    "-file",
                    str(copy),
                    "-keystore",
                    str(self.keystore),
                    "-storepass",
                    self.password,
                ),
            ),
        )
        return Plan(self.id, "add", steps, notes=(_RESTART, *notes))

    def plan_remove(
        self, ca: x509.Certificate, label: str, leave: frozenset[str] = frozenset()
    ) -> Plan:
        """Delete every alias holding ``ca`` (``label`` when tlsdoctor added it), except
        those in ``leave`` (lower case): the ones Debian's hook removes itself."""
        tool = find_keytool()
        self._check_keystore(write=True)
        held = [alias for alias, cert in self.entries() if same_ca(cert, ca)]
        aliases = [alias for alias in held if alias.lower() not in leave]
        if held and not aliases:
            note = "Debian's hook of the system store removes it: " + ", ".join(held)
            return Plan(self.id, "remove", (), notes=(note,), already=True)
        if not aliases:
            return Plan(
                self.id, "remove", (), notes=("not trusted here: nothing to do",), already=True
            )
        notes = [_RESTART, *self._notes()]
        if label.lower() not in {alias.lower() for alias in aliases}:  # keytool lowercases
            notes.append(
                f"it is trusted under {', '.join(repr(a) for a in aliases)}, not '{label}'"
            )
        steps = tuple(
            Step(
                f"delete '{alias}' from {self.name}",
                command=(
                    tool,
                    "-delete",
                    "-alias",
                    alias,
                    "-keystore",
                    str(self.keystore),
                    "-storepass",
                    self.password,
                ),
            )
            for alias in aliases
        )
        return Plan(self.id, "remove", steps, notes=tuple(notes))

    # Checks -----------------------------------------------------------------------------
    def _check_keystore(self, *, write: bool = False) -> None:
        if not self.keystore.is_file():
            raise StoreError(f"{self.keystore}: no such keystore")
        if write and not self._writable():
            raise StoreError(
                f"{self.keystore}: the keystore (or its folder) is read-only here "
                "(run as its owner or root)"
            )

    def _writable(self) -> bool:
        return (
            self.keystore.is_file()
            and os.access(self.keystore, os.W_OK)
            and os.access(self.keystore.parent, os.W_OK)
        )

    def _generated(self) -> Path | None:
        real = self.keystore.resolve()
        for path in _GENERATED_NAMES:
            if real == path or real == path.resolve():
                return path
        return None

    def _notes(self) -> tuple[str, ...]:
        generated = self._generated()
        return () if generated is None else (_GENERATED_NOTES[generated],)


def find_keytool(environ: Mapping[str, str] | None = None) -> str:
    """keytool on PATH, else ``$JAVA_HOME/bin/keytool``; StoreError when neither."""
    env = os.environ if environ is None else environ
    found = shutil.which(KEYTOOL, path=env.get("PATH"))
    if found is not None:
        return found
    home = env.get("JAVA_HOME")
    if home:
        candidate = Path(home) / "bin" / KEYTOOL
        if os.access(candidate, os.X_OK):
            return str(candidate)
    raise StoreError(
        f"'{KEYTOOL}' is not installed (it comes with every JDK/JRE): put its bin folder on "
        "PATH or set JAVA_HOME"
    )


def discover_java(
    *,
    environ: Mapping[str, str] | None = None,
    jvm_directories: Sequence[Path] = JVM_DIRECTORIES,
    shared: Sequence[Path] = (DEBIAN_CACERTS, FEDORA_CACERTS),
) -> list[JavaStore]:
    """Every JDK's ``cacerts``: ``$JAVA_HOME``'s, each ``/usr/lib/jvm/*`` (and ``jre/``
    of Java 8), and the distributions' shared files. Symbolic links are resolved, so a file
    several JDKs share is one store, named with the JDKs that read it."""
    env = os.environ if environ is None else environ
    candidates: list[tuple[Path, str]] = []  # (cacerts path, the JDK reading it)
    java_home = env.get("JAVA_HOME")
    if java_home:
        home = Path(java_home)
        for relative in ("lib/security/cacerts", "jre/lib/security/cacerts"):
            candidates.append((home / relative, home.resolve().name))
    for folder in jvm_directories:
        if not folder.is_dir():
            continue
        for jdk_home in sorted(folder.iterdir()):
            for relative in ("lib/security/cacerts", "jre/lib/security/cacerts"):
                candidates.append((jdk_home / relative, jdk_home.resolve().name))
    candidates.extend((path, "") for path in shared)

    readers: dict[Path, list[str]] = {}
    for path, jdk in candidates:
        if not path.is_file():
            continue
        jdks = readers.setdefault(path.resolve(), [])
        if jdk and jdk not in jdks:
            jdks.append(jdk)

    stores = []
    for real, jdks in readers.items():
        shared_note = next(
            (_GENERATED_NAMES[p] for p in _GENERATED_NAMES if real in (p, p.resolve())), None
        )
        if shared_note is None and real in {p.resolve() for p in shared}:
            shared_note = "the distribution's shared cacerts"
        who = f"read by {', '.join(jdks)}" if jdks else "no JDK links to it"
        if shared_note is not None:
            name = f"Java cacerts {real} ({shared_note}; {who})"
        else:
            name = f"Java cacerts {real} ({who})"
        stores.append(JavaStore(real, name=name))
    return stores


def _load(pem: bytes) -> x509.Certificate | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # serial 0 and other quirks of real roots
        try:
            return x509.load_pem_x509_certificate(pem)
        except ValueError:
            return None
