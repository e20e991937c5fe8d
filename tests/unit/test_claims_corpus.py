"""Precision and recall of `connectors.claims` over the labelled Slack corpus.

The corpus (tests/data/status_corpus.jsonl) is one JSON object per line: text, stated_at,
timezone, status (a canonical status or null), target_date (YYYY-MM-DD or null) and split.
Labels say what an honest reader takes the author to claim about the deliverable NOW:

- status: the current state asserted by the author. Questions, plans ("will ship Friday"),
  hopes and hypotheticals claim none. A predicted miss ("might slip", "won't make Friday")
  is at_risk. A past state superseded in the same message gives way to the latest one; a past
  transient state alone ("we were blocked yesterday") claims nothing about now. Negated
  blocked/at risk is on_track; "not done yet" claims nothing.
- target_date: the day the deliverable is now planned for, resolved in the author's timezone.
  None for vague periods ("next week", "Q1"), for slips relative to an unknown date ("slipping
  a week"), for a date being missed, for dates of meetings, absences, freezes or the start of
  work, and for questions. "next <weekday>" is that weekday in the following Monday-Sunday
  week, "EOW" the Friday of the message's week, "EOM" the last day of its month.

split "dev" rows were written and labelled before the parser; the rules were developed against
them. split "holdout" rows were written and labelled after the rules were frozen and first
scored blind (see the figures in bench/claims_corpus.py's docstring).
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from connectors.base import CanonicalStatus
from connectors.claims import load_corpus, score_corpus

CORPUS = Path(__file__).resolve().parents[1] / "data" / "status_corpus.jsonl"

MIN_STATUS_PRECISION = 0.95
MIN_STATUS_RECALL = 0.90
MIN_DATE_ACCURACY = 0.90


@pytest.fixture(scope="module")
def figures() -> dict:
    return score_corpus(CORPUS)


def test_corpus_is_well_formed() -> None:
    rows = load_corpus(CORPUS)
    assert len(rows) >= 320
    statuses = {s.value for s in CanonicalStatus}
    for row in rows:
        assert row["text"].strip()
        at = datetime.fromisoformat(row["stated_at"])
        assert at.tzinfo is not None, row
        ZoneInfo(row["timezone"])
        assert row["status"] is None or row["status"] in statuses, row
        if row["target_date"] is not None:
            datetime.strptime(row["target_date"], "%Y-%m-%d")
        assert row.get("split", "dev") in ("dev", "holdout")
    texts = Counter(r["text"] for r in rows)
    assert not [t for t, n in texts.items() if n > 1], "duplicate messages"
    # enough messages that claim nothing, and every status represented
    assert sum(r["status"] is None and r["target_date"] is None for r in rows) >= 60
    assert {r["status"] for r in rows} >= statuses
    # relative dates are exercised across weekdays and timezones
    assert len({r["timezone"] for r in rows}) >= 8
    assert len({datetime.fromisoformat(r["stated_at"]).astimezone(ZoneInfo(r["timezone"]))
                .weekday() for r in rows}) == 7


def test_corpus_precision_and_recall(figures: dict, capsys: pytest.CaptureFixture[str]) -> None:
    st, dt = figures["status"], figures["target_date"]
    with capsys.disabled():
        print()
        print(f"claims corpus: {figures['messages']} messages")
        for name, f in [("all", figures), *figures["splits"].items()]:
            s, d = f["status"], f["target_date"]
            print(f"  {name:8} status precision {s['precision']:.3f} recall {s['recall']:.3f} "
                  f"({s['correct']}/{s['predicted']} predicted, {s['labelled']} labelled) | "
                  f"date accuracy {d['accuracy']:.3f} precision {d['precision']:.3f} "
                  f"({d['correct']}/{d['labelled']} labelled, {d['predicted']} predicted)")
        for e in figures["errors"]:
            print("  miss:", json.dumps({k: e[k] for k in ("line", "text", "status",
                                                          "target_date")}, ensure_ascii=False))
    assert st["precision"] >= MIN_STATUS_PRECISION, st
    assert st["recall"] >= MIN_STATUS_RECALL, st
    assert dt["accuracy"] >= MIN_DATE_ACCURACY, dt
