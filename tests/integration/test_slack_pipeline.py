"""The Slack connector driven by `reconciler.pipeline.sync_partition` into a real SQLite store,
against the bundled demo scenario over HTTP."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import col, select

from connectors.base import Source
from connectors.sandbox import Sandbox
from reconciler import store
from reconciler.db import session_scope
from reconciler.models import Observation, Person, SyncCursor
from reconciler.pipeline import Runtime, apply_config, sync_partition
from reconciler.protocol import load_config
from reconciler.settings import Settings
from tests.conftest import demo_ts

pytestmark = pytest.mark.demo  # runs again with the clock moved ahead (test_demo.py)

DEMO = Path(__file__).resolve().parents[2] / "reconciler" / "examples" / "demo.toml"
TOKEN = "xoxb-slack-test-token-do-not-log"


@pytest.fixture
def rt(sqlite_engine: Engine, sandbox: Sandbox) -> Runtime:
    settings = Settings(slack_bot_token=SecretStr(TOKEN), slack_base_url=sandbox.slack_base_url)
    runtime = Runtime(settings=settings, config=load_config(DEMO), engine=sqlite_engine)
    apply_config(runtime)
    return runtime


def live(engine: Engine) -> set[tuple[str, str, str, str | None]]:
    with session_scope(engine) as session:
        rows = session.exec(
            select(Observation).where(Observation.source == "slack", col(Observation.deleted_at).is_(None))
        ).all()
        return {(r.source_ref, r.deliverable_key, r.field, r.value) for r in rows}


def cursor(engine: Engine, partition: str) -> str | None:
    with session_scope(engine) as session:
        return store.get_cursor(session, Source.SLACK, partition)


def test_demo_channels_sync_into_the_store_and_a_rerun_changes_nothing(rt: Runtime, sandbox: Sandbox) -> None:
    reports = [sync_partition(rt, Source.SLACK, channel) for channel in rt.config.source("slack").channels]
    assert all(r.ok for r in reports), [r.error for r in reports]
    claims = live(rt.engine)

    def ref(ts: str) -> str:
        return f"C01:{demo_ts(sandbox, ts)}"

    assert (ref("1795428900.000100"), "checkout-v2", "status", "blocked") in claims  # the planted contradiction
    # "checkout-v2 is blocked waiting on the payments API": payments is the blocker, not blocked;
    # "launch-campaign is on track for Dec 3: …": about the campaign only
    assert not [c for c in claims if c[0] == ref("1795428900.000100") and c[1] == "payments-api"]
    assert {c[1] for c in claims if c[0] == ref("1795338000.000100")} == {"launch-campaign"}
    assert (ref("1795255920.000100"), "onboarding", "status", "done") in claims  # a reply, via its parent
    assert not [c for c in claims if c[0] == ref("1795186800.000100")]  # the deploy bot is not trusted
    with session_scope(rt.engine) as session:
        emails = {p.email for p in session.exec(select(Person)).all()}
    assert {"alice@acme.test", "bob@acme.test", "carol@acme.test"} <= emails

    sandbox.reset_counts()
    again = [sync_partition(rt, Source.SLACK, channel) for channel in rt.config.source("slack").channels]
    assert [(r.inserted, r.updated, r.retracted) for r in again] == [(0, 0, 0), (0, 0, 0)]
    assert live(rt.engine) == claims
    assert sum(r.requests for r in again) == sum(sandbox.request_counts().values())
    # an idle run right after a full sync: the history page of the lookback window, nothing else
    # (auth.test's answer is in each cursor, permalinks are built, no thread moved or is due)
    assert sandbox.request_counts() == {"slack conversations.history": len(rt.config.source("slack").channels)}


def test_not_in_channel_is_a_clear_error_and_the_cursor_stays(rt: Runtime, sandbox: Sandbox) -> None:
    first = sync_partition(rt, Source.SLACK, "launches")
    assert first.ok
    stored = cursor(rt.engine, "launches")
    assert stored is not None

    sandbox.slack.post("C01", "U01", "checkout is done")  # would move the cursor
    sandbox.fail("conversations.history", slack_error="not_in_channel")
    report = sync_partition(rt, Source.SLACK, "launches")
    assert not report.ok and not report.transient
    assert report.error == (
        "Slack channel launches (C01): the bot is not a member of the channel (invite it with /invite) "
        "(not_in_channel)"
    )
    assert cursor(rt.engine, "launches") == stored
    with session_scope(rt.engine) as session:
        row = session.exec(select(SyncCursor).where(SyncCursor.partition == "launches")).one()
        assert row.last_error == report.error and TOKEN not in (row.last_error or "")

    sandbox.clear_faults()
    assert sync_partition(rt, Source.SLACK, "launches").ok
    assert ("checkout-v2", "status", "done") in {c[1:] for c in live(rt.engine)}


def test_invalid_token_fails_every_channel_clearly(rt: Runtime, sandbox: Sandbox) -> None:
    bad = rt.settings.model_copy(update={"slack_bot_token": SecretStr("xoxb-revoked")})
    runtime = Runtime(settings=bad, config=rt.config, engine=rt.engine)
    report = sync_partition(runtime, Source.SLACK, "launches")
    assert report.error == "Slack channel launches: the Slack token is invalid (check SLACK_BOT_TOKEN) (invalid_auth)"
    assert cursor(rt.engine, "launches") is None
