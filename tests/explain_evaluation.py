"""The explain evaluation set and its scoring (used by a test and by bench/bench_explain.py).

Rows come from

- ``tests/data/explain/lab_messages.jsonl``: what the real clients here print against the lab
  (``bench/collect_client_messages.py``); the cause is the endpoint's real one;
- ``tests/data/explain/source_messages.jsonl``: messages of clients that cannot run here
  (.NET, Windows, Android, Apple, browsers, PostgreSQL, MySQL, LDAP, kubectl ...), written
  from the format string in the client's source (named in each row) with made-up hosts;
  ``causes`` lists every cause the message is consistent with;
- the catalogue's own examples (tune only: the patterns were written on them).

Each file is split by family into ``tune`` and ``heldout`` halves by a hash of the text, so
the split is fixed and committed with the data.
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
    origin: str  # "lab", "source" or "catalogue"


def split_of(text: str) -> str:
    """The half a message belongs to (how the committed ``split`` fields were made)."""
    return "heldout" if hashlib.sha256(text.encode()).digest()[0] % 2 else "tune"


def evaluation_set() -> list[Row]:
    rows = []
    for line in (DATA / "lab_messages.jsonl").read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        causes = (item["cause"], *SEEN_AS.get(item["cause"], ()))
        rows.append(Row(item["client"], item["text"], causes, item["split"], "lab"))
    for line in (DATA / "source_messages.jsonl").read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        rows.append(
            Row(item["client"], item["text"], tuple(item["causes"]), item["split"], "source")
        )
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
