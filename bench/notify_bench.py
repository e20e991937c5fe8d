"""The notifier's planning sweeps: reads (SELECT statements) and wall time per sweep as the
number of conflicts one owner has grows. Three sweeps on a fresh SQLite store: the first notices,
the reminders and escalations a day later, the resolution notices once everything is resolved
(delivery in between, to a stand-in Slack client, is not measured).

    .venv/bin/python bench/notify_bench.py [--sizes 10,100,500]

Uses the notifier tests' small team config and conflict helpers (tests/unit/test_notify_support.py).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, event  # noqa: E402

from reconciler.db import make_engine, migrate  # noqa: E402
from tests.unit.test_notify_support import T0, FakeSlack, deliver, make_config, open_conflict, plan, seed, set_state  # noqa: E402

H = timedelta(hours=1)


@contextmanager
def measured(engine: Engine, into: dict[str, Any], phase: str) -> Iterator[None]:
    reads = 0

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        nonlocal reads
        reads += statement.lstrip().upper().startswith("SELECT")

    event.listen(engine, "before_cursor_execute", count)
    started = time.perf_counter()
    try:
        yield
    finally:
        into[phase] = (reads, time.perf_counter() - started)
        event.remove(engine, "before_cursor_execute", count)


def run(size: int, workdir: Path) -> dict[str, Any]:
    config = make_config()
    engine = make_engine(f"sqlite:///{workdir / f'notify-{size}.db'}")
    migrate(engine)
    figures: dict[str, Any] = {}
    try:
        seed(engine, config)
        ids = [open_conflict(engine, "checkout-v2" if i % 2 else "payments-api") for i in range(size)]
        with measured(engine, figures, "first notice"):
            plan(engine, config, T0)
        deliver(engine, FakeSlack(), T0 + H)
        with measured(engine, figures, "reminders + escalations"):
            plan(engine, config, T0 + 25 * H)
        deliver(engine, FakeSlack(), T0 + 26 * H)
        for conflict_id in ids:
            set_state(engine, conflict_id, "resolved", at=T0 + 27 * H)
        with measured(engine, figures, "resolutions"):
            plan(engine, config, T0 + 27 * H)
    finally:
        engine.dispose()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,500")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        results = {size: run(size, Path(tmp)) for size in sizes}
    phases = list(next(iter(results.values())))
    print("| sweep | " + " | ".join(f"{s} conflicts" for s in sizes) + " |")
    print("|---|" + "---|" * len(sizes))
    for phase in phases:
        cells = [f"{results[s][phase][0]} reads, {results[s][phase][1] * 1000:.0f} ms" for s in sizes]
        print(f"| {phase} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
