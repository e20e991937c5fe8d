"""One way to build a slack-sdk WebClient, shared by the Slack connector and the notifier."""

from __future__ import annotations

import json
import threading
from typing import Any
from http.client import HTTPException, RemoteDisconnected
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.jitter import RandomJitter
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from connectors.base import ConnectorError, TransientError, UnreachableError
from connectors.toolkit import RequestCount

DEFAULT_SLACK_BASE_URL = "https://slack.com/api/"

# Errors a user must act on, with what to do about them.
_ACTIONABLE = {
    "invalid_auth": "the Slack token is invalid (check SLACK_BOT_TOKEN)",
    "not_authed": "no Slack token was sent (set SLACK_BOT_TOKEN)",
    "token_revoked": "the Slack token was revoked (install the app again)",
    "account_inactive": "the Slack token belongs to a deactivated account",
    "not_in_channel": "the bot is not a member of the channel (invite it with /invite)",
    "channel_not_found": "the channel does not exist or the bot cannot see it",
    "is_archived": "the channel is archived",
    "user_not_found": "the Slack user does not exist",
}
# slack-sdk reports a 200 answer that is not JSON as an `ok: false` error with this text.
_NON_JSON = "Received a response in a non-JSON format"
_TRANSIENT = {"ratelimited", "rate_limited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
# Methods whose repeat is a second effect (a second message): never retried blindly once the
# request may have arrived; the caller looks for the message instead (reconciler/notify/channels/slack.py).
_NOT_REPEATABLE = frozenset({"chat.postMessage", "chat.postEphemeral", "chat.scheduleMessage"})
# 502/504 come from Slack's edge as an HTML page; ServerErrorRetryHandler retries only 500/503.
RETRIED_STATUSES = frozenset({500, 502, 503, 504})


def _method_of(request: HttpRequest) -> str:
    return request.url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]


def _may_have_arrived(error: Exception | None) -> bool:
    """urllib wraps failures before the request was sent (connect refused, DNS) in URLError;
    a timeout or a dropped connection while waiting for the answer is raised as is."""
    if isinstance(error, URLError):
        return isinstance(error.reason, (TimeoutError, ConnectionResetError, RemoteDisconnected))
    return True


class TransportRetryHandler(ConnectionErrorRetryHandler):
    """Connection errors and timeouts, with backoff; a post only when it cannot have arrived."""

    def _can_retry(
        self, *, state: RetryState, request: HttpRequest, response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if not super()._can_retry(state=state, request=request, response=response, error=error):
            return False
        return _method_of(request) not in _NOT_REPEATABLE or not _may_have_arrived(error)


class GatewayErrorRetryHandler(RetryHandler):
    """HTTP 500/502/503/504 (JSON or an HTML gateway page), with backoff; not for a post,
    which Slack may have accepted before failing."""

    def _can_retry(
        self, *, state: RetryState, request: HttpRequest, response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return (
            response is not None
            and response.status_code in RETRIED_STATUSES
            and _method_of(request) not in _NOT_REPEATABLE
        )


def outcome_unknown(exc: BaseException) -> bool:
    """Whether a failed call may still have taken effect: no answer or a cut-off one (timeout,
    dropped connection, truncated body), or a server error after the request arrived."""
    if isinstance(exc, SlackApiError):
        response = exc.response
        status = getattr(response, "status_code", None) if response is not None else None
        code = str(response.get("error", "")) if response is not None else ""
        return code.startswith(_NON_JSON) or (status is not None and status >= 500)
    return isinstance(exc, (SlackClientError, OSError, HTTPException, ValueError))


class CountingRateLimitRetryHandler(RateLimitErrorRetryHandler):
    """slack-sdk's 429 handler (waits `Retry-After`, then retries), counting the 429s it waited
    out per thread (the handler runs in the thread that made the request; channels of one run
    may be read at the same time)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._waited = threading.local()

    def _count(self) -> RequestCount:
        count: RequestCount | None = getattr(self._waited, "count", None)
        if count is None:
            count = self._waited.count = RequestCount()
        return count

    def prepare_for_next_attempt(self, **kwargs: Any) -> None:
        self._count().throttle()
        super().prepare_for_next_attempt(**kwargs)

    def take(self) -> int:
        return self._count().take_throttled()


def take_throttled(client: Any) -> int:
    """The 429 answers this thread's requests through `client` (made by `make_web_client`)
    waited out since it last asked."""
    handlers = getattr(client, "retry_handlers", None) or []
    return sum(h.take() for h in handlers if isinstance(h, CountingRateLimitRetryHandler))


def make_web_client(
    token: str,
    base_url: str = DEFAULT_SLACK_BASE_URL,
    *,
    timeout: float = 30,
    max_retries: int = 5,
    backoff_factor: float = 0.5,
) -> WebClient:
    """A WebClient that sleeps on 429 `Retry-After` and backs off on 5xx (HTML gateway pages
    included), resets, timeouts and cut-off answers; a chat.postMessage is retried only where it
    cannot have been posted (see TransportRetryHandler, GatewayErrorRetryHandler)."""
    interval = BackoffRetryIntervalCalculator(backoff_factor=backoff_factor, jitter=RandomJitter())
    handlers: list[RetryHandler] = [
        TransportRetryHandler(
            max_retry_count=max_retries,
            interval_calculator=interval,
            # a cut-off JSON body surfaces as JSONDecodeError from slack-sdk's own parsing
            error_types=[URLError, ConnectionResetError, RemoteDisconnected, TimeoutError, json.JSONDecodeError],
        ),
        CountingRateLimitRetryHandler(max_retry_count=max_retries),
        GatewayErrorRetryHandler(max_retry_count=max_retries, interval_calculator=interval),
    ]
    return WebClient(token=token, base_url=base_url, timeout=timeout, retry_handlers=handlers)


def describe_slack_error(exc: SlackApiError, *, where: str) -> ConnectorError:
    """Turn a SlackApiError into a one-line ConnectorError naming `where` (a channel, a user).

    A `missing_scope` answer names the scope Slack asked for.
    """
    response = exc.response
    code = str(response.get("error", "unknown_error")) if response is not None else "unknown_error"
    if code == "missing_scope":
        needed = response.get("needed", "?") if response is not None else "?"
        return ConnectorError(f"Slack {where}: the app lacks the scope {needed!r} (missing_scope)")
    explanation = _ACTIONABLE.get(code)
    status = getattr(response, "status_code", None)
    if code.startswith(_NON_JSON):
        return TransientError(f"Slack {where}: temporary failure (the answer was not JSON, HTTP {status})")
    if code in _TRANSIENT or (status is not None and (status == 429 or status >= 500)):
        return TransientError(f"Slack {where}: temporary failure ({code}, HTTP {status})")
    if explanation:
        return ConnectorError(f"Slack {where}: {explanation} ({code})")
    return ConnectorError(f"Slack {where}: {code}")


def rate_limit_key(method: str) -> str:
    """The RateLimiter key for a Web API method, e.g. "slack:conversations.history".

    Slack's limits are per method (each method has its tier's budget to itself), so the key
    names the method and the limiter (workers/ratelimit.py) maps it to its tier, or to the 1/min
    history/replies budget of a marketplace-limited app."""
    return f"slack:{method}"


def describe_transport_error(exc: Exception, *, where: str) -> ConnectorError | None:
    """A TransientError for a failure below the API (connection reset, timeout, a truncated
    answer) once slack-sdk's retries are spent; None for anything else (a bug to surface)."""
    if isinstance(exc, SlackApiError):
        return describe_slack_error(exc, where=where)
    if isinstance(exc, (URLError, OSError, json.JSONDecodeError, SlackClientError)):
        reason = getattr(exc, "reason", None) or type(exc).__name__
        error = UnreachableError if isinstance(exc, OSError) else TransientError  # URLError too
        return error(f"Slack {where}: temporary failure ({reason})")
    return None
