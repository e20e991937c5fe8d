"""Store ingest rate: `store.apply_batch` on its own, one transaction per batch as a sync does it.

    .venv/bin/python bench/ingest_bench.py [--scale 1] [--db sqlite|postgresql] [--batch 200] [--json] [--profile FILE]

Builds 100,000 x scale claims the way the Slack connector hands them over (batches of `--batch`
observations, two fields per message, about 2,000 x scale deliverables, people in each batch) and
times three passes on a fresh store:

- insert: every claim is new;
- unchanged: the same batches again (a re-read window, an idle re-crawl);
- update: the same refs with new values and an edit time (edits).

Goal: >= 20,000 observations/s. `--profile FILE` profiles the insert pass under cProfile and
reports the own time per package and the cumulative time of each step of `apply_batch`.
"""

from __future__ import annotations

import argparse
import json
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
    ("reconciler/store.py", "_apply_claim"),
    ("reconciler/store.py", "upsert_people"),
    ("reconciler/store.py", "mark_dirty"),
    ("reconciler/store.py", "_advance_cursor"),
    ("sqlalchemy/orm/session.py", "add"),
    ("sqlalchemy/orm/session.py", "flush"),
    ("sqlalchemy/orm/session.py", "commit"),
    ("sqlalchemy/orm/session.py", "execute"),
    ("sqlmodel/main.py", "__init__"),
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


# -- a prototype of the proposed change (bench only; the product uses store.apply_batch) ----------

_CLAIM_COLUMNS = ("value", "kind", "author", "excerpt", "permalink", "stated_at", "edited_at")


def prototype_apply_batch(session: Any, *, source: Any, partition: str, batch: Any, now: datetime) -> Any:
    """`store.apply_batch` with the observation rows read and written through SQLAlchemy Core:
    existing claims as plain tuples, new ones in one executemany INSERT, changes and retractions
    in one executemany UPDATE by primary key. People, dirty flags and the cursor go through the
    store's own functions; the result is the same `BatchResult`. Measures what the proposal buys.
    """
    from sqlalchemy import bindparam, insert, select, update

    from reconciler import store
    from reconciler.models import Observation

    table = Observation.__table__  # type: ignore[attr-defined]
    result = store.BatchResult()
    wanted = {store._claim_key(c): c for c in batch.observations}
    refs = sorted({c.source_ref for c in batch.observations} | {r.source_ref for r in batch.retractions})
    cols = [table.c.id, table.c.source, table.c.source_ref, table.c.field, table.c.deliverable_key,
            table.c.deleted_at, *(table.c[name] for name in _CLAIM_COLUMNS)]
    existing: dict[Any, Any] = {}
    for chunk in store._chunks(refs):
        stmt = select(*cols).where(table.c.source == source.value, table.c.source_ref.in_(chunk))
        for row in session.execute(stmt):
            existing[(row.source, row.source_ref, row.field, row.deliverable_key)] = row
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for key, claim in wanted.items():
        values = {"value": claim.value, "kind": claim.kind.value, "author": claim.author, "excerpt": claim.excerpt,
                  "permalink": claim.permalink, "stated_at": claim.stated_at, "edited_at": claim.edited_at}
        row = existing.get(key)
        if row is None:
            inserts.append({"deliverable_key": claim.deliverable_key, "source": claim.source.value,
                            "source_ref": claim.source_ref, "field": claim.field.value, "partition": partition,
                            "deleted_at": None, "first_seen_at": now, "updated_at": now, **values})
            result.inserted += 1
            result.dirty.add(claim.deliverable_key)
        elif row.deleted_at is not None or any(getattr(row, k) != v for k, v in values.items()):
            updates.append({"b_id": row.id, "deleted_at": None, "updated_at": now, **values})
            result.updated += 1
            result.dirty.add(claim.deliverable_key)
        else:
            result.unchanged += 1
    retractions = [{"b_id": row.id, "deleted_at": now, "updated_at": now}
                   for key, row in existing.items() if key not in wanted and row.deleted_at is None]
    for key, row in existing.items():
        if key not in wanted and row.deleted_at is None:
            result.retracted += 1
            result.dirty.add(row.deliverable_key)
    if inserts:
        session.execute(insert(table), inserts)
    if updates:
        session.execute(update(table).where(table.c.id == bindparam("b_id")), updates)
    if retractions:
        session.execute(update(table).where(table.c.id == bindparam("b_id")), retractions)
    if batch.live_refs is not None:
        store._retract_vanished(session, source.value, partition, batch.live_refs, result, now=now)
    store.upsert_people(session, batch.people, now=now)
    store.mark_dirty(session, result.dirty)
    store._advance_cursor(session, source=source.value, partition=partition, batch=batch, now=now)
    session.flush()
    return result


def _setup(url: str, deliverables: int) -> Any:
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


def _pass(
    engine: Any, batches: list[Any], *, profile: Path | None = None, apply: Any = None
) -> tuple[dict[str, Any], Any]:
    from connectors.base import Source
    from reconciler import store
    from reconciler.db import session_scope

    apply = apply or store.apply_batch

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
    cpu = time.process_time()
    with common.stopwatch() as t:
        if profile is not None:
            _, profiler = common.profile_call(apply_all, profile)
        else:
            apply_all()
    cpu = time.process_time() - cpu
    return {
        "observations": observations,
        "batches": len(batches),
        "seconds": round(t["seconds"], 2),
        "cpu_seconds": round(cpu, 2),
        "observations_per_s": round(observations / t["seconds"]),
        "observations_per_cpu_s": round(observations / cpu) if cpu else None,
        **totals,
    }, profiler


def run(
    *, scale: float = 1.0, db: str = "sqlite", batch: int = 200, profile: Path | None = None, prototype: bool = False
) -> dict[str, Any]:
    fresh = make_batches(scale, batch)
    edited = make_batches(scale, batch, changed=True)
    deliverables = max(50, round(2_000 * scale))
    result: dict[str, Any] = {"db": db, "scale": scale, "batch_size": batch, "goal_observations_per_s": GOAL}
    with common.database(db) as url:
        engine = _setup(url, deliverables)
        try:
            result["insert"], profiler = _pass(engine, fresh, profile=profile)
            result["unchanged"], _ = _pass(engine, fresh)
            result["update"], _ = _pass(engine, edited)
        finally:
            engine.dispose()
    if prototype:
        with common.database(db) as url:
            engine = _setup(url, deliverables)
            try:
                result["prototype"] = {
                    "insert": _pass(engine, fresh, apply=prototype_apply_batch)[0],
                    "unchanged": _pass(engine, fresh, apply=prototype_apply_batch)[0],
                    "update": _pass(engine, edited, apply=prototype_apply_batch)[0],
                }
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
    ap.add_argument("--prototype", action="store_true",
                    help="also time the Core-based prototype of the proposed apply_batch change")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    result = run(scale=args.scale, db=args.db, batch=args.batch, profile=args.profile, prototype=args.prototype)
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    print(f"store.apply_batch on {args.db}, batches of {args.batch} (goal {GOAL:,} obs/s)")
    for name in ("insert", "unchanged", "update"):
        r = result[name]
        print(f"  {name:9} {r['observations']:>7} obs in {r['seconds']:>6} s = {r['observations_per_s']:>7,} obs/s "
              f"({r['observations_per_cpu_s']:,} per CPU s; +{r['inserted']} ~{r['updated']} ={r['unchanged']})")
    for name, r in result.get("prototype", {}).items():
        print(f"  prototype {name:9} {r['observations']:>7} obs in {r['seconds']:>6} s = "
              f"{r['observations_per_s']:>7,} obs/s (+{r['inserted']} ~{r['updated']} ={r['unchanged']})")
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
