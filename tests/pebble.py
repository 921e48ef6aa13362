"""Let's Encrypt's ACME test server, pebble (Debian's package), on loopback.

pebble-challtestsrv answers every DNS name with 127.0.0.1, so pebble validates HTTP-01
challenges against ``http_port`` on this machine, where the code under test serves them.
Pebble's own HTTPS certificate is made here, from a test CA; its issuing root is new at
every start and is fetched from the management port.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import ssl
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from pki import build, ec_key, make_root, name
from servers import free_port, stop, wait_listening

PEBBLE = shutil.which("pebble")
CHALLTESTSRV = shutil.which("pebble-challtestsrv")


def pebble_available() -> bool:
    return PEBBLE is not None and CHALLTESTSRV is not None


@dataclass(frozen=True)
class Pebble:
    directory: str  # the ACME directory URL
    ca_file: Path  # verifies pebble's own HTTPS certificate
    management: str  # https URL of the management interface
    http_port: int  # where pebble sends its HTTP-01 validation requests

    def issuing_root(self) -> bytes:
        """The root pebble's certificates chain to (new at every pebble start)."""
        context = ssl.create_default_context(cafile=str(self.ca_file))
        with urllib.request.urlopen(f"{self.management}/roots/0", context=context, timeout=10) as r:
            return bytes(r.read())


@contextlib.contextmanager
def pebble(
    folder: Path,
    http_port: int,
    *,
    eab_keys: dict[str, str] | None = None,
    dns_server: str | None = None,
) -> Iterator[Pebble]:
    """Pebble on loopback; ``eab_keys`` (kid: base64url HMAC key) makes external account
    binding required (Debian's example pebble-config-external-account-bindings.json);
    ``dns_server`` (HOST:PORT) replaces pebble-challtestsrv as the resolver pebble asks."""
    assert PEBBLE is not None and CHALLTESTSRV is not None
    now = dt.datetime.now(dt.timezone.utc)
    ca = make_root("pebble test TLS CA", not_before=now - dt.timedelta(days=1))
    server = build(
        subject=name("localhost", org=None),
        issuer=ca,
        key=ec_key(),
        not_before=now - dt.timedelta(days=1),
        not_after=now + dt.timedelta(days=30),
        ca=False,
        dns=("localhost",),
        ips=("127.0.0.1",),
    )
    folder.mkdir(parents=True, exist_ok=True)
    ca_file = folder / "pebble-tls-ca.pem"
    ca_file.write_bytes(ca.pem())
    (folder / "cert.pem").write_bytes(server.pem())
    (folder / "key.pem").write_bytes(
        server.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    port, management, dns_port = free_port(), free_port(), free_port()
    config = {
        "pebble": {
            "listenAddress": f"127.0.0.1:{port}",
            "managementListenAddress": f"127.0.0.1:{management}",
            "certificate": str(folder / "cert.pem"),
            "privateKey": str(folder / "key.pem"),
            "httpPort": http_port,
            "tlsPort": free_port(),
            "ocspResponderURL": "",
            "externalAccountBindingRequired": eab_keys is not None,
            "externalAccountMACKeys": eab_keys or {},
        }
    }
    (folder / "pebble.json").write_text(json.dumps(config))
    environment = {
        **os.environ,
        "PEBBLE_VA_NOSLEEP": "1",  # validate at once, not after a random pause
        "PEBBLE_WFE_NONCEREJECT": "0",  # pebble rejects 5% of nonces by default
        "PEBBLE_AUTHZREUSE": "0",  # every order gets fresh challenges
    }
    dns = None if dns_server is not None else subprocess.Popen(
        [CHALLTESTSRV, "-dns01", f"127.0.0.1:{dns_port}", "-http01", "", "-https01", "",
         "-tlsalpn01", "", "-management", f"127.0.0.1:{free_port()}",
         "-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        acme = subprocess.Popen(
            [PEBBLE, "-config", str(folder / "pebble.json"), "-dnsserver",
             dns_server or f"127.0.0.1:{dns_port}", "-strict=false"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env=environment,
        )  # fmt: skip
        try:
            wait_listening("127.0.0.1", port, acme)
            wait_listening("127.0.0.1", management, acme)
            yield Pebble(
                directory=f"https://127.0.0.1:{port}/dir",
                ca_file=ca_file,
                management=f"https://127.0.0.1:{management}",
                http_port=http_port,
            )
        finally:
            stop(acme)
    finally:
        if dns is not None:
            stop(dns)
