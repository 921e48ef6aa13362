"""The contract of spec/findings.md: codes, severities, exit codes, the public API."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import tlsdoctor
from pki import DAY, NOW
from tlsdoctor.codes import (
    COULD_NOT_CHECK,
    PRIORITY,
    WARNINGS,
    FindingCode,
    Severity,
    Verdict,
    default_severity,
    exit_code,
)

REPO = Path(__file__).resolve().parent.parent
# The contract, as committed with the code (a copy of the team's spec, kept current by hand).
SPEC = REPO / "docs" / "findings.md"


def spec_tables() -> dict[str, list[str]]:
    """The codes of each table of the spec, keyed by the heading above the table."""
    tables: dict[str, list[str]] = {}
    heading = ""
    for line in SPEC.read_text().splitlines():
        if line and not line.startswith("|") and not line.startswith("#"):
            heading = line
        match = re.match(r"\| `([a-z_]+)` \|", line)
        if match:
            tables.setdefault(heading, []).append(match.group(1))
    return tables


def test_codes_are_exactly_the_specs() -> None:
    spec_codes = [code for codes in spec_tables().values() for code in codes]
    assert sorted(spec_codes) == sorted(code.value for code in FindingCode)
    assert len(set(spec_codes)) == len(spec_codes)


def test_severities_follow_the_spec_tables() -> None:
    for heading, codes in spec_tables().items():
        expected = Severity.WARNING if heading.startswith("Warnings") else Severity.ERROR
        for code in codes:
            assert default_severity(FindingCode(code)) is expected, code
        if heading.startswith("Could not check"):
            assert {FindingCode(c) for c in codes} == COULD_NOT_CHECK
        if heading.startswith("Warnings"):
            assert {FindingCode(c) for c in codes} == WARNINGS


def test_every_code_has_a_place_in_the_priority_order() -> None:
    assert sorted(PRIORITY) == sorted(FindingCode)


@pytest.mark.parametrize(
    ("verdict", "warnings", "expected"),
    [
        (Verdict.TRUSTED, False, 0),
        (Verdict.TRUSTED, True, 1),
        (Verdict.UNTRUSTED, False, 2),
        (Verdict.UNTRUSTED, True, 2),
        (Verdict.ERROR, False, 3),
    ],
)
def test_exit_codes(verdict: Verdict, warnings: bool, expected: int) -> None:
    assert exit_code(verdict, warnings) == expected


def test_public_api_is_complete_and_importable() -> None:
    for name in tlsdoctor.__all__:
        assert getattr(tlsdoctor, name) is not None
    for name in ("check_chain", "Report", "Finding", "FindingCode", "load_certificates"):
        assert name in tlsdoctor.__all__
    with pytest.raises(AttributeError):
        tlsdoctor.no_such_name  # noqa: B018


def test_library_use_as_documented(intermediate, anchors) -> None:  # type: ignore[no-untyped-def]
    leaf = intermediate.issue_leaf(not_before=NOW - 30 * DAY, not_after=NOW + 60 * DAY)
    report = tlsdoctor.check_chain(
        [leaf.cert, intermediate.cert], "www.example.test", anchors=anchors, at=NOW
    )
    assert report.verdict is tlsdoctor.Verdict.TRUSTED
    assert tlsdoctor.report_to_dict(report)["verdict"] == "trusted"
