"""The trust-anchor type: a set of trusted roots indexed for path building.

It lives in the pure analysis layer so that ``analysis`` never imports the module that
reads stores from disk (``tlsdoctor.anchors``), which in turn builds on this one: no
import cycle. ``tlsdoctor.anchors`` re-exports these names for everyone else.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.x509.oid import NameOID

from tlsdoctor.analysis.facts import CertFacts
from tlsdoctor.models import TrustAnchorSource

if TYPE_CHECKING:
    from cryptography.x509.verification import Store

MOZILLA = "mozilla"
SYSTEM = "system"
CUSTOM = "custom"


@dataclass(frozen=True)
class Anchor:
    """One trusted root and the anchor sets ("mozilla", "system", "custom") that hold it."""

    facts: CertFacts
    kinds: frozenset[str]


class TrustAnchors:
    """A set of trusted roots, indexed for path building."""

    def __init__(self, sources: Sequence[tuple[TrustAnchorSource, Sequence[x509.Certificate]]]):
        kinds_by_sha: dict[str, set[str]] = {}
        facts_by_sha: dict[str, CertFacts] = {}
        for source, certificates in sources:
            for cert in certificates:
                facts = CertFacts.of(cert)
                facts_by_sha.setdefault(facts.sha256, facts)
                kinds_by_sha.setdefault(facts.sha256, set()).add(source.kind)
        self.sources: tuple[TrustAnchorSource, ...] = tuple(source for source, _ in sources)
        self.anchors: dict[str, Anchor] = {
            sha: Anchor(facts, frozenset(kinds_by_sha[sha])) for sha, facts in facts_by_sha.items()
        }
        self._by_subject: dict[bytes, list[Anchor]] = {}
        for anchor in self.anchors.values():
            self._by_subject.setdefault(anchor.facts.subject_key, []).append(anchor)
        self._store: Store | None = None

    def __len__(self) -> int:
        return len(self.anchors)

    def by_subject(self, subject_key: bytes) -> list[Anchor]:
        """Anchors whose subject is exactly this DER name."""
        return self._by_subject.get(subject_key, [])

    def matching(self, facts: CertFacts) -> Anchor | None:
        """The anchor that *is* this certificate: same certificate, or same name and key
        (a cross-signed copy of a trusted root counts as the root)."""
        anchor = self.anchors.get(facts.sha256)
        if anchor is not None:
            return anchor
        # Keys are compared only for the few anchors of the same name: extracting every
        # anchor's key up front would dominate the start-up of a one-chain check.
        for candidate in self._by_subject.get(facts.subject_key, ()):
            if candidate.facts.spki == facts.spki:
                return candidate
        return None

    @functools.cached_property
    def organizations(self) -> frozenset[str]:
        """The organisation (O=) names of the anchors, case-folded: who runs these roots."""
        return frozenset(
            str(attribute.value).casefold()
            for anchor in self.anchors.values()
            for attribute in anchor.facts.cert.subject.get_attributes_for_oid(
                NameOID.ORGANIZATION_NAME
            )
        )

    @property
    def kinds(self) -> frozenset[str]:
        return frozenset(source.kind for source in self.sources)

    def verification_store(self) -> Store:
        """The anchors as a ``cryptography`` verification store (built once)."""
        if self._store is None:
            from cryptography.x509.verification import Store

            self._store = Store([anchor.facts.cert for anchor in self.anchors.values()])
        return self._store
