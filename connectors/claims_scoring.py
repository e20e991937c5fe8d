"""Score the Slack connector's reading of messages against labelled corpora, per deliverable.

A labelled corpus is JSONL, one message a line::

    {"text": "checkout is done, payments still blocked", "stated_at": "2026-12-03T09:15:00+00:00",
     "timezone": "Europe/Berlin", "category": "multi", "split": "holdout",
     "channel_default": "search",               # optional: the channel's default deliverable
     "thread_parent": "checkout and payments?",  # optional: the text of the thread's parent
     "labels": [{"deliverable": "checkout-v2", "status": "done", "target_date": null},
                {"deliverable": "payments-api", "status": "blocked", "target_date": null}]}

`labels` lists what the author claims NOW about each deliverable (none: the message claims
nothing). Deliverables are those of a catalogue (tests/data/claims_deliverables.json). The older
single-label format (`status`/`target_date` at the top, tests/data/status_corpus.jsonl) is read
as one label on the channel's default deliverable, with no aliases, so every claim there goes to
the channel.

Every message is scored through `connectors.slack.connector.message_claims`, the function the connector
itself calls (thread replies through `thread_keys` of their parent's text, as the connector does).
A message posted without a configured default is posted in a channel whose default is
`CHANNEL_KEY`, never labelled: a claim the parser makes about no deliverable the text names is
counted as a false claim rather than dropped.

Figures: status and date precision (correct / predicted (deliverable, value) pairs) and recall
(correct / labelled pairs); the same on messages labelled for two or more deliverables
("multi"); and the share of messages labelled with no claim that yield any claim.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from connectors.base import CanonicalStatus, DeliverableIndex, DeliverableRef, Field
from connectors.claims import ClaimParser
from connectors.slack.connector import message_claims, thread_keys
from connectors.slack.links import DeliverableLinker

CHANNEL_KEY = "#channel"
STATUSES = frozenset(s.value for s in CanonicalStatus)


def load_catalogue(path: str | Path) -> list[DeliverableRef]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return [
        DeliverableRef(d["key"], {"asana": d["asana_task_gid"]} if d.get("asana_task_gid") else {}, tuple(d.get("aliases", ())))
        for d in data["deliverables"]
    ]


def load_labelled(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a labelled corpus in the per-deliverable form (older rows converted)."""
    rows: list[dict[str, Any]] = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            row = json.loads(line)
            row["_line"] = n
            row["_source"] = Path(path).name
            if "labels" not in row:  # the single-label format
                row["_no_aliases"] = True
                row["category"] = row.get("category", "single_label")
                label = {"deliverable": CHANNEL_KEY, "status": row.get("status"),
                         "target_date": row.get("target_date")}
                row["labels"] = [label] if label["status"] or label["target_date"] else []
            rows.append(row)
    return rows


def check_row(row: Mapping[str, Any], keys: Iterable[str]) -> list[str]:
    """What is wrong with one labelled row (empty: nothing)."""
    known = set(keys) | {CHANNEL_KEY}
    problems: list[str] = []
    if not str(row.get("text", "")).strip():
        problems.append("empty text")
    at = datetime.fromisoformat(row["stated_at"])
    if at.tzinfo is None:
        problems.append("stated_at without offset")
    seen: set[str] = set()
    for label in row["labels"]:
        key = label["deliverable"]
        if key not in known:
            problems.append(f"unknown deliverable {key!r}")
        if key in seen:
            problems.append(f"{key!r} labelled twice")
        seen.add(key)
        if label["status"] is not None and label["status"] not in STATUSES:
            problems.append(f"unknown status {label['status']!r}")
        if label["target_date"] is not None:
            datetime.strptime(label["target_date"], "%Y-%m-%d")
        if label["status"] is None and label["target_date"] is None:
            problems.append(f"empty label for {key!r}")
    if row.get("channel_default") is not None and row["channel_default"] not in known:
        problems.append("unknown channel default")
    return problems


def _tally() -> dict[str, int]:
    names = ("n", "st_pred", "st_lab", "st_ok", "dt_pred", "dt_lab", "dt_ok", "none", "none_false",
             "multi_st_lab", "multi_st_ok", "multi_dt_lab", "multi_dt_ok")
    return dict.fromkeys(names, 0)


def _ratio(a: int, b: int) -> float:
    return a / b if b else 1.0


def figures_of(t: Mapping[str, int]) -> dict[str, Any]:
    return {
        "messages": t["n"],
        "status": {"precision": _ratio(t["st_ok"], t["st_pred"]), "recall": _ratio(t["st_ok"], t["st_lab"]),
                   "predicted": t["st_pred"], "labelled": t["st_lab"], "correct": t["st_ok"]},
        "target_date": {"precision": _ratio(t["dt_ok"], t["dt_pred"]), "recall": _ratio(t["dt_ok"], t["dt_lab"]),
                        "predicted": t["dt_pred"], "labelled": t["dt_lab"], "correct": t["dt_ok"]},
        "multi": {"status_recall": _ratio(t["multi_st_ok"], t["multi_st_lab"]),
                  "date_recall": _ratio(t["multi_dt_ok"], t["multi_dt_lab"]),
                  "status_labelled": t["multi_st_lab"]},
        "no_claim": {"messages": t["none"], "false_claims": t["none_false"],
                     "rate": t["none_false"] / t["none"] if t["none"] else 0.0},
    }


class CorpusReader:
    """The connector's reading of corpus rows: one parser per timezone, one linker per catalogue."""

    def __init__(self, catalogue: list[DeliverableRef],
                 extra_phrases: Mapping[str, CanonicalStatus] | None = None) -> None:
        self._extra = extra_phrases
        self._linker = DeliverableLinker(DeliverableIndex.build(catalogue))
        self._bare = DeliverableLinker(DeliverableIndex.build([]))
        self._parsers: dict[str, ClaimParser] = {}

    def parser(self, tz: str) -> ClaimParser:
        parser = self._parsers.get(tz)
        if parser is None:
            parser = self._parsers[tz] = ClaimParser(self._extra, timezone=tz)
        return parser

    def read(self, row: Mapping[str, Any]) -> dict[tuple[str, str], str]:
        """(deliverable, field) -> value, as the connector would store it."""
        parser = self.parser(row.get("timezone") or "UTC")
        linker = self._bare if row.get("_no_aliases") else self._linker
        stated_at = datetime.fromisoformat(row["stated_at"])
        default = [row.get("channel_default") or CHANNEL_KEY]
        parent = row.get("thread_parent")
        keys = thread_keys(parser, linker, parent, stated_at, default) if parent else default
        chosen = message_claims(parser, linker, row["text"], stated_at, keys)
        return {(key, field.value): str(claim.value) for (key, field), claim in chosen.items()}


def score_rows(rows: list[dict[str, Any]], reader: CorpusReader) -> dict[str, Any]:
    """Figures overall, per split and per category (split/category), and every disagreement."""
    total = _tally()
    groups: dict[str, dict[str, int]] = {}
    errors: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    for row in rows:
        got = reader.read(row)
        want: dict[tuple[str, str], str] = {}
        for label in row["labels"]:
            if label["status"] is not None:
                want[(label["deliverable"], Field.STATUS.value)] = label["status"]
            if label["target_date"] is not None:
                want[(label["deliverable"], Field.TARGET_DATE.value)] = label["target_date"]
        multi = len({label["deliverable"] for label in row["labels"]}) >= 2
        split = row.get("split", "dev")
        tallies = [total, groups.setdefault(split, _tally()),
                   groups.setdefault(f"{split}/{row.get('category', 'other')}", _tally())]
        for t in tallies:
            t["n"] += 1
            for field, prefix in ((Field.STATUS.value, "st"), (Field.TARGET_DATE.value, "dt")):
                pred = {k: v for k, v in got.items() if k[1] == field}
                lab = {k: v for k, v in want.items() if k[1] == field}
                ok = sum(1 for k, v in pred.items() if lab.get(k) == v)
                t[f"{prefix}_pred"] += len(pred)
                t[f"{prefix}_lab"] += len(lab)
                t[f"{prefix}_ok"] += ok
                if multi:
                    t[f"multi_{prefix}_lab"] += len(lab)
                    t[f"multi_{prefix}_ok"] += ok
            if not row["labels"]:
                t["none"] += 1
                t["none_false"] += bool(got)
        if got != want:
            errors.append({"source": row.get("_source"), "line": row["_line"], "split": split,
                           "category": row.get("category"), "text": row["text"],
                           "want": {f"{k}/{f}": v for (k, f), v in sorted(want.items())},
                           "got": {f"{k}/{f}": v for (k, f), v in sorted(got.items())}})
    result = figures_of(total)
    result["groups"] = {name: figures_of(t) for name, t in sorted(groups.items())}
    result["errors"] = errors
    result["elapsed_s"] = time.perf_counter() - t0
    return result


def score_files(paths: Iterable[str | Path], catalogue: str | Path,
                extra_phrases: Mapping[str, CanonicalStatus] | None = None) -> dict[str, Any]:
    rows = [row for p in paths for row in load_labelled(p)]
    return score_rows(rows, CorpusReader(load_catalogue(catalogue), extra_phrases))
