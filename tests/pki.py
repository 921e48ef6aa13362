"""A small PKI made at test time: roots, intermediates and leaves with any flaw a test needs.

Keys are EC P-256 unless a test asks otherwise (fast to make); nothing here is committed
or reused across runs except within one process.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Union

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tlsdoctor.certs.build import build_certificate

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.timezone.utc)
DAY = dt.timedelta(days=1)

PrivateKey = Union[ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey]  # noqa: UP007 - run time, 3.10


@functools.cache
def rsa_key(bits: int, slot: int = 0) -> rsa.RSAPrivateKey:
    """RSA keys are slow to make: one per (size, slot) per process."""
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def name(cn: str | None, org: str | None = "tlsdoctor tests", dc: Sequence[str] = ()) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.DOMAIN_COMPONENT, part) for part in dc]
    if org is not None:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    if cn is not None:
        attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attributes)


@dataclass
class Issued:
    """A certificate and its private key."""

    cert: x509.Certificate
    key: PrivateKey
    children: list[Issued] = field(default_factory=list)

    @property
    def name(self) -> x509.Name:
        return self.cert.subject

    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    # Issuing ------------------------------------------------------------------------
    def issue_ca(
        self,
        cn: str,
        *,
        org: str | None = "tlsdoctor tests",
        key: PrivateKey | None = None,
        not_before: dt.datetime = NOW - 365 * DAY,
        not_after: dt.datetime = NOW + 5 * 365 * DAY,
        path_length: int | None = None,
        ca: bool | None = True,
        key_cert_sign: bool = True,
        eku: Sequence[x509.ObjectIdentifier] | None = None,
        permitted_dns: Sequence[str] = (),
        aia_url: str | None = None,
    ) -> Issued:
        """An intermediate CA certificate signed by this one."""
        return build(
            subject=name(cn, org),
            issuer=self,
            key=key or ec_key(),
            not_before=not_before,
            not_after=not_after,
            ca=ca,
            path_length=path_length,
            key_cert_sign=key_cert_sign,
            eku=eku,
            permitted_dns=permitted_dns,
            aia_url=aia_url,
        )

    def issue_leaf(
        self,
        dns: Sequence[str] = ("www.example.test", "example.test"),
        *,
        cn: str | None = None,
        ips: Sequence[str] = (),
        key: PrivateKey | None = None,
        not_before: dt.datetime = NOW - 30 * DAY,
        not_after: dt.datetime = NOW + 60 * DAY,
        eku: Sequence[x509.ObjectIdentifier] | None = (ExtendedKeyUsageOID.SERVER_AUTH,),
        san: bool = True,
        ca: bool | None = False,
        aia_url: str | None = None,
        crl_url: str | None = None,
        ocsp_url: str | None = None,
        hash_algorithm: hashes.SHA256 | hashes.SHA384 | hashes.SHA512 | None = None,
    ) -> Issued:
        """A server certificate signed by this CA."""
        return build(
            subject=name(cn if cn is not None else (dns[0] if dns else None), org=None),
            issuer=self,
            key=key or ec_key(),
            not_before=not_before,
            not_after=not_after,
            ca=ca,
            dns=dns if san else (),
            ips=ips if san else (),
            san=san,
            eku=eku,
            aia_url=aia_url,
            crl_url=crl_url,
            ocsp_url=ocsp_url,
            hash_algorithm=hash_algorithm,
        )


def make_root(
    cn: str = "tlsdoctor Test Root CA",
    *,
    org: str | None = "tlsdoctor tests",
    dc: Sequence[str] = (),
    key: PrivateKey | None = None,
    not_before: dt.datetime = NOW - 10 * 365 * DAY,
    not_after: dt.datetime = NOW + 10 * 365 * DAY,
    path_length: int | None = None,
) -> Issued:
    """A self-signed root CA."""
    return build(
        subject=name(cn, org, dc),
        issuer=None,
        key=key or ec_key(),
        not_before=not_before,
        not_after=not_after,
        ca=True,
        path_length=path_length,
    )


def self_signed_leaf(
    dns: Sequence[str] = ("www.example.test",),
    *,
    not_before: dt.datetime = NOW - DAY,
    not_after: dt.datetime = NOW + 365 * DAY,
    ca: bool | None = True,
) -> Issued:
    """What `openssl req -x509` makes: a server certificate that signs itself."""
    return build(
        subject=name(dns[0], org=None),
        issuer=None,
        key=ec_key(),
        not_before=not_before,
        not_after=not_after,
        ca=ca,
        dns=dns,
        eku=(ExtendedKeyUsageOID.SERVER_AUTH,),
    )


def build(
    *,
    subject: x509.Name,
    issuer: Issued | None,
    key: PrivateKey,
    not_before: dt.datetime,
    not_after: dt.datetime,
    ca: bool | None,
    path_length: int | None = None,
    key_cert_sign: bool = True,
    dns: Sequence[str] = (),
    ips: Sequence[str] = (),
    san: bool = False,
    eku: Sequence[x509.ObjectIdentifier] | None = None,
    permitted_dns: Sequence[str] = (),
    aia_url: str | None = None,
    crl_url: str | None = None,
    ocsp_url: str | None = None,
    hash_algorithm: hashes.SHA256 | hashes.SHA384 | hashes.SHA512 | None = None,
    signing_key: PrivateKey | None = None,
) -> Issued:
    """Every helper above goes through here: the lab's builder, keeping the tree."""
    cert = build_certificate(
        subject=subject,
        key=key,
        issuer_name=None if issuer is None else issuer.name,
        issuer_key=None if issuer is None else issuer.key,
        not_before=not_before,
        not_after=not_after,
        ca=ca,
        path_length=path_length,
        key_cert_sign=key_cert_sign,
        dns=dns,
        ips=ips,
        san=san,
        eku=eku,
        permitted_dns=permitted_dns,
        aia_url=aia_url,
        crl_url=crl_url,
        ocsp_url=ocsp_url,
        hash_algorithm=hash_algorithm,
        signing_key=signing_key,
    )
    result = Issued(cert, key)
    if issuer is not None:
        issuer.children.append(result)
    return result


def resign_with_openssl(cert: Issued, issuer: Issued, digest: str) -> x509.Certificate:
    """``cert`` re-signed by ``issuer`` with ``digest`` (e.g. sha1), which cryptography
    refuses to produce: the lab's openssl recipe (valid from the real now for 90 days)."""
    from tlsdoctor.lab.pki import resign_with_openssl as openssl_sign

    return openssl_sign(cert.cert, cert.key, issuer.cert, issuer.key, digest, 90)


def chain_pem(*issued: Issued) -> bytes:
    return b"".join(item.pem() for item in issued)
