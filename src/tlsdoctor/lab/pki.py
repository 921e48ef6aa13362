"""The lab's certificate authority: every certificate the endpoints serve, made at start.

Keys are EC P-256 (fast to make) unless a scenario is about the key; dates are relative to
the real current time, so a lab started today serves certificates that are valid (or
expired, or not yet valid) today. Nothing here is persisted except by the caller.

``LabPki`` also keeps what a CA's database would: the serial of every certificate each CA
issued and the ones revoked, from which the revocation service answers (``revocation.py``).
"""

from __future__ import annotations

import datetime as dt
import functools
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tlsdoctor.certs.build import PrivateKey, build_certificate
from tlsdoctor.errors import TlsDoctorError

DAY = dt.timedelta(days=1)
LAB_ORG = "tlsdoctor lab"
# A leaf's default lifetime: 90 days, a day of it gone (well outside the warning window).
LEAF_BACKDATE = DAY
LEAF_LIFETIME = 90 * DAY
OPENSSL_TIMEOUT = 30.0
REVOKED_BEFORE_NOW = dt.timedelta(hours=1)


class LabError(TlsDoctorError):
    """The lab cannot start: a port is taken, the openssl command is missing, ..."""


@dataclass(frozen=True)
class Revocation:
    """A revoked certificate's entry: when, and why (RFC 5280 CRLReason)."""

    date: dt.datetime
    reason: x509.ReasonFlags


@dataclass(frozen=True)
class Issued:
    """A certificate and its private key."""

    cert: x509.Certificate
    key: PrivateKey

    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        return key_pem(self.key)


def key_pem(key: PrivateKey) -> bytes:
    """An unencrypted PKCS#8 PEM key, as servers load it."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def lab_name(cn: str | None, org: str | None = LAB_ORG) -> x509.Name:
    attributes = []
    if org is not None:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    if cn is not None:
        attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attributes)


class LabPki:
    """The lab's roots and intermediates, made once per start, and the leaves they issue.

    ``root`` is the one root a client trusts (``ca_file``); every other CA here is made on
    first use, so a lab pays only for what its scenarios need.
    """

    def __init__(self, now: dt.datetime, aia_url: str, crl_url: str, ocsp_url: str) -> None:
        self.now = now
        self.aia_url = aia_url  # where ``intermediate`` is published (caIssuers)
        self.crl_url = crl_url  # where ``intermediate``'s CRL is published
        self.ocsp_url = ocsp_url  # where ``intermediate``'s OCSP responder answers
        self._issued: list[tuple[Issued, int]] = []  # (issuer, serial) of every certificate
        self.revoked: dict[int, Revocation] = {}  # serial: entry, for ``intermediate`` only
        self.root = self.make_root("tlsdoctor lab Root CA")
        self.intermediate = self.issue_ca(self.root, "tlsdoctor lab Issuing CA")

    def issued_by(self, ca: Issued) -> frozenset[int]:
        """The serial numbers of every certificate ``ca`` has issued so far."""
        return frozenset(serial for issuer, serial in self._issued if issuer is ca)

    def revoke(self, cert: x509.Certificate, reason: x509.ReasonFlags) -> None:
        """Revoke ``cert`` (issued by ``intermediate``), as of an hour before ``now``."""
        if cert.serial_number not in self.issued_by(self.intermediate):
            raise LabError("only certificates of the lab Issuing CA can be revoked")
        self.revoked[cert.serial_number] = Revocation(self.now - REVOKED_BEFORE_NOW, reason)

    def _record(self, issuer: Issued, issued: Issued) -> Issued:
        self._issued.append((issuer, issued.cert.serial_number))
        return issued

    # CAs -------------------------------------------------------------------------------
    def make_root(self, cn: str, org: str = LAB_ORG) -> Issued:
        key = ec_key()
        return _build(
            subject=lab_name(cn, org),
            issuer=None,
            key=key,
            not_before=self.now - 5 * 365 * DAY,
            not_after=self.now + 10 * 365 * DAY,
            ca=True,
        )

    def issue_ca(self, issuer: Issued, cn: str, org: str = LAB_ORG) -> Issued:
        ca = _build(
            subject=lab_name(cn, org),
            issuer=issuer,
            key=ec_key(),
            not_before=self.now - 365 * DAY,
            not_after=self.now + 5 * 365 * DAY,
            ca=True,
        )
        return self._record(issuer, ca)

    @functools.cached_property
    def untrusted_root(self) -> Issued:
        """A root of its own that is never written to ``ca_file``."""
        return self.make_root("tlsdoctor lab Untrusted Root CA", org="tlsdoctor lab untrusted")

    @functools.cached_property
    def untrusted_intermediate(self) -> Issued:
        return self.issue_ca(
            self.untrusted_root, "tlsdoctor lab Untrusted Issuing CA", org="tlsdoctor lab untrusted"
        )

    @functools.cached_property
    def policy_ca(self) -> Issued:
        """The upper of two stacked intermediates (root -> policy CA -> issuing CA 2)."""
        return self.issue_ca(self.root, "tlsdoctor lab Policy CA")

    @functools.cached_property
    def issuing_ca_2(self) -> Issued:
        return self.issue_ca(self.policy_ca, "tlsdoctor lab Issuing CA 2")

    @functools.cached_property
    def client_ca(self) -> Issued:
        """The CA the client-certificate endpoint accepts client certificates from."""
        return self.make_root("tlsdoctor lab Client CA")

    @functools.cached_property
    def client(self) -> Issued:
        client = _build(
            subject=lab_name("tlsdoctor lab client"),
            issuer=self.client_ca,
            key=ec_key(),
            not_before=self.now - LEAF_BACKDATE,
            not_after=self.now - LEAF_BACKDATE + LEAF_LIFETIME,
            ca=False,
            eku=(ExtendedKeyUsageOID.CLIENT_AUTH,),
        )
        return self._record(self.client_ca, client)

    @functools.cached_property
    def superfish(self) -> Issued:
        """The Superfish root with its public private key (CVE-2015-2077), shipped as data."""
        folder = resources.files(__package__).joinpath("known_bad_roots")
        try:
            cert = x509.load_pem_x509_certificate(folder.joinpath("ca-superfish.crt").read_bytes())
            key = serialization.load_pem_private_key(
                folder.joinpath("ca-superfish.key").read_bytes(), password=None
            )
        except (OSError, ValueError) as exc:
            raise LabError(
                f"the Superfish root shipped with the lab cannot be read: {exc}"
            ) from exc
        if not isinstance(key, rsa.RSAPrivateKey):
            raise LabError("the Superfish key shipped with the lab is not an RSA key")
        return Issued(cert, key)

    # Leaves ----------------------------------------------------------------------------
    def leaf(
        self,
        issuer: Issued,
        dns: Sequence[str],
        *,
        cn: str | None = None,
        san: bool = True,
        key: PrivateKey | None = None,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        aia_url: str | None = None,
        crl_url: str | None = None,
        ocsp_url: str | None = None,
    ) -> Issued:
        """A server certificate: CN and SAN are the first name unless told otherwise."""
        start = self.now - LEAF_BACKDATE if not_before is None else not_before
        leaf = _build(
            subject=lab_name(cn if cn is not None else dns[0], org=None),
            issuer=issuer,
            key=key or ec_key(),
            not_before=start,
            not_after=start + LEAF_LIFETIME if not_after is None else not_after,
            ca=False,
            dns=dns if san else (),
            eku=(ExtendedKeyUsageOID.SERVER_AUTH,),
            aia_url=aia_url,
            crl_url=crl_url,
            ocsp_url=ocsp_url,
        )
        return self._record(issuer, leaf)

    def self_signed(self, host: str) -> Issued:
        """What `openssl req -x509 -subj /CN=host -addext subjectAltName=DNS:host` makes."""
        return _build(
            subject=lab_name(host, org=None),
            issuer=None,
            key=ec_key(),
            not_before=self.now - LEAF_BACKDATE,
            not_after=self.now - LEAF_BACKDATE + 365 * DAY,
            ca=True,
            dns=(host,),
            eku=(ExtendedKeyUsageOID.SERVER_AUTH,),
        )

    def resign_sha1(self, leaf: Issued, issuer: Issued) -> Issued:
        """``leaf`` signed by ``issuer`` with SHA-1, valid from this second for the usual
        leaf lifetime (see :func:`resign_with_openssl`)."""
        cert = resign_with_openssl(
            leaf.cert, leaf.key, issuer.cert, issuer.key, "sha1", LEAF_LIFETIME.days
        )
        return self._record(issuer, Issued(cert, leaf.key))


def resign_with_openssl(
    cert: x509.Certificate,
    key: PrivateKey,
    issuer_cert: x509.Certificate,
    issuer_key: PrivateKey,
    digest: str,
    days: int,
) -> x509.Certificate:
    """``cert``'s key and names signed by the issuer with ``digest`` (e.g. "sha1").

    cryptography refuses to make SHA-1 signatures, so the openssl command signs a CSR of
    the same key and names. Its -days counts from the real now.
    """
    openssl = shutil.which("openssl")
    if openssl is None:
        raise LabError("signing with SHA-1 needs the openssl command, which is not on PATH")
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(cert.subject)
        .add_extension(san, critical=False)
        .sign(key, hashes.SHA256())
    )
    with tempfile.TemporaryDirectory(prefix="tlsdoctor-openssl-") as tmp:
        folder = Path(tmp)
        (folder / "req.pem").write_bytes(csr.public_bytes(serialization.Encoding.PEM))
        (folder / "ca.pem").write_bytes(issuer_cert.public_bytes(serialization.Encoding.PEM))
        (folder / "ca.key").write_bytes(key_pem(issuer_key))
        (folder / "ext.cnf").write_text(
            "[v3]\nbasicConstraints=critical,CA:FALSE\n"
            "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
            "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"
        )
        command = [
            openssl, "x509", "-req", "-in", "req.pem", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-set_serial", f"0x{secrets.randbits(63) + 1:x}", f"-{digest}", "-days", str(days),
            "-copy_extensions", "copy", "-extfile", "ext.cnf", "-extensions", "v3",
            "-out", "out.pem",
        ]  # fmt: skip
        try:
            subprocess.run(
                command, cwd=folder, check=True, capture_output=True, timeout=OPENSSL_TIMEOUT
            )
            return x509.load_pem_x509_certificate((folder / "out.pem").read_bytes())
        except subprocess.CalledProcessError as exc:
            detail = exc.stderr.decode(errors="replace").strip().splitlines()
            raise LabError(
                f"openssl refused to sign with {digest}: "
                + (detail[-1] if detail else f"exit status {exc.returncode}")
            ) from exc
        except (OSError, ValueError, subprocess.TimeoutExpired) as exc:
            raise LabError(f"openssl could not sign with {digest}: {exc}") from exc


def rsa_key(bits: int) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def _build(
    *,
    subject: x509.Name,
    issuer: Issued | None,
    key: PrivateKey,
    not_before: dt.datetime,
    not_after: dt.datetime,
    ca: bool,
    dns: Sequence[str] = (),
    eku: Sequence[x509.ObjectIdentifier] | None = None,
    aia_url: str | None = None,
    crl_url: str | None = None,
    ocsp_url: str | None = None,
) -> Issued:
    cert = build_certificate(
        subject=subject,
        key=key,
        issuer_name=None if issuer is None else issuer.cert.subject,
        issuer_key=None if issuer is None else issuer.key,
        not_before=not_before,
        not_after=not_after,
        ca=ca,
        dns=dns,
        eku=eku,
        aia_url=aia_url,
        crl_url=crl_url,
        ocsp_url=ocsp_url,
    )
    return Issued(cert, key)
