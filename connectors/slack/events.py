"""Slack's pushed `message` events as changes to one message, for the same mapping the poller uses.

The Events API tells of a message three ways: the message itself (a post, a thread reply, a
reply also sent to the channel), `message_changed` (the whole new message, with `edited.ts`
when a person edited it; Slack also sends it when only a parent's reply count moved) and
`message_deleted` (`deleted_ts`). Each becomes a `MessageChange`: which message, which version
of it (the edit's ts, else the message's ts; a deletion is final), and the message as
`conversations.history` would show it, which `SlackConnector.message_batch` states exactly as a
run would, so a pushed event and a poll of the same message give the same claims.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connectors.base import Connector, Retraction, Source, SyncBatch
from connectors.plugin import PushedChange, PushMapping

# subtypes that carry no message of their own to state (threads are read through their replies)
_IGNORED = frozenset({"message_replied", "channel_topic", "channel_purpose", "channel_name", "pinned_item",
                      "unpinned_item", "ekm_access_denied", "assistant_app_thread"})


@dataclass(frozen=True, slots=True)
class MessageChange:
    channel: str
    ts: str
    version: str  # the edit's ts, else the message's: an older version never replaces a newer one
    message: dict[str, Any] | None  # None: deleted
    thread: str | None  # the parent's ts, for a reply

    @property
    def deleted(self) -> bool:
        return self.message is None

    @property
    def source_ref(self) -> str:
        return f"{self.channel}:{self.ts}"


def message_change(event: Mapping[str, Any]) -> MessageChange | None:
    """The change a `message` event makes, or None for one that states no message."""
    if event.get("type") != "message":
        return None
    channel = str(event.get("channel") or "")
    subtype = event.get("subtype")
    if not channel or subtype in _IGNORED:
        return None
    if subtype == "message_deleted":
        ts = str(event.get("deleted_ts") or "")
        previous = event.get("previous_message") or {}
        version = str(event.get("ts") or event.get("event_ts") or ts)
        return MessageChange(channel, ts, version, None, _thread_of(previous, ts)) if ts else None
    message = event.get("message") if subtype == "message_changed" else event
    if not isinstance(message, dict) or not message.get("ts"):
        return None
    ts = str(message["ts"])
    shown = {k: v for k, v in message.items() if k not in ("channel", "event_ts", "channel_type", "client_msg_id")}
    version = str((message.get("edited") or {}).get("ts") or ts)
    return MessageChange(channel, ts, version, shown, _thread_of(message, ts))


def _thread_of(message: dict[str, Any], ts: str) -> str | None:
    thread = message.get("thread_ts")
    return str(thread) if thread and str(thread) != ts else None


# -- the Slack plugin's push mapping (`SourcePlugin.pushed`) ----------------------------------------


def _pushed(event: Mapping[str, Any]) -> PushedChange | None:
    change = message_change(event)
    if change is None:
        return None
    return PushedChange(change.channel, change.source_ref, change.version, change.deleted, change)


def _place(connect: Callable[[], Connector], partition: str, cursor: str | None) -> str:
    """The channel id: the one the poller's cursor remembers, else asked (conversations.list)."""
    from connectors.slack.connector import ChannelCursor, SlackConnector

    remembered = ChannelCursor.channel_of(cursor)
    if remembered:
        return remembered
    connector = connect()
    assert isinstance(connector, SlackConnector)
    return connector.channel_id(partition)


def _batch(connector: Connector, partition: str, cursor: str | None, pushed: PushedChange) -> SyncBatch:
    from connectors.slack.connector import SlackConnector

    assert isinstance(connector, SlackConnector)
    change: MessageChange = pushed.item
    if change.message is None:
        return SyncBatch(retractions=[Retraction(Source.SLACK, change.source_ref)])
    _, batch = connector.message_batch(partition, cursor, change.message, thread=change.thread)
    return batch


def _cursor_after(connector: Connector, cursor: str | None, pushed: PushedChange, claims: bool) -> str | None:
    """A reply is noted on its watched thread, so the next poll does not read the thread for it."""
    from connectors.slack.connector import SlackConnector

    assert isinstance(connector, SlackConnector)
    change: MessageChange = pushed.item
    if change.thread is None:
        return None
    return connector.cursor_after_reply(cursor, change.channel, parent=change.thread, reply=change.ts,
                                        deleted=change.deleted, claims=claims)


def _version_key(version: str) -> tuple[int, int]:
    from connectors.slack.connector import ts_key

    return ts_key(version)


def _version_time(version: str) -> datetime:
    from connectors.slack.connector import ts_to_datetime

    return ts_to_datetime(version)


pushed_messages = PushMapping(
    change=_pushed, place=_place, batch=_batch, cursor_after=_cursor_after,
    version_key=_version_key, version_time=_version_time,
)
