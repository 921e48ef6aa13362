"""The explain evaluation set and its scoring (used by a test and by bench/bench_explain.py).

Rows come from ``tests/data/explain/lab_messages.jsonl`` (real clients here against the lab;
split by family into ``tune`` and ``heldout`` halves by a hash of the text, so the split is
fixed and committed with the data) and from the catalogue's own examples (tune only: the
patterns were written on them).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tlsdoctor.explain import explain_text
from tlsdoctor.knowledge import message_catalogue

DATA = Path(__file__).parent / "data" / "explain"
# What a client can tell from its side: a known-bad root that the server does not send is,
# to the client, one more root it does not know.
SEEN_AS = {"known_bad_root": ("untrusted_root", "missing_intermediate")}


@dataclass(frozen=True)
class Row:
    family: str
    text: str
    causes: tuple[str, ...]  # the right causes: the real one first
    split: str  # "tune" or "heldout"
    origin: str  # "lab" or "catalogue"


def _split(text: str) -> str:
    return "heldout" if hashlib.sha256(text.encode()).digest()[0] % 2 else "tune"


def evaluation_set() -> list[Row]:
    rows = []
    for line in (DATA / "lab_messages.jsonl").read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        causes = (item["cause"], *SEEN_AS.get(item["cause"], ()))
        rows.append(Row(item["client"], item["text"], causes, item["split"], "lab"))
    for entry in message_catalogue():
        for example in entry.examples:
            rows.append(Row(entry.client, example, (entry.causes[0].code,), "tune", "catalogue"))
    return rows


@dataclass
class Scores:
    total: int = 0
    hit1: float = 0.0
    hit3: float = 0.0
    families: dict[str, tuple[int, int, int]] = field(default_factory=dict)


def ranked(text: str) -> list[str]:
    return [cause.code for cause in explain_text(text).causes]


def score(rows: Iterable[Row]) -> Scores:
    result = Scores()
    ones = threes = 0
    for row in rows:
        codes = ranked(row.text)
        one = bool(codes[:1]) and codes[0] in row.causes
        three = bool(set(codes[:3]) & set(row.causes))
        n, h1, h3 = result.families.get(row.family, (0, 0, 0))
        result.families[row.family] = (n + 1, h1 + one, h3 + three)
        result.total += 1
        ones += one
        threes += three
    if result.total:
        result.hit1, result.hit3 = ones / result.total, threes / result.total
    return result


__all__ = ["Row", "Scores", "_split", "evaluation_set", "score"]
