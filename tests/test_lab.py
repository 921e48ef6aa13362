"""The lab serves what it claims: each endpoint's chain, fetched over a real TLS connection,
gets exactly its expected codes from the diagnosis, and each handshake-level endpoint fails
a modern client the way it says. Everything runs on 127.0.0.1.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import re
import socket
import ssl
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import AuthorityInformationAccessOID

import tlsdoctor.check
from tlsdoctor.anchors import TrustAnchors, anchors_from_files
from tlsdoctor.codes import FindingCode
from tlsdoctor.lab import ENDPOINT_NAMES, Lab, LabEndpoint, LabError
from tlsdoctor.lab.scenarios import DOMAIN, HANDSHAKE_CODES, INTERMEDIATE_PATH

TIMEOUT = 5.0
TLS_NAMES = [name for name in ENDPOINT_NAMES if name != "plain-http"]
IMF_FIXDATE = re.compile(r"[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT")
REQUEST = b"GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"


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


# The catalogue ----------------------------------------------------------------------------
def test_catalogue(lab: Lab) -> None:
    names = [endpoint.name for endpoint in lab.endpoints]
    assert names == list(ENDPOINT_NAMES) and len(set(names)) == 18
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
    certificate_codes = tuple(c for c in endpoint.expect if FindingCode(c) not in HANDSHAKE_CODES)
    assert diagnosis(chain, endpoint.host, lab_anchors) == certificate_codes
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


# Handshake-level endpoints --------------------------------------------------------------
def test_tls10_only_refuses_modern_clients(lab: Lab) -> None:
    endpoint = lab.endpoint("tls1.0-only")
    with pytest.raises(ssl.SSLError, match=r"PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL"):
        fetch(endpoint, ssl.create_default_context())
    with pytest.raises(ssl.SSLError, match=r"PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL"):
        fetch(endpoint)  # even one that accepts any certificate
    assert fetch(endpoint, client_context(tls1_0=True))[1] == "TLSv1"


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
    try:
        time.sleep(0.05)
        started = time.monotonic()
        lab.stop()
        assert time.monotonic() - started < 2.0
        assert idle.recv(1) == b""  # the server closed it
    finally:
        idle.close()
        trickle.close()
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
