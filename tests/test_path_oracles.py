"""tlsdoctor's per-client verdicts against independent validators, on generated chains.

Every case of pathcases.py (cross-signs, stale/expired/re-keyed intermediates, wrong EKU,
name constraints, pathLenConstraint with self-issued certificates, loops, critical
extensions, long chains, missing intermediates, private roots) is judged by tlsdoctor and
by three validators that share no code with it:

- ``openssl verify`` stands for tlsdoctor's ``curl`` verdict (OpenSSL 3 here, trusted
  first; ``-partial_chain`` where curl sets it);
- Go's ``crypto/x509`` (tests/oracles/goverify.go, built once, stdlib only) for ``go``;
- Python's ``ssl``, through a real TLS handshake over memory BIOs, for ``python``.

Each known disagreement is data below with the reason (who is right and why); the tests
fail on any other disagreement, and on a known one that went away.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from oracles.runners import (
    build_go_oracle,
    go_verify,
    openssl_verify,
    python_ssl,
    write_case,
)
from pathcases import Case, all_cases
from tlsdoctor.analysis.anchorset import CUSTOM, TrustAnchors
from tlsdoctor.check import check_chain
from tlsdoctor.models import Report, TrustAnchorSource

# (case, oracle) -> why tlsdoctor's verdict for that client differs from the oracle.
KNOWN_DISAGREEMENTS: dict[tuple[str, str], str] = {
    ("wildcard_over_com", "go"): (
        "Go 1.19 matches the wildcard *.com (matchHostnames takes a wildcard over one "
        "label); OpenSSL, Python and browsers refuse it, RFC 6125 6.4.3 and the Baseline "
        "Requirements forbid it, and no CA may issue it: tlsdoctor says refused for every "
        "client. Go is the odd one out."
    ),
    ("intermediate_as_anchor", "python"): (
        "Python 3.11's ssl does not set X509_V_FLAG_PARTIAL_CHAIN (3.13's "
        "create_default_context does), so a trusted intermediate is not an anchor for it; "
        "tlsdoctor treats every certificate of --ca-file as an anchor, as curl (which sets "
        "the flag) and Python 3.13 do. Right for the clients it models; Python < 3.13 "
        "refuses."
    ),
}

ORACLES = ("openssl", "go", "python")
CLIENT_FOR = {"openssl": "curl", "go": "go", "python": "python"}


@dataclass
class Judged:
    case: Case
    report: Report
    oracle: dict[str, tuple[bool, str]]

    def tlsdoctor(self, oracle: str) -> bool:
        client = CLIENT_FOR[oracle]
        return next(v.trusted for v in self.report.clients if v.client == client)


CASES = all_cases()


@pytest.fixture(scope="session")
def go_binary(tmp_path_factory: pytest.TempPathFactory) -> Path | None:
    if shutil.which("go") is None:
        return None
    return build_go_oracle(tmp_path_factory.mktemp("go"))


@pytest.fixture(scope="session")
def judged(tmp_path_factory: pytest.TempPathFactory, go_binary: Path | None) -> list[Judged]:
    work = tmp_path_factory.mktemp("oracle-cases")
    results = []
    for index, case in enumerate(CASES):
        files = write_case(case, work / f"case{index}")
        anchors = TrustAnchors(
            [
                (
                    TrustAnchorSource("case roots", str(files["roots"]), len(case.roots), CUSTOM),
                    case.roots,
                )
            ]
        )
        report = check_chain(case.sent, case.host, at=case.at, anchors=anchors)
        oracle = {
            "openssl": openssl_verify(case, files, *case.openssl_flags),
            "python": python_ssl(case, files),
        }
        if go_binary is not None:
            oracle["go"] = go_verify(go_binary, case, files)
        results.append(Judged(case, report, oracle))
    return results


def test_at_least_a_hundred_cases_over_every_class() -> None:
    kinds = {case.kind for case in CASES}
    assert len(CASES) >= 100
    assert kinds >= {
        "cross_sign",
        "expired_intermediate",
        "rekeyed",
        "wrong_eku",
        "name_constraints",
        "path_length",
        "loop",
        "critical_extension",
        "long_chain",
        "missing",
        "private_root",
    }


def _disagreements(judged: list[Judged], oracle: str) -> dict[str, str]:
    return {
        j.case.name: f"tlsdoctor={j.tlsdoctor(oracle)} {oracle}={j.oracle[oracle]}"
        for j in judged
        if j.tlsdoctor(oracle) != j.oracle[oracle][0]
    }


@pytest.mark.parametrize("oracle", ORACLES)
def test_tlsdoctor_agrees_with_the_oracle_except_known_cases(
    judged: list[Judged], oracle: str, go_binary: Path | None
) -> None:
    if oracle == "go" and go_binary is None:
        pytest.skip("go is not installed: Go's crypto/x509 oracle cannot be built")
    found = _disagreements(judged, oracle)
    known = {case for case, who in KNOWN_DISAGREEMENTS if who == oracle}
    agree = len(judged) - len(found)
    print(f"\n{oracle}: {agree}/{len(judged)} cases agree; known disagreements {sorted(known)}")
    assert {name: why for name, why in found.items() if name not in known} == {}
    assert known <= set(found), "a known disagreement went away: update KNOWN_DISAGREEMENTS"


def test_the_oracles_do_disagree_with_each_other(judged: list[Judged]) -> None:
    """The negative control of the agreement tests: the cases include chains where the
    validators differ (OpenSSL does not backtrack, Go does), so agreeing with all three
    at once is not a matter of calling everything trusted or untrusted."""
    openssl_go = [
        j.case.name
        for j in judged
        if j.oracle["openssl"][0] != j.oracle.get("go", j.oracle["openssl"])[0]
    ]
    trusted = sum(1 for j in judged if j.oracle["openssl"][0])
    assert 20 < trusted < len(judged) - 20
    if "go" in judged[0].oracle:
        assert {"eku_wrong_then_right", "crit_leaf_aia_critical"} <= set(openssl_go)


@pytest.mark.parametrize(
    "name",
    [
        case.name
        for case in CASES
        if case.kind in {"cross_sign", "expired_intermediate", "rekeyed", "wrong_eku"}
    ],
)
def test_openssl_alternative_chains_do_not_change_the_verdict(name: str, tmp_path: Path) -> None:
    """With trusted-first (OpenSSL 1.1.0 and later) the alternative-chain search finds
    nothing more: -no_alt_chains gives the same verdict on every cross-sign case, which is
    why tlsdoctor's OpenSSL path (analysis/path.py openssl_path) has no alt-chain step."""
    case = next(c for c in CASES if c.name == name)
    files = write_case(case, tmp_path)
    default = openssl_verify(case, files)
    without_alternatives = openssl_verify(case, files, "-no_alt_chains")
    assert default[0] == without_alternatives[0], (default, without_alternatives)


def test_go_oracle_builds_without_network(tmp_path: Path) -> None:
    if shutil.which("go") is None:
        pytest.skip("go is not installed")
    binary = build_go_oracle(tmp_path)
    assert binary is not None
    done = subprocess.run([str(binary)], capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 2 and "usage" in done.stderr
