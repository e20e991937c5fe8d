"""The HTTP server: routing, auth, request counting and fault injection."""

from __future__ import annotations

import copy
import json
import logging
import random
import socket
import struct
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .asana_api import (
    DELETE_ENDPOINT_PATTERNS,
    ENDPOINT_PATTERNS,
    POST_ENDPOINT_PATTERNS,
    AsanaError,
    AsanaState,
    Request,
)
from .asana_api import PREFIX as ASANA_PREFIX
from .scenario import Scenario, load_scenario
from .slack_api import SlackError, SlackState
from .slack_app_api import RESPONSE_PREFIX, SlackAppState

log = logging.getLogger("connectors.sandbox")

SLACK_PREFIX = "/slack/api/"
FAULT_KINDS = ("429", "500", "502", "503", "reset", "bad_json", "slow", "timeout")
TRANSPORT_KINDS = ("reset", "bad_json", "slow", "timeout", "html")
EXTRA_KINDS = ("html",)  # asked for by name only (the default mix stays as it was)
GATEWAY_PAGE = b"<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"
ASANA_MESSAGES = {400: "Bad Request", 401: "Not Authorized", 402: "Payment Required", 403: "Forbidden",
                  404: "Not Found", 429: "Rate Limited", 500: "Server Error", 502: "Bad Gateway",
                  503: "Service Unavailable", 504: "Gateway Timeout"}
SLACK_METHODS = tuple(SlackState.METHODS) + tuple(SlackAppState.METHODS)
ENDPOINT_KEYS = tuple([f"asana GET {p}" for p in ENDPOINT_PATTERNS]
                      + [f"asana POST {p}" for p in POST_ENDPOINT_PATTERNS]
                      + [f"asana DELETE {p}" for p in DELETE_ENDPOINT_PATTERNS]
                      + [f"slack {m}" for m in SLACK_METHODS])


@dataclass
class Fault:
    kind: str  # "status", "reset", "bad_json", "slow", "timeout"
    status: int = 500
    slack_error: str | None = None
    retry_after: int | None = None
    times: int | None = None


def normalize_key(key: str) -> str:
    """'conversations.history' -> 'slack conversations.history'; 'GET /tasks/{gid}' -> 'asana GET /tasks/{gid}'
    (and 'POST /tasks/{gid}/stories' -> 'asana POST /tasks/{gid}/stories')."""
    key = " ".join(key.split())
    if key in ("*", "asana *", "slack *") or key in ENDPOINT_KEYS:
        return key
    if key.startswith(("GET ", "POST ")):
        key = "asana " + key
    elif key in SLACK_METHODS:
        key = "slack " + key
    if key not in ENDPOINT_KEYS:
        raise ValueError(f"unknown endpoint key {key!r}; use one of: {', '.join(ENDPOINT_KEYS)} "
                         f"(or '*', 'asana *', 'slack *')")
    return key


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "AsanaSlackSandbox/1.0"
    timeout = 60
    # One buffered write per answer (headers + body, flushed in _send) and no Nagle: otherwise a
    # small body waits for the client's delayed ACK of the headers (~40 ms per request).
    wbufsize = -1
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - never log query strings (tokens)
        return

    def _go(self) -> None:
        sandbox: Sandbox = self.server.sandbox  # type: ignore[attr-defined]
        sandbox._dispatch(self)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _go


class _Server(ThreadingHTTPServer):
    # The listen backlog: the default 5 drops the connections of a sync's partitions opened at
    # once, which then wait a second for the SYN to be sent again; a real API takes them.
    request_queue_size = 128


class Sandbox:
    """A local Asana + Slack API server for tests and the demo (see README.md)."""

    def __init__(self, scenario: Scenario | str | Path, *, host: str = "127.0.0.1", port: int = 0):
        if not isinstance(scenario, Scenario):
            scenario = load_scenario(scenario)
        self.scenario = scenario
        self.host = host
        self._requested_port = port
        self.asana = AsanaState(scenario.asana)
        self.slack = SlackState(scenario.slack)
        self.slack_app = SlackAppState(self.slack)
        self._invalid_tokens = frozenset(scenario.invalid_tokens)
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self._faults: dict[str, Fault] = {}
        self._rate = 0.0
        self._rate_kinds: tuple[str, ...] = FAULT_KINDS
        self._rng = random.Random(0)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------------- lifecycle
    def start(self) -> Sandbox:
        if self._server is not None:
            return self
        server = _Server((self.host, self._requested_port), _Handler)
        server.daemon_threads = True
        server.sandbox = self  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"sandbox:{self.port}", daemon=True)
        self._thread.start()
        self.slack_app.base_url = self.url
        log.info("sandbox listening on %s", self.url)
        return self

    def stop(self) -> None:
        if self.slack_app.socket_mode is not None:
            self.slack_app.socket_mode.stop()
            self.slack_app.socket_mode = None
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("sandbox is not running; use `with Sandbox(...)` or .start()")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = self.host if self.host not in ("0.0.0.0", "") else "127.0.0.1"
        return f"http://{host}:{self.port}"

    @property
    def asana_base_url(self) -> str:
        return self.url + ASANA_PREFIX

    @property
    def slack_base_url(self) -> str:
        return self.url + SLACK_PREFIX

    # ----------------------------------------------------------------- inspection
    def posted_messages(self) -> list[dict[str, Any]]:
        with self.slack._lock:
            return copy.deepcopy(self.slack.posted)

    def request_counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def reset_counts(self) -> None:
        with self._lock:
            self._counts.clear()

    # ----------------------------------------------------------------- faults
    def fail(self, endpoint: str, *, status: int | None = None, slack_error: str | None = None,
             retry_after: int | None = None, times: int | None = None, kind: str | None = None) -> None:
        """Make an endpoint fail until clear_faults() (or for the next ``times`` calls).

        endpoint: an endpoint key ('asana GET /projects/{gid}/tasks', 'slack conversations.history'),
        a bare Slack method ('conversations.history'), 'GET /tasks/{gid}', or '*', 'asana *', 'slack *'.
        status: HTTP status, default 500; for Slack with slack_error and no status the answer is
        HTTP 200 {"ok": false, "error": slack_error}. 429 always carries Retry-After (retry_after, default 1).
        kind: instead of an error answer, a transport fault: reset, bad_json, slow, timeout, or
        html (a proxy's 502 page in HTML, as a gateway in front of the API answers).
        """
        key = normalize_key(endpoint)
        if times is not None and times < 1:
            raise ValueError("times must be >= 1 (or None for until cleared)")
        if kind is not None:  # a transport fault instead of an error answer
            if kind not in TRANSPORT_KINDS:
                raise ValueError(f"kind: use reset, bad_json, slow, timeout or html, not {kind!r}")
            with self._lock:
                self._faults[key] = Fault(kind, times=times)
            return
        if status is None:
            status = 200 if slack_error else 500
        if status == 200 and not slack_error:
            raise ValueError("status=200 only makes sense with slack_error")
        if key.startswith("asana") and status == 200:
            raise ValueError("slack_error applies to Slack endpoints only; give an HTTP status for Asana")
        if status == 429 and retry_after is None:
            retry_after = 1
        with self._lock:
            self._faults[key] = Fault("status", status, slack_error, retry_after, times)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self._rate = 0.0

    hang_seconds = 5.0
    """How long a `timeout` fault keeps the client waiting before dropping the connection
    unanswered; a client whose timeout is shorter sees a read timeout."""

    def fault_rate(self, rate: float, *, kinds: Iterable[str] = FAULT_KINDS, seed: int = 0) -> None:
        """Inject random faults into ``rate`` (0..1) of all requests; rate 0 turns it off."""
        kinds = tuple(kinds)
        bad = [k for k in kinds if k not in FAULT_KINDS + EXTRA_KINDS]
        if bad or not kinds:
            raise ValueError(f"kinds: unknown fault kind {bad[0] if bad else '(none)'}; "
                             f"use {', '.join(FAULT_KINDS + EXTRA_KINDS)}")
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate must be between 0 and 1")
        with self._lock:
            self._rate = float(rate)
            self._rate_kinds = kinds
            self._rng = random.Random(seed)

    def _take_fault(self, key: str) -> Fault | None:
        with self._lock:
            self._counts[key] = self._counts.get(key, 0) + 1
            service = key.split(" ", 1)[0]
            for k in (key, f"{service} *", "*"):
                f = self._faults.get(k)
                if f is not None:
                    if f.times is not None:
                        f.times -= 1
                        if f.times <= 0:
                            del self._faults[k]
                    return f
            if self._rate > 0 and self._rng.random() < self._rate:
                kind = self._rng.choice(self._rate_kinds)
                if kind in TRANSPORT_KINDS:
                    return Fault(kind)
                return Fault("status", int(kind), retry_after=self._rng.choice((0, 1)) if kind == "429" else None)
        return None

    # ----------------------------------------------------------------- HTTP plumbing
    def _dispatch(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length > 0 else b""
        path = parts.path
        try:
            if path == ASANA_PREFIX or path.startswith(ASANA_PREFIX + "/"):
                self._asana(h, path[len(ASANA_PREFIX):].rstrip("/") or "/", query, body)
            elif path.startswith(SLACK_PREFIX):
                self._slack(h, path[len(SLACK_PREFIX):].strip("/"), query, body)
            elif path.startswith(RESPONSE_PREFIX):
                self.slack_app.receive_response(path, body)
                self._send(h, 200, {"ok": True})
            else:
                self._send(h, 404, {"error": "not found; use /asana/api/1.0/... or /slack/api/METHOD"})
        except (BrokenPipeError, ConnectionResetError):
            h.close_connection = True
        except Exception:  # a bug in the sandbox: answer 500 rather than hang the client
            log.exception("sandbox error on %s %s", h.command, path)
            try:
                self._send(h, 500, {"errors": [{"message": "Sandbox internal error"}]})
            except OSError:
                h.close_connection = True

    def _send(self, h: BaseHTTPRequestHandler, status: int, payload: Any, headers: dict[str, str] | None = None,
              *, truncate: bool = False) -> None:
        data = json.dumps(payload).encode()
        if truncate:
            data = data[: max(1, len(data) // 2)]
        h.send_response(status)
        h.send_header("Content-Type", "application/json; charset=utf-8")
        h.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(data)
        h.wfile.flush()

    def _transport_fault(self, h: BaseHTTPRequestHandler, fault: Fault) -> str | None:
        """Play a fault below HTTP, the same for both APIs: "dropped" (reset, timeout or the
        HTML gateway page: nothing more is sent), "truncate" (answer with cut-off JSON), None (answer normally after a
        `slow` pause, or render the error status the caller knows the shape of)."""
        if fault.kind == "reset":
            self._reset(h)
            return "dropped"
        if fault.kind == "timeout":
            self._hang_up(h)
            return "dropped"
        if fault.kind == "html":
            h.send_response(502)
            h.send_header("Content-Type", "text/html")
            h.send_header("Content-Length", str(len(GATEWAY_PAGE)))
            h.end_headers()
            h.wfile.write(GATEWAY_PAGE)
            h.wfile.flush()
            return "dropped"  # answered: nothing more to send
        if fault.kind == "slow":
            time.sleep(0.2)
        return "truncate" if fault.kind == "bad_json" else None

    def _hang_up(self, h: BaseHTTPRequestHandler) -> None:
        time.sleep(self.hang_seconds)
        self._reset(h)

    @staticmethod
    def _reset(h: BaseHTTPRequestHandler) -> None:
        h.close_connection = True
        try:
            h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            h.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    @staticmethod
    def _bearer(h: BaseHTTPRequestHandler) -> str | None:
        auth = h.headers.get("Authorization") or ""
        if auth.lower().startswith("bearer "):
            return auth[7:].strip() or None
        return None

    def _asana(self, h: BaseHTTPRequestHandler, sub: str, query: dict[str, str], body: bytes = b"") -> None:
        route = None
        for pattern, rx, fn in self._asana_routes(h.command):
            m = rx.match(sub)
            if m:
                route = (pattern, fn, m.groups())
                break
        key = f"asana {h.command} {route[0] if route else '(unknown)'}"
        fault = self._take_fault(key)
        truncate = False
        if fault is not None:
            outcome = self._transport_fault(h, fault)
            if outcome == "dropped":
                return None
            truncate = outcome == "truncate"
            if fault.kind == "status":
                headers = {"Retry-After": str(fault.retry_after)} if fault.status == 429 else None
                msg = ASANA_MESSAGES.get(fault.status, "Error")
                return self._send(h, fault.status, {"errors": [{"message": msg}]}, headers)
        if route is None:
            return self._send(h, 404, {"errors": [{"message": "No matching route for request"}]})
        token = self._bearer(h)
        if token is None or token in self._invalid_tokens:
            return self._send(h, 401, {"errors": [{"message": "Not Authorized"}]})
        req = Request(sub, query, f"{self.url}{ASANA_PREFIX}")
        if h.command == "POST":
            try:
                req.body = json.loads(body) if body else {}
            except (json.JSONDecodeError, UnicodeDecodeError):
                return self._send(h, 400, {"errors": [{"message": "Could not parse request data, invalid JSON"}]})
        try:
            payload = self.asana.handle(route[1], req, route[2])
            status = 201 if h.command == "POST" else 200
        except AsanaError as e:
            status, payload = e.status, e.body
        self._send(h, status, payload, truncate=truncate)

    def _asana_routes(self, method: str = "GET") -> list[Any]:
        """The routes of one HTTP method (GET reads, POST writes, DELETE webhooks; no others)."""
        if method == "POST":
            return self.asana.post_routes()
        if method == "DELETE":
            return self.asana.delete_routes()
        if method != "GET":
            return []
        routes = getattr(self, "_routes_cache", None)
        if routes is None:
            routes = self._routes_cache = self.asana.routes()
        return routes

    def _slack(self, h: BaseHTTPRequestHandler, method: str, query: dict[str, str], body: bytes) -> None:
        key = f"slack {method}"
        fault = self._take_fault(key)
        truncate = False
        if fault is not None:
            outcome = self._transport_fault(h, fault)
            if outcome == "dropped":
                return None
            truncate = outcome == "truncate"
            if fault.kind == "status":
                error = fault.slack_error or ("ratelimited" if fault.status == 429 else "internal_error")
                headers = {"Retry-After": str(fault.retry_after)} if fault.status == 429 else None
                return self._send(h, fault.status, {"ok": False, "error": error}, headers)
        params: dict[str, Any] = dict(query)
        ctype = (h.headers.get("Content-Type") or "").lower()
        if body:
            if "json" in ctype:
                try:
                    parsed = json.loads(body)
                except json.JSONDecodeError:
                    return self._send(h, 200, {"ok": False, "error": "invalid_json"})
                if not isinstance(parsed, dict):
                    return self._send(h, 200, {"ok": False, "error": "invalid_json"})
                params.update(parsed)
            else:
                params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        token = self._bearer(h) or params.pop("token", None)
        params.pop("token", None)
        if not token:
            return self._send(h, 200, {"ok": False, "error": "not_authed"})
        if token in self._invalid_tokens:
            return self._send(h, 200, {"ok": False, "error": "invalid_auth"})
        try:
            if method in SlackAppState.METHODS:
                payload = self.slack_app.call(method, params)
            else:
                payload = self.slack.call(method, params)
                if method.startswith("chat."):
                    self.slack_app.note_web_call(method)
        except SlackError as e:
            payload = {"ok": False, "error": e.error, **e.extra}
        # as Slack does: every answer names the scopes the token was granted
        self._send(h, 200, payload, {"X-OAuth-Scopes": ",".join(self.slack.scopes)}, truncate=truncate)
