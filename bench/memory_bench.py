"""Peak memory of a full sync and reconcile as the workspace grows.

    .venv/bin/python bench/memory_bench.py [--scales 0.1,0.3,1] [--db sqlite] [--json]

Runs `bench/sync_bench.py --full-only` (full sync of every partition, then `reconcile_all`) once
per scale, each in a fresh process, and reads that process's peak resident set size: from
`/usr/bin/time -v` when it is installed, else from the process's own `getrusage`. The sandbox
serving the scenario runs in a separate process and is not counted. Goal: <= 300 MB at the
largest scale and flat as the workspace grows (the peak should not grow with the history).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

GOAL_MB = 300
TIME = "/usr/bin/time"


def measure(scale: float, *, db: str = "sqlite", seed: int = 1) -> dict[str, Any]:
    """Full sync + reconcile_all at `scale` in a child process; its peak RSS and figures."""
    script = str(Path(__file__).resolve().parent / "sync_bench.py")
    argv = [sys.executable, script, "--scale", str(scale), "--seed", str(seed), "--db", db, "--full-only", "--json"]
    use_time = shutil.which(TIME) is not None or Path(TIME).exists()
    with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
        cmd = [TIME, "-v", "-o", report.name, *argv] if use_time else argv
        started = time.perf_counter()
        proc = subprocess.run(cmd, cwd=common.ROOT, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - started
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
            raise RuntimeError(f"sync_bench at scale {scale} failed: " + " | ".join(tail))
        timed = report.read() if use_time else ""
    result = json.loads(proc.stdout[proc.stdout.find("{"):])
    match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", timed)
    peak = round(int(match.group(1)) / 1024, 1) if match else result["peak_rss_mb"]
    full = result["full"]
    return {
        "scale": scale,
        "db": db,
        "peak_rss_mb": peak,
        "measured_by": "/usr/bin/time -v" if match else "getrusage",
        "rss_before_sync_mb": result.get("rss_before_sync_mb"),
        "tasks": result["counts"]["tasks"],
        "messages": result["counts"]["messages"],
        "deliverables": result["counts"]["deliverables"],
        "observations": full["observations"],
        "full_sync_seconds": full["time"]["wall_seconds"],
        "reconcile_all_seconds": result["reconcile_all"]["seconds"],
        "process_seconds": round(wall, 1),
    }


def run(scales: list[float], *, db: str = "sqlite") -> dict[str, Any]:
    rows = [measure(s, db=db) for s in scales]
    peaks = [r["peak_rss_mb"] for r in rows]
    growth = None
    if len(rows) >= 2 and rows[0]["messages"] and rows[-1]["messages"] > rows[0]["messages"]:
        per_10k = (rows[-1]["peak_rss_mb"] - rows[0]["peak_rss_mb"]) / (
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
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
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
