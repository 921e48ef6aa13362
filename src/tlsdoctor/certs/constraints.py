"""The name constraints of a local CA: what it may sign for, and nothing else.

RFC 5280 section 4.2.1.10 constrains each name type separately: a CA that permits only
``10.0.0.0/8`` still may sign any DNS name, e-mail address or URI, and clients accept
them. So every type the owner did not ask for is shut too:

- DNS names: the excluded subtree ``""``, which matches every DNS name (OpenSSL's
  ``nc_dns`` and Go's ``matchDomainConstraint``: an empty constraint matches all);
- IP addresses: the excluded subtrees ``0.0.0.0/0`` and ``::/0`` (per version);
- e-mail addresses and URIs: an empty excluded subtree does not match in OpenSSL, so the
  permitted subtree is the reserved domain ``invalid`` (RFC 6761), which no real address
  or URI host lies in;
- directory names (the subject of every certificate below, and dirName SANs): permitted
  only under the CA's own ``O=..., OU=...`` when the owner asks for it
  (``subject_constraint``). Off by default: Go's crypto/x509 refuses every chain through a
  CA whose critical nameConstraints hold a directoryName ("x509: unhandled critical
  extension", checked here with Go 1.19), which would break Docker, kubectl, Terraform
  and every other Go client of the CA.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import NameOID

from tlsdoctor.analysis.names import parse_host
from tlsdoctor.certs.publicsuffix import is_public_suffix
from tlsdoctor.errors import InputError

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# The reserved top-level domain (RFC 6761 section 6.4) used as the only permitted e-mail
# and URI subtree of a CA not meant for them: no real name ends there.
NOWHERE = "invalid"

# Smallest prefixes a permit may have: a CA for "0.0.0.0/0" or "::/0" is unconstrained.
MIN_PREFIX = {4: 8, 6: 7}  # 10.0.0.0/8 and fc00::/7 (unique local) are the widest private
MIN_PUBLIC_PREFIX = {4: 16, 6: 32}  # a public range: at most what one organisation holds


@dataclass(frozen=True)
class Permitted:
    """What a local CA may sign for, per name type (an empty tuple: nothing of that type)."""

    dns: tuple[str, ...] = ()
    networks: tuple[IpNetwork, ...] = ()
    emails: tuple[str, ...] = ()  # domains (acme.test: mailboxes there and below) or mailboxes
    uris: tuple[str, ...] = ()  # hosts of URIs (acme.test and below)
    directory: x509.Name | None = None  # the subject prefix every certificate below carries

    def outside(
        self,
        dns: Sequence[str] = (),
        ips: Sequence[IpAddress] = (),
        emails: Sequence[str] = (),
        subject: x509.Name | None = None,
    ) -> list[str]:
        """The names of a certificate to be issued that these constraints forbid."""
        found = [name for name in dns if not any(_under(name, base) for base in self.dns)]
        found += [
            str(ip)
            for ip in ips
            if not any(ip.version == net.version and ip in net for net in self.networks)
        ]
        found += [address for address in emails if not _email_allowed(address, self.emails)]
        if (
            self.directory is not None
            and subject is not None
            and len(subject.rdns) > 0
            and list(subject.rdns[: len(self.directory.rdns)]) != list(self.directory.rdns)
        ):
            found.append(subject.rfc4514_string())
        return found

    def describe(self) -> list[str]:
        """One line per permit, as the owner would type it."""
        return [
            *self.dns,
            *map(str, self.networks),
            *(f"@{e}" if "@" not in e else e for e in self.emails),
            *(f"uri:{u}" for u in self.uris),
            *([f"subject {self.directory.rfc4514_string()}"] if self.directory else []),
        ]

    def extension(self) -> x509.NameConstraints:
        """The nameConstraints extension: these permits, and every other type shut."""
        permitted: list[x509.GeneralName] = [x509.DNSName(name) for name in self.dns]
        permitted += [x509.IPAddress(net) for net in self.networks]
        for value in self.emails or (NOWHERE,):
            permitted.append(x509.RFC822Name(value))
            if "@" not in value and value != NOWHERE:  # ".acme.test": below acme.test
                permitted.append(x509.RFC822Name("." + value))
        for host in self.uris or (NOWHERE,):
            below = () if host == NOWHERE else ("." + host,)
            permitted += [x509.UniformResourceIdentifier(h) for h in (host, *below)]
        if self.directory is not None:
            permitted.append(x509.DirectoryName(self.directory))
        excluded: list[x509.GeneralName] = []
        if not self.dns:
            excluded.append(x509.DNSName(""))  # matches every DNS name
        for version, everything in ((4, "0.0.0.0/0"), (6, "::/0")):
            if not any(net.version == version for net in self.networks):
                excluded.append(x509.IPAddress(ipaddress.ip_network(everything)))
        return x509.NameConstraints(permitted, excluded)


def parse_permits(values: Sequence[str], *, directory: x509.Name | None = None) -> Permitted:
    """``acme.test``, ``.acme.test``, ``10.0.0.0/8``, ``fd00::/8``, ``192.168.1.10``,
    ``@acme.test`` (e-mail addresses there), ``ops@acme.test``, ``uri:acme.test``."""
    dns: list[str] = []
    networks: list[IpNetwork] = []
    emails: list[str] = []
    uris: list[str] = []
    for value in values:
        text = value.strip()
        if text.lower().startswith("uri:"):
            uris.append(_domain(text[4:], value))
        elif text.lower().startswith("email:"):
            emails.append(_domain(text[6:].lstrip("@"), value))
        elif "@" in text:
            local, _, domain = text.rpartition("@")
            emails.append(f"{local}@{_domain(domain, value)}" if local else _domain(domain, value))
        elif (network := _network(text)) is not None:
            _refuse_absurd(network, value)
            networks.append(network)
        else:
            dns.append(_domain(text, value))
    if not (dns or networks or emails or uris):
        raise InputError(
            "give the names this CA may sign for (--permit acme.test --permit 10.0.0.0/8): "
            "a constrained root cannot be abused for other sites if its key leaks"
        )
    return Permitted(
        tuple(dict.fromkeys(dns)),
        tuple(dict.fromkeys(networks)),
        tuple(dict.fromkeys(emails)),
        tuple(dict.fromkeys(uris)),
        directory,
    )


def _network(text: str) -> IpNetwork | None:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def _refuse_absurd(network: IpNetwork, typed: str) -> None:
    smallest = MIN_PREFIX[network.version]
    if network.prefixlen < smallest:
        raise InputError(
            f"'{typed}': {network.num_addresses:.3g} addresses is no constraint at all; "
            f"permit your own networks (/{smallest} or longer: 10.0.0.0/8, 192.168.1.0/24)"
        )
    public = not (network.is_private or network.is_link_local or network.is_loopback)
    if public and network.prefixlen < MIN_PUBLIC_PREFIX[network.version]:
        raise InputError(
            f"'{typed}': public addresses far beyond one organisation's; permit the "
            f"networks you hold (/{MIN_PUBLIC_PREFIX[network.version]} or longer)"
        )


def _domain(text: str, typed: str) -> str:
    if "*" in text:
        raise InputError(f"'{typed}': give a domain (acme.test), without '*'")
    host = parse_host(text.strip().lstrip("."))
    if host.is_ip:
        raise InputError(f"'{typed}': give a domain (acme.test), without '*'")
    if is_public_suffix(host.ascii) or "." not in host.ascii:
        raise InputError(
            f"'{typed}': permit a domain you control (acme.test, corp.example.com), not a "
            "top-level domain or public suffix (co.uk, github.io) under which anyone registers"
        )
    return host.ascii


def _under(name: str, base: str) -> bool:
    name = name[2:] if name.startswith("*.") else name
    return name == base or name.endswith("." + base)


def _email_allowed(address: str, permits: Sequence[str]) -> bool:
    domain = address.rpartition("@")[2].lower()
    return any(
        address.lower() == permit.lower() if "@" in permit else _under(domain, permit)
        for permit in permits
    )


def from_certificate(ca: x509.Certificate) -> Permitted | None:
    """What ``ca``'s name constraints permit (None: it has none, it may sign anything)."""
    try:
        value = ca.extensions.get_extension_for_class(x509.NameConstraints).value
    except x509.ExtensionNotFound:
        return None
    subtrees = value.permitted_subtrees or []

    def hosts(kind: type[x509.RFC822Name] | type[x509.UniformResourceIdentifier]) -> list[str]:
        found = [str(s.value).lstrip(".") for s in subtrees if isinstance(s, kind)]
        return [h for h in dict.fromkeys(found) if h != NOWHERE]

    directory = next((s.value for s in subtrees if isinstance(s, x509.DirectoryName)), None)
    return Permitted(
        tuple(str(s.value).lstrip(".") for s in subtrees if isinstance(s, x509.DNSName)),
        tuple(
            s.value
            for s in subtrees
            if isinstance(s, x509.IPAddress)
            and isinstance(s.value, (ipaddress.IPv4Network, ipaddress.IPv6Network))
        ),
        tuple(hosts(x509.RFC822Name)),
        tuple(hosts(x509.UniformResourceIdentifier)),
        directory,
    )


def subject_prefix(ca_name: str, organization: str) -> x509.Name:
    """The directory-name subtree of a CA that constrains subjects: O=org, OU=CA name."""
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ca_name[:64]),
        ]
    )
