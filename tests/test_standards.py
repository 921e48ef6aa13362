"""standards_violation: the generated corpus of tests/lintcases.py, judged by tlsdoctor and
compared with strict validators that run here (OpenSSL's -x509_strict, DigiCert's pkilint).

Each rule has a positive case and a negative twin. Mainstream validation (OpenSSL without
-x509_strict) must accept every case: these are the rules clients let pass.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import warnings
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.utils import CryptographyDeprecationWarning

import lintcases
from lintcases import NOW, Case
from tlsdoctor.analysis.standards_rules import CRYPTOGRAPHY, OPENSSL_STRICT, RULES
from tlsdoctor.anchors import CUSTOM, TrustAnchors
from tlsdoctor.check import check_chain
from tlsdoctor.codes import FindingCode as C
from tlsdoctor.models import Report, TrustAnchorSource

CASES = lintcases.cases()
NO_ROOTS = TrustAnchors([])


def anchors(root: x509.Certificate) -> TrustAnchors:
    return TrustAnchors([(TrustAnchorSource("lint root", "<test>", 1, CUSTOM), [root])])


def judge(case: Case, certs: list[x509.Certificate]) -> Report:
    leaf, inter, root = certs
    trust = anchors(root)
    return check_chain(
        [leaf, inter], at=NOW, anchors=trust, public_roots=trust if case.public else NO_ROOTS
    )


def named_rules(report: Report) -> set[str]:
    found = [f for f in report.findings if f.code is C.STANDARDS_VIOLATION]
    if not found:
        return set()
    assert len(found) == 1  # one finding for the whole chain
    violations = found[0].evidence["violations"]
    assert isinstance(violations, list)
    return {str(v["rule"]) for v in violations if isinstance(v, dict)}


@pytest.fixture(scope="module")
def built() -> dict[str, list[x509.Certificate]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        return {case.name: lintcases.build_case(case) for case in CASES}


def test_the_corpus_is_big_and_twinned() -> None:
    positives = [case for case in CASES if case.rules]
    negatives = [case for case in CASES if not case.rules]
    assert len(CASES) >= 60 and len(negatives) >= 25
    covered = {rule for case in positives for rule in case.rules}
    assert covered == {rule.id for rule in RULES}  # every rule is exercised


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_tlsdoctor_names_exactly_the_broken_rules(
    case: Case, built: dict[str, list[x509.Certificate]]
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        report = judge(case, built[case.name])
    assert named_rules(report) == set(case.rules)
    # Only a warning: the chain stays trusted, and nothing else is said about it (but what
    # another check is known to say, see lintcases.Case.also).
    others = {f.code.value for f in report.findings if f.code is not C.STANDARDS_VIOLATION}
    assert others == case.also, report.findings
    # A rule tlsdoctor's own verifier (cryptography) refuses is also its invalid_chain.
    refused_here = any(CRYPTOGRAPHY in r.refused_by for r in RULES if r.id in case.rules)
    assert refused_here <= ("invalid_chain" in others)
    if not case.also:
        assert report.verdict.value == "trusted"


def test_one_finding_says_rule_section_and_refusers(
    built: dict[str, list[x509.Certificate]],
) -> None:
    case = next(c for c in CASES if c.name == "rules on two certificates +")
    report = judge(case, built[case.name])
    (finding,) = report.findings
    assert finding.severity.value == "warning"
    assert "2 certificates of the chain break 2 rules of RFC 5280" in finding.message
    rules = finding.evidence["rules"]
    assert isinstance(rules, list) and len(rules) == 2
    assert any("(BR 7.1.2.1 (d))" in str(r) and str(r).startswith("root") for r in rules)
    assert any("(RFC 5280 4.2.1.9)" in str(r) for r in rules)
    assert finding.evidence["refused_by"] == [OPENSSL_STRICT, "pkilint"]


def _openssl_verify(folder: Path, certs: list[x509.Certificate], strict: bool) -> bool:
    leaf, inter, root = certs
    paths = {}
    for name, cert in (("leaf", leaf), ("inter", inter), ("root", root)):
        paths[name] = folder / f"{name}.pem"
        paths[name].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    argv = ["openssl", "verify", "-attime", str(int(NOW.timestamp())), "-CAfile",
            str(paths["root"]), "-untrusted", str(paths["inter"])]  # fmt: skip
    if strict:
        argv.append("-x509_strict")
    done = subprocess.run(
        [*argv, str(paths["leaf"])], capture_output=True, text=True, timeout=30, check=False
    )
    return done.returncode == 0


# OpenSSL checks that the AKI holds a keyIdentifier only on certificates that are not
# self-signed (RFC 5280 lets those omit the whole extension, not the field when present).
OPENSSL_STRICT_EXCEPTIONS = {"self-signed root AKI without keyIdentifier +"}


def test_openssl_oracle(built: dict[str, list[x509.Certificate]], tmp_path: Path) -> None:
    """OpenSSL accepts every case without -x509_strict (clients let these pass); with it,
    it refuses exactly the cases whose rules the table says it refuses."""
    lenient_agree = strict_agree = 0
    disagreements = []
    refusing = {rule.id for rule in RULES if OPENSSL_STRICT in rule.refused_by}
    for case in CASES:
        certs = built[case.name]
        if _openssl_verify(tmp_path, certs, strict=False):
            lenient_agree += 1
        else:
            disagreements.append(f"{case.name}: refused without -x509_strict")
        expected_refusal = bool(case.rules & refusing)
        if _openssl_verify(tmp_path, certs, strict=True) != expected_refusal:
            strict_agree += 1
        elif case.name not in OPENSSL_STRICT_EXCEPTIONS:
            disagreements.append(f"{case.name}: -x509_strict disagrees")
    print(
        f"\nopenssl verify agrees on {lenient_agree}/{len(CASES)} cases (accepts), "
        f"openssl verify -x509_strict on {strict_agree}/{len(CASES)}"
    )
    assert disagreements == []


def test_a_private_ca_leaf_is_clean() -> None:
    """What `tlsdoctor cert ca` issues breaks no rule (so a healthy private endpoint exits 0)."""
    from pki import make_root

    root = make_root("Clean Root")
    issuing = root.issue_ca("Clean Issuing")
    leaf = issuing.issue_leaf(["clean.test"], not_before=NOW - dt.timedelta(days=1))
    trust = anchors(root.cert)
    report = check_chain([leaf.cert, issuing.cert], "clean.test", at=NOW, anchors=trust)
    assert report.codes == ()


# What pkilint reports for each rule (observed by running it on the positive cases).
# One pkilint code covers the three serial number rules.
SERIAL_RULES = frozenset({"serial_zero", "serial_negative", "serial_too_long"})
PKILINT_CODES = {
    "serial_zero": "pkix.certificate_serial_number_out_of_range",
    "issuer_name_empty": "pkix.name_empty",
    "empty_subject_san_not_critical": "pkix.san_extension_not_critical_empty_subject",
    "san_critical_with_subject": "pkix.san_extension_is_critical_non_empty_subject",
    "authority_key_id_missing": "pkix.authority_key_identifier_extension_absent",
    "subject_key_id_missing": "pkix.certificate_skid_ca_missing",
    "ca_key_usage_missing": "pkix.ca_certificate_no_ku_extension",
    "ca_key_usage_not_critical": "cabf.serverauth.ca.non_critical_key_usage_extension",
    "key_cert_sign_without_ca": "pkix.ee_certificate_keycertsign_keyusage_set",
    "basic_constraints_not_critical": "pkix.basic_constraints_extension_not_critical",
    "name_constraints_in_leaf": "pkix.name_constraints_in_ee_certificate",
    "root_has_eku": "cabf.serverauth.root.extended_key_usage_extension_present",
    "leaf_any_eku": "cabf.serverauth.subscriber.anyeku_eku_present",
    "leaf_eku_critical": "cabf.serverauth.subscriber.critical_extended_key_usage_extension",
    "leaf_eku_missing": "cabf.serverauth.subscriber.extended_key_usage_extension_absent",
    "rsa_modulus_not_multiple_of_8": "cabf.rsa_modulus_invalid_length",
    "authority_key_id_without_key_id": "pkix.authority_key_identifier_keyid_missing",
    "validity_generalized_time_before_2050": "pkix.wrong_time_useful_type",
    "name_constraints_not_critical": "pkix.certificate_name_constraints_extension_not_critical",
    "common_name_not_in_san": "cabf.serverauth.subscriber_common_name_unknown_source",
    "dns_name_syntax": "cabf.serverauth.invalid_dnsname_syntax",
    "public_leaf_without_revocation_pointer": (
        "cabf.serverauth.subscriber.revocation_information_absent"
    ),
}
# Where pkilint and tlsdoctor differ, and why tlsdoctor is right (or chose differently).
PKILINT_KNOWN_DIFFERENCES = {
    # pkilint lints every certificate as if publicly trusted; the Baseline Requirements
    # bind only chains under a public root, and tlsdoctor applies these two only there.
    ("private leaf without EKU -", "leaf_eku_missing"),
    ("private intermediate keyUsage not critical -", "ca_key_usage_not_critical"),
    # The Baseline Requirements let a public CA mark nameConstraints non-critical.
    ("public intermediate name constraints not critical -", "name_constraints_not_critical"),
    *((case.name, "public_leaf_without_revocation_pointer") for case in CASES if not case.public),
    # pkilint does not check an empty CA subject against its SAN (only CAs' missing CN).
    ("intermediate with empty subject +", "empty_subject_san_not_critical"),
}


def test_pkilint_oracle(built: dict[str, list[x509.Certificate]]) -> None:
    """For every case and every rule pkilint checks, pkilint and tlsdoctor agree on whether
    the chain breaks it, but for the differences listed (and explained) above."""
    pytest.importorskip("pkilint")
    import pkilint_oracle

    checked = {r.id for r in RULES if "pkilint" in r.refused_by}
    assert {*PKILINT_CODES, *SERIAL_RULES} == checked
    agree = 0
    differences = set()
    for case in CASES:
        certs = built[case.name]
        linted = certs if not case.public else certs[:2]  # public roots are not linted
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reported = set().union(*(pkilint_oracle.codes(cert) for cert in linted))
            ours = named_rules(judge(case, certs))
        for rule, code in PKILINT_CODES.items():
            rules = SERIAL_RULES if rule in SERIAL_RULES else {rule}
            if (code in reported) == bool(rules & ours):
                agree += 1
            else:
                differences.add((case.name, rule))
    total = len(CASES) * len(PKILINT_CODES)
    print(f"\npkilint agrees with tlsdoctor on {agree}/{total} (case, rule) pairs")
    assert differences == PKILINT_KNOWN_DIFFERENCES


def test_the_text_report_says_it_in_a_few_lines(
    built: dict[str, list[x509.Certificate]],
) -> None:
    """One finding, its rules on one evidence line, the JSON-only details left out: a
    chain breaking rules on every certificate does not flood a 40-line terminal."""
    import io

    from tlsdoctor.render.text import make_console, render_report

    case = next(c for c in CASES if c.name == "rules on two certificates +")
    out = io.StringIO()
    render_report(judge(case, built[case.name]), make_console(out, color=False))
    text = out.getvalue()
    block = text.split("1. standards_violation (warning)")[1].split("\n\n")[0]
    assert len(block.strip().splitlines()) <= 8, block
    assert "rules: intermediate 'Lint Issuing CA': basicConstraints" in block
    assert "violations" not in block and "sha256" not in block
    assert "2. " not in text.split("Chain as")[0]  # the only finding


def test_go_oracle(built: dict[str, list[x509.Certificate]], tmp_path: Path) -> None:
    """Go's crypto/x509 (a mainstream client library) accepts every case of a rule: these
    rules are not enforced by clients."""
    import os
    import shutil

    if shutil.which("go") is None:
        pytest.skip("no Go toolchain")
    cases_dir = tmp_path / "cases"
    for number, case in enumerate(CASES):
        folder = cases_dir / f"{number:03d}"
        folder.mkdir(parents=True)
        for name, cert in zip(("leaf", "inter", "root"), built[case.name], strict=True):
            (folder / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    program = Path(__file__).parent / "go" / "verify_chains.go"
    env = {**os.environ, "GOCACHE": str(tmp_path / "gocache"), "GO111MODULE": "off"}
    done = subprocess.run(
        ["go", "run", str(program), str(cases_dir), str(int(NOW.timestamp()))],
        capture_output=True, text=True, timeout=300, check=True, env=env,
    )  # fmt: skip
    verdicts = dict(line.split("\t", 1) for line in done.stdout.splitlines())
    refused = {case.name for n, case in enumerate(CASES) if verdicts[f"{n:03d}"] != "ok"}
    # Go 1.19 refuses only what it cannot process (critical policy extensions: "unhandled
    # critical extension"), as cryptography's verifier does; unlike that verifier it
    # accepts negative serial numbers and empty names.
    expected = {"policy constraints critical -", "inhibitAnyPolicy critical -"}
    agree = len(CASES) - len(refused ^ expected)
    print(f"\nGo crypto/x509 agrees on {agree}/{len(CASES)} cases (accepts all but {expected})")
    assert refused == expected
