"""A local CA for internal networks and development, done carefully.

The root is name-constrained to the names its owner gives (RFC 5280 section 4.2.1.10), so
its key, once copied off a laptop, cannot sign for the internet: clients that enforce
name constraints (OpenSSL, GnuTLS, NSS, Go, Java, Chromium) refuse anything outside. Its
leaves are short-lived and carry what clients require: a SAN, the serverAuth EKU, and
key identifiers that link them to the root.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tlsdoctor.analysis.names import parse_host
from tlsdoctor.analysis.trust import LOCAL_CA_ORGANIZATION
from tlsdoctor.certs.build import PrivateKey, build_certificate
from tlsdoctor.certs.csr import RequestedNames
from tlsdoctor.errors import InputError

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

CA_DAYS = 3650
LEAF_DAYS = 90  # short: a leaked leaf key is useful for weeks, not years
MAX_LEAF_DAYS = 397  # what browsers accept for any leaf (CA/B Forum), local roots too for Safari
BACKDATE = dt.timedelta(hours=1)  # clients whose clock is a little behind still accept


@dataclass(frozen=True)
class Permitted:
    """The names a local CA may sign for: DNS subtrees and IP networks."""

    dns: tuple[str, ...]
    networks: tuple[IpNetwork, ...]

    def allows(self, names: RequestedNames) -> list[str]:
        """The names of ``names`` outside these subtrees (empty: all allowed)."""
        outside = [
            name
            for name in names.dns
            if not any(_in_subtree(name, subtree) for subtree in self.dns)
        ]
        outside += [
            str(ip)
            for ip in names.ips
            if not any(ip.version == net.version and ip in net for net in self.networks)
        ]
        return outside


def permitted(values: Sequence[str]) -> Permitted:
    """``acme.test``, ``.acme.test``, ``10.0.0.0/8``, ``fd00::/8``, ``192.168.1.10``."""
    dns: list[str] = []
    networks: list[IpNetwork] = []
    for value in values:
        text = value.strip()
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
            continue
        except ValueError:
            pass
        host = parse_host(text.lstrip("."))
        if host.is_ip or "." not in host.ascii:
            raise InputError(
                f"'{value}': permit a domain you control (acme.test, corp.example.com), "
                "not a top-level domain"
            )
        dns.append(host.ascii)
    if not dns and not networks:
        raise InputError(
            "give the names this CA may sign for (--permit acme.test --permit 10.0.0.0/8): "
            "a constrained root cannot be abused for other sites if its key leaks"
        )
    return Permitted(tuple(dns), tuple(networks))


def _in_subtree(name: str, subtree: str) -> bool:
    base = name[2:] if name.startswith("*.") else name
    return base == subtree or base.endswith("." + subtree)


def _hash_for(key: PrivateKey) -> hashes.SHA256 | hashes.SHA384:
    return hashes.SHA256() if isinstance(key, rsa.RSAPrivateKey) else hashes.SHA384()


def new_ca(
    name: str, allowed: Permitted, key: PrivateKey, *, now: dt.datetime, days: int = CA_DAYS
) -> x509.Certificate:
    """A self-signed, name-constrained root that may sign leaves only (pathlen 0)."""
    if not name.strip():
        raise InputError("the CA needs a name (--name 'Acme Internal CA')")
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, name.strip()[:64]),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, LOCAL_CA_ORGANIZATION),
        ]
    )
    return build_certificate(
        subject=subject,
        key=key,
        issuer_name=None,
        issuer_key=None,
        not_before=now - BACKDATE,
        not_after=now + dt.timedelta(days=days),
        ca=True,
        path_length=0,
        permitted_dns=allowed.dns,
        permitted_networks=allowed.networks,
        hash_algorithm=_hash_for(key),
    )


def issue(
    ca: x509.Certificate,
    ca_key: PrivateKey,
    names: RequestedNames,
    key: PrivateKey,
    *,
    now: dt.datetime,
    days: int = LEAF_DAYS,
) -> x509.Certificate:
    """A server certificate for ``names`` from the local CA ``ca``; refuses names outside
    the CA's constraints (clients would refuse the certificate) and over-long lifetimes."""
    if not 1 <= days <= MAX_LEAF_DAYS:
        raise InputError(f"--days {days}: between 1 and {MAX_LEAF_DAYS} (clients refuse longer)")
    if ca.public_key() != ca_key.public_key():
        raise InputError("the CA key does not belong to the CA certificate")
    constraints = ca_permits(ca)
    outside = constraints.allows(names) if constraints is not None else []
    if outside:
        raise InputError(
            f"{', '.join(outside)}: outside what '{ca.subject.rfc4514_string()}' may sign for "
            "(its name constraints); clients would refuse the certificate"
        )
    if now + dt.timedelta(days=days) > ca.not_valid_after_utc:
        raise InputError("the CA expires before this certificate would: renew the CA first")
    return build_certificate(
        subject=x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names.common_name)]),
        key=key,
        issuer_name=ca.subject,
        issuer_key=ca_key,
        not_before=now - BACKDATE,
        not_after=now + dt.timedelta(days=days),
        ca=False,
        dns=names.dns,
        ips=[str(ip) for ip in names.ips],
        eku=[ExtendedKeyUsageOID.SERVER_AUTH],
        hash_algorithm=_hash_for(ca_key),
    )


def ca_permits(ca: x509.Certificate) -> Permitted | None:
    """What ``ca``'s name constraints permit (None: it has none)."""
    try:
        value = ca.extensions.get_extension_for_class(x509.NameConstraints).value
    except x509.ExtensionNotFound:
        return None
    subtrees = value.permitted_subtrees or []
    return Permitted(
        tuple(str(s.value).lstrip(".") for s in subtrees if isinstance(s, x509.DNSName)),
        tuple(
            s.value
            for s in subtrees
            if isinstance(s, x509.IPAddress)
            and isinstance(s.value, (ipaddress.IPv4Network, ipaddress.IPv6Network))
        ),
    )
