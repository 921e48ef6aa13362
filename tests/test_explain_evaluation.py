"""explain measured on verbatim messages it was not tuned on (``tests/explain_evaluation.py``).

The held-out half of the real clients' messages against the lab was never looked at while
writing patterns; the goal of issue 14 is hit@1 >= 90 % and hit@3 >= 95 % there, and the
right cause in the top 3 for >= 95 % of everything the real clients print against the lab.
"""

from __future__ import annotations

import collections

from explain_evaluation import Row, evaluation_set, score, split_of


def test_the_evaluation_set_is_large_and_split_by_family() -> None:
    rows = evaluation_set()
    assert len(rows) >= 300
    halves = collections.Counter(row.split for row in rows if row.origin == "lab")
    assert halves["heldout"] >= 80 and halves["tune"] >= 80
    families = {row.family for row in rows if row.split == "heldout"}
    assert len(families) >= 10  # every client's messages are in both halves
    assert {row.family for row in rows if row.split == "tune"} >= families


def test_the_committed_split_is_the_hash_split() -> None:
    """No message was moved between halves by hand: each row's half is the hash of its text."""
    moved = [
        row.text[:80]
        for row in evaluation_set()
        if row.origin != "catalogue" and row.split != split_of(row.text)
    ]
    assert moved == []


def test_heldout_hit_rates() -> None:
    heldout = score(row for row in evaluation_set() if row.split == "heldout")
    assert heldout.hit1 >= 0.90, heldout
    assert heldout.hit3 >= 0.95, heldout


def test_real_clients_against_the_lab_top3() -> None:
    lab = score(row for row in evaluation_set() if row.origin == "lab")
    assert lab.hit3 >= 0.95, lab


def test_the_scorer_counts_a_wrong_answer_as_a_miss() -> None:
    """Negative twin: a message labelled with a cause explain does not give scores 0."""
    curl = "curl: (60) SSL certificate problem: certificate has expired"
    wrong = Row("curl", curl, ("weak_key",), "tune", "lab")
    right = Row("curl", curl, ("expired",), "tune", "lab")
    assert (score([wrong]).hit1, score([wrong]).hit3) == (0.0, 0.0)
    assert (score([right]).hit1, score([right]).hit3) == (1.0, 1.0)
