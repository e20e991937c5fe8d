"""Peak memory of a full sync and reconcile as the workspace grows.

    .venv/bin/python bench/memory_bench.py [--scales 0.1,0.3,1] [--db sqlite] [--json]
    .venv/bin/python bench/memory_bench.py --reconcile 10000,30000,100000 [--json]

Runs `bench/sync_bench.py --full-only` (full sync of every partition, then `reconcile_all`) once
per scale, each in a fresh process, and reads that process's peak resident set size
(`getrusage`, and the PSS of any worker processes, sampled). The sandbox serving the scenario
runs in a separate process and is not counted. Goal: <= 300 MB at the
largest scale and flat as the workspace grows (the peak should not grow with the history).

`--reconcile N,...` measures `reconcile_all` alone on stores of N deliverables with 10 claims
each, built by bench/reconcile_bench.py's generator in one process and reconciled (first run,
then steady) in a fresh one, so the generator's own memory is not counted.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

GOAL_MB = 300


def measure(scale: float, *, db: str = "sqlite", seed: int = 1) -> dict[str, Any]:
    """Full sync + reconcile_all at `scale` in a fresh process; its peak memory and figures.

    The figure is that process's own peak RSS (`getrusage`) or, if higher, the peak PSS of it and
    any workers it starts. `/usr/bin/time -v` is not used here: it reports the largest process
    of the tree, which is the sandbox holding the whole scenario, not the reconciler.
    """
    script = str(Path(__file__).resolve().parent / "sync_bench.py")
    argv = [script, "--scale", str(scale), "--seed", str(seed), "--db", db, "--full-only", "--json"]
    result, wall = common.run_json(argv)
    full = result["full"]
    return {
        "scale": scale,
        "db": db,
        "peak_rss_mb": result["peak_rss_mb"],
        "peak_tree_pss_mb": result.get("peak_tree_pss_mb"),
        "measured_by": "getrusage + PSS sampling",
        "rss_before_sync_mb": result.get("rss_before_sync_mb"),
        "tasks": result["counts"]["tasks"],
        "messages": result["counts"]["messages"],
        "deliverables": result["counts"]["deliverables"],
        "observations": full["observations"],
        "full_sync_seconds": full["time"]["wall_seconds"],
        "reconcile_all_seconds": result["reconcile_all"]["seconds"],
        "process_seconds": round(wall, 1),
    }


def _generate_db(path: Path, deliverables: int, observations: int) -> None:
    import random

    import reconcile_bench as rb

    from reconciler.db import make_engine, migrate

    path.unlink(missing_ok=True)
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    rb.generate(engine, deliverables, observations, random.Random(7))
    engine.dispose()


def _reconcile_db(path: Path) -> dict[str, Any]:
    """reconcile_all twice on an existing store: this process's peak RSS, and the peak PSS of it
    with any worker processes the engine starts (sampled every 50 ms)."""
    import reconcile_bench as rb

    from reconciler import engine as reconciler_engine
    from reconciler.db import make_engine

    engine = make_engine(f"sqlite:///{path}")
    cfg = rb.config()
    start_rss = common.rss_mb()
    with common.MemorySampler() as sampler:
        try:
            cold_s, _ = rb.timed(engine, lambda s: reconciler_engine.reconcile_all(s, config=cfg, now=rb.NOW))
            after_cold = common.peak_rss_mb()
            steady_s, _ = rb.timed(engine, lambda s: reconciler_engine.reconcile_all(s, config=cfg, now=rb.NOW))
        finally:
            engine.dispose()
    return {"rss_at_start_mb": start_rss, "peak_after_first_run_mb": after_cold,
            "peak_rss_mb": common.peak_rss_mb(), "peak_tree_pss_mb": sampler.peak_tree_mb,
            "first_run_seconds": round(cold_s, 2), "steady_seconds": round(steady_s, 2)}


def reconcile_memory(sizes: list[int]) -> dict[str, Any]:
    rows = []
    script = str(Path(__file__).resolve())
    for deliverables in sizes:
        observations = deliverables * 10
        with tempfile.TemporaryDirectory(prefix="reconciler-bench-mem-") as tmp:
            db = Path(tmp) / "store.db"
            subprocess.run([sys.executable, script, "--_generate-db", str(db), str(deliverables), str(observations)],
                           cwd=common.ROOT, check=True, capture_output=True)
            out, _ = common.run_json([script, "--_reconcile-db", str(db)])
        rows.append({"deliverables": deliverables, "observations": observations, **out})
    peaks = [max(r["peak_rss_mb"], r["peak_tree_pss_mb"]) for r in rows]
    return {"goal_mb": GOAL_MB, "runs": rows, "largest_peak_mb": max(peaks, default=None)}


def run(scales: list[float], *, db: str = "sqlite") -> dict[str, Any]:
    rows = [measure(s, db=db) for s in scales]
    peaks = [max(r["peak_rss_mb"], r["peak_tree_pss_mb"] or 0) for r in rows]
    growth = None
    if len(rows) >= 2 and rows[0]["messages"] and rows[-1]["messages"] > rows[0]["messages"]:
        per_10k = (peaks[-1] - peaks[0]) / (
            (rows[-1]["messages"] - rows[0]["messages"]) / 10_000)
        growth = round(per_10k, 2)
    return {
        "goal_mb": GOAL_MB,
        "runs": rows,
        "largest_peak_mb": max(peaks) if peaks else None,
        "mb_per_10k_messages": growth,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scales", default="0.1,0.3,1", help="comma-separated scales")
    ap.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--reconcile", default=None, help="deliverable counts for reconcile_all alone, e.g. 10000,100000")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--_generate-db", nargs=3, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--_reconcile-db", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args._generate_db:
        path, deliverables, observations = args._generate_db
        _generate_db(Path(path), int(deliverables), int(observations))
        return 0
    if args._reconcile_db:
        print(json.dumps(_reconcile_db(Path(args._reconcile_db))))
        return 0
    if args.reconcile:
        result = reconcile_memory([int(x) for x in args.reconcile.split(",") if x.strip()])
        if args.json:
            print(json.dumps(result, indent=1))
        else:
            print(f"peak RSS of reconcile_all alone (goal <= {GOAL_MB} MB)")
            for r in result["runs"]:
                print(f"  {r['deliverables']:>7} deliverables / {r['observations']:>8} claims: {r['peak_rss_mb']:>7} MB "
                      f"RSS, {r['peak_tree_pss_mb']:>7} MB PSS with workers "
                      f"(first run {r['first_run_seconds']} s, steady {r['steady_seconds']} s)")
        return 0
    result = run([float(s) for s in args.scales.split(",") if s.strip()], db=args.db)
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    print(f"peak RSS of full sync + reconcile_all on {args.db} (goal <= {GOAL_MB} MB, flat)")
    for r in result["runs"]:
        print(f"  scale {r['scale']:>5}: {r['peak_rss_mb']:>7} MB  ({r['tasks']} tasks, {r['messages']} messages, "
              f"{r['observations']} claims; {r['measured_by']})")
    print(f"  growth: {result['mb_per_10k_messages']} MB per 10,000 messages")
    return 0


if __name__ == "__main__":
    sys.exit(main())
