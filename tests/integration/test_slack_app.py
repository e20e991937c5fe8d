"""The Slack app through the real slack-bolt and slack-sdk: DMs sent by the notifier, then
clicks, modals, the Home tab and the slash command delivered by the sandbox over Socket Mode (a
local WebSocket) and over signed HTTP posts."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import select

from connectors.base import ClaimKind, Field, Observation, Source
from connectors.sandbox import Sandbox, parse_scenario
from connectors.sandbox.slack_app_api import post_signed
from connectors.slack.client import make_web_client
from reconciler import notify
from reconciler.db import session_scope
from reconciler.models import AuditEvent, Conflict, Deliverable, Notification, Snooze
from reconciler.pipeline import Runtime
from reconciler.protocol import load_config
from reconciler.settings import Settings
from reconciler.slackapp.app import build_app, http_server, socket_mode_handler
from tests.unit.test_engine import apply, run, seed

DEMO = Path(__file__).resolve().parents[2] / "reconciler" / "examples" / "demo.toml"
NOW = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)
TOKEN = "xoxb-slack-app-test-token"
APP_TOKEN = "xapp-slack-app-test-token"
SECRET = "signing-secret-for-tests"
MESSAGE_TS = f"{int((NOW - timedelta(hours=2)).timestamp())}.000100"
WAIT = 20.0  # seconds to wait for work done after an ack (a bound, not a measurement)


def user(uid: str, name: str) -> dict[str, Any]:
    return {"id": uid, "name": name, "real_name": name.title(), "tz": "Europe/Berlin",
            "profile": {"email": f"{name}@acme.test", "real_name": name.title()}}


SCENARIO = {
    "invalid_tokens": ["xoxb-revoked", "xapp-revoked"],
    "slack": {
        "team": {"id": "T1", "domain": "acme"},
        "bot": {"user_id": "U0BOT", "bot_id": "B0BOT"},
        "users": [user("U01", "alice"), user("U02", "bob"), user("U03", "carol"), user("U04", "dan"),
                  user("U05", "erin"), user("U09", "mallory")],
        "channels": [{"id": "C01", "name": "launches"}],
        "messages": [{"channel": "C01", "ts": MESSAGE_TS, "user": "U02", "text": "checkout is blocked on the card vendor"}],
    }
}


def claims() -> tuple[Observation, Observation]:
    """checkout-v2: a manual claim says on track, bob's Slack message says blocked."""
    return (
        Observation("checkout-v2", Source.MANUAL, "manual:1", Field.STATUS, "on_track", NOW - timedelta(days=1),
                    ClaimKind.STATE, author="alice", excerpt="on track"),
        Observation("checkout-v2", Source.SLACK, f"C01:{MESSAGE_TS}", Field.STATUS, "blocked", NOW - timedelta(hours=2),
                    ClaimKind.EVENT, author="U02", excerpt="checkout is blocked on the card vendor",
                    permalink=f"https://acme.slack.com/archives/C01/p{MESSAGE_TS.replace('.', '')}"),
    )


class World:
    """The sandbox, the store with DMs sent, and the Slack app connected to both."""

    def __init__(self, sandbox: Sandbox, engine: Engine, *, writeback: bool = False) -> None:
        config = load_config(DEMO)
        alerts = config.alerts.model_copy(update={"group_wait": "0s", "quiet_hours": None})
        self.config = config.model_copy(update={
            "alerts": alerts, "slack_app": config.slack_app.model_copy(update={"writeback": writeback})})
        settings = Settings(slack_bot_token=SecretStr(TOKEN), slack_base_url=sandbox.slack_base_url,
                            board_url="https://board.acme.test/")
        self.rt = Runtime(settings=settings, config=self.config, engine=engine, clock=lambda: NOW)
        self.sandbox, self.engine = sandbox, engine
        seed(engine)
        apply(engine, *claims())
        run(engine, everything=True)
        self.client = make_web_client(TOKEN, sandbox.slack_base_url)
        with session_scope(engine) as session:
            notify.plan_notifications(session, config=self.config, now=NOW)
        notify.deliver_pending(engine, client=self.client, now=NOW, min_interval_per_channel=0)
        self.app, self.service = build_app(self.rt, self.client, signing_secret=SECRET)

    def conflict(self, key: str, kind: str) -> Conflict:
        with session_scope(self.engine) as session:
            return session.exec(select(Conflict).where(Conflict.deliverable_key == key, Conflict.kind == kind)).one()

    def dm(self, user_id: str, conflict_id: int) -> dict[str, Any]:
        """The DM to this user about this conflict, as the workspace holds it now."""
        channel = self.sandbox.slack.dms[user_id]
        for message in self.sandbox.slack.messages[channel].values():
            if any(b.get("block_id") == f"reconciler-outcome:{conflict_id}" or
                   b.get("block_id") == f"reconciler-actions:{conflict_id}" for b in message.blocks or []):
                return {"channel": channel, "ts": message.ts, "blocks": message.blocks, "text": message.text}
        raise AssertionError(f"no DM to {user_id} about conflict {conflict_id}")

    def element(self, user_id: str, conflict_id: int, action_id: str) -> dict[str, Any]:
        dm = self.dm(user_id, conflict_id)
        (block,) = [b for b in dm["blocks"] if b.get("block_id") == f"reconciler-actions:{conflict_id}"]
        (element,) = [e for e in block["elements"] if e["action_id"] == action_id]
        return {**element, "block_id": block["block_id"]}

    def click(self, user_id: str, owner_dm: str, conflict_id: int, action_id: str, **extra: Any) -> dict[str, Any]:
        dm = self.dm(owner_dm, conflict_id)
        action = {**self.element(owner_dm, conflict_id, action_id), **extra}
        return self.sandbox.slack_app.block_actions(user=user_id, channel=dm["channel"], message_ts=dm["ts"], action=action)

    def audit(self, action: str) -> list[AuditEvent]:
        with session_scope(self.engine) as session:
            return list(session.exec(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def wait_for(what: Callable[[], Any], *, message: str) -> Any:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        found = what()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {message}")


def outcome(blocks: list[dict[str, Any]], conflict_id: int) -> str | None:
    for b in blocks:
        if b.get("block_id") == f"reconciler-outcome:{conflict_id}":
            return str(b["elements"][0]["text"])
    return None


@pytest.fixture
def slack_sandbox() -> Iterator[Sandbox]:
    with Sandbox(parse_scenario(SCENARIO), port=0) as running:
        yield running


@pytest.fixture
def world(slack_sandbox: Sandbox, sqlite_engine: Engine) -> Iterator[World]:
    w = World(slack_sandbox, sqlite_engine)
    handler = socket_mode_handler(w.app, app_token=APP_TOKEN, client=w.client)
    handler.connect()
    assert slack_sandbox.slack_app.socket_mode is not None
    slack_sandbox.slack_app.socket_mode.wait_connected()
    yield w
    handler.close()


def push(world: World, kind: str, payload: dict[str, Any], **kwargs: Any) -> str:
    server = world.sandbox.slack_app.socket_mode
    assert server is not None
    return server.push(kind, payload, **kwargs)


def ack_of(world: World, envelope_id: str) -> Any:
    server = world.sandbox.slack_app.socket_mode
    assert server is not None
    return server.wait_ack(envelope_id, timeout=WAIT)


def test_the_dm_carries_buttons_and_accepting_a_source_decides_and_updates_it_in_place(world: World) -> None:
    cid = world.conflict("checkout-v2", "status_contradiction").id
    assert cid is not None
    buttons = [e["text"]["text"] for b in world.dm("U01", cid)["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert buttons == ["Accept manual: on_track", "Accept slack: blocked", "Set the value…", "Acknowledge", "Snooze…"]

    envelope = push(world, "interactive", world.click("U01", "U01", cid, "reconciler.accept.slack"))
    assert ack_of(world, envelope).payload in (None, {})
    wait_for(lambda: world.conflict("checkout-v2", "status_contradiction").state == "resolved", message="the decision")
    done = world.conflict("checkout-v2", "status_contradiction")
    assert (done.resolved_by, done.resolution_source, done.resolution_value) == ("alice", "slack", "blocked")
    (event,) = world.audit("resolved")
    assert (event.actor, event.details["slack_user"], event.details["via"]) == ("alice", "U01", "slack")

    dm = wait_for(lambda: (d := world.dm("U01", cid)) and outcome(d["blocks"], cid) and d, message="the DM update")
    assert outcome(dm["blocks"], cid) == (
        ":white_check_mark: Resolved by Alice Ng, Fri 20 Nov 10:00 CET: accepted slack (blocked) — "
        "“accepted what slack says (from Slack)”")
    assert not [b for b in dm["blocks"] if b["type"] == "actions"]  # the buttons are gone
    updates = [p for p in world.sandbox.posted_messages() if p["method"] == "chat.update"]
    assert [u["ts"] for u in updates] == [dm["ts"]]

    def stored_with_outcome() -> list[Notification]:  # the outbox keeps what the DM now shows
        with session_scope(world.engine) as session:
            return [n for n in session.exec(select(Notification)) if outcome(n.blocks, cid)]

    assert len(wait_for(stored_with_outcome, message="the stored DM")) == 1
    wait_for(lambda: "U01" in world.sandbox.slack_app.homes, message="the Home tab refresh")


def test_a_decision_updates_every_dm_that_told_someone_about_the_finding(slack_sandbox: Sandbox, sqlite_engine: Engine) -> None:
    w = World(slack_sandbox, sqlite_engine)
    later = NOW + timedelta(hours=25)  # not acknowledged after 24 h: escalated to bob, engineering's lead
    with session_scope(sqlite_engine) as session:
        notify.plan_notifications(session, config=w.config, now=later)
    notify.deliver_pending(sqlite_engine, client=w.client, now=later, min_interval_per_channel=0)
    cid = w.conflict("checkout-v2", "status_contradiction").id
    assert cid is not None
    assert w.dm("U02", cid)["text"].startswith("Escalated to you")
    handler = socket_mode_handler(w.app, app_token=APP_TOKEN, client=w.client)
    handler.connect()
    try:
        ack_of(w, push(w, "interactive", w.click("U01", "U01", cid, "reconciler.accept.slack")))
        for user_id in ("U01", "U02"):
            dm = wait_for(lambda u=user_id: (d := w.dm(u, cid)) and outcome(d["blocks"], cid) and d, message=f"{user_id}'s DM")
            assert str(outcome(dm["blocks"], cid)).startswith(":white_check_mark: Resolved by Alice Ng")
            assert not [b for b in dm["blocks"] if b["type"] == "actions"]
    finally:
        handler.close()


def test_the_ack_comes_before_the_work_even_when_the_store_is_busy(world: World, sqlite_url: str) -> None:
    cid = world.conflict("checkout-v2", "status_contradiction").id
    assert cid is not None
    blocker = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # holds the write lock: the decision waits for it
    try:
        envelope = push(world, "interactive", world.click("U01", "U01", cid, "reconciler.ack"))
        ack_of(world, envelope)  # answered while the decision cannot be written yet
        assert world.conflict("checkout-v2", "status_contradiction").state == "open"
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    wait_for(lambda: world.conflict("checkout-v2", "status_contradiction").state == "acknowledged", message="the ack")
    calls = wait_for(lambda: ("call", "chat.update") in world.sandbox.slack_app.calls and world.sandbox.slack_app.calls,
                     message="the DM update")
    assert calls.index(("ack", envelope)) < calls.index(("call", "chat.update"))
    dm = wait_for(lambda: (d := world.dm("U01", cid)) and outcome(d["blocks"], cid) and d, message="the DM update")
    assert outcome(dm["blocks"], cid) == ":eyes: Acknowledged by Alice Ng, Fri 20 Nov 10:00 CET"
    (actions,) = [b for b in dm["blocks"] if b["type"] == "actions"]
    assert "reconciler.ack" not in [e["action_id"] for e in actions["elements"]]  # the rest stay


def test_someone_off_the_escalation_path_is_told_who_decides_and_nothing_changes(world: World) -> None:
    cid = world.conflict("checkout-v2", "status_contradiction").id
    assert cid is not None
    for slack_user, says in (
        ("U03", "You are not the decision owner of Checkout v2; Alice Ng is"),
        ("U09", "Your Slack user is not one of the reconciler's people; ask an admin to add you"),
    ):
        ack_of(world, push(world, "interactive", world.click(slack_user, "U01", cid, "reconciler.accept.manual")))
        told = wait_for(lambda: [e for e in world.sandbox.slack_app.ephemerals if e["user"] == slack_user],
                        message="the ephemeral answer")
        assert told[0]["text"] == says
    assert world.conflict("checkout-v2", "status_contradiction").state == "open"
    assert world.audit("resolved") == []
    assert not [p for p in world.sandbox.posted_messages() if p["method"] == "chat.update"]


@pytest.fixture
def connected(slack_sandbox: Sandbox, store_engine: Engine) -> Iterator[World]:
    """A world on SQLite and on PostgreSQL."""
    w = World(slack_sandbox, store_engine)
    handler = socket_mode_handler(w.app, app_token=APP_TOKEN, client=w.client)
    handler.connect()
    yield w
    handler.close()


def test_a_double_click_a_retry_and_a_second_person_record_one_decision(connected: World) -> None:
    world = connected
    cid = world.conflict("checkout-v2", "status_contradiction").id
    assert cid is not None
    alice = world.click("U01", "U01", cid, "reconciler.accept.slack")
    bob = world.click("U02", "U01", cid, "reconciler.accept.manual")  # bob leads engineering
    first = push(world, "interactive", alice)
    envelopes = [first, push(world, "interactive", alice), push(world, "interactive", alice, retry_attempt=1,
                                                                envelope_id=first + "-retry"),
                 push(world, "interactive", bob)]
    for envelope in envelopes:
        ack_of(world, envelope)
    wait_for(lambda: world.conflict("checkout-v2", "status_contradiction").state == "resolved", message="the decision")
    winner = world.conflict("checkout-v2", "status_contradiction").resolved_by
    loser = {"alice": "U02", "bob": "U01"}[str(winner)]
    told = wait_for(lambda: [e for e in world.sandbox.slack_app.ephemerals if e["user"] == loser], message="the loser told")
    name = {"alice": "Alice Ng", "bob": "Bob Okafor"}[str(winner)]
    assert told[0]["text"] == f"Already decided: {name} resolved #{cid} at Fri 20 Nov 10:00 CET; nothing changed."
    time.sleep(0.5)  # let every envelope's work finish before counting
    assert len(world.audit("resolved")) == 1
    assert not [e for e in world.sandbox.slack_app.ephemerals if e["user"] == {"U01": "U02", "U02": "U01"}[loser]]


def test_set_a_value_through_the_modal(world: World) -> None:
    cid = world.conflict("checkout-v2", "status_contradiction").id
    assert cid is not None
    ack_of(world, push(world, "interactive", world.click("U01", "U01", cid, "reconciler.set_value")))
    (view_id,) = wait_for(lambda: list(world.sandbox.slack_app.views), message="views.open")
    view = world.sandbox.slack_app.views[view_id]
    assert [b.get("block_id") for b in view["blocks"] if b["type"] == "input"] == ["status", "comment"]

    empty = world.sandbox.slack_app.view_submission(view_id, {"status": {"status": {"type": "static_select"}},
                                                              "comment": {"comment": {"type": "plain_text_input", "value": " "}}})
    refused = ack_of(world, push(world, "interactive", empty))
    assert refused.payload == {"response_action": "errors", "errors": {
        "comment": "Say why: it is kept in the audit log.", "status": "Give the value you decide on."}}
    assert world.conflict("checkout-v2", "status_contradiction").state == "open"

    filled = world.sandbox.slack_app.view_submission(view_id, {
        "status": {"status": {"type": "static_select", "selected_option": {"value": "at_risk"}}},
        "comment": {"comment": {"type": "plain_text_input", "value": "vendor promised Monday"}}})
    assert ack_of(world, push(world, "interactive", filled)).payload in (None, {})
    wait_for(lambda: world.conflict("checkout-v2", "status_contradiction").state == "resolved", message="the decision")
    done = world.conflict("checkout-v2", "status_contradiction")
    assert (done.resolution_value, done.resolution_comment, done.resolution_source) == ("at_risk", "vendor promised Monday", None)
    dm = wait_for(lambda: (d := world.dm("U01", cid)) and outcome(d["blocks"], cid) and d, message="the DM update")
    assert "set to at_risk — “vendor promised Monday”" in str(outcome(dm["blocks"], cid))


def test_snooze_through_the_modal(world: World) -> None:
    cid = world.conflict("checkout-v2", "status_contradiction").id
    assert cid is not None
    ack_of(world, push(world, "interactive", world.click("U01", "U01", cid, "reconciler.snooze")))
    (view_id,) = wait_for(lambda: list(world.sandbox.slack_app.views), message="views.open")
    submitted = world.sandbox.slack_app.view_submission(view_id, {
        "duration": {"duration": {"type": "static_select", "selected_option": {"value": "3d"}}},
        "comment": {"comment": {"type": "plain_text_input", "value": "offsite"}}})
    ack_of(world, push(world, "interactive", submitted))
    dm = wait_for(lambda: (d := world.dm("U01", cid)) and outcome(d["blocks"], cid) and d, message="the DM update")
    assert outcome(dm["blocks"], cid) == ":zzz: Snoozed by Alice Ng until Mon 23 Nov 10:00 CET"
    with session_scope(world.engine) as session:
        (snooze,) = session.exec(select(Snooze)).all()
        assert (snooze.author, snooze.matchers) == ("alice", {"deliverable": "checkout-v2", "kind": "status_contradiction"})
    (event,) = world.audit("snooze_added")
    assert (event.conflict_id, event.details["slack_user"]) == (cid, "U01")


def test_picking_the_owner_of_a_deliverable_without_one(world: World) -> None:
    cid = world.conflict("onboarding", "no_owner").id
    assert cid is not None
    (select_,) = [e for b in world.dm("U02", cid)["blocks"] if b.get("block_id") == f"reconciler-actions:{cid}"
                  for e in b["elements"] if e["type"] == "users_select"]
    assert select_["action_id"] == "reconciler.pick_owner"
    nobody = world.click("U02", "U02", cid, "reconciler.pick_owner", selected_user="U09")
    ack_of(world, push(world, "interactive", nobody))
    told = wait_for(lambda: world.sandbox.slack_app.ephemerals, message="the ephemeral answer")
    assert told[0]["text"].startswith("<@U09> is not one of the reconciler's people")
    ack_of(world, push(world, "interactive", world.click("U02", "U02", cid, "reconciler.pick_owner", selected_user="U03")))
    wait_for(lambda: world.conflict("onboarding", "no_owner").state == "resolved", message="the owner")
    with session_scope(world.engine) as session:
        onboarding = session.exec(select(Deliverable).where(Deliverable.key == "onboarding")).one()
        assert (onboarding.owner_key, onboarding.owner_set_by) == ("carol", "slack:bob")
    dm = wait_for(lambda: (d := world.dm("U02", cid)) and outcome(d["blocks"], cid) and d, message="the DM update")
    assert "Resolved by Bob Okafor" in str(outcome(dm["blocks"], cid)) and "owner: Carol Diaz" in str(outcome(dm["blocks"], cid))


def test_the_home_tab_shows_what_waits_on_you_and_what_you_asked(world: World) -> None:
    ack_of(world, push(world, "events_api", world.sandbox.slack_app.app_home_opened("U01")))
    home = wait_for(lambda: world.sandbox.slack_app.homes.get("U01"), message="views.publish")
    text = json.dumps(home)
    assert home["blocks"][0]["text"]["text"] == "Waiting on you (1)" and "Checkout v2" in text
    assert "<https://board.acme.test/|Open the team board>" in text
    ack_of(world, push(world, "events_api", world.sandbox.slack_app.app_home_opened("U02")))
    bob = wait_for(lambda: world.sandbox.slack_app.homes.get("U02"), message="bob's Home")
    headers = [b["text"]["text"] for b in bob["blocks"] if b["type"] == "header"]
    assert headers == ["Waiting on you (1)", "You asked others (1)"]  # onboarding; his message on checkout
    assert "decides: Alice Ng" in json.dumps(bob)


def test_the_slash_command_answers_ephemerally(world: World) -> None:
    ack_of(world, push(world, "slash_commands", world.sandbox.slack_app.slash_command(
        user="U01", command="/reconciler", text="status checkout-v2")))
    (answer,) = wait_for(lambda: world.sandbox.slack_app.responses, message="the response_url post")
    assert answer["response_type"] == "ephemeral"
    text = json.dumps(answer["blocks"])
    assert "Checkout v2" in text and "decision owner: *Alice Ng*" in text and "status_contradiction" in text
    ack_of(world, push(world, "slash_commands", world.sandbox.slack_app.slash_command(
        user="U02", command="/reconciler", text="mine")))
    mine = wait_for(lambda: world.sandbox.slack_app.responses[1:], message="the second answer")[0]
    assert "Onboarding flow" in json.dumps(mine["blocks"]) and "Checkout" not in json.dumps(mine["blocks"])


def test_a_slack_decision_is_written_back_when_the_config_opts_in(slack_sandbox: Sandbox, sqlite_engine: Engine) -> None:
    w = World(slack_sandbox, sqlite_engine, writeback=True)
    handler = socket_mode_handler(w.app, app_token=APP_TOKEN, client=w.client)
    handler.connect()
    try:
        cid = w.conflict("checkout-v2", "status_contradiction").id
        assert cid is not None
        ack_of(w, push(w, "interactive", w.click("U01", "U01", cid, "reconciler.accept.slack")))
        (reply,) = wait_for(lambda: [p for p in slack_sandbox.posted_messages() if p["thread_ts"] == MESSAGE_TS],
                            message="the thread reply")
        assert reply["channel"] == "C01" and reply["text"].startswith("Decision by Alice Ng: Checkout v2 is blocked")
        (event,) = wait_for(lambda: w.audit("writeback"), message="the writeback audit event")
        assert (event.actor, event.details["channel"]) == ("alice", "C01")
    finally:
        handler.close()


# -- HTTP mode ------------------------------------------------------------------------------


@pytest.fixture
def http_world(slack_sandbox: Sandbox, sqlite_engine: Engine) -> Iterator[tuple[World, str]]:
    w = World(slack_sandbox, sqlite_engine)
    server = http_server(w.app, host="127.0.0.1", port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield w, f"http://127.0.0.1:{server.server_address[1]}/slack/events"
    server.shutdown()
    server.server_close()


def test_http_mode_verifies_signatures_and_runs_the_same_handlers(http_world: tuple[World, str]) -> None:
    w, url = http_world
    with urllib.request.urlopen(url.replace("/slack/events", "/healthz"), timeout=10) as health:
        assert health.read() == b"ok\n"
    cid = w.conflict("checkout-v2", "status_contradiction").id
    assert cid is not None
    click = w.click("U01", "U01", cid, "reconciler.accept.slack")
    forged = post_signed(url, "interactive", click, signing_secret="not-the-secret")
    stale = post_signed(url, "interactive", click, signing_secret=SECRET, timestamp=int(time.time()) - 600)
    assert (forged.status, stale.status) == (401, 401)
    assert w.conflict("checkout-v2", "status_contradiction").state == "open"

    assert post_signed(url, "interactive", click, signing_secret=SECRET).status == 200
    wait_for(lambda: w.conflict("checkout-v2", "status_contradiction").state == "resolved", message="the decision")
    assert post_signed(url, "interactive", click, signing_secret=SECRET, retry_num=1).status == 200  # Slack's retry
    command = post_signed(url, "slash_commands", w.sandbox.slack_app.slash_command(user="U02", command="/reconciler",
                                                                                   text="mine"), signing_secret=SECRET)
    assert command.status == 200
    wait_for(lambda: w.sandbox.slack_app.responses, message="the slash command's answer")
    challenge = post_signed(url, "events_api", {"type": "url_verification", "challenge": "c-123", "token": "x"},
                            signing_secret=SECRET)
    assert (challenge.status, json.loads(challenge.body)) == (200, {"challenge": "c-123"})
    time.sleep(0.5)  # let the retry's work finish before counting
    assert len(w.audit("resolved")) == 1
    assert not w.sandbox.slack_app.ephemerals  # a repeat of one's own click is answered by the DM itself


def test_the_command_refuses_bad_tokens_in_one_line(slack_sandbox: Sandbox, sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from reconciler.cli import app as cli
    from reconciler.settings import get_settings

    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    monkeypatch.setenv("RECONCILER_CONFIG", str(DEMO))
    monkeypatch.setenv("SLACK_BASE_URL", slack_sandbox.slack_base_url)
    cases = {
        ("xoxb-revoked", "xapp-fine"): "error: Slack refused SLACK_BOT_TOKEN (auth.test failed): check the bot token",
        (TOKEN, "xapp-revoked"): "error: Slack refused SLACK_APP_TOKEN for Socket Mode (invalid_auth): it must be an "
                                 "app-level token (xapp-…) with connections:write",
    }
    for (bot, app_token), says in cases.items():
        monkeypatch.setenv("SLACK_BOT_TOKEN", bot)
        monkeypatch.setenv("SLACK_APP_TOKEN", app_token)
        get_settings.cache_clear()
        result = CliRunner().invoke(cli, ["slack-app"])
        assert (result.exit_code, result.stderr.strip().splitlines()[-1]) == (1, says)
        assert "xapp-revoked" not in result.output and "Traceback" not in result.output


def test_decisions_taken_elsewhere_reach_the_dms_and_home_tabs(slack_sandbox: Sandbox, sqlite_engine: Engine) -> None:
    from reconciler import decisions

    w = World(slack_sandbox, sqlite_engine)
    seen = w.service.latest_change()
    assert w.service.catch_up(seen) == seen  # nothing new: nothing done
    assert not [p for p in slack_sandbox.posted_messages() if p["method"] == "chat.update"]
    cid = w.conflict("checkout-v2", "status_contradiction").id
    assert cid is not None
    with session_scope(sqlite_engine) as session:
        admin = decisions.cli_actor(session, by=None, os_user="ops")
        decisions.resolve(session, cid, actor=admin, config=w.config, comment="keys missing", now=NOW, status="blocked")
    seen = w.service.catch_up(seen)
    assert outcome(w.dm("U01", cid)["blocks"], cid) == (
        ":white_check_mark: Resolved by cli:ops, Fri 20 Nov 10:00 CET: set to blocked — “keys missing”")
    assert "Waiting on you (0)" in json.dumps(slack_sandbox.slack_app.homes["U01"])
    updates = len([p for p in slack_sandbox.posted_messages() if p["method"] == "chat.update"])
    with session_scope(sqlite_engine) as session:  # the same change seen again changes nothing
        session.add(AuditEvent(at=NOW, actor="cli:ops", action="resolved", conflict_id=cid, deliverable_key="checkout-v2"))
    w.service.catch_up(seen)
    assert len([p for p in slack_sandbox.posted_messages() if p["method"] == "chat.update"]) == updates
