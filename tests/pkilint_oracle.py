"""DigiCert's pkilint, run in process as an oracle: the finding codes it reports for one
certificate, with the RFC 5280 (pkix) validators and the Baseline Requirements (serverauth)
ones for the certificate type it detects."""

from __future__ import annotations

import functools
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization


@functools.cache
def _validators() -> tuple[Any, Any]:
    from pkilint.pkix import certificate, extension, name

    pkix = certificate.create_pkix_certificate_validator_container(
        certificate.create_decoding_validators(
            name.ATTRIBUTE_TYPE_MAPPINGS, extension.EXTENSION_MAPPINGS
        ),
        [
            certificate.create_issuer_validator_container([]),
            certificate.create_validity_validator_container(),
            certificate.create_subject_validator_container([]),
            certificate.create_extensions_validator_container([]),
            certificate.create_spki_validator_container([]),
        ],
    )
    return pkix, {}


def codes(cert: x509.Certificate) -> set[str]:
    """Every finding code pkilint reports for ``cert`` (pkix, then serverauth)."""
    from pkilint import loader
    from pkilint.cabf import serverauth
    from pkilint.pkix import certificate

    der = cert.public_bytes(serialization.Encoding.DER)
    document = loader.RFC5280CertificateDocumentLoader().load_der_document(der, "case")
    pkix, by_type = _validators()
    results = list(pkix.validate(document.root))
    try:
        kind = serverauth.determine_certificate_type(document)
    except ValueError:
        kind = None
    if kind is not None:
        if kind not in by_type:
            by_type[kind] = certificate.create_pkix_certificate_validator_container(
                serverauth.create_decoding_validators(), serverauth.create_validators(kind)
            )
        results.extend(by_type[kind].validate(document.root))
    return {
        str(description.finding.code)
        for result in results
        for description in result.finding_descriptions
    }
