"""Store ingest rate: `store.apply_batch` on its own, one transaction per batch as a sync does it.

    .venv/bin/python bench/ingest_bench.py [--scale 1] [--db sqlite|postgresql] [--batch 200] [--json] [--profile FILE]

Builds 100,000 x scale claims the way the Slack connector hands them over (batches of `--batch`
observations, two fields per message, about 2,000 x scale deliverables, people in each batch) and
times three passes on a fresh store:

- insert: every claim is new;
- unchanged: the same batches again (a re-read window, an idle re-crawl);
- update: the same refs with new values and an edit time (edits).

On PostgreSQL on this machine each pass also reports the CPU seconds of the server backend it
used (from /proc): client + server CPU is about the wall time of an idle machine.

Goal: >= 20,000 observations/s. `--profile FILE` profiles an insert pass under cProfile, on a
fresh store of its own after the timed passes, and reports the own time per package and the
cumulative time of each step of `apply_batch`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
STATUSES = ["on_track", "at_risk", "blocked", "done"]
GOAL = 20_000

# the steps of apply_batch, for the profile (cumulative seconds of each)
STEPS = [
    ("reconciler/store.py", "apply_batch"),
    ("reconciler/store.py", "_existing_claims"),
    ("reconciler/store.py", "_claim_values"),
    ("reconciler/store.py", "_differs"),
    ("reconciler/store.py", "upsert_people"),
    ("reconciler/store.py", "mark_dirty"),
    ("reconciler/store.py", "_advance_cursor"),
    ("sqlalchemy/orm/session.py", "execute"),
    ("sqlalchemy/orm/session.py", "flush"),
    ("sqlalchemy/orm/session.py", "commit"),
    ("sqlalchemy/engine/base.py", "_exec_insertmany_context"),
    ("sqlalchemy/engine/default.py", "do_executemany"),
    ("psycopg/connection.py", "wait"),
]


def make_batches(scale: float, batch_size: int, seed: int = 3, *, changed: bool = False) -> list[Any]:
    from connectors.base import (
        ClaimKind,
        Field,
        Observation,
        PersonRecord,
        Source,
        SyncBatch,
    )

    rng = random.Random(seed)
    total = max(5_000, round(100_000 * scale))
    deliverables = max(50, round(2_000 * scale))
    people = [PersonRecord(Source.SLACK, f"U{i:05d}", f"Person {i}", f"p{i}@bench.test", "UTC") for i in range(50)]
    batches: list[Any] = []
    observations: list[Any] = []
    start = NOW - timedelta(days=60)
    for n in range(total // 2):
        key = f"d-{rng.randrange(deliverables):05d}"
        said = start + timedelta(seconds=n * 97)
        ts = f"{int(said.timestamp())}.{n % 1_000_000:06d}"
        ref = f"C{n % 20:04d}:{ts}"
        status = STATUSES[(n + (1 if changed else 0)) % 4]
        due = (NOW + timedelta(days=20 + n % 60 + (7 if changed else 0))).date().isoformat()
        author = people[n % len(people)]
        common_args = {
            "deliverable_key": key, "source": Source.SLACK, "source_ref": ref, "stated_at": said,
            "kind": ClaimKind.EVENT, "author": author.source_id,
            "permalink": f"https://bench.slack.com/archives/C{n % 20:04d}/p{ts.replace('.', '')}",
            "edited_at": said + timedelta(hours=1) if changed else None,
        }
        observations.append(Observation(field=Field.STATUS, value=status, excerpt=status.replace("_", " "), **common_args))
        observations.append(Observation(field=Field.TARGET_DATE, value=due, excerpt=due, **common_args))
        if len(observations) >= batch_size:
            batches.append(SyncBatch(observations=observations, people=people[:10], cursor=f"cursor-{len(batches)}",
                                     requests=1))
            observations = []
    if observations:
        batches.append(SyncBatch(observations=observations, people=people[:10], cursor=f"cursor-{len(batches)}"))
    return batches


def _setup(url: str, deliverables: int) -> Any:
    """A migrated store holding the deliverables, opened the way the pipeline opens it."""
    from reconciler import store
    from reconciler.db import session_scope
    from reconciler.pipeline import open_store
    from reconciler.protocol import Config, DeliverableConfig, PersonConfig

    engine = open_store(url)
    config = Config(
        people=[PersonConfig(key=f"p{i}", name=f"Person {i}", email=f"p{i}@bench.test") for i in range(50)],
        deliverables=[DeliverableConfig(key=f"d-{i:05d}", owner=f"p{i % 50}") for i in range(deliverables)],
    )
    with session_scope(engine) as session:
        store.sync_config(session, config, now=NOW)
    return engine


def _process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process on this machine, from /proc (None if not readable)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class ServerCpu:
    """CPU seconds the PostgreSQL backends serving `engine`'s connections spend from here on, when
    the server runs on this machine and its /proc is readable (otherwise None): with the client's
    CPU, what a pass costs on an idle machine, where it would take about the sum of the two."""

    def __init__(self, engine: Any) -> None:
        from sqlalchemy import event

        self._start: dict[int, float | None] = {}
        self._engine = engine
        if engine.dialect.name == "postgresql":
            event.listen(engine, "checkout", self._checked_out)

    def _checked_out(self, dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        pid = dbapi_connection.info.backend_pid
        if pid not in self._start:
            self._start[pid] = _process_cpu_seconds(pid)

    def seconds(self) -> float | None:
        from sqlalchemy import event

        if self._engine.dialect.name == "postgresql":
            event.remove(self._engine, "checkout", self._checked_out)
        spent = [(_process_cpu_seconds(pid), start) for pid, start in self._start.items()]
        if not spent or any(now is None or start is None for now, start in spent):
            return None
        return sum(now - start for now, start in spent)  # type: ignore[operator]


def _pass(
    engine: Any, batches: list[Any], *, profile: Path | None = None, apply: Any = None
) -> tuple[dict[str, Any], Any]:
    from connectors.base import Source
    from reconciler import store
    from reconciler.db import session_scope

    apply = apply or store.apply_batch  # looked up now: a profile wrapper or a variant may replace it

    totals = {"inserted": 0, "updated": 0, "unchanged": 0, "retracted": 0}

    def apply_all() -> None:
        for batch in batches:
            with session_scope(engine) as session:
                result = apply(session, source=Source.SLACK, partition="C0000", batch=batch, now=NOW)
            totals["inserted"] += result.inserted
            totals["updated"] += result.updated
            totals["unchanged"] += result.unchanged
            totals["retracted"] += result.retracted

    import time

    observations = sum(len(b.observations) for b in batches)
    profiler = None
    server = ServerCpu(engine)
    cpu = time.process_time()
    with common.stopwatch() as t:
        if profile is not None:
            _, profiler = common.profile_call(apply_all, profile)
        else:
            apply_all()
    cpu = time.process_time() - cpu
    server_cpu = server.seconds()
    return {
        "observations": observations,
        "batches": len(batches),
        "seconds": round(t["seconds"], 2),
        "cpu_seconds": round(cpu, 2),
        "observations_per_s": round(observations / t["seconds"]),
        "observations_per_cpu_s": round(observations / cpu) if cpu else None,
        "server_cpu_seconds": round(server_cpu, 2) if server_cpu is not None else None,
        # client and server CPU together: the rate on an idle machine, round trips aside
        "observations_per_client_and_server_cpu_s":
            round(observations / (cpu + server_cpu)) if server_cpu is not None and cpu + server_cpu else None,
        **totals,
    }, profiler


def run(*, scale: float = 1.0, db: str = "sqlite", batch: int = 200, profile: Path | None = None) -> dict[str, Any]:
    fresh = make_batches(scale, batch)
    edited = make_batches(scale, batch, changed=True)
    deliverables = max(50, round(2_000 * scale))
    result: dict[str, Any] = {"db": db, "scale": scale, "batch_size": batch, "goal_observations_per_s": GOAL}
    with common.database(db) as url:
        engine = _setup(url, deliverables)
        try:
            result["insert"], _ = _pass(engine, fresh)
            result["unchanged"], _ = _pass(engine, fresh)
            result["update"], _ = _pass(engine, edited)
        finally:
            engine.dispose()
    profiler = None
    if profile is not None:  # on its own fresh store: the profiler's overhead stays out of the figures
        with common.database(db) as url:
            engine = _setup(url, deliverables)
            try:
                _, profiler = _pass(engine, fresh, profile=profile)
            finally:
                engine.dispose()
    if profiler is not None:
        summary = common.profile_summary(profiler, top=15)
        summary["apply_batch_steps"] = common.cumulative(profiler, STEPS)
        result["profile"] = summary
    result["peak_rss_mb"] = common.peak_rss_mb()
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--batch", type=int, default=200, help="observations per batch")
    ap.add_argument("--profile", type=Path, default=None, help="cProfile the insert pass into this file")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    result = run(scale=args.scale, db=args.db, batch=args.batch, profile=args.profile)
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    print(f"store.apply_batch on {args.db}, batches of {args.batch} (goal {GOAL:,} obs/s)")
    for name in ("insert", "unchanged", "update"):
        r = result[name]
        server = (f", server {r['server_cpu_seconds']} CPU s, {r['observations_per_client_and_server_cpu_s']:,} "
                  "per client+server CPU s" if r["server_cpu_seconds"] is not None else "")
        print(f"  {name:9} {r['observations']:>7} obs in {r['seconds']:>6} s = {r['observations_per_s']:>7,} obs/s "
              f"({r['observations_per_cpu_s']:,} per CPU s{server}; +{r['inserted']} ~{r['updated']} ={r['unchanged']})")
    if "profile" in result:
        p = result["profile"]
        print(f"  profile of the insert pass ({p['total_seconds']} s own time):")
        for name, v in list(p["by_package"].items())[:10]:
            print(f"    {v['share']:6.1%}  {name}")
        for name, seconds in p["apply_batch_steps"].items():
            print(f"    cumulative {seconds:>7} s  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
