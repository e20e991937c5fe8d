"""Exactly one DM per notification when Slack's answer is lost or the sender dies: the post
carries the notification in its metadata, and before a row whose outcome is unknown is sent
again, the DM channel's history (or the thread) is read back and a found post is recorded as
sent. Real slack-sdk over HTTP against the sandbox, real processes killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from slack_sdk import WebClient
from sqlalchemy import Engine

from connectors.sandbox import Sandbox, bundled_scenario_path, load_scenario
from connectors.slack.client import make_web_client
from reconciler import notify
from tests.unit.test_notify_support import T0, make_config, open_conflict, outbox, plan, seed

ROOT = Path(__file__).resolve().parents[2]
H = timedelta(hours=1)
S = timedelta(seconds=1)


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    with Sandbox(load_scenario(bundled_scenario_path("demo")), port=0) as sandbox:
        yield sandbox


@pytest.fixture
def client(sb: Sandbox) -> WebClient:
    return make_web_client("xoxb-exactly-once", sb.slack_base_url, timeout=5, backoff_factor=0.01)


@pytest.fixture
def engine(sqlite_engine: Engine) -> Engine:
    seed(sqlite_engine, make_config())
    return sqlite_engine


def deliver(engine: Engine, client: Any, now: Any) -> notify.DeliverReport:
    return notify.deliver_pending(engine, client=client, now=now, min_interval_per_channel=0)


def posts(sb: Sandbox) -> list[dict[str, Any]]:
    return [m for m in sb.posted_messages() if m["method"] == "chat.postMessage"]


def test_a_post_whose_answer_is_cut_off_is_one_dm(engine: Engine, client: WebClient, sb: Sandbox) -> None:
    config = make_config()
    open_conflict(engine, "checkout-v2")
    plan(engine, config, T0)
    sb.fail("chat.postMessage", kind="bad_json", times=1)  # accepted, then the answer is cut off
    report = deliver(engine, client, T0 + H)
    (sent,) = report.sent
    assert sent.found_in_slack and not report.failed
    (dm,) = posts(sb)
    (row,) = outbox(engine)
    assert (row.status, row.slack_ts, row.slack_channel) == ("sent", dm["ts"], dm["channel"])
    assert sb.request_counts()["slack chat.postMessage"] == 1  # not retried by the client either
    assert deliver(engine, client, T0 + 2 * H).messages == []
    assert len(posts(sb)) == 1


def test_a_thread_reply_whose_answer_is_cut_off_is_one_reply(engine: Engine, client: WebClient, sb: Sandbox) -> None:
    config = make_config()
    open_conflict(engine, "checkout-v2")
    plan(engine, config, T0)
    (first,) = deliver(engine, client, T0 + H).sent
    plan(engine, config, T0 + 20 * H)  # the reminder is a reply in the first DM's thread
    sb.fail("chat.postMessage", kind="bad_json", times=1)
    (reminder,) = deliver(engine, client, T0 + 20 * H).sent
    assert reminder.found_in_slack and reminder.thread_ts == first.ts
    replies = [m for m in posts(sb) if m["thread_ts"] == first.ts]
    assert len(replies) == 1 and replies[0]["ts"] == reminder.ts


def test_a_gateway_error_on_a_post_is_checked_then_sent_once(engine: Engine, client: WebClient, sb: Sandbox) -> None:
    """A 502 before Slack took the post: nothing is found, the row backs off, the next pass
    looks again (the outcome was unknown) and sends it, once."""
    config = make_config()
    open_conflict(engine, "checkout-v2")
    plan(engine, config, T0)
    sb.fail("chat.postMessage", status=502, times=1)
    first = deliver(engine, client, T0 + H)
    assert first.failed and posts(sb) == []
    assert sb.request_counts()["slack chat.postMessage"] == 1  # a post is not retried blindly
    assert sb.request_counts()["slack conversations.history"] == 1  # it was looked for
    (sent,) = deliver(engine, client, T0 + H + notify.BACKOFF_BASE).sent
    assert not sent.found_in_slack
    assert len(posts(sb)) == 1


KILLED_SENDER = textwrap.dedent(
    """
    import os, signal, sys
    from datetime import datetime
    from connectors.slack.client import make_web_client
    from reconciler.db import make_engine
    from reconciler.notify import deliver_pending

    url, base_url, now = sys.argv[1], sys.argv[2], datetime.fromisoformat(sys.argv[3])

    class KilledAfterSlackAnswers:
        def __init__(self, inner):
            self.inner = inner

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def chat_postMessage(self, **kwargs):
            self.inner.chat_postMessage(**kwargs)
            os.kill(os.getpid(), signal.SIGKILL)  # before the outbox row is marked sent

    client = KilledAfterSlackAnswers(make_web_client("xoxb-exactly-once", base_url, timeout=5))
    deliver_pending(make_engine(url), client=client, now=now, min_interval_per_channel=0)
    """
)


def test_a_row_left_sending_by_a_killed_process_is_found_not_resent(
    engine: Engine, client: WebClient, sb: Sandbox, sqlite_url: str
) -> None:
    config = make_config()
    open_conflict(engine, "checkout-v2")
    open_conflict(engine, "search")  # carol's DM: still pending, not held by the dead sender
    plan(engine, config, T0)
    process = subprocess.run(
        [sys.executable, "-c", KILLED_SENDER, sqlite_url, sb.slack_base_url, (T0 + H).isoformat()],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert process.returncode == -signal.SIGKILL, process.stderr[-2000:]
    (dm,) = posts(sb)
    assert sorted(r.status for r in outbox(engine)) == ["pending", "sending"]  # one row in flight

    held = deliver(engine, client, T0 + H + notify.SENDING_LEASE - S)
    assert [m.recipient for m in held.sent] == ["carol"]  # the dead sender's row waits its lease
    after = deliver(engine, client, T0 + H + notify.SENDING_LEASE + S)
    (recovered,) = after.sent
    assert after.reclaimed == 1 and recovered.found_in_slack and recovered.ts == dm["ts"]
    assert sorted(m["user"] for m in posts(sb)) == ["U01", "U03"]  # one DM each
    assert {r.status for r in outbox(engine)} == {"sent"}


def test_a_live_sender_renews_its_claim_while_slack_is_slow(
    engine: Engine, client: WebClient, sb: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second sender does not take a row whose sender is alive but waiting on Slack longer
    than the lease: the claim is renewed in the background."""
    monkeypatch.setattr(notify.outbox, "SENDING_LEASE", timedelta(seconds=0.4))
    monkeypatch.setattr(notify.outbox, "LEASE_RENEW_EVERY", 0.05)
    config = make_config()
    open_conflict(engine, "checkout-v2")
    plan(engine, config, T0)
    posting, release = threading.Event(), threading.Event()

    class SlowSlack:
        def __getattr__(self, name: str) -> Any:
            return getattr(client, name)

        def chat_postMessage(self, **kwargs: Any) -> Any:
            posting.set()
            release.wait(10)
            return client.chat_postMessage(**kwargs)

    started = time.monotonic()
    first = threading.Thread(target=deliver, args=(engine, SlowSlack(), T0 + H))
    first.start()
    assert posting.wait(10)
    time.sleep(1.0)  # well past the 0.4 s lease
    second = deliver(engine, client, T0 + H + timedelta(seconds=time.monotonic() - started))
    release.set()
    first.join(10)
    assert second.reclaimed == 0 and second.messages == []
    assert len(posts(sb)) == 1 and outbox(engine)[0].status == "sent"
