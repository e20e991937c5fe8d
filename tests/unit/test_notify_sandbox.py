"""The notifier over real HTTP: a real slack_sdk WebClient (built by make_web_client) against the
local sandbox, asserting on what the sandbox received."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from slack_sdk import WebClient
from sqlalchemy import Engine
from sqlmodel import select

from connectors.sandbox import Sandbox, bundled_scenario_path, load_scenario
from connectors.slack.client import make_web_client
from reconciler import notify, snoozes, store
from reconciler.db import session_scope
from reconciler.models import Person
from tests.unit.test_notify_support import (
    T0,
    make_config,
    open_conflict,
    outbox,
    plan,
    seed,
    set_state,
)

pytestmark = pytest.mark.demo  # runs again with the clock moved ahead (test_demo.py)

H = timedelta(hours=1)
S = timedelta(seconds=1)
TOKEN = "xoxb-notify-test-secret"


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """One per test: DMs found in a channel's history must be this test's (the tests share
    pinned times, so their outbox rows look alike)."""
    with Sandbox(load_scenario(bundled_scenario_path("demo")), port=0) as running:
        yield running


@pytest.fixture
def sb(sandbox: Sandbox) -> Sandbox:
    sandbox.clear_faults()
    return sandbox


@pytest.fixture
def client(sb: Sandbox) -> WebClient:
    return make_web_client(TOKEN, sb.slack_base_url, timeout=5)


@pytest.fixture
def config():  # type: ignore[no-untyped-def]
    return make_config()


@pytest.fixture
def engine(sqlite_engine: Engine, config) -> Engine:  # type: ignore[no-untyped-def]
    seed(sqlite_engine, config)
    return sqlite_engine


class Posted:
    """The sandbox's record of what the bot sent, from a mark on (the sandbox is shared)."""

    def __init__(self, sb: Sandbox) -> None:
        self.sb = sb
        self.start = len(sb.posted_messages())

    def all(self) -> list[dict]:  # type: ignore[type-arg]
        return self.sb.posted_messages()[self.start :]

    def new(self) -> list[dict]:  # type: ignore[type-arg]
        found = self.all()[getattr(self, "seen", 0) :]
        self.seen = getattr(self, "seen", 0) + len(found)
        return found


def deliver(engine: Engine, client: WebClient, now):  # type: ignore[no-untyped-def]
    return notify.deliver_pending(engine, client=client, now=now, min_interval_per_channel=0)


def test_three_days_over_http(engine: Engine, config, client: WebClient, sb: Sandbox) -> None:  # type: ignore[no-untyped-def]
    posted = Posted(sb)
    a = open_conflict(engine, "checkout-v2", at=T0)
    plan(engine, config, T0)
    b = open_conflict(engine, "payments-api", at=T0 + 10 * S)
    plan(engine, config, T0 + 10 * S)
    deliver(engine, client, T0 + 10 * S)
    assert posted.new() == []  # group_wait
    deliver(engine, client, T0 + 30 * S)
    (first,) = posted.new()
    assert (first["method"], first["user"], first["thread_ts"]) == ("chat.postMessage", "U01", None)
    assert f"#{a} Checkout v2" in first["text"] and f"#{b} Payments API" in first["text"]
    assert first["blocks"][0]["type"] == "header"
    assert [b["block_id"] for b in first["blocks"] if b["type"] == "actions"] == [
        f"reconciler-actions:{a}", f"reconciler-actions:{b}"]  # the buttons owners decide with

    plan(engine, config, T0 + 20 * H)
    deliver(engine, client, T0 + 20 * H)
    (reminder,) = posted.new()
    assert (reminder["user"], reminder["thread_ts"]) == ("U01", first["ts"])
    assert reminder["text"].startswith("Reminder: 2 conflicts still open")

    set_state(engine, b, "acknowledged", at=T0 + 21 * H, by="alice")
    plan(engine, config, T0 + 24 * H + 10 * S)
    deliver(engine, client, T0 + 24 * H + 10 * S)
    (escalation,) = posted.new()
    assert (escalation["user"], escalation["thread_ts"]) == ("U02", None)
    assert f"#{a} " in escalation["text"] and f"#{b} " not in escalation["text"]
    assert "Escalation level 1 (lead)" in escalation["text"] and "told before: Alice Ng" in escalation["text"]

    set_state(engine, a, "resolved", at=T0 + 30 * H)
    plan(engine, config, T0 + 30 * H)
    deliver(engine, client, T0 + 30 * H)
    plan(engine, config, T0 + 31 * H)
    deliver(engine, client, T0 + 31 * H)
    done = posted.new()
    replies = [m for m in done if m["method"] == "chat.postMessage"]
    assert sorted((m["user"], m["thread_ts"]) for m in replies) == sorted(
        [("U01", first["ts"]), ("U02", escalation["ts"])]
    )
    assert all("sources agree again" in m["text"] for m in replies)
    (update,) = [m for m in done if m["method"] == "chat.update"]
    assert (update["user"], update["ts"]) == ("U02", escalation["ts"])
    assert update["text"].startswith("Resolved")

    # B's acknowledgement lapses at 69h: alice is reminded, bob hears of it.
    plan(engine, config, T0 + 69 * H)
    deliver(engine, client, T0 + 69 * H)
    assert sorted((m["user"], m["text"].splitlines()[0]) for m in posted.new()) == [
        ("U01", "Reminder: 1 conflict on Payments API still open"),
        ("U02", "Escalated to you: 1 conflict on Payments API without a decision"),
    ]
    assert len(posted.all()) == 8


def test_quiet_hours_delay_a_calm_dm_to_eight_local(engine: Engine, client: WebClient, sb: Sandbox) -> None:
    config = make_config(quiet_hours="22:00-08:00")
    posted = Posted(sb)
    night = T0.replace(hour=22)  # 23:00 in Berlin, where carol is
    open_conflict(engine, "search", at=night)
    urgent = open_conflict(engine, "checkout-v2", at=night, severity="high")
    plan(engine, config, night)
    deliver(engine, client, night + H)
    assert [(m["user"], f"#{urgent} " in m["text"]) for m in posted.new()] == [("U01", True)]  # alice is UTC, but it is urgent
    deliver(engine, client, T0.replace(day=25, hour=6, minute=59))
    assert posted.new() == []
    deliver(engine, client, T0.replace(day=25, hour=7))  # 08:00 Berlin
    assert [m["user"] for m in posted.new()] == ["U03"]


def test_snooze_and_inhibition_over_http(engine: Engine, config, client: WebClient, sb: Sandbox) -> None:  # type: ignore[no-untyped-def]
    posted = Posted(sb)
    with session_scope(engine) as session:
        snoozes.add_snooze(session, matchers={"deliverable": "search"}, duration=2 * H, author="carol", comment="demo day", now=T0)
    snoozed = open_conflict(engine, "search")
    violation = open_conflict(engine, "payments-api", kind="dependency_violation")
    inhibited = open_conflict(engine, "checkout-v2", kind="date_contradiction")
    plan(engine, config, T0)
    deliver(engine, client, T0 + H)
    (dm,) = posted.new()
    assert dm["user"] == "U01" and f"#{violation} " in dm["text"]
    assert f"#{inhibited} " not in dm["text"]
    assert outbox(engine)[0].conflict_ids == [violation]
    plan(engine, config, T0 + 2 * H)  # the snooze ended
    deliver(engine, client, T0 + 2 * H + 30 * S)
    assert [(m["user"], f"#{snoozed} " in m["text"]) for m in posted.new()] == [("U03", True)]


def test_429_with_retry_after_is_honoured(engine: Engine, config, client: WebClient, sb: Sandbox) -> None:  # type: ignore[no-untyped-def]
    posted = Posted(sb)
    open_conflict(engine, "checkout-v2")
    plan(engine, config, T0)
    sb.reset_counts()
    sb.fail("chat.postMessage", status=429, retry_after=1, times=1)
    started = time.monotonic()
    report = deliver(engine, client, T0 + H)
    assert time.monotonic() - started >= 1.0
    assert [m.sent for m in report.messages] == [True]
    assert len(posted.new()) == 1
    assert sb.request_counts()["slack chat.postMessage"] == 2
    assert outbox(engine)[0].attempts == 0


def test_persistent_failure_is_retried_with_backoff_and_reported(engine: Engine, config, client: WebClient, sb: Sandbox) -> None:  # type: ignore[no-untyped-def]
    posted = Posted(sb)
    open_conflict(engine, "checkout-v2")
    plan(engine, config, T0)
    sb.fail("chat.postMessage", slack_error="internal_error")
    first = deliver(engine, client, T0 + H)
    assert first.messages[0].error and "internal_error" in first.messages[0].error
    assert TOKEN not in first.messages[0].error
    (row,) = outbox(engine)
    assert (row.status, row.attempts, row.not_before) == ("pending", 1, T0 + H + notify.BACKOFF_BASE)
    with session_scope(engine) as session:
        status = notify.notification_status(session)
    assert status["pending"] == 1 and "internal_error" in status["last_errors"][0]["error"]
    assert TOKEN not in str(status)

    assert deliver(engine, client, T0 + H + 30 * S).messages == []  # backing off
    sb.clear_faults()
    assert [m.sent for m in deliver(engine, client, T0 + H + notify.BACKOFF_BASE).messages] == [True]
    assert len(posted.new()) == 1
    assert outbox(engine)[0].status == "sent"


def test_crash_after_posting_is_found_not_resent(engine: Engine, config, client: WebClient, sb: Sandbox) -> None:  # type: ignore[no-untyped-def]
    posted = Posted(sb)
    open_conflict(engine, "checkout-v2")
    plan(engine, config, T0)

    class Crashing:
        def __init__(self, inner: WebClient) -> None:
            self.inner = inner

        def conversations_open(self, **kwargs):  # type: ignore[no-untyped-def]
            return self.inner.conversations_open(**kwargs)

        def chat_postMessage(self, **kwargs):  # type: ignore[no-untyped-def]
            self.inner.chat_postMessage(**kwargs)
            raise SystemExit("killed before marking the row sent")

    with pytest.raises(SystemExit):
        deliver(engine, Crashing(client), T0 + H)  # type: ignore[arg-type]
    assert outbox(engine)[0].status == "sending"
    assert deliver(engine, client, T0 + H + notify.SENDING_LEASE - S).messages == []  # the lease still holds
    (recovered,) = deliver(engine, client, T0 + H + notify.SENDING_LEASE + S).sent
    assert recovered.found_in_slack  # read back from the DM channel's history by its metadata
    assert deliver(engine, client, T0 + 3 * H).messages == []
    (only,) = posted.new()  # exactly one DM
    assert (only["ts"], outbox(engine)[0].slack_ts) == (recovered.ts, recovered.ts)


def _known_by_email_only(engine: Engine, config, key: str, email: str):  # type: ignore[no-untyped-def]
    """`config` with this person's Slack id left out and their email given, as in the store."""
    people = [p.model_copy(update={"ids": {}, "email": email}) if p.key == key else p for p in config.people]
    config = config.model_copy(update={"people": people})
    with session_scope(engine) as session:
        person = session.exec(select(Person).where(Person.key == key)).one()
        person.identities, person.email = [], email
        session.add(person)
    return config


def test_a_person_known_only_by_email_is_looked_up_once(engine: Engine, config, client: WebClient, sb: Sandbox) -> None:  # type: ignore[no-untyped-def]
    posted = Posted(sb)
    config = _known_by_email_only(engine, config, "alice", "alice@acme.test")
    lookups = sb.request_counts().get("slack users.lookupByEmail", 0)
    open_conflict(engine, "checkout-v2")
    plan(engine, config, T0)
    assert [m.sent for m in deliver(engine, client, T0 + H).messages] == [True]
    assert [m["user"] for m in posted.new()] == ["U01"]
    with session_scope(engine) as session:
        assert store.identities_of_keys(session, ["alice"], "slack") == {"alice": "U01"}
    open_conflict(engine, "payments-api", at=T0 + 2 * H)
    plan(engine, config, T0 + 2 * H)
    deliver(engine, client, T0 + 3 * H)
    assert [m["user"] for m in posted.new()] == ["U01"]
    assert sb.request_counts().get("slack users.lookupByEmail", 0) == lookups + 1


def test_nobody_in_slack_with_the_email_fails_that_dm_for_good(engine: Engine, config, client: WebClient, sb: Sandbox) -> None:  # type: ignore[no-untyped-def]
    posted = Posted(sb)
    config = _known_by_email_only(engine, config, "alice", "alice@elsewhere.test")
    open_conflict(engine, "checkout-v2")
    plan(engine, config, T0)
    (message,) = deliver(engine, client, T0 + H).messages
    assert message.error == "DM to alice: the person has no Slack user id and no Slack user has the email alice@elsewhere.test"
    assert outbox(engine)[0].status == "failed" and posted.new() == []


def test_a_token_that_may_not_look_up_emails_retries_that_dm_later(engine: Engine, config, client: WebClient, sb: Sandbox) -> None:  # type: ignore[no-untyped-def]
    config = _known_by_email_only(engine, config, "alice", "alice@acme.test")
    open_conflict(engine, "checkout-v2")
    plan(engine, config, T0)
    sb.fail("users.lookupByEmail", slack_error="missing_scope")
    (message,) = deliver(engine, client, T0 + H).messages
    assert message.error and "users:read.email" in message.error
    (row,) = outbox(engine)
    assert (row.status, row.attempts) == ("pending", 1)
    sb.clear_faults()
    assert [m.sent for m in deliver(engine, client, T0 + H + notify.BACKOFF_BASE).messages] == [True]
