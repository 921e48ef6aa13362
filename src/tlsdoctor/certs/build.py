"""One certificate builder: the profile a modern private CA issues, for the local CA
(certs/ca.py), the lab and the tests."""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Sequence
from typing import TypeAlias

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID

PrivateKey: TypeAlias = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
PublicKey: TypeAlias = ec.EllipticCurvePublicKey | rsa.RSAPublicKey


def build_certificate(
    *,
    subject: x509.Name,
    key: PrivateKey,
    issuer_name: x509.Name | None,
    issuer_key: PrivateKey | None,
    not_before: dt.datetime,
    not_after: dt.datetime,
    ca: bool | None,
    path_length: int | None = None,
    key_cert_sign: bool = True,
    dns: Sequence[str] = (),
    ips: Sequence[str] = (),
    emails: Sequence[str] = (),
    san: bool = False,
    eku: Sequence[x509.ObjectIdentifier] | None = None,
    permitted_dns: Sequence[str] = (),
    permitted_networks: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network] = (),
    name_constraints: x509.NameConstraints | None = None,
    aia_url: str | None = None,
    crl_url: str | None = None,
    ocsp_url: str | None = None,
    hash_algorithm: hashes.SHA256 | hashes.SHA384 | hashes.SHA512 | None = None,
    signing_key: PrivateKey | None = None,
    public_key: PublicKey | None = None,
) -> x509.Certificate:
    """The one certificate builder of the local CA, the lab and the tests: the profile a
    modern private CA issues (SKI/AKI, keyUsage, SAN), with a knob for each flaw a lab
    scenario needs.

    ``issuer_name``/``issuer_key`` None: self-signed. ``ca`` None: no basicConstraints.
    ``signing_key`` signs instead of the issuer's key (a forged signature). ``aia_url`` and
    ``ocsp_url`` are the authorityInfoAccess caIssuers and OCSP URLs, ``crl_url`` the
    cRLDistributionPoints URL. ``public_key`` certifies another key than ``key``'s (a
    CSR's: ``key`` then only signs when self-signed). An empty subject makes the SAN
    critical (RFC 5280 section 4.2.1.6).
    """
    authority = key if issuer_key is None else issuer_key
    certified = key.public_key() if public_key is None else public_key
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject if issuer_name is None else issuer_name)
        .public_key(certified)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(certified), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(authority.public_key()), False
        )
    )
    if ca is not None:
        builder = builder.add_extension(
            x509.BasicConstraints(ca, path_length if ca else None), critical=True
        )
    is_ca = bool(ca)
    builder = builder.add_extension(
        x509.KeyUsage(
            digital_signature=True,
            content_commitment=False,
            # RSA key exchange (TLS 1.0-1.2 without ECDHE) encrypts to the leaf's key.
            key_encipherment=not is_ca and isinstance(certified, rsa.RSAPublicKey),
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=is_ca and key_cert_sign,
            crl_sign=is_ca,
            encipher_only=False,
            decipher_only=False,
        ),
        critical=True,
    )
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), False)
    if san or dns or ips or emails:
        names: list[x509.GeneralName] = [x509.DNSName(name) for name in dns]
        names.extend(x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips)
        names.extend(x509.RFC822Name(address) for address in emails)
        critical = len(subject.rdns) == 0
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical)
    if name_constraints is not None:
        builder = builder.add_extension(name_constraints, critical=True)
    elif permitted_dns or permitted_networks:
        permitted: list[x509.GeneralName] = [x509.DNSName(name) for name in permitted_dns]
        permitted.extend(x509.IPAddress(network) for network in permitted_networks)
        builder = builder.add_extension(x509.NameConstraints(permitted, None), critical=True)
    access = [
        x509.AccessDescription(method, x509.UniformResourceIdentifier(url))
        for method, url in (
            (AuthorityInformationAccessOID.OCSP, ocsp_url),
            (AuthorityInformationAccessOID.CA_ISSUERS, aia_url),
        )
        if url is not None
    ]
    if access:
        builder = builder.add_extension(x509.AuthorityInformationAccess(access), False)
    if crl_url is not None:
        point = x509.DistributionPoint(
            full_name=[x509.UniformResourceIdentifier(crl_url)],
            relative_name=None,
            reasons=None,
            crl_issuer=None,
        )
        builder = builder.add_extension(x509.CRLDistributionPoints([point]), False)
    return builder.sign(signing_key or authority, hash_algorithm or hashes.SHA256())
