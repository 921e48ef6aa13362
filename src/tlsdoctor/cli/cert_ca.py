"""``tlsdoctor cert ca init`` / ``cert ca sign`` / ``cert issue``: the local CA's files,
passphrases and the certificates it issues.

A CA folder holds ``ca.pem`` (the root clients trust) and ``ca.key``; a two-level CA adds
``intermediate.pem`` and ``intermediate.key``, which sign, so that ``ca.key`` can leave
the machine. Passphrases come from an environment variable or a terminal prompt, never
from the command line, where ``ps`` and shell history would show them.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import click
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from rich.markup import escape

from tlsdoctor.certs.build import PrivateKey, PublicKey
from tlsdoctor.certs.ca import LeafRequest, client_identity
from tlsdoctor.certs.csr import KeyType, new_key, requested_names
from tlsdoctor.errors import InputError
from tlsdoctor.remedy.files import OverwriteRefused, key_pem, write_atomically
from tlsdoctor.render.text import make_console

ROOT, ROOT_KEY = "ca.pem", "ca.key"
INTERMEDIATE, INTERMEDIATE_KEY = "intermediate.pem", "intermediate.key"
MIN_PASSPHRASE = 8
MAX_CSR_BYTES = 64 * 1024


def ca_folder(given: str | None) -> Path:
    if given:
        return Path(given)
    from tlsdoctor.stores.system import tlsdoctor_data_dir

    return tlsdoctor_data_dir() / "ca"


def refuse_existing(paths: Sequence[Path], force: bool) -> None:
    """Before anything is written: never half a pair."""
    for path in paths:
        if path.exists() and not force:
            raise OverwriteRefused(path)


# Passphrases ------------------------------------------------------------------------------
def new_passphrase(passphrase_env: str | None, ask: bool, what: str) -> bytes | None:
    """A passphrase to encrypt with: from $VAR, or typed twice on a terminal; None: none."""
    if passphrase_env is not None:
        value = os.environ.get(passphrase_env, "")
        if len(value) < MIN_PASSPHRASE:
            raise InputError(
                f"${passphrase_env} must hold the {what} passphrase "
                f"({MIN_PASSPHRASE} characters or more)"
            )
        return value.encode()
    if not ask:
        return None
    if not sys.stdin.isatty():
        raise InputError(
            f"--ask-passphrase needs a terminal; in scripts give the {what} passphrase with "
            "--passphrase-env VAR"
        )
    typed = str(
        click.prompt(f"Passphrase for the {what}", hide_input=True, confirmation_prompt=True)
    )
    if len(typed) < MIN_PASSPHRASE:
        raise InputError(f"a passphrase of {MIN_PASSPHRASE} characters or more, please")
    return typed.encode()


def protected_key_pem(key: PrivateKey, passphrase: bytes | None) -> bytes:
    if passphrase is None:
        return key_pem(key)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase),
    )


def load_ca_key(path: Path, passphrase_env: str | None) -> PrivateKey:
    """The CA key at ``path``, decrypted with $VAR or a passphrase typed on a terminal."""
    from tlsdoctor.remedy.files import KeyPasswordError, load_private_key

    password: bytes | None = None
    if passphrase_env is not None:
        value = os.environ.get(passphrase_env)
        if not value:
            raise InputError(
                f"${passphrase_env} is empty or unset: it must hold the CA key's passphrase"
            )
        password = value.encode()
    try:
        key = load_private_key(path, password)
    except KeyPasswordError as exc:
        if password is not None or not sys.stdin.isatty():
            wrong = f": the passphrase in ${passphrase_env} is wrong" if passphrase_env else ""
            raise InputError(
                f"{path}: the CA key is encrypted{wrong}; give its passphrase with "
                "--passphrase-env VAR (or run in a terminal to be asked)"
            ) from exc
        typed = str(click.prompt(f"Passphrase for {path}", hide_input=True, err=True))
        key = load_private_key(path, typed.encode())
    if not isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)):
        raise InputError(f"{path}: an EC or RSA key is needed")
    return key


# The CA -------------------------------------------------------------------------------------
def ca_init(
    name: str,
    permits: Sequence[str],
    *,
    output: str | None,
    days: int,
    key_type: str,
    force: bool,
    as_json: bool,
    trust: bool = False,
    yes: bool = False,
    intermediate: bool = False,
    subject_constraint: bool = False,
    passphrase_env: str | None = None,
    ask_passphrase: bool = False,
) -> int:
    """``cert ca init``: a name-constrained root and its key (and, two-level, the
    intermediate that signs), and how to trust it (or ``trust``: trust it in every store
    here, as ``trust add`` does, asking first)."""
    from tlsdoctor.analysis.trust import LOCAL_CA_ORGANIZATION
    from tlsdoctor.certs.ca import new_ca, new_intermediate
    from tlsdoctor.certs.constraints import parse_permits, subject_prefix
    from tlsdoctor.check import utc_now
    from tlsdoctor.stores.base import fingerprint

    if trust and as_json:
        raise InputError("--trust shows each store's plan as text: use it without --json")
    directory = subject_prefix(name.strip(), LOCAL_CA_ORGANIZATION) if subject_constraint else None
    allowed = parse_permits(permits, directory=directory)
    passphrase = new_passphrase(passphrase_env, ask_passphrase, "CA key")
    folder = ca_folder(output)
    paths = [folder / ROOT, folder / ROOT_KEY]
    if intermediate:
        paths += [folder / INTERMEDIATE, folder / INTERMEDIATE_KEY]
    refuse_existing(paths, force)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not intermediate:
        # A replaced two-level CA's intermediate belongs to the old root: signing with it
        # would make leaves no client of the new root accepts.
        for stale in (folder / INTERMEDIATE, folder / INTERMEDIATE_KEY):
            stale.unlink(missing_ok=True)
    now = utc_now()
    key = new_key(KeyType(key_type))
    ca = new_ca(name, allowed, key, now=now, days=days, path_length=1 if intermediate else 0)
    written = {"certificate": folder / ROOT, "key": folder / ROOT_KEY}
    write_atomically(folder / ROOT_KEY, protected_key_pem(key, passphrase), force=force)
    write_atomically(folder / ROOT, ca.public_bytes(serialization.Encoding.PEM), force=force)
    if intermediate:
        signing_key = new_key(KeyType(key_type))
        signing = new_intermediate(ca, key, signing_key, now=now)
        write_atomically(
            folder / INTERMEDIATE_KEY, protected_key_pem(signing_key, passphrase), force=force
        )
        write_atomically(
            folder / INTERMEDIATE, signing.public_bytes(serialization.Encoding.PEM), force=force
        )
        written |= {
            "intermediate": folder / INTERMEDIATE,
            "intermediate_key": folder / INTERMEDIATE_KEY,
        }
    permits_text = allowed.describe()
    if as_json:
        print(
            json.dumps(
                {
                    **{k: str(v) for k, v in written.items()},
                    "sha256": fingerprint(ca),
                    "permitted": permits_text,
                    "encrypted": passphrase is not None,
                }
            )
        )
        return 0
    console = make_console()
    console.print(f"[bold]{escape(name)}[/]  sha256 {fingerprint(ca)}")
    console.print(
        f"may sign for: {escape(', '.join(permits_text))} and nothing else "
        "(name constraints, critical)"
    )
    for what, path in written.items():
        console.print(f"{what + ':':18}{escape(str(path))}")
    if intermediate:
        console.print(
            f"[yellow]Move {escape(str(folder / ROOT_KEY))} off this machine (an offline USB "
            "key): leaves are signed with the intermediate; the root key is needed again only "
            "to replace the intermediate.[/]"
        )
    console.print(
        "\nNext:\n"
        f"  trust it here:   tlsdoctor trust add {folder / ROOT} --dry-run   (then without)\n"
        f"  issue a leaf:    tlsdoctor cert issue HOST --ca {folder}\n"
        f"  a client cert:   tlsdoctor cert issue --client alice --p12 --ca {folder}\n"
        f"  other machines:  copy {ROOT} (never a .key) and run trust add there",
        soft_wrap=True,
    )
    if trust:
        from tlsdoctor.cli.trust import change

        console.print()
        return change("add", str(folder / ROOT), ["all"], dry_run=False, yes=yes, verify=None)
    return 0


@dataclass(frozen=True)
class Signer:
    """What signs leaves: the root of a one-level CA, the intermediate of a two-level one."""

    certificate: x509.Certificate
    key: PrivateKey
    chain: tuple[x509.Certificate, ...]  # sent after the leaf (the intermediate, if any)
    root_path: Path


def load_signer(ca_dir: str | None, passphrase_env: str | None) -> Signer:
    from tlsdoctor.pem import load_certificates

    folder = ca_folder(ca_dir)
    root_path = folder / ROOT
    if (folder / INTERMEDIATE).is_file():
        cert_path, key_path = folder / INTERMEDIATE, folder / INTERMEDIATE_KEY
    else:
        cert_path, key_path = root_path, folder / ROOT_KEY
    if not root_path.is_file() or not cert_path.is_file() or not key_path.is_file():
        raise InputError(
            f"{folder}: no {ROOT} and {key_path.name} here (tlsdoctor cert ca init makes them)"
        )
    certificate = load_certificates(cert_path)[0]
    key = load_ca_key(key_path, passphrase_env)
    chain = (certificate,) if cert_path != root_path else ()
    return Signer(certificate, key, chain, root_path)


def issue_leaf(
    names: Sequence[str],
    *,
    ca_dir: str | None,
    output: str,
    days: int,
    key_type: str,
    exact: bool,
    force: bool,
    as_json: bool,
    client: bool = False,
    p12: bool = False,
    p12_passphrase_env: str | None = None,
    passphrase_env: str | None = None,
) -> int:
    """``cert issue``: a leaf from the local CA with a new key, checked before it is kept."""

    if client:
        if len(names) != 1:
            raise InputError("--client takes one identity: a name (alice) or e-mail address")
        request = client_identity(names[0])
    else:
        if p12:
            raise InputError("--p12 is for client certificates (--client): servers read PEM")
        request = LeafRequest.server(requested_names(names, exact=exact))
    out = _output_dir(output)
    stem = _stem(request.names()[0])
    paths = [out / f"{stem}.pem", out / f"{stem}.key"] + ([out / f"{stem}.p12"] if p12 else [])
    refuse_existing(paths, force)
    p12_passphrase = new_passphrase(p12_passphrase_env, p12, "PKCS#12 file") if p12 else None
    signer = load_signer(ca_dir, passphrase_env)
    key = new_key(KeyType(key_type))
    leaf = _issue_checked(signer, request, key.public_key(), days)
    write_atomically(paths[1], key_pem(key), force=force)
    write_atomically(paths[0], _chain_pem(leaf, signer), force=force)
    if p12_passphrase is not None:
        write_atomically(paths[2], _pkcs12(stem, key, leaf, signer, p12_passphrase), force=force)
    return _say_issued(leaf, request, signer, paths, days, as_json)


def sign_request(
    csr_path: str,
    *,
    ca_dir: str | None,
    output: str,
    days: int,
    client: bool,
    force: bool,
    as_json: bool,
    passphrase_env: str | None = None,
) -> int:
    """``cert ca sign REQ.csr``: a leaf for someone else's key. Only the CSR's names are
    taken (its SANs, else its CN); the profile, lifetime and EKU are the CA's choice."""

    request_csr = _read_csr(csr_path)
    public_key = request_csr.public_key()
    if not isinstance(public_key, (ec.EllipticCurvePublicKey, rsa.RSAPublicKey)):
        raise InputError(f"{csr_path}: an EC or RSA key is needed")
    if isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size < 2048:
        raise InputError(f"{csr_path}: an RSA key of {public_key.key_size} bits; 2048 or more")
    names = _csr_names(request_csr, csr_path)
    if client:
        if len(names) != 1:
            raise InputError(
                f"{csr_path}: a client certificate names one identity, not {len(names)}"
            )
        request = client_identity(names[0])
    else:
        request = LeafRequest.server(requested_names(names, exact=True))
    out = _output_dir(output)
    path = out / f"{_stem(request.names()[0])}.pem"
    refuse_existing([path], force)
    signer = load_signer(ca_dir, passphrase_env)
    leaf = _issue_checked(signer, request, public_key, days)
    write_atomically(path, _chain_pem(leaf, signer), force=force)
    return _say_issued(leaf, request, signer, [path], days, as_json)


def _read_csr(path: str) -> x509.CertificateSigningRequest:
    from tlsdoctor.certs.inputs import read_bounded

    data = read_bounded(path, MAX_CSR_BYTES, "a certificate request")
    try:
        loaded = (
            x509.load_pem_x509_csr(data) if b"-----BEGIN" in data else x509.load_der_x509_csr(data)
        )
    except ValueError as exc:
        raise InputError(f"{path}: not a certificate signing request (PEM or DER)") from exc
    if not loaded.is_signature_valid:
        raise InputError(
            f"{path}: the request's signature is wrong (altered, or not made by its key)"
        )
    return loaded


def _csr_names(request: x509.CertificateSigningRequest, source: str) -> list[str]:
    from cryptography.x509.oid import NameOID

    try:
        san = request.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        san = None
    except ValueError as exc:
        raise InputError(f"{source}: its extensions cannot be read ({exc})") from exc
    if san is not None:
        names = [
            *san.get_values_for_type(x509.DNSName),
            *map(str, san.get_values_for_type(x509.IPAddress)),
            *san.get_values_for_type(x509.RFC822Name),
        ]
        if names:
            return names
    common = request.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not common:
        raise InputError(f"{source}: the request names nothing (no SAN, no CN)")
    return [str(common[0].value)]


def _output_dir(output: str) -> Path:
    out = Path(output)
    if not out.is_dir():
        raise InputError(f"{out}: no such directory")
    return out


def _stem(name: str) -> str:
    return name.replace("*", "wildcard").replace("/", "_").replace(" ", "_")


def _issue_checked(
    signer: Signer, request: LeafRequest, public_key: PublicKey, days: int
) -> x509.Certificate:
    """Issue, then call it done only once tlsdoctor's own diagnosis trusts it under the
    root (a server certificate: for its first name)."""
    from tlsdoctor.anchors import anchors_from_files
    from tlsdoctor.certs.ca import issue
    from tlsdoctor.check import check_chain, utc_now
    from tlsdoctor.codes import Verdict

    leaf = issue(signer.certificate, signer.key, request, public_key, now=utc_now(), days=days)
    if request.client:
        return leaf
    host = request.dns[0] if request.dns else str(request.ips[0])
    if host.startswith("*."):  # a wildcard is checked for a name it covers, not its base
        host = "wildcard-check" + host[1:]
    report = check_chain(
        [leaf, *signer.chain],
        host,
        anchors=anchors_from_files([signer.root_path]),
        check_revocation=False,
    )
    if report.verdict is not Verdict.TRUSTED:
        problems = "; ".join(f.message for f in report.findings)
        raise InputError(f"the issued certificate does not pass tlsdoctor's check: {problems}")
    return leaf


def _chain_pem(leaf: x509.Certificate, signer: Signer) -> bytes:
    from tlsdoctor.remedy.files import chain_pem

    return chain_pem([leaf, *signer.chain])


def _pkcs12(
    name: str, key: PrivateKey, leaf: x509.Certificate, signer: Signer, passphrase: bytes
) -> bytes:
    """A PKCS#12 file for curl (--cert F.p12:PASS --cert-type P12) and browsers: AES-256
    and PBKDF2 (what OpenSSL 3 writes), the intermediate included, the root left out (the
    server has it)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.serialization import pkcs12

    encryption = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(200_000)
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(passphrase)
    )
    return pkcs12.serialize_key_and_certificates(
        name.encode(), key, leaf, list(signer.chain) or None, encryption
    )


def _say_issued(
    leaf: x509.Certificate,
    request: LeafRequest,
    signer: Signer,
    paths: Sequence[Path],
    days: int,
    as_json: bool,
) -> int:
    files = dict(zip(("certificate", "key", "pkcs12"), map(str, paths), strict=False))
    if as_json:
        print(
            json.dumps(
                {
                    **files,
                    "names": request.names(),
                    "purpose": "client" if request.client else "server",
                    "not_after": leaf.not_valid_after_utc.isoformat(),
                    "ca": str(signer.root_path),
                }
            )
        )
        return 0
    console = make_console()
    what = "client certificate for" if request.client else "issued"
    checked = "" if request.client else ", checked: trusted under " + str(signer.root_path)
    console.print(
        f"{what} {escape(', '.join(request.names()))}, valid {days} days{escape(checked)}"
    )
    for label, path in files.items():
        console.print(f"{label + ':':13}{escape(path)}")
    if request.client:
        p12 = files.get("pkcs12", "FILE.p12")
        console.print(
            f"curl: curl --cert {escape(p12)}:PASSPHRASE --cert-type P12 https://...\n"
            "browsers: import the .p12 (Firefox: Settings > Certificates > Your Certificates; "
            "Chrome: Settings > Privacy and security > Manage certificates)\n"
            f"servers: nginx ssl_client_certificate {escape(str(signer.root_path))}; "
            "ssl_verify_client on;",
            soft_wrap=True,
        )
        return 0
    console.print(
        f"Serve the certificate file as it is (leaf{' and intermediate' if signer.chain else ''}; "
        f"the root is never sent): nginx ssl_certificate {escape(files['certificate'])};"
        + (f" ssl_certificate_key {escape(files['key'])};" if "key" in files else "")
        + f"\nClients need the CA: tlsdoctor trust add {escape(str(signer.root_path))}",
        soft_wrap=True,
    )
    return 0
