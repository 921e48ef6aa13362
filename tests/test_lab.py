"""The lab serves what it claims: each endpoint's chain, fetched over a real TLS connection,
gets exactly its expected codes from the diagnosis, and each handshake-level endpoint fails
a modern client the way it says. Everything runs on 127.0.0.1.
"""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import os
import re
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID

import tlsdoctor.check
from tlsdoctor.anchors import TrustAnchors, anchors_from_files
from tlsdoctor.codes import FindingCode
from tlsdoctor.lab import ENDPOINT_NAMES, Lab, LabEndpoint, LabError
from tlsdoctor.lab.scenarios import (
    CRL_PATH,
    DOMAIN,
    HANDSHAKE_CODES,
    INTERMEDIATE_PATH,
    OCSP_PATH,
)
from tlsdoctor.tryclients.builds import context_build
from tlsdoctor.tryclients.predict import LegacyOutcome, legacy_server_outcome

TIMEOUT = 5.0
TLS_NAMES = [name for name in ENDPOINT_NAMES if name != "plain-http"]
IMF_FIXDATE = re.compile(r"[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT")
REQUEST = b"GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
# What only a revocation check (fetching the CRL or asking OCSP) shows: the chains of these
# endpoints are otherwise healthy, and an offline diagnosis does not fetch.
REVOCATION_CODES = frozenset({FindingCode.REVOKED, FindingCode.REVOCATION_UNKNOWN})
# No proxy from the environment: the lab's web service is on loopback.
WEB = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with Lab(tmp_path_factory.mktemp("lab")) as running:
        yield running


@pytest.fixture(scope="module")
def lab_anchors(lab: Lab) -> TrustAnchors:
    return anchors_from_files([lab.ca_file])


def client_context(*, tls1_0: bool = False) -> ssl.SSLContext:
    """A client that takes any chain, as a diagnosing probe does."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if tls1_0:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = ssl.TLSVersion.TLSv1
            context.maximum_version = ssl.TLSVersion.TLSv1
        context.set_ciphers("ALL:@SECLEVEL=0")
    return context


def unverified_chain(tls: ssl.SSLSocket) -> list[x509.Certificate]:
    getter = getattr(tls, "get_unverified_chain", None)
    if getter is not None:  # Python 3.13+: DER bytes
        ders = list(getter())
    else:  # 3.10-3.12: the private object's certificates
        ders = [c.public_bytes(ssl._ssl.ENCODING_DER) for c in tls._sslobj.get_unverified_chain()]  # type: ignore[attr-defined]
    return [x509.load_der_x509_certificate(der) for der in ders]


def read_all(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def fetch(
    endpoint: LabEndpoint, context: ssl.SSLContext | None = None
) -> tuple[list[x509.Certificate], str, bytes]:
    """The chain the endpoint sends, the TLS version, and its answer to a GET."""
    context = context or client_context()
    with (
        socket.create_connection((endpoint.address, endpoint.port), timeout=TIMEOUT) as raw,
        context.wrap_socket(raw, server_hostname=endpoint.host) as tls,
    ):
        chain = unverified_chain(tls)
        version = tls.version() or ""
        tls.sendall(REQUEST % endpoint.host.encode())
        return chain, version, read_all(tls)


def plain_get(endpoint: LabEndpoint, request: bytes) -> bytes:
    with socket.create_connection((endpoint.address, endpoint.port), timeout=TIMEOUT) as sock:
        sock.sendall(request)
        return read_all(sock)


def assert_http_ok(response: bytes) -> tuple[dict[str, str], bytes]:
    """A minimal valid HTTP/1.1 200 with a current RFC 7231 Date and Connection: close."""
    head, _, body = response.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    assert status == "HTTP/1.1 200 OK", response[:200]
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
    assert IMF_FIXDATE.fullmatch(headers["date"]), headers["date"]
    sent = email.utils.parsedate_to_datetime(headers["date"])
    assert abs(sent - dt.datetime.now(dt.timezone.utc)) < dt.timedelta(seconds=60)
    assert headers["connection"] == "close"
    assert int(headers["content-length"]) == len(body)
    return headers, body


def diagnosis(chain: list[x509.Certificate], host: str, anchors: TrustAnchors) -> tuple[str, ...]:
    report = tlsdoctor.check.check_chain(chain, host, anchors=anchors)
    return tuple(code.value for code in report.codes)


def web_url(lab: Lab, path: str) -> str:
    return f"http://127.0.0.1:{lab.endpoint('plain-http').port}{path}"


def http(
    url: str, body: bytes | None = None, content_type: str | None = None
) -> tuple[int, str, bytes]:
    """(status, Content-Type, body) of a GET, or of a POST of ``body``."""
    headers = {"Content-Type": content_type} if content_type else {}
    request = urllib.request.Request(url, data=body, headers=headers)
    try:
        with WEB.open(request, timeout=TIMEOUT) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.headers["Content-Type"], error.read()


# The catalogue ----------------------------------------------------------------------------
def test_catalogue(lab: Lab) -> None:
    names = [endpoint.name for endpoint in lab.endpoints]
    assert names == list(ENDPOINT_NAMES) and len(set(names)) == 19
    assert len({endpoint.port for endpoint in lab.endpoints}) == len(names)
    codes = {code.value for code in FindingCode}
    for endpoint in lab.endpoints:
        assert endpoint.address == "127.0.0.1"
        assert endpoint.host.endswith(f".{DOMAIN}")
        assert endpoint.starttls is None
        assert endpoint.description.endswith(".")
        assert set(endpoint.expect) <= codes
        assert bool(endpoint.expect) == (endpoint.name != "good")
    assert lab.endpoint("wildcard-depth").host == f"a.wildcard-depth.{DOMAIN}"
    with pytest.raises(LabError, match="no lab endpoint 'nope'"):
        lab.endpoint("nope")
    root = x509.load_pem_x509_certificates(lab.ca_file.read_bytes())
    assert [cert.subject.rfc4514_string() for cert in root] == [
        "CN=tlsdoctor lab Root CA,O=tlsdoctor lab"
    ]


# Every TLS endpoint: its chain gets exactly its codes, and it answers HTTP ----------------
@pytest.mark.parametrize("name", TLS_NAMES)
def test_served_chain_gets_expected_codes(name: str, lab: Lab, lab_anchors: TrustAnchors) -> None:
    endpoint = lab.endpoint(name)
    context = client_context(tls1_0=name == "tls1.0-only")
    if name == "client-cert-required":  # the handshake must succeed to see the answer
        context.load_cert_chain(lab.directory / "client.pem", lab.directory / "client.key")
    chain, version, response = fetch(endpoint, context)
    offline = HANDSHAKE_CODES | REVOCATION_CODES
    certificate_codes = tuple(c for c in endpoint.expect if FindingCode(c) not in offline)
    found = diagnosis(chain, endpoint.host, lab_anchors)
    assert tuple(c for c in found if FindingCode(c) not in REVOCATION_CODES) == certificate_codes
    _, body = assert_http_ok(response)
    assert body.decode().startswith(f"tlsdoctor lab: {name} ({endpoint.host})")
    assert version == ("TLSv1" if name == "tls1.0-only" else "TLSv1.3")
    # What the server sends is what it wrote to its chain file.
    written = x509.load_pem_x509_certificates((lab.directory / f"{name}.pem").read_bytes())
    assert chain == written


def test_chains_are_built_as_described(lab: Lab) -> None:
    def chain(name: str) -> list[x509.Certificate]:
        context = client_context(tls1_0=name == "tls1.0-only")
        return fetch(lab.endpoint(name), context)[0]

    def cns(certs: list[x509.Certificate]) -> list[str]:
        return [
            str(c.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value) for c in certs
        ]

    assert cns(chain("good")) == [f"good.{DOMAIN}", "tlsdoctor lab Issuing CA"]
    assert cns(chain("revoked")) == [f"revoked.{DOMAIN}", "tlsdoctor lab Issuing CA"]
    assert cns(chain("chain-order")) == [
        f"chain-order.{DOMAIN}",
        "tlsdoctor lab Policy CA",
        "tlsdoctor lab Issuing CA 2",
    ]
    untrusted = chain("untrusted-root")
    assert cns(untrusted)[1:] == [
        "tlsdoctor lab Untrusted Issuing CA",
        "tlsdoctor lab Untrusted Root CA",
    ]
    assert untrusted[2].subject == untrusted[2].issuer  # the root is sent
    (sha1,) = chain("sha1")[:1]
    assert isinstance(sha1.signature_hash_algorithm, hashes.SHA1)
    key = chain("rsa-1024")[0].public_key()
    assert isinstance(key, rsa.RSAPublicKey) and key.key_size == 1024
    (superfish_leaf,) = chain("known-bad-root")
    assert "Superfish" in superfish_leaf.issuer.rfc4514_string()
    cn_only = chain("cn-only")[0]
    with pytest.raises(x509.ExtensionNotFound):
        cn_only.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    expiring = chain("expiring-soon")[0]
    assert expiring.not_valid_after_utc - expiring.not_valid_before_utc == dt.timedelta(days=90)
    left = expiring.not_valid_after_utc - dt.datetime.now(dt.timezone.utc)
    assert dt.timedelta(days=4) < left <= dt.timedelta(days=5)


def test_missing_intermediate_is_published_at_its_aia_url(
    lab: Lab, lab_anchors: TrustAnchors
) -> None:
    endpoint = lab.endpoint("missing-intermediate")
    (leaf,) = fetch(endpoint)[0]
    aia = leaf.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    urls = [
        d.access_location.value
        for d in aia
        if d.access_method == AuthorityInformationAccessOID.CA_ISSUERS
    ]
    http = lab.endpoint("plain-http")
    assert urls == [f"http://127.0.0.1:{http.port}{INTERMEDIATE_PATH}"]
    response = plain_get(
        http, b"GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % INTERMEDIATE_PATH.encode()
    )
    headers, body = assert_http_ok(response)
    assert headers["content-type"] == "application/pkix-cert"
    intermediate = x509.load_der_x509_certificate(body)
    # With the downloaded intermediate the chain is whole: what a browser would then see.
    assert diagnosis([leaf, intermediate], endpoint.host, lab_anchors) == ()


# The revocation service: the Issuing CA's CRL and OCSP responder, on the plain-http port --
def revocation_urls(leaf: x509.Certificate) -> tuple[list[str], list[str]]:
    """The leaf's CRL distribution point and OCSP URLs."""
    try:
        points = leaf.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
        crls = [str(name.value) for point in points for name in point.full_name or ()]
    except x509.ExtensionNotFound:
        crls = []
    try:
        aia = leaf.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
        ocsps = [
            str(d.access_location.value)
            for d in aia
            if d.access_method == AuthorityInformationAccessOID.OCSP
        ]
    except x509.ExtensionNotFound:
        ocsps = []
    return crls, ocsps


@pytest.fixture(scope="module")
def served(lab: Lab) -> dict[str, list[x509.Certificate]]:
    """The chains of the endpoints the revocation tests use, as served."""
    names = ("good", "revoked", "expired", "untrusted-root")
    return {name: fetch(lab.endpoint(name))[0] for name in names}


def ocsp_ask(
    url: str,
    leaf: x509.Certificate,
    issuer: x509.Certificate,
    algorithm: hashes.HashAlgorithm | None = None,
    *,
    get: bool = False,
) -> tuple[ocsp.OCSPResponse, bytes]:
    """The responder's answer to a request with a fresh nonce (POSTed, or by GET), and
    that nonce."""
    nonce = os.urandom(16)
    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(leaf, issuer, algorithm or hashes.SHA1())
        .add_extension(x509.OCSPNonce(nonce), critical=False)
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    if get:  # RFC 6960 A.1: the URL, "/", the URL-encoded base64 of the DER request
        encoded = urllib.parse.quote(base64.b64encode(request).decode(), safe="")
        status, content_type, body = http(f"{url}/{encoded}")
    else:
        status, content_type, body = http(url, request, "application/ocsp-request")
    assert (status, content_type) == (200, "application/ocsp-response")
    return ocsp.load_der_ocsp_response(body), nonce


def assert_signed_by(response: ocsp.OCSPResponse, issuer: x509.Certificate) -> None:
    key = issuer.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    assert response.signature_hash_algorithm is not None
    key.verify(
        response.signature,
        response.tbs_response_bytes,
        ec.ECDSA(response.signature_hash_algorithm),
    )  # raises InvalidSignature otherwise
    ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert response.responder_key_hash == ski.digest and response.responder_name is None
    assert response.certificates == []  # the CA signs itself: no delegated responder


def test_good_and_revoked_leaves_point_at_the_lab_web_service(
    lab: Lab, served: dict[str, list[x509.Certificate]]
) -> None:
    expected = ([web_url(lab, CRL_PATH)], [web_url(lab, OCSP_PATH)])
    assert expected[0] == [f"http://127.0.0.1:{lab.endpoint('plain-http').port}/issuing.crl"]
    assert revocation_urls(served["good"][0]) == expected
    assert revocation_urls(served["revoked"][0]) == expected
    assert revocation_urls(served["expired"][0]) == ([], [])  # the others have none


def test_crl_lists_the_revoked_leaf(lab: Lab, served: dict[str, list[x509.Certificate]]) -> None:
    status, content_type, der = http(web_url(lab, CRL_PATH))
    assert (status, content_type) == (200, "application/pkix-crl")
    crl = x509.load_der_x509_crl(der)
    revoked, issuer = served["revoked"]
    good = served["good"][0]
    assert issuer == served["good"][1]  # one Issuing CA for both
    issuer_key = issuer.public_key()
    assert isinstance(issuer_key, ec.EllipticCurvePublicKey)
    assert crl.is_signature_valid(issuer_key)
    assert crl.issuer == issuer.subject == revoked.issuer
    entry = crl.get_revoked_certificate_by_serial_number(revoked.serial_number)
    assert entry is not None and len(crl) == 1
    assert crl.get_revoked_certificate_by_serial_number(good.serial_number) is None
    reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
    assert reason is x509.ReasonFlags.key_compromise
    now = dt.datetime.now(dt.timezone.utc)
    hour, minute = dt.timedelta(hours=1), dt.timedelta(minutes=1)
    assert abs(entry.revocation_date_utc - (now - hour)) < minute
    assert revoked.not_valid_before_utc < entry.revocation_date_utc
    assert abs(crl.last_update_utc - (now - hour)) < minute
    assert crl.next_update_utc is not None
    assert abs(crl.next_update_utc - (now + dt.timedelta(days=7))) < minute
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 1
    aki = crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    assert http(web_url(lab, CRL_PATH))[2] == der  # the same CRL until it is a day old


@pytest.mark.parametrize(
    ("name", "status"),
    [("revoked", ocsp.OCSPCertStatus.REVOKED), ("good", ocsp.OCSPCertStatus.GOOD)],
)
def test_ocsp_answers_for_the_served_leaves(
    name: str,
    status: ocsp.OCSPCertStatus,
    lab: Lab,
    served: dict[str, list[x509.Certificate]],
) -> None:
    leaf, issuer = served[name]
    (ocsp_url,) = revocation_urls(leaf)[1]
    response, nonce = ocsp_ask(ocsp_url, leaf, issuer)
    assert response.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
    assert response.certificate_status is status
    assert response.serial_number == leaf.serial_number
    assert response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == nonce
    assert_signed_by(response, issuer)
    now = dt.datetime.now(dt.timezone.utc)
    hour, minute = dt.timedelta(hours=1), dt.timedelta(minutes=1)
    assert abs(response.this_update_utc - (now - hour)) < minute
    assert response.next_update_utc is not None
    assert abs(response.next_update_utc - (now + dt.timedelta(days=1))) < minute
    if status is ocsp.OCSPCertStatus.REVOKED:
        assert response.revocation_reason is x509.ReasonFlags.key_compromise
        assert response.revocation_time_utc is not None
        assert abs(response.revocation_time_utc - (now - hour)) < minute
    else:
        assert response.revocation_time_utc is None
    # The same answer by GET (RFC 6960 A.1) and for a CertID hashed with SHA-256.
    by_get, _ = ocsp_ask(ocsp_url, leaf, issuer, get=True)
    assert by_get.certificate_status is status
    sha256, _ = ocsp_ask(ocsp_url, leaf, issuer, hashes.SHA256())
    assert sha256.certificate_status is status
    assert isinstance(sha256.hash_algorithm, hashes.SHA256)
    assert_signed_by(sha256, issuer)


def test_ocsp_unknown_and_malformed(lab: Lab, served: dict[str, list[x509.Certificate]]) -> None:
    url = web_url(lab, OCSP_PATH)
    issuer = served["good"][1]
    # Any certificate of the Issuing CA is good, CRL distribution point or not.
    expired = served["expired"][0]
    assert ocsp_ask(url, expired, issuer)[0].certificate_status is ocsp.OCSPCertStatus.GOOD
    # Another CA's certificate, and a serial the Issuing CA never issued: unknown.
    foreign_leaf, foreign_issuer = served["untrusted-root"][:2]
    foreign = ocsp_ask(url, foreign_leaf, foreign_issuer)[0]
    assert foreign.certificate_status is ocsp.OCSPCertStatus.UNKNOWN
    assert_signed_by(foreign, issuer)
    known = ocsp.OCSPRequestBuilder().add_certificate(expired, issuer, hashes.SHA1()).build()
    never_issued = (
        ocsp.OCSPRequestBuilder()
        .add_certificate_by_hash(
            known.issuer_name_hash, known.issuer_key_hash, 12345, hashes.SHA1()
        )
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    status, _, body = http(url, never_issued, "application/ocsp-request")
    unknown = ocsp.load_der_ocsp_response(body)
    assert unknown.certificate_status is ocsp.OCSPCertStatus.UNKNOWN
    assert unknown.serial_number == 12345 and len(unknown.extensions) == 0  # no nonce asked
    # What is not an OCSP request is answered malformedRequest, by POST and by GET.
    for status, content_type, body in (
        http(url, b"\x30\x03\x02\x01\x01", "application/ocsp-request"),
        http(f"{url}/not-base64!"),
        http(f"{url}/{base64.b64encode(b'junk').decode()}"),
    ):
        assert (status, content_type) == (200, "application/ocsp-response")
        malformed = ocsp.load_der_ocsp_response(body)
        assert malformed.response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    # HTTP errors: the wrong media type, a body too large, a chunked one, one cut short.
    assert http(url, never_issued, "application/octet-stream")[0] == 415
    assert http(web_url(lab, CRL_PATH), b"x", "text/plain")[0] == 405
    endpoint = lab.endpoint("plain-http")
    post = b"POST /ocsp HTTP/1.1\r\nContent-Type: application/ocsp-request\r\n"
    assert plain_get(endpoint, post + b"Content-Length: 1000000\r\n\r\n").startswith(
        b"HTTP/1.1 413 "
    )
    assert plain_get(endpoint, post + b"Transfer-Encoding: chunked\r\n\r\n").startswith(
        b"HTTP/1.1 411 "
    )
    with socket.create_connection((endpoint.address, endpoint.port), timeout=TIMEOUT) as sock:
        sock.sendall(post + b"Content-Length: 100\r\n\r\n" + never_issued[:10])
        sock.shutdown(socket.SHUT_WR)
        assert read_all(sock).startswith(b"HTTP/1.1 400 ")


def test_openssl_agrees_with_the_revocation_service(
    lab: Lab, served: dict[str, list[x509.Certificate]], tmp_path: Path
) -> None:
    """An independent client: openssl's OCSP client (nonce and signature checked against
    the lab root) and its CRL check."""
    issuer_file = tmp_path / "issuer.pem"
    issuer_file.write_bytes(served["good"][1].public_bytes(serialization.Encoding.PEM))
    crl_file = tmp_path / "crl.pem"
    crl = x509.load_der_x509_crl(http(web_url(lab, CRL_PATH))[2])
    crl_file.write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    for name in ("good", "revoked"):
        leaf_file = tmp_path / f"{name}.pem"
        leaf_file.write_bytes(served[name][0].public_bytes(serialization.Encoding.PEM))
        asked = subprocess.run(
            ["openssl", "ocsp", "-issuer", issuer_file, "-cert", leaf_file, "-CAfile",
             lab.ca_file, "-url", web_url(lab, OCSP_PATH), "-timeout", "5"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert "Response verify OK" in asked.stderr, asked.stderr
        assert f"{leaf_file}: {name}" in asked.stdout, asked.stdout
        verified = subprocess.run(
            ["openssl", "verify", "-crl_check", "-CAfile", lab.ca_file, "-untrusted",
             issuer_file, "-CRLfile", crl_file, leaf_file],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert (verified.returncode == 0) == (name == "good"), verified.stdout + verified.stderr
    assert "certificate revoked" in verified.stdout + verified.stderr


# Handshake-level endpoints --------------------------------------------------------------
# How a Python context fails against a TLS 1.0-only server, by what its build allows: a
# minimum above TLS 1.0 gets the server's protocol-version alert; a minimum that allows it
# (Debian's python3) on OpenSSL 3 at security level >= 1 refuses the SHA-1 handshake
# signature instead.
_REFUSAL = {
    LegacyOutcome.PROTOCOL_VERSION: r"PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL",
    LegacyOutcome.SIGALG: r"(?i)legacy sigalg disallowed or unsupported",
}


def predicted_refusal(context: ssl.SSLContext, what: str) -> str:
    """The error ``context`` must fail with against the tls1.0-only endpoint, predicted from
    the local build (tlsdoctor.tryclients), not from upstream defaults."""
    judged = legacy_server_outcome(context_build(context, what), "TLSv1")
    assert judged is not None, f"{what}: its minimum version cannot be read"
    outcome, why = judged
    assert outcome in _REFUSAL, f"{what} would connect to a TLS 1.0-only server: {why}"
    return _REFUSAL[outcome]


def test_tls10_only_refuses_modern_clients(lab: Lab) -> None:
    endpoint = lab.endpoint("tls1.0-only")
    # Trusting the lab CA: an untrusted chain fails before the handshake signature is read.
    default = ssl.create_default_context(cafile=str(lab.ca_file))
    with pytest.raises(ssl.SSLError, match=predicted_refusal(default, "default context")):
        fetch(endpoint, default)
    any_chain = client_context()  # even one that accepts any certificate
    with pytest.raises(ssl.SSLError, match=predicted_refusal(any_chain, "CERT_NONE context")):
        fetch(endpoint, any_chain)
    assert fetch(endpoint, client_context(tls1_0=True))[1] == "TLSv1"


def test_tls10_only_refusal_follows_the_minimum_version(lab: Lab) -> None:
    """Twin: a client that sets TLS 1.2 as its minimum (upstream Python's default) gets the
    protocol-version error on every build, and the prediction says so."""
    endpoint = lab.endpoint("tls1.0-only")
    modern = client_context()
    modern.minimum_version = ssl.TLSVersion.TLSv1_2
    expected = predicted_refusal(modern, "TLS 1.2 minimum")
    assert expected == _REFUSAL[LegacyOutcome.PROTOCOL_VERSION]
    with pytest.raises(ssl.SSLError, match=expected):
        fetch(endpoint, modern)


def test_client_cert_required_aborts_without_one(lab: Lab) -> None:
    with pytest.raises(ssl.SSLError, match=r"CERTIFICATE_REQUIRED|HANDSHAKE_FAILURE"):
        fetch(lab.endpoint("client-cert-required"))


def test_plain_http_is_not_tls(lab: Lab) -> None:
    endpoint = lab.endpoint("plain-http")
    _, body = assert_http_ok(plain_get(endpoint, REQUEST % endpoint.host.encode()))
    assert b"plain HTTP" in body
    with pytest.raises(ssl.SSLError, match=r"WRONG_VERSION_NUMBER|RECORD_LAYER"):
        fetch(endpoint)
    assert plain_get(endpoint, b"hello\r\n\r\n").startswith(b"HTTP/1.1 400 ")
    assert plain_get(endpoint, b"POST / HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 405 ")


def test_a_trusting_client_connects_only_to_good(lab: Lab) -> None:
    """What a real client trusting ca_file sees: good connects, expired is refused."""
    context = ssl.create_default_context(cafile=str(lab.ca_file))
    assert_http_ok(fetch(lab.endpoint("good"), context)[2])
    with pytest.raises(ssl.SSLCertVerificationError, match="expired"):
        fetch(lab.endpoint("expired"), context)


def test_clients_that_misbehave_do_not_hurt_the_server(lab: Lab) -> None:
    endpoint = lab.endpoint("good")
    address = (endpoint.address, endpoint.port)
    with socket.create_connection(address, timeout=TIMEOUT):
        pass  # connects and closes without a byte
    with socket.create_connection(address, timeout=TIMEOUT) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\n\r\n")  # HTTP to a TLS port
        assert not read_all(sock).startswith(b"HTTP")  # closed, at most with an alert
    context = client_context()
    with (
        socket.create_connection(address, timeout=TIMEOUT) as raw,
        context.wrap_socket(raw, server_hostname=endpoint.host),
    ):
        pass  # a handshake and no request
    assert_http_ok(fetch(endpoint)[2])


# Lifecycle ------------------------------------------------------------------------------
def refused(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT):
            return False
    except ConnectionRefusedError:
        return True


def test_stop_leaves_nothing_behind() -> None:
    threads_before = set(threading.enumerate())
    lab = Lab()
    lab.start()
    directory = lab.directory
    ports = [endpoint.port for endpoint in lab.endpoints]
    assert (directory / "ca.pem").is_file()
    good = lab.endpoint("good")
    # Clients stuck mid-conversation must not hold stop() up.
    idle = socket.create_connection((good.address, good.port), timeout=TIMEOUT)
    trickle = socket.create_connection((good.address, good.port), timeout=TIMEOUT)
    trickle.sendall(b"\x16\x03\x01")  # the first bytes of a ClientHello
    web = lab.endpoint("plain-http")
    posting = socket.create_connection((web.address, web.port), timeout=TIMEOUT)
    posting.sendall(b"POST /ocsp HTTP/1.1\r\nContent-Length: 100\r\n\r\n0123")  # 4 of 100
    try:
        time.sleep(0.05)
        started = time.monotonic()
        lab.stop()
        assert time.monotonic() - started < 2.0
        assert idle.recv(1) == b""  # the server closed it
        assert posting.recv(1) == b""
    finally:
        idle.close()
        trickle.close()
        posting.close()
    assert all(refused(port) for port in ports)
    assert set(threading.enumerate()) == threads_before
    assert not directory.exists()  # a temporary directory is removed
    assert lab.endpoints == ()
    lab.stop()  # idempotent
    with pytest.raises(LabError, match="not started"):
        _ = lab.ca_file
    children = Path("/proc/self/task")
    if children.is_dir():  # no subprocess outlives start()
        assert all(
            not (task / "children").exists() or not (task / "children").read_text().strip()
            for task in children.iterdir()
        )


def test_port_base_gives_consecutive_ports(tmp_path: Path) -> None:
    count = len(ENDPOINT_NAMES)
    # Below Linux's ephemeral range (32768+), where connections of other tests linger in
    # TIME_WAIT and block a bind.
    for base in range(20000, 32000, 997):  # a few candidate ranges; one is free
        lab = Lab(tmp_path, port_base=base)
        try:
            lab.start()
        except LabError:
            continue
        try:
            assert [e.port for e in lab.endpoints] == list(range(base, base + count))
            assert_http_ok(fetch(lab.endpoint("good"))[2])
        finally:
            lab.stop()
        assert refused(base) and (tmp_path / "ca.pem").is_file()  # a given directory stays
        # A taken port: a clear error, and the ports bound before it are released.
        with (
            socket.create_server(("127.0.0.1", base + 3)),
            pytest.raises(LabError, match=f"cannot listen on 127.0.0.1:{base + 3}"),
        ):
            Lab(tmp_path, port_base=base).start()
        assert refused(base)
        return
    pytest.fail("no free range of ports found")
