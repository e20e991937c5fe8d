"""Asana webhooks: creating one per project and checking what arrives.

`POST /webhooks {resource, target}` makes Asana POST a handshake to the target, with an
`X-Hook-Secret` the receiver must echo, while the create request is still in flight; every
later delivery carries `X-Hook-Signature` = hex HMAC-SHA256(secret, raw body). A delivery says
only that something in the project changed (compact events, at most once, no replay); the
project's `/events` stream (the connector's incremental sync) reads what did.
`GET /webhooks?workspace=W` lists the webhooks the token registered and `DELETE /webhooks/{gid}`
removes one, so a service can clear what an earlier run of it left behind.

`AsanaWebhookReceiver` is the source's push receiver (`SourcePlugin.push_receiver`): the service
creates one webhook per synced project, delivering to `{public_url}/asana/webhooks/{project}`, and
answers the handshake only for a project whose webhook it is creating. Secrets stay in memory: on
start it lists the token's webhooks and deletes those delivering under its own URL that it did
not create (an earlier run's, whose secret is gone, or a project no longer synced), then creates
them again; a webhook re-created because it went silent has its predecessor deleted. Webhooks
delivering elsewhere are left. A delivery whose `X-Hook-Signature` checks out tells the service
the project changed (`PushContext.changed`: it syncs the project's `/events`). A project that has
heard nothing (not even Asana's heartbeat) for `HEARTBEAT_MISSING` gets a new webhook. Polling
stays as the safety net.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asana
from asana.rest import ApiException

from connectors.base import ConnectorError
from connectors.plugin import PushContext

log = logging.getLogger(__name__)

PATH_PREFIX = "/asana/webhooks/"
HEARTBEAT_MISSING = timedelta(hours=9)  # Asana sends a heartbeat about every 8 hours
RENEW_CHECK_EVERY = 3600.0  # seconds between looks for silent webhooks


def signature_ok(secret: str, body: bytes, signature: str | None) -> bool:
    """Whether a delivery was signed with the webhook's secret (compared in constant time)."""
    if not signature:
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature.strip())


@dataclass(frozen=True, slots=True)
class RegisteredWebhook:
    gid: str
    resource: str  # the project's gid
    target: str


def _client(token: str, base_url: str) -> asana.ApiClient:
    configuration = asana.Configuration()
    configuration.host = base_url.rstrip("/")
    configuration.access_token = token
    return asana.ApiClient(configuration)


def create_webhook(*, token: str, base_url: str, project: str, target: str, timeout: float = 30.0) -> str:
    """Create a webhook on `project` delivering to `target`; returns its gid. The caller's HTTP
    endpoint must already answer the handshake (it arrives before this returns)."""
    api = asana.WebhooksApi(_client(token, base_url))
    try:
        answer: Any = api.create_webhook({"data": {"resource": project, "target": target}}, {},
                                         _request_timeout=(timeout, timeout))
    except ApiException as exc:
        raise ConnectorError(f"Asana project {project}: the webhook was not created (HTTP {exc.status})") from None
    except OSError as exc:
        raise ConnectorError(f"Asana project {project}: the webhook was not created ({type(exc).__name__})") from None
    data = answer.get("data", answer) if isinstance(answer, dict) else None  # the SDK unwraps `data`
    gid = data.get("gid") if isinstance(data, dict) else None
    if not gid:
        raise ConnectorError(f"Asana project {project}: the webhook answer carried no gid")
    return str(gid)


def list_webhooks(*, token: str, base_url: str, workspace: str | None = None, timeout: float = 30.0) -> list[RegisteredWebhook]:
    """The webhooks this token registered, in `workspace` or (None) in every workspace it sees:
    one request per page of 100, plus one for the workspaces."""
    client = _client(token, base_url)
    try:
        workspaces = [workspace] if workspace else [
            str(w["gid"]) for w in asana.WorkspacesApi(client).get_workspaces(
                {"limit": 100, "opt_fields": "gid"}, _request_timeout=(timeout, timeout))]
        found: list[RegisteredWebhook] = []
        api = asana.WebhooksApi(client)
        for gid in workspaces:
            for hook in api.get_webhooks(gid, {"limit": 100, "opt_fields": "resource,target"},
                                         _request_timeout=(timeout, timeout)):
                resource = hook.get("resource") or {}
                found.append(RegisteredWebhook(str(hook["gid"]), str(resource.get("gid") or ""), str(hook.get("target") or "")))
        return found
    except ApiException as exc:
        raise ConnectorError(f"Asana webhooks were not listed (HTTP {exc.status})") from None
    except OSError as exc:
        raise ConnectorError(f"Asana webhooks were not listed ({type(exc).__name__})") from None


def delete_webhook(*, token: str, base_url: str, gid: str, timeout: float = 30.0) -> bool:
    """Delete webhook `gid`; False when Asana no longer has it (404: deleted already)."""
    api = asana.WebhooksApi(_client(token, base_url))
    try:
        api.delete_webhook(gid, _request_timeout=(timeout, timeout))
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise ConnectorError(f"Asana webhook {gid} was not deleted (HTTP {exc.status})") from None
    except OSError as exc:
        raise ConnectorError(f"Asana webhook {gid} was not deleted ({type(exc).__name__})") from None
    return True


@dataclass
class PushCounts:
    deliveries: int = 0
    heartbeats: int = 0
    refused: int = 0
    deleted: int = 0  # stale webhooks removed


class AsanaWebhookReceiver:
    path_prefix = PATH_PREFIX

    def __init__(self, ctx: PushContext) -> None:
        self.ctx = ctx
        self.public_url = ctx.public_url.rstrip("/")
        self._secrets: dict[str, str] = {}
        self._gids: dict[str, str] = {}  # project -> gid of the webhook this process created
        self._expecting: set[str] = set()
        self._heard: dict[str, datetime] = {}  # project -> last delivery, heartbeat or creation
        self._lock = threading.Lock()
        self.counts = PushCounts()

    def target(self, project: str) -> str:
        return f"{self.public_url}{PATH_PREFIX}{project}"

    def _token(self) -> str | None:
        return self.ctx.credentials.token

    def _no_token(self) -> list[str]:
        return [f"asana: no token configured (set {self.ctx.credentials.variable})"]

    # -- webhooks ------------------------------------------------------------------------------

    def ensure(self, projects: Iterable[str] | None = None) -> list[str]:
        """Create the webhooks that are missing; returns one line per project that failed."""
        token = self._token()
        if token is None:
            return self._no_token()
        wanted = list(projects) if projects is not None else self.ctx.partitions()
        errors: list[str] = []
        for project in wanted:
            if project in self._secrets:
                continue
            with self._lock:
                self._expecting.add(project)
            try:
                gid = create_webhook(token=token, base_url=self.ctx.credentials.base_url, project=project,
                                     target=self.target(project), timeout=self.ctx.timeout)
            except ConnectorError as exc:
                errors.append(self.ctx.scrub(str(exc)))
                continue
            finally:
                with self._lock:
                    self._expecting.discard(project)
            self._heard[project] = self.ctx.clock()
            self._gids[project] = gid
            log.info("asana webhook created", extra={"project": project, "webhook": gid})
        return errors

    def clean_up(self) -> list[str]:
        """Delete the webhooks delivering under this service's URL that this process did not
        create: an earlier run's (their secret is gone, so their deliveries would be refused) and
        those of projects no longer synced. Returns one line per failure."""
        token = self._token()
        if token is None:
            return self._no_token()
        ours = f"{self.public_url}{PATH_PREFIX}"
        try:
            registered = list_webhooks(token=token, base_url=self.ctx.credentials.base_url,
                                       workspace=self.ctx.section.workspace, timeout=self.ctx.timeout)
        except ConnectorError as exc:
            return [self.ctx.scrub(str(exc))]
        current = set(self._gids.values())
        stale = [h for h in registered if h.target.startswith(ours) and h.gid not in current]
        return [error for h in stale if (error := self._delete(h.gid, project=h.resource, why="stale"))]

    def renew_silent(self) -> list[str]:
        """Webhooks that have not been heard from for HEARTBEAT_MISSING are created again (the
        silent one deleted first)."""
        now = self.ctx.clock()
        silent = [p for p, at in self._heard.items() if now - at >= HEARTBEAT_MISSING]
        errors: list[str] = []
        with self._lock:
            for project in silent:
                self._secrets.pop(project, None)
        for project in silent:
            gid = self._gids.pop(project, None)
            if gid is not None and (error := self._delete(gid, project=project, why="silent")):
                errors.append(error)
        return errors + (self.ensure(silent) if silent else [])

    def _delete(self, gid: str, *, project: str, why: str) -> str | None:
        token = self._token()
        assert token is not None
        try:
            deleted = delete_webhook(token=token, base_url=self.ctx.credentials.base_url, gid=gid, timeout=self.ctx.timeout)
        except ConnectorError as exc:
            return self.ctx.scrub(str(exc))
        if deleted:
            self.counts.deleted += 1
            log.info("asana webhook deleted", extra={"project": project, "webhook": gid, "reason": why})
        return None

    def watch(self, stop: threading.Event) -> threading.Thread:
        """A thread that deletes what an earlier run left, creates the webhooks (once the HTTP
        server serves: the handshake arrives while each is created) and, every hour, creates
        again those that have gone silent."""

        def loop() -> None:
            stop.wait(0.5)  # let serve_forever start
            for error in self.clean_up() + self.ensure():
                log.warning("asana webhook: %s", error)
            while not stop.wait(RENEW_CHECK_EVERY):
                for error in self.renew_silent():
                    log.warning("asana webhook: %s", error)

        thread = threading.Thread(target=loop, name="asana-webhooks", daemon=True)
        thread.start()
        return thread

    # -- HTTP ----------------------------------------------------------------------------------

    def wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        project = str(environ.get("PATH_INFO") or "")[len(PATH_PREFIX):]
        if environ.get("REQUEST_METHOD") != "POST" or not project or "/" in project:
            return _answer(start_response, "404 Not Found")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        handshake = environ.get("HTTP_X_HOOK_SECRET")
        if handshake:
            with self._lock:
                if project not in self._expecting:
                    self.counts.refused += 1
                    return _answer(start_response, "403 Forbidden")
                self._secrets[project] = handshake
            return _answer(start_response, "200 OK", [("X-Hook-Secret", handshake)])
        secret = self._secrets.get(project)
        if secret is None or not signature_ok(secret, body, environ.get("HTTP_X_HOOK_SIGNATURE")):
            self.counts.refused += 1
            return _answer(start_response, "401 Unauthorized")
        try:
            events = json.loads(body or b"{}").get("events") or []
        except (ValueError, AttributeError):
            return _answer(start_response, "400 Bad Request")
        self._heard[project] = self.ctx.clock()
        if not events:
            self.counts.heartbeats += 1
            return _answer(start_response, "200 OK")
        self.counts.deliveries += 1
        self.ctx.changed(project)
        return _answer(start_response, "200 OK")  # within Asana's 10 s: the sync runs after


def _answer(start_response: Callable[..., Any], status: str, headers: list[tuple[str, str]] | None = None) -> list[bytes]:
    start_response(status, [("Content-Type", "text/plain"), *(headers or [])])
    return [status.split(" ", 1)[1].encode()]
