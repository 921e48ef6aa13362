"""A generated corpus of standards cases: each rule broken once, with a negative twin.

A chain is root -> intermediate -> leaf, each from a clean profile (the one a modern CA
issues: critical basicConstraints and keyUsage on CAs, SKI/AKI, SAN, serverAuth EKU). A
case changes one thing in one certificate. Serial numbers that cryptography refuses to
write (0, negative) are written by re-encoding the TBSCertificate and signing it again.
"""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

from derpatch import generalized_validity, with_raw_serial, with_tbs_element

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.timezone.utc)
DAY = dt.timedelta(days=1)
HOST = "www.lint.test"

Key = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
Profile = dict[x509.ObjectIdentifier, tuple[x509.ExtensionType, bool]]


@functools.cache
def shared_key(slot: str) -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@functools.cache
def rsa_key(bits: int) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def cn(value: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, value)])


@dataclass
class Spec:
    """One certificate to make: name, key, extensions by OID, serial."""

    subject: x509.Name
    key: Key
    extensions: Profile
    serial: int | bytes = 0x1234  # bytes: the raw INTEGER contents, written by hand
    days: int = 90
    generalized_time: bool = False  # validity rewritten as GeneralizedTime

    def set(self, value: x509.ExtensionType, critical: bool) -> None:
        self.extensions[value.oid] = (value, critical)

    def drop(self, oid: x509.ObjectIdentifier) -> None:
        del self.extensions[oid]

    def critical(self, oid: x509.ObjectIdentifier, critical: bool) -> None:
        self.extensions[oid] = (self.extensions[oid][0], critical)


def ca_usage() -> x509.KeyUsage:
    return x509.KeyUsage(True, False, False, False, False, True, True, False, False)


def leaf_usage(cert_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(True, False, False, False, False, cert_sign, False, False, False)


def profile(*items: tuple[x509.ExtensionType, bool]) -> Profile:
    return {value.oid: (value, critical) for value, critical in items}


@dataclass
class Chain:
    root: Spec
    intermediate: Spec
    leaf: Spec

    @classmethod
    def clean(cls) -> Chain:
        root_key, inter_key, leaf_key = (shared_key(s) for s in ("root", "inter", "leaf"))
        ski = x509.SubjectKeyIdentifier.from_public_key
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key
        root = Spec(
            cn("Lint Root"),
            root_key,
            profile(
                (x509.BasicConstraints(True, None), True),
                (ca_usage(), True),
                (ski(root_key.public_key()), False),
            ),
            serial=0x1001,
            days=3650,
        )
        inter = Spec(
            cn("Lint Issuing CA"),
            inter_key,
            profile(
                (x509.BasicConstraints(True, 0), True),
                (ca_usage(), True),
                (ski(inter_key.public_key()), False),
                (aki(root_key.public_key()), False),
                (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False),
            ),
            serial=0x2002,
            days=1825,
        )
        leaf = Spec(
            cn(HOST),
            leaf_key,
            profile(
                (x509.BasicConstraints(False, None), True),
                (leaf_usage(), True),
                (ski(leaf_key.public_key()), False),
                (aki(inter_key.public_key()), False),
                (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False),
                (x509.SubjectAlternativeName([x509.DNSName(HOST)]), False),
            ),
        )
        return cls(root, inter, leaf)

    def build(self) -> list[x509.Certificate]:
        """[leaf, intermediate, root]."""
        root = make(self.root, self.root)
        inter = make(self.intermediate, self.root)
        leaf = make(self.leaf, self.intermediate)
        return [leaf, inter, root]

    def set_leaf_key(self, key: Key) -> None:
        self.leaf.key = key
        self.leaf.set(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)


def make(spec: Spec, issuer: Spec) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(spec.subject)
        .issuer_name(issuer.subject)
        .public_key(spec.key.public_key())
        .serial_number(spec.serial if isinstance(spec.serial, int) else 1)
        .not_valid_before(NOW - 10 * DAY)
        .not_valid_after(NOW + (spec.days - 10) * DAY)
    )
    for value, critical in spec.extensions.values():
        builder = builder.add_extension(value, critical)
    cert = builder.sign(issuer.key, hashes.SHA256())
    if isinstance(spec.serial, bytes):
        cert = with_raw_serial(cert, issuer.key, spec.serial)
    if spec.generalized_time:
        cert = with_tbs_element(cert, issuer.key, 4, generalized_validity(cert))
    return cert


# The cases ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    rules: frozenset[str]  # the rules tlsdoctor must name; empty for a negative twin
    change: Callable[[Chain], None]
    public: bool = False  # judged under a public root (Baseline Requirements scope)
    # Findings of other checks the case also raises: the chain verifier of cryptography
    # refuses negative serials, empty issuers and critical policy extensions it does not
    # process, which is an invalid_chain of its own, not a rule of this corpus.
    also: frozenset[str] = frozenset()


def _san(*names: str) -> x509.SubjectAlternativeName:
    general: list[x509.GeneralName] = []
    for name in names:
        try:
            general.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            general.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(general)


def _cn_san(common: str, *sans: str) -> Callable[[Chain], None]:
    def change(chain: Chain) -> None:
        chain.leaf.subject = cn(common)
        chain.leaf.set(_san(*sans), False)

    return change


def _leaf_eku(*usages: x509.ObjectIdentifier, critical: bool = False) -> Callable[[Chain], None]:
    return lambda chain: chain.leaf.set(x509.ExtendedKeyUsage(list(usages)), critical)


def _both(*changes: Callable[[Chain], None]) -> Callable[[Chain], None]:
    def change(chain: Chain) -> None:
        for each in changes:
            each(chain)

    return change


SERVER = ExtendedKeyUsageOID.SERVER_AUTH
ANY = ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE
CLIENT = ExtendedKeyUsageOID.CLIENT_AUTH
EMPTY = x509.Name([])
NC = x509.NameConstraints([x509.DNSName("lint.test")], None)


def _aki_by_name(issuer: Spec, issuers_issuer: Spec) -> x509.AuthorityKeyIdentifier:
    """An AKI naming the issuing certificate by its issuer's name and its serial, without a
    keyIdentifier (authorityCertIssuer is the name of whoever issued the issuer)."""
    assert isinstance(issuer.serial, int)
    names = [x509.DirectoryName(issuers_issuer.subject)]
    return x509.AuthorityKeyIdentifier(None, names, issuer.serial)


def _aki_full(issuer: Spec, issuers_issuer: Spec) -> x509.AuthorityKeyIdentifier:
    by_name = _aki_by_name(issuer, issuers_issuer)
    key_id = x509.SubjectKeyIdentifier.from_public_key(issuer.key.public_key()).digest
    return x509.AuthorityKeyIdentifier(
        key_id, by_name.authority_cert_issuer, by_name.authority_cert_serial_number
    )


def _crl_pointer(chain: Chain) -> None:
    point = x509.DistributionPoint(
        [x509.UniformResourceIdentifier("http://127.0.0.1:9/lint.crl")], None, None, None
    )
    chain.leaf.set(x509.CRLDistributionPoints([point]), False)


def cases() -> list[Case]:
    """Every case, positives and their negative twins (names end in '+' and '-')."""

    def c(
        name: str,
        rules: set[str],
        change: Callable[[Chain], None],
        public: bool = False,
        also: frozenset[str] = frozenset(),
    ) -> Case:
        return Case(name, frozenset(rules), change, public, also)

    refused = frozenset({"invalid_chain"})

    def nothing(chain: Chain) -> None:
        return None

    return [
        c("clean chain -", set(), nothing),
        c("clean public chain with CRL pointer -", set(), _crl_pointer, public=True),
        c("serial 0 +", {"serial_zero"}, lambda ch: setattr(ch.leaf, "serial", b"\x00")),
        c("serial 1 -", set(), lambda ch: setattr(ch.leaf, "serial", b"\x01")),
        c(
            "serial -1 +",
            {"serial_negative"},
            lambda ch: setattr(ch.leaf, "serial", b"\xff"),
            also=refused,
        ),
        c("serial 255 (00 ff) -", set(), lambda ch: setattr(ch.leaf, "serial", b"\x00\xff")),
        c(
            "negative serial on intermediate +",
            {"serial_negative"},
            lambda ch: setattr(ch.intermediate, "serial", b"\x80\x01"),
            also=refused,
        ),
        c(
            "serial of 21 octets +",
            {"serial_too_long"},
            lambda ch: setattr(ch.leaf, "serial", b"\x01" * 21),
        ),
        c("serial of 20 octets -", set(), lambda ch: setattr(ch.leaf, "serial", b"\x7f" * 20)),
        c(
            "serial 00 ff.. of 21 octets (positive, 160 bits) +",
            {"serial_too_long"},
            lambda ch: setattr(ch.leaf, "serial", b"\x00" + b"\xff" * 20),
        ),
        c(
            "leaf without AKI +",
            {"authority_key_id_missing"},
            lambda ch: ch.leaf.drop(ExtensionOID.AUTHORITY_KEY_IDENTIFIER),
        ),
        c(
            "intermediate without AKI +",
            {"authority_key_id_missing"},
            lambda ch: ch.intermediate.drop(ExtensionOID.AUTHORITY_KEY_IDENTIFIER),
        ),
        c("root without AKI (self-signed) -", set(), nothing),
        c(
            "leaf AKI without keyIdentifier +",
            {"authority_key_id_without_key_id"},
            lambda ch: ch.leaf.set(_aki_by_name(ch.intermediate, ch.root), False),
        ),
        c(
            "self-signed root AKI without keyIdentifier +",
            {"authority_key_id_without_key_id"},
            lambda ch: ch.root.set(_aki_by_name(ch.root, ch.root), False),
        ),
        c(
            "leaf AKI with keyIdentifier, issuer and serial -",
            set(),
            lambda ch: ch.leaf.set(_aki_full(ch.intermediate, ch.root), False),
        ),
        c(
            "leaf dates in GeneralizedTime before 2050 +",
            {"validity_generalized_time_before_2050"},
            lambda ch: setattr(ch.leaf, "generalized_time", True),
            also=refused,
        ),
        c(
            "root valid past 2050 (GeneralizedTime notAfter) -",
            set(),
            lambda ch: setattr(ch.root, "days", 9000),
        ),
        c(
            "private intermediate name constraints not critical +",
            {"name_constraints_not_critical"},
            lambda ch: ch.intermediate.set(NC, False),
        ),
        c(
            "public intermediate name constraints not critical -",
            set(),
            _both(_crl_pointer, lambda ch: ch.intermediate.set(NC, False)),
            public=True,
        ),
        c(
            "intermediate without SKI +",
            {"subject_key_id_missing"},
            lambda ch: ch.intermediate.drop(ExtensionOID.SUBJECT_KEY_IDENTIFIER),
        ),
        c(
            "root without SKI +",
            {"subject_key_id_missing"},
            lambda ch: ch.root.drop(ExtensionOID.SUBJECT_KEY_IDENTIFIER),
        ),
        c(
            "leaf without SKI -",
            set(),
            lambda ch: ch.leaf.drop(ExtensionOID.SUBJECT_KEY_IDENTIFIER),
        ),
        c(
            "intermediate basicConstraints not critical +",
            {"basic_constraints_not_critical"},
            lambda ch: ch.intermediate.critical(ExtensionOID.BASIC_CONSTRAINTS, False),
        ),
        c(
            "root basicConstraints not critical +",
            {"basic_constraints_not_critical"},
            lambda ch: ch.root.critical(ExtensionOID.BASIC_CONSTRAINTS, False),
        ),
        c(
            "leaf basicConstraints cA=FALSE not critical -",
            set(),
            lambda ch: ch.leaf.critical(ExtensionOID.BASIC_CONSTRAINTS, False),
        ),
        c(
            "intermediate without keyUsage +",
            {"ca_key_usage_missing"},
            lambda ch: ch.intermediate.drop(ExtensionOID.KEY_USAGE),
        ),
        c("leaf without keyUsage -", set(), lambda ch: ch.leaf.drop(ExtensionOID.KEY_USAGE)),
        c(
            "public intermediate keyUsage not critical +",
            {"ca_key_usage_not_critical"},
            _both(_crl_pointer, lambda ch: ch.intermediate.critical(ExtensionOID.KEY_USAGE, False)),
            public=True,
        ),
        c(
            "private intermediate keyUsage not critical -",
            set(),
            lambda ch: ch.intermediate.critical(ExtensionOID.KEY_USAGE, False),
        ),
        c(
            "leaf keyUsage not critical -",
            set(),
            lambda ch: ch.leaf.critical(ExtensionOID.KEY_USAGE, False),
        ),
        c(
            "leaf with keyCertSign +",
            {"key_cert_sign_without_ca"},
            lambda ch: ch.leaf.set(leaf_usage(cert_sign=True), True),
        ),
        c("leaf with digitalSignature only -", set(), lambda ch: ch.leaf.set(leaf_usage(), True)),
        c(
            "root with EKU +",
            {"root_has_eku"},
            lambda ch: ch.root.set(x509.ExtendedKeyUsage([SERVER]), False),
        ),
        c("intermediate with EKU -", set(), nothing),
        c("leaf EKU with anyExtendedKeyUsage +", {"leaf_any_eku"}, _leaf_eku(SERVER, ANY)),
        c("leaf EKU serverAuth+clientAuth -", set(), _leaf_eku(SERVER, CLIENT)),
        c("leaf EKU critical +", {"leaf_eku_critical"}, _leaf_eku(SERVER, critical=True)),
        c("leaf EKU not critical -", set(), _leaf_eku(SERVER)),
        c(
            "intermediate EKU critical -",
            set(),
            lambda ch: ch.intermediate.set(x509.ExtendedKeyUsage([SERVER]), True),
        ),
        c(
            "public leaf without EKU +",
            {"leaf_eku_missing"},
            _both(_crl_pointer, lambda ch: ch.leaf.drop(ExtensionOID.EXTENDED_KEY_USAGE)),
            public=True,
        ),
        c(
            "private leaf without EKU -",
            set(),
            lambda ch: ch.leaf.drop(ExtensionOID.EXTENDED_KEY_USAGE),
        ),
        c(
            "RSA 2052-bit leaf key +",
            {"rsa_modulus_not_multiple_of_8"},
            lambda ch: ch.set_leaf_key(rsa_key(2052)),
        ),
        c("RSA 2048-bit leaf key -", set(), lambda ch: ch.set_leaf_key(rsa_key(2048))),
        c(
            "name constraints in leaf +",
            {"name_constraints_in_leaf"},
            lambda ch: ch.leaf.set(NC, True),
        ),
        c("name constraints in intermediate -", set(), lambda ch: ch.intermediate.set(NC, True)),
        c(
            "empty subject, SAN not critical +",
            {"empty_subject_san_not_critical"},
            lambda ch: setattr(ch.leaf, "subject", EMPTY),
        ),
        c(
            "empty subject, SAN critical -",
            set(),
            _both(
                lambda ch: setattr(ch.leaf, "subject", EMPTY),
                lambda ch: ch.leaf.critical(ExtensionOID.SUBJECT_ALTERNATIVE_NAME, True),
            ),
        ),
        c(
            "subject present, SAN critical +",
            {"san_critical_with_subject"},
            lambda ch: ch.leaf.critical(ExtensionOID.SUBJECT_ALTERNATIVE_NAME, True),
        ),
        c(
            "intermediate with empty subject +",
            {"ca_subject_empty", "issuer_name_empty", "empty_subject_san_not_critical"},
            lambda ch: setattr(ch.intermediate, "subject", EMPTY),
            also=refused,
        ),
        c(
            "policy constraints not critical +",
            {"policy_constraints_not_critical"},
            lambda ch: ch.intermediate.set(x509.PolicyConstraints(None, 0), False),
        ),
        c(
            "policy constraints critical -",
            set(),
            lambda ch: ch.intermediate.set(x509.PolicyConstraints(None, 0), True),
            also=refused,
        ),
        c(
            "inhibitAnyPolicy not critical +",
            {"inhibit_any_policy_not_critical"},
            lambda ch: ch.intermediate.set(x509.InhibitAnyPolicy(0), False),
        ),
        c(
            "inhibitAnyPolicy critical -",
            set(),
            lambda ch: ch.intermediate.set(x509.InhibitAnyPolicy(0), True),
            also=refused,
        ),
        c("CN not among SANs +", {"common_name_not_in_san"}, _cn_san("other.lint.test", HOST)),
        c("CN among several SANs -", set(), _cn_san("b.lint.test", "a.lint.test", "b.lint.test")),
        c("CN differs in case +", {"common_name_not_in_san"}, _cn_san("WWW.Lint.Test", HOST)),
        c("CN in lower case, SAN the same -", set(), _cn_san(HOST, HOST)),
        c("CN IPv6 in long form +", {"common_name_not_in_san"}, _cn_san("0:0:0:0:0:0:0:1", "::1")),
        c("CN IPv6 in RFC 5952 form -", set(), _cn_san("::1", "::1")),
        c(
            "CN IPv4 not among SAN IPs +",
            {"common_name_not_in_san"},
            _cn_san("127.0.0.2", "127.0.0.1"),
        ),
        c("CN IPv4 among SAN IPs -", set(), _cn_san("127.0.0.1", "127.0.0.1", HOST)),
        c(
            "CN U-label, SAN A-label +",
            {"common_name_not_in_san"},
            _cn_san("bücher.lint.test", "xn--bcher-kva.lint.test"),
        ),
        c(
            "CN A-label, SAN A-label -",
            set(),
            _cn_san("xn--bcher-kva.lint.test", "xn--bcher-kva.lint.test"),
        ),
        c("CN wildcard among SANs -", set(), _cn_san("*.lint.test", "*.lint.test")),
        c(
            "SAN dNSName with underscore +",
            {"dns_name_syntax"},
            _cn_san("x.lint.test", "x.lint.test", "my_host.lint.test"),
        ),
        c("SAN dNSName with hyphen -", set(), _cn_san("my-host.lint.test", "my-host.lint.test")),
        c(
            "public leaf without CRL or OCSP +",
            {"public_leaf_without_revocation_pointer"},
            nothing,
            public=True,
        ),
        c("private leaf without CRL or OCSP -", set(), nothing),
        c("public leaf with a CRL pointer -", set(), _crl_pointer, public=True),
        c(
            "two rules on one leaf +",
            {"serial_zero", "leaf_eku_critical"},
            _both(lambda ch: setattr(ch.leaf, "serial", b"\x00"), _leaf_eku(SERVER, critical=True)),
        ),
        c(
            "rules on two certificates +",
            {"root_has_eku", "basic_constraints_not_critical"},
            _both(
                lambda ch: ch.root.set(x509.ExtendedKeyUsage([SERVER]), False),
                lambda ch: ch.intermediate.critical(ExtensionOID.BASIC_CONSTRAINTS, False),
            ),
        ),
    ]


def build_case(case: Case) -> list[x509.Certificate]:
    chain = Chain.clean()
    case.change(chain)
    return chain.build()
