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
then steady) in a fresh one, so the generator's own memory is not counted. With `--db postgresql`
the store is a fresh database on `BENCH_POSTGRES_DSN` (default the local server), dropped after;
`--workers 1` reconciles in one process (default: the engine's choice).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from collections.abc import Iterator
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

GOAL_MB = 300
RECONCILE_GOAL_MB = 200  # reconcile_all alone, on both stores (issue #21)
POSTGRES_DSN = "postgresql://postgres@127.0.0.1:5432/test"


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


def _generate_db(url: str, deliverables: int, observations: int) -> None:
    import random

    import reconcile_bench as rb

    from reconciler.db import make_engine, migrate

    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)
    engine = make_engine(url)
    migrate(engine)
    rb.generate(engine, deliverables, observations, random.Random(7))
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:  # what autovacuum would have done by now
            connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
    engine.dispose()


def _reconcile_db(url: str, workers: int | None) -> dict[str, Any]:
    """reconcile_all twice on an existing store: this process's peak RSS, and the peak PSS of it
    with any worker processes the engine starts (sampled every 50 ms)."""
    import time

    import reconcile_bench as rb

    from reconciler import engine as reconciler_engine
    from reconciler.db import make_engine

    engine = make_engine(url)
    cfg = rb.config()
    start_rss = common.rss_mb()

    def run_all(session: Any) -> Any:
        return reconciler_engine.reconcile_all(session, config=cfg, now=rb.NOW, workers=workers)

    with common.MemorySampler() as sampler:
        try:
            cpu = time.process_time()
            cold_s, cold = rb.timed(engine, run_all)
            cold_cpu, cpu = time.process_time() - cpu + cold.worker_cpu_seconds, time.process_time()
            after_cold = common.peak_rss_mb()
            steady_s, steady = rb.timed(engine, run_all)
            steady_cpu = time.process_time() - cpu + steady.worker_cpu_seconds
        finally:
            engine.dispose()
    return {"rss_at_start_mb": start_rss, "peak_after_first_run_mb": after_cold,
            "peak_rss_mb": common.peak_rss_mb(), "peak_tree_pss_mb": sampler.peak_tree_mb,
            "first_run_seconds": round(cold_s, 2), "steady_seconds": round(steady_s, 2),
            "first_run_cpu_seconds": round(cold_cpu, 2), "steady_cpu_seconds": round(steady_cpu, 2),
            "helper_processes_used": cold.chunks_by_workers > 0}


@contextlib.contextmanager
def _store_url(db: str) -> Iterator[str]:
    """A URL for a fresh store: a SQLite file in a temporary directory, or a PostgreSQL database."""
    if db == "postgresql":
        import reconcile_bench as rb

        with rb._postgres_database(os.environ.get("BENCH_POSTGRES_DSN", POSTGRES_DSN)) as url:
            yield url
        return
    with tempfile.TemporaryDirectory(prefix="reconciler-bench-mem-") as tmp:
        yield f"sqlite:///{Path(tmp) / 'store.db'}"


def reconcile_memory(sizes: list[int], *, db: str = "sqlite", workers: int | None = None) -> dict[str, Any]:
    rows = []
    script = str(Path(__file__).resolve())
    for deliverables in sizes:
        observations = deliverables * 10
        with _store_url(db) as url:
            subprocess.run([sys.executable, script, "--_generate-db", url, str(deliverables), str(observations)],
                           cwd=common.ROOT, check=True, capture_output=True)
            out, _ = common.run_json([script, "--_reconcile-db", url, *(["--workers", str(workers)] if workers else [])])
        rows.append({"deliverables": deliverables, "observations": observations, "db": db, **out})
    peaks = [max(r["peak_rss_mb"], r["peak_tree_pss_mb"]) for r in rows]
    return {"goal_mb": RECONCILE_GOAL_MB, "runs": rows, "largest_peak_mb": max(peaks, default=None)}


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
    ap.add_argument("--workers", type=int, default=None, help="with --reconcile: planning processes (1: one)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--_generate-db", nargs=3, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--_reconcile-db", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    # measure what ships: the Dockerfile sets it (for the reconcile pass alone it measured no
    # different: 255.1 MB without, 255.5 MB with, 4 December)
    os.environ.setdefault("MALLOC_ARENA_MAX", "2")
    if args._generate_db:
        url, deliverables, observations = args._generate_db
        _generate_db(url, int(deliverables), int(observations))
        return 0
    if args._reconcile_db:
        print(json.dumps(_reconcile_db(args._reconcile_db, args.workers)))
        return 0
    if args.reconcile:
        sizes = [int(x) for x in args.reconcile.split(",") if x.strip()]
        result = reconcile_memory(sizes, db=args.db, workers=args.workers)
        if args.json:
            print(json.dumps(result, indent=1))
        else:
            print(f"peak RSS of reconcile_all alone (goal <= {RECONCILE_GOAL_MB} MB, flat)")
            for r in result["runs"]:
                print(f"  {r['deliverables']:>7} deliverables / {r['observations']:>8} claims: {r['peak_rss_mb']:>7} MB "
                      f"RSS, {r['peak_tree_pss_mb']:>7} MB PSS with workers "
                      f"(first run {r['first_run_seconds']} s / {r['first_run_cpu_seconds']} CPU s, steady "
                      f"{r['steady_seconds']} s / {r['steady_cpu_seconds']} CPU s; {r['db']})")
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
