"""How a certificate is named in messages: by its place in the path and its name."""

from __future__ import annotations

from collections.abc import Sequence

from tlsdoctor.analysis.facts import CertFacts
from tlsdoctor.models import JsonValue


def role(facts: CertFacts, path: Sequence[CertFacts]) -> str:
    """'leaf', 'intermediate' or 'root' for a certificate of ``path`` (leaf first)."""
    if path and facts is path[0]:
        return "leaf"
    if facts.is_self_issued and facts.is_ca:
        return "root"
    return "intermediate"


def label(facts: CertFacts, path: Sequence[CertFacts]) -> str:
    """ "the leaf certificate 'www.example.com'", as messages say it."""
    return f"the {role(facts, path)} certificate '{facts.display_name}'"


def cert_evidence(facts: CertFacts, path: Sequence[CertFacts]) -> dict[str, JsonValue]:
    """The evidence fields that identify one certificate."""
    return {
        "certificate": role(facts, path),
        "subject": facts.subject_text,
        "sha256": facts.sha256,
    }


def sentence_label(facts: CertFacts, path: Sequence[CertFacts]) -> str:
    """ "The leaf certificate 'www.example.com'", to start a sentence."""
    text = label(facts, path)
    return text[:1].upper() + text[1:]
