"""The diagnosis cache: an identical chain is judged once, and nothing else is served from it.

Each case checks a chain twice with check_chain (the public entry point) and compares
with a diagnosis made without the cache, so a wrong reuse shows as a wrong report.
"""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509

import tlsdoctor.check
from conftest import anchors_of
from pki import DAY, NOW, Issued, make_root
from tlsdoctor.analysis.anchorset import TrustAnchors
from tlsdoctor.analysis.facts import CertFacts
from tlsdoctor.analysis.names import parse_host
from tlsdoctor.codes import FindingCode as C
from tlsdoctor.codes import Verdict
from tlsdoctor.diagnosis_cache import DiagnosisCache
from tlsdoctor.models import Report

HOST = "www.example.test"


@pytest.fixture(autouse=True)
def fresh_cache(monkeypatch: pytest.MonkeyPatch) -> DiagnosisCache:
    cache = DiagnosisCache()
    monkeypatch.setattr(tlsdoctor.check, "DIAGNOSES", cache)
    return cache


@pytest.fixture
def trusted(root: Issued) -> TrustAnchors:
    return anchors_of(root)


@pytest.fixture
def public() -> TrustAnchors:
    return anchors_of()


def check(
    chain: list[x509.Certificate],
    anchors: TrustAnchors,
    public: TrustAnchors,
    at: dt.datetime,
    host: str = HOST,
    warn_days: int | None = None,
) -> Report:
    return tlsdoctor.check.check_chain(
        chain, host, anchors=anchors, public_roots=public, at=at, warn_days=warn_days
    )


def uncached_codes(
    chain: list[x509.Certificate],
    anchors: TrustAnchors,
    public: TrustAnchors,
    at: dt.datetime,
    host: str = HOST,
) -> tuple[C, ...]:
    presented = [CertFacts.of(cert) for cert in chain]
    findings, _ = tlsdoctor.check._diagnose(
        presented, anchors, public, at, parse_host(host), None, ()
    )
    return tuple(finding.code for finding in findings)


def test_same_chain_host_and_anchors_is_judged_once(
    fresh_cache: DiagnosisCache, intermediate: Issued, trusted: TrustAnchors, public: TrustAnchors
) -> None:
    chain = [intermediate.issue_leaf().cert, intermediate.cert]
    first = check(chain, trusted, public, NOW)
    again = check(chain, trusted, public, NOW + dt.timedelta(minutes=3))
    assert (fresh_cache.misses, fresh_cache.hits) == (1, 1)
    assert again.verdict is Verdict.TRUSTED
    assert again.findings == first.findings
    assert again.path == first.path
    assert again.evaluated_at == NOW + dt.timedelta(minutes=3)


def test_another_host_is_not_served_from_the_cache(
    fresh_cache: DiagnosisCache, intermediate: Issued, trusted: TrustAnchors, public: TrustAnchors
) -> None:
    chain = [intermediate.issue_leaf().cert, intermediate.cert]
    assert check(chain, trusted, public, NOW).verdict is Verdict.TRUSTED
    other = check(chain, trusted, public, NOW, host="other.example.test")
    assert fresh_cache.hits == 0
    assert other.codes == (C.HOSTNAME_MISMATCH,)
    assert other.codes == uncached_codes(chain, trusted, public, NOW, "other.example.test")


def test_another_anchor_set_is_not_served_from_the_cache(
    fresh_cache: DiagnosisCache,
    root: Issued,
    intermediate: Issued,
    trusted: TrustAnchors,
    public: TrustAnchors,
) -> None:
    chain = [intermediate.issue_leaf().cert, intermediate.cert]
    assert check(chain, trusted, public, NOW).verdict is Verdict.TRUSTED
    stranger = anchors_of(make_root("Another Root CA"))
    refused = check(chain, stranger, public, NOW)
    assert fresh_cache.hits == 0
    assert refused.verdict is not Verdict.TRUSTED
    assert refused.codes == uncached_codes(chain, stranger, public, NOW)
    # Equal contents in another object: a miss too (anchors are compared by identity).
    check(chain, anchors_of(root), public, NOW)
    assert fresh_cache.hits == 0


def test_a_date_crossed_since_is_judged_again(
    fresh_cache: DiagnosisCache, intermediate: Issued, trusted: TrustAnchors, public: TrustAnchors
) -> None:
    minute = dt.timedelta(minutes=1)
    leaf = intermediate.issue_leaf(not_before=NOW - 100 * DAY, not_after=NOW + 2 * minute)
    chain = [leaf.cert, intermediate.cert]
    assert check(chain, trusted, public, NOW, warn_days=0).verdict is Verdict.TRUSTED
    # Three minutes on: within the cache's age bound, but past the leaf's notAfter.
    later = check(chain, trusted, public, NOW + 3 * minute, warn_days=0)
    assert fresh_cache.hits == 0
    assert later.codes == (C.EXPIRED,)
    # The twin: a minute on, before notAfter, the answer is reused.
    assert check(chain, trusted, public, NOW + minute, warn_days=0).codes == ()
    assert fresh_cache.hits == 1


def test_an_anchor_that_expired_since_is_judged_again(
    fresh_cache: DiagnosisCache, public: TrustAnchors
) -> None:
    minute = dt.timedelta(minutes=1)
    short_root = make_root("Short Root CA", not_before=NOW - DAY, not_after=NOW + 2 * minute)
    issuing = short_root.issue_ca("Short Issuing CA", not_before=NOW - DAY)
    chain = [issuing.issue_leaf(not_before=NOW - DAY).cert, issuing.cert]
    anchors = anchors_of(short_root)
    assert check(chain, anchors, public, NOW, warn_days=0).verdict is Verdict.TRUSTED
    later = check(chain, anchors, public, NOW + 3 * minute, warn_days=0)
    assert fresh_cache.hits == 0
    assert later.verdict is not Verdict.TRUSTED
    assert C.EXPIRED in later.codes


def test_findings_that_hold_the_time_are_not_kept(
    fresh_cache: DiagnosisCache, intermediate: Issued, trusted: TrustAnchors, public: TrustAnchors
) -> None:
    leaf = intermediate.issue_leaf(not_before=NOW - 100 * DAY, not_after=NOW - 3 * DAY)
    chain = [leaf.cert, intermediate.cert]
    first = check(chain, trusted, public, NOW)
    again = check(chain, trusted, public, NOW + dt.timedelta(seconds=1))
    assert fresh_cache.hits == 0
    assert first.codes == again.codes == (C.EXPIRED,)
    assert first.findings[0].evidence["evaluated_at"] != again.findings[0].evidence["evaluated_at"]


def test_an_answer_is_not_reused_past_its_age_bound(
    fresh_cache: DiagnosisCache, intermediate: Issued, trusted: TrustAnchors, public: TrustAnchors
) -> None:
    chain = [intermediate.issue_leaf().cert, intermediate.cert]
    check(chain, trusted, public, NOW)
    check(chain, trusted, public, NOW + dt.timedelta(hours=1))
    assert (fresh_cache.misses, fresh_cache.hits) == (2, 0)
