"""``tlsdoctor fix chain``, the planning and file side: chains planned from PKI made at test
time, keys against certificates, server snippets, atomic writes, and the repaired chain
proven with real clients (curl and Python's ssl) against openssl s_server and nginx."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import shutil
import socket
import ssl
import stat
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

import servers
from conftest import anchors_of
from pki import DAY, NOW, Issued, build, make_root, name, rsa_key
from tlsdoctor.analysis.path import PathEnd
from tlsdoctor.anchors import TrustAnchors
from tlsdoctor.codes import FindingCode
from tlsdoctor.errors import InputError
from tlsdoctor.probe.endpoint import Deadline, probe
from tlsdoctor.probe.targets import Endpoint
from tlsdoctor.remedy.chain import ChainPlan, DifferenceKind, plan_chain
from tlsdoctor.remedy.files import (
    ChainFiles,
    FileRole,
    KeyPasswordError,
    NotAPrivateKey,
    OverwriteRefused,
    chain_outputs,
    chain_pem,
    key_matches,
    load_private_key,
    write_atomically,
    write_outputs,
)
from tlsdoctor.remedy.servers import (
    SNIPPETS,
    ServerSoftware,
    Snippet,
    detect_server,
    instructions_for_header,
    issued_by_lets_encrypt,
    parse_server_header,
    server_instructions,
)

K = DifferenceKind
HOST = "www.example.test"
AIA = "http://ca.example.test/issuing.der"


def plan(
    served: Sequence[Issued],
    candidates: Sequence[Issued] = (),
    *,
    anchors: TrustAnchors,
    host: str = HOST,
    include_root: bool = False,
    sources: Mapping[x509.Certificate, str] | None = None,
) -> ChainPlan:
    """plan_chain over test certificates at NOW, the test roots not counted as public."""
    result = plan_chain(
        [item.cert for item in served],
        [item.cert for item in candidates],
        anchors,
        at=NOW,
        host=host,
        include_root=include_root,
        public_roots=anchors_of(),
        sources=sources,
    )
    # The contract the CLI relies on: no difference listed means nothing to change.
    same = [c.fingerprint(hashes.SHA256()) for c in result.chain] == [
        item.cert.fingerprint(hashes.SHA256()) for item in served
    ]
    assert same is not result.changed, result.differences
    return result


def kinds(result: ChainPlan) -> list[DifferenceKind]:
    return [item.kind for item in result.differences]


def certs(*issued: Issued) -> tuple[x509.Certificate, ...]:
    return tuple(item.cert for item in issued)


# Planning ------------------------------------------------------------------------------


def test_leaf_only_with_the_intermediate_as_candidate(root: Issued, anchors: TrustAnchors) -> None:
    issuing = root.issue_ca("Plan Issuing CA")
    leaf = issuing.issue_leaf(aia_url=AIA)
    result = plan([leaf], [issuing], anchors=anchors)
    assert result.chain == certs(leaf, issuing)
    assert result.intermediates == certs(issuing)
    assert result.trusted and result.accepted and result.verifier_error is None
    assert result.anchor == root.cert and result.anchor_name == "tlsdoctor Test Root CA"
    assert result.anchor_kinds == {"custom"} and result.public is False
    assert result.reason is None and result.findings == ()
    [missing] = result.differences
    assert missing.kind is K.MISSING and missing.name == "Plan Issuing CA"
    assert missing.subject == "CN=Plan Issuing CA,O=tlsdoctor tests"
    assert missing.sha256 == issuing.cert.fingerprint(hashes.SHA256()).hex()
    assert missing.source == "the candidate certificates"
    assert "'Plan Issuing CA' is not sent but issued 'www.example.test'" in missing.message
    # The network side names where it downloaded each candidate.
    named = plan([leaf], [issuing], anchors=anchors, sources={issuing.cert: AIA})
    found = named.differences[0]
    assert found.source == AIA and f"(found in {AIA})" in found.message


def test_leaf_only_and_nothing_found_says_what_is_missing_and_where_to_fetch_it(
    root: Issued, anchors: TrustAnchors
) -> None:
    issuing = root.issue_ca("Unfetched Issuing CA")
    leaf = issuing.issue_leaf(aia_url=AIA)
    result = plan([leaf], anchors=anchors)
    assert not result.trusted and not result.accepted
    assert result.end is PathEnd.MISSING_ISSUER
    assert result.chain == certs(leaf) and not result.changed
    assert result.findings[0].code is FindingCode.MISSING_INTERMEDIATE
    assert result.reason is not None and "'Unfetched Issuing CA' is missing" in result.reason
    assert result.issuer_urls == (AIA,)
    assert result.verifier_error is not None


def test_reversed_two_level_chain_is_put_in_issuing_order(
    root: Issued, anchors: TrustAnchors
) -> None:
    policy = root.issue_ca("Plan Policy CA")
    issuing = policy.issue_ca("Plan Issuing CA 2")
    leaf = issuing.issue_leaf()
    result = plan([policy, issuing, leaf], anchors=anchors)
    assert result.chain == certs(leaf, issuing, policy) and result.accepted
    assert kinds(result) == [K.WRONG_ORDER, K.WRONG_ORDER]
    assert [item.name for item in result.differences] == ["Plan Issuing CA 2", "www.example.test"]
    assert "'www.example.test' is sent after 'Plan Policy CA' but belongs before it" in (
        result.differences[1].message
    )


def test_two_level_intermediates_found_in_any_order(root: Issued, anchors: TrustAnchors) -> None:
    policy = root.issue_ca("Plan Policy CA")
    issuing = policy.issue_ca("Plan Issuing CA 2")
    leaf = issuing.issue_leaf(aia_url=AIA)
    unrelated = root.issue_ca("Unrelated CA")
    result = plan([leaf], [policy, unrelated, issuing], anchors=anchors)
    assert result.chain == certs(leaf, issuing, policy) and result.accepted
    assert kinds(result) == [K.MISSING, K.MISSING]
    assert [item.name for item in result.differences] == ["Plan Issuing CA 2", "Plan Policy CA"]
    assert "issued 'Plan Issuing CA 2'" in result.differences[1].message
    # One of the two found, the other still missing: not trusted, and the next URL to try.
    policy_url = "http://ca.example.test/policy.der"
    issuing = policy.issue_ca("Plan Issuing CA 3", aia_url=policy_url)
    half = plan([issuing.issue_leaf(aia_url=AIA)], [issuing], anchors=anchors)
    assert half.end is PathEnd.MISSING_ISSUER and half.issuer_urls == (policy_url,)
    assert kinds(half) == [K.MISSING]


def test_duplicate_is_sent_once(intermediate: Issued, anchors: TrustAnchors) -> None:
    leaf = intermediate.issue_leaf()
    result = plan([leaf, intermediate, intermediate], anchors=anchors)
    assert result.chain == certs(leaf, intermediate) and result.accepted
    assert kinds(result) == [K.DUPLICATE]
    assert result.differences[0].message == (
        "'tlsdoctor Test Issuing CA 1' is sent more than once; once is enough."
    )


def test_clean_chain_has_no_differences(intermediate: Issued, anchors: TrustAnchors) -> None:
    leaf = intermediate.issue_leaf()
    result = plan([leaf, intermediate], [intermediate], anchors=anchors)
    assert result.differences == () and not result.changed and result.accepted


def _cross_sign(root: Issued, *, not_after: dt.datetime) -> x509.Certificate:
    """``root``'s name and key signed by another (older) root: a cross-certificate."""
    return build(
        subject=root.name,
        issuer=make_root("Old Root"),
        key=root.key,
        not_before=NOW - 3000 * DAY,
        not_after=not_after,
        ca=True,
    ).cert


def test_expired_cross_sign_is_extra_and_left_out(root: Issued, anchors: TrustAnchors) -> None:
    cross = _cross_sign(root, not_after=NOW - 10 * DAY)
    issuing = root.issue_ca("Cross Plan Issuing CA")
    leaf = issuing.issue_leaf()
    result = plan_chain(
        [leaf.cert, issuing.cert, cross], [], anchors, at=NOW, host=HOST, public_roots=anchors_of()
    )
    assert result.chain == certs(leaf, issuing) and cross not in result.chain
    assert result.accepted
    [extra] = result.differences
    assert extra.kind is K.EXTRA and extra.name == "tlsdoctor Test Root CA"
    assert "is an expired cross-sign of 'tlsdoctor Test Root CA'" in extra.message
    assert "remove it from the chain" in extra.message
    # Not even with the root asked for: the root comes from the store, never the cross-sign.
    with_root = plan_chain(
        [leaf.cert, issuing.cert, cross],
        [cross],
        anchors,
        at=NOW,
        host=HOST,
        include_root=True,
        public_roots=anchors_of(),
    )
    assert with_root.chain == (*certs(leaf, issuing), root.cert)
    assert [item.kind for item in with_root.differences] == [K.EXTRA, K.ROOT_ADDED]


def test_current_cross_sign_served_on_purpose_is_kept(root: Issued, anchors: TrustAnchors) -> None:
    """ISRG Root X1 cross-signed by DST Root CA X3, for old Android: it belongs."""
    cross = _cross_sign(root, not_after=NOW + 300 * DAY)
    issuing = root.issue_ca("Cross Plan Issuing CA")
    leaf = issuing.issue_leaf()
    result = plan_chain(
        [leaf.cert, issuing.cert, cross], [], anchors, at=NOW, host=HOST, public_roots=anchors_of()
    )
    assert result.chain == (leaf.cert, issuing.cert, cross)
    assert result.differences == () and result.accepted


def test_renewed_intermediate_replaces_the_expired_one(root: Issued, anchors: TrustAnchors) -> None:
    """The server still sends last year's copy of its intermediate (same name and key);
    the current one was found elsewhere."""
    key = rsa_key(2048, slot=7)
    old = build(
        subject=name("Renewed Issuing CA"),
        issuer=root,
        key=key,
        not_before=NOW - 800 * DAY,
        not_after=NOW - 5 * DAY,
        ca=True,
    )
    current = root.issue_ca("Renewed Issuing CA", key=key)
    leaf = current.issue_leaf()
    result = plan([leaf, old], [current], anchors=anchors)
    assert result.chain == certs(leaf, current) and result.accepted
    assert kinds(result) == [K.EXTRA, K.MISSING]
    assert "is an expired older copy of 'Renewed Issuing CA'" in result.differences[0].message


def test_stale_intermediate_with_another_key(root: Issued, anchors: TrustAnchors) -> None:
    current = root.issue_ca("Rollover Plan CA")
    stale = root.issue_ca("Rollover Plan CA")  # same name, other key
    leaf = current.issue_leaf()
    result = plan([leaf, stale], [current], anchors=anchors)
    assert result.chain == certs(leaf, current) and result.accepted
    assert kinds(result) == [K.EXTRA, K.MISSING]
    assert "has the name of a CA on the path but another key" in result.differences[0].message


def test_unrelated_certificate_is_extra(intermediate: Issued, anchors: TrustAnchors) -> None:
    leaf = intermediate.issue_leaf()
    other_site = intermediate.issue_leaf(["other.example.test"])
    result = plan([leaf, intermediate, other_site], anchors=anchors)
    assert result.chain == certs(leaf, intermediate)
    assert kinds(result) == [K.EXTRA]
    assert "is not on the path from the server's certificate" in result.differences[0].message


def test_include_root(root: Issued, intermediate: Issued, anchors: TrustAnchors) -> None:
    leaf = intermediate.issue_leaf()
    added = plan([leaf, intermediate], anchors=anchors, include_root=True)
    assert added.chain == certs(leaf, intermediate, root) and added.accepted
    assert kinds(added) == [K.ROOT_ADDED] and added.differences[0].source == "the trust store"
    # The root sent: harmless, left out unless asked for.
    sent = plan([leaf, intermediate, root], anchors=anchors)
    assert sent.chain == certs(leaf, intermediate) and kinds(sent) == [K.ROOT_SENT]
    assert "clients ignore it" in sent.differences[0].message
    kept = plan([leaf, intermediate, root], anchors=anchors, include_root=True)
    assert kept.chain == certs(leaf, intermediate, root) and not kept.changed


def test_unknown_root_plan_says_not_trusted_and_why(anchors: TrustAnchors) -> None:
    corporate = make_root("Corp Internal Root CA", org="Example Corp")
    issuing = corporate.issue_ca("Corp Issuing CA", org="Example Corp")
    leaf = issuing.issue_leaf()
    result = plan([leaf, issuing, corporate], anchors=anchors)
    assert not result.trusted and not result.accepted
    assert result.end is PathEnd.UNTRUSTED_ROOT and result.anchor is None
    assert result.findings[0].code is FindingCode.UNTRUSTED_ROOT
    assert result.reason is not None
    assert "ends in the root 'Corp Internal Root CA'" in result.reason
    assert result.verifier_error is not None
    # The best chain is still planned; the root the server sends is not needed by anyone.
    assert result.chain == certs(leaf, issuing) and kinds(result) == [K.ROOT_SENT]
    # Without the root, the same verdict from the issuer's name alone.
    unsent = plan([leaf, issuing], anchors=anchors)
    assert unsent.end is PathEnd.MISSING_ISSUER and not unsent.changed
    assert unsent.findings[0].code is FindingCode.UNTRUSTED_ROOT


def test_verifier_judges_the_planned_chain(intermediate: Issued, anchors: TrustAnchors) -> None:
    leaf = intermediate.issue_leaf()
    result = plan([leaf, intermediate], anchors=anchors, host="other.example.test")
    assert result.trusted and not result.accepted
    assert result.verifier_error is not None


def test_no_certificate_is_an_input_error(anchors: TrustAnchors) -> None:
    with pytest.raises(InputError, match="no certificate to plan a chain for"):
        plan_chain([], [], anchors, at=NOW, host=None)


# Keys ----------------------------------------------------------------------------------


def _pkcs8(issued: Issued, encoding: serialization.Encoding) -> bytes:
    return issued.key.private_bytes(
        encoding, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def test_key_matches_ec_and_rsa(intermediate: Issued) -> None:
    ec_leaf = intermediate.issue_leaf()
    rsa_leaf = intermediate.issue_leaf(key=rsa_key(2048))
    assert key_matches(ec_leaf.cert, ec_leaf.key_pem())
    assert key_matches(ec_leaf.cert, _pkcs8(ec_leaf, serialization.Encoding.DER))
    assert key_matches(rsa_leaf.cert, rsa_leaf.key_pem())
    traditional = rsa_leaf.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    assert key_matches(rsa_leaf.cert, traditional)
    assert not key_matches(ec_leaf.cert, rsa_leaf.key_pem())
    assert not key_matches(ec_leaf.cert, intermediate.issue_leaf().key_pem())


def test_key_matches_ed25519() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name("ed25519.example.test", org=None))
        .issuer_name(name("ed25519.example.test", org=None))
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOW - DAY)
        .not_valid_after(NOW + DAY)
        .sign(key, None)
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    assert key_matches(cert, pem)
    assert not key_matches(cert, _other_ed25519())


def _other_ed25519() -> bytes:
    return ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def test_not_a_key_is_one_clear_sentence(intermediate: Issued) -> None:
    leaf = intermediate.issue_leaf()
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(name(HOST, org=None))
        .sign(leaf.key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
    )
    with pytest.raises(NotAPrivateKey, match=r"^the key: holds a certificate signing request"):
        key_matches(leaf.cert, csr)
    with pytest.raises(NotAPrivateKey, match=r"^the key: holds a certificate, not a private key$"):
        key_matches(leaf.cert, leaf.pem())
    with pytest.raises(NotAPrivateKey, match=r"is not a private key this tool can read"):
        key_matches(leaf.cert, b"hello, this is not a key\n")
    with pytest.raises(NotAPrivateKey, match=r"is empty"):
        key_matches(leaf.cert, b"")
    assert issubclass(NotAPrivateKey, InputError)


def test_load_private_key_names_the_file(intermediate: Issued, tmp_path: Path) -> None:
    leaf = intermediate.issue_leaf()
    good = tmp_path / "site.key"
    good.write_bytes(leaf.key_pem())
    assert key_matches(leaf.cert, good.read_bytes())
    loaded = load_private_key(good)
    assert loaded.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == leaf.cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    csr_file = tmp_path / "site.csr"
    csr_file.write_bytes(
        x509.CertificateSigningRequestBuilder()
        .subject_name(name(HOST, org=None))
        .sign(leaf.key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
    )
    with pytest.raises(NotAPrivateKey) as caught:
        load_private_key(csr_file)
    assert str(caught.value).startswith(f"{csr_file}: holds a certificate signing request (CSR)")
    with pytest.raises(InputError, match=r"missing\.key: no such file"):
        load_private_key(tmp_path / "missing.key")
    with pytest.raises(NotAPrivateKey, match="is a directory"):
        load_private_key(tmp_path)


def test_encrypted_key_needs_its_password(intermediate: Issued, tmp_path: Path) -> None:
    leaf = intermediate.issue_leaf()
    encrypted = leaf.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"s3cret"),
    )
    path = tmp_path / "encrypted.key"
    path.write_bytes(encrypted)
    with pytest.raises(KeyPasswordError, match="it is encrypted; pass its password"):
        load_private_key(path)
    with pytest.raises(KeyPasswordError, match="the password given is wrong"):
        load_private_key(path, b"wrong")
    assert key_matches(leaf.cert, encrypted, b"s3cret")
    # A password for a key that has none is not an error.
    assert key_matches(leaf.cert, leaf.key_pem(), b"unneeded")


# Server software -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "software", "version"),
    [
        ("nginx/1.25.3", ServerSoftware.NGINX, (1, 25, 3)),
        ("nginx", ServerSoftware.NGINX, None),
        ("openresty/1.21.4.1", ServerSoftware.NGINX, (1, 21, 4, 1)),
        ("Apache/2.4.57 (Debian)", ServerSoftware.APACHE, (2, 4, 57)),
        ("Apache", ServerSoftware.APACHE, None),
        ("Apache-Coyote/1.1", ServerSoftware.UNKNOWN, (1, 1)),  # Tomcat, not httpd
        ("Microsoft-IIS/10.0", ServerSoftware.IIS, (10, 0)),
        ("Microsoft-HTTPAPI/2.0", ServerSoftware.IIS, (2, 0)),
        ("HAProxy", ServerSoftware.HAPROXY, None),
        ("LiteSpeed", ServerSoftware.LITESPEED, None),
        ("OpenLiteSpeed/1.7.19", ServerSoftware.LITESPEED, (1, 7, 19)),
        ("Caddy", ServerSoftware.CADDY, None),
        ("envoy", ServerSoftware.ENVOY, None),
        ("istio-envoy", ServerSoftware.ENVOY, None),
        ("cloudflare", ServerSoftware.CLOUDFLARE, None),
        ("gws", ServerSoftware.UNKNOWN, None),
        ("", ServerSoftware.UNKNOWN, None),
        (None, ServerSoftware.UNKNOWN, None),
    ],
)
def test_server_header_detection(
    header: str | None, software: ServerSoftware, version: tuple[int, ...] | None
) -> None:
    assert detect_server(header) is software
    parsed = parse_server_header(header)
    assert (parsed.software, parsed.version, parsed.header) == (software, version, header)


FILES = ChainFiles(
    fullchain=Path("/etc/tlsdoctor/www/fullchain.pem"),
    chain=Path("/etc/tlsdoctor/www/chain.pem"),
    cert=Path("/etc/tlsdoctor/www/cert.pem"),
    intermediates=(
        Path("/etc/tlsdoctor/www/intermediate-1.cer"),
        Path("/etc/tlsdoctor/www/intermediate-2.cer"),
    ),
    key=Path("/etc/ssl/private/www.key"),
    combined=Path("/etc/tlsdoctor/www/combined.pem"),
)
ROLE_PATHS: dict[FileRole, list[Path | None]] = {
    FileRole.FULLCHAIN: [FILES.fullchain],
    FileRole.CHAIN: [FILES.chain],
    FileRole.CERT: [FILES.cert],
    FileRole.INTERMEDIATE: [*FILES.intermediates],
    FileRole.KEY: [FILES.key],
    FileRole.COMBINED: [FILES.combined],
}


@pytest.mark.parametrize("row", SNIPPETS, ids=lambda row: f"{row.software}-{row.before}")
def test_each_snippet_names_the_written_paths(row: Snippet) -> None:
    version = None if row.before is None else (*row.before[:-1], row.before[-1] - 1)
    text = server_instructions(row.software, FILES, version=version, site=HOST)
    assert text.software is row.software and text.title == row.title
    for role in row.uses:
        for path in ROLE_PATHS[role]:
            assert str(path) in text.config, (role, text.config)
    assert "$" not in text.config + text.apply + "".join(text.notes)


def test_nginx_snippet_exactly() -> None:
    text = instructions_for_header("nginx/1.25.3", FILES, site=HOST)
    assert text.config == (
        "# in the server { listen 443 ssl; ... } block of www.example.test\n"
        "ssl_certificate     /etc/tlsdoctor/www/fullchain.pem;\n"
        "ssl_certificate_key /etc/ssl/private/www.key;"
    )
    assert text.apply == "nginx -t && systemctl reload nginx"


def test_apache_before_and_after_2_4_8() -> None:
    modern = instructions_for_header("Apache/2.4.57 (Debian)", FILES)
    assert "SSLCertificateFile    /etc/tlsdoctor/www/fullchain.pem" in modern.config
    assert "SSLCertificateChainFile" not in modern.config
    assert any("deprecated since Apache 2.4.8" in note for note in modern.notes)
    legacy = instructions_for_header("Apache/2.4.6 (CentOS)", FILES)
    assert "SSLCertificateFile      /etc/tlsdoctor/www/cert.pem" in legacy.config
    assert "SSLCertificateChainFile /etc/tlsdoctor/www/chain.pem" in legacy.config
    unknown_version = instructions_for_header("Apache", FILES)
    assert unknown_version == modern


def test_haproxy_iis_and_the_generic_fallback() -> None:
    haproxy = instructions_for_header("HAProxy", FILES)
    assert "bind :443 ssl crt /etc/tlsdoctor/www/combined.pem" in haproxy.config
    iis = instructions_for_header("Microsoft-IIS/10.0", FILES)
    assert iis.config.splitlines()[1:] == [
        "certutil -addstore CA /etc/tlsdoctor/www/intermediate-1.cer",
        "certutil -addstore CA /etc/tlsdoctor/www/intermediate-2.cer",
        "# or in PowerShell:",
        "Import-Certificate -FilePath /etc/tlsdoctor/www/intermediate-1.cer "
        "-CertStoreLocation Cert:\\LocalMachine\\CA",
        "Import-Certificate -FilePath /etc/tlsdoctor/www/intermediate-2.cer "
        "-CertStoreLocation Cert:\\LocalMachine\\CA",
    ]
    generic = instructions_for_header("gws", FILES, site=HOST)
    assert generic.software is ServerSoftware.UNKNOWN
    assert "/etc/tlsdoctor/www/fullchain.pem" in generic.config
    assert generic.apply.endswith("tlsdoctor check www.example.test")
    # No key file known: the snippet says so instead of inventing a path.
    keyless = ChainFiles(FILES.fullchain, FILES.chain, FILES.cert)
    assert "ssl_certificate_key <your private key file>;" in (
        server_instructions(ServerSoftware.NGINX, keyless).config
    )


def test_certbot_advice(root: Issued) -> None:
    lets_encrypt = root.issue_ca("R11", org="Let's Encrypt")
    assert issued_by_lets_encrypt(lets_encrypt.issue_leaf().cert)
    assert not issued_by_lets_encrypt(root.issue_ca("Other").issue_leaf().cert)
    text = instructions_for_header("nginx", FILES, site=HOST, certbot=True)
    assert text.notes[-1].startswith(
        "certbot users: point the server at /etc/letsencrypt/live/www.example.test/fullchain.pem,"
        " not cert.pem"
    )
    assert str(FILES.fullchain) in text.notes[-1]


# Writing files -------------------------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _leftovers(folder: Path) -> list[str]:
    return sorted(entry.name for entry in folder.iterdir() if entry.name.endswith(".tmp"))


def test_write_atomically_writes_and_refuses_to_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "fullchain.pem"
    assert write_atomically(target, b"first\n", force=False) == target
    assert target.read_bytes() == b"first\n" and _mode(target) == 0o644
    with pytest.raises(OverwriteRefused) as refused:
        write_atomically(target, b"second\n", force=False)
    assert str(refused.value) == f"{target}: already exists; not replaced without --force"
    assert isinstance(refused.value, InputError)
    assert target.read_bytes() == b"first\n"
    write_atomically(target, b"second\n", force=True)
    assert target.read_bytes() == b"second\n"
    write_atomically(target, b"third\n", force=True, mode=0o640)
    assert _mode(target) == 0o640
    assert _leftovers(tmp_path) == []


def test_private_keys_are_written_0600(intermediate: Issued, tmp_path: Path) -> None:
    leaf = intermediate.issue_leaf()
    key_file = write_atomically(tmp_path / "key.pem", leaf.key_pem(), force=False)
    assert _mode(key_file) == 0o600  # PEM with a private key, whatever mode says
    combined = write_atomically(tmp_path / "combined.pem", leaf.pem() + leaf.key_pem(), force=False)
    assert _mode(combined) == 0o600
    der_key = write_atomically(
        tmp_path / "key.der", _pkcs8(leaf, serialization.Encoding.DER), force=False, mode=0o600
    )
    assert _mode(der_key) == 0o600


def test_no_temporary_file_left_behind_on_error(tmp_path: Path) -> None:
    target = tmp_path / "chain.pem"
    with pytest.raises(TypeError):
        write_atomically(target, "text, not bytes", force=False)  # type: ignore[arg-type]
    assert not target.exists() and list(tmp_path.iterdir()) == []
    with pytest.raises(InputError, match=r"nowhere/chain\.pem: cannot be written"):
        write_atomically(tmp_path / "nowhere" / "chain.pem", b"x", force=False)
    target.write_bytes(b"old")
    with pytest.raises(OverwriteRefused):
        write_atomically(target, b"new", force=False)
    assert [entry.name for entry in tmp_path.iterdir()] == ["chain.pem"]


def test_symbolic_links_are_not_replaced(tmp_path: Path) -> None:
    """certbot's live/ files are links into archive/: replacing one stops renewals."""
    archive = tmp_path / "fullchain1.pem"
    archive.write_bytes(b"certbot's")
    link = tmp_path / "fullchain.pem"
    link.symlink_to(archive)
    with pytest.raises(InputError, match="is a symbolic link"):
        write_atomically(link, b"ours", force=True)
    assert link.is_symlink() and archive.read_bytes() == b"certbot's"


def test_chain_outputs_and_write_outputs(
    root: Issued, intermediate: Issued, tmp_path: Path
) -> None:
    leaf = intermediate.issue_leaf()
    chain = certs(leaf, intermediate)
    key_path = tmp_path / "site.key"
    files, outputs = chain_outputs(tmp_path / "out", chain, key=leaf.key, key_path=key_path)
    (tmp_path / "out").mkdir()
    written = write_outputs(outputs, force=False)
    assert [path.name for path in written] == [
        "fullchain.pem",
        "chain.pem",
        "cert.pem",
        "intermediate-1.cer",
        "combined.pem",
    ]
    assert files.fullchain.read_bytes() == chain_pem(chain) == leaf.pem() + intermediate.pem()
    assert files.chain.read_bytes() == intermediate.pem()
    assert files.cert.read_bytes() == leaf.pem()
    assert x509.load_der_x509_certificate(files.intermediates[0].read_bytes()) == intermediate.cert
    assert files.combined is not None and files.key == key_path
    assert key_matches(leaf.cert, files.combined.read_bytes())
    assert _mode(files.combined) == 0o600 and _mode(files.fullchain) == 0o644
    # A second run refuses before writing anything.
    files.fullchain.write_bytes(b"edited by hand")
    files.chain.unlink()
    with pytest.raises(OverwriteRefused):
        write_outputs(outputs, force=False)
    assert not files.chain.exists() and files.fullchain.read_bytes() == b"edited by hand"
    write_outputs(outputs, force=True)
    assert files.fullchain.read_bytes() == chain_pem(chain)
    assert _leftovers(tmp_path / "out") == []


# The repaired chain, proven with real clients --------------------------------------------

NOW_REAL = dt.datetime.now(dt.timezone.utc)
LIVE_HOST = "fix.tlsdoctor.test"
CLIENT_TIMEOUT = 30.0

needs_openssl_and_curl = pytest.mark.skipif(
    shutil.which("openssl") is None or shutil.which("curl") is None,
    reason="needs the openssl and curl commands",
)


@dataclass
class Site:
    """A PKI valid today on disk: the root clients trust, a leaf missing its intermediate."""

    folder: Path
    root: Issued
    issuing: Issued
    leaf: Issued

    @property
    def root_pem(self) -> Path:
        return self.folder / "root.pem"

    @property
    def leaf_pem(self) -> Path:
        return self.folder / "leaf.pem"

    @property
    def key_pem(self) -> Path:
        return self.folder / "leaf.key"


@pytest.fixture
def site(tmp_path: Path) -> Site:
    root = make_root(
        "tlsdoctor Fix Root CA", not_before=NOW_REAL - 30 * DAY, not_after=NOW_REAL + 3650 * DAY
    )
    issuing = root.issue_ca(
        "tlsdoctor Fix Issuing CA", not_before=NOW_REAL - 30 * DAY, not_after=NOW_REAL + 900 * DAY
    )
    leaf = issuing.issue_leaf(
        [LIVE_HOST],
        not_before=NOW_REAL - DAY,
        not_after=NOW_REAL + 80 * DAY,
        aia_url="http://ca.tlsdoctor.test/issuing.der",
    )
    made = Site(tmp_path, root, issuing, leaf)
    made.root_pem.write_bytes(root.pem())
    made.leaf_pem.write_bytes(leaf.pem())
    made.key_pem.write_bytes(leaf.key_pem())
    made.key_pem.chmod(0o600)
    return made


def served(port: int) -> tuple[list[x509.Certificate], str | None]:
    """The chain the server sends and its Server header, read by tlsdoctor's own probe."""
    endpoint = Endpoint(LIVE_HOST, port, connect="127.0.0.1")
    result = asyncio.run(probe(endpoint, LIVE_HOST, Deadline(CLIENT_TIMEOUT)))
    assert result.handshake.completed, result.handshake.error
    chain = [x509.load_der_x509_certificate(der) for der in result.handshake.chain]
    http = result.handshake.http
    return chain, None if http is None else http.server


def curl(port: int, cafile: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            "curl", "--silent", "--show-error", "--noproxy", "*", "--max-time", "20",
            "--cacert", str(cafile), "--resolve", f"{LIVE_HOST}:{port}:127.0.0.1",
            "--output", "/dev/null", "--write-out", "%{http_code}",
            f"https://{LIVE_HOST}:{port}/",
        ],
        capture_output=True,
        text=True,
        timeout=CLIENT_TIMEOUT,
        check=False,
    )  # fmt: skip


def python_get(port: int, cafile: Path) -> str:
    """The status line Python's ssl gets with real verification (raises when it fails)."""
    context = ssl.create_default_context(cafile=str(cafile))
    with (
        socket.create_connection(("127.0.0.1", port), timeout=CLIENT_TIMEOUT) as raw,
        context.wrap_socket(raw, server_hostname=LIVE_HOST) as tls,
    ):
        tls.sendall(f"GET / HTTP/1.0\r\nHost: {LIVE_HOST}\r\n\r\n".encode())
        answer = b""
        while b"\r\n" not in answer:
            data = tls.recv(4096)
            if not data:
                break
            answer += data
    return answer.split(b"\r\n", 1)[0].decode()


def assert_clients_fail(port: int, cafile: Path) -> None:
    result = curl(port, cafile)
    assert result.returncode == 60, (result.returncode, result.stderr)
    assert "unable to get local issuer certificate" in result.stderr
    with pytest.raises(ssl.SSLCertVerificationError) as failed:
        python_get(port, cafile)
    assert failed.value.verify_message == "unable to get local issuer certificate"


def assert_clients_pass(port: int, cafile: Path) -> None:
    result = curl(port, cafile)
    assert (result.returncode, result.stdout) == (0, "200"), result.stderr
    assert python_get(port, cafile).split()[1] == "200"


def plan_and_write(
    site: Site, chain_sent: Sequence[x509.Certificate]
) -> tuple[ChainPlan, ChainFiles]:
    """What `tlsdoctor fix chain` does once the network side fetched the AIA intermediate."""
    anchors = anchors_of(site.root)
    result = plan_chain(
        chain_sent,
        [site.issuing.cert],
        anchors,
        at=NOW_REAL,
        host=LIVE_HOST,
        public_roots=anchors_of(),
        sources={site.issuing.cert: "http://ca.tlsdoctor.test/issuing.der"},
    )
    assert result.accepted and [item.kind for item in result.differences] == [K.MISSING]
    out = site.folder / "fixed"
    out.mkdir()
    assert key_matches(result.leaf, site.key_pem.read_bytes())
    files, outputs = chain_outputs(out, result.chain, key_path=site.key_pem)
    write_outputs(outputs, force=False)
    return result, files


@needs_openssl_and_curl
def test_repaired_chain_passes_curl_and_python_on_s_server(site: Site) -> None:
    with servers.s_server(site.leaf_pem, site.key_pem, "-www") as port:
        sent, _ = served(port)
        assert sent == [site.leaf.cert]
        assert_clients_fail(port, site.root_pem)
    result, files = plan_and_write(site, sent)
    assert result.chain == (site.leaf.cert, site.issuing.cert)
    # s_server's -cert reads only the first certificate of a bundle: the full chain given
    # there alone still fails, which is why servers need telling, not just the file.
    with servers.s_server(files.fullchain, site.key_pem, "-www") as port:
        assert served(port)[0] == [site.leaf.cert]
        assert_clients_fail(port, site.root_pem)
    with servers.s_server(files.cert, site.key_pem, "-www", chain=files.chain) as port:
        sent, _ = served(port)
        assert tuple(sent) == result.chain
        assert_clients_pass(port, site.root_pem)
    again = plan_chain(sent, [], anchors_of(site.root), at=NOW_REAL, host=LIVE_HOST)
    assert again.accepted and not again.changed


@contextlib.contextmanager
def nginx_serving(folder: Path, server_block: str) -> Iterator[int]:
    """nginx on a free loopback port with one TLS server block (``{port}`` filled in)."""
    port = servers.free_port()
    body = f"listen 127.0.0.1:{port} ssl;\n        server_name {LIVE_HOST};\n        {server_block}"
    config = servers.nginx_config(folder, port, [body])
    argv = ["nginx", "-c", str(config), "-p", str(folder)]
    check = subprocess.run(
        [*argv, "-t"], capture_output=True, text=True, timeout=CLIENT_TIMEOUT, check=False
    )
    assert check.returncode == 0, check.stderr  # the snippet's own `nginx -t`
    with servers.running(argv, "127.0.0.1", port) as bound:
        yield bound


@pytest.mark.skipif(
    not servers.nginx_available() or shutil.which("curl") is None or os.geteuid() != 0,
    reason="needs nginx and curl, as root",
)
def test_nginx_fixed_with_the_snippet_detected_from_its_server_header(site: Site) -> None:
    broken = site.folder / "nginx-broken"
    broken.mkdir()
    leaf_only = f"ssl_certificate {site.leaf_pem}; ssl_certificate_key {site.key_pem};"
    with nginx_serving(broken, leaf_only) as port:
        sent, header = served(port)
        assert sent == [site.leaf.cert] and header is not None and header.startswith("nginx/")
        assert_clients_fail(port, site.root_pem)
    software = detect_server(header)
    assert software is ServerSoftware.NGINX
    _, files = plan_and_write(site, sent)
    snippet = server_instructions(software, files, site=LIVE_HOST)
    fixed = site.folder / "nginx-fixed"
    fixed.mkdir()
    with nginx_serving(fixed, snippet.config) as port:
        sent, _ = served(port)
        assert sent == [site.leaf.cert, site.issuing.cert]
        assert_clients_pass(port, site.root_pem)
