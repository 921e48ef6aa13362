"""Certificate signing requests: which names to ask for, a new key, the CSR itself.

The names rule is the name-mismatch lesson: people type ``example.com`` and visitors type
``www.example.com`` (or the other way round), so a request for one also asks for the
other unless ``exact``; which name is an apex is the public suffix list's answer
(``example.co.uk`` is one, ``co.uk`` is no one's). A wildcard covers one label only:
``*.example.com`` does not cover ``example.com``, which is added for the same reason.

Names are refused the way CAs refuse them (Let's Encrypt's Boulder policy): a last label of
digits (``10.0.0.256``, ``1.2.3`` are neither addresses nor names), an A-label that is
not IDNA 2008 (``xn--zz``), a reserved ``ab--`` label, a public suffix, a wildcard over a
public suffix. A common name longer than 64 characters (X.509's limit) is left out of
the subject: the SAN carries the name, the subject is empty and the SAN critical.
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
from tlsdoctor.certs.publicsuffix import is_public_suffix, registrable_domain
from tlsdoctor.errors import InputError

MAX_COMMON_NAME = 64  # ub-common-name, RFC 5280 appendix A


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


def key_type_of(key: PrivateKey) -> KeyType | None:
    """The :class:`KeyType` ``key`` is (None: a size or curve tlsdoctor does not make)."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        curves = {"secp256r1": KeyType.EC_P256, "secp384r1": KeyType.EC_P384}
        return curves.get(key.curve.name)
    return next((k for k in KeyType if k.value == f"rsa-{key.key_size}"), None)


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

    @property
    def subject(self) -> x509.Name:
        """CN = the first DNS name when it fits in 64 characters, else an empty subject
        (an IP address in the CN is checked as a DNS name by OpenSSL and GnuTLS)."""
        if not self.dns or len(self.common_name) > MAX_COMMON_NAME:
            return x509.Name([])
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self.common_name)])


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
        if host.ip is not None and not wildcard:
            if host.ip not in ips:
                ips.append(host.ip)
            continue
        _refuse_non_name(typed, host.ascii or str(host.ip))
        if wildcard and (host.ascii.count(".") < 1 or is_public_suffix(host.ascii)):
            raise InputError(
                f"'{typed}': a wildcard needs a registered domain under it (*.example.com, "
                "*.example.co.uk), not a top-level domain or public suffix"
            )
        if "." in host.ascii and is_public_suffix(host.ascii, icann_only=True):
            raise InputError(
                f"'{typed}' is a public suffix, under which anyone registers: no CA issues "
                "for it (did you mean a domain under it?)"
            )
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


def _refuse_non_name(typed: str, name: str) -> None:
    labels = name.split(".")
    if labels[-1].isdigit():
        raise InputError(
            f"'{typed}' is neither an IP address nor a host name (a name never ends in a "
            "label of digits)"
        )
    for label in labels:
        if label[2:4] != "--":
            continue
        if not label.startswith("xn--"):
            raise InputError(f"'{typed}': the label '{label}' has '--' where only IDNs may")
        if not _valid_a_label(label):
            raise InputError(f"'{typed}': '{label}' is not a valid IDN A-label (IDNA 2008)")


def _valid_a_label(label: str) -> bool:
    import idna

    try:
        return bool(idna.encode(idna.decode(label)).decode("ascii") == label)
    except (idna.IDNAError, UnicodeError):
        return False


def _partners(name: str) -> list[tuple[str, str]]:
    if name.startswith("*."):
        base = name[2:]
        return [(base, f"{name} covers one label below {base}, not {base} itself")]
    if name.startswith("www."):
        apex = name[4:]
        if registrable_domain(apex) == apex:
            return [(apex, f"visitors also type {apex} without www")]
        return []
    if "." in name and registrable_domain(name) == name:  # example.com, example.co.uk
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
        subject = names.subject
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(subject)
        .add_extension(x509.SubjectAlternativeName(alternative), critical=len(subject.rdns) == 0)
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
