"""A certificate as a browser's certificate viewer shows it (``tlsdoctor inspect``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509

from tlsdoctor.analysis.facts import CertFacts

# Certificate policies that say how the CA validated the subject (CA/Browser Forum), plus
# the EV policies of CAs that predate the Forum's own EV identifier.
VALIDATION_POLICIES = {
    "2.23.140.1.2.1": "DV",
    "2.23.140.1.2.2": "OV",
    "2.23.140.1.2.3": "IV",
    "2.23.140.1.1": "EV",
    "2.16.840.1.114412.2.1": "EV",  # DigiCert
    "1.3.6.1.4.1.6449.1.2.1.5.1": "EV",  # Sectigo / COMODO
    "1.3.6.1.4.1.4146.1.1": "EV",  # GlobalSign
    "2.16.840.1.114028.10.1.2": "EV",  # Entrust
    "2.16.840.1.114413.1.7.23.3": "EV",  # GoDaddy
    "2.16.840.1.114414.1.7.23.3": "EV",  # Starfield
}
_VALIDATION_NAMES = {
    "DV": "domain validated",
    "OV": "organisation validated",
    "IV": "individual validated",
    "EV": "extended validation",
}


@dataclass(frozen=True)
class ExtensionInfo:
    name: str
    oid: str
    critical: bool


@dataclass(frozen=True)
class CertificateDetails:
    """Everything ``inspect`` shows about one certificate."""

    subject: str
    issuer: str
    version: int
    serial: str
    not_before: dt.datetime
    not_after: dt.datetime
    days_left: int
    status: str  # "valid", "expired" or "not yet valid" at the evaluation time
    lifetime_days: float
    certificate_type: str
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    other_names: tuple[str, ...]
    key: str
    signature: str
    sha256: str
    sha1: str
    is_ca: bool
    path_length: int | None
    self_signed: bool
    key_usage: tuple[str, ...]
    extended_key_usage: tuple[str, ...]
    subject_key_id: str | None
    authority_key_id: str | None
    ocsp_urls: tuple[str, ...]
    ca_issuer_urls: tuple[str, ...]
    crl_urls: tuple[str, ...]
    sct_count: int
    must_staple: bool
    policies: tuple[str, ...]
    validation: str | None  # "DV", "OV", "IV", "EV"
    extensions: tuple[ExtensionInfo, ...]
    problems: tuple[str, ...]


def colon_hex(text: str) -> str:
    """'ab12cd' -> 'AB:12:CD', as certificate viewers show fingerprints."""
    return ":".join(text[i : i + 2] for i in range(0, len(text), 2)).upper()


def describe_certificate(cert: x509.Certificate, at: dt.datetime) -> CertificateDetails:
    """The viewer's description of ``cert``, with validity judged at ``at``."""
    facts = CertFacts.of(cert)
    if at > facts.not_after:
        status = "expired"
    elif at < facts.not_before:
        status = "not yet valid"
    else:
        status = "valid"
    constraints = facts.basic_constraints
    policies = _policies(facts)
    validation = next((VALIDATION_POLICIES[p] for p in policies if p in VALIDATION_POLICIES), None)
    serial = format(cert.serial_number, "x")
    return CertificateDetails(
        subject=facts.subject_text,
        issuer=facts.issuer_text,
        version=cert.version.value + 1,
        serial=colon_hex(serial if len(serial) % 2 == 0 else "0" + serial),
        not_before=facts.not_before,
        not_after=facts.not_after,
        days_left=int((facts.not_after - at) / dt.timedelta(days=1)),
        status=status,
        lifetime_days=round(facts.lifetime / dt.timedelta(days=1), 1),
        certificate_type=certificate_type(facts),
        dns_names=facts.dns_names,
        ip_addresses=facts.ip_addresses,
        other_names=_other_names(facts),
        key=facts.key_description,
        signature=facts.signature_name,
        sha256=colon_hex(facts.sha256),
        sha1=colon_hex(facts.sha1),
        is_ca=facts.is_ca,
        path_length=constraints.path_length if constraints is not None else None,
        self_signed=facts.is_self_signed,
        key_usage=_key_usage(facts),
        extended_key_usage=tuple(
            oid._name if oid._name != "Unknown OID" else oid.dotted_string
            for oid in facts.extended_key_usage or ()
        ),
        subject_key_id=colon_hex(facts.ski.hex()) if facts.ski else None,
        authority_key_id=colon_hex(facts.aki.hex()) if facts.aki else None,
        ocsp_urls=facts.ocsp_urls,
        ca_issuer_urls=facts.ca_issuer_urls,
        crl_urls=facts.crl_urls,
        sct_count=_sct_count(facts),
        must_staple=_must_staple(facts),
        policies=policies,
        validation=validation,
        extensions=_extensions(cert),
        problems=facts.malformed,
    )


def validation_name(level: str | None) -> str | None:
    return None if level is None else f"{level} ({_VALIDATION_NAMES[level]})"


def certificate_type(facts: CertFacts) -> str:
    """single-domain, wildcard, multi-domain (SAN), multi-domain wildcard, or a CA."""
    if facts.is_ca:
        return "root CA" if facts.is_self_signed else "intermediate CA"
    names = {name.lower().removeprefix("*.") for name in facts.dns_names}
    wildcard = any(name.startswith("*.") for name in facts.dns_names)
    # example.com + www.example.com (or *.example.com + example.com) is still one domain.
    registrable = {name.removeprefix("www.") for name in names}
    if not facts.dns_names and not facts.ip_addresses:
        return "no host names (CN only)" if facts.common_names else "no host names"
    if len(registrable) + len(facts.ip_addresses) <= 1:
        return "wildcard" if wildcard else "single-domain"
    return "multi-domain wildcard" if wildcard else "multi-domain (SAN)"


def _policies(facts: CertFacts) -> tuple[str, ...]:
    policies = facts.extension(x509.CertificatePolicies)
    return () if policies is None else tuple(p.policy_identifier.dotted_string for p in policies)


def _other_names(facts: CertFacts) -> tuple[str, ...]:
    san = facts.extension(x509.SubjectAlternativeName)
    if san is None:
        return ()
    emails = [f"email:{v}" for v in san.get_values_for_type(x509.RFC822Name)]
    uris = [f"URI:{v}" for v in san.get_values_for_type(x509.UniformResourceIdentifier)]
    return tuple(emails + uris)


def _key_usage(facts: CertFacts) -> tuple[str, ...]:
    usage = facts.key_usage
    if usage is None:
        return ()
    names = [
        ("digital_signature", "digitalSignature"),
        ("content_commitment", "nonRepudiation"),
        ("key_encipherment", "keyEncipherment"),
        ("data_encipherment", "dataEncipherment"),
        ("key_agreement", "keyAgreement"),
        ("key_cert_sign", "keyCertSign"),
        ("crl_sign", "cRLSign"),
    ]
    return tuple(label for attribute, label in names if getattr(usage, attribute))


def _sct_count(facts: CertFacts) -> int:
    scts = facts.extension(x509.PrecertificateSignedCertificateTimestamps)
    return 0 if scts is None else len(scts)


def _must_staple(facts: CertFacts) -> bool:
    feature = facts.extension(x509.TLSFeature)
    return feature is not None and x509.TLSFeatureType.status_request in feature


def _extensions(cert: x509.Certificate) -> tuple[ExtensionInfo, ...]:
    try:
        extensions = cert.extensions
    except (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType):
        return ()
    return tuple(
        ExtensionInfo(
            ext.oid._name if ext.oid._name != "Unknown OID" else ext.oid.dotted_string,
            ext.oid.dotted_string,
            ext.critical,
        )
        for ext in extensions
    )
