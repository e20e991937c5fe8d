"""Stage 4, send: deliver due outbox rows through a channel, one row in flight per sender. Each
row is claimed under a lock and committed, its stored view rendered by the channel, sent while a
background thread renews the claim, and marked sent with the payload that went out. A sender that
dies holds one row, for at most SENDING_LEASE; before that row is sent again the channel looks
for it (the row's mark is in the message), so a DM goes out once."""

from __future__ import annotations

import dataclasses
import logging
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from slack_sdk import WebClient
from sqlalchemy import Engine
from sqlmodel import col, select

from reconciler.db import session_scope
from reconciler.messages import MessageView
from reconciler.models import Notification, NotificationReason, NotificationStatus
from reconciler.notify import outbox, views
from reconciler.notify.channels import slack
from reconciler.notify.channels.base import Address, Channel, DeliveryError, Payload, Sent
from reconciler.notify.model import DeliveredMessage, DeliverReport

log = logging.getLogger(__name__)

Render = Callable[[MessageView], Payload]


def deliver_pending(
    engine: Engine,
    *,
    client: WebClient | None,
    now: datetime,
    dry_run: bool = False,
    limit: int = 100,
    min_interval_per_channel: float = 1.0,
    channel: Channel | None = None,
) -> DeliverReport:
    """Send up to `limit` due outbox rows, one at a time, as Slack DMs through `client` (or
    through `channel`). With `dry_run`, report every pending row rendered, and mark nothing."""
    if dry_run:
        return _dry_run(engine, render=channel.render if channel else slack.render, limit=limit)
    if channel is None:
        if client is None:
            raise ValueError("a Slack client is needed to deliver notifications (or use dry_run)")
        channel = slack.SlackDM(client, min_interval_per_channel)
    report = DeliverReport(reclaimed=outbox.reclaim_stale(engine, now=now))
    started = time.monotonic()

    def renewed_at() -> datetime:  # `now`, moved on by the time this pass has taken
        return now + timedelta(seconds=time.monotonic() - started)

    for _ in range(limit):
        token = uuid.uuid4().hex
        claimed = outbox.claim(engine, now=now, limit=1, token=token)
        if not claimed:
            break
        with outbox.RenewedClaim(engine, claimed[0], token, claimed_at=renewed_at):
            message, abort = _deliver_one(engine, channel, claimed[0], now=now, token=token)
        report.messages.append(message)
        if abort:
            report.aborted = message.error or "aborted"
            break
    return report


def payload_of(row: Notification, render: Render) -> Payload:
    """The row's view rendered now; a row planned before views were stored carries its payload."""
    if row.message_view:
        return render(views.decode(row.message_view))
    return Payload(row.text, list(row.blocks))


def _dry_run(engine: Engine, *, render: Render, limit: int) -> DeliverReport:
    report = DeliverReport(dry_run=True)
    with session_scope(engine) as session:
        stmt = (
            select(Notification)
            .where(Notification.status == NotificationStatus.PENDING)
            .order_by(col(Notification.not_before), col(Notification.id))
            .limit(limit)
        )
        for row in session.exec(stmt):
            report.messages.append(_message_of(row, payload_of(row, render).text, sent=False))
    return report


def _message_of(row: Notification, text: str, *, sent: bool, receipt_sent: Sent | None = None) -> DeliveredMessage:
    assert row.id is not None
    return DeliveredMessage(
        notification_id=row.id,
        recipient=row.recipient_key,
        reason=row.reason,
        conflict_ids=tuple(row.conflict_ids),
        text=text,
        sent=sent,
        status=NotificationStatus.SENT if sent else row.status,
        not_before=row.not_before,
        channel=receipt_sent.channel if receipt_sent else row.slack_channel,
        ts=receipt_sent.ts if receipt_sent else row.slack_ts,
        thread_ts=receipt_sent.thread_ts if receipt_sent else row.slack_thread_ts,
    )


def post_mark(row: Notification) -> str:
    """Names this outbox row among every message the bot ever sent: the idempotency key alone
    repeats after a store is reset (conflict ids start over), the row's creation time does not."""
    created = row.created_at.isoformat() if row.created_at else ""
    return f"{row.idempotency_key}/{row.id}/{created}"


def _reply_to(parent: Notification | None) -> Sent | None:
    """The earlier DM a follow-up threads under, once it has gone out."""
    if parent is None or parent.status != NotificationStatus.SENT or not parent.slack_ts:
        return None
    return Sent(parent.slack_channel or "", parent.slack_ts, parent.slack_thread_ts)


def _deliver_one(
    engine: Engine, channel: Channel, row_id: int, *, now: datetime, token: str
) -> tuple[DeliveredMessage, bool]:
    """Send one claimed row; returns what happened and whether the whole pass must stop."""
    out = outbox.load_outgoing(engine, row_id)
    row = out.row
    payload = payload_of(row, channel.render)
    if out.closed and row.reason != NotificationReason.RESOLVED:
        outbox.finish(
            engine, row_id, token, status=NotificationStatus.SKIPPED, last_error="its conflicts closed before it was sent"
        )
        return dataclasses.replace(_message_of(row, payload.text, sent=False), status=NotificationStatus.SKIPPED), False
    address = Address(row.recipient_key, out.user_id, reply_to=_reply_to(out.parent))
    try:
        if not address.user_id:
            user_id = channel.resolve(row.recipient_key, out.email)
            outbox.remember_user_id(engine, row.recipient_key, user_id)
            address = dataclasses.replace(address, user_id=user_id)
        receipt = channel.send(address, payload, mark=post_mark(row), maybe_sent=row.attempts > 0)
    except DeliveryError as exc:
        unsent = _message_of(row, payload.text, sent=False)
        message = outbox.failed(engine, row, token, unsent, now=now, error=str(exc), permanent=not exc.retryable)
        return message, exc.stops_pass
    marked = outbox.finish(
        engine, row_id, token, status=NotificationStatus.SENT, slack_channel=receipt.sent.channel,
        slack_ts=receipt.sent.ts, slack_thread_ts=receipt.sent.thread_ts, sent_at=now, last_error=None,
        text=payload.text, blocks=payload.blocks,
    )
    if not marked:
        log.warning("notification %s was sent after its claim expired; the next sender finds it in Slack", row_id)
    if receipt.found:
        log.info("notification %s was already in Slack; recorded as sent, not sent again", row_id)
    if row.reason == NotificationReason.RESOLVED and out.parent is not None and out.parent_closed:
        _close_parent(engine, channel, out.parent, payload.text.splitlines()[0] if payload.text else "Resolved")
    sent = dataclasses.replace(_message_of(row, payload.text, sent=True, receipt_sent=receipt.sent), found_in_slack=receipt.found)
    return sent, False


def _close_parent(engine: Engine, channel: Channel, parent: Notification, note: str) -> None:
    """Rewrite the earlier DM to say its conflicts are closed (best effort: the reply went out)."""
    if not parent.slack_channel or not parent.slack_ts:
        return
    where = Sent(parent.slack_channel, parent.slack_ts, parent.slack_thread_ts)
    try:
        closed = channel.close(where, Payload(parent.text, list(parent.blocks)), note)
    except Exception as exc:  # noqa: BLE001 - the thread reply already told them
        log.warning("could not update DM %s: %s", parent.id, outbox.one_line(str(exc)))
        return
    outbox.save_payload(engine, parent.id, closed.text, closed.blocks)
