"""Certificate signing requests: which names to ask for, a new key, the CSR itself.

The names rule is the name-mismatch lesson: people type ``example.com`` and visitors type
``www.example.com`` (or the other way round), so a request for one also asks for the
other unless ``exact``. A wildcard covers one label only: ``*.example.com`` does not cover
``example.com``, which is added for the same reason.
"""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from tlsdoctor.analysis.names import parse_host
from tlsdoctor.certs.build import PrivateKey
from tlsdoctor.errors import InputError


class KeyType(str, enum.Enum):
    EC_P256 = "ec-p256"  # the default: small, fast, accepted by every client in use
    EC_P384 = "ec-p384"
    RSA_2048 = "rsa-2048"
    RSA_3072 = "rsa-3072"
    RSA_4096 = "rsa-4096"

    def __str__(self) -> str:
        return self.value


def new_key(kind: KeyType = KeyType.EC_P256) -> PrivateKey:
    if kind is KeyType.EC_P256:
        return ec.generate_private_key(ec.SECP256R1())
    if kind is KeyType.EC_P384:
        return ec.generate_private_key(ec.SECP384R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=int(kind.value[4:]))


@dataclass(frozen=True)
class RequestedNames:
    """What a CSR asks for: DNS names (A-labels), IP addresses, and why names were added."""

    dns: tuple[str, ...]
    ips: tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ...]
    added: tuple[tuple[str, str], ...]  # (name, why) for each name the user did not type

    @property
    def common_name(self) -> str:
        """The first name typed: the CN is only a label (clients match the SANs)."""
        return self.dns[0] if self.dns else str(self.ips[0])


def requested_names(names: Sequence[str], *, exact: bool = False) -> RequestedNames:
    """The names to request for ``names`` as typed (Unicode, upper case, trailing dots and
    wildcards allowed); raises :class:`InputError` for anything that is not a name."""
    if not names:
        raise InputError("give at least one name (example.com, www.example.com, 10.0.0.5)")
    dns: list[str] = []
    ips: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = []
    added: list[tuple[str, str]] = []
    for typed in names:
        wildcard = typed.strip().startswith("*.")
        host = parse_host(typed.strip()[2:] if wildcard else typed)
        if host.ip is not None:
            if host.ip not in ips:
                ips.append(host.ip)
            continue
        if wildcard and host.ascii.count(".") < 1:
            raise InputError(f"'{typed}': a wildcard needs a domain under it (*.example.com)")
        name = f"*.{host.ascii}" if wildcard else host.ascii
        if name not in dns:
            dns.append(name)
    if not exact:
        for name in list(dns):
            for partner, why in _partners(name):
                if partner not in dns:
                    dns.append(partner)
                    added.append((partner, why))
    if len(dns) + len(ips) > 100:
        raise InputError(
            f"{len(dns) + len(ips)} names: public CAs accept at most 100 per certificate"
        )
    return RequestedNames(tuple(dns), tuple(ips), tuple(added))


def _partners(name: str) -> list[tuple[str, str]]:
    if name.startswith("*."):
        base = name[2:]
        return [(base, f"{name} covers one label below {base}, not {base} itself")]
    if name.startswith("www."):
        apex = name[4:]
        return [(apex, f"visitors also type {apex} without www")] if "." in apex else []
    if name.count(".") == 1:  # an apex: example.com, not mail.example.com
        return [(f"www.{name}", f"visitors also type www.{name}")]
    return []


def build_csr(
    names: RequestedNames, key: PrivateKey, subject: x509.Name | None = None
) -> x509.CertificateSigningRequest:
    """A CSR for ``names`` signed by ``key`` (SHA-256); ``subject`` defaults to CN only,
    which is all a DV certificate keeps."""
    alternative: list[x509.GeneralName] = [x509.DNSName(name) for name in names.dns]
    alternative += [x509.IPAddress(ip) for ip in names.ips]
    if subject is None:
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names.common_name[:64])])
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(subject)
        .add_extension(x509.SubjectAlternativeName(alternative), critical=False)
        .sign(key, hashes.SHA256())
    )


def names_of(certificate: x509.Certificate) -> list[str]:
    """The names a deployed certificate covers (its SANs; its CN when it has none), to
    renew it with the same names."""
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        common = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return [str(common[0].value)] if common else []
    return [*san.get_values_for_type(x509.DNSName)] + [
        str(ip) for ip in san.get_values_for_type(x509.IPAddress)
    ]
