from __future__ import annotations

import functools
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import select

from connectors import slack_client
from connectors.sandbox import Sandbox
from reconciler import pipeline, store
from reconciler.db import session_scope
from reconciler.models import SyncCursor
from reconciler.pipeline import FULL_RECONCILE_EVERY, Runtime
from reconciler.protocol import load_config
from reconciler.settings import Settings

pytestmark = pytest.mark.demo  # runs again with the clock moved ahead (test_demo.py)

DEMO = Path(__file__).resolve().parents[2] / "reconciler" / "examples" / "demo.toml"
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)


def runtime_at(engine: Engine, clock: list[datetime]) -> Runtime:
    return Runtime(settings=Settings(), config=load_config(DEMO), engine=engine, clock=lambda: clock[0])


def test_clock_driven_rules_get_a_full_pass_every_interval(sqlite_engine: Engine) -> None:
    clock = [T0]
    rt = runtime_at(sqlite_engine, clock)
    pipeline.apply_config(rt)
    assert pipeline.reconcile_dirty(rt).reconciled == 6  # first pass: everything
    with session_scope(sqlite_engine) as session:
        (full,) = store.periodic_runs(session)
        assert full.name == store.FULL_RECONCILE and full.seconds is not None and full.seconds >= 0

    clock[0] = T0 + FULL_RECONCILE_EVERY / 2
    assert pipeline.reconcile_dirty(rt).reconciled == 0  # nothing changed, nothing due

    clock[0] = T0 + FULL_RECONCILE_EVERY + timedelta(seconds=1)
    assert pipeline.reconcile_dirty(rt).reconciled == 6  # stale and overdue need the clock
    assert pipeline.reconcile_dirty(rt).reconciled == 0


def test_a_source_that_gives_no_answer_is_given_up_on_for_the_run(
    tmp_path: Path, config_path: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Slack does not answer: its first channel spends its retries, the second is skipped with
    the reason, and Asana syncs as usual."""
    monkeypatch.setattr(slack_client, "make_web_client", functools.partial(slack_client.make_web_client, max_retries=0))
    settings = Settings(
        asana_token=SecretStr("asana-secret"), slack_bot_token=SecretStr("xoxb-secret"),
        asana_base_url=sandbox.asana_base_url, slack_base_url="http://127.0.0.1:9/api/",
        database_url=f"sqlite:///{tmp_path / 'store.db'}",
    )
    rt = pipeline.load_runtime(settings=settings, config_path=config_path)
    reports = {(r.source.value, r.partition): r for r in pipeline.sync_all(rt)}

    assert reports[("asana", "2001")].ok and reports[("asana", "2001")].observations
    first, second = reports[("slack", "launches")], reports[("slack", "eng")]
    assert first.unreachable and first.error and "temporary failure" in first.error
    assert second.error == f"skipped: slack gave no answer this run (for launches: {first.error})"
    assert (second.requests, second.batches) == (0, 0)
    with session_scope(rt.engine) as session:
        recorded = session.exec(select(SyncCursor).where(SyncCursor.partition == "eng")).one()
    assert recorded.last_error == second.error
