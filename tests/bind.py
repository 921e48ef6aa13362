"""A real authoritative DNS server on loopback: Debian's BIND (``named``), serving one zone
that accepts RFC 2136 updates signed with a TSIG key made at test time."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from servers import free_port, stop, wait_listening

NAMED = shutil.which("named") or ("/usr/sbin/named" if Path("/usr/sbin/named").exists() else None)
TSIG_KEYGEN = shutil.which("tsig-keygen") or (
    "/usr/sbin/tsig-keygen" if Path("/usr/sbin/tsig-keygen").exists() else None
)


def bind_available() -> bool:
    return NAMED is not None and TSIG_KEYGEN is not None


@dataclass(frozen=True)
class Bind:
    port: int
    zone: str
    key_file: Path  # tsig-keygen's output: what --dns-tsig-key reads

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


@contextlib.contextmanager
def bind(folder: Path, zone: str = "example.test") -> Iterator[Bind]:
    assert NAMED is not None and TSIG_KEYGEN is not None
    folder.mkdir(parents=True, exist_ok=True)
    key_file = folder / "update.key"
    made = subprocess.run(
        [TSIG_KEYGEN, "-a", "hmac-sha256", "acme-update"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    key_file.write_text(made.stdout)
    (folder / f"{zone}.zone").write_text(
        f"$TTL 60\n"
        f"@ IN SOA ns.{zone}. hostmaster.{zone}. 1 3600 600 86400 60\n"
        f"@ IN NS ns.{zone}.\n"
        f"ns IN A 127.0.0.1\n"
        f"@ IN A 127.0.0.1\n"
        f"* IN A 127.0.0.1\n"  # HTTP-01 names resolve to the loopback answering them
    )
    port = free_port()
    (folder / "named.conf").write_text(
        f'include "{key_file}";\n'
        "controls { };\n"
        "options {\n"
        f'    directory "{folder}";\n'
        f'    pid-file "{folder}/named.pid";\n'
        f"    listen-on port {port} {{ 127.0.0.1; }};\n"
        "    listen-on-v6 { none; };\n"
        "    recursion no;\n"
        "    dnssec-validation no;\n"
        "    allow-query { any; };\n"
        "};\n"
        f'zone "{zone}" {{\n'
        "    type primary;\n"
        f'    file "{folder}/{zone}.zone";\n'
        "    update-policy { grant acme-update zonesub TXT; };\n"
        "};\n"
    )
    # named -g logs every query and update: to a file, so a full pipe never stops it.
    with open(folder / "named.log", "wb") as log:
        server = subprocess.Popen(
            [NAMED, "-g", "-c", str(folder / "named.conf"), "-n", "1"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_listening("127.0.0.1", port, server)
            yield Bind(port, zone, key_file)
        finally:
            stop(server)
