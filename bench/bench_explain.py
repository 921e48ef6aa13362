"""explain, measured: hit@1 / hit@3 per family on the evaluation set, and the 1 MB log.

The evaluation set (``tests/data/explain/``) is verbatim messages, each labelled with the
causes that are right for it (the first is the real cause; a second is one the message
cannot be told from, e.g. a known-bad root looks like any unknown root to a client):

- ``lab_messages.jsonl``: what the real clients here print against every lab endpoint
  (``bench/collect_client_messages.py``), split by family (client) into two halves by a
  hash of the text: ``tune`` (looked at while writing patterns) and ``heldout`` (never).
- ``source_messages.jsonl``: clients that cannot run here, written from their sources'
  format strings (each row names its source), split the same way;
- the catalogue's own examples, labelled with their entry's first cause: tune only.

    .venv/bin/python bench/bench_explain.py [--show-tune-misses]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from explain_evaluation import Scores, evaluation_set, score  # noqa: E402
from tlsdoctor.explain import explain_text  # noqa: E402
from tlsdoctor.knowledge import message_catalogue  # noqa: E402


def _table(title: str, scores: Scores) -> None:
    print(f"\n{title}: {scores.total} messages, hit@1 {scores.hit1:.1%}, hit@3 {scores.hit3:.1%}")
    for family, (n, h1, h3) in sorted(scores.families.items()):
        print(f"  {family:<18} {n:>4}  hit@1 {h1 / n:>6.1%}  hit@3 {h3 / n:>6.1%}")


def _timing() -> None:
    line = "2026-12-06T04:00:00Z INFO worker-3 GET /api/v1/items?page=7 200 12ms user=alice\n"
    log = line * (1024 * 1024 // len(line))
    log += "curl: (60) SSL certificate problem: unable to get local issuer certificate\n"
    crafted = "'" + "no certificate subject alternative name matches requested host name '" * 14000
    # Every entry's example at the end of a megabyte: every pattern matches, late.
    examples = " ".join(x for entry in message_catalogue() for x in entry.examples)
    everything = log[: 1024 * 1024 - len(examples)] + examples
    cases = (
        ("1 MB log", log),
        ("1 MB crafted quotes", crafted[: 1024 * 1024]),
        ("1 MB ending in every catalogue example", everything),
    )
    for name, text in cases:
        started = time.perf_counter()
        explanation = explain_text(text)
        seconds = time.perf_counter() - started
        print(f"{name}: {seconds:.3f} s ({explanation.confidence}, {len(text)} characters)")


def main() -> None:
    rows = evaluation_set()
    for split in ("tune", "heldout"):
        _table(split, score([row for row in rows if row.split == split]))
    for origin in ("lab", "source"):
        for split in ("tune", "heldout"):
            chosen = [row for row in rows if row.origin == origin and row.split == split]
            _table(f"{origin} {split}", score(chosen))
    _table("lab clients (both halves)", score(row for row in rows if row.origin == "lab"))
    if "--show-tune-misses" in sys.argv:
        for row in rows:
            if row.split == "tune" and not score([row]).hit3:
                print("MISS", row.family, row.causes, row.text[-300:].replace("\n", " | "))
    print()
    _timing()


if __name__ == "__main__":
    main()
