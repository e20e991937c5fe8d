"""Claim understanding per category, and its speed on one core.

    .venv/bin/python bench/claims_categories.py [--json] [--repeat N] [--errors dev]

Reads every labelled message the way the Slack connector does (`connectors.slack.connector.message_claims`,
scored by `connectors.claims_scoring`) and prints, for the development set (tests/data/
claims_dev.jsonl + the older single-label tests/data/status_corpus.jsonl) and the blind holdouts
(tests/data/claims_holdout.jsonl, and claims_holdout2.jsonl written by another hand), a table by category: status precision/recall, date
precision/recall, status recall on messages naming several deliverables, and the share of
messages that claim nothing which still give a claim.

Speed: messages per second through the connector's reading (linker + parser, one thread, so one
core; by the wall clock and by CPU time): cold (dateparser's result cache emptied first; its one-time locale loading excluded; best
of three passes) and warm (later passes, the mean), plus the import time of `connectors.claims`
(CLI start-up).

`--errors dev` lists the dev disagreements (never `holdout`: the holdout is not for tuning).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from connectors.claims import clear_caches  # noqa: E402
from connectors.claims_scoring import (  # noqa: E402
    CorpusReader,
    load_catalogue,
    load_labelled,
    score_rows,
)

DATA = ROOT / "tests" / "data"
SETS = {
    "dev": [DATA / "claims_dev.jsonl", DATA / "status_corpus.jsonl"],
    "holdout": [DATA / "claims_holdout.jsonl"],
    "holdout2": [DATA / "claims_holdout2.jsonl"],
}
CATALOGUE = DATA / "claims_deliverables.json"


def throughput(reader: CorpusReader, rows: list[dict[str, Any]], repeat: int) -> dict[str, float]:
    """Messages per second by the wall clock and by this process's CPU time (one thread: the CPU
    figure is one core's rate even when the box's other users take turns on it)."""
    reader.read({"text": "ETA tomorrow", "stated_at": "2000-01-03T12:00:00+00:00", "labels": []})
    cold = cold_cpu = float("inf")
    for _ in range(3):  # best of three: the machine is shared, the slowest pass measures the neighbours
        clear_caches()
        t0, c0 = time.perf_counter(), time.process_time()
        for row in rows:
            reader.read(row)
        cold = min(cold, time.perf_counter() - t0)
        cold_cpu = min(cold_cpu, time.process_time() - c0)
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(repeat):
        for row in rows:
            reader.read(row)
    warm = (time.perf_counter() - t0) / max(repeat, 1)
    warm_cpu = (time.process_time() - c0) / max(repeat, 1)
    n = len(rows)
    return {"messages": n, "cold_msgs_per_s": n / cold, "warm_msgs_per_s": n / warm,
            "cold_cpu_msgs_per_s": n / cold_cpu, "warm_cpu_msgs_per_s": n / warm_cpu}


def import_seconds() -> float:
    """Wall time of `import connectors.claims` in a fresh interpreter, best of three."""
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import connectors.claims"], cwd=ROOT, check=True)
        best = min(best, time.perf_counter() - t0)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], cwd=ROOT, check=True)
    return max(best - (time.perf_counter() - t0), 0.0)


def table(name: str, figures: dict[str, Any]) -> list[str]:
    lines = [f"{name}: {figures['messages']} messages",
             "| category | messages | status P | status R | date P | date R | multi R | false claims on no-claim |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]

    def row(label: str, f: dict[str, Any]) -> str:
        s, d, m, n = f["status"], f["target_date"], f["multi"], f["no_claim"]
        multi = f"{m['status_recall']:.3f}" if m["status_labelled"] else "–"
        none = f"{n['false_claims']}/{n['messages']} ({n['rate']:.1%})" if n["messages"] else "–"
        sp = f"{s['precision']:.3f}" if s["predicted"] else "–"
        sr = f"{s['recall']:.3f}" if s["labelled"] else "–"
        dp = f"{d['precision']:.3f}" if d["predicted"] else "–"
        dr = f"{d['recall']:.3f}" if d["labelled"] else "–"
        return f"| {label} | {f['messages']} | {sp} | {sr} | {dp} | {dr} | {multi} | {none} |"

    for group, f in figures["groups"].items():
        if "/" in group:
            lines.append(row(group.split("/", 1)[1], f))
    lines.append(row("**all**", figures))
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--repeat", type=int, default=5, help="warm passes to time")
    ap.add_argument("--errors", choices=["dev"], help="list the dev messages read wrong")
    args = ap.parse_args(argv)

    reader = CorpusReader(load_catalogue(CATALOGUE))
    rows = {name: [r for p in paths for r in load_labelled(p)] for name, paths in SETS.items()}
    for row in rows["dev"]:
        if row["_source"] == "status_corpus.jsonl":  # one category for the older corpus, both its splits
            row["category"], row["split"] = "status_corpus (single label)", "dev"
    figures = {name: score_rows(found, reader) for name, found in rows.items()}
    every = [r for found in rows.values() for r in found]
    rate = throughput(reader, every, args.repeat)
    started = import_seconds()
    if args.json:
        out = {name: {k: v for k, v in f.items() if k != "errors"} for name, f in figures.items()}
        print(json.dumps({"figures": out, "rate": rate, "import_s": started}, indent=2))
        return 0
    print(f"claim understanding, {datetime.now().date()} ({len(every)} messages)\n")
    for name, f in figures.items():
        print("\n".join(table(name, f)))
        print()
    print(f"speed on one core through the connector's reading ({rate['messages']} messages): "
          f"cold {rate['cold_msgs_per_s']:,.0f} msg/s, warm {rate['warm_msgs_per_s']:,.0f} msg/s "
          f"(by CPU time: cold {rate['cold_cpu_msgs_per_s']:,.0f}, warm {rate['warm_cpu_msgs_per_s']:,.0f}); "
          f"import connectors.claims {started * 1000:.0f} ms")
    if args.errors:
        for e in figures[args.errors]["errors"]:
            print(json.dumps({k: e[k] for k in ("source", "line", "category", "text", "want", "got")},
                             ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
