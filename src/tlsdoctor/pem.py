"""Reading certificates the way people have them: PEM (pasted, with junk around it), DER,
PKCS#7 (``.p7b``/``.p7c``, PEM or DER) and PKCS#12 (``.p12``/``.pfx``).

Every failure becomes a :class:`CertificateParseError` whose message names the file and
says in one sentence what is wrong with it.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import stat
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm

from tlsdoctor.errors import CertificateParseError, InputError

MAX_INPUT_BYTES = 64 * 1024 * 1024
# Certificates read from one input: a real bundle of every public root holds a few
# hundred; tens of thousands only make every later step slow.
MAX_CERTIFICATES = 2000
# PBKDF2 rounds a PKCS#12 file may ask for: OpenSSL writes 2048, Java 10000 and
# hardened exports a few hundred thousand; 2**31-1 would keep us busy for hours.
MAX_PBKDF2_ITERATIONS = 1_000_000

_PEM_BLOCK = re.compile(
    rb"-----BEGIN ([A-Z0-9 ]+)-----(.*?)(?:-----END \1-----|(?=-----BEGIN )|\Z)", re.DOTALL
)
_CERT_LABELS = {b"CERTIFICATE", b"X509 CERTIFICATE", b"TRUSTED CERTIFICATE"}
_PKCS7_LABELS = {b"PKCS7", b"CMS"}
# What people hand us by mistake, and the sentence that tells them so.
_NOT_A_CERTIFICATE = {
    b"PRIVATE KEY": "holds a private key, not a certificate",
    b"RSA PRIVATE KEY": "holds a private key, not a certificate",
    b"EC PRIVATE KEY": "holds a private key, not a certificate",
    b"ENCRYPTED PRIVATE KEY": "holds an encrypted private key, not a certificate",
    b"PUBLIC KEY": "holds a bare public key, not a certificate",
    b"CERTIFICATE REQUEST": (
        "holds a certificate signing request (CSR), not a certificate: "
        "a CA turns it into the certificate to check"
    ),
    b"NEW CERTIFICATE REQUEST": (
        "holds a certificate signing request (CSR), not a certificate: "
        "a CA turns it into the certificate to check"
    ),
    b"X509 CRL": "holds a certificate revocation list (CRL), not a certificate",
}
_WHITESPACE = re.compile(rb"\s+")


class PasswordRequired(InputError):
    """A PKCS#12 file needs a password that was not given (or was wrong)."""

    def __init__(self, source: str, wrong: bool) -> None:
        what = "the password given is wrong" if wrong else "it is protected by a password"
        super().__init__(f"{source}: a PKCS#12 file, but {what}; pass --password")
        self.source = source
        self.wrong = wrong


_FILE_KINDS = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _kind(mode: int) -> str | None:
    """What a file that is not a regular one is, in words; None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a directory"
    return next((words for test, words in _FILE_KINDS if test(mode)), "not a regular file")


def open_input(path: str | Path) -> BinaryIO:
    """The regular file at ``path`` opened for reading (``-``: standard input).

    A FIFO, a device or a socket is refused before it is read from: reading one can block
    forever (a FIFO without a writer) or never end (``/dev/zero``). The file is opened
    without blocking and checked again once open, so a swap in between changes nothing.
    """
    name = str(path)
    if name == "-":
        return sys.stdin.buffer
    refused = "tlsdoctor reads regular files only (or - for standard input)"
    try:
        kind = _kind(os.stat(name).st_mode)
        if kind is not None:
            raise CertificateParseError(name, f"is {kind}, not a file: {refused}")
        descriptor = os.open(name, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError as exc:
        raise CertificateParseError(name, "no such file") from exc
    except OSError as exc:
        raise CertificateParseError(name, f"cannot be read ({exc.strerror or exc})") from exc
    try:
        kind = _kind(os.fstat(descriptor).st_mode)
        if kind is not None:
            raise CertificateParseError(name, f"is {kind}, not a file: {refused}")
        os.set_blocking(descriptor, True)
        return os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise


def read_input(path: str | Path, limit: int = MAX_INPUT_BYTES) -> bytes:
    """Up to ``limit + 1`` bytes of the regular file at ``path`` (see :func:`open_input`):
    one byte more than allowed tells the caller the file is too large."""
    handle = open_input(path)
    try:
        return handle.read(limit + 1)
    except OSError as exc:
        raise CertificateParseError(str(path), f"cannot be read ({exc.strerror or exc})") from exc
    finally:
        if handle is not sys.stdin.buffer:
            handle.close()


def load_certificates(path: str | Path, password: bytes | None = None) -> list[x509.Certificate]:
    """Read every certificate in the file at ``path``, in file order."""
    name = str(path)
    data = read_input(path)
    if len(data) > MAX_INPUT_BYTES:
        raise CertificateParseError(
            name, f"is larger than {MAX_INPUT_BYTES // (1024 * 1024)} MiB: not a certificate file"
        )
    return parse_certificates(data, name, password)


def parse_certificates(
    data: bytes, source: str = "<input>", password: bytes | None = None
) -> list[x509.Certificate]:
    """Parse certificates from bytes in any supported format; ``source`` names them in errors."""
    if not data.strip():
        raise CertificateParseError(source, "is empty")
    # Odd but real roots (serial 0, negative serials) only warn in cryptography: they are
    # the server's problem to report, not a reason to stop reading.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if b"-----BEGIN " in data:
            return _parse_pem(data, source, password)
        return _parse_binary(data, source, password)


def _parse_pem(data: bytes, source: str, password: bytes | None) -> list[x509.Certificate]:
    certificates: list[x509.Certificate] = []
    mistakes: list[str] = []
    for number, match in enumerate(_PEM_BLOCK.finditer(data), start=1):
        label, body, block = match.group(1), match.group(2), match.group(0)
        if label not in _CERT_LABELS and label not in _PKCS7_LABELS:
            mistakes.append(
                _NOT_A_CERTIFICATE.get(
                    label, f"holds a '{label.decode()}' block, not a certificate"
                )
            )
            continue
        if not block.rstrip().endswith(b"-----END " + label + b"-----"):
            raise CertificateParseError(
                source, f"PEM block {number} ({label.decode()}) has no END line: it is truncated"
            )
        der = _decode_base64(body, source, number)
        if label in _PKCS7_LABELS:
            certificates.extend(_load_pkcs7_der(der, source))
        else:
            certificates.append(_load_der_certificate(der, source, number, label))
        _check_count(len(certificates), source)
    if certificates:
        return certificates
    if mistakes:
        raise CertificateParseError(source, mistakes[0])
    raise CertificateParseError(source, "has a PEM header but no certificate block")


def _decode_base64(body: bytes, source: str, number: int) -> bytes:
    lines = [line for line in body.splitlines() if b":" not in line]  # RFC 1421 headers
    text = _WHITESPACE.sub(b"", b"".join(lines))
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise CertificateParseError(
            source, f"PEM block {number} is not valid base64: it was damaged when copied"
        ) from exc


def _load_der_certificate(
    der: bytes, source: str, number: int, label: bytes = b"CERTIFICATE"
) -> x509.Certificate:
    if label == b"TRUSTED CERTIFICATE":
        # OpenSSL's "trusted certificate" appends trust settings after the certificate.
        der = _first_der_element(der)
    try:
        return readable(x509.load_der_x509_certificate(der))
    except ValueError as exc:
        raise CertificateParseError(
            source, f"certificate {number} cannot be parsed ({_short(exc)})"
        ) from exc


def readable(certificate: x509.Certificate) -> x509.Certificate:
    """``certificate``, once each field tlsdoctor reads has been decoded.

    cryptography decodes names, dates and extensions only when asked: a notBefore in
    year 0000 or a name that is not UTF-8 would raise ValueError deep inside a check.
    Asking here turns it into "cannot be parsed" for that certificate, at the door.
    """
    for decode in (
        lambda: certificate.subject.rfc4514_string(),
        lambda: certificate.issuer.rfc4514_string(),
        lambda: certificate.not_valid_before_utc,
        lambda: certificate.not_valid_after_utc,
        lambda: certificate.extensions,
        lambda: certificate.serial_number,
    ):
        try:
            decode()
        except ValueError as exc:
            raise ValueError(_short(exc)) from exc
    return certificate


def _first_der_element(der: bytes) -> bytes:
    if len(der) < 2 or der[0] != 0x30:
        return der
    length = der[1]
    if length < 0x80:
        return der[: 2 + length]
    count = length & 0x7F
    size = int.from_bytes(der[2 : 2 + count], "big")
    return der[: 2 + count + size]


def _load_pkcs7_der(der: bytes, source: str) -> list[x509.Certificate]:
    from cryptography.hazmat.primitives.serialization import pkcs7

    try:
        certificates = [readable(c) for c in pkcs7.load_der_pkcs7_certificates(der)]
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise CertificateParseError(
            source, f"PKCS#7 data cannot be parsed ({_short(exc)})"
        ) from exc
    if not certificates:
        raise CertificateParseError(source, "is a PKCS#7 bundle that holds no certificate")
    _check_count(len(certificates), source)
    return list(certificates)


def _parse_binary(data: bytes, source: str, password: bytes | None) -> list[x509.Certificate]:
    if data[:1] != b"\x30":
        if _looks_like_text(data):
            raise CertificateParseError(
                source, "is text without any '-----BEGIN CERTIFICATE-----' block"
            )
        raise CertificateParseError(source, "holds no certificate: not PEM, DER, PKCS#7 or PKCS#12")
    from cryptography.hazmat.primitives.serialization import pkcs7

    try:
        certificate = x509.load_der_x509_certificate(data)
    except ValueError:
        pass
    else:
        try:
            return [readable(certificate)]
        except ValueError as exc:
            raise CertificateParseError(
                source, f"certificate 1 cannot be parsed ({_short(exc)})"
            ) from exc
    try:
        certificates = pkcs7.load_der_pkcs7_certificates(data)
    except (ValueError, UnsupportedAlgorithm):
        pass
    else:
        if certificates:
            _check_count(len(certificates), source)
            return _all_readable(certificates, source)
    pkcs12_result = _try_pkcs12(data, source, password)
    if pkcs12_result is not None:
        return pkcs12_result
    raise CertificateParseError(
        source,
        "holds DER data that is not a certificate, PKCS#7 or PKCS#12 (damaged or truncated?)",
    )


def _try_pkcs12(data: bytes, source: str, password: bytes | None) -> list[x509.Certificate] | None:
    """Certificates of a PKCS#12 file, leaf first; None if the data is not PKCS#12."""
    from cryptography.hazmat.primitives.serialization import pkcs12

    _check_pbkdf2_rounds(data, source)
    tries: Sequence[bytes | None] = [password] if password is not None else [None, b""]
    wrong_password = False
    for attempt in tries:
        try:
            bundle = pkcs12.load_pkcs12(data, attempt)
        except UnsupportedAlgorithm as exc:
            raise CertificateParseError(
                source, f"is a PKCS#12 file with an algorithm tlsdoctor cannot read ({_short(exc)})"
            ) from exc
        except ValueError as exc:
            if "password" in str(exc).lower() or "mac" in str(exc).lower():
                wrong_password = True
                continue
            return None
        certificates = [] if bundle.cert is None else [bundle.cert.certificate]
        certificates.extend(extra.certificate for extra in bundle.additional_certs)
        if not certificates:
            raise CertificateParseError(source, "is a PKCS#12 file that holds no certificate")
        _check_count(len(certificates), source)
        return _all_readable(certificates, source)
    if wrong_password:
        raise PasswordRequired(source, wrong=password is not None)
    return None


def _looks_like_text(data: bytes) -> bool:
    sample = data[:4096]
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(ch.isprintable() or ch in "\t\r\n" for ch in text)


def _short(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:160]


def _check_count(count: int, source: str) -> None:
    if count > MAX_CERTIFICATES:
        raise CertificateParseError(
            source,
            f"holds more than {MAX_CERTIFICATES} certificates, the most tlsdoctor reads "
            "from one input: split it, or give only the chain to check",
        )


def _check_pbkdf2_rounds(data: bytes, source: str) -> None:
    """Refuse a PKCS#12 file whose MAC or encryption asks for more PBKDF2 rounds than
    :data:`MAX_PBKDF2_ITERATIONS`, before anything is derived from a password."""
    from tlsdoctor.der import iteration_counts

    rounds = max(iteration_counts(data), default=0)
    if rounds > MAX_PBKDF2_ITERATIONS:
        raise CertificateParseError(
            source,
            f"is a PKCS#12 file whose password is stretched with {rounds} rounds, more "
            f"than the {MAX_PBKDF2_ITERATIONS} tlsdoctor accepts (it would take hours): "
            "export it again with the usual settings",
        )


def _all_readable(certificates: Sequence[x509.Certificate], source: str) -> list[x509.Certificate]:
    for number, certificate in enumerate(certificates, start=1):
        try:
            readable(certificate)
        except ValueError as exc:
            raise CertificateParseError(
                source, f"certificate {number} cannot be parsed ({exc})"
            ) from exc
    return list(certificates)
