"""Certificates cryptography refuses to write (serial 0 or negative, GeneralizedTime before
2050): the TBSCertificate re-encoded with one element replaced, and signed again."""

from __future__ import annotations

import datetime as dt
import warnings

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.utils import CryptographyDeprecationWarning

from tlsdoctor.analysis.der import der_header

Key = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def _elements(data: bytes) -> list[bytes]:
    out, at = [], 0
    while at < len(data):
        length, body = der_header(data, at)
        out.append(data[at : body + length])
        at = body + length
    return out


def _tlv(tag: int, body: bytes) -> bytes:
    if len(body) < 0x80:
        return bytes([tag, len(body)]) + body
    size = len(body).to_bytes((len(body).bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + body


def with_raw_serial(cert: x509.Certificate, key: Key, serial: bytes) -> x509.Certificate:
    return with_tbs_element(cert, key, 1, _tlv(0x02, serial))  # [0] version, serialNumber


def with_tbs_element(
    cert: x509.Certificate, key: Key, index: int, element: bytes
) -> x509.Certificate:
    """``cert`` with the TBSCertificate's element ``index`` replaced, signed again."""
    der = cert.public_bytes(serialization.Encoding.DER)
    _, body = der_header(der, 0)
    tbs, algorithm, _ = _elements(der[body:])
    _, tbs_body = der_header(tbs, 0)
    parts = _elements(tbs[tbs_body:])
    parts[index] = element
    new_tbs = _tlv(0x30, b"".join(parts))
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    signature = key.sign(new_tbs, ec.ECDSA(hashes.SHA256()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        return x509.load_der_x509_certificate(
            _tlv(0x30, new_tbs + algorithm + _tlv(0x03, b"\x00" + signature))
        )


def generalized_validity(cert: x509.Certificate) -> bytes:
    """The certificate's validity written in GeneralizedTime, whatever the year."""

    def time(when: dt.datetime) -> bytes:
        return _tlv(0x18, when.strftime("%Y%m%d%H%M%SZ").encode())

    return _tlv(0x30, time(cert.not_valid_before_utc) + time(cert.not_valid_after_utc))
