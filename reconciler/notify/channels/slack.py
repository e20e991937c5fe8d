"""The Slack DM channel: Block Kit plus a plain-text fallback, sent with slack-sdk.

A DM carries its outbox row's mark in message `metadata`, so a post whose answer was lost (a
timeout, a 5xx, a sender killed before it recorded the answer) is looked for in the DM channel's
recent history before it is called failed or sent again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.client import HTTPException
from typing import Any, NoReturn, TypeVar

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from connectors.base import Source
from connectors.plugin import ApiErrors
from connectors.registry import current_sources
from reconciler import messages, untrusted
from reconciler.messages import MessageView
from reconciler.notify.channels.base import Address, Payload, PermanentError, Receipt, RetryableError, Sent

log = logging.getLogger(__name__)

NOTIFICATION_EVENT = "reconciler_notification"  # the metadata event type that marks our DMs
HISTORY_PAGES = 3  # pages of the DM channel's (or thread's) recent history searched for a DM
ABORT_ERRORS = frozenset({"invalid_auth", "not_authed", "token_revoked", "account_inactive", "missing_scope"})
PERMANENT_ERRORS = frozenset({"user_not_found", "user_disabled", "cannot_dm_bot", "channel_not_found"})
_NO_EMAIL_SCOPE = "the Slack token lacks the users:read.email scope to look people up"

T = TypeVar("T")


def render(view: MessageView) -> Payload:
    return Payload(messages.render_text(view), messages.render_blocks(view))


def metadata(mark: str) -> dict[str, Any]:
    """What marks a DM as one outbox row's, so a post whose answer was lost can be found."""
    return {"event_type": NOTIFICATION_EVENT, "event_payload": {"notification": mark}}


def mark_of(message: dict[str, Any]) -> str | None:
    meta = message.get("metadata") or {}
    if meta.get("event_type") != NOTIFICATION_EVENT:
        return None
    mark = (meta.get("event_payload") or {}).get("notification")
    return str(mark) if mark is not None else None


@dataclass
class SlackDM:
    """Slack calls for one delivery pass: DM channels and email lookups cached, posts to one
    conversation spaced `min_interval` seconds apart."""

    client: WebClient
    min_interval: float = 1.0
    name: str = "slack"
    channels: dict[str, str] = field(default_factory=dict)
    last_call: dict[str, float] = field(default_factory=dict)
    ids_by_email: dict[str, str | None] = field(default_factory=dict)
    history_unavailable: bool = False  # the token may not read DM history (no im:history)

    def render(self, view: MessageView) -> Payload:
        return render(view)

    # -- the channel interface ----------------------------------------------------------------

    def resolve(self, recipient_key: str, email: str | None) -> str:
        """The Slack user id of a person known by email only (users.lookupByEmail)."""
        if not email:
            raise PermanentError(f"DM to {recipient_key}: the person has no Slack user id or email to look one up by")
        slack_id = self._classified(recipient_key, lambda: self._look_up(recipient_key, email))
        if slack_id is None:
            raise PermanentError(
                f"DM to {recipient_key}: the person has no Slack user id and no Slack user has the email {email}"
            )
        return slack_id

    def send(self, address: Address, payload: Payload, *, mark: str, maybe_sent: bool) -> Receipt:
        user_id = address.user_id
        if not user_id:
            raise PermanentError(f"DM to {address.recipient_key}: the person has no Slack user id")
        thread_ts = address.reply_to.thread_ts or address.reply_to.ts if address.reply_to else None

        def deliver() -> Receipt:
            channel = self._open_dm(user_id)
            ts = self._already_posted(channel, mark, thread_ts) if maybe_sent else None
            found = ts is not None
            if ts is None:
                ts, found = self._post_or_find(channel, payload, thread_ts, mark)
            return Receipt(Sent(channel, ts, thread_ts), found=found)

        return self._classified(address.recipient_key, deliver)

    def close(self, sent: Sent, payload: Payload, note: str) -> Payload:
        new_text, new_blocks = messages.mark_closed(payload.text, payload.blocks, note)
        self._pace(sent.channel)
        self.client.chat_update(
            channel=sent.channel, ts=sent.ts, text=untrusted.for_slack(new_text), blocks=new_blocks or None
        )
        return Payload(new_text, new_blocks)

    # -- Slack calls --------------------------------------------------------------------------

    def _classified(self, recipient_key: str, call: Callable[[], T]) -> T:
        """Run `call`, turning the Slack failures it may meet into Retryable/PermanentError."""
        try:
            return call()
        except SlackApiError as exc:
            _raise_api_error(exc, recipient_key)
        except _LookupUnavailable as exc:  # retried with backoff: the scope may be granted
            raise RetryableError(f"DM to {recipient_key}: no Slack user id, and {exc}") from None
        except (SlackClientError, OSError, HTTPException, ValueError) as exc:
            # connection errors after the client's own retries, timeouts, unreadable answers. No
            # answer at all: the next DM would wait as long for nothing, so the pass stops here.
            error = f"DM to {recipient_key}: {type(exc).__name__}: {_one_line(str(exc))}"
            raise RetryableError(error, stops_pass=isinstance(exc, (OSError, HTTPException))) from None

    def _look_up(self, recipient_key: str, email: str) -> str | None:
        if email not in self.ids_by_email:
            try:
                response = self.client.users_lookupByEmail(email=email)
                self.ids_by_email[email] = str(response["user"]["id"])
            except SlackApiError as exc:
                code = exc.response.get("error") if exc.response is not None else None
                if code == "missing_scope":  # only this lookup needs users:read.email: DMs go on
                    raise _LookupUnavailable(_NO_EMAIL_SCOPE) from None
                if code != "users_not_found":
                    raise
                self.ids_by_email[email] = None
            if self.ids_by_email[email]:
                log.info("found the Slack user of %s by email", recipient_key)
        return self.ids_by_email[email]

    def _open_dm(self, slack_id: str) -> str:
        if slack_id not in self.channels:
            response = self.client.conversations_open(users=slack_id)
            self.channels[slack_id] = str(response["channel"]["id"])
        return self.channels[slack_id]

    def _pace(self, channel: str) -> None:
        last = self.last_call.get(channel)
        if last is not None and self.min_interval > 0:
            wait = self.min_interval - (time.monotonic() - last)
            if wait > 0:
                time.sleep(wait)
        self.last_call[channel] = time.monotonic()

    def _post(self, channel: str, payload: Payload, thread_ts: str | None, mark: str) -> str:
        self._pace(channel)
        # the plain-text fallback is mrkdwn too: source text in it must not ping or link
        kwargs: dict[str, Any] = {
            "channel": channel, "text": untrusted.for_slack(payload.text), "blocks": payload.blocks or None,
            "metadata": metadata(mark),
        }
        if thread_ts:
            kwargs["thread_ts"] = thread_ts
        response = self.client.chat_postMessage(**kwargs)
        return str(response["ts"])

    def _find_posted(self, channel: str, mark: str, thread_ts: str | None) -> str | None:
        """The ts of the message whose metadata carries `mark`, searched in the DM channel's
        recent history (a thread reply: in the thread), or None."""
        cursor: str | None = None
        for _ in range(HISTORY_PAGES):
            if thread_ts:
                page = self.client.conversations_replies(
                    channel=channel, ts=thread_ts, cursor=cursor, limit=200, include_all_metadata=True
                )
            else:
                page = self.client.conversations_history(
                    channel=channel, cursor=cursor, limit=100, include_all_metadata=True
                )
            for message in page.get("messages") or []:
                if mark_of(message) == mark:
                    return str(message["ts"])
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                return None
        return None

    def _post_or_find(self, channel: str, payload: Payload, thread_ts: str | None, mark: str) -> tuple[str, bool]:
        """Post (with the mark); when the answer is lost, look for the post before calling it
        failed. Returns (ts, whether it was found rather than answered)."""
        try:
            return self._post(channel, payload, thread_ts, mark), False
        except Exception as exc:
            if not _slack_errors().outcome_unknown(exc):
                raise
            try:
                ts = self._find_posted(channel, mark, thread_ts)
            except Exception:  # noqa: BLE001 - the lookup failing too: report the post's own error
                raise exc from None
            if ts is None:
                raise
            return ts, True

    def _already_posted(self, channel: str, mark: str, thread_ts: str | None) -> str | None:
        """An earlier attempt's outcome may be unknown: its ts if Slack has it, else None. Without
        the `im:history` scope Slack cannot be asked, and the row is sent again (at least once)."""
        if self.history_unavailable:
            return None
        try:
            return self._find_posted(channel, mark, thread_ts)
        except SlackApiError as exc:
            if exc.response is None or exc.response.get("error") != "missing_scope":
                raise
            self.history_unavailable = True
            log.warning("the Slack token lacks im:history: a DM whose answer was lost may be sent twice")
            return None


def _slack_errors() -> ApiErrors:
    """How Slack's answers read, as the Slack plugin says (`SourcePlugin.api_errors`)."""
    errors = current_sources().get(Source.SLACK).api_errors
    assert errors is not None, "the Slack plugin reads its API errors"
    return errors


class _LookupUnavailable(Exception):
    """Slack cannot be asked for a user by email with this token."""


def _raise_api_error(exc: SlackApiError, recipient_key: str) -> NoReturn:
    code = str(exc.response.get("error", "")) if exc.response is not None else ""
    error = str(_slack_errors().describe(exc, f"DM to {recipient_key}"))
    if code in PERMANENT_ERRORS:
        raise PermanentError(error) from None
    raise RetryableError(error, stops_pass=code in ABORT_ERRORS) from None


def _one_line(text_: str) -> str:
    return " ".join(text_.split())
