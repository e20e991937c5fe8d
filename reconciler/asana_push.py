"""Asana webhooks on the app's HTTP endpoint: a change in a synced project is read within seconds.

The service creates one webhook per synced Asana project, delivering to
`{ASANA_WEBHOOK_URL}/asana/webhooks/{project}`, and answers the handshake only for a project whose
webhook it is creating. Secrets stay in memory: on start the service lists the token's webhooks
and deletes those delivering under its own URL that it did not create (an earlier run's, whose
secret is gone, or a project no longer synced), then creates them again; a webhook re-created
because it went silent has its predecessor deleted. Webhooks delivering elsewhere are left. A
delivery whose `X-Hook-Signature` checks out triggers the project's incremental sync (its
`/events` read says what changed), then the reconcile and the notifier; deliveries that arrive
while that sync runs fold into one more. A project that has heard nothing (not even Asana's
heartbeat) for `HEARTBEAT_MISSING` gets a new webhook. Polling stays as the safety net.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from connectors.asana.webhooks import create_webhook, delete_webhook, list_webhooks, signature_ok
from connectors.base import ConnectorError, Source
from reconciler import pipeline
from reconciler.due_alarm import DueAlarm
from reconciler.pipeline import Runtime

log = logging.getLogger(__name__)

PATH_PREFIX = "/asana/webhooks/"
HEARTBEAT_MISSING = timedelta(hours=9)  # Asana sends a heartbeat about every 8 hours


@dataclass
class PushCounts:
    deliveries: int = 0
    heartbeats: int = 0
    refused: int = 0
    syncs: int = 0
    deleted: int = 0  # stale webhooks removed


class AsanaWebhookReceiver:
    def __init__(self, rt: Runtime, *, public_url: str, alarm: DueAlarm | None = None) -> None:
        self.rt = rt
        self.public_url = public_url.rstrip("/")
        # DMs planned after a delivery go out when due (group_wait); share the Slack intake's alarm
        self.alarm = alarm or DueAlarm(now=rt.now, deliver=lambda: pipeline.deliver_notifications(rt))
        self._secrets: dict[str, str] = {}
        self._gids: dict[str, str] = {}  # project -> gid of the webhook this process created
        self._expecting: set[str] = set()
        self._heard: dict[str, datetime] = {}  # project -> last delivery, heartbeat or creation
        self._running: dict[str, bool] = {}  # project -> whether another sync is wanted after this one
        self._lock = threading.Lock()
        self.counts = PushCounts()

    def target(self, project: str) -> str:
        return f"{self.public_url}{PATH_PREFIX}{project}"

    # -- webhooks ------------------------------------------------------------------------------

    def ensure(self, projects: Iterable[str] | None = None) -> list[str]:
        """Create the webhooks that are missing; returns one line per project that failed."""
        token = self.rt.settings.asana_token
        if token is None:
            return ["asana: no token configured (set ASANA_TOKEN)"]
        wanted = list(projects) if projects is not None else [
            p for s, p in pipeline.configured_partitions(self.rt, [Source.ASANA])]
        errors: list[str] = []
        for project in wanted:
            if project in self._secrets:
                continue
            with self._lock:
                self._expecting.add(project)
            try:
                gid = create_webhook(token=token.get_secret_value(), base_url=self.rt.settings.asana_base_url,
                                     project=project, target=self.target(project), timeout=self.rt.settings.http_timeout)
            except ConnectorError as exc:
                errors.append(self.rt.scrub(str(exc)))
                continue
            finally:
                with self._lock:
                    self._expecting.discard(project)
            self._heard[project] = self.rt.now()
            self._gids[project] = gid
            log.info("asana webhook created", extra={"project": project, "webhook": gid})
        return errors

    def clean_up(self) -> list[str]:
        """Delete the webhooks delivering under this service's URL that this process did not
        create: an earlier run's (their secret is gone, so their deliveries would be refused) and
        those of projects no longer synced. Returns one line per failure."""
        token = self.rt.settings.asana_token
        if token is None:
            return ["asana: no token configured (set ASANA_TOKEN)"]
        ours = f"{self.public_url}{PATH_PREFIX}"
        try:
            registered = list_webhooks(token=token.get_secret_value(), base_url=self.rt.settings.asana_base_url,
                                       workspace=self.rt.config.source(Source.ASANA).workspace, timeout=self.rt.settings.http_timeout)
        except ConnectorError as exc:
            return [self.rt.scrub(str(exc))]
        current = set(self._gids.values())
        stale = [h for h in registered if h.target.startswith(ours) and h.gid not in current]
        return [error for h in stale if (error := self._delete(h.gid, project=h.resource, why="stale"))]

    def renew_silent(self) -> list[str]:
        """Webhooks that have not been heard from for HEARTBEAT_MISSING are created again (the
        silent one deleted first)."""
        now = self.rt.now()
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
        token = self.rt.settings.asana_token
        assert token is not None
        try:
            deleted = delete_webhook(token=token.get_secret_value(), base_url=self.rt.settings.asana_base_url,
                                     gid=gid, timeout=self.rt.settings.http_timeout)
        except ConnectorError as exc:
            return self.rt.scrub(str(exc))
        if deleted:
            self.counts.deleted += 1
            log.info("asana webhook deleted", extra={"project": project, "webhook": gid, "reason": why})
        return None

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
        self._heard[project] = self.rt.now()
        if not events:
            self.counts.heartbeats += 1
            return _answer(start_response, "200 OK")
        self.counts.deliveries += 1
        self._sync_soon(project)
        return _answer(start_response, "200 OK")  # within Asana's 10 s: the sync runs after

    def _sync_soon(self, project: str) -> None:
        with self._lock:
            if project in self._running:
                self._running[project] = True  # one more pass after the one under way
                return
            self._running[project] = False
        threading.Thread(target=self._sync_loop, args=(project,), name=f"asana-webhook:{project}", daemon=True).start()

    def _sync_loop(self, project: str) -> None:
        while True:
            try:
                report = pipeline.sync_partition(self.rt, Source.ASANA, project)
                self.counts.syncs += 1
                if report.ok:
                    _, plan, _ = pipeline.reconcile_and_notify(self.rt)
                    self.alarm.expect(plan)
            except Exception as exc:  # noqa: BLE001 - the poller is the safety net
                log.warning("asana push sync failed: %s: %s", type(exc).__name__, self.rt.scrub(str(exc)))
            with self._lock:
                if not self._running.get(project):
                    del self._running[project]
                    return
                self._running[project] = False


RENEW_CHECK_EVERY = 3600.0  # seconds between looks for silent webhooks


def watch_webhooks(receiver: AsanaWebhookReceiver, *, stop: threading.Event) -> threading.Thread:
    """A thread that deletes what an earlier run left, creates the webhooks (once the HTTP server
    serves: the handshake arrives while each is created) and, every hour, creates again those
    that have gone silent."""

    def loop() -> None:
        stop.wait(0.5)  # let serve_forever start
        for error in receiver.clean_up() + receiver.ensure():
            log.warning("asana webhook: %s", error)
        while not stop.wait(RENEW_CHECK_EVERY):
            for error in receiver.renew_silent():
                log.warning("asana webhook: %s", error)

    thread = threading.Thread(target=loop, name="asana-webhooks", daemon=True)
    thread.start()
    return thread


def _answer(start_response: Callable[..., Any], status: str, headers: list[tuple[str, str]] | None = None) -> list[bytes]:
    start_response(status, [("Content-Type", "text/plain"), *(headers or [])])
    return [status.split(" ", 1)[1].encode()]
