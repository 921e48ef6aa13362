"""Revocation evidence judged: CRLs and OCSP responses, signatures checked here.

cryptography parses OCSP responses but does not verify them; a CRL's signature is checked
with ``is_signature_valid``. Both are checked against the issuer (or, for OCSP, a
delegated responder the issuer certified for OCSP signing), and both must be fresh at the
evaluation time. Anything that cannot be trusted is "unknown", with the reason.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID

from tlsdoctor.analysis.crl_rules import (
    PARSE_ERRORS,
    crl_scope_problem,
    crl_unusable,
    only_some_reasons,
)
from tlsdoctor.analysis.der import der_header
from tlsdoctor.analysis.facts import CertFacts, verify_signature
from tlsdoctor.analysis.roles import cert_evidence, label
from tlsdoctor.codes import FindingCode, Severity
from tlsdoctor.models import Finding, JsonValue, rfc3339


class State(str, enum.Enum):
    GOOD = "good"
    REVOKED = "revoked"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Evidence:
    """What one CRL or OCSP response says about the leaf."""

    state: State
    source: str  # "crl", "ocsp", "crl-file", "ocsp-file"
    where: str  # URL or file
    detail: str  # why unknown, or what was seen
    reason: str | None = None  # revocation reason
    revoked_at: dt.datetime | None = None
    this_update: dt.datetime | None = None
    next_update: dt.datetime | None = None


def parse_crl(data: bytes) -> x509.CertificateRevocationList:
    """A CRL from DER or PEM; ValueError when it is neither."""
    if data.lstrip().startswith(b"-----BEGIN"):
        return x509.load_pem_x509_crl(data)
    return x509.load_der_x509_crl(data)


def judge_crl(
    leaf: CertFacts, issuer: CertFacts, data: bytes, at: dt.datetime, source: str, where: str
) -> Evidence:
    """What a CRL says about ``leaf`` (any certificate of the path), if it can be trusted.

    The rules of RFC 5280 6.3.3 that decide whether a CRL may be used at all: issued by the
    certificate's issuer, whose keyUsage (when present) allows cRLSign; signature valid;
    no critical extension we cannot process, on the CRL or on any entry; a complete CRL
    (not a delta); an issuingDistributionPoint whose scope covers the certificate.
    """
    try:
        crl = parse_crl(data)
    except ValueError as exc:
        return Evidence(State.UNKNOWN, source, where, f"the CRL cannot be parsed ({exc})")
    if crl.issuer != issuer.cert.subject:
        return Evidence(
            State.UNKNOWN,
            source,
            where,
            f"the CRL is issued by '{crl.issuer.rfc4514_string()}', not by the "
            "certificate's issuer",
        )
    usage = issuer.key_usage
    if usage is not None and not usage.crl_sign:
        return Evidence(
            State.UNKNOWN,
            source,
            where,
            f"the CRL's issuer '{issuer.display_name}' may not sign CRLs: its keyUsage lacks "
            "cRLSign (RFC 5280 6.3.3 (f))",
        )
    try:
        valid = issuer.public_key is not None and crl.is_signature_valid(issuer.public_key)  # type: ignore[arg-type]
    except (TypeError, UnsupportedAlgorithm):
        valid = False
    this_update = crl.last_update_utc
    next_update = crl.next_update_utc
    if not valid:
        return Evidence(
            State.UNKNOWN,
            source,
            where,
            "the CRL's signature does not verify with the issuer's key",
            this_update=this_update,
            next_update=next_update,
        )
    der = crl.public_bytes(serialization.Encoding.DER) if data.lstrip()[:1] == b"-" else data
    unusable = crl_unusable(crl, der) or crl_scope_problem(crl, leaf)
    if unusable is not None:
        return Evidence(
            State.UNKNOWN,
            source,
            where,
            unusable,
            this_update=this_update,
            next_update=next_update,
        )
    if next_update is not None and next_update < at:
        return Evidence(
            State.UNKNOWN,
            source,
            where,
            f"the CRL is stale: its nextUpdate was {rfc3339(next_update)}",
            this_update=this_update,
            next_update=next_update,
        )
    if this_update > at:
        return Evidence(
            State.UNKNOWN,
            source,
            where,
            f"the CRL is not valid until {rfc3339(this_update)}",
            this_update=this_update,
            next_update=next_update,
        )
    entry = crl.get_revoked_certificate_by_serial_number(leaf.cert.serial_number)
    if entry is None and only_some_reasons(crl):
        return Evidence(
            State.UNKNOWN,
            source,
            where,
            "the CRL covers only some revocation reasons (onlySomeReasons), so its silence "
            "does not mean good",
            this_update=this_update,
            next_update=next_update,
        )
    if entry is None:
        return Evidence(
            State.GOOD,
            source,
            where,
            f"not among the CRL's {len(crl)} revoked certificates",
            this_update=this_update,
            next_update=next_update,
        )
    reason = None
    try:
        reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason.name
    except (x509.ExtensionNotFound, *PARSE_ERRORS):
        reason = None
    return Evidence(
        State.REVOKED,
        source,
        where,
        "listed on the CRL",
        reason=reason,
        revoked_at=entry.revocation_date_utc,
        this_update=this_update,
        next_update=next_update,
    )


def ocsp_request(leaf: CertFacts, issuer: CertFacts, nonce: bytes) -> bytes:
    """A DER OCSP request for ``leaf`` (SHA-1 CertID, as every responder accepts)."""
    builder = ocsp.OCSPRequestBuilder().add_certificate(leaf.cert, issuer.cert, hashes.SHA1())
    builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(serialization.Encoding.DER)


def judge_ocsp(
    leaf: CertFacts,
    issuer: CertFacts,
    data: bytes,
    at: dt.datetime,
    source: str,
    where: str,
    nonce: bytes | None,
) -> Evidence:
    """What an OCSP response says about ``leaf``, if it can be trusted."""
    try:
        response = ocsp.load_der_ocsp_response(data)
    except ValueError as exc:
        return Evidence(State.UNKNOWN, source, where, f"the OCSP response cannot be parsed ({exc})")
    if response.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        return Evidence(
            State.UNKNOWN,
            source,
            where,
            f"the responder answered {response.response_status.name}",
        )
    signer = _ocsp_signer(response, issuer)
    if signer is None:
        return Evidence(
            State.UNKNOWN,
            source,
            where,
            "the OCSP response is signed neither by the issuer nor by a responder the issuer "
            "authorised (id-kp-OCSPSigning)",
        )
    if not _signature_valid(signer, response):
        return Evidence(
            State.UNKNOWN, source, where, "the OCSP response's signature does not verify"
        )
    if nonce is not None:
        try:
            echoed = response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
        except x509.ExtensionNotFound:
            echoed = None
        if echoed is not None and echoed != nonce:
            return Evidence(
                State.UNKNOWN, source, where, "the OCSP response's nonce does not match"
            )
    single = next(
        (r for r in response.responses if r.serial_number == leaf.cert.serial_number), None
    )
    if single is None:
        return Evidence(
            State.UNKNOWN, source, where, "the OCSP response is about another certificate"
        )
    this_update, next_update = single.this_update_utc, single.next_update_utc
    if next_update is not None and next_update < at:
        return Evidence(
            State.UNKNOWN,
            source,
            where,
            f"the OCSP response is stale: its nextUpdate was {rfc3339(next_update)}",
            this_update=this_update,
            next_update=next_update,
        )
    if this_update > at + dt.timedelta(minutes=5):
        return Evidence(
            State.UNKNOWN,
            source,
            where,
            f"the OCSP response is not valid until {rfc3339(this_update)}",
            this_update=this_update,
            next_update=next_update,
        )
    status = single.certificate_status
    if status == ocsp.OCSPCertStatus.GOOD:
        return Evidence(
            State.GOOD,
            source,
            where,
            "the responder says good",
            this_update=this_update,
            next_update=next_update,
        )
    if status == ocsp.OCSPCertStatus.REVOKED:
        reason = single.revocation_reason.name if single.revocation_reason else None
        return Evidence(
            State.REVOKED,
            source,
            where,
            "the responder says revoked",
            reason=reason,
            revoked_at=single.revocation_time_utc,
            this_update=this_update,
            next_update=next_update,
        )
    return Evidence(State.UNKNOWN, source, where, "the responder does not know this certificate")


def _ocsp_signer(response: ocsp.OCSPResponse, issuer: CertFacts) -> CertFacts | None:
    """The issuer, or a delegated responder certificate the issuer signed for OCSP."""
    if _responder_is(response, issuer):
        return issuer
    from tlsdoctor.analysis.facts import signed_by

    for cert in response.certificates:
        candidate = CertFacts.of(cert)
        eku = candidate.extended_key_usage or ()
        if (
            _responder_is(response, candidate)
            and ExtendedKeyUsageOID.OCSP_SIGNING in eku
            and signed_by(candidate, issuer)
        ):
            return candidate
    return None


def _responder_is(response: ocsp.OCSPResponse, facts: CertFacts) -> bool:
    if response.responder_name is not None:
        return response.responder_name == facts.cert.subject
    key_hash = response.responder_key_hash
    if key_hash is None or facts.public_key is None:
        return False
    digest = hashes.Hash(hashes.SHA1())
    digest.update(_subject_public_key_bits(facts))
    return digest.finalize() == key_hash


def _subject_public_key_bits(facts: CertFacts) -> bytes:
    """The BIT STRING contents of the key (RFC 6960 KeyHash), from the SPKI DER."""
    spki = facts.spki
    # SubjectPublicKeyInfo ::= SEQUENCE { algorithm, subjectPublicKey BIT STRING }
    _, offset = der_header(spki, 0)
    length, body = der_header(spki, offset)  # the AlgorithmIdentifier
    tag_at = body + length
    length, body = der_header(spki, tag_at)
    return spki[body + 1 : body + length]  # skip the unused-bits byte


def _signature_valid(signer: CertFacts, response: ocsp.OCSPResponse) -> bool:
    return verify_signature(
        signer.public_key,
        response.signature,
        response.tbs_response_bytes,
        response.signature_hash_algorithm,
    )


def revocation_findings(
    evidence: Sequence[Evidence],
    pointers: int,
    issuer_known: bool,
    intermediate: CertFacts | None = None,
    path: Sequence[CertFacts] = (),
) -> list[Finding]:
    """revoked (any source says so), else revocation_unknown when the certificate names a
    CRL or OCSP responder (or evidence was given) and no source could answer.

    A certificate that names no pointer, with no evidence given, is not checkable and not a
    finding: the report's revocation section says so. The findings are about the leaf, or
    about ``intermediate`` of ``path`` when given: then they name it, and their evidence
    identifies it (``certificate``, ``subject``, ``sha256``).
    """
    revoked = next((e for e in evidence if e.state is State.REVOKED), None)
    subject = None if intermediate is None else label(intermediate, path)
    identity = {} if intermediate is None else cert_evidence(intermediate, path)
    who = subject or "the certificate"
    if revoked is not None:
        when = rfc3339(revoked.revoked_at) if revoked.revoked_at else "an unknown date"
        reason = f" (reason: {revoked.reason})" if revoked.reason else ""
        details = {**_evidence(revoked), **identity}
        return [
            Finding(
                FindingCode.REVOKED,
                Severity.ERROR,
                f"{who[:1].upper()}{who[1:]} was revoked on {when}{reason}, says the "
                f"{_source_name(revoked.source)} at {revoked.where}.",
                details,
                (
                    "The CA has revoked this certificate: get a new one (a new key if the "
                    "reason is keyCompromise) and install it."
                    if subject is None
                    else "The CA revoked this intermediate: serve the chain of a current "
                    "intermediate (the CA's repository has it), and reissue the leaf under it "
                    "if needed.",
                    "Chrome relies on its CRLSets and Firefox on CRLite, so some browsers may "
                    "still connect for a while: do not wait for them.",
                ),
            )
        ]
    if any(e.state is State.GOOD for e in evidence):
        return []
    if issuer_known and not evidence and pointers == 0:
        return []
    if not issuer_known:
        why = "the issuing CA's certificate is not available to check a CRL or OCSP answer"
    else:
        why = "; ".join(f"{e.where}: {e.detail}" for e in evidence) or "nothing answered"
    if subject is not None:
        why = f"{subject}: {why}"
    return [
        Finding(
            FindingCode.REVOCATION_UNKNOWN,
            Severity.WARNING,
            f"Revocation could not be determined: {why}.",
            {
                **identity,
                "why": why,
                "sources": [_evidence(e) for e in evidence],
                "soft_fail": "Browsers, curl and Python soft-fail (connect anyway); "
                "hard-fail setups (OCSP must-staple, Java with "
                "com.sun.net.ssl.checkRevocation=true and ocsp.enable, Windows with "
                "strict revocation) refuse the connection.",
            },
            (
                "If you run the server: make sure the CA's CRL and OCSP URLs are reachable "
                "from your clients, and enable OCSP stapling (nginx `ssl_stapling on;`).",
            ),
        )
    ]


def about_leaf(finding: Finding) -> bool:
    """Whether a revocation finding is about the leaf (not an intermediate)."""
    return finding.evidence.get("certificate", "leaf") == "leaf"


def _source_name(source: str) -> str:
    names = {
        "crl": "CRL",
        "crl-file": "CRL file",
        "ocsp": "OCSP responder",
        "stapled": "OCSP response the server staples",
    }
    return names.get(source, "OCSP response file")


def _evidence(item: Evidence) -> dict[str, JsonValue]:
    return {
        "state": item.state.value,
        "source": item.source,
        "where": item.where,
        "detail": item.detail,
        "reason": item.reason,
        "revoked_at": rfc3339(item.revoked_at) if item.revoked_at else None,
        "this_update": rfc3339(item.this_update) if item.this_update else None,
        "next_update": rfc3339(item.next_update) if item.next_update else None,
    }
