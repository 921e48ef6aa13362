"""``inspect``'s certificate descriptions, and the default trust anchors."""

from __future__ import annotations

import pytest
from cryptography import x509

from conftest import FIXTURES
from pki import NOW, Issued
from tlsdoctor.analysis.facts import CertFacts
from tlsdoctor.anchors import anchors_from_files, default_anchors, mozilla_anchors
from tlsdoctor.describe import certificate_type, describe_certificate
from tlsdoctor.errors import InputError
from tlsdoctor.pem import load_certificates

CHAINS = FIXTURES / "prod-chains"


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["www.example.test"], "single-domain"),
        (["example.test", "www.example.test"], "single-domain"),
        (["*.example.test"], "wildcard"),
        (["*.example.test", "example.test"], "wildcard"),
        (["a.test", "b.test"], "multi-domain (SAN)"),
        (["*.a.test", "b.test"], "multi-domain wildcard"),
    ],
)
def test_certificate_types(intermediate: Issued, names: list[str], expected: str) -> None:
    assert certificate_type(CertFacts(intermediate.issue_leaf(names).cert)) == expected


def test_describe_a_test_leaf(intermediate: Issued) -> None:
    leaf = intermediate.issue_leaf(aia_url="http://ca.example.test/i.der")
    details = describe_certificate(leaf.cert, NOW)
    assert details.status == "valid" and details.days_left == 60
    assert details.key == "EC P-256"
    assert details.signature == "ecdsa-with-SHA256"
    assert details.ca_issuer_urls == ("http://ca.example.test/i.der",)
    assert details.extended_key_usage == ("serverAuth",)
    assert len(details.sha256) == 95 and details.sha256.count(":") == 31
    assert not details.is_ca and not details.self_signed


def test_describe_the_real_ev_certificate() -> None:
    leaf = load_certificates(CHAINS / "subdomain-extended-validation.pem")[0]
    details = describe_certificate(leaf, NOW)
    assert details.validation == "EV"
    assert details.sct_count >= 2
    assert details.status == "expired"
    assert details.ocsp_urls and details.crl_urls


def test_default_anchors_are_named_with_source_and_count() -> None:
    sources = default_anchors().sources
    mozilla = sources[0]
    assert mozilla.kind == "mozilla" and mozilla.name.startswith("Mozilla (certifi ")
    assert mozilla.count > 100
    assert mozilla.source.endswith("cacert.pem")
    if len(sources) > 1:
        assert sources[1].kind == "system" and sources[1].count > 50
    assert len(mozilla_anchors()) == mozilla.count


def test_ca_file_replaces_the_defaults(root: Issued, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "corp-root.pem"
    path.write_bytes(root.pem())
    anchors = anchors_from_files([path])
    assert len(anchors) == 1
    assert anchors.sources[0].name == "--ca-file corp-root.pem"
    assert anchors.kinds == {"custom"}


def test_ca_file_that_is_not_certificates(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "key.pem"
    path.write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    with pytest.raises(InputError, match=r"--ca-file .*private key"):
        anchors_from_files([path])


def test_store_with_an_odd_root_keeps_the_others(root: Issued) -> None:
    from tlsdoctor.anchors import parse_bundle

    broken = b"-----BEGIN CERTIFICATE-----\nTUlJQg==\n-----END CERTIFICATE-----\n"
    certs, skipped = parse_bundle(root.pem() + broken + root.pem())
    assert len(certs) == 2 and skipped == 1
    assert isinstance(certs[0], x509.Certificate)
