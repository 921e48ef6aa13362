"""The files ``tlsdoctor fix`` reads and writes: private keys in, chain files out.

Keys: does this key belong to this certificate (the first thing to rule out before
blaming a chain), with one sentence naming the file when it is not a key at all. Writes
are atomic (a temporary file in the same directory, fsync, rename), so a server reloading
at the wrong moment never reads half a chain, and never replace a file unless forced.
Anything holding a private key is written readable by its owner only.
"""

from __future__ import annotations

import contextlib
import enum
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from tlsdoctor.analysis.facts import CertFacts
from tlsdoctor.errors import InputError

PUBLIC_MODE = 0o644
SECRET_MODE = 0o600
MAX_KEY_BYTES = 1024 * 1024

_PEM_LABEL = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----")
# What people give as "the key" by mistake, and the sentence that tells them so.
_NOT_A_KEY = {
    b"CERTIFICATE": "holds a certificate, not a private key",
    b"TRUSTED CERTIFICATE": "holds a certificate, not a private key",
    b"CERTIFICATE REQUEST": (
        "holds a certificate signing request (CSR), not a private key: the key is the file "
        "made together with the CSR"
    ),
    b"NEW CERTIFICATE REQUEST": (
        "holds a certificate signing request (CSR), not a private key: the key is the file "
        "made together with the CSR"
    ),
    b"PUBLIC KEY": "holds a public key, not a private key",
    b"RSA PUBLIC KEY": "holds a public key, not a private key",
    b"PKCS7": "holds certificates (PKCS#7), not a private key",
    b"X509 CRL": "holds a certificate revocation list (CRL), not a private key",
}


class NotAPrivateKey(InputError):
    """A file (or bytes) given as a private key holds none that can be read."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


class KeyPasswordError(InputError):
    """An encrypted private key without its password, or with a wrong one."""

    def __init__(self, source: str, wrong: bool) -> None:
        what = "the password given is wrong" if wrong else "it is encrypted"
        super().__init__(f"{source}: a private key, but {what}; pass its password")
        self.source = source
        self.wrong = wrong


class OverwriteRefused(InputError):
    """The output file exists and replacing it was not asked for."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"{path}: already exists; not replaced without --force")
        self.path = path


# Keys ----------------------------------------------------------------------------------
def load_private_key(path: str | Path, password: bytes | None = None) -> PrivateKeyTypes:
    """The private key in the file at ``path`` (PEM or DER, PKCS#8 or traditional)."""
    name = str(path)
    from tlsdoctor.pem import read_input  # a regular file only: never a FIFO or device

    if Path(path).is_dir():
        raise NotAPrivateKey(name, "is a directory, not a key file")
    data = read_input(path, MAX_KEY_BYTES)
    if len(data) > MAX_KEY_BYTES:
        raise NotAPrivateKey(name, "is far too large to be a private key")
    return parse_private_key(data, password, source=name)


def parse_private_key(
    data: bytes, password: bytes | None = None, *, source: str = "the key"
) -> PrivateKeyTypes:
    """The private key in ``data``; errors name ``source`` and say what the data is."""
    is_pem = b"-----BEGIN" in data
    if is_pem:
        labels = _PEM_LABEL.findall(data)
        if labels and not any(label.endswith(b"PRIVATE KEY") for label in labels):
            reason = _NOT_A_KEY.get(labels[0], f"holds a PEM '{labels[0].decode()}' block")
            raise NotAPrivateKey(source, reason)
    elif not data.strip():
        raise NotAPrivateKey(source, "is empty, not a private key")
    try:
        return _load(data, password, is_pem)
    except TypeError as exc:
        # cryptography: "Password was not given but private key is encrypted", or a password
        # for a key that has none, which is harmless: the key is read without it.
        if password is not None and "not encrypted" in str(exc):
            return _load(data, None, is_pem)
        raise KeyPasswordError(source, wrong=False) from exc
    except ValueError as exc:
        if password is not None and _encrypted(data, is_pem):
            raise KeyPasswordError(source, wrong=True) from exc
        what = "PEM" if is_pem else "PEM or DER"
        raise NotAPrivateKey(source, f"is not a private key this tool can read ({what})") from exc
    except UnsupportedAlgorithm as exc:
        raise NotAPrivateKey(source, f"holds a key of an unsupported type ({exc})") from exc


def _load(data: bytes, password: bytes | None, is_pem: bool) -> PrivateKeyTypes:
    if is_pem:
        return serialization.load_pem_private_key(data, password)
    return serialization.load_der_private_key(data, password)


def _encrypted(data: bytes, is_pem: bool) -> bool:
    if is_pem:
        return b"ENCRYPTED" in data
    # DER: decryption failed with a password, so the structure was read as encrypted.
    return True


def same_key(certificate: x509.Certificate, key: PrivateKeyTypes) -> bool:
    """Whether ``key`` is the private half of ``certificate``'s public key."""
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # CertFacts.spki never equals another key when the certificate's cannot be read.
    return CertFacts.of(certificate).spki == public


def key_matches(
    certificate: x509.Certificate, key_pem_or_der: bytes, password: bytes | None = None
) -> bool:
    """Whether the key in ``key_pem_or_der`` belongs to ``certificate`` (RSA, EC, Ed25519,
    ...); raises :class:`NotAPrivateKey` when the data is no private key."""
    return same_key(certificate, parse_private_key(key_pem_or_der, password))


def key_pem(key: PrivateKeyTypes) -> bytes:
    """An unencrypted PKCS#8 PEM key, as servers read it at start without a prompt."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


# Bundles -------------------------------------------------------------------------------
def chain_pem(certs: Iterable[x509.Certificate]) -> bytes:
    """The certificates as one PEM bundle, in the order given."""
    return b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in certs)


def combined_pem(certs: Sequence[x509.Certificate], key: PrivateKeyTypes) -> bytes:
    """What HAProxy's ``crt`` reads: the certificate, its intermediates, then the key."""
    return chain_pem(certs) + key_pem(key)


def is_secret(data: bytes) -> bool:
    """PEM data holding a private key (a key file, or a combined certificate+key file)."""
    return b"PRIVATE KEY-----" in data


# Writing -------------------------------------------------------------------------------
def write_atomically(
    path: str | Path, data: bytes, *, force: bool, mode: int = PUBLIC_MODE
) -> Path:
    """Write ``data`` to ``path`` all at once: readers see the old file or the new one.

    Refuses (:class:`OverwriteRefused`) when ``path`` exists and ``force`` is False, and
    refuses a symbolic link always: replacing certbot's ``live/`` links with files would
    stop renewals from reaching the server. PEM data holding a private key is written
    0o600 whatever ``mode`` says. Returns the path written.
    """
    target = Path(path)
    if target.is_symlink():
        raise InputError(
            f"{target}: is a symbolic link (to {os.readlink(target)}); write to a new path "
            "instead of replacing the link"
        )
    if target.is_dir():
        raise InputError(f"{target}: is a directory, not a file to write")
    if not force and target.exists():
        raise OverwriteRefused(target)
    if is_secret(data):
        mode &= SECRET_MODE
    folder = target.parent
    try:
        descriptor, temporary = tempfile.mkstemp(
            dir=folder, prefix=f".{target.name}.", suffix=".tmp"
        )
    except OSError as exc:
        raise InputError(f"{target}: cannot be written ({exc.strerror or exc})") from exc
    try:
        with os.fdopen(descriptor, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        _publish(temporary, target, force)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        if isinstance(exc, OSError):
            raise InputError(f"{target}: cannot be written ({exc.strerror or exc})") from exc
        raise
    _sync_directory(folder)
    return target


def _publish(temporary: str, target: Path, force: bool) -> None:
    """Move the finished file into place; without ``force``, never over an existing file,
    even one created since the check above (a hard link fails if the name is taken)."""
    if force:
        os.replace(temporary, target)
        return
    try:
        os.link(temporary, target)
    except FileExistsError:
        raise OverwriteRefused(target) from None
    except OSError:
        # No hard links on this file system: the check before writing has to do.
        if target.exists():
            raise OverwriteRefused(target) from None
        os.replace(temporary, target)
        return
    os.unlink(temporary)


def _sync_directory(folder: Path) -> None:
    """Make the new name durable too (a crash after rename must not lose the file)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass  # not every platform or file system syncs directories
    finally:
        os.close(descriptor)


# The files of a planned chain ----------------------------------------------------------
class FileRole(str, enum.Enum):
    """What a written file is for, as server configurations name them."""

    FULLCHAIN = "fullchain"  # the certificate, then the intermediates (nginx, Apache, ...)
    CHAIN = "chain"  # the intermediates alone (Apache < 2.4.8's SSLCertificateChainFile)
    CERT = "cert"  # the certificate alone
    INTERMEDIATE = "intermediate"  # one intermediate, DER (.cer, for Windows' store)
    COMBINED = "combined"  # certificate, intermediates, key (HAProxy)
    KEY = "key"  # the private key (never written here: the server's own file is named)

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class OutputFile:
    """One file to write."""

    path: Path
    data: bytes
    role: FileRole

    @property
    def mode(self) -> int:
        return SECRET_MODE if is_secret(self.data) else PUBLIC_MODE


@dataclass(frozen=True)
class ChainFiles:
    """Where the files of a chain are (or will be): what a configuration snippet names."""

    fullchain: Path
    chain: Path
    cert: Path
    intermediates: tuple[Path, ...] = ()
    key: Path | None = None  # the server's private key, where it already is
    combined: Path | None = None


def chain_outputs(
    folder: str | Path,
    chain: Sequence[x509.Certificate],
    *,
    key: PrivateKeyTypes | None = None,
    key_path: str | Path | None = None,
) -> tuple[ChainFiles, tuple[OutputFile, ...]]:
    """The files for a planned chain (leaf first) in ``folder``, named as certbot names
    them, plus one ``intermediate-N.cer`` per intermediate and, when ``key`` is given,
    HAProxy's ``combined.pem``. ``key_path`` is where the server's key already is: keys
    are not copied around.
    """
    if not chain:
        raise InputError("no certificate to write")
    base = Path(folder)
    outputs = [
        OutputFile(base / "fullchain.pem", chain_pem(chain), FileRole.FULLCHAIN),
        OutputFile(base / "chain.pem", chain_pem(chain[1:]), FileRole.CHAIN),
        OutputFile(base / "cert.pem", chain_pem(chain[:1]), FileRole.CERT),
    ]
    intermediates = []
    for number, cert in enumerate(chain[1:], start=1):
        path = base / f"intermediate-{number}.cer"
        intermediates.append(path)
        der = cert.public_bytes(serialization.Encoding.DER)
        outputs.append(OutputFile(path, der, FileRole.INTERMEDIATE))
    combined = None
    if key is not None:
        combined = base / "combined.pem"
        outputs.append(OutputFile(combined, combined_pem(chain, key), FileRole.COMBINED))
    files = ChainFiles(
        fullchain=base / "fullchain.pem",
        chain=base / "chain.pem",
        cert=base / "cert.pem",
        intermediates=tuple(intermediates),
        key=None if key_path is None else Path(key_path),
        combined=combined,
    )
    return files, tuple(outputs)


def write_outputs(outputs: Sequence[OutputFile], *, force: bool) -> tuple[Path, ...]:
    """Write every file, each atomically; without ``force``, refuse before writing any
    when one exists, so a refused run leaves no half-new set of files behind."""
    if not force:
        for output in outputs:
            if output.path.exists() or output.path.is_symlink():
                raise OverwriteRefused(output.path)
    return tuple(
        write_atomically(output.path, output.data, force=force, mode=output.mode)
        for output in outputs
    )
