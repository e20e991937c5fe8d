"""Real-time sync through the real slack-bolt and slack-sdk: the sandbox posts a message and
pushes its `message` event to the Slack app (over Socket Mode, a local WebSocket, or as a
signed HTTP post); the app states it as the poller would, stores it, reconciles and DMs the
owner. Repeats, out-of-order edits and a disconnect change nothing the poller would not."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import time_machine
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import select

from connectors.base import ClaimKind, Field, Observation, Source
from connectors.sandbox import Sandbox, parse_scenario
from connectors.slack.client import make_web_client
from reconciler import pipeline
from reconciler.db import session_scope
from reconciler.models import Notification
from reconciler.models import Observation as StoredClaim
from reconciler.pipeline import Runtime
from reconciler.protocol import load_config
from reconciler.settings import Settings
from reconciler.slackapp.app import build_app, http_server, socket_mode_handler
from reconciler.slackapp.events import SlackEventIntake
from tests.integration.test_slack_app import DEMO, SECRET, user, wait_for
from tests.unit.test_engine import apply, seed

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)
TOKEN = "xoxb-realtime-test-token"
APP_TOKEN = "xapp-realtime-test-token"
OLD_PARENT_TS = f"{int((NOW - timedelta(days=30)).timestamp())}.000100"


def scenario() -> dict[str, Any]:
    return {
        "slack": {
            "team": {"id": "T1", "domain": "acme"},
            "bot": {"user_id": "U0BOT", "bot_id": "B0BOT"},
            "users": [user("U01", "alice"), user("U02", "bob"), user("U03", "carol"), user("U04", "dan")],
            "channels": [{"id": "C01", "name": "launches"}, {"id": "C02", "name": "eng"},
                         {"id": "C09", "name": "random"}],
            "messages": [
                {"channel": "C01", "ts": OLD_PARENT_TS, "user": "U02", "text": "checkout launch: thread for the rollout"},
                {"channel": "C01", "ts": OLD_PARENT_TS[:-3] + "200", "user": "U01", "text": "thanks, following",
                 "thread_ts": OLD_PARENT_TS},
            ],
        }
    }


class World:
    """The sandbox, a store the poller has synced once, and the Slack app with its event intake."""

    def __init__(self, sandbox: Sandbox, engine: Engine, *, timing: dict[str, Any] | None = None) -> None:
        config = load_config(DEMO)
        timing = {"group_wait": "0s", "group_interval": "0s"} if timing is None else timing
        alerts = config.alerts.model_copy(update={**timing, "quiet_hours": None})
        self.config = config.model_copy(update={"alerts": alerts})
        settings = Settings(slack_bot_token=SecretStr(TOKEN), slack_base_url=sandbox.slack_base_url)
        self.rt = Runtime(settings=settings, config=self.config, engine=engine)
        self.sandbox, self.engine = sandbox, engine
        seed(engine, self.config)
        # what Asana would say: every deliverable on track, as of yesterday
        apply(engine, *(Observation(key, Source.MANUAL, f"manual:{key}", Field.STATUS, "on_track",
                                    NOW - timedelta(days=1), ClaimKind.STATE, author="alice")
                        for key in ("checkout-v2", "payments-api", "search")), now=NOW)
        for report in pipeline.sync_all(self.rt, sources=[Source.SLACK]):
            assert report.ok, report.error
        pipeline.reconcile_and_notify(self.rt)
        self.client = make_web_client(TOKEN, sandbox.slack_base_url)
        self.intake = SlackEventIntake(self.rt)
        self.app, _ = build_app(self.rt, self.client, signing_secret=SECRET, events=self.intake)

    @property
    def app_state(self) -> Any:
        return self.sandbox.slack_app

    def dms_to(self, user_id: str) -> list[str]:
        channel = self.sandbox.slack.dms.get(user_id)
        if channel is None:
            return []
        return [m.text for m in self.sandbox.slack.messages[channel].values()]

    def claims(self, ref: str) -> list[tuple[str, str | None, bool]]:
        with session_scope(self.engine) as session:
            rows = session.exec(select(StoredClaim).where(StoredClaim.source_ref == ref)).all()
            return sorted((r.deliverable_key, r.value, r.deleted_at is None) for r in rows)

    def settled(self, count: Callable[[], int], expected: int) -> None:
        wait_for(lambda: count() >= expected, message=f"{expected} events taken in")


@pytest.fixture
def clock() -> Iterator[None]:
    with time_machine.travel(NOW, tick=True):
        yield


@pytest.fixture
def slack_sandbox(clock: None) -> Iterator[Sandbox]:
    with Sandbox(parse_scenario(scenario()), port=0) as running:
        yield running


@pytest.fixture
def world(slack_sandbox: Sandbox, store_engine: Engine) -> Iterator[World]:
    w = World(slack_sandbox, store_engine)
    handler = socket_mode_handler(w.app, app_token=APP_TOKEN, client=w.client)
    handler.connect()
    w.app_state.socket_mode.wait_connected()
    w.handler = handler  # type: ignore[attr-defined]
    yield w
    w.handler.close()  # type: ignore[attr-defined]  # a test may have replaced it with a reconnected one
    w.intake.alarm.stop()


def taken(w: World) -> int:
    c = w.intake.counts
    return c.stored + c.duplicate + c.stale


def test_a_posted_message_reaches_the_owner_as_the_same_claim_the_poller_makes(world: World) -> None:
    assert not any("Checkout" in t for t in world.dms_to("U01"))
    ts, envelope = world.app_state.post_and_emit("C01", "U02", "checkout is blocked on the card vendor")
    assert not world.app_state.socket_mode.wait_ack(envelope).late
    wait_for(lambda: any("Checkout v2" in t for t in world.dms_to("U01")), message="the owner's DM")
    assert world.claims(f"C01:{ts}") == [("checkout-v2", "blocked", True)]
    assert pipeline.pushes_flowing(world.rt, Source.SLACK)  # the pollers may now slow down

    (poll,) = pipeline.sync_all(world.rt, sources=[Source.SLACK], partitions=["launches"])
    assert poll.ok and (poll.inserted, poll.updated, poll.retracted) == (0, 0, 0)  # the poller agrees
    assert world.claims(f"C01:{ts}") == [("checkout-v2", "blocked", True)]


def test_with_the_default_grouping_the_first_dm_goes_out_when_its_window_opens(
    slack_sandbox: Sandbox, store_engine: Engine
) -> None:
    w = World(slack_sandbox, store_engine, timing={})  # group_wait and group_interval as shipped
    handler = socket_mode_handler(w.app, app_token=APP_TOKEN, client=w.client)
    handler.connect()
    try:
        w.app_state.socket_mode.wait_connected()
        ts, _ = w.app_state.post_and_emit("C01", "U02", "checkout is blocked on the card vendor")
        w.settled(lambda: w.intake.counts.stored, 1)
        # planned by the event, due group_wait later: the intake's alarm sends it then, no sweep needed
        wait_for(lambda: any("Checkout v2" in t for t in w.dms_to("U01")), message="the owner's DM")

        def alices() -> list[Notification]:
            with session_scope(w.engine) as session:
                return list(session.exec(select(Notification).where(Notification.recipient_key == "alice")).all())

        # the row is marked sent in a commit after Slack's answer
        (row,) = wait_for(lambda: [n for n in alices() if n.status == "sent"], message="the DM recorded as sent")
        assert w.intake.alarm.waiting == [] and len(alices()) == 1
        assert row.not_before is not None and row.sent_at is not None
        assert row.not_before - row.created_at == timedelta(seconds=3) and row.sent_at >= row.not_before
    finally:
        handler.close()
        w.intake.alarm.stop()


def test_replies_and_broadcast_replies_by_event_are_what_the_poller_reads_too(world: World) -> None:
    app = world.app_state
    parent, _ = app.post_and_emit("C01", "U02", "payments rollout thread")
    reply, _ = app.post_and_emit("C01", "U03", "blocked on the bank's sandbox", thread_ts=parent)
    broadcast, _ = app.post_and_emit("C01", "U03", "we are now at risk", thread_ts=parent, broadcast=True)
    # events are taken in on the app's worker threads: either may be stored first
    wait_for(lambda: world.claims(f"C01:{broadcast}") and world.claims(f"C01:{reply}"), message="both replies")
    assert world.claims(f"C01:{reply}") == [("payments-api", "blocked", True)]
    assert world.claims(f"C01:{broadcast}") == [("payments-api", "at_risk", True)]
    with session_scope(world.engine) as session:
        (row,) = session.exec(select(StoredClaim).where(StoredClaim.source_ref == f"C01:{broadcast}")).all()
        by_event = (row.permalink, row.author, row.excerpt, row.stated_at, row.partition)
    (poll,) = pipeline.sync_all(world.rt, sources=[Source.SLACK], partitions=["launches"])
    assert poll.ok and (poll.inserted, poll.updated, poll.retracted) == (0, 0, 0)
    with session_scope(world.engine) as session:
        (row,) = session.exec(select(StoredClaim).where(StoredClaim.source_ref == f"C01:{broadcast}")).all()
        assert (row.permalink, row.author, row.excerpt, row.stated_at, row.partition) == by_event
    assert by_event[0] == f"https://acme.slack.com/archives/C01/p{broadcast.replace('.', '')}?thread_ts={parent}&cid=C01"


def test_a_reply_in_a_thirty_day_old_thread_reaches_the_owner(world: World) -> None:
    ts, _ = world.app_state.post_and_emit("C01", "U03", "we are blocked on the legal review", thread_ts=OLD_PARENT_TS)
    wait_for(lambda: any("Checkout v2" in t for t in world.dms_to("U01")), message="the owner's DM")
    assert world.claims(f"C01:{ts}") == [("checkout-v2", "blocked", True)]  # about what its thread is about
    # its edit and its deletion come by event too: no thread_recheck needed
    world.app_state.edit_and_emit("C01", ts, "legal review passed, we are on track")
    wait_for(lambda: world.claims(f"C01:{ts}") == [("checkout-v2", "on_track", True)], message="the edit")
    world.app_state.delete_and_emit("C01", ts)
    wait_for(lambda: world.claims(f"C01:{ts}") == [("checkout-v2", "on_track", False)], message="the deletion")


def test_a_poll_does_not_read_a_thread_again_for_replies_that_came_by_event(world: World) -> None:
    app, slack = world.app_state, world.sandbox.slack
    parent = slack.post("C01", "U02", "payments rollout thread")
    slack.post("C01", "U03", "kicking off", thread_ts=parent)
    (poll,) = pipeline.sync_all(world.rt, sources=[Source.SLACK], partitions=["launches"])
    assert poll.ok  # the thread is watched now

    first, _ = app.post_and_emit("C01", "U03", "blocked on the bank's sandbox", thread_ts=parent)
    second, _ = app.post_and_emit("C01", "U04", "fyi, looking into it", thread_ts=parent)
    world.settled(lambda: world.intake.counts.stored, 2)
    app.delete_and_emit("C01", second)
    world.settled(lambda: world.intake.counts.stored, 3)
    assert world.claims(f"C01:{first}") == [("payments-api", "blocked", True)]

    # a new thread: its parent and its replies, all by event
    fresh, _ = app.post_and_emit("C01", "U02", "search relevance rollout")
    reply, _ = app.post_and_emit("C01", "U03", "we are blocked on the ranking data", thread_ts=fresh)
    world.settled(lambda: world.intake.counts.stored, 5)
    assert world.claims(f"C01:{reply}") == [("search", "blocked", True)]

    world.sandbox.reset_counts()
    (poll,) = pipeline.sync_all(world.rt, sources=[Source.SLACK], partitions=["launches"])
    assert poll.ok and (poll.inserted, poll.updated, poll.retracted) == (0, 0, 0)
    counts = world.sandbox.request_counts()
    assert counts.get("slack conversations.replies", 0) == 0  # the events delivered every reply
    assert counts.get("slack conversations.history") == 1

    # a reply that came by event and vanished unannounced is retracted once the thread is read
    slack.delete("C01", reply)
    slack.post("C01", "U04", "ok", thread_ts=fresh)  # the thread moves: the poll reads it
    (poll,) = pipeline.sync_all(world.rt, sources=[Source.SLACK], partitions=["launches"])
    assert poll.ok and world.claims(f"C01:{reply}") == [("search", "blocked", False)]

    # a reply the events missed (the app was away) moves the thread past what they delivered
    missed = slack.post("C01", "U02", "payments is at risk again", thread_ts=parent)
    world.sandbox.reset_counts()
    (poll,) = pipeline.sync_all(world.rt, sources=[Source.SLACK], partitions=["launches"])
    assert poll.ok and world.sandbox.request_counts().get("slack conversations.replies") == 1
    assert world.claims(f"C01:{missed}") == [("payments-api", "at_risk", True)]
    world.sandbox.reset_counts()
    (poll,) = pipeline.sync_all(world.rt, sources=[Source.SLACK], partitions=["launches"])
    assert poll.ok and world.sandbox.request_counts().get("slack conversations.replies", 0) == 0


def test_a_retry_or_a_repeated_event_id_changes_nothing(world: World) -> None:
    ts = world.sandbox.slack.post("C01", "U02", "payments is at risk")
    event = world.app_state.message_event("C01", ts)
    world.app_state.emit(event, event_id="EvFIRST")
    world.settled(lambda: taken(world), 1)
    dms = world.dms_to("U02")
    world.app_state.emit(event, event_id="EvFIRST", retry_num=1)
    world.app_state.emit(event, event_id="EvFIRST", retry_num=2)
    world.settled(lambda: world.intake.counts.duplicate, 2)
    assert (world.intake.counts.stored, world.intake.counts.retries) == (1, 2)
    assert world.claims(f"C01:{ts}") == [("payments-api", "at_risk", True)]
    assert world.dms_to("U02") == dms


def test_an_edit_before_its_message_or_an_old_edit_after_a_newer_one_never_wins(world: World) -> None:
    app, slack = world.app_state, world.sandbox.slack
    ts = slack.post("C01", "U02", "search is blocked")
    original = app.message_event("C01", ts)
    slack.edit("C01", ts, "search is at risk")
    first_edit = app.message_changed_event("C01", ts, original)
    slack.edit("C01", ts, "search is done")
    second_edit = app.message_changed_event("C01", ts, first_edit["message"])
    for n, event in enumerate((second_edit, original, first_edit), start=1):  # the newest first, then the stale ones
        app.emit(event)
        world.settled(lambda: taken(world), n)  # one by one: Bolt runs listeners on a thread pool
    assert (world.intake.counts.stored, world.intake.counts.stale) == (1, 2)
    assert world.claims(f"C01:{ts}") == [("search", "done", True)]

    gone = slack.post("C01", "U02", "checkout is at risk")
    posted = app.message_event("C01", gone)
    slack.edit("C01", gone, "checkout is blocked")
    edited = app.message_changed_event("C01", gone, posted)
    app.delete_and_emit("C01", gone)
    world.settled(lambda: taken(world), 4)
    app.emit(edited)  # an edit delivered after the deletion does not bring the message back
    world.settled(lambda: taken(world), 5)
    assert world.claims(f"C01:{gone}") == []


def test_events_of_channels_not_synced_are_dropped_without_a_request(world: World) -> None:
    world.sandbox.reset_counts()
    world.app_state.post_and_emit("C09", "U02", "checkout is blocked")
    wait_for(lambda: world.intake.counts.not_synced == 1, message="the event dropped")
    assert world.sandbox.request_counts() == {}


def test_a_disconnect_loses_nothing_the_poller_catches_up(world: World) -> None:
    handler = world.handler  # type: ignore[attr-defined]
    first, _ = world.app_state.post_and_emit("C01", "U02", "search is at risk")
    world.settled(lambda: taken(world), 1)
    handler.close()
    # while the app is away, Slack's events go nowhere: the messages are only in the channel
    missed = world.sandbox.slack.post("C01", "U02", "checkout is blocked on the card vendor")
    reply = world.sandbox.slack.post("C01", "U03", "payments is blocked", thread_ts=first)
    assert world.claims(f"C01:{missed}") == []
    reconnected = socket_mode_handler(world.app, app_token=APP_TOKEN, client=world.client)
    reconnected.connect()
    world.handler = reconnected  # type: ignore[attr-defined]
    reports = pipeline.sync_all(world.rt, sources=[Source.SLACK])  # the safety net, from its cursor
    assert all(r.ok for r in reports)
    pipeline.reconcile_and_notify(world.rt)
    assert world.claims(f"C01:{missed}") == [("checkout-v2", "blocked", True)]
    assert world.claims(f"C01:{reply}") == [("payments-api", "blocked", True)]
    assert any("Checkout v2" in t for t in world.dms_to("U01"))
    # events flow again after the reconnect
    later, _ = world.app_state.post_and_emit("C01", "U02", "search is done")
    wait_for(lambda: world.claims(f"C01:{later}") == [("search", "done", True)], message="an event after reconnect")


def test_the_bot_joining_a_synced_channel_reads_it_and_a_rename_keeps_events_flowing(world: World) -> None:
    from reconciler import store

    app = world.app_state
    app.emit({"type": "channel_rename", "channel": {"id": "C02", "name": "engineering", "created": 1}})
    ts, _ = app.post_and_emit("C02", "U02", "payments is blocked")
    wait_for(lambda: world.claims(f"C02:{ts}") == [("payments-api", "blocked", True)], message="the event after a rename")

    with session_scope(world.engine) as session:  # as if the bot had never read #eng
        store.reset_cursor(session, Source.SLACK, "eng")
    before = world.sandbox.slack.post("C02", "U03", "search is at risk")  # said before the bot came
    app.emit({"type": "member_joined_channel", "user": "U0BOT", "channel": "C02", "channel_type": "C", "team": "T1"})
    wait_for(lambda: world.claims(f"C02:{before}") == [("search", "at_risk", True)], message="the channel read on join")


def test_signed_http_events_store_and_notify_and_a_bad_signature_is_refused(
    clock: None, sqlite_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with Sandbox(parse_scenario(scenario()), port=0) as sandbox:
        w = World(sandbox, sqlite_engine)
        server = http_server(w.app, host="127.0.0.1", port=0)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            url = f"http://127.0.0.1:{server.server_address[1]}/slack/events"
            sandbox.slack_app.deliver_events_over_http(url, signing_secret=SECRET)
            ts, status = sandbox.slack_app.post_and_emit("C01", "U02", "checkout is blocked on the card vendor")
            assert status == "200"
            wait_for(lambda: any("Checkout v2" in t for t in w.dms_to("U01")), message="the owner's DM over HTTP")
            event = sandbox.slack_app.message_event("C01", ts)
            assert sandbox.slack_app.emit(event, event_id="EvHTTP", retry_num=1) == "200"
            assert sandbox.slack_app.emit(event, event_id="EvHTTP", retry_num=2) == "200"
            w.settled(lambda: w.intake.counts.duplicate, 1)
            sandbox.slack_app.deliver_events_over_http(url, signing_secret="not-the-secret")
            forged = sandbox.slack.post("C01", "U09" if "U09" in sandbox.slack.users else "U02",
                                        "search is blocked, call me on 555-0199")
            assert sandbox.slack_app.emit(sandbox.slack_app.message_event("C01", forged)) == "401"
            assert w.claims(f"C01:{forged}") == []
            # the refusal is logged, the request's body (what people wrote, ids, tokens) is not
            refusals = [r for r in caplog.records if "Invalid request signature" in r.getMessage()]
            assert refusals and all(r.levelno >= logging.INFO for r in refusals)
            logged = "\n".join(r.getMessage() for r in caplog.records if r.levelno >= logging.INFO)
            assert "555-0199" not in logged and forged not in logged and "event_callback" not in logged
        finally:
            server.shutdown()
            w.intake.alarm.stop()
