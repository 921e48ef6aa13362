"""Generated path-building cases for the oracle tests, made at test time.

Each :class:`Case` is a set of trusted roots, what a server sends (leaf first), the host
name asked for and a verdict time. Nothing here says what the verdict should be: the
oracle tests ask tlsdoctor and independent validators (OpenSSL, Go, Python's ssl) and
compare. The classes follow issue 12: cross-signs, expired and re-keyed intermediates,
wrong EKU, name constraints, pathLenConstraint (with self-issued certificates), loops,
critical extensions, long chains, missing intermediates, private roots.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

# Real time: Python's ssl cannot verify at another time, so every case is judged now.
NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
DAY = dt.timedelta(days=1)
SERVER_AUTH = ExtendedKeyUsageOID.SERVER_AUTH
CLIENT_AUTH = ExtendedKeyUsageOID.CLIENT_AUTH
UNKNOWN_OID = ObjectIdentifier("1.3.6.1.4.1.55555.1.1")
HOST = "www.example.test"


@dataclass
class Node:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def subject(self) -> x509.Name:
        return self.cert.subject


def _name(cn: str, org: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def make(
    cn: str,
    issuer: Node | None,
    *,
    key: ec.EllipticCurvePrivateKey | None = None,
    org: str = "Oracle Tests",
    subject: x509.Name | None = None,
    ca: bool = True,
    path_length: int | None = None,
    not_before: dt.datetime = NOW - 100 * DAY,
    not_after: dt.datetime = NOW + 300 * DAY,
    eku: Sequence[ObjectIdentifier] | None = None,
    dns: Sequence[str] = (),
    ips: Sequence[str] = (),
    emails: Sequence[str] = (),
    permitted: Sequence[x509.GeneralName] = (),
    excluded: Sequence[x509.GeneralName] = (),
    extra: Sequence[tuple[x509.ExtensionType, bool]] = (),
    key_cert_sign: bool = True,
    aki_critical: bool = False,
    basic_constraints: str = "critical",  # or "non-critical", "absent"
    key_usage: x509.KeyUsage | None = None,
) -> Node:
    """One certificate; ``issuer`` None makes it self-signed."""
    own_key = key or ec.generate_private_key(ec.SECP256R1())
    subject_name = subject or _name(cn, org)
    signer_key = own_key if issuer is None else issuer.key
    issuer_name = subject_name if issuer is None else issuer.subject
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject_name)
        .issuer_name(issuer_name)
        .public_key(own_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(own_key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer_key.public_key()),
            aki_critical,
        )
    )
    if basic_constraints != "absent":
        builder = builder.add_extension(
            x509.BasicConstraints(ca, path_length if ca else None),
            basic_constraints == "critical",
        )
    if key_usage is not None:
        usage = key_usage
    elif ca:
        usage = x509.KeyUsage(True, False, False, False, False, key_cert_sign, True, False, False)
    else:
        usage = x509.KeyUsage(True, False, False, False, False, False, False, False, False)
    builder = builder.add_extension(usage, True)
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), False)
    names: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
    names += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    names += [x509.RFC822Name(e) for e in emails]
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), False)
    if permitted or excluded:
        builder = builder.add_extension(
            x509.NameConstraints(list(permitted) or None, list(excluded) or None), True
        )
    for extension, critical in extra:
        builder = builder.add_extension(extension, critical)
    return Node(builder.sign(signer_key, hashes.SHA256()), own_key)


def leaf(issuer: Node, dns: Sequence[str] = (HOST,), **kwargs: object) -> Node:
    kwargs.setdefault("eku", (SERVER_AUTH,))
    return make(dns[0] if dns else "leaf", issuer, ca=False, dns=dns, **kwargs)  # type: ignore[arg-type]


@dataclass
class Case:
    name: str
    kind: str  # the class of issue 12 it exercises
    roots: list[x509.Certificate]
    sent: list[x509.Certificate]  # leaf first, as the server sends
    leaf_key: ec.EllipticCurvePrivateKey
    host: str = HOST
    at: dt.datetime = NOW
    openssl_flags: tuple[str, ...] = ()  # what the client it stands for sets (curl: partial chain)


def _case(name: str, kind: str, roots: Sequence[Node], sent: Sequence[Node], **kw: object) -> Case:
    return Case(name, kind, [r.cert for r in roots], [s.cert for s in sent], sent[0].key, **kw)  # type: ignore[arg-type]


def basic() -> Iterator[Case]:
    root = make("Basic Root", None)
    inter = make("Basic Issuing CA", root)
    good = leaf(inter)
    yield _case("basic_valid", "basic", [root], [good, inter])
    yield _case("basic_wrong_host", "basic", [root], [good, inter], host="other.example.test")
    yield _case("basic_missing_intermediate", "missing", [root], [good])
    yield _case("basic_untrusted_root", "private_root", [make("Other Root", None)], [good, inter])
    yield _case("basic_root_sent_too", "basic", [root], [good, inter, root])
    wildcard = leaf(inter, dns=("*.example.test",))
    yield _case("basic_wildcard", "names", [root], [wildcard, inter])
    yield _case(
        "basic_wildcard_two_levels", "names", [root], [wildcard, inter], host="a.b.example.test"
    )
    expired = leaf(inter, not_before=NOW - 90 * DAY, not_after=NOW - DAY)
    yield _case("leaf_expired", "validity", [root], [expired, inter])
    future = leaf(inter, not_before=NOW + DAY, not_after=NOW + 90 * DAY)
    yield _case("leaf_not_yet_valid", "validity", [root], [future, inter])
    not_ca = make("Not A CA", root, ca=False)
    yield _case("issuer_not_ca", "basic", [root], [leaf(not_ca), not_ca])
    no_sign = make("No keyCertSign CA", root, key_cert_sign=False)
    yield _case("issuer_no_keycertsign", "basic", [root], [leaf(no_sign), no_sign])
    ip_leaf = leaf(inter, dns=("www.example.test",), ips=("127.0.0.1",))
    yield _case("ip_san_by_name", "names", [root], [ip_leaf, inter])
    client_only = leaf(inter, eku=(CLIENT_AUTH,))
    yield _case("leaf_client_auth_only", "eku", [root], [client_only, inter])
    no_eku = leaf(inter, eku=None)
    yield _case("leaf_without_eku", "eku", [root], [no_eku, inter])
    over_suffix = leaf(inter, dns=("*.co.uk",))
    yield _case("wildcard_over_co_uk", "names", [root], [over_suffix, inter], host="shop.co.uk")
    over_tld = leaf(inter, dns=("*.com",))
    yield _case("wildcard_over_com", "names", [root], [over_tld, inter], host="example.com")
    # curl sets X509_V_FLAG_PARTIAL_CHAIN: a trusted intermediate is an anchor.
    yield _case(
        "intermediate_as_anchor",
        "private_root",
        [inter],
        [good, inter],
        openssl_flags=("-partial_chain",),
    )


def cross_signs() -> Iterator[Case]:
    """A new root cross-signed by an old one (the Let's Encrypt ISRG/DST story)."""
    old = make("Old Root", None)
    new_key = ec.generate_private_key(ec.SECP256R1())
    new = make("New Root", None, key=new_key)
    cross = make("New Root", old, key=new_key)
    expired_old = make(
        "Old Root", None, key=old.key, not_after=NOW - DAY, not_before=NOW - 900 * DAY
    )
    cross_expired = make(
        "New Root", old, key=new_key, not_before=NOW - 900 * DAY, not_after=NOW - DAY
    )
    inter = make("Cross Issuing CA", new)
    good = leaf(inter)
    yield _case("cross_new_trusted", "cross_sign", [new], [good, inter, cross])
    yield _case("cross_old_trusted", "cross_sign", [old], [good, inter, cross])
    yield _case("cross_both_trusted", "cross_sign", [old, new], [good, inter, cross])
    yield _case("cross_old_trusted_no_cross", "cross_sign", [old], [good, inter])
    yield _case(
        "cross_expired_cross_new_trusted", "cross_sign", [new], [good, inter, cross_expired]
    )
    yield _case(
        "cross_expired_cross_old_trusted", "cross_sign", [old], [good, inter, cross_expired]
    )
    yield _case("cross_expired_old_root_trusted", "cross_sign", [expired_old], [good, inter, cross])
    yield _case("cross_expired_old_and_new", "cross_sign", [expired_old, new], [good, inter, cross])
    yield _case("cross_sent_first", "cross_sign", [new], [good, cross, inter])
    yield _case("cross_new_root_sent", "cross_sign", [new], [good, inter, new, cross])
    # A cross-sign that allows no CA below it: the path through it is too long.
    cross_len0 = make("New Root", old, key=new_key, path_length=0)
    yield _case("cross_pathlen0_old_trusted", "cross_sign", [old], [good, inter, cross_len0])
    yield _case("cross_pathlen0_both_trusted", "cross_sign", [old, new], [good, inter, cross_len0])


def stale_intermediates() -> Iterator[Case]:
    """Expired, re-keyed and wrong-EKU intermediates sent beside (or instead of) good ones."""
    root = make("Stale Root", None)
    key = ec.generate_private_key(ec.SECP256R1())
    current = make("Stale Issuing CA", root, key=key)
    expired = make(
        "Stale Issuing CA", root, key=key, not_before=NOW - 900 * DAY, not_after=NOW - DAY
    )
    good = leaf(current)
    yield _case("expired_intermediate_only", "expired_intermediate", [root], [good, expired])
    yield _case("expired_then_current", "expired_intermediate", [root], [good, expired, current])
    yield _case("current_then_expired", "expired_intermediate", [root], [good, current, expired])
    rekeyed = make("Stale Issuing CA", root)  # same name, another key
    yield _case("rekeyed_only_old_sent", "rekeyed", [root], [good, rekeyed])
    yield _case("rekeyed_old_then_new", "rekeyed", [root], [good, rekeyed, current])
    yield _case("rekeyed_new_then_old", "rekeyed", [root], [good, current, rekeyed])
    client_eku = make("Stale Issuing CA", root, key=key, eku=(CLIENT_AUTH,))
    server_eku = make("Stale Issuing CA", root, key=key, eku=(SERVER_AUTH,))
    yield _case("eku_wrong_only", "wrong_eku", [root], [good, client_eku])
    yield _case("eku_wrong_then_right", "wrong_eku", [root], [good, client_eku, current])
    yield _case("eku_right_then_wrong", "wrong_eku", [root], [good, current, client_eku])
    yield _case("eku_server_on_intermediate", "wrong_eku", [root], [good, server_eku])
    constrained = make("Stale Issuing CA", root, key=key, permitted=[x509.DNSName("other.test")])
    yield _case("nc_wrong_only", "name_constraints", [root], [good, constrained])
    yield _case("nc_wrong_then_right", "name_constraints", [root], [good, constrained, current])
    yield _case("nc_right_then_wrong", "name_constraints", [root], [good, current, constrained])
    # An intermediate whose own issuer is not sent, beside a good one of the same key.
    other_root = make("Unknown Root", None)
    orphan = make("Stale Issuing CA", other_root, key=key)
    yield _case("orphan_then_current", "untrusted_alternative", [root], [good, orphan, current])
    yield _case(
        "orphan_then_current_with_root",
        "untrusted_alternative",
        [root],
        [good, orphan, other_root, current],
    )


def name_constraints() -> Iterator[Case]:
    root = make("NC Root", None)
    dns_nc = [x509.DNSName("example.test")]
    cases: list[tuple[str, dict[str, object], dict[str, object]]] = [
        ("dns_permitted_inside", {"permitted": dns_nc}, {}),
        ("dns_permitted_outside", {"permitted": dns_nc}, {"dns": ("www.other.test",)}),
        ("dns_excluded_hit", {"excluded": dns_nc}, {}),
        ("dns_excluded_miss", {"excluded": [x509.DNSName("other.test")]}, {}),
        (
            "dns_permitted_leading_dot",
            {"permitted": [x509.DNSName(".example.test")]},
            {},
        ),
        (
            "dns_permitted_leading_dot_apex",
            {"permitted": [x509.DNSName(".example.test")]},
            {"dns": ("example.test",)},
        ),
        (
            "dns_excluded_leading_dot_apex",
            {"excluded": [x509.DNSName(".example.test")]},
            {"dns": ("example.test",)},
        ),
        (
            "dns_excluded_leading_dot_below",
            {"excluded": [x509.DNSName(".example.test")]},
            {},
        ),
        (
            "dns_permitted_upper_case",
            {"permitted": [x509.DNSName("EXAMPLE.test")]},
            {},
        ),
        (
            "dns_permitted_one_of_two_names",
            {"permitted": dns_nc},
            {"dns": ("www.example.test", "www.other.test")},
        ),
        (
            "dns_permitted_suffix_not_label",
            {"permitted": [x509.DNSName("ample.test")]},
            {},
        ),
        (
            "ip_permitted_inside",
            {"permitted": [x509.IPAddress(ipaddress.ip_network("127.0.0.0/8"))]},
            {"ips": ("127.0.0.1",)},
        ),
        (
            "ip_permitted_outside",
            {"permitted": [x509.IPAddress(ipaddress.ip_network("10.0.0.0/8"))]},
            {"ips": ("127.0.0.1",)},
        ),
        (
            "ip_excluded_hit",
            {"excluded": [x509.IPAddress(ipaddress.ip_network("127.0.0.0/8"))]},
            {"ips": ("127.0.0.1",)},
        ),
        (
            "ip_excluded_miss",
            {"excluded": [x509.IPAddress(ipaddress.ip_network("10.0.0.0/8"))]},
            {"ips": ("127.0.0.1",)},
        ),
        (
            "ip_constraint_dns_leaf",
            {"permitted": [x509.IPAddress(ipaddress.ip_network("10.0.0.0/8"))]},
            {},
        ),
        (
            "ipv6_permitted_inside",
            {"permitted": [x509.IPAddress(ipaddress.ip_network("fd00::/8"))]},
            {"ips": ("fd00::1",)},
        ),
        (
            "email_permitted_inside",
            {"permitted": [x509.RFC822Name("example.test")]},
            {"emails": ("admin@example.test",)},
        ),
        (
            "email_permitted_outside",
            {"permitted": [x509.RFC822Name("example.test")]},
            {"emails": ("admin@other.test",)},
        ),
        (
            "email_excluded_hit",
            {"excluded": [x509.RFC822Name("example.test")]},
            {"emails": ("admin@example.test",)},
        ),
        (
            "dirname_permitted_inside",
            {
                "permitted": [
                    x509.DirectoryName(
                        x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Oracle Tests")])
                    )
                ]
            },
            {"org_subject": True},
        ),
        (
            "dirname_permitted_outside",
            {
                "permitted": [
                    x509.DirectoryName(
                        x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Elsewhere")])
                    )
                ]
            },
            {"org_subject": True},
        ),
        (
            "uri_permitted_dns_leaf",
            {"permitted": [x509.UniformResourceIdentifier("example.test")]},
            {},
        ),
        (
            "dns_permitted_wildcard_leaf",
            {"permitted": dns_nc},
            {"dns": ("*.example.test",)},
        ),
        (
            "dns_excluded_sibling",
            {"excluded": [x509.DNSName("bad.example.test")]},
            {"dns": ("www.example.test", "bad.example.test")},
        ),
    ]
    for name, ca_args, leaf_args in cases:
        inter = make(f"NC {name}", root, **ca_args)  # type: ignore[arg-type]
        dns = leaf_args.pop("dns", (HOST,))
        host = dns[0] if dns and not dns[0].startswith("*") else HOST
        if name.startswith("ip_") and "dns_leaf" not in name:
            host = "127.0.0.1"
        if name.startswith("ipv6"):
            host = "fd00::1"
        if leaf_args.pop("org_subject", False):
            leaf_args["subject"] = _name(HOST, "Oracle Tests")
        the_leaf = leaf(inter, dns=dns, **leaf_args)  # type: ignore[arg-type]
        yield _case(f"nc_{name}", "name_constraints", [root], [the_leaf, inter], host=host)
    # OpenSSL (x509_vfy.c check_name_constraints) also holds a leaf's CN to the DNS
    # constraints when the leaf has no DNS SAN and the CN looks like a host name (cn2dnsid);
    # Go and browsers use the SAN only.
    permit_dns = make("NC CN CA", root, permitted=dns_nc)
    ip_leaf = make("127.0.0.1", permit_dns, ca=False, ips=("127.0.0.1",), eku=(SERVER_AUTH,))
    yield _case("nc_cn_dnslike_ip_leaf", "name_constraints", [root], [ip_leaf, permit_dns],
                host="127.0.0.1")  # fmt: skip
    plain_cn = make("web server", permit_dns, ca=False, ips=("127.0.0.1",), eku=(SERVER_AUTH,))
    yield _case("nc_cn_not_dnslike_ip_leaf", "name_constraints", [root], [plain_cn, permit_dns],
                host="127.0.0.1")  # fmt: skip
    cn_outside = make("www.other.test", permit_dns, ca=False, dns=(HOST,), eku=(SERVER_AUTH,))
    yield _case("nc_cn_outside_with_dns_san", "name_constraints", [root], [cn_outside, permit_dns])
    # Constraints on the root itself (applied by Go and OpenSSL; a root's are ignored by
    # some verifiers: cryptography's webpki applies them).
    nc_root = make("NC Constrained Root", None, permitted=dns_nc)
    inter = make("NC Under Constrained Root", nc_root)
    yield _case("nc_root_inside", "name_constraints", [nc_root], [leaf(inter), inter])
    outside = leaf(inter, dns=("www.other.test",))
    yield _case(
        "nc_root_outside", "name_constraints", [nc_root], [outside, inter], host="www.other.test"
    )


def path_lengths() -> Iterator[Case]:
    for root_len in (0, 1, 2):
        root = make(f"PL Root {root_len}", None, path_length=root_len)
        parent = root
        chain: list[Node] = []
        for depth in range(3):
            parent = make(f"PL {root_len} CA {depth}", parent)
            chain.insert(0, parent)
            yield _case(
                f"pathlen_root{root_len}_intermediates{depth + 1}",
                "path_length",
                [root],
                [leaf(parent), *chain],
            )
    # Self-issued certificates (a CA re-keying under its own name) do not count.
    root = make("PL SI Root", None, path_length=1)
    inter = make("PL SI CA", root)
    rekey = make("PL SI CA", inter, subject=inter.subject)  # self-issued, new key
    yield _case("pathlen_self_issued_rekey", "path_length", [root], [leaf(rekey), rekey, inter])
    inter0 = make("PL SI CA0", root, path_length=0)
    rekey0 = make("PL SI CA0", inter0, subject=inter0.subject)
    yield _case(
        "pathlen_zero_then_self_issued", "path_length", [root], [leaf(rekey0), rekey0, inter0]
    )
    below0 = make("PL Below Zero", rekey0)
    yield _case(
        "pathlen_zero_self_issued_then_ca",
        "path_length",
        [root],
        [leaf(below0), below0, rekey0, inter0],
    )
    inter_len0 = make("PL Int Zero", root, path_length=0)
    sub = make("PL Sub Of Zero", inter_len0)
    yield _case(
        "pathlen_intermediate_zero_violated", "path_length", [root], [leaf(sub), sub, inter_len0]
    )
    yield _case(
        "pathlen_intermediate_zero_ok", "path_length", [root], [leaf(inter_len0), inter_len0]
    )


def loops() -> Iterator[Case]:
    key_a = ec.generate_private_key(ec.SECP256R1())
    key_b = ec.generate_private_key(ec.SECP256R1())
    seed = make("Loop A", None, key=key_a)
    b_by_a = make("Loop B", seed, key=key_b)
    a_by_b = make("Loop A", b_by_a, key=key_a)
    good = leaf(a_by_b)
    yield _case("loop_untrusted", "loop", [make("Unrelated Root", None)], [good, a_by_b, b_by_a])
    yield _case("loop_a_trusted_self_signed", "loop", [seed], [good, a_by_b, b_by_a])
    root = make("Loop Real Root", None)
    a_by_root = make("Loop A", root, key=key_a)
    yield _case("loop_with_exit", "loop", [root], [good, a_by_b, b_by_a, a_by_root])
    yield _case("loop_exit_first", "loop", [root], [good, a_by_root, a_by_b, b_by_a])
    key_c = ec.generate_private_key(ec.SECP256R1())
    c_by_b = make("Loop C", b_by_a, key=key_c)
    b_by_c = make("Loop B", c_by_b, key=key_b)
    leaf_c = leaf(c_by_b)
    yield _case("loop_three_untrusted", "loop", [root], [leaf_c, c_by_b, b_by_c])


def critical_extensions() -> Iterator[Case]:
    root = make("Crit Root", None)
    unknown = x509.UnrecognizedExtension(UNKNOWN_OID, b"\x05\x00")
    aia = x509.AuthorityInformationAccess(
        [
            x509.AccessDescription(
                x509.oid.AuthorityInformationAccessOID.CA_ISSUERS,
                x509.UniformResourceIdentifier("http://127.0.0.1/ca.der"),
            )
        ]
    )
    crldp = x509.CRLDistributionPoints(
        [
            x509.DistributionPoint(
                [x509.UniformResourceIdentifier("http://127.0.0.1/c.crl")], None, None, None
            )
        ]
    )
    policies = x509.CertificatePolicies(
        [x509.PolicyInformation(ObjectIdentifier("2.23.140.1.2.1"), None)]
    )
    variants: list[tuple[str, dict[str, object]]] = [
        ("unknown_noncritical", {"extra": [(unknown, False)]}),
        ("unknown_critical", {"extra": [(unknown, True)]}),
        ("aia_critical", {"extra": [(aia, True)]}),
        ("aki_critical", {"aki_critical": True}),
        ("crldp_critical", {"extra": [(crldp, True)]}),
        ("policies_critical", {"extra": [(policies, True)]}),
    ]
    for name, args in variants:
        inter = make(f"Crit CA {name}", root)
        yield _case(f"crit_leaf_{name}", "critical_extension", [root], [leaf(inter, **args), inter])  # type: ignore[arg-type]
        bad_inter = make(f"Crit CA2 {name}", root, **args)  # type: ignore[arg-type]
        yield _case(
            f"crit_intermediate_{name}", "critical_extension", [root], [leaf(bad_inter), bad_inter]
        )


def long_chains() -> Iterator[Case]:
    root = make("Long Root", None)
    parent = root
    chain: list[Node] = []
    for depth in range(1, 11):
        parent = make(f"Long CA {depth}", parent)
        chain.insert(0, parent)
        if depth in (1, 2, 4, 6, 8, 9, 10):
            yield _case(f"long_{depth}_intermediates", "long_chain", [root], [leaf(parent), *chain])
    yield _case("long_10_middle_missing", "missing", [root], [leaf(parent), *chain[:4], *chain[5:]])
    yield _case("long_10_reversed", "long_chain", [root], [leaf(parent), *reversed(chain)])


def missing_and_private() -> Iterator[Case]:
    for org in ("Corp Internal", "Example Inc", "Acme Lab"):
        root = make(f"{org} Root CA", None, org=org)
        inter = make(f"{org} Issuing CA 1", root, org=org)
        good = leaf(inter)
        yield _case(f"private_{org}_full", "private_root", [root], [good, inter])
        yield _case(f"private_{org}_leaf_only", "missing", [root], [good])
        yield _case(
            f"private_{org}_other_store", "private_root", [make("Stranger", None)], [good, inter]
        )
        deep = make(f"{org} Issuing CA 2", inter, org=org)
        yield _case(f"private_{org}_middle_missing", "missing", [root], [leaf(deep), deep])


def profiles() -> Iterator[Case]:
    """Leaf and CA profiles at the edge of what validators accept."""
    root = make("Profile Root", None)
    inter = make("Profile CA", root)
    any_eku = ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE
    yield _case("leaf_any_eku", "eku", [root], [leaf(inter, eku=(any_eku,)), inter])
    any_inter = make("Profile Any EKU CA", root, eku=(any_eku,))
    yield _case("intermediate_any_eku", "eku", [root], [leaf(any_inter), any_inter])
    agreement = x509.KeyUsage(False, False, False, False, True, False, False, False, False)
    yield _case(
        "leaf_key_agreement_only", "basic", [root], [leaf(inter, key_usage=agreement), inter]
    )
    cert_sign = x509.KeyUsage(False, False, False, False, False, True, False, False, False)
    yield _case("leaf_cert_sign_only", "basic", [root], [leaf(inter, key_usage=cert_sign), inter])
    ca_leaf = make(HOST, inter, ca=True, dns=(HOST,), eku=(SERVER_AUTH,))
    yield _case("leaf_is_ca", "basic", [root], [ca_leaf, inter])
    cn_only = make(HOST, inter, ca=False, eku=(SERVER_AUTH,))
    yield _case("leaf_cn_only", "names", [root], [cn_only, inter])
    no_bc = make("Profile No BC CA", root, basic_constraints="absent")
    yield _case("intermediate_without_basic_constraints", "basic", [root], [leaf(no_bc), no_bc])
    soft_bc = make("Profile Soft BC CA", root, basic_constraints="non-critical")
    yield _case("intermediate_bc_not_critical", "basic", [root], [leaf(soft_bc), soft_bc])
    no_bc_leaf = make(
        HOST, inter, ca=False, dns=(HOST,), eku=(SERVER_AUTH,), basic_constraints="absent"
    )
    yield _case("leaf_without_basic_constraints", "basic", [root], [no_bc_leaf, inter])
    upper = leaf(inter, dns=("WWW.Example.TEST",))
    yield _case("san_upper_case", "names", [root], [upper, inter])
    idn = leaf(inter, dns=("xn--bcher-kva.example.test",))
    yield _case("san_idn_a_label", "names", [root], [idn, inter], host="xn--bcher-kva.example.test")
    expired_root = make(
        "Profile Expired Root", None, not_before=NOW - 900 * DAY, not_after=NOW - DAY
    )
    under = make("Profile Under Expired", expired_root, not_before=NOW - 800 * DAY)
    yield _case("trusted_root_expired", "validity", [expired_root], [leaf(under), under])


GENERATORS: tuple[Callable[[], Iterator[Case]], ...] = (
    basic,
    profiles,
    cross_signs,
    stale_intermediates,
    name_constraints,
    path_lengths,
    loops,
    critical_extensions,
    long_chains,
    missing_and_private,
)


def all_cases() -> list[Case]:
    cases = [case for generate in GENERATORS for case in generate()]
    names = [case.name for case in cases]
    assert len(names) == len(set(names)), "case names must be unique"
    return cases
