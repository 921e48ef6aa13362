"""What the analysis asks of a certificate, computed once per certificate.

A :class:`CertFacts` wraps a parsed certificate and caches each answer, so a trust store
parsed once serves thousands of chains, and no analysis module repeats an extension
lookup. Malformed extensions do not raise here: they are collected in
:attr:`CertFacts.malformed` for the chain analysis to report.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from typing import TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID

from tlsdoctor.models import CertSummary

_E = TypeVar("_E", bound=x509.ExtensionType)


class CertFacts:
    """A certificate and the cached answers the analysis needs about it.

    Use :meth:`of`: it hands out one shared instance per distinct certificate, so the
    intermediates that thousands of chains share are examined once.
    """

    __slots__ = ("__dict__", "cert")

    def __init__(self, cert: x509.Certificate) -> None:
        self.cert = cert

    @classmethod
    def of(cls, cert: x509.Certificate) -> CertFacts:
        """The shared facts of ``cert`` (certificates compare and hash by their DER)."""
        facts = _FACTS_CACHE.get(cert)
        if facts is None:
            if len(_FACTS_CACHE) >= _FACTS_CACHE_LIMIT:
                _FACTS_CACHE.clear()
            facts = _FACTS_CACHE[cert] = cls(cert)
        return facts

    def __repr__(self) -> str:
        return f"CertFacts({self.subject_text!r})"

    # Identity -------------------------------------------------------------------------
    @functools.cached_property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    @functools.cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.der).hexdigest()

    @functools.cached_property
    def sha1(self) -> str:
        return hashlib.sha1(self.der).hexdigest()

    @functools.cached_property
    def subject_key(self) -> bytes:
        """The subject as DER: what an issuer lookup compares."""
        return self.cert.subject.public_bytes()

    @functools.cached_property
    def issuer_key(self) -> bytes:
        return self.cert.issuer.public_bytes()

    @functools.cached_property
    def subject_text(self) -> str:
        return name_text(self.subject_key, self.cert.subject)

    @functools.cached_property
    def issuer_text(self) -> str:
        return name_text(self.issuer_key, self.cert.issuer)

    @functools.cached_property
    def display_name(self) -> str:
        """The subject's common name, else its first DNS name, else the whole subject."""
        return (
            common_name(self.cert.subject)
            or (self.dns_names[0] if self.dns_names else None)
            or self.subject_text
            or "(empty subject)"
        )

    @functools.cached_property
    def issuer_display_name(self) -> str:
        return common_name(self.cert.issuer) or self.issuer_text or "(empty issuer)"

    @functools.cached_property
    def spki(self) -> bytes:
        """The SubjectPublicKeyInfo, which identifies the key across certificates."""
        if self.public_key is None:
            # An unreadable key must never equal another certificate's: use our own DER.
            return self.der
        return self.public_key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    @functools.cached_property
    def summary(self) -> CertSummary:
        """The certificate as a report lists it; role and presented are the caller's to set."""
        return CertSummary(
            subject=self.subject_text,
            issuer=self.issuer_text,
            not_before=self.not_before,
            not_after=self.not_after,
            sha256=self.sha256,
            serial=format(self.cert.serial_number, "x"),
            san=self.dns_names + self.ip_addresses,
            key=self.key_description,
            signature=self.signature_name,
            role="leaf",
            presented=True,
        )

    # Validity -------------------------------------------------------------------------
    @functools.cached_property
    def not_before(self) -> dt.datetime:
        return self.cert.not_valid_before_utc

    @functools.cached_property
    def not_after(self) -> dt.datetime:
        return self.cert.not_valid_after_utc

    @property
    def lifetime(self) -> dt.timedelta:
        """notBefore through notAfter inclusive, as the Baseline Requirements count it."""
        return self.not_after - self.not_before + dt.timedelta(seconds=1)

    # Extensions -----------------------------------------------------------------------
    @functools.cached_property
    def _extensions(self) -> dict[x509.ObjectIdentifier, x509.ExtensionType] | str:
        """Extension values by OID, or the reason they cannot be parsed."""
        try:
            return {ext.oid: ext.value for ext in self.cert.extensions}
        except (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType) as exc:
            return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__

    @functools.cached_property
    def critical_extensions(self) -> tuple[tuple[str, str], ...]:
        """(dotted OID, name) of each critical extension; the name is "" for an OID no
        standard defines (one cryptography does not recognise)."""
        try:
            extensions = self.cert.extensions
        except (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType):
            return ()
        return tuple(
            (
                ext.oid.dotted_string,
                "" if isinstance(ext.value, x509.UnrecognizedExtension) else ext.oid._name,
            )
            for ext in extensions
            if ext.critical
        )

    @property
    def malformed(self) -> tuple[str, ...]:
        """Extensions that could not be parsed (each one a short reason)."""
        extensions = self._extensions
        return (extensions,) if isinstance(extensions, str) else ()

    def extension(self, kind: type[_E]) -> _E | None:
        """The value of the extension of ``kind``, or None (also when malformed)."""
        extensions = self._extensions
        if isinstance(extensions, str):
            return None
        value = extensions.get(kind.oid)
        return value if isinstance(value, kind) else None

    @functools.cached_property
    def basic_constraints(self) -> x509.BasicConstraints | None:
        return self.extension(x509.BasicConstraints)

    @property
    def is_ca(self) -> bool:
        bc = self.basic_constraints
        return bc is not None and bc.ca

    @functools.cached_property
    def key_usage(self) -> x509.KeyUsage | None:
        return self.extension(x509.KeyUsage)

    @functools.cached_property
    def extended_key_usage(self) -> tuple[x509.ObjectIdentifier, ...] | None:
        eku = self.extension(x509.ExtendedKeyUsage)
        return None if eku is None else tuple(eku)

    @functools.cached_property
    def ski(self) -> bytes | None:
        ext = self.extension(x509.SubjectKeyIdentifier)
        return None if ext is None else ext.digest

    @functools.cached_property
    def aki(self) -> bytes | None:
        ext = self.extension(x509.AuthorityKeyIdentifier)
        return None if ext is None else ext.key_identifier

    @functools.cached_property
    def dns_names(self) -> tuple[str, ...]:
        san = self.extension(x509.SubjectAlternativeName)
        return () if san is None else tuple(san.get_values_for_type(x509.DNSName))

    @functools.cached_property
    def ip_addresses(self) -> tuple[str, ...]:
        san = self.extension(x509.SubjectAlternativeName)
        if san is None:
            return ()
        return tuple(str(ip) for ip in san.get_values_for_type(x509.IPAddress))

    @functools.cached_property
    def has_san(self) -> bool:
        return self.extension(x509.SubjectAlternativeName) is not None

    @functools.cached_property
    def common_names(self) -> tuple[str, ...]:
        return tuple(
            str(attr.value)
            for attr in self.cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        )

    @functools.cached_property
    def ca_issuer_urls(self) -> tuple[str, ...]:
        return self._access_urls(AuthorityInformationAccessOID.CA_ISSUERS)

    @functools.cached_property
    def ocsp_urls(self) -> tuple[str, ...]:
        return self._access_urls(AuthorityInformationAccessOID.OCSP)

    def _access_urls(self, method: x509.ObjectIdentifier) -> tuple[str, ...]:
        aia = self.extension(x509.AuthorityInformationAccess)
        if aia is None:
            return ()
        return tuple(
            str(d.access_location.value)
            for d in aia
            if d.access_method == method
            and isinstance(d.access_location, x509.UniformResourceIdentifier)
        )

    @functools.cached_property
    def crl_urls(self) -> tuple[str, ...]:
        points = self.extension(x509.CRLDistributionPoints)
        if points is None:
            return ()
        return tuple(
            str(name.value)
            for point in points
            for name in point.full_name or ()
            if isinstance(name, x509.UniformResourceIdentifier)
        )

    # Signatures and keys --------------------------------------------------------------
    @functools.cached_property
    def is_self_issued(self) -> bool:
        return self.subject_key == self.issuer_key

    @functools.cached_property
    def is_self_signed(self) -> bool:
        """Self-issued and signed by its own key."""
        return self.is_self_issued and signed_by(self, self)

    @functools.cached_property
    def signature_hash(self) -> str | None:
        try:
            algorithm = self.cert.signature_hash_algorithm
        except UnsupportedAlgorithm:
            return "unknown"
        return None if algorithm is None else algorithm.name

    @functools.cached_property
    def signature_name(self) -> str:
        oid = self.cert.signature_algorithm_oid
        return oid._name if oid._name != "Unknown OID" else oid.dotted_string

    @functools.cached_property
    def public_key(self) -> CertificatePublicKeyTypes | None:
        """The subject's public key, or None when cryptography cannot load it."""
        try:
            return self.cert.public_key()
        except (ValueError, UnsupportedAlgorithm):
            return None

    @functools.cached_property
    def key_description(self) -> str:
        return describe_key(self.public_key)


_FACTS_CACHE: dict[x509.Certificate, CertFacts] = {}
_FACTS_CACHE_LIMIT = 4096
_NAME_TEXT_CACHE: dict[bytes, str] = {}


def name_text(der: bytes, name: x509.Name) -> str:
    """RFC 4514 text of a name, cached by its DER: rendering names is slow and issuer
    names repeat across every chain a CA issued."""
    text = _NAME_TEXT_CACHE.get(der)
    if text is None:
        if len(_NAME_TEXT_CACHE) >= _FACTS_CACHE_LIMIT:
            _NAME_TEXT_CACHE.clear()
        text = _NAME_TEXT_CACHE[der] = name.rfc4514_string()
    return text


def common_name(name: x509.Name) -> str | None:
    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(values[0].value) if values else None


def describe_key(key: CertificatePublicKeyTypes | None) -> str:
    """'RSA 2048', 'EC P-256', 'Ed25519', ... as a certificate viewer shows the key."""
    if key is None:
        return "unsupported key"
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA {key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"EC {_CURVE_NAMES.get(key.curve.name, key.curve.name)}"
    if isinstance(key, dsa.DSAPublicKey):
        return f"DSA {key.key_size}"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519"
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448"
    return type(key).__name__


_CURVE_NAMES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}

_SIGNATURE_CACHE: dict[tuple[str, str], bool] = {}
_SIGNATURE_CACHE_LIMIT = 65536


def signed_by(child: CertFacts, issuer: CertFacts) -> bool:
    """Whether ``issuer``'s key made ``child``'s signature (names must match too).

    Results are cached by fingerprint pair: a trust store's roots sign the same few
    intermediates for every chain a scan or a monitor sees.
    """
    key = (child.sha256, issuer.sha256)
    cached = _SIGNATURE_CACHE.get(key)
    if cached is not None:
        return cached
    result = _verify_signature(child.cert, issuer.cert, issuer.public_key)
    if len(_SIGNATURE_CACHE) >= _SIGNATURE_CACHE_LIMIT:
        _SIGNATURE_CACHE.clear()
    _SIGNATURE_CACHE[key] = result
    return result


def _verify_signature(
    child: x509.Certificate, issuer: x509.Certificate, key: CertificatePublicKeyTypes | None
) -> bool:
    # Not Certificate.verify_directly_issued_by: it refuses SHA-1 signatures outright, and
    # a SHA-1 chain must still be built so its weak signature can be named.
    if child.issuer != issuer.subject or key is None:
        return False
    params = child.signature_algorithm_parameters
    pss = params if isinstance(params, padding.PSS) else None
    return verify_signature(
        key, child.signature, child.tbs_certificate_bytes, child.signature_hash_algorithm, pss
    )


def verify_signature(
    key: CertificatePublicKeyTypes | None,
    signature: bytes,
    data: bytes,
    algorithm: hashes.HashAlgorithm | None,
    pss: padding.PSS | None = None,
) -> bool:
    """Whether ``key`` made ``signature`` over ``data`` (certificates, OCSP responses).

    cryptography describes only the algorithms it accepts; the legacy SHA-1 ones come
    without parameters and are rebuilt here from the hash.
    """
    try:
        if isinstance(key, rsa.RSAPublicKey) and algorithm is not None:
            key.verify(signature, data, pss or padding.PKCS1v15(), algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey) and algorithm is not None:
            key.verify(signature, data, ec.ECDSA(algorithm))
        elif isinstance(key, dsa.DSAPublicKey) and algorithm is not None:
            key.verify(signature, data, algorithm)
        elif isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
            key.verify(signature, data)
        else:
            return False
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True
