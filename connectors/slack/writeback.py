"""Writing a decision back to Slack: one reply in each thread that carried evidence, found
again rather than posted twice when an earlier answer was lost."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from connectors.base import RateLimiter, Source
from connectors.plugin import Credentials, Evidence, WriteBack, WriteTarget

if TYPE_CHECKING:
    from slack_sdk import WebClient

WRITEBACK_EVENT = "reconciler_writeback"  # the metadata event type that marks our thread replies
REPLY_PAGES = 5  # pages of a thread searched for a reply whose answer was lost


def slack_targets(evidence: Sequence[Evidence]) -> tuple[list[WriteTarget], list[str]]:
    """One target per thread: a reply's thread is its parent's (from the permalink's thread_ts)."""
    targets: dict[tuple[str, str], WriteTarget] = {}
    for obs in evidence:
        if obs.source != Source.SLACK:
            continue
        channel, _, ts = obs.source_ref.partition(":")
        if not channel or not ts:
            continue
        thread = _thread_ts(obs.permalink) or ts
        if (channel, thread) not in targets:
            targets[(channel, thread)] = WriteTarget(
                source=Source.SLACK.value,
                ref=channel,
                label=_channel_label(channel, obs.partition),
                permalink=_thread_permalink(obs.permalink, thread, ts),
                thread_ts=thread,
                action="reply in thread",
            )
    return list(targets.values()), []


def _thread_ts(permalink: str | None) -> str | None:
    """A reply's permalink carries `?thread_ts=<parent ts>`; a top-level message's does not."""
    if not permalink:
        return None
    values = parse_qs(urlsplit(permalink).query).get("thread_ts")
    return values[0] if values else None


def _thread_permalink(permalink: str | None, thread: str, ts: str) -> str | None:
    """The thread's link: the parent's permalink (built from a reply's, same workspace)."""
    if not permalink or thread == ts:
        return permalink
    parts = urlsplit(permalink)
    base = parts.path.rsplit("/", 1)[0]
    return f"{parts.scheme}://{parts.netloc}{base}/p{thread.replace('.', '')}"


def _channel_label(channel: str, partition: str | None) -> str:
    if partition and partition not in (channel, f"#{channel}"):
        return f"Slack #{partition.lstrip('#')} ({channel})"
    return f"Slack channel {channel}"


class SlackWriter:
    """Replies in threads through the connectors' WebClient (retries, 429s)."""

    def __init__(self, client: WebClient):
        self._client = client

    def write(self, target: WriteTarget, text: str, *, mark: str) -> str:
        """Reply in the thread once: a reply already there (an earlier run whose answer was lost,
        or that died before recording it) is reused; a post whose answer is lost is looked for."""
        from connectors.slack.client import describe_transport_error, outcome_unknown

        found = self._find_reply(target, mark)
        if found is not None:
            return found
        try:
            answer = self._client.chat_postMessage(
                channel=target.ref, thread_ts=target.thread_ts, text=text,
                metadata={"event_type": WRITEBACK_EVENT, "event_payload": {"writeback": mark}},
            )
        except Exception as exc:  # one line below, or re-raised when it is no API failure
            found = self._find_reply(target, mark) if outcome_unknown(exc) else None
            if found is not None:
                return found
            described = describe_transport_error(exc, where=target.label.removeprefix("Slack "))
            if described is None:
                raise
            raise described from None
        return str(answer.get("ts") or "")

    def _find_reply(self, target: WriteTarget, mark: str) -> str | None:
        """The ts of our reply carrying `mark` in the target's thread, or None (also when the
        thread cannot be read: the post then says why, or goes out)."""
        if not target.thread_ts:
            return None
        cursor: str | None = None
        try:
            for _ in range(REPLY_PAGES):
                page = self._client.conversations_replies(
                    channel=target.ref, ts=target.thread_ts, cursor=cursor, limit=200, include_all_metadata=True
                )
                for message in page.get("messages") or []:
                    meta = message.get("metadata") or {}
                    if meta.get("event_type") == WRITEBACK_EVENT and (meta.get("event_payload") or {}).get("writeback") == mark:
                        return str(message["ts"])
                cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
                if not cursor:
                    return None
        except Exception:  # noqa: BLE001 - a thread we cannot read: the post decides
            return None
        return None

    def close(self) -> None:
        return None


def _writer(credentials: Credentials, rate_limiter: RateLimiter, timeout: float) -> SlackWriter:
    from connectors.slack.client import make_web_client

    return SlackWriter(make_web_client(credentials.token or "", credentials.base_url))


def _audit(target: WriteTarget) -> dict[str, Any]:
    return {"target": "slack", "channel": target.ref, "thread_ts": target.thread_ts}


def _place(details: Mapping[str, Any]) -> tuple[str, str | None]:
    return str(details.get("channel")), details.get("thread_ts")


writeback = WriteBack(
    targets=slack_targets, writer=_writer, audit=_audit, place=_place, result_key="ts", markup="slack_mrkdwn"
)
