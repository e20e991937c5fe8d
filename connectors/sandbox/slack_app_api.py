"""The Slack app side of the fake workspace: what an interactive app talks to.

- Web API methods an app calls: `apps.connections.open` (Socket Mode), `views.open`,
  `views.update`, `views.publish`, `chat.postEphemeral`;
- response URLs (`/slack/responses/<id>`) that record what an app posts to them;
- a Socket Mode server (a local WebSocket, via the `websockets` package) that pushes
  `events_api`, `interactive` and `slash_commands` envelopes and records each ack;
- payload builders for the interactions people make (a click, a modal submission, a slash
  command, opening the Home tab), and a signed HTTP delivery of them for apps in HTTP mode.

Tests drive it like Slack would: `push_*` a payload to the connected app, wait for its ack and
for the Web API calls it makes after the ack (`calls`, in order, with the acks among them).
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import itertools
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from .slack_api import SlackError, SlackState

ACK_DEADLINE = 3.0
RESPONSE_PREFIX = "/slack/responses/"


@dataclass
class Ack:
    envelope_id: str
    type: str
    payload: dict[str, Any] | None
    seconds: float  # from push to ack; Slack retries an envelope not acked within 3 s

    @property
    def late(self) -> bool:
        return self.seconds > ACK_DEADLINE


@dataclass
class _Trigger:
    user: str
    used: bool = False


@dataclass
class SlackAppState:
    """Views, ephemeral messages, response URLs and the Socket Mode server of one workspace."""

    slack: SlackState
    base_url: str = ""  # the sandbox's own address, set when it starts
    views: dict[str, dict[str, Any]] = field(default_factory=dict)  # view id -> view (with "user")
    homes: dict[str, dict[str, Any]] = field(default_factory=dict)  # user id -> published Home view
    ephemerals: list[dict[str, Any]] = field(default_factory=list)
    responses: list[dict[str, Any]] = field(default_factory=list)  # posts to response URLs
    calls: list[tuple[str, Any]] = field(default_factory=list)  # ("ack", envelope id) / ("call", method)
    _triggers: dict[str, _Trigger] = field(default_factory=dict)
    _ids: Any = field(default_factory=lambda: itertools.count(1))
    _lock: threading.RLock = field(default_factory=threading.RLock)
    socket_mode: SocketModeServer | None = None

    METHODS = {
        "apps.connections.open": "apps_connections_open",
        "views.open": "views_open",
        "views.update": "views_update",
        "views.publish": "views_publish",
        "chat.postEphemeral": "chat_post_ephemeral",
    }

    def call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.calls.append(("call", method))
            return {"ok": True, **getattr(self, self.METHODS[method])(params)}

    def note_web_call(self, method: str) -> None:
        """A Web API call the workspace answered (chat.update, …), in order with the acks."""
        with self._lock:
            self.calls.append(("call", method))

    def _next(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):06d}"

    # -- methods --------------------------------------------------------------------------

    def apps_connections_open(self, p: dict[str, Any]) -> dict[str, Any]:
        if self.socket_mode is None:
            try:
                self.socket_mode = SocketModeServer(self).start()
            except ImportError:
                raise SlackError("not_supported", detail="the sandbox's Socket Mode needs the websockets package "
                                 "(pip install -e '.[test]')") from None
        return {"url": self.socket_mode.url}

    @staticmethod
    def _view(p: dict[str, Any]) -> dict[str, Any]:
        view = p.get("view")
        if isinstance(view, str):
            try:
                view = json.loads(view)
            except json.JSONDecodeError:
                raise SlackError("invalid_arguments") from None
        if not isinstance(view, dict) or view.get("type") not in ("modal", "home"):
            raise SlackError("invalid_arguments")
        if len(view.get("blocks") or []) > 100:
            raise SlackError("invalid_blocks", detail="at most 100 blocks")
        if len(str(view.get("private_metadata") or "")) > 3000:
            raise SlackError("invalid_arguments", detail="private_metadata is longer than 3000 characters")
        return view

    def views_open(self, p: dict[str, Any]) -> dict[str, Any]:
        trigger = self._triggers.get(str(p.get("trigger_id") or ""))
        if trigger is None:
            raise SlackError("invalid_trigger_id")
        if trigger.used:
            raise SlackError("expired_trigger_id")
        view = self._view(p)
        if view["type"] != "modal":
            raise SlackError("invalid_arguments")
        trigger.used = True
        view_id = self._next("V")
        stored = {**copy.deepcopy(view), "id": view_id, "user": trigger.user}
        self.views[view_id] = stored
        return {"view": copy.deepcopy(stored)}

    def views_update(self, p: dict[str, Any]) -> dict[str, Any]:
        view_id = str(p.get("view_id") or "")
        if view_id not in self.views:
            raise SlackError("not_found")
        self.views[view_id] = {**self._view(p), "id": view_id, "user": self.views[view_id]["user"]}
        return {"view": copy.deepcopy(self.views[view_id])}

    def views_publish(self, p: dict[str, Any]) -> dict[str, Any]:
        user = str(p.get("user_id") or "")
        if user not in self.slack.users:
            raise SlackError("user_not_found")
        view = self._view(p)
        if view["type"] != "home":
            raise SlackError("invalid_arguments")
        self.homes[user] = copy.deepcopy(view)
        return {"view": {**copy.deepcopy(view), "id": self._next("VH")}}

    def chat_post_ephemeral(self, p: dict[str, Any]) -> dict[str, Any]:
        user = str(p.get("user") or "")
        if user not in self.slack.users:
            raise SlackError("user_not_found")
        channel = self.slack._channel_id(p.get("channel"))
        blocks = SlackState._blocks(p)
        text = str(p.get("text") or "")
        if not text and not blocks:
            raise SlackError("no_text")
        self.ephemerals.append({"channel": channel, "user": user, "text": text, "blocks": blocks})
        return {"message_ts": f"{time.time():.6f}"}

    # -- response URLs ----------------------------------------------------------------------

    def response_url(self) -> str:
        return f"{self.base_url}{RESPONSE_PREFIX}{self._next('R')}"

    def receive_response(self, path: str, body: bytes) -> None:
        try:
            payload = json.loads(body or b"{}")
        except json.JSONDecodeError:
            payload = {"unparsed": body.decode("utf-8", "replace")}
        with self._lock:
            self.calls.append(("call", "response_url"))
            self.responses.append({"url": path, **payload})

    # -- interactions people make -----------------------------------------------------------

    def new_trigger(self, user: str) -> str:
        trigger_id = self._next("T") + ".sandbox"
        self._triggers[trigger_id] = _Trigger(user)
        return trigger_id

    def block_actions(self, *, user: str, channel: str, message_ts: str, action: dict[str, Any]) -> dict[str, Any]:
        """A click on an element of a bot message, as Slack sends it (`action` is the element:
        a button's `action_id`/`value`/`block_id`, or a users select's `selected_user`)."""
        message = self.slack.messages.get(channel, {}).get(message_ts)
        if message is None:
            raise KeyError(f"no message {message_ts!r} in {channel}")
        return {
            "type": "block_actions",
            "team": {"id": self.slack.team.id, "domain": self.slack.team.domain},
            "user": {"id": user, "team_id": self.slack.team.id},
            "api_app_id": self.slack.bot.app_id,
            "token": "legacy-verification-token",
            "container": {"type": "message", "message_ts": message_ts, "channel_id": channel, "is_ephemeral": False},
            "trigger_id": self.new_trigger(user),
            "channel": {"id": channel},
            "message": {"ts": message_ts, "text": message.text, "blocks": copy.deepcopy(message.blocks)},
            "response_url": self.response_url(),
            "actions": [{**action, "action_ts": f"{time.time():.6f}"}],
        }

    def view_submission(self, view_id: str, values: dict[str, dict[str, dict[str, Any]]]) -> dict[str, Any]:
        """A modal submitted by the person it was opened for, with `values` as Slack's
        `view.state.values` ({block_id: {action_id: {"type": …, "value"/"selected_…": …}}})."""
        view = self.views[view_id]
        return {
            "type": "view_submission",
            "team": {"id": self.slack.team.id, "domain": self.slack.team.domain},
            "user": {"id": view["user"], "team_id": self.slack.team.id},
            "api_app_id": self.slack.bot.app_id,
            "token": "legacy-verification-token",
            "trigger_id": self.new_trigger(view["user"]),
            "view": {**{k: v for k, v in view.items() if k != "user"}, "state": {"values": values}},
        }

    def slash_command(self, *, user: str, command: str, text: str, channel: str = "C01") -> dict[str, str]:
        return {
            "token": "legacy-verification-token",
            "team_id": self.slack.team.id,
            "team_domain": self.slack.team.domain,
            "channel_id": channel,
            "user_id": user,
            "command": command,
            "text": text,
            "api_app_id": self.slack.bot.app_id,
            "response_url": self.response_url(),
            "trigger_id": self.new_trigger(user),
        }

    def app_home_opened(self, user: str) -> dict[str, Any]:
        """The Events API callback for a person opening the app's Home tab."""
        event_id = self._next("Ev")
        return {
            "token": "legacy-verification-token",
            "team_id": self.slack.team.id,
            "api_app_id": self.slack.bot.app_id,
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "event": {"type": "app_home_opened", "user": user, "channel": self.slack._open_dm(user), "tab": "home",
                      "event_ts": f"{time.time():.6f}"},
            "authorizations": [{"team_id": self.slack.team.id, "user_id": self.slack.bot.user_id, "is_bot": True}],
        }

    # -- message events (real-time sync) -------------------------------------------------------
    # A person's post, edit or deletion in the workspace, made here, can also be pushed to the
    # connected app as the Events API would: over Socket Mode while an app is connected, else as
    # a signed HTTP post to the URL given to `deliver_events_over_http`.

    events_url: str | None = None
    signing_secret: str | None = None

    def deliver_events_over_http(self, url: str | None, *, signing_secret: str | None = None) -> None:
        self.events_url, self.signing_secret = url, signing_secret

    def event_callback(self, event: dict[str, Any], *, event_id: str | None = None) -> dict[str, Any]:
        """An Events API callback around `event`, with a fresh event id unless one is given (a repeat)."""
        return {
            "token": "legacy-verification-token",
            "team_id": self.slack.team.id,
            "api_app_id": self.slack.bot.app_id,
            "type": "event_callback",
            "event_id": event_id or self._next("Ev"),
            "event_time": int(time.time()),
            "event": event,
            "authorizations": [{"team_id": self.slack.team.id, "user_id": self.slack.bot.user_id, "is_bot": True}],
        }

    def _shown(self, channel: str, ts: str) -> dict[str, Any]:
        with self.slack._lock:
            return self.slack.r_message(channel, self.slack.messages[channel][ts])

    def message_event(self, channel: str, ts: str) -> dict[str, Any]:
        """The `message` event of a message as it stands (a post, a reply, a broadcast reply)."""
        return {**self._shown(channel, ts), "channel": channel, "event_ts": ts, "channel_type": "channel"}

    def message_changed_event(self, channel: str, ts: str, previous: dict[str, Any]) -> dict[str, Any]:
        now = f"{time.time():.6f}"
        return {"type": "message", "subtype": "message_changed", "hidden": True, "channel": channel,
                "message": self._shown(channel, ts), "previous_message": previous, "ts": now, "event_ts": now,
                "channel_type": "channel"}

    def message_deleted_event(self, channel: str, ts: str, previous: dict[str, Any]) -> dict[str, Any]:
        now = f"{time.time():.6f}"
        return {"type": "message", "subtype": "message_deleted", "hidden": True, "channel": channel,
                "deleted_ts": ts, "previous_message": previous, "ts": now, "event_ts": now, "channel_type": "channel"}

    def emit(self, event: dict[str, Any], *, event_id: str | None = None, retry_num: int = 0) -> str:
        """Push one event to the app; returns the Socket Mode envelope id, or the HTTP status."""
        payload = self.event_callback(event, event_id=event_id)
        if self.events_url is not None:
            answer = post_signed(self.events_url, "events_api", payload, signing_secret=self.signing_secret or "",
                                 retry_num=retry_num or None)
            return str(answer.status)
        if self.socket_mode is None:
            raise RuntimeError("no app is connected to receive events (Socket Mode or deliver_events_over_http)")
        return self.socket_mode.push("events_api", payload, retry_attempt=retry_num)

    def post_and_emit(self, channel: str, user: str, text: str, *, thread_ts: str | None = None,
                      broadcast: bool = False) -> tuple[str, str]:
        """A person posts; the app hears of it. Returns (ts, envelope id or HTTP status)."""
        ts = self.slack.post(channel, user, text, thread_ts=thread_ts, broadcast=broadcast)
        return ts, self.emit(self.message_event(channel, ts))

    def edit_and_emit(self, channel: str, ts: str, text: str) -> str:
        previous = self._shown(channel, ts)
        self.slack.edit(channel, ts, text)
        return self.emit(self.message_changed_event(channel, ts, previous))

    def delete_and_emit(self, channel: str, ts: str) -> str:
        """A deletion; a parent with replies stays as a tombstone, which Slack tells as a change."""
        previous = self._shown(channel, ts)
        self.slack.delete(channel, ts)
        if ts in self.slack.messages.get(channel, {}):
            return self.emit(self.message_changed_event(channel, ts, previous))
        return self.emit(self.message_deleted_event(channel, ts, previous))


class SocketModeServer:
    """The WebSocket end of Socket Mode: says hello, pushes envelopes, records acks."""

    def __init__(self, state: SlackAppState) -> None:
        from websockets.sync.server import serve

        self._state = state
        self._server = serve(self._handle, "127.0.0.1", 0)
        self._thread: threading.Thread | None = None
        self._connections: list[Any] = []
        self._pushed: dict[str, tuple[str, float]] = {}
        self.acks: dict[str, Ack] = {}
        self._changed = threading.Condition()

    @property
    def url(self) -> str:
        port = self._server.socket.getsockname()[1]
        return f"ws://127.0.0.1:{port}/link/?ticket=sandbox"

    def start(self) -> SocketModeServer:
        self._thread = threading.Thread(target=self._server.serve_forever, name="sandbox:socket-mode", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _handle(self, connection: Any) -> None:
        connection.send(json.dumps({
            "type": "hello", "num_connections": 1,
            "debug_info": {"host": "sandbox", "approximate_connection_time": 18060},
            "connection_info": {"app_id": self._state.slack.bot.app_id},
        }))
        with self._changed:
            self._connections.append(connection)
            self._changed.notify_all()
        from websockets.exceptions import ConnectionClosed

        try:
            for raw in connection:
                self._record_ack(raw)
        except ConnectionClosed:  # the app went away without a close frame
            pass
        finally:
            with self._changed:
                self._connections.remove(connection)

    def _record_ack(self, raw: str | bytes) -> None:
        try:
            message = json.loads(raw)
        except json.JSONDecodeError:
            return
        envelope_id = message.get("envelope_id") if isinstance(message, dict) else None
        with self._changed:
            pushed = self._pushed.get(str(envelope_id))
            if pushed is None:
                return
            kind, at = pushed
            self.acks[str(envelope_id)] = Ack(str(envelope_id), kind, message.get("payload"), time.monotonic() - at)
            with self._state._lock:
                self._state.calls.append(("ack", str(envelope_id)))
            self._changed.notify_all()

    def wait_connected(self, timeout: float = 10.0) -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: bool(self._connections), timeout):
                raise TimeoutError("no Socket Mode client connected")

    def push(self, kind: str, payload: dict[str, Any], *, retry_attempt: int = 0, envelope_id: str | None = None) -> str:
        """Send one envelope (`events_api`, `interactive` or `slash_commands`) to the connected app."""
        self.wait_connected()
        envelope_id = envelope_id or f"env-{next(self._state._ids):06d}"
        envelope = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": kind != "events_api",
            "retry_attempt": retry_attempt,
            "retry_reason": "timeout" if retry_attempt else "",
        }
        with self._changed:
            self._pushed[envelope_id] = (kind, time.monotonic())
            connection = self._connections[-1]
        connection.send(json.dumps(envelope))
        return envelope_id

    def wait_ack(self, envelope_id: str, timeout: float = 10.0) -> Ack:
        with self._changed:
            if not self._changed.wait_for(lambda: envelope_id in self.acks, timeout):
                raise TimeoutError(f"envelope {envelope_id} was not acknowledged")
            return self.acks[envelope_id]


def sign(body: bytes, *, signing_secret: str, timestamp: int | None = None) -> dict[str, str]:
    """The headers Slack signs a request with (v0 HMAC-SHA256 over `v0:{timestamp}:{body}`)."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(signing_secret.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={digest}"}


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    body: str


def post_signed(
    url: str,
    kind: str,
    payload: dict[str, Any],
    *,
    signing_secret: str,
    timestamp: int | None = None,
    retry_num: int | None = None,
) -> HttpAnswer:
    """Deliver an interaction to an app in HTTP mode as Slack does: events as JSON, interactive
    payloads as a `payload=` form field, slash commands as form fields; signed."""
    if kind == "events_api":
        body, ctype = json.dumps(payload).encode(), "application/json"
    elif kind == "interactive":
        body, ctype = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode(), "application/x-www-form-urlencoded"
    elif kind == "slash_commands":
        body, ctype = urllib.parse.urlencode(payload).encode(), "application/x-www-form-urlencoded"
    else:
        raise ValueError(f"kind: events_api, interactive or slash_commands, not {kind!r}")
    headers = {"Content-Type": ctype, **sign(body, signing_secret=signing_secret, timestamp=timestamp)}
    if retry_num is not None:
        headers.update({"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"})
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - a local URL
            return HttpAnswer(answer.status, answer.read().decode("utf-8", "replace"))
    except urllib.error.HTTPError as exc:
        return HttpAnswer(exc.code, exc.read().decode("utf-8", "replace"))
