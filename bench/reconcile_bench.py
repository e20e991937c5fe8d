"""Benchmark of the reconciler on a fresh SQLite file (or a fresh PostgreSQL database).

    .venv/bin/python bench/reconcile_bench.py --deliverables 100000 --observations 1000000
    .venv/bin/python bench/reconcile_bench.py --database-url postgresql://postgres@127.0.0.1:5432/test

Generates N deliverables with M claims between them (Asana status/date fields, Slack messages
from several people that mostly agree, some dependencies), then times:
- `reconcile_all` on the fresh store (every deliverable and conflict is written: the cold run),
- `reconcile_all` again (nothing changes: the steady state),
- `reconcile_dirty` after a new Slack message on each of `--dirty` deliverables,
- `reconcile_dirty` a day later, with nothing changed: the deliverables whose time check came.
Prints one JSON object: wall seconds and CPU seconds of this process and its workers (the box may
be shared).
Goals on a 2-core box: 100k/1M in <= 10 s, 100 dirty in <= 0.2 s.
"""

from __future__ import annotations

import argparse
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
import random
import resource
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import Engine, insert, select, update
from sqlmodel import SQLModel

from reconciler import engine as reconciler_engine
from reconciler.db import make_engine, migrate, session_scope
from reconciler.models import AuditEvent, Conflict, Deliverable, DeliverableLink, Observation, Person, PersonIdentity
from reconciler.protocol import Config, DeliverableConfig, PersonConfig

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)
STATUSES = ["on_track", "on_track", "on_track", "at_risk", "blocked", "done", "not_started"]
PEOPLE = 50
BATCH = 50_000


def _table(model: type[SQLModel]) -> Any:
    return model.__table__  # type: ignore[attr-defined]


def generate(
    engine: Engine, deliverables: int, observations: int, rng: random.Random, *, disagreement: float = 0.15
) -> None:
    people = [
        {"id": i + 1, "key": f"p{i}", "name": f"Person {i}", "email": f"p{i}@acme.test", "from_config": True,
         "updated_at": NOW}
        for i in range(PEOPLE)
    ]
    identities = [
        {"person_id": i + 1, "source": source, "external_id": external_id}
        for i in range(PEOPLE)
        for source, external_id in (("slack", f"U{i:04d}"), ("asana", str(500 + i)))
    ]
    keys = [f"d{i:06d}" for i in range(deliverables)]
    rows = []
    for i, key in enumerate(keys):
        deps = sorted(rng.sample(keys[:i], k=min(i, rng.choice([1, 2]))) if i and rng.random() < 0.2 else [])
        rows.append({
            "key": key, "title": f"Deliverable {i}", "decisions": {}, "owner_key": f"p{i % PEOPLE}" if rng.random() < 0.95 else None,
            "owner_set_by": "config", "role": "engineering", "permalink": None,
            "aliases": [], "depends_on": deps, "conditions": {}, "dirty": True, "updated_at": NOW,
        })
    with engine.begin() as connection:
        connection.execute(insert(_table(Person)), people)
        connection.execute(insert(_table(PersonIdentity)), identities)
        for start in range(0, len(rows), BATCH):
            connection.execute(insert(_table(Deliverable)), rows[start : start + BATCH])
        links = [{"deliverable_key": key, "kind": "asana", "ref": str(10_000 + i)} for i, key in enumerate(keys)]
        for start in range(0, len(links), BATCH):
            connection.execute(insert(_table(DeliverableLink)), links[start : start + BATCH])
    with engine.begin() as connection:
        batch: list[dict[str, Any]] = []
        for obs in _observations(keys, observations, rng, disagreement):
            batch.append(obs)
            if len(batch) >= BATCH:
                connection.execute(insert(_table(Observation)), batch)
                batch = []
        if batch:
            connection.execute(insert(_table(Observation)), batch)


def _observations(keys: list[str], total: int, rng: random.Random, disagreement: float):  # type: ignore[no-untyped-def]
    """Per deliverable an Asana status and date, then Slack messages from random people; a
    message states a random status (or a moved date) with probability `disagreement`."""
    per = max(2, total // len(keys))
    extra = total - per * len(keys)
    for i, key in enumerate(keys):
        status = rng.choice(STATUSES)
        due = date(2026, 11, 25) + timedelta(days=rng.randint(0, 60))
        changed = NOW - timedelta(days=rng.randint(1, 20), minutes=rng.randint(0, 1440))
        owner = str(500 + i % PEOPLE)
        yield _claim(key, "asana", str(10_000 + i), "status", status, changed, "state", owner)
        yield _claim(key, "asana", str(10_000 + i), "target_date", due.isoformat(), changed, "state", owner)
        count = per - 2 + (1 if i < extra else 0)
        for j in range(count):
            said = NOW - timedelta(days=rng.randint(0, 25), minutes=rng.randint(0, 1440))
            author = f"U{rng.randrange(PEOPLE):04d}"
            if rng.random() < 0.75:
                value = rng.choice(STATUSES) if rng.random() < disagreement else status
                yield _claim(key, "slack", f"C{i % 40}:{i}.{j}", "status", value, said, "event", author)
            else:
                moved = due + timedelta(days=rng.choice([1, 5]) if rng.random() < disagreement else 0)
                yield _claim(key, "slack", f"C{i % 40}:{i}.{j}", "target_date", moved.isoformat(), said, "event", author)


def _claim(key: str, source: str, ref: str, field: str, value: str, at: datetime, kind: str, author: str) -> dict[str, Any]:
    return {
        "deliverable_key": key, "source": source, "source_ref": ref, "field": field, "value": value,
        "kind": kind, "author": author, "excerpt": f"{field} is {value}", "permalink": None,
        "partition": "bench", "stated_at": at, "edited_at": None, "deleted_at": None,
        "first_seen_at": NOW, "updated_at": NOW,
    }


def config() -> Config:
    return Config(
        people=[PersonConfig(key=f"p{i}", name=f"Person {i}") for i in range(PEOPLE)],
        deliverables=[DeliverableConfig(key="d000000")],
    )


def timed(engine: Engine, run: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    with session_scope(engine) as session:
        report = run(session)
    return time.perf_counter() - started, report


def touch(engine: Engine, keys: list[str], rng: random.Random) -> None:
    """A new Slack message on each key, as a sync would store it."""
    when = NOW + timedelta(minutes=5)
    rows = [
        _claim(k, "slack", f"new:{k}", "status", rng.choice(STATUSES), when, "event", "U0001") for k in keys
    ]
    with engine.begin() as connection:
        connection.execute(insert(_table(Observation)), rows)
        connection.execute(update(_table(Deliverable)).where(_table(Deliverable).c.key.in_(keys)).values(dirty=True))


def _cpu() -> float:
    """CPU seconds of this process. Reconcile helpers report theirs (`worker_cpu_seconds`); as
    children they would also count in `RUSAGE_CHILDREN`, so that is not added."""
    return time.process_time()


def count(engine: Engine, model: type[SQLModel]) -> int:
    from sqlalchemy import func

    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(_table(model))).scalar_one())


def figures(
    seconds: float, deliverables: int, observations: int, report: Any, *, cpu_seconds: float | None = None
) -> dict[str, Any]:
    return {
        "seconds": round(seconds, 3),
        **({"cpu_seconds": round(cpu_seconds, 3)} if cpu_seconds is not None else {}),
        "deliverables_per_s": round(deliverables / seconds),
        "observations_per_s": round(observations / seconds),
        "reconciled": report.reconciled,
        "opened": len(report.opened),
        "updated": len(report.updated),
        "auto_resolved": len(report.auto_resolved),
        "reopened": len(report.reopened),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deliverables", type=int, default=10_000)
    parser.add_argument("--observations", type=int, default=100_000)
    parser.add_argument("--dirty", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--disagreement", type=float, default=0.15,
                        help="share of Slack claims that contradict Asana (default 0.15: most deliverables conflict)")
    parser.add_argument("--workers", type=int, default=None,
                        help="reconcile_all planning processes (1: all in this process; default: "
                        f"one per CPU, up to {reconciler_engine.WORKERS})")
    parser.add_argument("--db", type=Path, default=None, help="SQLite file to create (default: a temp file)")
    parser.add_argument("--database-url", default=None,
                        help="PostgreSQL server URL (e.g. postgresql://postgres@127.0.0.1:5432/test): the bench "
                        "creates a database reconciler_bench_<random> there and drops it at the end")
    parser.add_argument("--profile", type=Path, default=None, help="write a cProfile of the cold run here")
    args = parser.parse_args(argv)

    if args.database_url:
        with _postgres_database(args.database_url) as url:
            _bench(args, url, url.rsplit("/", 1)[-1])
        return
    path = args.db or Path(tempfile.mkdtemp(prefix="reconcile-bench-")) / "bench.db"
    path.unlink(missing_ok=True)
    _bench(args, f"sqlite:///{path}", str(path))


@contextmanager
def _postgres_database(server_url: str) -> Iterator[str]:
    import psycopg

    admin_dsn = server_url.replace("postgresql+psycopg://", "postgresql://", 1)
    name = f"reconciler_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{admin_dsn.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _bench(args: argparse.Namespace, url: str, where: str) -> None:
    rng = random.Random(args.seed)
    engine = make_engine(url)
    migrate(engine)
    cfg = config()

    started = time.perf_counter()
    generate(engine, args.deliverables, args.observations, rng, disagreement=args.disagreement)
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:  # what autovacuum would have done by now
            connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
    setup = time.perf_counter() - started
    observations = count(engine, Observation)

    def run_all(session: Any) -> Any:
        return reconciler_engine.reconcile_all(session, config=cfg, now=NOW, workers=args.workers)

    cpu = _cpu()
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
        cold_s, cold = timed(engine, run_all)
        profiler.disable()
        profiler.dump_stats(str(args.profile))
    else:
        cold_s, cold = timed(engine, run_all)
    cold_cpu, cpu = _cpu() - cpu + cold.worker_cpu_seconds, _cpu()
    steady_s, steady = timed(engine, run_all)
    steady_cpu = _cpu() - cpu + steady.worker_cpu_seconds

    dirty_keys = sorted(rng.sample([f"d{i:06d}" for i in range(args.deliverables)], k=min(args.dirty, args.deliverables)))
    touch(engine, dirty_keys, rng)
    cpu = _cpu()
    dirty_s, dirty = timed(engine, lambda s: reconciler_engine.reconcile_dirty(s, config=cfg, now=NOW + timedelta(minutes=6)))
    dirty_cpu = _cpu() - cpu

    # the next day's first sweep: nothing changed, the deliverables whose time check came are due
    cpu = _cpu()
    due_s, due = timed(engine, lambda s: reconciler_engine.reconcile_dirty(s, config=cfg, now=NOW + timedelta(days=1)))
    due_cpu = _cpu() - cpu

    print(json.dumps({
        "database": where,
        "deliverables": args.deliverables,
        "observations": observations,
        "setup_seconds": round(setup, 1),
        "disagreement": args.disagreement,
        "reconcile_all_cold": {**figures(cold_s, args.deliverables, observations, cold, cpu_seconds=cold_cpu),
                               "helper_processes_used": cold.chunks_by_workers > 0},
        "reconcile_all_steady": {**figures(steady_s, args.deliverables, observations, steady, cpu_seconds=steady_cpu),
                                 "helper_processes_used": steady.chunks_by_workers > 0},
        "reconcile_dirty": {
            **figures(dirty_s, dirty.reconciled, len(dirty_keys), dirty, cpu_seconds=dirty_cpu),
            "dirty_keys": len(dirty_keys),
        },
        "reconcile_due_next_day": {
            **figures(due_s, due.reconciled, 0, due, cpu_seconds=due_cpu), "due": due.due,
        },
        "conflicts": count(engine, Conflict),
        "audit_events": count(engine, AuditEvent),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }, indent=2))
    engine.dispose()


if __name__ == "__main__":
    main()
