"""Server time of the web board (`reconciler serve`) on a store of 2,000 deliverables.

    .venv/bin/python bench/board_bench.py                      # SQLite, 2,000 deliverables / 60,000 claims
    .venv/bin/python bench/board_bench.py --database-url postgresql://postgres@127.0.0.1:5432/test

Fills a fresh store with reconcile_bench's generator (Asana status and date per deliverable,
Slack messages that mostly agree, a fifth with dependencies, people as authors), spreads the
deliverables over 8 roles, runs the real `reconcile_all` (canonical states, findings, the
dependency table), then asks the app for each page `--runs` times through Starlette's test
client (in process, no socket) and reads the server's own `Server-Timing` header: query and
render, what the goal is about. The read model alone (`board.board`) is timed as well. The
board is timed first with Python's default garbage collector settings, then everything with
the tuning `reconciler serve` applies (`tune_gc_for_serving`).
Prints one JSON object; goal: the full board in < 300 ms server time.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from sqlalchemy import Engine, func, select, update  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

import reconcile_bench  # noqa: E402
from reconciler import board  # noqa: E402
from reconciler import engine as reconciler_engine  # noqa: E402
from reconciler.db import make_engine, migrate, session_scope  # noqa: E402
from reconciler.models import Conflict, Deliverable, DeliverableDependency, Observation  # noqa: E402
from reconciler.pipeline import Runtime  # noqa: E402
from reconciler.settings import Settings  # noqa: E402
from reconciler.web import create_app  # noqa: E402
from reconciler.web.auth import AccessSettings  # noqa: E402
from reconciler.web.server import tune_gc_for_serving  # noqa: E402

GOAL_MS = 300.0
ROLES = 8
SERVER_TIMING = re.compile(r"app;dur=([0-9.]+)")
NOW = reconcile_bench.NOW + timedelta(minutes=10)


def fill(engine: Engine, deliverables: int, observations: int, seed: int) -> None:
    rng = random.Random(seed)
    reconcile_bench.generate(engine, deliverables, observations, rng, disagreement=0.05)
    table = Deliverable.__table__  # type: ignore[attr-defined]
    with engine.begin() as connection:
        for role in range(ROLES):
            keys = [f"d{i:06d}" for i in range(role, deliverables, ROLES)]
            for start in range(0, len(keys), 500):
                connection.execute(
                    update(table).where(table.c.key.in_(keys[start : start + 500])).values(role=f"team-{role}")
                )
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql("ANALYZE")
    with session_scope(engine) as session:
        reconciler_engine.reconcile_all(session, config=reconcile_bench.config(), now=reconcile_bench.NOW, workers=1)


def _summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median_ms": round(statistics.median(ordered), 1),
        "p95_ms": round(ordered[max(0, round(0.95 * len(ordered)) - 1)], 1),
        "min_ms": round(ordered[0], 1),
        "max_ms": round(ordered[-1], 1),
    }


def server_times(client: TestClient, path: str, runs: int, headers: dict[str, str] | None = None) -> dict[str, Any]:
    samples = []
    size = 0
    for _ in range(runs):
        answer = client.get(path, headers=headers or {})
        answer.raise_for_status()
        match = SERVER_TIMING.search(answer.headers["server-timing"])
        assert match is not None
        samples.append(float(match.group(1)))
        size = len(answer.content)
    return {**_summary(samples), "bytes": size}


def wall_ms(run: Callable[[], object], runs: int) -> dict[str, float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        run()
        samples.append((time.perf_counter() - started) * 1000)
    return _summary(samples)


def bench(url: str, args: argparse.Namespace) -> dict[str, Any]:
    engine = make_engine(url)
    migrate(engine)
    started = time.perf_counter()
    fill(engine, args.deliverables, args.observations, args.seed)
    setup_s = time.perf_counter() - started
    config = reconcile_bench.config()
    rt = Runtime(settings=Settings(), config=config, engine=engine, clock=lambda: NOW)

    def read_model() -> object:
        with session_scope(engine) as session:
            return board.board(session, config=config, now=NOW)

    with TestClient(create_app(rt, access=AccessSettings())) as client:
        client.get("/")  # templates compiled, connections open: the steady state a wall screen sees
        with session_scope(engine) as session:
            busiest = session.execute(select(DeliverableDependency.dependent_key).limit(1)).first()
        default_gc = server_times(client, "/", args.runs)
        tune_gc_for_serving()  # what `reconciler serve` does before it serves
        results = {
            "board_full_default_gc": default_gc,
            "board_full": server_times(client, "/", args.runs),
            "board_refresh_fragment": server_times(client, "/", args.runs, {"X-Fragment": "board"}),
            "board_one_role_with_findings": server_times(client, "/?role=team-3&findings=1", args.runs),
            "board_read_model_only": wall_ms(read_model, args.runs),
            "deliverable_page": server_times(client, f"/d/{busiest[0] if busiest else 'd000000'}", args.runs),
            "findings_open": server_times(client, "/findings", args.runs),
        }
    counts = {}
    with session_scope(engine) as session:
        for name, model in (("deliverables", Deliverable), ("observations", Observation), ("findings", Conflict)):
            counts[name] = session.execute(select(func.count()).select_from(model)).scalar_one()
    engine.dispose()
    board_ms = results["board_full"]["median_ms"]
    return {
        "database": engine.dialect.name,
        **counts,
        "runs": args.runs,
        "setup_seconds": round(setup_s, 1),
        "goal_ms": GOAL_MS,
        "board_median_met": board_ms < GOAL_MS,
        **results,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deliverables", type=int, default=2_000)
    parser.add_argument("--observations", type=int, default=60_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--database-url", default=None,
                        help="PostgreSQL server URL: a database reconciler_bench_<random> is created there and dropped")
    args = parser.parse_args(argv)
    if args.database_url:
        with reconcile_bench._postgres_database(args.database_url) as url:
            print(json.dumps(bench(url, args), indent=2))
        return
    with tempfile.TemporaryDirectory(prefix="board-bench-") as tmp:
        print(json.dumps(bench(f"sqlite:///{Path(tmp) / 'board.db'}", args), indent=2))


if __name__ == "__main__":
    main()
