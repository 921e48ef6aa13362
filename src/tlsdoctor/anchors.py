"""Trust anchors: the roots a verdict is judged against, each set named with its source.

Defaults are Mozilla's roots (certifi) plus the system bundle, so a report can say
"trusted by the system store, not by Mozilla's" (what breaks Python requests while curl
works). ``--ca-file`` replaces both, as curl's ``--cacert`` does. Parsed stores are cached
per process: a scan of thousands of chains parses each store once.
"""

from __future__ import annotations

import functools
import os
import re
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

from cryptography import x509

# The anchor type lives in the analysis layer (no import cycle); re-exported here.
from tlsdoctor.analysis.anchorset import CUSTOM, MOZILLA, SYSTEM, Anchor, TrustAnchors
from tlsdoctor.errors import CertificateParseError, InputError
from tlsdoctor.models import TrustAnchorSource
from tlsdoctor.pem import load_certificates

__all__ = [
    "CUSTOM",
    "MOZILLA",
    "SYSTEM",
    "Anchor",
    "TrustAnchors",
    "anchors_from_files",
    "default_anchors",
    "find_system_bundle",
    "mozilla_anchors",
    "parse_bundle",
]

# Where distributions keep the bundle OpenSSL reads, most common first.
SYSTEM_BUNDLES = (
    "/etc/ssl/certs/ca-certificates.crt",  # Debian, Ubuntu, Alpine, Arch, Gentoo
    "/etc/pki/tls/certs/ca-bundle.crt",  # RHEL, Fedora, Amazon Linux
    "/etc/ssl/ca-bundle.pem",  # openSUSE
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/cert.pem",  # macOS, Alpine, BSDs
)

_PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL)


def parse_bundle(data: bytes) -> tuple[list[x509.Certificate], int]:
    """Certificates of a PEM bundle, read one at a time so one odd root cannot sink the
    store; returns them and how many blocks were skipped."""
    certificates: list[x509.Certificate] = []
    skipped = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # serial 0 and other quirks of real roots
        try:
            return list(x509.load_pem_x509_certificates(data)), 0  # one call: fast
        except ValueError:
            pass  # one bad block: read them one at a time and skip it
        for match in _PEM_CERT.finditer(data):
            try:
                certificates.append(x509.load_pem_x509_certificate(match.group(0)))
            except ValueError:
                skipped += 1
    return certificates, skipped


def find_system_bundle() -> str | None:
    """The system's CA bundle file, as OpenSSL-based clients (curl, Python ssl) read it."""
    import ssl

    candidates: list[str] = []
    value = os.environ.get("SSL_CERT_FILE")
    if value:
        candidates.append(value)
    default = ssl.get_default_verify_paths()
    if default.cafile:
        candidates.append(default.cafile)
    if default.openssl_cafile:
        candidates.append(default.openssl_cafile)
    candidates.extend(SYSTEM_BUNDLES)
    for candidate in candidates:
        if os.path.isfile(candidate):
            return candidate
    return None


@functools.lru_cache(maxsize=1)
def mozilla_source() -> tuple[TrustAnchorSource, tuple[x509.Certificate, ...]]:
    """Mozilla's roots as certifi ships them."""
    import certifi

    path = certifi.where()
    certificates, _ = parse_bundle(Path(path).read_bytes())
    name = f"Mozilla (certifi {certifi.__version__})"
    return TrustAnchorSource(name, path, len(certificates), MOZILLA), tuple(certificates)


@functools.lru_cache(maxsize=1)
def system_source() -> tuple[TrustAnchorSource, tuple[x509.Certificate, ...]] | None:
    """The system bundle, or None where the machine has none."""
    path = find_system_bundle()
    if path is None:
        return None
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    certificates, _ = parse_bundle(data)
    version = _system_store_version(path)
    name = f"System ({version})" if version else "System"
    return TrustAnchorSource(name, path, len(certificates), SYSTEM), tuple(certificates)


def _system_store_version(path: str) -> str | None:
    """'ca-certificates 20230311+deb12u1' on Debian-like systems; None elsewhere."""
    if not path.startswith("/etc/ssl/certs/"):
        return None
    try:
        with open("/var/lib/dpkg/status", "rb") as handle:
            status = handle.read()
    except OSError:
        return None
    match = re.search(
        rb"^Package: ca-certificates\n(?:[^\n]+\n)*?Version: ([^\n]+)", status, re.MULTILINE
    )
    return f"ca-certificates {match.group(1).decode()}" if match else None


@functools.lru_cache(maxsize=1)
def default_anchors() -> TrustAnchors:
    """Mozilla's roots plus the system's: what the report calls the default trust store."""
    sources: list[tuple[TrustAnchorSource, Sequence[x509.Certificate]]] = [mozilla_source()]
    system = system_source()
    if system is not None:
        sources.append(system)
    return TrustAnchors(sources)


@functools.lru_cache(maxsize=1)
def mozilla_anchors() -> TrustAnchors:
    """Mozilla's roots alone: what "publicly trusted" means for the CA/Browser Forum rules."""
    return TrustAnchors([mozilla_source()])


def anchors_from_files(paths: Iterable[str | Path]) -> TrustAnchors:
    """Anchors from the user's files (any certificate format), replacing the defaults."""
    sources: list[tuple[TrustAnchorSource, Sequence[x509.Certificate]]] = []
    for path in paths:
        try:
            certificates = load_certificates(path)
        except CertificateParseError as exc:
            raise InputError(f"--ca-file {exc}") from exc
        name = f"--ca-file {Path(path).name}"
        sources.append(
            (TrustAnchorSource(name, str(path), len(certificates), CUSTOM), certificates)
        )
    if not sources:
        raise InputError("--ca-file needs at least one file")
    return TrustAnchors(sources)
