"""One diagnosis per identical chain in a scan: a fleet serves the same few chains.

A diagnosis (:func:`tlsdoctor.check.diagnose`) is a pure function of the certificates
sent and fetched, the host name, the trust anchors, the warning window and the time. The
cache keys an answer by all of them but the time, and serves it again only at a time from
which no certificate involved (sent, fetched, or any trust anchor) is seen differently:
no notBefore, notAfter or start of the expiry warning lies between the time it was made
and the time asked. The analysis compares the time with nothing else, so such an answer
is the one a new diagnosis would give. Answers whose findings carry the time itself
(expired, not yet valid, expiring soon: the days left, the evaluation time) are not kept.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tlsdoctor.analysis.anchorset import TrustAnchors
from tlsdoctor.analysis.facts import CertFacts
from tlsdoctor.analysis.names import HostName
from tlsdoctor.analysis.path import ChainPath
from tlsdoctor.analysis.validity import warning_window
from tlsdoctor.codes import FindingCode
from tlsdoctor.models import Finding

# Findings whose text or evidence holds the evaluation time or a count of days from it.
TIME_BOUND_CODES = frozenset(
    {FindingCode.EXPIRED, FindingCode.NOT_YET_VALID, FindingCode.EXPIRING_SOON}
)
# Answers kept; past it the cache starts again (a scan's distinct chains, not its targets).
LIMIT = 4096
# However stable, an answer is not reused after this long: a bound on what a stale answer
# could cost if the analysis ever came to depend on the time in a new way.
MAX_AGE = dt.timedelta(minutes=10)


@dataclass(frozen=True)
class _Entry:
    anchors: TrustAnchors  # held, so their id() in the key cannot be reused by others
    public_roots: TrustAnchors
    at: dt.datetime
    after: dt.datetime | None  # the last time boundary before ``at`` (None: none)
    before: dt.datetime | None  # the first one after it
    findings: tuple[Finding, ...]
    path: ChainPath


@dataclass(frozen=True)
class Question:
    """Everything a diagnosis depends on but the time."""

    presented: Sequence[CertFacts]
    fetched: Sequence[CertFacts]
    anchors: TrustAnchors
    public_roots: TrustAnchors
    host: HostName | None
    warn_days: int | None

    @property
    def key(self) -> _Key:
        return (
            tuple(facts.sha256 for facts in self.presented),
            tuple(facts.sha256 for facts in self.fetched),
            id(self.anchors),
            id(self.public_roots),
            self.host,
            self.warn_days,
        )


_Key = tuple[tuple[str, ...], tuple[str, ...], int, int, HostName | None, int | None]


class DiagnosisCache:
    """Diagnoses by chain, host, anchors and warning window, reused while time-stable."""

    def __init__(self, limit: int = LIMIT) -> None:
        self.limit = limit
        self._entries: dict[_Key, _Entry] = {}
        self._anchor_bounds: dict[tuple[int, int | None], tuple[TrustAnchors, list[dt.datetime]]]
        self._anchor_bounds = {}
        self.hits = 0
        self.misses = 0

    def get(self, question: Question, at: dt.datetime) -> tuple[list[Finding], ChainPath] | None:
        """The answer to ``question`` at ``at`` if one made earlier holds, else None."""
        entry = self._entries.get(question.key)
        if (
            entry is None
            or entry.anchors is not question.anchors
            or entry.public_roots is not question.public_roots
            or abs(at - entry.at) > MAX_AGE
            or (entry.after is not None and at <= entry.after)
            or (entry.before is not None and at >= entry.before)
        ):
            self.misses += 1
            return None
        self.hits += 1
        return list(entry.findings), entry.path

    def put(
        self, question: Question, at: dt.datetime, findings: Sequence[Finding], path: ChainPath
    ) -> None:
        """Keep the answer to ``question`` made at ``at``, unless it holds the time."""
        if any(finding.code in TIME_BOUND_CODES for finding in findings):
            return
        warn_days = question.warn_days
        bounds = sorted(
            {
                *_boundaries([*question.presented, *question.fetched], warn_days),
                *self._anchor_boundaries(question.anchors, warn_days),
            }
        )
        index = bisect.bisect_left(bounds, at)
        if index < len(bounds) and bounds[index] == at:
            return  # on a boundary itself: either side may differ
        after = bounds[index - 1] if index > 0 else None
        before = bounds[index] if index < len(bounds) else None
        if len(self._entries) >= self.limit:
            self._entries.clear()
        self._entries[question.key] = _Entry(
            question.anchors, question.public_roots, at, after, before, tuple(findings), path
        )

    def _anchor_boundaries(self, anchors: TrustAnchors, warn_days: int | None) -> list[dt.datetime]:
        known = self._anchor_bounds.get((id(anchors), warn_days))
        if known is not None and known[0] is anchors:
            return known[1]
        if len(self._anchor_bounds) >= 16:
            self._anchor_bounds.clear()
        bounds = sorted(set(_boundaries((a.facts for a in anchors.anchors.values()), warn_days)))
        self._anchor_bounds[(id(anchors), warn_days)] = (anchors, bounds)
        return bounds


def _boundaries(certificates: Iterable[CertFacts], warn_days: int | None) -> list[dt.datetime]:
    """The times at which the analysis sees a certificate differently: valid from,
    valid until, and the start of its expiry warning."""
    out = []
    for facts in certificates:
        out.append(facts.not_before)
        out.append(facts.not_after)
        out.append(facts.not_after - warning_window(facts, warn_days))
    return out
