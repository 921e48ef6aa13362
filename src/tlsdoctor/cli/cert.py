"""``tlsdoctor cert``: a key and a CSR with the names visitors will type; a local CA and
the leaves it issues."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from rich.markup import escape

from tlsdoctor.certs.build import PrivateKey
from tlsdoctor.certs.csr import (
    KeyType,
    RequestedNames,
    build_csr,
    names_of,
    new_key,
    requested_names,
)
from tlsdoctor.cli.cert_ca import refuse_existing
from tlsdoctor.errors import InputError
from tlsdoctor.remedy.files import key_pem, write_atomically
from tlsdoctor.render.text import make_console


def csr(
    names: Sequence[str],
    *,
    exact: bool,
    key_type: str,
    from_cert: str | None,
    from_host: str | None,
    output: str,
    force: bool,
    passphrase_env: str | None,
    as_json: bool,
) -> int:
    """``cert csr``: a new key and a CSR for ``names`` (or, renewing, for the names and
    subject of a deployed certificate)."""
    subject: x509.Name | None = None
    typed = list(names)
    if from_cert is not None or from_host is not None:
        deployed = _deployed(from_cert, from_host)
        typed = names_of(deployed) + typed
        subject = deployed.subject  # renewal: the same subject, a new key
        exact = True
        if not typed:
            raise InputError("the deployed certificate names no host (no SAN and no CN)")
    requested = requested_names(typed, exact=exact)
    key = new_key(KeyType(key_type))
    request = build_csr(requested, key, subject)
    folder = Path(output)
    if not folder.is_dir():
        raise InputError(f"{folder}: no such directory")
    stem = requested.common_name.replace("*", "wildcard")
    key_path, csr_path = folder / f"{stem}.key", folder / f"{stem}.csr"
    refuse_existing((key_path, csr_path), force)
    write_atomically(key_path, _key_bytes(key, passphrase_env), force=force)
    write_atomically(csr_path, request.public_bytes(serialization.Encoding.PEM), force=force)
    if as_json:
        print(
            json.dumps(
                {
                    "names": [*requested.dns, *map(str, requested.ips)],
                    "added": [{"name": name, "why": why} for name, why in requested.added],
                    "key_type": key_type,
                    "key": str(key_path),
                    "csr": str(csr_path),
                }
            )
        )
        return 0
    _print_summary(requested, key_type, key_path, csr_path, passphrase_env is not None)
    return 0


def _deployed(from_cert: str | None, from_host: str | None) -> x509.Certificate:
    if from_cert is not None:
        from tlsdoctor.pem import load_certificates

        return load_certificates(from_cert)[0]
    assert from_host is not None
    from tlsdoctor.cli.options import served_chain

    return served_chain(from_host)[0]


def _key_bytes(key: PrivateKey, passphrase_env: str | None) -> bytes:
    if passphrase_env is None:
        return key_pem(key)
    passphrase = os.environ.get(passphrase_env)
    if not passphrase:
        raise InputError(f"${passphrase_env} is empty or unset: it must hold the key's passphrase")
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase.encode()),
    )


def _print_summary(
    requested: RequestedNames, key_type: str, key_path: Path, csr_path: Path, encrypted: bool
) -> None:
    console = make_console()
    console.print(f"[bold]Names requested[/] ({key_type} key):")
    why = dict(requested.added)
    for name in [*requested.dns, *map(str, requested.ips)]:
        note = f"  [dim]added: {escape(why[name])}[/]" if name in why else ""
        console.print(f"  {escape(name)}{note}")
    console.print(f"\nkey: {escape(str(key_path))} (mode 0600: stays on the server, never sent)")
    console.print(f"csr: {escape(str(csr_path))}")
    if encrypted:
        console.print(
            "[yellow]The key is encrypted: nginx and Apache then ask for the passphrase at "
            "every start (or need ssl_password_file / SSLPassPhraseDialog).[/]"
        )
    wildcard = any(name.startswith("*.") for name in requested.dns)
    challenge = (
        "--manual --preferred-challenges dns  (wildcards need DNS-01)"
        if wildcard
        else "--webroot -w /var/www/html"
    )
    console.print(
        "\nNext:\n"
        f"  check it:        openssl req -in {csr_path} -noout -text\n"
        f"  Let's Encrypt:   certbot certonly --csr {csr_path} {challenge}\n"
        "  another CA:      paste the CSR into its order form (server type: 'Apache/nginx' "
        "or 'other'), then install the certificate WITH its intermediates\n"
        f"  after install:   tlsdoctor check {requested.common_name.removeprefix('*.')}",
        soft_wrap=True,
    )
