"""Path building and the rules clients differ on (issue 12, items 2, 3, 5, 6, 11).

Each behaviour has its negative twin. The verdicts of the clients named here are checked
against the real validators by tests/test_path_oracles.py.
"""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtensionOID, NameOID

import pathcases as pc
from tlsdoctor.analysis import facts as facts_module
from tlsdoctor.analysis.anchorset import CUSTOM, TrustAnchors
from tlsdoctor.analysis.facts import CertFacts
from tlsdoctor.analysis.path import MAX_SIGNATURE_CHECKS, build_path
from tlsdoctor.check import check_chain
from tlsdoctor.codes import FindingCode as C
from tlsdoctor.codes import Verdict
from tlsdoctor.models import Report, TrustAnchorSource

SRC = Path(__file__).resolve().parent.parent / "src" / "tlsdoctor"


def judge(roots: list[pc.Node], sent: list[pc.Node], host: str = pc.HOST) -> Report:
    certs = [r.cert for r in roots]
    anchors = TrustAnchors([(TrustAnchorSource("test roots", "<test>", len(certs), CUSTOM), certs)])
    return check_chain([s.cert for s in sent], host, at=pc.NOW, anchors=anchors)


def trusted_by(report: Report) -> dict[str, bool]:
    return {verdict.client: verdict.trusted for verdict in report.clients}


def expected_error(report: Report, client: str) -> str | None:
    return next(v.expected_error for v in report.clients if v.client == client)


# Item 11: no import cycle ---------------------------------------------------------------


def test_analysis_never_imports_the_store_loading_module() -> None:
    for module in (SRC / "analysis").glob("*.py"):
        tree = ast.parse(module.read_text())
        imported = {
            node.module
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module
        }
        imported |= {
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        }
        assert "tlsdoctor.anchors" not in imported, module.name


def test_anchors_module_still_exports_the_anchor_type() -> None:
    from tlsdoctor import anchors

    assert anchors.TrustAnchors is TrustAnchors
    assert anchors.CUSTOM == CUSTOM


# Item 2: backtracking, and OpenSSL's path -----------------------------------------------


@pytest.fixture(scope="module")
def stale() -> dict[str, pc.Node]:
    root = pc.make("Stale Root", None)
    key = ec.generate_private_key(ec.SECP256R1())
    return {
        "root": root,
        "good": pc.make("Stale Issuing CA", root, key=key),
        "client_only": pc.make("Stale Issuing CA", root, key=key, eku=(pc.CLIENT_AUTH,)),
        "leaf": pc.leaf(pc.make("Stale Issuing CA", root, key=key)),
    }


def test_wrong_eku_intermediate_sent_first_fails_openssl_clients_only(
    stale: dict[str, pc.Node],
) -> None:
    report = judge([stale["root"]], [stale["leaf"], stale["client_only"], stale["good"]])
    verdicts = trusted_by(report)
    assert verdicts["go"] and verdicts["chrome"] and verdicts["java"]
    assert not verdicts["curl"] and not verdicts["python"] and not verdicts["node"]
    assert expected_error(report, "curl") == (
        "curl: (60) SSL certificate problem: unsupported certificate purpose"
    )
    finding = next(f for f in report.findings if f.code is C.INVALID_CHAIN)
    assert finding.evidence["refused_by"] == ["openssl"]
    assert "do not backtrack" in finding.message
    # The path the report shows is the valid one, through the right intermediate.
    assert report.path[1].sha256 == CertFacts.of(stale["good"].cert).sha256


def test_wrong_eku_intermediate_sent_after_the_good_one_is_harmless(
    stale: dict[str, pc.Node],
) -> None:
    report = judge([stale["root"]], [stale["leaf"], stale["good"], stale["client_only"]])
    assert all(trusted_by(report).values())
    assert C.INVALID_CHAIN not in report.codes


def test_chain_loop_is_named_as_a_loop() -> None:
    key_a = ec.generate_private_key(ec.SECP256R1())
    seed = pc.make("Loop A", None, key=key_a)
    b_by_a = pc.make("Loop B", seed)
    a_by_b = pc.make("Loop A", b_by_a, key=key_a)
    report = judge(
        [pc.make("Unrelated Root", None, org="Elsewhere")], [pc.leaf(a_by_b), a_by_b, b_by_a]
    )
    finding = report.findings[0]
    assert finding.code is C.UNTRUSTED_ROOT
    assert finding.message.startswith("The chain loops: 'Loop A' is issued by 'Loop B'")
    assert "neither sent" not in finding.message
    assert finding.evidence["loop"] == ["Loop A", "Loop B", "Loop A"]


def test_chain_without_loop_is_not_called_one() -> None:
    root = pc.make("Plain Root", None)
    inter = pc.make("Plain CA", root)
    report = judge([pc.make("Unrelated Root", None, org="Elsewhere")], [pc.leaf(inter), inter])
    assert "loops" not in report.findings[0].message
    assert "loop" not in report.findings[0].evidence


def test_self_issued_certificates_do_not_count_against_path_length() -> None:
    root = pc.make("SI Root", None, path_length=1)
    inter = pc.make("SI CA", root)
    rekey = pc.make("SI CA", inter, subject=inter.subject)  # self-issued: new key, same name
    report = judge([root], [pc.leaf(rekey), rekey, inter])
    verdicts = trusted_by(report)
    assert verdicts["curl"] and verdicts["chrome"]
    # Go counts it (run by the oracle tests): that client alone refuses.
    assert not verdicts["go"]
    assert expected_error(report, "go") == (
        "tls: failed to verify certificate: x509: too many intermediates for path length constraint"
    )


def test_a_real_intermediate_does_count_against_path_length() -> None:
    root = pc.make("PL Root", None, path_length=0)
    inter = pc.make("PL CA", root)
    report = judge([root], [pc.leaf(inter), inter])
    assert not any(trusted_by(report).values())
    assert report.findings[0].evidence["reason"] == "path_length"


def test_many_look_alike_issuers_are_bounded() -> None:
    """A crafted chain: 40 CAs of one name, each signed by another. The search stops
    after MAX_SIGNATURE_CHECKS signatures (speed: bench/bench_path_building.py)."""
    name = pc._name("Look Alike CA", "Crafted")
    nodes = [pc.make("Look Alike CA", None, subject=name)]
    for _ in range(39):
        nodes.append(pc.make("Look Alike CA", nodes[-1], subject=name))
    leaf = pc.leaf(nodes[-1])
    presented = [CertFacts.of(n.cert) for n in [leaf, *reversed(nodes)]]
    facts_module._SIGNATURE_CACHE.clear()
    anchors = TrustAnchors(
        [(TrustAnchorSource("other", "<t>", 1, CUSTOM), [pc.make("R", None).cert])]
    )
    path = build_path(presented[0], presented, anchors)
    assert len(facts_module._SIGNATURE_CACHE) <= MAX_SIGNATURE_CHECKS + 2 * len(presented)
    assert not path.trusted


# Item 3: critical extensions, malformed name constraints ---------------------------------


def test_critical_aia_fails_openssl_clients_not_go() -> None:
    root = pc.make("Crit Root", None)
    inter = pc.make("Crit CA", root)
    aia = x509.AuthorityInformationAccess(
        [
            x509.AccessDescription(
                x509.oid.AuthorityInformationAccessOID.CA_ISSUERS,
                x509.UniformResourceIdentifier("http://127.0.0.1/ca.der"),
            )
        ]
    )
    report = judge([root], [pc.leaf(inter, extra=[(aia, True)]), inter])
    verdicts = trusted_by(report)
    assert not verdicts["curl"] and not verdicts["python"]
    assert verdicts["go"]
    assert expected_error(report, "curl") == (
        "curl: (60) SSL certificate problem: unhandled critical extension"
    )
    assert report.findings[0].evidence["extension"] == "1.3.6.1.5.5.7.1.1"


def test_unknown_critical_extension_fails_every_client_and_non_critical_none() -> None:
    root = pc.make("Crit Root", None)
    inter = pc.make("Crit CA", root)
    unknown = x509.UnrecognizedExtension(pc.UNKNOWN_OID, b"\x05\x00")
    critical = judge([root], [pc.leaf(inter, extra=[(unknown, True)]), inter])
    assert not any(trusted_by(critical).values())
    assert critical.findings[0].evidence["reason"] == "unhandled_critical_extension"
    assert expected_error(critical, "go") == (
        "tls: failed to verify certificate: x509: unhandled critical extension"
    )
    harmless = judge([root], [pc.leaf(inter, extra=[(unknown, False)]), inter])
    assert all(trusted_by(harmless).values())


def _ca_with_raw_name_constraints(root: pc.Node, der: bytes) -> pc.Node:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Bad NC CA")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(root.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(pc.NOW - dt.timedelta(days=1))
        .not_valid_after(pc.NOW + dt.timedelta(days=90))
        .add_extension(x509.BasicConstraints(True, None), True)
        .add_extension(x509.UnrecognizedExtension(ExtensionOID.NAME_CONSTRAINTS, der), True)
        .sign(root.key, hashes.SHA256())
    )
    return pc.Node(cert, key)


def _ip_constraint(address_and_mask: bytes) -> bytes:
    subtree = b"\x30" + bytes([len(address_and_mask) + 2]) + b"\x87"
    subtree += bytes([len(address_and_mask)]) + address_and_mask
    permitted = b"\xa0" + bytes([len(subtree)]) + subtree
    return b"\x30" + bytes([len(permitted)]) + permitted


@pytest.mark.parametrize(
    "mask", [bytes([10, 0, 0, 1, 255, 0, 255, 0]), bytes([10, 0, 0, 1, 255, 255])]
)
def test_ip_name_constraint_that_is_not_a_network_is_invalid_chain(mask: bytes) -> None:
    root = pc.make("NC Root", None)
    inter = _ca_with_raw_name_constraints(root, _ip_constraint(mask))
    report = judge([root], [pc.leaf(inter), inter])
    finding = next(f for f in report.findings if f.code is C.INVALID_CHAIN)
    assert finding.evidence["reason"] == "malformed_extension"
    assert finding.evidence["certificate"] == "intermediate"
    assert finding.evidence["detail"]  # cryptography's reason, e.g. "Invalid netmask"
    # Said once: the unreadable basicConstraints are not reported as "not a CA" too.
    assert [f.evidence["reason"] for f in report.findings] == ["malformed_extension"]
    assert not any(trusted_by(report).values())


def test_a_well_formed_ip_name_constraint_is_accepted() -> None:
    root = pc.make("NC Root", None)
    inter = _ca_with_raw_name_constraints(root, _ip_constraint(bytes([127, 0, 0, 0, 255, 0, 0, 0])))
    report = judge([root], [pc.leaf(inter, ips=("127.0.0.1",)), inter], host="127.0.0.1")
    # Trusted; the hand-built CA (no AKI, SKI or keyUsage) is only a standards warning.
    assert report.verdict is Verdict.TRUSTED
    assert [f.code for f in report.findings] == [C.STANDARDS_VIOLATION]
    rules = {v["rule"] for v in report.findings[0].evidence["violations"]}  # type: ignore[union-attr]
    assert rules == {"authority_key_id_missing", "subject_key_id_missing", "ca_key_usage_missing"}


# Item 5: wildcards over a public suffix ------------------------------------------------


def test_wildcard_over_a_public_suffix_is_refused_by_chromium_only() -> None:
    root = pc.make("PSL Root", None)
    inter = pc.make("PSL CA", root)
    report = judge([root], [pc.leaf(inter, dns=("*.co.uk",)), inter], host="shop.co.uk")
    finding = report.findings[0]
    assert finding.code is C.HOSTNAME_MISMATCH
    assert finding.evidence["wildcard_over_public_suffix"] == "*.co.uk"
    verdicts = trusted_by(report)
    assert not verdicts["chrome"] and not verdicts["edge"]
    assert verdicts["curl"] and verdicts["go"]


def test_wildcard_under_a_registered_domain_is_fine() -> None:
    root = pc.make("PSL Root", None)
    inter = pc.make("PSL CA", root)
    report = judge([root], [pc.leaf(inter, dns=("*.shop.co.uk",)), inter], host="www.shop.co.uk")
    assert report.findings == ()
    private_suffix = judge(
        [root], [pc.leaf(inter, dns=("*.github.io",)), inter], host="me.github.io"
    )
    assert private_suffix.findings == ()  # a private-section suffix: Chromium allows it


# Item 6: a private CA's missing intermediate ---------------------------------------------


def test_missing_intermediate_of_the_private_ca_in_the_store() -> None:
    root = pc.make("Corp Root CA", None, org="Corp Example")
    inter = pc.make("Corp Issuing CA 2", root, org="Corp Example")
    report = judge([root], [pc.leaf(inter)])
    finding = report.findings[0]
    assert finding.code is C.MISSING_INTERMEDIATE
    assert finding.evidence["same_ca_as_root"] == "CN=Corp Root CA,O=Corp Example"
    assert "Corp Issuing CA 2" in finding.message


def test_missing_issuer_of_another_organisation_is_an_untrusted_root() -> None:
    root = pc.make("Corp Root CA", None, org="Corp Example")
    inter = pc.make(
        "Other Issuing CA", pc.make("Other Root", None, org="Other Org"), org="Other Org"
    )
    report = judge([root], [pc.leaf(inter)])
    assert report.findings[0].code is C.UNTRUSTED_ROOT


def test_fix_chain_writes_the_valid_intermediate_not_the_wrong_eku_copy(
    stale: dict[str, pc.Node],
) -> None:
    from tlsdoctor.remedy.chain import plan_chain

    anchors = TrustAnchors([(TrustAnchorSource("t", "<t>", 1, CUSTOM), [stale["root"].cert])])
    sent = [stale["leaf"].cert, stale["client_only"].cert, stale["good"].cert]
    plan = plan_chain(sent, [], anchors, at=pc.NOW, host=pc.HOST)
    assert plan.chain == (stale["leaf"].cert, stale["good"].cert)
    # Negative twin: with only the wrong copy there is nothing better to write.
    only_wrong = plan_chain(sent[:2], [], anchors, at=pc.NOW, host=pc.HOST)
    assert only_wrong.chain == (stale["leaf"].cert, stale["client_only"].cert)


# Rules only some verifiers check (each confirmed by the oracle tests) -------------------


def test_any_eku_without_server_auth_fails_openssl_clients_not_go() -> None:
    root = pc.make("EKU Root", None)
    inter = pc.make("EKU CA", root)
    any_eku = x509.oid.ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE
    report = judge([root], [pc.leaf(inter, eku=(any_eku,)), inter])
    verdicts = trusted_by(report)
    assert not verdicts["curl"] and verdicts["go"]
    both = judge([root], [pc.leaf(inter, eku=(any_eku, pc.SERVER_AUTH)), inter])
    assert all(trusted_by(both).values())


def test_leaf_key_usage_without_a_tls_usage_fails_all_but_go() -> None:
    root = pc.make("KU Root", None)
    inter = pc.make("KU CA", root)
    cert_sign = x509.KeyUsage(False, False, False, False, False, True, False, False, False)
    report = judge([root], [pc.leaf(inter, key_usage=cert_sign), inter])
    verdicts = trusted_by(report)
    assert verdicts["go"] and not verdicts["curl"] and not verdicts["chrome"]
    agreement = x509.KeyUsage(False, False, False, False, True, False, False, False, False)
    fine = judge([root], [pc.leaf(inter, key_usage=agreement), inter])
    assert all(trusted_by(fine).values())  # keyAgreement is one of OpenSSL's TLS usages


def test_ca_leaf_fails_firefox_only() -> None:
    root = pc.make("CA Leaf Root", None)
    inter = pc.make("CA Leaf CA", root)
    ca_leaf = pc.make(pc.HOST, inter, ca=True, dns=(pc.HOST,), eku=(pc.SERVER_AUTH,))
    report = judge([root], [ca_leaf, inter])
    verdicts = trusted_by(report)
    assert not verdicts["firefox"] and verdicts["curl"] and verdicts["go"]
    assert expected_error(report, "firefox") == "MOZILLA_PKIX_ERROR_CA_CERT_USED_AS_END_ENTITY"
    assert all(trusted_by(judge([root], [pc.leaf(inter), inter])).values())
