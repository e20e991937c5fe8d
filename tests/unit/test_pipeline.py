from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import Engine

from reconciler import pipeline
from reconciler.pipeline import FULL_RECONCILE_EVERY, Runtime
from reconciler.protocol import load_config
from reconciler.settings import Settings

DEMO = Path(__file__).resolve().parents[2] / "reconciler" / "examples" / "demo.toml"
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)


def runtime_at(engine: Engine, clock: list[datetime]) -> Runtime:
    return Runtime(settings=Settings(), config=load_config(DEMO), engine=engine, clock=lambda: clock[0])


def test_clock_driven_rules_get_a_full_pass_every_interval(sqlite_engine: Engine) -> None:
    clock = [T0]
    rt = runtime_at(sqlite_engine, clock)
    pipeline.apply_config(rt)
    assert pipeline.reconcile_dirty(rt).reconciled == 5  # first pass: everything

    clock[0] = T0 + FULL_RECONCILE_EVERY / 2
    assert pipeline.reconcile_dirty(rt).reconciled == 0  # nothing changed, nothing due

    clock[0] = T0 + FULL_RECONCILE_EVERY + timedelta(seconds=1)
    assert pipeline.reconcile_dirty(rt).reconciled == 5  # the stale rule needs the clock
    assert pipeline.reconcile_dirty(rt).reconciled == 0
