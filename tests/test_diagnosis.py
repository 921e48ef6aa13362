"""Every finding code of the offline diagnosis, each with a negative control."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID

from conftest import Check, anchors_of
from pki import (
    DAY,
    NOW,
    Issued,
    build,
    ec_key,
    make_root,
    name,
    resign_with_openssl,
    rsa_key,
    self_signed_leaf,
)
from tlsdoctor.codes import FindingCode as C
from tlsdoctor.codes import Severity, Verdict
from tlsdoctor.models import Finding, Report


def only(report: Report, code: C) -> Finding:
    found = [f for f in report.findings if f.code is code]
    assert len(found) == 1, report.codes
    return found[0]


def client(report: Report, client_id: str) -> tuple[bool, str | None]:
    verdict = next(c for c in report.clients if c.client == client_id)
    return verdict.trusted, verdict.expected_error


# A healthy chain: the negative control for everything below ---------------------------


def test_valid_chain_is_trusted_with_no_findings(check: Check, intermediate: Issued) -> None:
    leaf = intermediate.issue_leaf()
    report = check(leaf, intermediate)
    assert report.verdict is Verdict.TRUSTED
    assert report.findings == ()
    assert report.exit_code == 0
    assert [c.role for c in report.path] == ["leaf", "intermediate", "root"]
    assert report.path[-1].presented is False
    assert all(c.trusted for c in report.clients)


# Dates -------------------------------------------------------------------------------


def test_expired_leaf_says_leaf_and_when(check: Check, intermediate: Issued) -> None:
    leaf = intermediate.issue_leaf(not_before=NOW - 100 * DAY, not_after=NOW - 3 * DAY)
    report = check(leaf, intermediate)
    finding = only(report, C.EXPIRED)
    assert finding.evidence["certificate"] == "leaf"
    assert finding.evidence["days_expired"] == 3
    assert "leaf certificate 'www.example.test' expired" in finding.message
    assert report.verdict is Verdict.UNTRUSTED and report.exit_code == 2
    assert client(report, "curl") == (
        False,
        "curl: (60) SSL certificate problem: certificate has expired",
    )
    assert client(report, "firefox")[1] == "SEC_ERROR_EXPIRED_CERTIFICATE"


def test_expired_intermediate_is_named_as_intermediate(check: Check, root: Issued) -> None:
    old = root.issue_ca("Old Issuing CA", not_before=NOW - 900 * DAY, not_after=NOW - DAY)
    leaf = old.issue_leaf(not_before=NOW - 30 * DAY, not_after=NOW + 30 * DAY)
    report = check(leaf, old)
    finding = only(report, C.EXPIRED)
    assert finding.evidence["certificate"] == "intermediate"
    assert "Old Issuing CA" in finding.message
    assert client(report, "firefox")[1] == "SEC_ERROR_EXPIRED_ISSUER_CERTIFICATE"


def test_not_yet_valid(check: Check, intermediate: Issued) -> None:
    leaf = intermediate.issue_leaf(not_before=NOW + 2 * DAY, not_after=NOW + 92 * DAY)
    report = check(leaf, intermediate)
    finding = only(report, C.NOT_YET_VALID)
    assert finding.evidence["days_until_valid"] == 2
    assert C.EXPIRED not in report.codes


def test_at_moves_the_evaluation_time(check: Check, intermediate: Issued) -> None:
    leaf = intermediate.issue_leaf(not_before=NOW - 100 * DAY, not_after=NOW - 3 * DAY)
    assert check(leaf, intermediate, at=NOW - 10 * DAY).verdict is Verdict.TRUSTED
    assert C.EXPIRED in check(leaf, intermediate, at=NOW).codes


@pytest.mark.parametrize(
    ("lifetime", "left", "warns"),
    [
        (365, 29, True),  # window = 30 days
        (365, 31, False),
        (90, 29, True),  # window = min(30, 30)
        (47, 14, True),  # window = 47/3 = 15.7 days
        (47, 20, False),  # a 47-day certificate is not in permanent alarm
    ],
)
def test_expiring_soon_window_is_relative_to_lifetime(
    check: Check, intermediate: Issued, lifetime: int, left: int, warns: bool
) -> None:
    leaf = intermediate.issue_leaf(
        not_before=NOW - (lifetime - left) * DAY, not_after=NOW + left * DAY
    )
    report = check(leaf, intermediate)
    assert (C.EXPIRING_SOON in report.codes) is warns
    if warns:
        assert report.verdict is Verdict.TRUSTED and report.exit_code == 1
        assert only(report, C.EXPIRING_SOON).severity is Severity.WARNING


def test_warn_days_sets_a_fixed_window(check: Check, intermediate: Issued) -> None:
    leaf = intermediate.issue_leaf(not_before=NOW - 300 * DAY, not_after=NOW + 45 * DAY)
    assert C.EXPIRING_SOON not in check(leaf, intermediate).codes
    report = check(leaf, intermediate, warn_days=60)
    assert only(report, C.EXPIRING_SOON).evidence["days_left"] == 45


@pytest.mark.parametrize(
    ("issued", "days", "too_long"),
    [
        (dt.datetime(2026, 3, 16, tzinfo=dt.timezone.utc), 201, True),
        (dt.datetime(2026, 3, 16, tzinfo=dt.timezone.utc), 199, False),
        (dt.datetime(2026, 3, 14, tzinfo=dt.timezone.utc), 398, False),
        (dt.datetime(2026, 3, 14, tzinfo=dt.timezone.utc), 399, True),
        (dt.datetime(2019, 1, 1, tzinfo=dt.timezone.utc), 820, False),  # before any rule
    ],
)
def test_validity_too_long_follows_the_cabf_schedule(
    check: Check, root: Issued, intermediate: Issued, issued: dt.datetime, days: int, too_long: bool
) -> None:
    leaf = intermediate.issue_leaf(not_before=issued, not_after=issued + days * DAY)
    at = issued + DAY
    report = check(leaf, intermediate, at=at, public_roots=anchors_of(root))
    assert (C.VALIDITY_TOO_LONG in report.codes) is too_long
    if too_long:
        finding = only(report, C.VALIDITY_TOO_LONG)
        assert finding.evidence["max_validity_days"] in (200, 398)
        assert client(report, "chrome") == (False, "NET::ERR_CERT_VALIDITY_TOO_LONG")
        assert client(report, "curl")[0] is True  # only browsers enforce it


def test_validity_too_long_spares_private_pki(check: Check, intermediate: Issued) -> None:
    leaf = intermediate.issue_leaf(not_before=NOW - DAY, not_after=NOW + 800 * DAY)
    assert check(leaf, intermediate).verdict is Verdict.TRUSTED  # public_roots is empty


# Reaching a trusted root ------------------------------------------------------------------


def test_self_signed_leaf(check: Check) -> None:
    leaf = self_signed_leaf()
    report = check(leaf)
    assert report.codes == (C.SELF_SIGNED,)
    assert (
        client(report, "curl")[1] == "curl: (60) SSL certificate problem: self-signed certificate"
    )
    assert client(report, "node")[1] == (
        "Error: self-signed certificate (code: 'DEPTH_ZERO_SELF_SIGNED_CERT')"
    )


def test_self_signed_leaf_trusted_explicitly_is_fine(check: Check) -> None:
    leaf = self_signed_leaf()
    report = check(leaf, anchors=anchors_of(leaf))
    assert report.verdict is Verdict.TRUSTED
    assert report.findings == ()


def test_untrusted_root_sent_by_the_server(check: Check) -> None:
    private = make_root("Acme Internal Root CA", org="Acme Corp")
    issuing = private.issue_ca("Acme Issuing CA")
    leaf = issuing.issue_leaf()
    report = check(leaf, issuing, private)
    finding = only(report, C.UNTRUSTED_ROOT)
    assert finding.evidence["root_presented"] is True
    assert finding.evidence["private_ca"] is True
    assert "Acme Internal Root CA" in finding.message
    assert "private or corporate CA" in finding.message
    assert C.MISSING_INTERMEDIATE not in report.codes
    assert client(report, "curl")[1] == (
        "curl: (60) SSL certificate problem: self-signed certificate in certificate chain"
    )


def test_untrusted_root_not_sent(check: Check) -> None:
    private = make_root("Contoso Root", org=None, dc=("com", "contoso", "corp"))
    issuing = private.issue_ca("Contoso Issuing CA", org=None)
    leaf = issuing.issue_leaf()
    report = check(leaf, issuing)
    finding = only(report, C.UNTRUSTED_ROOT)
    assert finding.evidence["root_presented"] is False
    assert finding.evidence["root"] == "CN=Contoso Root,DC=corp,DC=contoso,DC=com"
    assert finding.evidence["private_ca"] is True
    assert any("DC=" in str(s) for s in finding.evidence["private_ca_signals"])  # type: ignore[union-attr]
    assert client(report, "curl")[1] == (
        "curl: (60) SSL certificate problem: unable to get local issuer certificate"
    )


def test_untrusted_root_is_judged_by_the_given_anchors_only(
    check: Check, intermediate: Issued
) -> None:
    leaf = intermediate.issue_leaf()
    other = make_root("Some Other Root")
    report = check(leaf, intermediate, anchors=anchors_of(other))
    assert C.UNTRUSTED_ROOT in report.codes
    assert check(leaf, intermediate).verdict is Verdict.TRUSTED


def test_missing_intermediate_names_issuer_and_aia(check: Check, root: Issued) -> None:
    issuing = root.issue_ca("tlsdoctor Test Issuing CA 2")
    leaf = issuing.issue_leaf(aia_url="http://ca.example.test/issuing2.der")
    report = check(leaf)
    finding = only(report, C.MISSING_INTERMEDIATE)
    assert finding.evidence["missing_issuer"] == "CN=tlsdoctor Test Issuing CA 2,O=tlsdoctor tests"
    assert finding.evidence["aia_url"] == "http://ca.example.test/issuing2.der"
    assert "'tlsdoctor Test Issuing CA 2' is missing" in finding.message
    assert C.UNTRUSTED_ROOT not in report.codes
    # Browsers repair it through AIA; curl, Python, Java, Node and Go do not.
    assert client(report, "chrome")[0] is True
    assert client(report, "curl")[0] is False
    assert client(report, "java")[0] is False
    assert client(report, "node")[1] == (
        "Error: unable to verify the first certificate (code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE')"
    )
    # Negative control: the same leaf with its intermediate is trusted.
    assert check(leaf, issuing).verdict is Verdict.TRUSTED


def test_missing_middle_intermediate(check: Check, root: Issued) -> None:
    upper = root.issue_ca("Upper Policy CA")
    lower = upper.issue_ca("Lower Issuing CA", aia_url="http://ca.example.test/upper.der")
    leaf = lower.issue_leaf()
    report = check(leaf, lower)
    finding = only(report, C.MISSING_INTERMEDIATE)
    assert "Upper Policy CA" in finding.evidence["missing_issuer"]  # type: ignore[operator]
    assert check(leaf, lower, upper).verdict is Verdict.TRUSTED


def test_stale_intermediate_with_same_name_is_missing_intermediate(
    check: Check, root: Issued
) -> None:
    current = root.issue_ca("Rollover Issuing CA")
    stale = root.issue_ca("Rollover Issuing CA")  # same name, other key
    leaf = current.issue_leaf()
    report = check(leaf, stale)
    finding = only(report, C.MISSING_INTERMEDIATE)
    assert "wrong_intermediate_sent" in finding.evidence
    assert "stale intermediate" in finding.message


def test_cross_signed_root_stops_at_the_trusted_root(check: Check, root: Issued) -> None:
    """A chain sent with an (expired) cross-certificate of a trusted root: the path ends
    at the root in the store, and the expired cross-sign is only a chain_order warning."""
    old_root = make_root("Old Root")
    cross = build(
        subject=root.name,
        issuer=old_root,
        key=root.key,
        not_before=NOW - 3000 * DAY,
        not_after=NOW - 10 * DAY,
        ca=True,
    )
    issuing = root.issue_ca("Cross Test Issuing CA")
    leaf = issuing.issue_leaf()
    report = check(leaf, issuing, cross)
    assert report.verdict is Verdict.TRUSTED
    assert C.EXPIRED not in report.codes
    assert report.path[-1].presented is False
    order = only(report, C.CHAIN_ORDER)
    assert any("(expired) does not belong" in str(p) for p in order.evidence["problems"])  # type: ignore[union-attr]


# Names ---------------------------------------------------------------------------------


def test_hostname_mismatch_www_vs_apex(check: Check, intermediate: Issued) -> None:
    leaf = intermediate.issue_leaf(["www.shop.test"])
    report = check(leaf, intermediate, host="shop.test")
    finding = only(report, C.HOSTNAME_MISMATCH)
    assert finding.evidence["valid_for"] == ["www.shop.test"]
    assert "This certificate is for www.shop.test; you asked for shop.test" in finding.message
    # The fix asks for both names, so the www/apex mix-up cannot happen again.
    assert "certbot certonly -d shop.test -d www.shop.test" in finding.fix[0]
    assert "subjectAltName=DNS:shop.test,DNS:www.shop.test" in finding.fix[0]
    assert client(report, "chrome")[1] == "NET::ERR_CERT_COMMON_NAME_INVALID"
    assert check(leaf, intermediate, host="www.shop.test").verdict is Verdict.TRUSTED


def test_hostname_mismatch_apex_vs_www(check: Check, intermediate: Issued) -> None:
    leaf = intermediate.issue_leaf(["shop.test"])
    finding = only(check(leaf, intermediate, host="www.shop.test"), C.HOSTNAME_MISMATCH)
    assert "This certificate is for shop.test; you asked for www.shop.test" in finding.message


def test_cn_only_certificate_is_a_mismatch_and_says_why(check: Check, intermediate: Issued) -> None:
    leaf = intermediate.issue_leaf([], cn="www.example.test", san=False)
    report = check(leaf, intermediate)
    finding = only(report, C.HOSTNAME_MISMATCH)
    assert finding.evidence["has_san"] is False
    assert "Common Name" in finding.message
    assert client(report, "go")[1] == (
        "tls: failed to verify certificate: x509: certificate relies on legacy Common Name "
        "field, use SANs instead"
    )


def test_no_host_given_skips_name_checks(check: Check, intermediate: Issued) -> None:
    leaf = intermediate.issue_leaf(["www.other.test"])
    assert check(leaf, intermediate, host=None).verdict is Verdict.TRUSTED


# Algorithms ----------------------------------------------------------------------------


def test_sha1_signature_is_weak(check: Check, intermediate: Issued) -> None:
    leaf = intermediate.issue_leaf()
    sha1 = resign_with_openssl(leaf, intermediate, "sha1")
    at = sha1.not_valid_before_utc + DAY
    report = check_raw(check, [sha1, intermediate.cert], at)
    finding = only(report, C.WEAK_SIGNATURE)
    assert finding.evidence["certificate"] == "leaf"
    assert "SHA-1" in finding.message
    # Current Chrome calls a SHA-1 signature ERR_CERT_INVALID (seen by the client matrix).
    assert client(report, "chrome")[1] == "NET::ERR_CERT_INVALID"
    # Negative control: the same re-signing with SHA-256 is fine.
    sha256 = resign_with_openssl(leaf, intermediate, "sha256")
    assert check_raw(check, [sha256, intermediate.cert], at).verdict is Verdict.TRUSTED


def check_raw(check: Check, certs: list, at: dt.datetime) -> Report:  # type: ignore[type-arg]
    """check() for certificates without keys (made by openssl)."""
    return check(*[Issued(c, None) for c in certs], at=at)  # type: ignore[arg-type]


def test_rsa_1024_key_is_weak_but_java_still_accepts_it(check: Check, intermediate: Issued) -> None:
    leaf = intermediate.issue_leaf(key=rsa_key(1024))
    report = check(leaf, intermediate)
    finding = only(report, C.WEAK_KEY)
    assert finding.evidence["bits"] == 1024
    assert client(report, "curl")[0] is False
    assert client(report, "java")[0] is True
    assert (
        check(intermediate.issue_leaf(key=rsa_key(2048)), intermediate).verdict is Verdict.TRUSTED
    )


# Structure -----------------------------------------------------------------------------


def test_bad_signature_is_invalid_chain(check: Check, root: Issued) -> None:
    issuing = root.issue_ca("Signature Test CA")
    impostor = rsa_key(2048, slot=1)
    forged = build(
        subject=name("www.example.test", org=None),
        issuer=issuing,
        key=impostor,
        signing_key=make_root("Impostor").key,
        not_before=NOW - DAY,
        not_after=NOW + 30 * DAY,
        ca=False,
        dns=["www.example.test"],
        eku=[ExtendedKeyUsageOID.SERVER_AUTH],
    )
    report = check(forged, issuing)
    finding = only(report, C.INVALID_CHAIN)
    assert finding.evidence["reason"] == "bad_signature"
    assert C.MISSING_INTERMEDIATE not in report.codes


@pytest.mark.parametrize(
    ("make_issuer", "reason"),
    [
        (lambda root: root.issue_ca("Not A CA", ca=False), "issuer_not_ca"),
        (lambda root: root.issue_ca("No BC", ca=None), "issuer_not_ca"),
        (lambda root: root.issue_ca("No CertSign", key_cert_sign=False), "issuer_key_usage"),
    ],
)
def test_issuer_that_may_not_issue(check: Check, root: Issued, make_issuer, reason: str) -> None:  # type: ignore[no-untyped-def]
    issuer = make_issuer(root)
    leaf = issuer.issue_leaf()
    report = check(leaf, issuer)
    assert set(report.codes) == {C.INVALID_CHAIN}
    assert reason in {f.evidence["reason"] for f in report.findings}


def test_missing_server_auth_eku(check: Check, intermediate: Issued) -> None:
    leaf = intermediate.issue_leaf(eku=[ExtendedKeyUsageOID.CLIENT_AUTH])
    finding = only(check(leaf, intermediate), C.INVALID_CHAIN)
    assert finding.evidence["reason"] == "no_server_auth_eku"
    assert "clientAuth" in finding.message


def test_path_length_constraint(check: Check) -> None:
    top = make_root("PathLen Root")
    limited = top.issue_ca("Limited CA", path_length=0)
    below = limited.issue_ca("Too Deep CA")
    leaf = below.issue_leaf()
    finding = only(check(leaf, below, limited, anchors=anchors_of(top)), C.INVALID_CHAIN)
    assert finding.evidence["reason"] == "path_length"
    assert finding.evidence["path_length"] == 0


def test_name_constraints(check: Check) -> None:
    top = make_root("Constrained Root")
    constrained = top.issue_ca("Only example.test CA", permitted_dns=["example.test"])
    inside = constrained.issue_leaf(["www.example.test"])
    outside = constrained.issue_leaf(["www.elsewhere.test"])
    anchors = anchors_of(top)
    assert check(inside, constrained, anchors=anchors).verdict is Verdict.TRUSTED
    report = check(outside, constrained, anchors=anchors, host="www.elsewhere.test")
    finding = only(report, C.INVALID_CHAIN)
    assert finding.evidence["reason"] == "name_constraints"
    assert finding.evidence["violating_names"] == ["www.elsewhere.test"]


def test_leaf_that_is_a_ca(check: Check, intermediate: Issued) -> None:
    leaf = intermediate.issue_leaf(ca=True)
    finding = only(check(leaf, intermediate), C.INVALID_CHAIN)
    assert finding.evidence["reason"] == "leaf_is_ca"


def test_malformed_extension(check: Check, intermediate: Issued) -> None:
    """A subjectAltName whose DER is cut short: reported, and no name is matched."""
    truncated_san = x509.UnrecognizedExtension(
        ExtensionOID.SUBJECT_ALTERNATIVE_NAME, b"\x30\x03\x82\x05"
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(name("www.example.test", org=None))
        .issuer_name(intermediate.name)
        .public_key(ec_key().public_key())
        .serial_number(77)
        .not_valid_before(NOW - DAY)
        .not_valid_after(NOW + 30 * DAY)
        .add_extension(truncated_san, False)
    )
    leaf = Issued(builder.sign(intermediate.key, hashes.SHA256()), intermediate.key)
    report = check(leaf, intermediate)
    finding = next(f for f in report.findings if f.code is C.INVALID_CHAIN)
    assert finding.evidence["reason"] == "malformed_extension"
    assert "subject_alternative_name" in str(finding.evidence["detail"])
    mismatch = only(report, C.HOSTNAME_MISMATCH)
    assert "cannot be parsed" in mismatch.message


def test_chain_order_reversed_and_duplicated(check: Check, root: Issued) -> None:
    upper = root.issue_ca("Order Upper CA")
    lower = upper.issue_ca("Order Lower CA")
    leaf = lower.issue_leaf()
    clean = check(leaf, lower, upper)
    assert clean.findings == ()
    report = check(upper, leaf, lower, lower)
    finding = only(report, C.CHAIN_ORDER)
    problems = " ".join(map(str, finding.evidence["problems"]))  # type: ignore[call-overload]
    assert "not the server's own certificate" in problems
    assert "more than once" in problems
    assert "not in issuing order" in problems
    assert finding.evidence["expected_order"] == [
        "www.example.test",
        "Order Lower CA",
        "Order Upper CA",
    ]
    assert report.verdict is Verdict.TRUSTED and report.exit_code == 1


def test_unrelated_certificate_in_chain(check: Check, intermediate: Issued) -> None:
    stranger = make_root("Stranger Root").issue_ca("Stranger CA")
    report = check(intermediate.issue_leaf(), intermediate, stranger)
    finding = only(report, C.CHAIN_ORDER)
    assert finding.evidence["extra_certificates"] == ["CN=Stranger CA,O=tlsdoctor tests"]


# Known-bad and interception roots --------------------------------------------------------


def test_interception_proxy_untrusted(check: Check) -> None:
    proxy = make_root("Zscaler Root CA", org="Zscaler Inc.")
    issuing = proxy.issue_ca("Zscaler Intermediate Root CA", org="Zscaler Inc.")
    report = check(issuing.issue_leaf(), issuing)
    finding = only(report, C.INTERCEPTION_PROXY)
    assert finding.severity is Severity.ERROR
    assert finding.evidence["product"] == "Zscaler Internet Access"
    assert C.UNTRUSTED_ROOT not in report.codes
    assert report.verdict is Verdict.UNTRUSTED


def test_interception_proxy_trusted_locally_is_a_warning(check: Check) -> None:
    proxy = make_root("FortiGate CA", org="Fortinet")
    leaf = proxy.issue_leaf()
    report = check(leaf, anchors=anchors_of(proxy))
    finding = only(report, C.INTERCEPTION_PROXY)
    assert finding.severity is Severity.WARNING
    assert finding.evidence["in_trust_store"] is True
    assert report.verdict is Verdict.TRUSTED and report.exit_code == 1


def test_no_interception_claim_for_an_ordinary_private_ca(check: Check) -> None:
    private = make_root("Example Internal Root")
    report = check(private.issue_leaf(), anchors=anchors_of(private))
    assert report.findings == ()


def test_too_long_chain_and_loops_are_bounded(check: Check, root: Issued) -> None:
    cas = [root.issue_ca("Depth CA 0")]
    for depth in range(1, 49):
        cas.append(cas[-1].issue_ca(f"Depth CA {depth}"))
    leaf = cas[-1].issue_leaf()
    report = check(leaf, *reversed(cas))
    assert report.verdict is Verdict.UNTRUSTED
    reasons = {f.evidence.get("reason") for f in report.findings if f.code is C.INVALID_CHAIN}
    assert "path_too_long" in reasons


def test_issuer_loop_terminates(check: Check) -> None:
    key_a, key_b = make_root("A").key, make_root("B").key
    holder_a = Issued(make_root("Loop A", key=key_a).cert, key_a)
    holder_b = Issued(make_root("Loop B", key=key_b).cert, key_b)
    a_by_b = build(
        subject=holder_a.name,
        issuer=holder_b,
        key=key_a,
        not_before=NOW - DAY,
        not_after=NOW + DAY,
        ca=True,
    )
    b_by_a = build(
        subject=holder_b.name,
        issuer=holder_a,
        key=key_b,
        not_before=NOW - DAY,
        not_after=NOW + DAY,
        ca=True,
    )
    leaf = a_by_b.issue_leaf()
    report = check(leaf, a_by_b, b_by_a)
    assert report.verdict is Verdict.UNTRUSTED
    assert report.codes[0] in (C.UNTRUSTED_ROOT, C.MISSING_INTERMEDIATE)


def test_every_problem_is_reported_primary_first(check: Check, root: Issued) -> None:
    issuing = root.issue_ca("Many Problems CA")
    leaf = issuing.issue_leaf(
        ["other.test"], key=rsa_key(1024), not_before=NOW - 90 * DAY, not_after=NOW - DAY
    )
    report = check(leaf, anchors=anchors_of(make_root("Unrelated", org="Unrelated Org")))
    assert report.codes[0] is C.UNTRUSTED_ROOT
    assert {C.EXPIRED, C.HOSTNAME_MISMATCH, C.WEAK_KEY} <= set(report.codes)


def test_hash_choice_of_builder_is_sha256_by_default(intermediate: Issued) -> None:
    leaf = intermediate.issue_leaf(hash_algorithm=hashes.SHA384())
    assert leaf.cert.signature_hash_algorithm is not None
    assert leaf.cert.signature_hash_algorithm.name == "sha384"
