"""The lab's revocation service: the Issuing CA's CRL and OCSP responder, over plain HTTP.

The plain-http endpoint serves them at the URLs the leaves of the good and revoked
endpoints carry (cRLDistributionPoints and authorityInfoAccess OCSP):

- ``GET /issuing.crl``: the CRL (DER, ``application/pkix-crl``), signed by the Issuing CA,
  listing every certificate the lab revoked, with its reason; thisUpdate an hour before it
  was issued, nextUpdate 7 days after. It is issued on first request and again once a day,
  with the next CRL number, so a long-running lab never serves a stale CRL.
- ``POST /ocsp`` (body: a DER OCSPRequest, ``Content-Type: application/ocsp-request``) and
  ``GET /ocsp/<base64 of the request, URL-encoded>`` (RFC 6960 appendix A): an OCSP
  response (``application/ocsp-response``) signed by the Issuing CA itself (responderID by
  key hash, no delegated responder): REVOKED with time and reason for a revoked serial,
  GOOD for any other serial the Issuing CA issued, UNKNOWN for the rest (another issuer's
  certificate, an unknown serial); thisUpdate an hour ago, nextUpdate in a day; the
  request's nonce echoed. What cannot be parsed (including requests for more than one
  certificate, which cryptography does not read) is answered ``malformedRequest``. A POST
  of another content type is refused with HTTP 415, so a client that sends the wrong one
  learns it here rather than from a stricter public responder.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Callable, Mapping
from urllib.parse import unquote

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from tlsdoctor.lab.pki import DAY, Issued, LabError, Revocation
from tlsdoctor.lab.servers import TEXT, HttpReply, HttpRequest

CRL_TYPE = "application/pkix-crl"
OCSP_REQUEST_TYPE = "application/ocsp-request"
OCSP_RESPONSE_TYPE = "application/ocsp-response"
BACKDATE = dt.timedelta(hours=1)  # thisUpdate of CRLs and OCSP answers, before issue
CRL_LIFETIME = 7 * DAY  # nextUpdate, after issue
CRL_REISSUE = DAY
OCSP_LIFETIME = DAY

Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


class RevocationService:
    """What ``ca`` says about the certificates it issued (``issued``, serial numbers), of
    which ``revoked`` are revoked. ``crl_path`` and ``ocsp_path`` are where it answers.

    Its methods run on the lab's event loop thread; each costs one ECDSA signature at most.
    """

    def __init__(
        self,
        ca: Issued,
        issued: frozenset[int],
        revoked: Mapping[int, Revocation],
        *,
        crl_path: str,
        ocsp_path: str,
        clock: Clock = utc_now,
    ) -> None:
        self._ca = ca
        self._issued = issued
        self._revoked = dict(revoked)
        self._crl_path = crl_path
        self._ocsp_path = ocsp_path.rstrip("/")
        self._clock = clock
        self._crl: tuple[dt.datetime, bytes] | None = None  # (issued at, DER)
        self._crl_number = 0
        self._name = ca.cert.subject.public_bytes()
        self._key = subject_public_key(ca.cert)

    # HTTP ------------------------------------------------------------------------------
    def handle(self, request: HttpRequest) -> HttpReply | None:
        """The answer to a request for the CRL or the responder; None for other paths."""
        target, method = request.target, request.method
        read = method in ("GET", "HEAD")
        if target == self._crl_path:
            return HttpReply(200, CRL_TYPE, self.crl()) if read else None
        if target in (self._ocsp_path, self._ocsp_path + "/") and method == "POST":
            media_type = request.headers.get("content-type", "").split(";")[0].strip()
            if media_type.lower() != OCSP_REQUEST_TYPE:
                return HttpReply(
                    415, TEXT, f"POST the OCSP request as {OCSP_REQUEST_TYPE}.\n".encode()
                )
            return HttpReply(200, OCSP_RESPONSE_TYPE, self.ocsp_response(request.body))
        if read and (target == self._ocsp_path or target.startswith(self._ocsp_path + "/")):
            encoded = unquote(target[len(self._ocsp_path) + 1 :])
            try:
                der = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                der = b""
            return HttpReply(200, OCSP_RESPONSE_TYPE, self.ocsp_response(der))
        return None

    # CRL -------------------------------------------------------------------------------
    def crl(self) -> bytes:
        """The current CRL in DER: the same bytes until it is a day old."""
        now = self._clock()
        if self._crl is None or now - self._crl[0] >= CRL_REISSUE:
            self._crl_number += 1
            self._crl = (now, self._build_crl(now, self._crl_number))
        return self._crl[1]

    def _build_crl(self, now: dt.datetime, number: int) -> bytes:
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self._ca.cert.subject)
            .last_update(now - BACKDATE)
            .next_update(now + CRL_LIFETIME)
            .add_extension(x509.CRLNumber(number), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._ca.key.public_key()),
                critical=False,
            )
        )
        for serial, entry in sorted(self._revoked.items()):
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(serial)
                .revocation_date(entry.date)
                .add_extension(x509.CRLReason(entry.reason), critical=False)
                .build()
            )
        crl = builder.sign(self._ca.key, hashes.SHA256())
        return crl.public_bytes(serialization.Encoding.DER)

    # OCSP ------------------------------------------------------------------------------
    def ocsp_response(self, der: bytes) -> bytes:
        """The DER OCSP response to a DER OCSP request."""
        try:
            request = ocsp.load_der_ocsp_request(der)
            algorithm = request.hash_algorithm
            nonce = _nonce(request)
            status, revocation = self._status(request, algorithm)
            now = self._clock()
            # The CertID of the answer is the request's, whatever its hash algorithm.
            builder = ocsp.OCSPResponseBuilder().add_response_by_hash(
                issuer_name_hash=request.issuer_name_hash,
                issuer_key_hash=request.issuer_key_hash,
                serial_number=request.serial_number,
                algorithm=algorithm,
                cert_status=status,
                this_update=now - BACKDATE,
                next_update=now + OCSP_LIFETIME,
                revocation_time=None if revocation is None else revocation.date,
                revocation_reason=None if revocation is None else revocation.reason,
            )
        except (ValueError, UnsupportedAlgorithm):
            # Not DER, several requests, an unknown hash, hashes of the wrong length.
            builder = None
        if builder is None:
            response = ocsp.OCSPResponseBuilder.build_unsuccessful(
                ocsp.OCSPResponseStatus.MALFORMED_REQUEST
            )
            return response.public_bytes(serialization.Encoding.DER)
        builder = builder.responder_id(ocsp.OCSPResponderEncoding.HASH, self._ca.cert)
        if nonce is not None:
            builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
        response = builder.sign(self._ca.key, hashes.SHA256())
        return response.public_bytes(serialization.Encoding.DER)

    def _status(
        self, request: ocsp.OCSPRequest, algorithm: hashes.HashAlgorithm
    ) -> tuple[ocsp.OCSPCertStatus, Revocation | None]:
        ours = request.issuer_name_hash == _digest(
            algorithm, self._name
        ) and request.issuer_key_hash == _digest(algorithm, self._key)
        if not ours or request.serial_number not in self._issued:
            return ocsp.OCSPCertStatus.UNKNOWN, None
        revocation = self._revoked.get(request.serial_number)
        if revocation is None:
            return ocsp.OCSPCertStatus.GOOD, None
        return ocsp.OCSPCertStatus.REVOKED, revocation


def _nonce(request: ocsp.OCSPRequest) -> bytes | None:
    try:
        return request.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
    except x509.ExtensionNotFound:
        return None


def _digest(algorithm: hashes.HashAlgorithm, data: bytes) -> bytes:
    digest = hashes.Hash(algorithm)
    digest.update(data)
    return digest.finalize()


def subject_public_key(cert: x509.Certificate) -> bytes:
    """The contents of ``cert``'s subjectPublicKey BIT STRING, without its unused-bits
    octet: what an OCSP CertID's issuerKeyHash is the hash of (RFC 6960 4.1.1)."""
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # SubjectPublicKeyInfo ::= SEQUENCE { algorithm AlgorithmIdentifier, BIT STRING }
    _, info, _ = _der_element(spki, 0)
    _, _, after_algorithm = _der_element(info, 0)
    tag, bits, _ = _der_element(info, after_algorithm)
    if tag != 0x03 or not bits:
        raise LabError("the Issuing CA's public key has no BIT STRING")
    return bits[1:]


def _der_element(data: bytes, offset: int) -> tuple[int, bytes, int]:
    """(tag, contents, offset after it) of the DER element at ``offset``."""
    tag, length = data[offset], data[offset + 1]
    offset += 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(data[offset : offset + count], "big")
        offset += count
    return tag, data[offset : offset + length], offset + length
