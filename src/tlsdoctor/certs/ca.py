"""A local CA for internal networks and development, done carefully.

The root is name-constrained to the names its owner gives (certs/constraints.py: every
other name type is shut), so its key, once copied off a laptop, cannot sign for the
internet: clients that enforce name constraints (OpenSSL, GnuTLS, NSS, Go, Java,
Chromium) refuse anything outside. A two-level CA keeps the root's key offline and signs
with an intermediate under the same constraints. Its leaves are short-lived and carry
what clients require: a SAN, the serverAuth (or clientAuth) EKU, and key identifiers.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tlsdoctor.analysis.trust import LOCAL_CA_ORGANIZATION
from tlsdoctor.certs.build import PrivateKey, PublicKey, build_certificate
from tlsdoctor.certs.constraints import IpAddress, Permitted, from_certificate
from tlsdoctor.certs.csr import RequestedNames
from tlsdoctor.errors import InputError

CA_DAYS = 3650
INTERMEDIATE_DAYS = 1825  # renewed with the root key, brought back online, every 5 years
LEAF_DAYS = 90  # short: a leaked leaf key is useful for weeks, not years
MAX_LEAF_DAYS = 397  # what browsers accept for any leaf (CA/B Forum), local roots too for Safari
BACKDATE = dt.timedelta(hours=1)  # clients whose clock is a little behind still accept
MAX_CN = 64  # ub-common-name (RFC 5280): a longer name is left out, the SAN carries it


@dataclass(frozen=True)
class LeafRequest:
    """What a leaf certifies: names for a server, or an identity for a client."""

    common_name: str | None
    dns: tuple[str, ...] = ()
    ips: tuple[IpAddress, ...] = ()
    emails: tuple[str, ...] = ()
    client: bool = False  # clientAuth instead of serverAuth

    @classmethod
    def server(cls, names: RequestedNames) -> LeafRequest:
        return cls(names.common_name, names.dns, names.ips)

    def names(self) -> list[str]:
        shown = [*self.dns, *map(str, self.ips), *self.emails]
        return shown or ([self.common_name] if self.common_name else [])


def client_identity(identity: str) -> LeafRequest:
    """``alice@acme.test`` (an e-mail SAN and CN) or ``alice`` / ``build agent`` (CN only):
    who a client certificate says its holder is."""
    text = identity.strip()
    if not text or len(text) > MAX_CN or not text.isprintable():
        raise InputError(
            f"'{identity[:80]}': a client identity is a name or e-mail address of 1 to "
            f"{MAX_CN} printable characters"
        )
    if "@" in text:
        local, _, domain = text.rpartition("@")
        from tlsdoctor.analysis.names import parse_host

        host = parse_host(domain)
        if not local or host.is_ip or not local.isascii() or " " in local:
            raise InputError(f"'{text}': not an e-mail address (name@domain)")
        address = f"{local}@{host.ascii}"
        return LeafRequest(address, emails=(address,), client=True)
    return LeafRequest(text, client=True)


def _hash_for(key: PrivateKey) -> hashes.SHA256 | hashes.SHA384:
    return hashes.SHA256() if isinstance(key, rsa.RSAPrivateKey) else hashes.SHA384()


def _ca_subject(common_name: str, allowed: Permitted) -> x509.Name:
    if allowed.directory is not None:
        # Below the subject constraint too: the root itself is exempt, an intermediate not.
        return x509.Name(
            [*allowed.directory, x509.NameAttribute(NameOID.COMMON_NAME, common_name[:MAX_CN])]
        )
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name[:MAX_CN]),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, LOCAL_CA_ORGANIZATION),
        ]
    )


def new_ca(
    name: str,
    allowed: Permitted,
    key: PrivateKey,
    *,
    now: dt.datetime,
    days: int = CA_DAYS,
    path_length: int = 0,
) -> x509.Certificate:
    """A self-signed, name-constrained root; ``path_length`` 0 signs leaves only, 1 one
    intermediate (a two-level CA)."""
    if not name.strip():
        raise InputError("the CA needs a name (--name 'Acme Internal CA')")
    return build_certificate(
        subject=_ca_subject(name.strip(), allowed),
        key=key,
        issuer_name=None,
        issuer_key=None,
        not_before=now - BACKDATE,
        not_after=now + dt.timedelta(days=days),
        ca=True,
        path_length=path_length,
        name_constraints=allowed.extension(),
        hash_algorithm=_hash_for(key),
    )


def new_intermediate(
    root: x509.Certificate,
    root_key: PrivateKey,
    key: PrivateKey,
    *,
    now: dt.datetime,
    days: int = INTERMEDIATE_DAYS,
) -> x509.Certificate:
    """The signing CA of a two-level CA: under the root's constraints and repeating them
    (a client that walks only part of the path still sees them), leaves only."""
    allowed = _constraints_of(root)
    if root.public_key() != root_key.public_key():
        raise InputError("the root key does not belong to the root certificate")
    root_name = root.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    root_common = str(root_name[0].value) if root_name else LOCAL_CA_ORGANIZATION
    common = f"{root_common} Intermediate"
    not_after = min(now + dt.timedelta(days=days), root.not_valid_after_utc)
    return build_certificate(
        subject=_ca_subject(str(common), allowed),
        key=key,
        issuer_name=root.subject,
        issuer_key=root_key,
        not_before=now - BACKDATE,
        not_after=not_after,
        ca=True,
        path_length=0,
        name_constraints=allowed.extension(),
        hash_algorithm=_hash_for(root_key),
    )


def _constraints_of(ca: x509.Certificate) -> Permitted:
    allowed = from_certificate(ca)
    if allowed is None:
        raise InputError(
            f"'{ca.subject.rfc4514_string()}' has no name constraints: tlsdoctor signs only "
            "with a constrained CA (make one with tlsdoctor cert ca init)"
        )
    return allowed


def issue(
    signer: x509.Certificate,
    signer_key: PrivateKey,
    request: LeafRequest,
    public_key: PublicKey,
    *,
    now: dt.datetime,
    days: int = LEAF_DAYS,
) -> x509.Certificate:
    """A leaf for ``request`` from the local CA ``signer`` (its root or intermediate);
    refuses names outside the CA's constraints (clients would refuse the certificate)
    and over-long lifetimes."""
    if not 1 <= days <= MAX_LEAF_DAYS:
        raise InputError(f"--days {days}: between 1 and {MAX_LEAF_DAYS} (clients refuse longer)")
    if signer.public_key() != signer_key.public_key():
        raise InputError("the CA key does not belong to the CA certificate")
    allowed = _constraints_of(signer)
    # No CN on a server leaf without a DNS name: OpenSSL and GnuTLS check a CN such as
    # "10.1.2.3" against the CA's DNS constraints and refuse it (tried here); the IP SAN
    # is what clients match.
    named = request.client or bool(request.dns)
    common = (
        request.common_name
        if named and request.common_name and len(request.common_name) <= MAX_CN
        else None
    )
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common)] if common else []
    subject = x509.Name([*(allowed.directory or []), *attributes])
    if not request.names() or not (attributes or request.dns or request.ips or request.emails):
        raise InputError("a certificate needs at least one name")
    outside = allowed.outside(request.dns, request.ips, request.emails, subject)
    if outside:
        raise InputError(
            f"{', '.join(outside)}: outside what '{signer.subject.rfc4514_string()}' may "
            "sign for (its name constraints); clients would refuse the certificate"
        )
    if now + dt.timedelta(days=days) > signer.not_valid_after_utc:
        raise InputError("the CA expires before this certificate would: renew the CA first")
    return build_certificate(
        subject=subject,
        key=signer_key,
        public_key=public_key,
        issuer_name=signer.subject,
        issuer_key=signer_key,
        not_before=now - BACKDATE,
        not_after=now + dt.timedelta(days=days),
        ca=False,
        dns=request.dns,
        ips=[str(ip) for ip in request.ips],
        emails=request.emails,
        eku=[
            ExtendedKeyUsageOID.CLIENT_AUTH if request.client else ExtendedKeyUsageOID.SERVER_AUTH
        ],
        hash_algorithm=_hash_for(signer_key),
    )
