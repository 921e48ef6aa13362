"""Environment snippets: make the tools that read a variable or a setting trust a CA.

Variables that *replace* a client's roots (SSL_CERT_FILE, REQUESTS_CA_BUNDLE,
CURL_CA_BUNDLE, pip's cert, git's sslCAInfo, npm's cafile) must point at a full bundle:
the system's roots plus the CA, or every other site breaks. NODE_EXTRA_CA_CERTS adds to
Node's own roots, so it gets the CA alone.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


class Shell(str, enum.Enum):
    BASH = "bash"  # also zsh and sh
    FISH = "fish"
    POWERSHELL = "powershell"
    CMD = "cmd"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Setting:
    """One variable or tool setting, and the clients it serves."""

    name: str
    value: str
    clients: tuple[str, ...]
    command: str | None = None  # a tool's own setting command instead of a variable


def settings(bundle: Path, ca_file: Path) -> tuple[Setting, ...]:
    """What to set for ``bundle`` (system roots + the CA) and ``ca_file`` (the CA alone)."""
    full, extra = str(bundle), str(ca_file)
    return (
        Setting("SSL_CERT_FILE", full, ("python", "openssl", "ruby", "dotnet-linux")),
        Setting("REQUESTS_CA_BUNDLE", full, ("python-requests",)),
        Setting("CURL_CA_BUNDLE", full, ("curl",)),
        Setting("NODE_EXTRA_CA_CERTS", extra, ("node",)),
        Setting("GIT_SSL_CAINFO", full, ("git",), f"git config --global http.sslCAInfo {full}"),
        Setting("PIP_CERT", full, ("pip",), f"pip config set global.cert {full}"),
        Setting("NPM_CONFIG_CAFILE", full, ("npm",), f"npm config set cafile {full}"),
    )


def snippet(items: Sequence[Setting], shell: Shell) -> str:
    """The lines to paste into ``shell`` (or its profile) to set every variable."""
    lines = []
    for item in items:
        if shell is Shell.BASH:
            lines.append(f"export {item.name}={_sh(item.value)}")
        elif shell is Shell.FISH:
            lines.append(f"set -gx {item.name} {_sh(item.value)}")
        elif shell is Shell.POWERSHELL:
            lines.append(f'$env:{item.name} = "{item.value}"')
        else:
            lines.append(f"set {item.name}={item.value}")
    return "\n".join(lines)


def _sh(value: str) -> str:
    import shlex

    return shlex.quote(value)
