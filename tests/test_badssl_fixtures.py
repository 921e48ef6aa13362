"""The real chains badssl.com served, diagnosed with the real default trust stores.

Each chain is evaluated at a time inside its validity (to see the fault it was built to
show) and at the current time (to see that it has since expired). Whether a root is
trusted depends on today's stores (DigiCert Global Root CA left Mozilla's store in 2026
but is still in older system bundles), so those expectations are computed from the
stores themselves rather than assumed.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

import tlsdoctor.check
from conftest import FIXTURES
from tlsdoctor.anchors import default_anchors
from tlsdoctor.codes import FindingCode as C
from tlsdoctor.codes import Verdict
from tlsdoctor.models import Report
from tlsdoctor.pem import load_certificates

CHAINS = FIXTURES / "prod-chains"


def in_default_store(common_name: str) -> bool:
    return any(
        anchor.facts.display_name == common_name for anchor in default_anchors().anchors.values()
    )


def diagnose(name: str, host: str, at: dt.datetime | None = None) -> Report:
    certificates = load_certificates(CHAINS / f"{name}.pem")
    if at is None:  # the middle of the window in which every certificate was valid
        start = max(c.not_valid_before_utc for c in certificates)
        end = min(c.not_valid_after_utc for c in certificates)
        at = start + (end - start) / 2 if end > start else certificates[0].not_valid_before_utc
    return tlsdoctor.check.check_chain(certificates, host, at=at)


DIGICERT = "DigiCert Global Root CA"

# name, host, expected codes inside the validity window (None: depends on DigiCert's root)
CASES = [
    ("wildcard-incomplete-chain", "incomplete-chain.badssl.com", {C.MISSING_INTERMEDIATE}),
    ("wildcard-self-signed", "self-signed.badssl.com", {C.SELF_SIGNED}),
    ("subdomain-superfish", "superfish.badssl.com", {C.KNOWN_BAD_ROOT}),
    ("subdomain-edellroot", "edellroot.badssl.com", {C.KNOWN_BAD_ROOT}),
    ("subdomain-dsdtestprovider", "dsdtestprovider.badssl.com", {C.KNOWN_BAD_ROOT}),
    ("subdomain-captive-portal", "captive-portal.badssl.com", None),
    (
        "wildcard-sha1-intermediate",
        "sha1-intermediate.badssl.com",
        {C.UNTRUSTED_ROOT, C.WEAK_SIGNATURE},
    ),
    ("wildcard-sha1-2016", "sha1-2016.badssl.com", {C.UNTRUSTED_ROOT, C.WEAK_SIGNATURE}),
    ("subdomain-no-common-name", "no-common-name.badssl.com", set()),
    ("subdomain-no-subject", "no-subject.badssl.com", set()),
    ("subdomain-xn--n1aae7f7o", "xn--n1aae7f7o.badssl.com", set()),
    ("wildcard-expired", "expired.badssl.com", set()),
    ("fallback", "badssl-fallback-unknown-subdomain-or-no-sni", {C.UNTRUSTED_ROOT}),
    ("subdomain-invalid-expected-sct", "invalid-expected-sct.badssl.com", {C.UNTRUSTED_ROOT}),
]


@pytest.mark.parametrize(("name", "host", "expected"), CASES, ids=[c[0] for c in CASES])
def test_fault_inside_validity(name: str, host: str, expected: set[C] | None) -> None:
    report = diagnose(name, host)
    if expected is None:
        assert C.HOSTNAME_MISMATCH in report.codes
        finding = next(f for f in report.findings if f.code is C.HOSTNAME_MISMATCH)
        assert finding.evidence["valid_for"] == ["login.captive-portal.badssl.com"]
        return
    assert set(report.codes) == expected, [f.message for f in report.findings]


@pytest.mark.parametrize(
    "name",
    [
        "wildcard-rsa2048",
        "wildcard-rsa4096",
        "wildcard-rsa8192",
        "wildcard-ecc256",
        "wildcard-ecc384",
        "wildcard-sha384",
        "wildcard-sha512",
        "subdomain-1000-sans",
        "subdomain-10000-sans",
        "subdomain-no-sct",
        "subdomain-preloaded-expect-ct",
        "wildcard-preloaded-expect-ct",
        "subdomain-revoked",
    ],
)
def test_digicert_chains_depend_on_the_store(name: str) -> None:
    host = {
        "subdomain-1000-sans": "1000-sans.badssl.com",
        "subdomain-10000-sans": "10000-sans.badssl.com",
        "subdomain-no-sct": "no-sct.badssl.com",
        "subdomain-revoked": "revoked.badssl.com",
    }.get(name, "badssl.com")
    report = diagnose(name, host)
    if in_default_store(DIGICERT):
        assert report.codes == (), [f.message for f in report.findings]
        # Mozilla's current roots no longer hold it: clients that carry them fail.
        anchor_kinds = {a.name for a in report.trust_anchors}
        requests = next(c for c in report.clients if c.client == "python-requests")
        curl = next(c for c in report.clients if c.client == "curl")
        assert curl.trusted is True, anchor_kinds
        assert requests.trusted is (DIGICERT in mozilla_names())
    else:
        assert report.codes == (C.UNTRUSTED_ROOT,)


def mozilla_names() -> set[str]:
    from tlsdoctor.anchors import mozilla_anchors

    return {a.facts.display_name for a in mozilla_anchors().anchors.values()}


def test_sha1_chain_under_a_trusted_root_is_only_weak() -> None:
    report = diagnose("wildcard-sha1-2017", "sha1-2017.badssl.com")
    expected = (
        {C.WEAK_SIGNATURE} if in_default_store(DIGICERT) else {C.UNTRUSTED_ROOT, C.WEAK_SIGNATURE}
    )
    assert set(report.codes) == expected
    roles = {f.evidence["certificate"] for f in report.findings if f.code is C.WEAK_SIGNATURE}
    assert roles == {"leaf", "intermediate"}


def test_incomplete_chain_names_the_digicert_intermediate() -> None:
    report = diagnose("wildcard-incomplete-chain", "incomplete-chain.badssl.com")
    finding = report.findings[0]
    assert (
        finding.evidence["missing_issuer"]
        == "CN=DigiCert SHA2 Secure Server CA,O=DigiCert Inc,C=US"
    )
    assert (
        finding.evidence["aia_url"] == "http://cacerts.digicert.com/DigiCertSHA2SecureServerCA.crt"
    )
    assert finding.evidence["issuer_is_public_ca"] is True


def test_comodo_chain_with_addtrust_cross_sign() -> None:
    """Served with the AddTrust cross-certificate that expired on 2020-05-30: the path ends
    at COMODO's own root in the store; after 2020 the cross-sign is dead weight."""
    before = diagnose("subdomain-no-common-name", "no-common-name.badssl.com")
    assert before.path[-1].presented is False
    assert "COMODO RSA Certification Authority" in before.path[-1].subject
    after = diagnose(
        "subdomain-no-common-name",
        "no-common-name.badssl.com",
        at=dt.datetime(2020, 6, 10, tzinfo=dt.timezone.utc),
    )
    assert set(after.codes) == {C.CHAIN_ORDER, C.EXPIRING_SOON}  # the leaf ends 2020-06-22
    order = next(f for f in after.findings if f.code is C.CHAIN_ORDER)
    assert "'COMODO RSA Certification Authority' (expired) does not belong" in order.message


def test_idn_host_in_unicode() -> None:
    report = diagnose("subdomain-xn--n1aae7f7o", "ѕрооғ.badssl.com")
    assert report.codes == ()


@pytest.mark.parametrize("path", sorted(CHAINS.glob("*.pem")), ids=lambda p: p.stem)
def test_every_chain_has_expired_by_now(path: Path) -> None:
    report = tlsdoctor.check.check_chain(load_certificates(path), None)
    assert C.EXPIRED in report.codes
    assert report.verdict is Verdict.UNTRUSTED


def test_known_bad_root_names_the_product() -> None:
    report = diagnose("subdomain-superfish", "superfish.badssl.com")
    finding = report.findings[0]
    assert finding.evidence["known_as"] == "Superfish VisualDiscovery"
    assert finding.evidence["in_trust_store"] is False
