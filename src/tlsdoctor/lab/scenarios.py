"""The lab's catalogue: one scenario per failure, with the diagnosis it must produce.

A scenario says what its port serves (the chain, in the order sent, and how the server
speaks) and which finding codes a correct diagnosis reports for it when the client trusts
the lab root. Names are stable ids: the CLI, the integration tests and users' scripts
key on them.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from cryptography import x509

from tlsdoctor.certs.build import PrivateKey
from tlsdoctor.codes import FindingCode
from tlsdoctor.lab.pki import DAY, LabPki, rsa_key

DOMAIN = "lab.tlsdoctor.test"
# Where the plain-HTTP port publishes the lab intermediate (the missing-intermediate
# leaf's AIA caIssuers URL points here, as public CAs' leaves point at their web site).
INTERMEDIATE_PATH = "/intermediate.der"
# Where it publishes the lab Issuing CA's CRL and runs its OCSP responder (revocation.py):
# the good and revoked leaves point here (cRLDistributionPoints, authorityInfoAccess OCSP).
CRL_PATH = "/issuing.crl"
OCSP_PATH = "/ocsp"


class Server(enum.Enum):
    """How an endpoint's port speaks."""

    TLS = "tls"  # Python's default server settings: TLS 1.2 and 1.3
    # The same, at OpenSSL security level 0: at Python's level 2 OpenSSL refuses to load
    # a certificate with an RSA-1024 key or a SHA-1 signature at all.
    LEGACY_TLS = "legacy-tls"
    TLS1_0_ONLY = "tls1.0-only"
    CLIENT_CERT = "client-cert"  # TLS that demands a certificate from the lab client CA
    PLAIN_HTTP = "plain-http"


@dataclass(frozen=True)
class Served:
    """What a TLS port sends: the chain in the order sent (leaf first) and the leaf's key."""

    chain: tuple[x509.Certificate, ...]
    key: PrivateKey


Builder = Callable[[LabPki, str], Served]


@dataclass(frozen=True)
class Scenario:
    """One endpoint of the lab, before it has a port."""

    name: str
    expect: tuple[FindingCode, ...]  # primary first; () for a healthy endpoint
    description: str
    build: Builder | None  # None: the port does not speak TLS
    server: Server = Server.TLS
    label: str | None = None  # the host name's first labels, when not the name itself

    @property
    def host(self) -> str:
        return f"{self.label or self.name}.{DOMAIN}"


def _good(pki: LabPki, host: str) -> Served:
    leaf = pki.leaf(pki.intermediate, [host], crl_url=pki.crl_url, ocsp_url=pki.ocsp_url)
    return Served((leaf.cert, pki.intermediate.cert), leaf.key)


def _revoked(pki: LabPki, host: str) -> Served:
    leaf = pki.leaf(pki.intermediate, [host], crl_url=pki.crl_url, ocsp_url=pki.ocsp_url)
    pki.revoke(leaf.cert, x509.ReasonFlags.key_compromise)
    return Served((leaf.cert, pki.intermediate.cert), leaf.key)


def _dated(days_from: int, days_to: int) -> Builder:
    def build(pki: LabPki, host: str) -> Served:
        leaf = pki.leaf(
            pki.intermediate,
            [host],
            not_before=pki.now + days_from * DAY,
            not_after=pki.now + days_to * DAY,
        )
        return Served((leaf.cert, pki.intermediate.cert), leaf.key)

    return build


def _named(names: Callable[[str], list[str]], san: bool = True) -> Builder:
    def build(pki: LabPki, host: str) -> Served:
        leaf = pki.leaf(pki.intermediate, names(host), san=san)
        return Served((leaf.cert, pki.intermediate.cert), leaf.key)

    return build


def _self_signed(pki: LabPki, host: str) -> Served:
    leaf = pki.self_signed(host)
    return Served((leaf.cert,), leaf.key)


def _untrusted_root(pki: LabPki, host: str) -> Served:
    leaf = pki.leaf(pki.untrusted_intermediate, [host])
    chain = (leaf.cert, pki.untrusted_intermediate.cert, pki.untrusted_root.cert)
    return Served(chain, leaf.key)


def _missing_intermediate(pki: LabPki, host: str) -> Served:
    leaf = pki.leaf(pki.intermediate, [host], aia_url=pki.aia_url)
    return Served((leaf.cert,), leaf.key)


def _chain_order(pki: LabPki, host: str) -> Served:
    leaf = pki.leaf(pki.issuing_ca_2, [host])
    # Issuing order is leaf, Issuing CA 2, Policy CA: the two intermediates are swapped.
    return Served((leaf.cert, pki.policy_ca.cert, pki.issuing_ca_2.cert), leaf.key)


def _sha1(pki: LabPki, host: str) -> Served:
    leaf = pki.resign_sha1(pki.leaf(pki.intermediate, [host]), pki.intermediate)
    return Served((leaf.cert, pki.intermediate.cert), leaf.key)


def _rsa_1024(pki: LabPki, host: str) -> Served:
    leaf = pki.leaf(pki.intermediate, [host], key=rsa_key(1024))
    return Served((leaf.cert, pki.intermediate.cert), leaf.key)


def _known_bad_root(pki: LabPki, host: str) -> Served:
    # Only the leaf is sent, as the Superfish proxy did: its root sat in the machine's
    # store. The diagnosis recognises the root by the leaf's signature.
    leaf = pki.leaf(pki.superfish, [host])
    return Served((leaf.cert,), leaf.key)


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "good",
        (),
        "A valid chain (leaf and intermediate) from the lab root, not revoked according to "
        "the lab's CRL and OCSP responder: a client that trusts the lab CA file connects.",
        _good,
    ),
    Scenario(
        "expired",
        (FindingCode.EXPIRED,),
        "The leaf certificate expired 30 days ago.",
        _dated(-120, -30),
    ),
    Scenario(
        "not-yet-valid",
        (FindingCode.NOT_YET_VALID,),
        "The leaf certificate becomes valid only in 30 days.",
        _dated(30, 120),
    ),
    Scenario(
        "expiring-soon",
        (FindingCode.EXPIRING_SOON,),
        "The leaf certificate, of 90 days' lifetime, expires in 5 days: trusted, with a warning.",
        _dated(-85, 5),
    ),
    Scenario(
        "wrong-host",
        (FindingCode.HOSTNAME_MISMATCH,),
        f"The certificate is for other.{DOMAIN} only, not for the host asked for.",
        _named(lambda host: [f"other.{DOMAIN}"]),
    ),
    Scenario(
        "www-vs-apex",
        (FindingCode.HOSTNAME_MISMATCH,),
        "The certificate names only www. in front of the host asked for; the apex name "
        "itself is not covered.",
        _named(lambda host: [f"www.{host}"]),
    ),
    Scenario(
        "wildcard-depth",
        (FindingCode.HOSTNAME_MISMATCH,),
        f"The certificate's *.{DOMAIN} covers exactly one label, not the two in front of "
        f"{DOMAIN} in the host asked for.",
        _named(lambda host: [f"*.{DOMAIN}"]),
        label="a.wildcard-depth",
    ),
    Scenario(
        "cn-only",
        (FindingCode.HOSTNAME_MISMATCH,),
        "The host name is only in the subject CN, with no subjectAltName, which clients ignore.",
        _named(lambda host: [host], san=False),
    ),
    Scenario(
        "self-signed",
        (FindingCode.SELF_SIGNED,),
        "The server sends a certificate that signed itself, issued by no CA.",
        _self_signed,
    ),
    Scenario(
        "untrusted-root",
        (FindingCode.UNTRUSTED_ROOT,),
        "The server sends leaf, intermediate and root, and that root is not the lab CA a "
        "client trusts.",
        _untrusted_root,
    ),
    Scenario(
        "missing-intermediate",
        (FindingCode.MISSING_INTERMEDIATE,),
        "The server sends only its leaf; the intermediate that links it to the lab root is "
        "missing (downloadable from the leaf's AIA caIssuers URL).",
        _missing_intermediate,
    ),
    Scenario(
        "chain-order",
        (FindingCode.CHAIN_ORDER,),
        "The two intermediates are sent in reverse issuing order: trusted, with a "
        "chain-order warning.",
        _chain_order,
    ),
    Scenario(
        "sha1",
        (FindingCode.WEAK_SIGNATURE,),
        "The leaf certificate is signed with SHA-1, which current clients refuse.",
        _sha1,
        Server.LEGACY_TLS,
    ),
    Scenario(
        "rsa-1024",
        (FindingCode.WEAK_KEY,),
        "The leaf certificate has a 1024-bit RSA key, which current clients refuse.",
        _rsa_1024,
        Server.LEGACY_TLS,
    ),
    Scenario(
        "tls1.0-only",
        (FindingCode.PROTOCOL_MISMATCH,),
        "The server speaks only TLS 1.0, which current clients refuse to negotiate; its "
        "chain is valid.",
        _good,
        Server.TLS1_0_ONLY,
        label="tls1-0-only",
    ),
    Scenario(
        "client-cert-required",
        (FindingCode.CLIENT_CERT_REQUIRED,),
        "The server demands a client certificate and aborts the handshake without one; its "
        "chain is valid.",
        _good,
        Server.CLIENT_CERT,
    ),
    Scenario(
        "known-bad-root",
        (FindingCode.KNOWN_BAD_ROOT,),
        "The leaf is issued by the Superfish root, whose private key is public "
        "(CVE-2015-2077); only the leaf is sent.",
        _known_bad_root,
    ),
    Scenario(
        "plain-http",
        (FindingCode.NOT_TLS,),
        "The port speaks plain HTTP/1.1, not TLS.",
        None,
        Server.PLAIN_HTTP,
    ),
    # Last, so that every endpoint before it keeps its port under port_base.
    Scenario(
        "revoked",
        (FindingCode.REVOKED,),
        "The leaf certificate is revoked (keyCompromise) according to the lab's CRL and its "
        "OCSP responder; the chain is otherwise valid.",
        _revoked,
    ),
)

# What only a live handshake shows: the chains of these endpoints are healthy.
HANDSHAKE_CODES = frozenset(
    {FindingCode.PROTOCOL_MISMATCH, FindingCode.CLIENT_CERT_REQUIRED, FindingCode.NOT_TLS}
)
