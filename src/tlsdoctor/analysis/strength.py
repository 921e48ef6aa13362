"""Algorithms clients refuse: SHA-1/MD5 signatures and small or unusual keys."""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa

from tlsdoctor.analysis.facts import CertFacts
from tlsdoctor.analysis.roles import cert_evidence, sentence_label
from tlsdoctor.codes import FindingCode, Severity
from tlsdoctor.models import Finding

WEAK_HASHES = frozenset({"md2", "md4", "md5", "sha1"})
MIN_RSA_BITS = 2048
# Curves every major client accepts in certificates.
ACCEPTED_CURVES = frozenset({"secp256r1", "secp384r1", "secp521r1"})


def strength_findings(path: Sequence[CertFacts]) -> list[Finding]:
    """weak_signature and weak_key for each certificate of the path."""
    findings: list[Finding] = []
    for facts in path:
        # A self-signature is never what makes a chain trusted (a root's is not checked,
        # a self-signed leaf fails as self_signed): its hash is irrelevant.
        if not facts.is_self_signed:
            signature = _weak_signature(facts, path)
            if signature is not None:
                findings.append(signature)
        key = _weak_key(facts, path)
        if key is not None:
            findings.append(key)
    return findings


def _weak_signature(facts: CertFacts, path: Sequence[CertFacts]) -> Finding | None:
    algorithm = facts.signature_hash
    if algorithm not in WEAK_HASHES and algorithm != "unknown":
        return None
    evidence = cert_evidence(facts, path)
    evidence["signature_algorithm"] = facts.signature_name
    shown = (algorithm or "unknown").upper().replace("SHA1", "SHA-1")
    return Finding(
        FindingCode.WEAK_SIGNATURE,
        Severity.ERROR,
        f"{sentence_label(facts, path)} is signed with {shown} "
        f"({facts.signature_name}), which current clients refuse.",
        evidence,
        (
            "Reissue the certificate: every CA signs with SHA-256 or better today.",
            "If this is an intermediate, download your CA's current SHA-256 intermediate "
            "and serve it instead.",
        ),
    )


def _weak_key(facts: CertFacts, path: Sequence[CertFacts]) -> Finding | None:
    key = facts.public_key
    if key is None:
        return _key_finding(facts, path, "an unsupported public key", None)
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        return _key_finding(facts, path, f"an RSA key of {key.key_size} bits", key.key_size)
    if isinstance(key, dsa.DSAPublicKey):
        return _key_finding(facts, path, f"a DSA key ({key.key_size} bits)", key.key_size)
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name not in ACCEPTED_CURVES:
        return _key_finding(facts, path, f"an EC key on curve {key.curve.name}", key.key_size)
    return None


def _key_finding(
    facts: CertFacts, path: Sequence[CertFacts], what: str, bits: int | None
) -> Finding:
    evidence = cert_evidence(facts, path)
    evidence["key"] = facts.key_description
    evidence["bits"] = bits
    return Finding(
        FindingCode.WEAK_KEY,
        Severity.ERROR,
        f"{sentence_label(facts, path)} has {what}; clients require RSA of at least "
        f"{MIN_RSA_BITS} bits or ECDSA on P-256/P-384.",
        evidence,
        (
            "Generate a new key (ECDSA P-256, or RSA 2048+) and a new CSR, and reissue: "
            "`openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes ...`.",
        ),
    )
