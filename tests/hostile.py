"""Hostile material made at test time: certificates a careless parser trips on, PKCS#12
files that ask for hours of PBKDF2, names that drive terminals or pass for others.

Each maker returns bytes (DER or PEM) built with cryptography and then altered byte by
byte where cryptography itself refuses to write the flaw; used by the hostile tests and
by bench/attacks.py.
"""

from __future__ import annotations

import datetime as dt
import re

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12
from cryptography.x509.oid import NameOID

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.timezone.utc)
# ecdsa-with-SHA256 (1.2.840.10045.4.3.2), and the same arc ending in 9: no such algorithm.
ECDSA_SHA256_OID = bytes.fromhex("06082a8648ce3d040302")
UNKNOWN_SIGNATURE_OID = bytes.fromhex("06082a8648ce3d040309")
# Terminal control: clear the screen, an OSC 8 link, a C1 CSI, a right-to-left override.
TERMINAL_ATTACK = "evil\x1b[2J\x1b]8;;http://x/\x07link\x1b]8;;\x07\x9b31m\u202egnp.exe"
HOMOGLYPH = "\u0430pple.com"  # a Cyrillic а, then "pple.com"
# Characters that steer a terminal or the reading direction, or hide themselves.
STEERING = ["\x1b", "\x00", "\x07", "\x7f", "\x9b", "\x9d", "\u202e", "\u2066", "\u200b", "\ufeff"]


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def certificate(
    cn: str = "www.example.test",
    *,
    names: tuple[str, ...] = ("www.example.test",),
    not_before: dt.datetime = NOW - dt.timedelta(days=10),
    not_after: dt.datetime = NOW + dt.timedelta(days=80),
    aia: str | None = None,
    crl: str | None = None,
    ocsp: str | None = None,
    serial: int = 4242,
    key: ec.EllipticCurvePrivateKey | None = None,
) -> x509.Certificate:
    """A self-issued leaf with whatever names and URLs a test wants."""
    key = key or _key()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Hostile CA")]))
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
    )
    access = []
    if aia:
        access.append(
            x509.AccessDescription(
                x509.AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier(aia)
            )
        )
    if ocsp:
        access.append(
            x509.AccessDescription(
                x509.AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp)
            )
        )
    if access:
        builder = builder.add_extension(x509.AuthorityInformationAccess(access), False)
    if crl:
        point = x509.DistributionPoint([x509.UniformResourceIdentifier(crl)], None, None, None)
        builder = builder.add_extension(x509.CRLDistributionPoints([point]), False)
    return builder.sign(key, hashes.SHA256())


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def pem_of_der(data: bytes) -> bytes:
    import base64
    import textwrap

    body = "\n".join(textwrap.wrap(base64.b64encode(data).decode(), 64))
    return f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n".encode()


def unknown_signature_oid() -> bytes:
    """A certificate signed with an algorithm nobody knows (DER)."""
    data = der(certificate())
    assert data.count(ECDSA_SHA256_OID) == 2
    return data.replace(ECDSA_SHA256_OID, UNKNOWN_SIGNATURE_OID)


def year_zero() -> bytes:
    """notBefore in year 0000 (GeneralizedTime 00000101000000Z), DER."""
    data = der(
        certificate(
            not_before=dt.datetime(2050, 1, 1, tzinfo=dt.timezone.utc),
            not_after=dt.datetime(2051, 1, 1, tzinfo=dt.timezone.utc),
        )
    )
    assert data.count(b"20500101000000Z") == 1
    return data.replace(b"20500101000000Z", b"00000101000000Z")


def invalid_utf8_name() -> bytes:
    """A UTF8String common name holding bytes that are not UTF-8, DER."""
    data = der(certificate(cn="QQQQQQQQ"))
    assert data.count(b"QQQQQQQQ") == 1
    return data.replace(b"QQQQQQQQ", b"\xff\xfe\xfd\xfcQQQQ")


def broken_beside_good() -> bytes:
    """Two PEM blocks: a readable certificate, then one whose DER is damaged."""
    good = der(certificate())
    damaged = bytearray(der(certificate()))
    damaged[30:60] = b"\x00" * 30
    return pem_of_der(good) + pem_of_der(bytes(damaged))


def terminal_names() -> bytes:
    """A certificate whose CN and SAN drive a terminal and pass for another name (PEM)."""
    cert = certificate(cn=TERMINAL_ATTACK, names=("www.example.test",))
    return cert.public_bytes(serialization.Encoding.PEM)


def homoglyph_name() -> bytes:
    """A certificate for аpple.com with a Cyrillic а: its CN in Unicode, its SAN the
    A-label a CA would have put there (PEM)."""
    cert = certificate(cn=HOMOGLYPH, names=("xn--pple-43d.com",))
    return cert.public_bytes(serialization.Encoding.PEM)


def many_certificates(count: int) -> bytes:
    """``count`` copies of one certificate, PEM, in one file."""
    return terminal_free_pem() * count


def terminal_free_pem() -> bytes:
    return certificate().public_bytes(serialization.Encoding.PEM)


def pkcs7_of(count: int) -> bytes:
    """A DER PKCS#7 bundle of ``count`` distinct certificates."""
    key = _key()
    certs = [certificate(serial=1000 + n, key=key) for n in range(count)]
    return pkcs7.serialize_certificates(certs, serialization.Encoding.DER)


def pkcs12_rounds(rounds_claimed: int | None = 0x7FFFFFFF) -> bytes:
    """A PKCS#12 file (password "x") whose MAC and both PBES2 encryptions claim
    ``rounds_claimed`` PBKDF2 rounds (None: the file as written, 65536 and 2048 rounds).

    Each count is made 4 bytes long and its salt shortened by as much, so every length
    around it stays right: OpenSSL runs the rounds before it can tell anything is off.
    """
    key = _key()
    cert = certificate(key=key)
    encryption = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(65536)
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(b"x")
    )
    data = pkcs12.serialize_key_and_certificates(b"k", key, cert, None, encryption)
    if rounds_claimed is None:
        return data
    claimed = b"\x02\x04" + rounds_claimed.to_bytes(4, "big")
    # PBES2's PBKDF2 parameters: a 16-byte salt, then 65536 (3 bytes).
    pbes2 = re.compile(rb"\x04\x10(.{15}).\x02\x03\x01\x00\x00", re.DOTALL)
    data, count = pbes2.subn(lambda m: b"\x04\x0f" + m.group(1) + claimed, data)
    assert count == 2, count
    # The MAC's: an 8-byte salt, then 2048 (2 bytes), at the very end.
    assert data[-14:-12] == b"\x04\x08" and data[-4:] == b"\x02\x02\x08\x00"
    return data[:-14] + b"\x04\x06" + data[-12:-6] + claimed


def leaf_with_urls(
    issuer: x509.Certificate,
    issuer_key: ec.EllipticCurvePrivateKey,
    aia: list[str],
    crl: list[str],
    ocsp: list[str],
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A leaf for www.example.test signed by ``issuer`` that names several AIA, CRL and
    OCSP URLs (a slow server behind each makes one download after another add up)."""
    key = _key()
    access = [
        x509.AccessDescription(
            x509.AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier(u)
        )
        for u in aia
    ] + [
        x509.AccessDescription(
            x509.AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(u)
        )
        for u in ocsp
    ]
    points = [
        x509.DistributionPoint([x509.UniformResourceIdentifier(u)], None, None, None) for u in crl
    ]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "www.example.test")]))
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1))
        .not_valid_after(dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("www.example.test")]), False)
        .add_extension(x509.AuthorityInformationAccess(access), False)
        .add_extension(x509.CRLDistributionPoints(points), False)
        .sign(issuer_key, hashes.SHA256())
    )
    return cert, key


def negative_serial() -> bytes:
    """A certificate whose serial number is negative (cryptography warns about it), PEM."""
    data = der(certificate(serial=0x1092))
    assert data.count(b"\x02\x02\x10\x92") == 1
    return pem_of_der(data.replace(b"\x02\x02\x10\x92", b"\x02\x02\x90\x92"))
