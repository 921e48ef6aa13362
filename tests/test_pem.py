"""Reading certificates as people have them, and refusing everything else clearly."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12

from pki import Issued
from tlsdoctor.errors import CertificateParseError
from tlsdoctor.pem import PasswordRequired, load_certificates, parse_certificates

Write = Callable[[str, bytes], Path]


@pytest.fixture
def chain(intermediate: Issued) -> tuple[Issued, Issued]:
    return intermediate.issue_leaf(), intermediate


def subjects(certs: list) -> list[str]:  # type: ignore[type-arg]
    return [c.subject.rfc4514_string() for c in certs]


def test_pem_bundle_in_order(chain: tuple[Issued, Issued], tmp_files: Write) -> None:
    leaf, issuing = chain
    path = tmp_files("fullchain.pem", leaf.pem() + issuing.pem())
    assert load_certificates(path) == [leaf.cert, issuing.cert]


def test_pem_pasted_with_junk_crlf_and_indentation(chain: tuple[Issued, Issued]) -> None:
    leaf, issuing = chain
    indented = b"\n".join(b"    " + line for line in leaf.pem().splitlines())
    pasted = (
        b"Here is the cert you asked for:\r\n"
        + indented.replace(b"\n", b"\r\n")
        + b"\r\n\r\nsubject=CN=whatever\nissuer=...\n"
        + issuing.pem()
        + b"-- \nsent from my phone\n"
    )
    assert parse_certificates(pasted) == [leaf.cert, issuing.cert]


def test_der(chain: tuple[Issued, Issued], tmp_files: Write) -> None:
    leaf, _ = chain
    path = tmp_files("leaf.cer", leaf.cert.public_bytes(serialization.Encoding.DER))
    assert load_certificates(path) == [leaf.cert]


@pytest.mark.parametrize("encoding", [serialization.Encoding.PEM, serialization.Encoding.DER])
def test_pkcs7(
    chain: tuple[Issued, Issued], tmp_files: Write, encoding: serialization.Encoding
) -> None:
    leaf, issuing = chain
    data = pkcs7.serialize_certificates([leaf.cert, issuing.cert], encoding)
    certs = load_certificates(tmp_files("bundle.p7b", data))
    assert sorted(subjects(certs)) == sorted(subjects([leaf.cert, issuing.cert]))


def test_pkcs12_without_password(chain: tuple[Issued, Issued], tmp_files: Write) -> None:
    leaf, issuing = chain
    data = pkcs12.serialize_key_and_certificates(
        b"server", leaf.key, leaf.cert, [issuing.cert], serialization.NoEncryption()
    )
    assert load_certificates(tmp_files("server.p12", data)) == [leaf.cert, issuing.cert]


def test_pkcs12_with_password(chain: tuple[Issued, Issued], tmp_files: Write) -> None:
    leaf, issuing = chain
    data = pkcs12.serialize_key_and_certificates(
        b"server",
        leaf.key,
        leaf.cert,
        [issuing.cert],
        serialization.BestAvailableEncryption(b"s3cret"),
    )
    path = tmp_files("server.pfx", data)
    with pytest.raises(PasswordRequired) as missing:
        load_certificates(path)
    assert "protected by a password" in str(missing.value)
    with pytest.raises(PasswordRequired) as wrong:
        load_certificates(path, b"nope")
    assert "password given is wrong" in str(wrong.value)
    assert load_certificates(path, b"s3cret") == [leaf.cert, issuing.cert]


def test_trusted_certificate_pem(chain: tuple[Issued, Issued], tmp_files: Write) -> None:
    leaf, _ = chain
    # What `openssl x509 -addtrust serverAuth` writes: trust settings after the certificate.
    import base64

    der = leaf.cert.public_bytes(serialization.Encoding.DER) + bytes.fromhex(
        "300a0608" + "2b06010505070301"
    )
    body = base64.encodebytes(der)
    pem = b"-----BEGIN TRUSTED CERTIFICATE-----\n" + body + b"-----END TRUSTED CERTIFICATE-----\n"
    assert parse_certificates(pem) == [leaf.cert]


# Hostile and mistaken inputs: one clear sentence each -----------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "is empty"),
        (b"   \n\n", "is empty"),
        (b"\x01" + random.Random(7).randbytes(4096), "holds no certificate"),
        (b"\x30\x82\x01\x00" + b"\x00" * 32, "holds DER data that is not a certificate"),
        (b"just some text\nno pem here\n", "text without any '-----BEGIN CERTIFICATE-----' block"),
        (b"-----BEGIN CERTIFICATE-----\nMIIB!!!!\n-----END CERTIFICATE-----\n", "not valid base64"),
        (b"-----BEGIN CERTIFICATE-----\nTUlJQg==\n-----END CERTIFICATE-----\n", "cannot be parsed"),
        (b"-----BEGIN FOO-----\nAAAA\n-----END FOO-----\n", "holds a 'FOO' block"),
    ],
)
def test_garbage_is_refused_with_a_clear_message(
    data: bytes, expected: str, tmp_files: Write
) -> None:
    path = tmp_files("input.pem", data)
    with pytest.raises(CertificateParseError) as error:
        load_certificates(path)
    assert expected in str(error.value)
    assert str(path) in str(error.value)


def test_truncated_pem(chain: tuple[Issued, Issued], tmp_files: Write) -> None:
    leaf, _ = chain
    truncated = leaf.pem()[: len(leaf.pem()) // 2]
    with pytest.raises(CertificateParseError, match="has no END line: it is truncated"):
        load_certificates(tmp_files("cut.pem", truncated))


def test_private_key_instead_of_certificate(chain: tuple[Issued, Issued], tmp_files: Write) -> None:
    leaf, _ = chain
    with pytest.raises(CertificateParseError, match="holds a private key, not a certificate"):
        load_certificates(tmp_files("server.key", leaf.key_pem()))


def test_csr_instead_of_certificate(chain: tuple[Issued, Issued], tmp_files: Write) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    leaf, _ = chain
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(leaf.cert.subject)
        .sign(leaf.key, hashes.SHA256())
    )
    with pytest.raises(CertificateParseError, match="certificate signing request"):
        load_certificates(tmp_files("server.csr", csr.public_bytes(serialization.Encoding.PEM)))


def test_key_and_certificate_together_reads_the_certificate(chain: tuple[Issued, Issued]) -> None:
    leaf, _ = chain
    assert parse_certificates(leaf.key_pem() + leaf.pem()) == [leaf.cert]


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(CertificateParseError, match="no such file"):
        load_certificates(tmp_path / "nope.pem")
    with pytest.raises(CertificateParseError, match="is a directory"):
        load_certificates(tmp_path)
