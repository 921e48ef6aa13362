"""Small pieces of English shared by every report: counts with the right noun form."""

from __future__ import annotations


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``count`` with ``noun`` in the right form: ``1 root``, ``2 roots``, ``0 roots``;
    ``nouns`` for an irregular plural (``plural(2, "more fix", "more fixes")``)."""
    return f"{count} {noun if count == 1 else nouns or noun + 's'}"
