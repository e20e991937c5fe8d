"""The claim parser, read through the Slack connector, against corpora labelled per deliverable.

tests/data/claims_holdout.jsonl was written and labelled BEFORE the v2 parser (clause by clause,
one claim per deliverable) and committed on its own; the parser was never tuned on it. Its first
blind scores are in bench/README.md. tests/data/claims_dev.jsonl is the development set the rules
were written against (with tests/data/status_corpus.jsonl, the older single-label corpus).
Labels name the deliverables of tests/data/claims_deliverables.json; see
`connectors.claims_scoring` for the format and how the figures are counted.

The gate is CI's: a change that makes the holdout figures drop below it fails. Every gate is the
goal of issue #18 (GOALS).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from connectors.claims_scoring import check_row, load_catalogue, load_labelled, score_files

DATA = Path(__file__).resolve().parents[1] / "data"
HOLDOUT = DATA / "claims_holdout.jsonl"
# written on 4 December 2026 from a labelling spec by someone who never saw the parser or the
# other corpora, committed before it was first scored; only its figures are ever looked at
HOLDOUT2 = DATA / "claims_holdout2.jsonl"
DEV = DATA / "claims_dev.jsonl"
OLD = DATA / "status_corpus.jsonl"
CATALOGUE = DATA / "claims_deliverables.json"

# issue #18's goals, and the gates CI holds the holdout to
GOALS = {"status_precision": 0.95, "status_recall": 0.90, "multi_recall": 0.85,
         "date_precision": 0.95, "no_claim_false_rate": 0.03}
GATES = {"status_precision": 0.95, "status_recall": 0.90, "multi_recall": 0.85,
         "date_precision": 0.95, "no_claim_false_rate": 0.03}
# The second holdout is short of the goals on precision and on false claims (bench/README.md,
# "A second blind holdout"): it is held to a floor under what it measured, so a change that reads
# another team's text worse fails, and the shortfall stays written down rather than hidden.
HOLDOUT2_FLOOR = {"status_precision": 0.92, "status_recall": 0.88, "multi_recall": 0.85,
                  "date_precision": 0.93, "no_claim_false_rate": 0.10}


@pytest.fixture(scope="module")
def holdout() -> dict:
    return score_files([HOLDOUT], CATALOGUE)


def test_corpora_are_well_formed() -> None:
    keys = [d.key for d in load_catalogue(CATALOGUE)]
    rows = {path.name: load_labelled(path) for path in (HOLDOUT, HOLDOUT2, DEV, OLD)}
    for name, found in rows.items():
        for row in found:
            assert check_row(row, keys) == [], (name, row["_line"], row["text"])
    every = [row for found in rows.values() for row in found]
    assert len(every) >= 1000
    texts = Counter(row["text"] for row in every)
    assert not [t for t, n in texts.items() if n > 1], "a message is in two corpora (or twice)"
    assert {row["split"] for row in rows[HOLDOUT.name]} == {"holdout"}
    assert {row["split"] for row in rows[HOLDOUT2.name]} == {"holdout"}
    assert {row["split"] for row in rows[DEV.name]} == {"dev"}
    for name in (HOLDOUT.name, HOLDOUT2.name, DEV.name):
        cats = Counter(row["category"] for row in rows[name])
        assert set(cats) >= {"single", "multi", "thread", "emoji_caps", "non_english",
                             "reported_quoted", "dates", "no_claim", "links"}, cats
        # several deliverables per message, and messages that claim nothing, in real numbers
        assert sum(len(row["labels"]) >= 2 for row in rows[name]) >= 0.1 * len(rows[name])
        assert sum(not row["labels"] for row in rows[name]) >= 0.2 * len(rows[name])


def assert_held_to(figures: dict, gates: dict[str, float]) -> None:
    st, dt, multi, none = figures["status"], figures["target_date"], figures["multi"], figures["no_claim"]
    assert st["precision"] >= gates["status_precision"], st
    assert st["recall"] >= gates["status_recall"], st
    assert multi["status_recall"] >= gates["multi_recall"], multi
    assert dt["precision"] >= gates["date_precision"], dt
    assert none["rate"] <= gates["no_claim_false_rate"], none


def test_holdout_gate(holdout: dict) -> None:
    assert_held_to(holdout, GATES)


def test_second_holdout_floor() -> None:
    assert_held_to(score_files([HOLDOUT2], CATALOGUE), HOLDOUT2_FLOOR)


def test_every_gate_is_the_goal() -> None:
    """The holdout is held to issue #18's goals themselves; a shortfall would have to be written
    down here and in bench/README.md, not hidden in a looser gate."""
    assert GATES == GOALS


def test_dev_and_old_corpus_figures() -> None:
    got = score_files([DEV, OLD], CATALOGUE)
    assert got["status"]["precision"] >= 0.97 and got["status"]["recall"] >= 0.95, got["status"]
    # 0.97 before 398 messages by two new writers joined the dev set (4 December): 0.967 with them
    assert got["target_date"]["precision"] >= 0.96, got["target_date"]
    assert got["multi"]["status_recall"] >= 0.95, got["multi"]
    assert got["no_claim"]["rate"] <= 0.05, got["no_claim"]
