"""The trust stores of this machine, found in one place, and chosen by name.

``--store`` takes ``all``, a kind (``system``, ``nss``, ``java``, ``python``, ``macos``,
``windows``), a store id as ``trust list`` prints it, or a location: ``nss:DIR``,
``java:KEYSTORE``, ``certifi:PYTHON`` (a sandbox, another profile, another interpreter).
macOS and Windows are never part of ``all`` here: their stores are commands to run there.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from tlsdoctor.errors import InputError
from tlsdoctor.stores.base import StoreKind, TrustStore


def _home() -> Path:
    """Whose NSS databases and Firefox profiles: ``$TLSDOCTOR_HOME`` (sandboxes), else,
    under sudo, the invoking user's home (SUDO_USER), not root's; else this user's."""
    if os.environ.get("TLSDOCTOR_HOME"):
        return Path(os.environ["TLSDOCTOR_HOME"])
    invoker = os.environ.get("SUDO_USER")
    if invoker and invoker != "root" and os.geteuid() == 0:
        import pwd

        try:
            return Path(pwd.getpwnam(invoker).pw_dir)
        except KeyError:
            pass
    return Path.home()


def discover() -> list[TrustStore]:
    """Every store a client on this machine reads."""
    from tlsdoctor.stores.java import discover_java
    from tlsdoctor.stores.nss import discover_nss
    from tlsdoctor.stores.python import CertifiStore
    from tlsdoctor.stores.system import detect_system_store

    stores: list[TrustStore] = []
    system = None if os.environ.get("TLSDOCTOR_HOME") else detect_system_store()
    if system is not None:
        stores.append(system)
    stores.extend(discover_nss(_home()))
    if not os.environ.get("TLSDOCTOR_HOME"):
        stores.extend(discover_java())
    stores.append(CertifiStore())
    return stores


def select(stores: Sequence[TrustStore], names: Sequence[str]) -> list[TrustStore]:
    """The stores ``names`` designate (see the module docstring)."""
    from tlsdoctor.stores.java import JavaStore
    from tlsdoctor.stores.nss import NssStore
    from tlsdoctor.stores.platforms import MacStore, WindowsStore
    from tlsdoctor.stores.python import CertifiStore

    chosen: list[TrustStore] = []
    for name in names:
        kind, _, where = name.partition(":")
        if name == "all":
            chosen.extend(stores)
        elif name == "macos":
            chosen.append(MacStore())
        elif name == "windows":
            chosen.append(WindowsStore())
        elif where and kind == "nss":
            chosen.append(NssStore(Path(where)))
        elif where and kind == "java":
            chosen.append(JavaStore(Path(where)))
        elif where and kind == "certifi":
            chosen.append(CertifiStore(where))
        else:
            matches = [s for s in stores if s.id == name or s.kind.value == name]
            if not matches:
                known = ", ".join(sorted({s.id for s in stores} | {k.value for k in StoreKind}))
                raise InputError(f"no trust store '{name}' here; known: {known}")
            chosen.extend(matches)
    unique: dict[str, TrustStore] = {}
    for store in chosen:
        unique.setdefault(store.id, store)
    return list(unique.values())
