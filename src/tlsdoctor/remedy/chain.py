"""The chain a server should send, planned from what it sends and what else was found.

``plan_chain`` builds the best path with the same path builder the diagnosis uses (so the
plan and ``tlsdoctor check`` never disagree), takes the certificates a server must send
from it (leaf, then each intermediate in issuing order; the root only on request) and
lists, item by item, how that differs from what is served: intermediates to add,
certificates to drop, order, duplicates. The webpki verifier then judges the planned chain
itself, so a plan that says "accepted" is one a strict client accepts.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cryptography import x509

from tlsdoctor.analysis.constraints import path_judge
from tlsdoctor.analysis.facts import CertFacts
from tlsdoctor.analysis.names import parse_host
from tlsdoctor.analysis.path import ChainPath, PathEnd, build_path
from tlsdoctor.analysis.trust import trust_findings
from tlsdoctor.analysis.webpki import webpki_error
from tlsdoctor.anchors import TrustAnchors, mozilla_anchors
from tlsdoctor.check import choose_leaf
from tlsdoctor.errors import InputError
from tlsdoctor.knowledge import interception_products, known_bad_roots
from tlsdoctor.models import Finding

CANDIDATES = "the candidate certificates"
TRUST_STORE = "the trust store"


class DifferenceKind(str, enum.Enum):
    """How the served chain differs from the planned one."""

    MISSING = "missing"  # on the path, not served: the server must add it
    EXTRA = "extra"  # served, not on the path: the server should drop it
    WRONG_ORDER = "wrong_order"  # served after a certificate it should precede
    DUPLICATE = "duplicate"  # served more than once
    ROOT_SENT = "root_sent"  # the root is served; harmless, left out of the plan
    ROOT_ADDED = "root_added"  # include_root: the plan sends a root the server did not

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class ChainDifference:
    """One way the served chain differs from the plan, about one certificate."""

    kind: DifferenceKind
    subject: str  # RFC 4514
    name: str  # the common name, as messages show it
    sha256: str
    message: str  # one sentence
    source: str | None = None  # MISSING / ROOT_ADDED: where the certificate came from


@dataclass(frozen=True)
class ChainPlan:
    """The chain a server should send, whether it is trusted, and what to change."""

    chain: tuple[x509.Certificate, ...]  # leaf first, then intermediates in issuing order
    end: PathEnd  # how the best path ends (ANCHOR: trusted)
    anchor: x509.Certificate | None  # the trust anchor reached (from the store)
    anchor_name: str | None
    anchor_kinds: frozenset[str]  # "mozilla", "system", "custom"
    public: bool  # the anchor is one of Mozilla's roots (the webpki profile applies)
    verifier_error: str | None  # None: the webpki verifier accepts ``chain``
    differences: tuple[ChainDifference, ...]  # served -> planned, served order first
    findings: tuple[Finding, ...]  # the trust analysis of the path: why it is not trusted
    issuer_urls: tuple[str, ...]  # MISSING_ISSUER: where the next issuer may be downloaded

    @property
    def trusted(self) -> bool:
        """The path reaches a trust anchor."""
        return self.end is PathEnd.ANCHOR

    @property
    def accepted(self) -> bool:
        """Reaches an anchor and the webpki verifier accepts the planned chain."""
        return self.trusted and self.verifier_error is None

    @property
    def changed(self) -> bool:
        """The server must send something other than what it sends."""
        return bool(self.differences)

    @property
    def leaf(self) -> x509.Certificate:
        return self.chain[0]

    @property
    def intermediates(self) -> tuple[x509.Certificate, ...]:
        """Everything after the leaf: what a chain file beside the certificate holds."""
        return self.chain[1:]

    @property
    def reason(self) -> str | None:
        """Why no trust anchor is reached (one paragraph), or None when one is."""
        if self.trusted:
            return None
        if self.findings:
            return self.findings[0].message
        return f"No path to a trust anchor ({self.end.value})."

    def of_kind(self, kind: DifferenceKind) -> tuple[ChainDifference, ...]:
        return tuple(item for item in self.differences if item.kind is kind)


def plan_chain(
    presented: Sequence[x509.Certificate],
    candidates: Sequence[x509.Certificate],
    anchors: TrustAnchors,
    *,
    at: dt.datetime,
    host: str | None,
    include_root: bool = False,
    public_roots: TrustAnchors | None = None,
    sources: Mapping[x509.Certificate, str] | None = None,
) -> ChainPlan:
    """The chain the server should send, planned from ``presented`` (what it sends, or the
    user's files, in that order) and ``candidates`` (intermediates found elsewhere).

    ``at`` is the time the chain is judged at (naive: UTC); ``host`` the name it must be
    valid for (None: the leaf's own first name). ``public_roots`` are the roots that make
    a chain public (default Mozilla's). ``sources`` names where each candidate came from
    (an AIA URL, a file), for the sentence that says what to add.
    """
    if not presented:
        raise InputError("no certificate to plan a chain for")
    when = _utc(at)
    host_name = parse_host(host) if host else None
    public = mozilla_anchors() if public_roots is None else public_roots
    served = [CertFacts.of(cert) for cert in presented]
    extra = [CertFacts.of(cert) for cert in candidates]
    leaf = choose_leaf(served)
    # Every signature checked: unlike a diagnosis, the plan is written to disk and served.
    # The path that validates (no stale, wrong-EKU or constrained look-alike) is written.
    path = build_path(
        leaf, [*served, *extra], anchors, check_unique_links=True, judge=path_judge(when)
    )
    body, root = _split(path)
    kept = _current_cross_signs(served, root, when) if path.trusted else []
    chain = [leaf, *body, *kept]
    if include_root and root is not None:
        chain.append(root)
    origin = _origins(extra, sources or {}, {facts.sha256 for facts in served})
    differences = _differences(served, chain, root, when, origin)
    anchor = path.anchor
    public_anchor = anchor is not None and public.matching(path.last) is not None
    verifier_error = webpki_error(leaf, chain[1:], anchors, when, host_name, public_anchor)
    findings = trust_findings(path, anchors, public, known_bad_roots(), interception_products())
    return ChainPlan(
        chain=tuple(facts.cert for facts in chain),
        end=path.end,
        anchor=None if anchor is None else anchor.facts.cert,
        anchor_name=None if anchor is None else anchor.facts.display_name,
        anchor_kinds=frozenset() if anchor is None else anchor.kinds,
        public=public_anchor,
        verifier_error=verifier_error,
        differences=tuple(differences),
        findings=tuple(findings),
        issuer_urls=path.last.ca_issuer_urls if path.end is PathEnd.MISSING_ISSUER else (),
    )


def _utc(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:  # a naive time is UTC, as everywhere in tlsdoctor
        return moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(dt.timezone.utc)


def _split(path: ChainPath) -> tuple[list[CertFacts], CertFacts | None]:
    """The path after the leaf, as (what the server sends, the root it may omit).

    Only a self-signed certificate is a root: an intermediate that the store happens to
    hold (a --ca-file with an intermediate) is still sent, for clients that hold only its
    root.
    """
    after_leaf = list(path.certs[1:])
    if after_leaf and after_leaf[-1].is_self_signed:
        return after_leaf[:-1], after_leaf[-1]
    return after_leaf, None


def _same_ca(a: CertFacts, b: CertFacts) -> bool:
    """The same CA in two certificates: same name and key (a cross-sign, a re-issue)."""
    return a.subject_key == b.subject_key and a.spki == b.spki


def _current_cross_signs(
    served: Sequence[CertFacts], root: CertFacts | None, at: dt.datetime
) -> list[CertFacts]:
    """Served, valid cross-signed copies of the root, which the plan keeps.

    The path builder ends at the store's root, but a server may send the root's key
    cross-signed by an older root on purpose (ISRG Root X1 signed by DST Root CA X3, for old
    Android): clients whose store lacks the new root follow it. Expired, it only misleads.
    """
    if root is None:
        return []
    kept: list[CertFacts] = []
    for facts in served:
        if (
            _same_ca(facts, root)
            and facts.sha256 != root.sha256
            and not facts.is_self_issued
            and facts.not_before <= at <= facts.not_after
            and all(facts.sha256 != k.sha256 for k in kept)
        ):
            kept.append(facts)
    return kept


def _origins(
    candidates: Sequence[CertFacts], sources: Mapping[x509.Certificate, str], served: set[str]
) -> dict[str, str]:
    """Where each certificate the server does not send was found, by fingerprint."""
    origin: dict[str, str] = {}
    for facts in candidates:
        if facts.sha256 not in served:
            origin.setdefault(facts.sha256, sources.get(facts.cert, CANDIDATES))
    return origin


def _differences(
    served: Sequence[CertFacts],
    chain: Sequence[CertFacts],
    root: CertFacts | None,
    at: dt.datetime,
    origin: Mapping[str, str],
) -> list[ChainDifference]:
    """Served against planned: each served certificate in served order, then what to add."""
    position = {facts.sha256: index for index, facts in enumerate(chain)}
    items: list[ChainDifference] = []
    seen: set[str] = set()
    furthest: CertFacts | None = None
    for facts in served:
        if facts.sha256 in seen:
            items.append(
                _item(
                    DifferenceKind.DUPLICATE,
                    facts,
                    f"'{facts.display_name}' is sent more than once; once is enough.",
                )
            )
            continue
        seen.add(facts.sha256)
        index = position.get(facts.sha256)
        if index is None:
            items.append(_dropped(facts, chain, root, at))
        elif furthest is not None and index < position[furthest.sha256]:
            items.append(
                _item(
                    DifferenceKind.WRONG_ORDER,
                    facts,
                    f"'{facts.display_name}' is sent after '{furthest.display_name}' but "
                    "belongs before it: the server's certificate comes first, then each "
                    "issuer in turn.",
                )
            )
        else:
            furthest = facts
    for index, facts in enumerate(chain):
        if facts.sha256 in seen:
            continue
        if root is not None and facts.sha256 == root.sha256:
            items.append(
                _item(
                    DifferenceKind.ROOT_ADDED,
                    facts,
                    f"The root '{facts.display_name}' is added, as asked; clients use their "
                    "own copy of a root, so it only adds bytes to the handshake.",
                    TRUST_STORE,
                )
            )
            continue
        source = origin.get(facts.sha256, TRUST_STORE)
        child = chain[index - 1].display_name if index else facts.display_name
        items.append(
            _item(
                DifferenceKind.MISSING,
                facts,
                f"'{facts.display_name}' is not sent but issued '{child}': curl, Python, "
                "Java, Node and Go need it sent (only browsers fetch it themselves); add it "
                f"(found in {source}).",
                source,
            )
        )
    return items


def _dropped(
    facts: CertFacts, chain: Sequence[CertFacts], root: CertFacts | None, at: dt.datetime
) -> ChainDifference:
    """A served certificate the plan leaves out, and why."""
    if root is not None and _same_ca(facts, root) and facts.is_self_issued:
        return _item(
            DifferenceKind.ROOT_SENT,
            facts,
            f"The root '{facts.display_name}' is sent; clients ignore it (they must hold it "
            f"already), so the plan leaves it out ({len(facts.der)} bytes fewer in every "
            "handshake).",
        )
    copy_of = next(
        (ca for ca in (*chain[1:], *([root] if root else [])) if _same_ca(facts, ca)), None
    )
    expired = at > facts.not_after
    if copy_of is not None and expired:
        # Another issuer: a cross-sign (the AddTrust classic); the same one: last
        # year's copy of a renewed intermediate.
        what = "cross-sign" if facts.issuer_key != copy_of.issuer_key else "older copy"
        reason = (
            f"is an expired {what} of '{copy_of.display_name}' (expired "
            f"{facts.not_after:%Y-%m-%d}); clients that follow it fail"
        )
    elif copy_of is not None:
        reason = f"is another copy of '{copy_of.display_name}' (a cross-sign) the path does not use"
    elif expired:
        reason = f"expired on {facts.not_after:%Y-%m-%d} and is not on the path to the trust anchor"
    elif any(facts.subject_key == ca.subject_key for ca in chain[1:]):
        reason = "has the name of a CA on the path but another key: a stale copy"
    else:
        reason = "is not on the path from the server's certificate to the trust anchor"
    return _item(
        DifferenceKind.EXTRA, facts, f"'{facts.display_name}' {reason}; remove it from the chain."
    )


def _item(
    kind: DifferenceKind, facts: CertFacts, message: str, source: str | None = None
) -> ChainDifference:
    return ChainDifference(
        kind=kind,
        subject=facts.subject_text,
        name=facts.display_name,
        sha256=facts.sha256,
        message=message,
        source=source,
    )
