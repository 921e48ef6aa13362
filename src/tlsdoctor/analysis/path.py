"""Building the certification path ourselves, so a failure can be explained.

From the leaf, each step looks for the issuer among the presented certificates and the
trust anchors: same DER name, matching key identifiers when both are present, and a
signature that verifies. Several candidates (cross-signs, re-keyed CAs) are explored
depth-first and the best path wins: one that reaches an anchor, then one that ends in a
self-signed root, then one whose issuer is nowhere to be found; among paths that end
alike, the one with the fewest broken rules (expired, wrong EKU, name constraints, path
length, an issuer that is no CA) wins, as Go, browsers and Java backtrack until a path
validates. A presented certificate with a trusted root's name and key counts as that root,
as OpenSSL's "trusted first" does. The work is bounded (candidates per name, signature
checks, steps), so a crafted chain of many look-alike certificates stays fast.

OpenSSL does not backtrack: :func:`openssl_path` builds the one path it takes (the first
time-valid issuer in the order sent, trusted ones first), so a report can say when curl or
Python fail on a chain that Go and browsers accept.
"""

from __future__ import annotations

import datetime as dt
import enum
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tlsdoctor.analysis.anchorset import Anchor, TrustAnchors
from tlsdoctor.analysis.facts import CertFacts, signed_by

# Deeper than any real path (webpki stops at 8 intermediates); past it we stop looking.
MAX_DEPTH = 16
# Terminal paths explored before settling for the best seen: bounds pathological inputs.
MAX_PATHS = 64
# Certificates of one name considered as the issuer at one step (real chains have 1-3).
MAX_CANDIDATES = 16
# Signatures verified in one search, and steps taken: beyond them the search stops with
# the best path found so far (a crafted chain of look-alikes cannot make a check slow).
MAX_SIGNATURE_CHECKS = 256
MAX_STEPS = 1024

# Counts the rules a candidate path breaks (the caller's judgement: constraints, dates).
PathJudge = Callable[[Sequence[CertFacts], bool], int]


class PathEnd(str, enum.Enum):
    """How the best path ends."""

    ANCHOR = "anchor"  # reaches a trust anchor
    SELF_SIGNED_LEAF = "self_signed_leaf"  # the leaf signed itself and is not trusted
    UNTRUSTED_ROOT = "untrusted_root"  # ends in a presented self-signed root
    MISSING_ISSUER = "missing_issuer"  # the last certificate's issuer is not available
    TOO_DEEP = "too_deep"  # gave up after MAX_DEPTH certificates


class RejectReason(str, enum.Enum):
    BAD_SIGNATURE = "bad_signature"
    KEY_ID_MISMATCH = "key_id_mismatch"


@dataclass(frozen=True)
class Rejection:
    """A certificate with the right issuer name that could not be the issuer."""

    child: CertFacts
    candidate: CertFacts
    reason: RejectReason
    from_store: bool


@dataclass(frozen=True)
class ChainPath:
    """The best path found from the leaf, and why the others were not taken."""

    certs: tuple[CertFacts, ...]  # leaf first; with ANCHOR the last one is the anchor
    end: PathEnd
    anchor: Anchor | None
    rejections: tuple[Rejection, ...]
    loop: bool  # a presented certificate pointed back into the path
    signatures_checked: bool = True  # False: some unique links were taken unchecked
    alternatives: bool = False  # some step had several issuers by name and key id
    exhausted: bool = False  # the work bound stopped the search early

    @property
    def leaf(self) -> CertFacts:
        return self.certs[0]

    @property
    def last(self) -> CertFacts:
        return self.certs[-1]

    @property
    def trusted(self) -> bool:
        return self.end is PathEnd.ANCHOR


def build_path(
    leaf: CertFacts,
    presented: Sequence[CertFacts],
    anchors: TrustAnchors,
    check_unique_links: bool = True,
    judge: PathJudge | None = None,
) -> ChainPath:
    """The best certification path from ``leaf`` using ``presented`` and ``anchors``.

    With ``check_unique_links`` False, a link whose issuer is the only candidate (by name
    and key identifier) is taken without checking its signature, and the result says so
    (``signatures_checked``): the caller then proves the path another way (a verifier
    that accepts it) or builds again with every signature checked. ``judge`` counts the
    rules a complete path breaks; among paths that end alike the one breaking fewest wins.
    """
    by_subject: dict[bytes, list[CertFacts]] = {}
    seen: set[str] = set()
    for facts in presented:
        if facts.sha256 not in seen:
            seen.add(facts.sha256)
            by_subject.setdefault(facts.subject_key, []).append(facts)
    search = _Search(by_subject, anchors, check_unique_links)
    search.extend((leaf,), frozenset({leaf.sha256}))
    results = search.results
    if judge is not None and len(results) > 1:
        best = min(
            results, key=lambda c: (_rank(c)[0], judge(c.certs, c.anchor is not None), _rank(c))
        )
    else:
        best = min(results, key=_rank)
    return ChainPath(
        certs=best.certs,
        end=best.end,
        anchor=best.anchor,
        rejections=tuple(search.rejections.values()),
        loop=search.loop,
        signatures_checked=not search.unchecked,
        alternatives=search.alternatives,
        exhausted=search.exhausted,
    )


@dataclass(frozen=True)
class _Candidate:
    certs: tuple[CertFacts, ...]
    end: PathEnd
    anchor: Anchor | None


def _rank(candidate: _Candidate) -> tuple[int, int, int]:
    order = {
        PathEnd.ANCHOR: 0,
        PathEnd.SELF_SIGNED_LEAF: 1,
        PathEnd.UNTRUSTED_ROOT: 2,
        PathEnd.MISSING_ISSUER: 3,
        PathEnd.TOO_DEEP: 4,
    }
    # Among equals, prefer the path through certificates valid longest (an expired
    # cross-sign loses to the current root), then the shortest.
    earliest_expiry = min(facts.not_after for facts in candidate.certs)
    return order[candidate.end], -int(earliest_expiry.timestamp()), len(candidate.certs)


class _Search:
    def __init__(
        self,
        by_subject: dict[bytes, list[CertFacts]],
        anchors: TrustAnchors,
        check_unique_links: bool,
    ) -> None:
        self.by_subject = by_subject
        self.anchors = anchors
        self.check_unique_links = check_unique_links
        self.unchecked = False
        self.results: list[_Candidate] = []
        self.rejections: dict[tuple[str, str], Rejection] = {}
        self.loop = False
        self.alternatives = False
        self.exhausted = False
        self.steps = 0
        self.signature_checks = 0

    def extend(self, path: tuple[CertFacts, ...], visited: frozenset[str]) -> None:
        if len(self.results) >= MAX_PATHS:
            return
        self.steps += 1
        current = path[-1]
        anchor = self.anchors.matching(current)
        if anchor is not None:
            # A cross-signed copy of a trusted root is replaced by the root itself.
            root = current if anchor.facts.sha256 == current.sha256 else anchor.facts
            self.results.append(_Candidate((*path[:-1], root), PathEnd.ANCHOR, anchor))
            return
        if current.is_self_signed:
            end = PathEnd.SELF_SIGNED_LEAF if len(path) == 1 else PathEnd.UNTRUSTED_ROOT
            self.results.append(_Candidate(path, end, None))
            return
        if len(path) >= MAX_DEPTH:
            self.results.append(_Candidate(path, PathEnd.TOO_DEEP, None))
            return
        if self.steps > MAX_STEPS or self.signature_checks > MAX_SIGNATURE_CHECKS:
            self.exhausted = True
            self.results.append(_Candidate(path, PathEnd.MISSING_ISSUER, None))
            return
        issuers = self._issuers(current)
        fresh = [(facts, anchor) for facts, anchor in issuers if facts.sha256 not in visited]
        if len(fresh) < len(issuers):
            self.loop = True
        if not fresh:
            self.results.append(_Candidate(path, PathEnd.MISSING_ISSUER, None))
            return
        for facts, issuer_anchor in fresh:
            if issuer_anchor is not None:
                self.results.append(
                    _Candidate((*path, issuer_anchor.facts), PathEnd.ANCHOR, issuer_anchor)
                )
            else:
                self.extend((*path, facts), visited | {facts.sha256})

    def _issuers(self, child: CertFacts) -> list[tuple[CertFacts, Anchor | None]]:
        """Certificates that really issued ``child``: trust anchors first."""
        found: list[tuple[CertFacts, Anchor | None]] = []
        candidates: list[tuple[CertFacts, Anchor | None]] = [
            (anchor.facts, anchor) for anchor in self.anchors.by_subject(child.issuer_key)
        ]
        candidates.extend(
            (facts, None)
            for facts in self.by_subject.get(child.issuer_key, ())
            if facts.sha256 != child.sha256
        )
        if len(candidates) > MAX_CANDIDATES:
            self.exhausted = True
            del candidates[MAX_CANDIDATES:]
        matching = []
        for facts, anchor in candidates:
            if child.aki is not None and facts.ski is not None and child.aki != facts.ski:
                self._reject(child, facts, RejectReason.KEY_ID_MISMATCH, anchor is not None)
            else:
                matching.append((facts, anchor))
        if len(matching) > 1:
            # Several look right by name and key identifier: another builder (OpenSSL,
            # which checks signatures only afterwards) may take another one.
            self.alternatives = True
        if len(matching) == 1 and not self.check_unique_links:
            self.unchecked = True
            return matching
        for facts, anchor in matching:
            self.signature_checks += 1
            if signed_by(child, facts):
                found.append((facts, anchor))
            else:
                self._reject(child, facts, RejectReason.BAD_SIGNATURE, anchor is not None)
        return found

    def _reject(
        self, child: CertFacts, candidate: CertFacts, reason: RejectReason, from_store: bool
    ) -> None:
        self.rejections.setdefault(
            (child.sha256, candidate.sha256), Rejection(child, candidate, reason, from_store)
        )


def openssl_path(
    leaf: CertFacts,
    presented: Sequence[CertFacts],
    anchors: TrustAnchors,
    at: dt.datetime,
) -> ChainPath:
    """The one path OpenSSL's X509_verify_cert builds (1.1.0 and later, trusted first).

    At each step a trusted issuer wins; else, among the certificates sent, the first one in
    the order sent that X509_check_issued accepts (name, key identifier, keyUsage
    keyCertSign) and that is valid at ``at``, else the one that expires last
    (crypto/x509/x509_vfy.c, find_issuer). Signatures are checked only afterwards, and a
    path that does not reach an anchor is not retried with other certificates that were
    sent: OpenSSL does not backtrack, where Go and browsers do.
    """
    path: list[CertFacts] = [leaf]
    used = {leaf.sha256}
    while True:
        current = path[-1]
        anchor = anchors.matching(current)
        if anchor is not None:
            root = current if anchor.facts.sha256 == current.sha256 else anchor.facts
            return _greedy((*path[:-1], root), PathEnd.ANCHOR, anchor)
        trusted = [
            a for a in anchors.by_subject(current.issuer_key) if _openssl_issued(current, a.facts)
        ]
        if trusted:
            chosen = _openssl_choice([a.facts for a in trusted], at)
            issuer_anchor = next(a for a in trusted if a.facts is chosen)
            return _greedy((*path, chosen), PathEnd.ANCHOR, issuer_anchor)
        if current.is_self_signed:
            end = PathEnd.SELF_SIGNED_LEAF if len(path) == 1 else PathEnd.UNTRUSTED_ROOT
            return _greedy(tuple(path), end, None)
        if len(path) >= MAX_DEPTH:
            return _greedy(tuple(path), PathEnd.TOO_DEEP, None)
        sent = [
            facts
            for facts in presented
            if facts.subject_key == current.issuer_key
            and facts.sha256 not in used
            and _openssl_issued(current, facts)
        ]
        if not sent:
            return _greedy(tuple(path), PathEnd.MISSING_ISSUER, None)
        chosen = _openssl_choice(sent, at)
        path.append(chosen)
        used.add(chosen.sha256)


def _openssl_issued(child: CertFacts, issuer: CertFacts) -> bool:
    """X509_check_issued: the name, the key identifier, and keyUsage keyCertSign."""
    if child.aki is not None and issuer.ski is not None and child.aki != issuer.ski:
        return False
    usage = issuer.key_usage
    return usage is None or usage.key_cert_sign


def _openssl_choice(candidates: Sequence[CertFacts], at: dt.datetime) -> CertFacts:
    for facts in candidates:
        if facts.not_before <= at <= facts.not_after:
            return facts
    return max(candidates, key=lambda facts: facts.not_after)


def _greedy(certs: tuple[CertFacts, ...], end: PathEnd, anchor: Anchor | None) -> ChainPath:
    bad = [
        Rejection(child, issuer, RejectReason.BAD_SIGNATURE, False)
        for child, issuer in itertools.pairwise(certs)
        if not signed_by(child, issuer)
    ]
    return ChainPath(certs, end, anchor, tuple(bad), loop=False)
