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

from dataclasses import dataclass
from typing import Any

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


def message_change(event: dict[str, Any]) -> MessageChange | None:
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
