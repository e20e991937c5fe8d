"""The channel interface: the outbox stores a channel-neutral view, a channel renders it when the
row is sent, and the send stage acts on the channel's retryable / permanent errors alone."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from sqlalchemy import Engine, update

from reconciler import messages, notify
from reconciler.db import session_scope
from reconciler.models import Notification
from reconciler.notify import views
from reconciler.notify.channels import Address, Payload, PermanentError, Receipt, RetryableError, Sent
from tests.unit.test_notify_support import T0, FakeSlack, deliver, make_config, open_conflict, outbox, plan, seed, set_state

H = timedelta(hours=1)


@dataclass
class Recorder:
    """A second channel: plain text only, delivered into a list; fails as told."""

    name: str = "recorder"
    sent: list[tuple[Address, Payload, str]] = field(default_factory=list)
    closed: list[tuple[Sent, str]] = field(default_factory=list)
    failures: list[Exception] = field(default_factory=list)

    def render(self, view: messages.MessageView) -> Payload:
        return Payload(f"{view.reason} for {view.recipient_name}: " + ", ".join(f"#{c.id}" for c in view.conflicts))

    def resolve(self, recipient_key: str, email: str | None) -> str:
        raise PermanentError(f"{recipient_key} has no address")

    def send(self, address: Address, payload: Payload, *, mark: str, maybe_sent: bool) -> Receipt:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append((address, payload, mark))
        return Receipt(Sent("inbox", f"m{len(self.sent)}", address.reply_to.ts if address.reply_to else None))

    def close(self, sent: Sent, payload: Payload, note: str) -> Payload:
        self.closed.append((sent, note))
        return Payload(f"{note}\n{payload.text}")


@pytest.fixture
def engine(sqlite_engine: Engine) -> Engine:
    seed(sqlite_engine, make_config())
    return sqlite_engine


def test_the_outbox_keeps_a_view_and_the_channel_renders_it_when_sending(engine: Engine) -> None:
    config = make_config()
    a = open_conflict(engine, "checkout-v2")
    plan(engine, config, T0)
    (row,) = outbox(engine)
    assert (row.text, row.blocks) == ("", [])  # nothing channel-specific is planned
    view = views.decode(row.message_view)
    assert (view.reason, view.recipient_name, [c.id for c in view.conflicts]) == ("new", "Alice Ng", [a])
    assert views.decode(views.encode(view)) == view

    channel = Recorder()
    (sent,) = notify.deliver_pending(engine, client=None, now=T0 + H, channel=channel).sent
    assert sent.text == f"new for Alice Ng: #{a}" and channel.sent[0][0] == Address("alice", "U01")
    (row,) = outbox(engine)
    assert (row.status, row.text, row.slack_ts) == ("sent", f"new for Alice Ng: #{a}", "m1")  # what went out

    set_state(engine, a, "resolved", at=T0 + 2 * H)
    plan(engine, config, T0 + 2 * H)
    notify.deliver_pending(engine, client=None, now=T0 + 3 * H, channel=channel)
    reply_to = channel.sent[1][0].reply_to
    assert reply_to is not None and reply_to.ts == "m1"  # the resolution follows up the first DM
    assert channel.closed == [(Sent("inbox", "m1"), f"resolved for Alice Ng: #{a}")]
    assert outbox(engine)[0].text == f"resolved for Alice Ng: #{a}\nnew for Alice Ng: #{a}"


def test_retryable_errors_back_off_permanent_ones_give_up_and_some_stop_the_pass(engine: Engine) -> None:
    config = make_config()
    open_conflict(engine, "checkout-v2")
    open_conflict(engine, "search")
    plan(engine, config, T0)
    channel = Recorder(failures=[RetryableError("busy", stops_pass=True)])
    report = notify.deliver_pending(engine, client=None, now=T0 + H, channel=channel)
    assert report.aborted == "busy" and [m.error for m in report.messages] == ["busy"]  # the second waits
    assert [(r.status, r.attempts, r.not_before) for r in outbox(engine)] == [
        ("pending", 1, T0 + H + notify.BACKOFF_BASE), ("pending", 0, T0 + 30 * timedelta(seconds=1))
    ]
    channel.failures = [PermanentError("no such person")]
    report = notify.deliver_pending(engine, client=None, now=T0 + H, channel=channel)
    assert [(m.recipient, m.status, m.error) for m in report.messages] == [("carol", "failed", "no such person")]
    assert [m.sent for m in notify.deliver_pending(engine, client=None, now=T0 + 2 * H, channel=channel).messages] == [True]


def test_a_row_planned_before_views_were_stored_is_sent_as_it_was_rendered(engine: Engine) -> None:
    open_conflict(engine, "checkout-v2")
    plan(engine, make_config(), T0)
    with session_scope(engine) as session:
        session.execute(update(Notification).values(message_view={}, text="as planned", blocks=[{"type": "divider"}]))
    slack = FakeSlack()
    deliver(engine, slack, T0 + H)
    (post,) = slack.posts()
    assert (post["text"], post["blocks"]) == ("as planned", [{"type": "divider"}])


def test_the_slack_channel_renders_blocks_and_the_fallback_from_the_view(engine: Engine) -> None:
    a = open_conflict(engine, "checkout-v2")
    plan(engine, make_config(), T0)
    slack = FakeSlack()
    deliver(engine, slack, T0 + H)
    (post,) = slack.posts()
    view = views.decode(outbox(engine)[0].message_view)
    assert post["blocks"] == messages.render_blocks(view)
    assert post["text"].startswith("1 new conflict on Checkout v2 needs your decision") and f"#{a} " in post["text"]
    assert outbox(engine)[0].blocks == post["blocks"]  # kept, for the Slack app to rewrite in place
