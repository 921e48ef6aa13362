"""The rules of :mod:`tlsdoctor.analysis.standards`, as data: one row each (id, section,
scope, the strict validators observed to refuse it) and one small pure test.

Each test gets the certificate and its :class:`Place` and returns what is wrong (one short
sentence) or None. Sections of the Baseline Requirements use BR 1.8's numbering.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, PublicKeyAlgorithmOID

from tlsdoctor.analysis.der import der_header
from tlsdoctor.analysis.facts import CertFacts

OPENSSL_STRICT = "openssl verify -x509_strict"
PKILINT = "pkilint"
# tlsdoctor's own final verifier (see analysis/webpki.py): its refusal is an invalid_chain.
CRYPTOGRAPHY = "cryptography x509 verification"

EMPTY_NAME = b"\x30\x00"  # the DER of an empty Name
UTC_TIME_UNTIL = 2050  # dates before this year are UTCTime (RFC 5280 4.1.2.5)
_GENERALIZED_TIME = 0x18
# Serial numbers are at most 20 octets (RFC 5280 4.1.2.2).
MAX_SERIAL_OCTETS = 20
# An LDH label (RFC 1034 preferred name syntax, as RFC 5280 4.2.1.6 requires).
_LDH_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


class Scope(str, enum.Enum):
    EVERY_CHAIN = "every chain"  # RFC 5280: binds any PKI
    PUBLIC = "publicly trusted chains"  # the Baseline Requirements bind public CAs only
    # An RFC 5280 rule the Baseline Requirements relax for public CAs.
    PRIVATE = "privately trusted chains"


@dataclass(frozen=True)
class Place:
    """Where a certificate sits, and what a rule needs to know besides the certificate."""

    role: str  # "leaf", "intermediate" or "root"
    public: bool  # the path ends in a root of a public root program
    critical: Mapping[x509.ObjectIdentifier, bool]  # each extension present: critical?


@dataclass(frozen=True)
class Rule:
    """One rule: its test returns what is wrong (one short sentence) or None."""

    id: str
    section: str
    scope: Scope
    refused_by: tuple[str, ...]
    test: Callable[[CertFacts, Place], str | None]


def _serial_octets(serial: int) -> int:
    """The length of the serial's DER INTEGER contents (two's complement, minimal)."""
    magnitude = serial if serial >= 0 else -serial - 1
    return magnitude.bit_length() // 8 + 1


# The tests ------------------------------------------------------------------------------


def _serial_zero(facts: CertFacts, place: Place) -> str | None:
    return "the serial number is 0" if facts.cert.serial_number == 0 else None


def _serial_negative(facts: CertFacts, place: Place) -> str | None:
    serial = facts.cert.serial_number
    return f"the serial number is negative ({serial})" if serial < 0 else None


def _serial_too_long(facts: CertFacts, place: Place) -> str | None:
    octets = _serial_octets(facts.cert.serial_number)
    if octets <= MAX_SERIAL_OCTETS:
        return None
    return f"the serial number is {octets} octets long (at most {MAX_SERIAL_OCTETS})"


def _aki_missing(facts: CertFacts, place: Place) -> str | None:
    if facts.is_self_issued and facts.is_self_signed:
        return None  # RFC 5280 lets a self-signed certificate (root or leaf) omit it
    if place.critical.get(ExtensionOID.AUTHORITY_KEY_IDENTIFIER) is not None:
        return None
    return "no authorityKeyIdentifier extension"


def _aki_without_key_id(facts: CertFacts, place: Place) -> str | None:
    # A self-signed certificate may omit the extension, but when present it must hold
    # the keyIdentifier.
    if ExtensionOID.AUTHORITY_KEY_IDENTIFIER not in place.critical or facts.aki is not None:
        return None
    return "authorityKeyIdentifier without a keyIdentifier"


def _validity_encoding(facts: CertFacts, place: Place) -> str | None:
    """Dates through 2049 are UTCTime, from 2050 GeneralizedTime (RFC 5280 4.1.2.5)."""
    tags = _validity_tags(facts.der)
    for tag, when in zip(tags, (facts.not_before, facts.not_after), strict=False):
        if tag == _GENERALIZED_TIME and when.year < UTC_TIME_UNTIL:
            return f"{when.year} is written as GeneralizedTime, not UTCTime"
    return None


def _validity_tags(der: bytes) -> tuple[int, ...]:
    """The DER tags of notBefore and notAfter: the 5th element of the TBSCertificate
    ([0] version, serialNumber, signature, issuer, validity) when a version is present."""
    try:
        _, at = der_header(der, 0)  # Certificate
        _, at = der_header(der, at)  # TBSCertificate: at its first child now
        skip = 5 if der[at] == 0xA0 else 4
        for _ in range(skip - 1):
            length, body = der_header(der, at)
            at = body + length
        _, first = der_header(der, at)  # the validity SEQUENCE
        length, body = der_header(der, first)
        return der[first], der[body + length]
    except IndexError:
        return ()


def _name_constraints_not_critical(facts: CertFacts, place: Place) -> str | None:
    if place.critical.get(ExtensionOID.NAME_CONSTRAINTS) is False:
        return "nameConstraints is not marked critical"
    return None


def _ski_missing(facts: CertFacts, place: Place) -> str | None:
    if not facts.is_ca or place.critical.get(ExtensionOID.SUBJECT_KEY_IDENTIFIER) is not None:
        return None
    return "a CA certificate without subjectKeyIdentifier"


def _basic_constraints_not_critical(facts: CertFacts, place: Place) -> str | None:
    if facts.is_ca and place.critical.get(ExtensionOID.BASIC_CONSTRAINTS) is False:
        return "basicConstraints (cA=TRUE) is not marked critical"
    return None


def _ca_key_usage_missing(facts: CertFacts, place: Place) -> str | None:
    if facts.is_ca and place.critical.get(ExtensionOID.KEY_USAGE) is None:
        return "a CA certificate without keyUsage"
    return None


def _ca_key_usage_not_critical(facts: CertFacts, place: Place) -> str | None:
    if facts.is_ca and place.critical.get(ExtensionOID.KEY_USAGE) is False:
        return "keyUsage of a CA certificate is not marked critical"
    return None


def _key_cert_sign_without_ca(facts: CertFacts, place: Place) -> str | None:
    usage = facts.key_usage
    if usage is None or facts.is_ca or not usage.key_cert_sign:
        return None
    return "keyCertSign is asserted but basicConstraints cA is not TRUE"


def _root_eku(facts: CertFacts, place: Place) -> str | None:
    if place.role != "root" or facts.extended_key_usage is None:
        return None
    return "a root certificate with an extendedKeyUsage extension"


def _leaf_any_eku(facts: CertFacts, place: Place) -> str | None:
    eku = facts.extended_key_usage or ()
    if place.role == "leaf" and ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in eku:
        return "the leaf's extendedKeyUsage contains anyExtendedKeyUsage"
    return None


def _leaf_eku_critical(facts: CertFacts, place: Place) -> str | None:
    if place.role == "leaf" and place.critical.get(ExtensionOID.EXTENDED_KEY_USAGE) is True:
        return "the leaf's extendedKeyUsage is marked critical"
    return None


def _leaf_eku_missing(facts: CertFacts, place: Place) -> str | None:
    if place.role == "leaf" and facts.extended_key_usage is None:
        return "the leaf has no extendedKeyUsage (id-kp-serverAuth required)"
    return None


def _rsa_modulus(facts: CertFacts, place: Place) -> str | None:
    if facts.cert.public_key_algorithm_oid != PublicKeyAlgorithmOID.RSAES_PKCS1_v1_5:
        return None  # loading a key is dear: only RSA keys have this rule
    key = facts.public_key
    if isinstance(key, rsa.RSAPublicKey) and key.key_size % 8:
        return f"the RSA modulus is {key.key_size} bits, not a multiple of 8"
    return None


def _name_constraints_in_leaf(facts: CertFacts, place: Place) -> str | None:
    if facts.is_ca or place.critical.get(ExtensionOID.NAME_CONSTRAINTS) is None:
        return None
    return "nameConstraints in a certificate that is not a CA"


def _empty_subject_san_not_critical(facts: CertFacts, place: Place) -> str | None:
    if facts.subject_key != EMPTY_NAME or place.critical.get(ExtensionOID.SUBJECT_ALTERNATIVE_NAME):
        return None
    return "the subject is empty and subjectAltName is absent or not critical"


def _ca_subject_empty(facts: CertFacts, place: Place) -> str | None:
    if facts.is_ca and facts.subject_key == EMPTY_NAME:
        return "a CA certificate with an empty subject"
    return None


def _issuer_empty(facts: CertFacts, place: Place) -> str | None:
    return "the issuer name is empty" if facts.issuer_key == EMPTY_NAME else None


def _policy_constraints_not_critical(facts: CertFacts, place: Place) -> str | None:
    if place.critical.get(ExtensionOID.POLICY_CONSTRAINTS) is False:
        return "policyConstraints is not marked critical"
    return None


def _inhibit_any_policy_not_critical(facts: CertFacts, place: Place) -> str | None:
    if place.critical.get(ExtensionOID.INHIBIT_ANY_POLICY) is False:
        return "inhibitAnyPolicy is not marked critical"
    return None


def _san_critical_with_subject(facts: CertFacts, place: Place) -> str | None:
    if facts.subject_key != EMPTY_NAME and place.critical.get(
        ExtensionOID.SUBJECT_ALTERNATIVE_NAME
    ):
        return "subjectAltName is critical although the subject is not empty"
    return None


def _public_leaf_without_pointers(facts: CertFacts, place: Place) -> str | None:
    if place.role == "leaf" and not facts.crl_urls and not facts.ocsp_urls:
        return "a publicly trusted leaf with neither a CRL distribution point nor an OCSP URL"
    return None


def _dns_name_syntax(facts: CertFacts, place: Place) -> str | None:
    if place.role != "leaf":
        return None
    for name in facts.dns_names:
        labels = name.split(".")
        if labels and labels[0] == "*":
            labels = labels[1:]
        for label in labels:
            if "*" in label:
                continue  # partial or inner wildcards: the name checks judge those
            if not _LDH_LABEL.fullmatch(label):
                return f"the SAN dNSName '{name[:80]}' is not in preferred name syntax"
    return None


def _common_name_not_in_san(facts: CertFacts, place: Place) -> str | None:
    if place.role != "leaf" or not facts.has_san:
        return None
    sans = facts.dns_names + facts.ip_addresses
    for cn in facts.common_names:
        if cn in sans:
            continue
        return f"the common name '{cn[:80]}' {_cn_variant(cn, facts)}"
    return None


def _cn_variant(cn: str, facts: CertFacts) -> str:
    """How a common name missing from the SANs differs from them (the usual variants)."""
    lowered = {name.lower(): name for name in facts.dns_names}
    if cn.lower() in lowered:
        return f"differs from the SAN '{lowered[cn.lower()]}' only in case"
    try:
        ip = ipaddress.ip_address(cn.strip("[]"))
    except ValueError:
        ip = None
    if ip is not None:
        if str(ip) in facts.ip_addresses:
            return f"writes the SAN IP address {ip} in another form"
        return "is an IP address that is not among the SAN IP addresses"
    if not cn.isascii():
        try:
            a_label = cn.encode("idna").decode("ascii")
        except UnicodeError:
            a_label = None
        if a_label is not None and a_label.lower() in lowered:
            return (
                f"is the U-label form of the SAN '{lowered[a_label.lower()]}' (must be the A-label)"
            )
    elif cn.lower().startswith("xn--") or ".xn--" in cn.lower():
        return "is an A-label that is not among the SANs"
    return "is not among the subjectAltName entries"


_BR_ROOT = "BR 7.1.2.1"
_BR_SUBSCRIBER = "BR 7.1.2.3"

RULES: tuple[Rule, ...] = (
    Rule("serial_zero", "RFC 5280 4.1.2.2", Scope.EVERY_CHAIN, (PKILINT,), _serial_zero),
    Rule(
        "serial_negative",
        "RFC 5280 4.1.2.2",
        Scope.EVERY_CHAIN,
        (PKILINT, CRYPTOGRAPHY),
        _serial_negative,
    ),
    Rule("serial_too_long", "RFC 5280 4.1.2.2", Scope.EVERY_CHAIN, (PKILINT,), _serial_too_long),
    Rule(
        "issuer_name_empty",
        "RFC 5280 4.1.2.4",
        Scope.EVERY_CHAIN,
        (PKILINT, OPENSSL_STRICT, CRYPTOGRAPHY),
        _issuer_empty,
    ),
    Rule(
        "ca_subject_empty",
        "RFC 5280 4.1.2.6",
        Scope.EVERY_CHAIN,
        (OPENSSL_STRICT,),
        _ca_subject_empty,
    ),
    Rule(
        "empty_subject_san_not_critical",
        "RFC 5280 4.2.1.6",
        Scope.EVERY_CHAIN,
        (PKILINT, OPENSSL_STRICT),
        _empty_subject_san_not_critical,
    ),
    Rule(
        "san_critical_with_subject",
        "RFC 5280 4.2.1.6",
        Scope.EVERY_CHAIN,
        (PKILINT,),
        _san_critical_with_subject,
    ),
    Rule(
        "authority_key_id_missing",
        "RFC 5280 4.2.1.1",
        Scope.EVERY_CHAIN,
        (PKILINT, OPENSSL_STRICT),
        _aki_missing,
    ),
    Rule(
        "subject_key_id_missing",
        "RFC 5280 4.2.1.2",
        Scope.EVERY_CHAIN,
        (PKILINT, OPENSSL_STRICT),
        _ski_missing,
    ),
    Rule(
        "ca_key_usage_missing",
        "RFC 5280 4.2.1.3",
        Scope.EVERY_CHAIN,
        (PKILINT, OPENSSL_STRICT),
        _ca_key_usage_missing,
    ),
    Rule(
        "ca_key_usage_not_critical",
        "BR 7.1.2.2 (e)",
        Scope.PUBLIC,
        (PKILINT,),
        _ca_key_usage_not_critical,
    ),
    Rule(
        "key_cert_sign_without_ca",
        "RFC 5280 4.2.1.3",
        Scope.EVERY_CHAIN,
        (PKILINT, OPENSSL_STRICT),
        _key_cert_sign_without_ca,
    ),
    Rule(
        "basic_constraints_not_critical",
        "RFC 5280 4.2.1.9",
        Scope.EVERY_CHAIN,
        (PKILINT, OPENSSL_STRICT),
        _basic_constraints_not_critical,
    ),
    Rule(
        "authority_key_id_without_key_id",
        "RFC 5280 4.2.1.1",
        Scope.EVERY_CHAIN,
        (PKILINT, OPENSSL_STRICT),
        _aki_without_key_id,
    ),
    Rule(
        "validity_generalized_time_before_2050",
        "RFC 5280 4.1.2.5",
        Scope.EVERY_CHAIN,
        (PKILINT, CRYPTOGRAPHY),
        _validity_encoding,
    ),
    Rule(
        "name_constraints_not_critical",
        "RFC 5280 4.2.1.10",
        Scope.PRIVATE,
        (PKILINT,),
        _name_constraints_not_critical,
    ),
    Rule(
        "name_constraints_in_leaf",
        "RFC 5280 4.2.1.10",
        Scope.EVERY_CHAIN,
        (PKILINT,),
        _name_constraints_in_leaf,
    ),
    Rule(
        "policy_constraints_not_critical",
        "RFC 5280 4.2.1.11",
        Scope.EVERY_CHAIN,
        (),
        _policy_constraints_not_critical,
    ),
    Rule(
        "inhibit_any_policy_not_critical",
        "RFC 5280 4.2.1.14",
        Scope.EVERY_CHAIN,
        (),
        _inhibit_any_policy_not_critical,
    ),
    Rule("root_has_eku", f"{_BR_ROOT} (d)", Scope.EVERY_CHAIN, (PKILINT,), _root_eku),
    Rule("leaf_any_eku", f"{_BR_SUBSCRIBER} (f)", Scope.EVERY_CHAIN, (PKILINT,), _leaf_any_eku),
    Rule(
        "leaf_eku_critical",
        f"{_BR_SUBSCRIBER} (f)",
        Scope.EVERY_CHAIN,
        (PKILINT,),
        _leaf_eku_critical,
    ),
    Rule("leaf_eku_missing", f"{_BR_SUBSCRIBER} (f)", Scope.PUBLIC, (PKILINT,), _leaf_eku_missing),
    Rule("rsa_modulus_not_multiple_of_8", "BR 6.1.5", Scope.EVERY_CHAIN, (PKILINT,), _rsa_modulus),
    Rule(
        "common_name_not_in_san",
        "BR 7.1.4.2.2 (a)",
        Scope.EVERY_CHAIN,
        (PKILINT,),
        _common_name_not_in_san,
    ),
    Rule(
        "dns_name_syntax",
        "BR 7.1.4.2.1, RFC 5280 4.2.1.6",
        Scope.EVERY_CHAIN,
        (PKILINT,),
        _dns_name_syntax,
    ),
    Rule(
        "public_leaf_without_revocation_pointer",
        f"{_BR_SUBSCRIBER} (b), (c)",
        Scope.PUBLIC,
        (PKILINT,),
        _public_leaf_without_pointers,
    ),
)
