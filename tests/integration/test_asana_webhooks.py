"""Asana webhooks on the app's HTTP endpoint, through the real `asana` SDK and the sandbox's
webhook delivery: the handshake while the create request is in flight, signed deliveries that
trigger the project's sync (and the reconcile), heartbeats, and refusals."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
import time_machine
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import select

from connectors.asana.webhooks import HEARTBEAT_MISSING, AsanaWebhookReceiver
from connectors.base import Source
from connectors.sandbox import Sandbox, parse_scenario
from connectors.sandbox.asana_api import Webhook
from connectors.slack.client import make_web_client
from reconciler import pipeline
from reconciler.db import session_scope
from reconciler.models import Observation as StoredClaim
from reconciler.pipeline import Runtime
from reconciler.protocol import load_config
from reconciler.push import SourcePushes, all_pushes, source_pushes
from reconciler.settings import Settings
from reconciler.slackapp.app import build_app, http_server
from tests.integration.test_slack_app import DEMO, SECRET, user, wait_for
from tests.unit.test_engine import seed

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)

SCENARIO: dict[str, Any] = {
    "asana": {
        "workspace": {"gid": "1000", "name": "Acme"},
        "users": [{"gid": "501", "name": "Alice Ng", "email": "alice@acme.test"}],
        "custom_fields": [{"gid": "700", "name": "Status", "type": "enum", "enum_options": [
            {"gid": "701", "name": "On track"}, {"gid": "703", "name": "Blocked"}]}],
        "projects": [{"gid": "2001", "name": "Launches", "sections": [{"gid": "2101", "name": "Doing"}]},
                 {"gid": "2002", "name": "Archived launches"}],
        "tasks": [{"gid": "3001", "name": "Checkout v2", "projects": ["2001"], "assignee": "501",
                   "custom_fields": {"700": "701"}, "created_at": "2026-11-01T00:00:00Z",
                   "modified_at": "2026-11-10T12:00:00Z"}],
    },
    "slack": {
        "team": {"id": "T1", "domain": "acme"},
        "bot": {"user_id": "U0BOT", "bot_id": "B0BOT"},
        "users": [user("U01", "alice"), user("U02", "bob")],
        "channels": [{"id": "C01", "name": "launches"}],
    },
}


class World:
    def __init__(self, sandbox: Sandbox, engine: Engine) -> None:
        config = load_config(DEMO)
        config = config.with_source("slack", config.source("slack").model_copy(update={"channels": ["launches"]}))
        settings = Settings(asana_token=SecretStr("asana-webhook-test-token"), asana_base_url=sandbox.asana_base_url,
                            slack_bot_token=SecretStr("xoxb-webhook-test"), slack_base_url=sandbox.slack_base_url)
        self.rt = Runtime(settings=settings, config=config, engine=engine)
        self.sandbox = sandbox
        seed(engine, config)
        for report in pipeline.sync_all(self.rt, sources=[Source.ASANA]):
            assert report.ok, report.error
        app, _ = build_app(self.rt, make_web_client("xoxb-webhook-test", sandbox.slack_base_url), signing_secret=SECRET)
        self.pushes = source_pushes(self.rt, Source.ASANA, public_url="http://127.0.0.1:0")
        self.receiver = receiver_of(self.pushes)
        self.server = http_server(app, host="127.0.0.1", port=0, pushes=[self.receiver])
        self.receiver.public_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def asana_status(self) -> list[str | None]:
        with session_scope(self.rt.engine) as session:
            rows = session.exec(select(StoredClaim).where(StoredClaim.source == "asana", StoredClaim.field == "status",
                                                          StoredClaim.deliverable_key == "checkout-v2")).all()
            return [r.value for r in rows if r.deleted_at is None]


def receiver_of(pushes: SourcePushes) -> AsanaWebhookReceiver:
    """Asana's push receiver, as its plugin built it."""
    assert isinstance(pushes.receiver, AsanaWebhookReceiver)
    return pushes.receiver


@pytest.fixture
def world(sqlite_engine: Engine) -> Iterator[World]:
    with time_machine.travel(NOW, tick=True), Sandbox(parse_scenario(SCENARIO), port=0) as sandbox:
        w = World(sandbox, sqlite_engine)
        yield w
        w.server.shutdown()
        w.pushes.alarm.stop()  # a DM it was waiting to send would go to a sandbox that is gone


def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - local
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_a_change_in_asana_reaches_the_store_by_webhook_and_heartbeats_are_watched(world: World) -> None:
    assert world.asana_status() == ["on_track"]
    assert world.receiver.ensure() == []
    (hook,) = world.sandbox.asana.webhooks.values()
    assert (hook.resource, hook.target) == ("2001", world.receiver.target("2001"))
    assert world.receiver.ensure() == []  # already there: nothing created twice
    assert len(world.sandbox.asana.webhooks) == 1

    world.sandbox.asana.update_task("3001", custom_fields={"700": "703"})
    wait_for(lambda: world.asana_status() == ["blocked"], message="the change read after the webhook")
    assert hook.wait_delivered(1)[0][0] == 200
    assert world.receiver.counts.deliveries >= 1
    wait_for(lambda: world.pushes.syncs.count >= 1, message="the sync counted")  # counted after it stored

    world.sandbox.asana.webhook_heartbeat()
    wait_for(lambda: world.receiver.counts.heartbeats == 1, message="the heartbeat")
    assert world.receiver.renew_silent() == []  # heard from just now: nothing to do
    assert len(world.sandbox.asana.webhooks) == 1

    world.receiver._heard["2001"] = world.rt.now() - HEARTBEAT_MISSING  # silent for too long
    delivered_before = len(hook.deliveries)
    assert world.receiver.renew_silent() == []
    (renewed,) = world.sandbox.asana.webhooks.values()  # a new one, with a new secret; the silent one deleted
    assert renewed.gid != hook.gid and not hook.active and world.receiver.counts.deleted == 1
    world.sandbox.asana.update_task("3001", custom_fields={"700": "701"})
    wait_for(lambda: world.asana_status() == ["on_track"], message="a change after the renewal")
    assert renewed.wait_delivered(1)[0][0] == 200
    assert len(hook.deliveries) == delivered_before  # the deleted one delivers nothing more


def test_a_restart_deletes_the_webhooks_an_earlier_run_left_and_only_those(world: World) -> None:
    """Secrets live in memory: the webhooks of the run before a restart can never be verified
    again. The new run lists the token's webhooks, deletes those under its own URL that it did
    not create (and those of projects no longer synced), and leaves webhooks delivering elsewhere."""
    asana, rt = world.sandbox.asana, world.rt
    app, _ = build_app(rt, make_web_client("xoxb-webhook-test", world.sandbox.slack_base_url), signing_secret=SECRET)

    def serve(receiver: AsanaWebhookReceiver, port: int = 0) -> Any:
        server = http_server(app, host="127.0.0.1", port=port, pushes=[receiver])
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server

    before = receiver_of(source_pushes(rt, Source.ASANA, public_url="http://127.0.0.1:0", alarm=world.pushes.alarm))
    server = serve(before)
    port = server.server_address[1]
    before.public_url = f"http://127.0.0.1:{port}"
    assert before.clean_up() == [] and before.ensure() == [] and before.counts.deleted == 0
    (old,) = asana.webhooks.values()
    # what else the token has registered: a project this service no longer syncs, under its URL,
    # and another service's webhook on the synced project
    gone = Webhook(asana._new_gid(), "2002", before.target("2002"), "old-secret")
    foreign = Webhook(asana._new_gid(), "2001", "https://elsewhere.example/hooks/2001", "their-secret")
    asana.webhooks.update({gone.gid: gone, foreign.gid: foreign})
    server.shutdown()
    server.server_close()

    after = receiver_of(source_pushes(rt, Source.ASANA, public_url=f"http://127.0.0.1:{port}",
                                      alarm=world.pushes.alarm))  # restarted
    server = serve(after, port)
    try:
        world.sandbox.reset_counts()
        assert after.clean_up() == [] and after.ensure() == []
        counts = world.sandbox.request_counts()
        assert counts.get("asana GET /webhooks") == 1  # the workspace is configured: no /workspaces
        assert counts.get("asana DELETE /webhooks/{gid}") == 2 and after.counts.deleted == 2
        (new,) = [h for h in asana.webhooks.values() if h.gid != foreign.gid]
        assert (new.resource, new.target) == ("2001", after.target("2001")) and new.gid != old.gid
        assert foreign.gid in asana.webhooks and old.gid not in asana.webhooks and gone.gid not in asana.webhooks

        asana.update_task("3001", custom_fields={"700": "703"})
        wait_for(lambda: world.asana_status() == ["blocked"], message="the change read after the new webhook")
        assert new.wait_delivered(1)[0][0] == 200
        assert all(status == 200 for status, _ in old.deliveries)  # the old one refused nothing: it is gone
        assert after.clean_up() == [] and len(asana.webhooks) == 2  # its own webhook is kept
    finally:
        server.shutdown()
        server.server_close()


def test_every_source_with_a_push_receiver_is_mounted_and_no_other(world: World) -> None:
    mounted = all_pushes(world.rt, public_url="https://reconciler.example")
    assert [(p.source, p.receiver.path_prefix) for p in mounted] == [(Source.ASANA, "/asana/webhooks/")]
    with pytest.raises(ValueError, match="slack pushes nothing over HTTP"):
        source_pushes(world.rt, Source.SLACK, public_url="https://reconciler.example")


def test_forged_deliveries_and_unexpected_handshakes_are_refused(world: World) -> None:
    assert world.receiver.ensure() == []
    url = world.receiver.target("2001")
    body = json.dumps({"events": [{"action": "changed"}]}).encode()
    forged = hmac.new(b"not-the-secret", body, hashlib.sha256).hexdigest()
    assert post(url, body, {"X-Hook-Signature": forged}) == 401
    assert post(url, body, {}) == 401
    assert post(world.receiver.target("9999"), b"", {"X-Hook-Secret": "attacker-chosen"}) == 403
    assert world.receiver.counts.deliveries == 0 and world.receiver.counts.refused == 3
