"""Whether RFC 5280 lets a CRL be used at all, and for which certificates (5.2, 5.3, 6.3.3):
critical extensions tlsdoctor cannot process, delta and indirect CRLs, and the scope an
issuingDistributionPoint gives the CRL. :mod:`tlsdoctor.analysis.revocation` judges the
rest (issuer, signature, freshness, the entry).
"""

from __future__ import annotations

from cryptography import x509
from cryptography.x509.oid import CRLEntryExtensionOID, ExtensionOID

from tlsdoctor.analysis.der import der_header
from tlsdoctor.analysis.facts import CertFacts

# What reading a CRL's (or an entry's) extensions may raise besides ExtensionNotFound.
PARSE_ERRORS = (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType)

# CRL and CRL-entry extensions tlsdoctor processes (RFC 5280 5.2, 5.3); any other one
# marked critical makes the whole CRL unusable (RFC 5280 5.2 and 5.3: "MUST NOT use").
_CRL_EXTENSIONS = frozenset(
    {
        ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
        ExtensionOID.ISSUER_ALTERNATIVE_NAME,
        ExtensionOID.CRL_NUMBER,
        ExtensionOID.ISSUING_DISTRIBUTION_POINT,
        ExtensionOID.FRESHEST_CRL,
        ExtensionOID.AUTHORITY_INFORMATION_ACCESS,
    }
)
_CRL_ENTRY_EXTENSIONS = frozenset(
    {CRLEntryExtensionOID.CRL_REASON, CRLEntryExtensionOID.INVALIDITY_DATE}
)


def crl_unusable(crl: x509.CertificateRevocationList, der: bytes) -> str | None:
    """Why RFC 5280 forbids using this CRL (``der`` its DER encoding) at all, or None.

    One unknown critical entry extension voids the whole CRL (RFC 5280 5.3).
    """
    try:
        extensions = list(crl.extensions)
    except PARSE_ERRORS as exc:
        return f"the CRL's extensions cannot be parsed ({_first_line(exc)})"
    for extension in extensions:
        if extension.oid == ExtensionOID.DELTA_CRL_INDICATOR:
            return "it is a delta CRL, not a complete one (RFC 5280 5.2.4)"
        if extension.critical and extension.oid not in _CRL_EXTENSIONS:
            return (
                f"the CRL has a critical extension tlsdoctor cannot process "
                f"({extension.oid.dotted_string}), so it must not be used (RFC 5280 5.2)"
            )
    idp = next(
        (e.value for e in extensions if isinstance(e.value, x509.IssuingDistributionPoint)),
        None,
    )
    if idp is not None and idp.indirect_crl:
        return "it is an indirect CRL, which tlsdoctor does not process"
    if _CRITICAL_TRUE not in _revoked_certificates(der):
        return None  # no entry marks any extension critical: no need to parse them all
    try:
        for entry in crl:
            for extension in entry.extensions:
                if extension.critical and extension.oid not in _CRL_ENTRY_EXTENSIONS:
                    return (
                        "an entry of the CRL has a critical extension tlsdoctor cannot "
                        f"process ({extension.oid.dotted_string}), so the CRL must not be "
                        "used (RFC 5280 5.3)"
                    )
    except PARSE_ERRORS as exc:
        return f"an entry of the CRL cannot be parsed ({_first_line(exc)})"
    return None


# "critical: TRUE" as DER writes it in an Extension (BOOLEAN, length 1, 0xFF). Parsing every
# entry's extensions of a 100,000-entry CRL takes seconds; finding these three bytes in its
# entries takes microseconds, and their absence proves no entry extension is critical.
_CRITICAL_TRUE = b"\x01\x01\xff"


def _revoked_certificates(der: bytes) -> bytes:
    """The revokedCertificates element of a CRL's DER (RFC 5280 5.1), or b"" if absent.

    The CRL's first element is the TBSCertList, whose children are: version INTEGER
    (optional), signature and issuer SEQUENCEs, thisUpdate, nextUpdate (optional),
    revokedCertificates SEQUENCE (optional), [0] extensions: the third SEQUENCE, when there
    is one, is the list of entries.
    """
    _, tbs_at = der_header(der, 0)
    tbs_length, at = der_header(der, tbs_at)
    tbs = der[: at + tbs_length]
    sequences = 0
    while at < len(tbs):
        length, body = der_header(tbs, at)
        if tbs[at] == 0x30:
            sequences += 1
            if sequences == 3:
                return tbs[at : body + length]
        at = body + length
    return b""


def crl_scope_problem(crl: x509.CertificateRevocationList, cert: CertFacts) -> str | None:
    """Why the CRL's issuingDistributionPoint does not cover ``cert`` (RFC 5280 6.3.3 (b))."""
    try:
        idp = crl.extensions.get_extension_for_class(x509.IssuingDistributionPoint).value
    except (x509.ExtensionNotFound, *PARSE_ERRORS):
        return None
    if idp.only_contains_user_certs and cert.is_ca:
        return "the CRL covers only end-entity certificates (onlyContainsUserCerts), not this CA"
    if idp.only_contains_ca_certs and not cert.is_ca:
        return "the CRL covers only CA certificates (onlyContainsCACerts), not this one"
    if idp.only_contains_attribute_certs:
        return "the CRL covers only attribute certificates (onlyContainsAttributeCerts)"
    if idp.full_name is None and idp.relative_name is None:
        return None
    points = cert.extension(x509.CRLDistributionPoints)
    for point in points or ():
        if idp.full_name is not None and point.full_name is not None:
            if set(idp.full_name) & set(point.full_name):
                return None
        elif idp.relative_name is not None and point.relative_name == idp.relative_name:
            return None
    named = ", ".join(str(name.value) for name in idp.full_name or ())[:200]
    return (
        f"the CRL's issuingDistributionPoint ({named or 'a relative name'}) is not one of the "
        "certificate's CRL distribution points, so the CRL does not cover it"
    )


def only_some_reasons(crl: x509.CertificateRevocationList) -> bool:
    try:
        idp = crl.extensions.get_extension_for_class(x509.IssuingDistributionPoint).value
    except (x509.ExtensionNotFound, *PARSE_ERRORS):
        return False
    return idp.only_some_reasons is not None


def _first_line(exc: Exception) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:200]
