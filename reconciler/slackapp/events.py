"""Real-time sync: Slack's `message` events, on the Slack app's connection, into the pipeline.

Each event of a synced channel goes through `pipeline.apply_push` (stated as the poller states it,
by the Slack plugin's push mapping; stored, reconciled, notified), one at a time per process: the steps are short and
one writer at a time suits SQLite. Events of other channels are dropped after a dict lookup.
The channel map (id -> configured partition) is built once, from the configured ids, the ids
the poller's cursors remember, and, for a name never synced yet, one conversations.list; a
rename, or the bot joining a channel, builds it again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from connectors.base import Connector, ConnectorError, Source
from reconciler import pipeline
from reconciler.due_alarm import DueAlarm
from reconciler.pipeline import PushReport, Runtime

log = logging.getLogger(__name__)

HEARTBEAT_EVERY = 30.0  # seconds between heartbeats (pipeline.PUSHES_ALIVE_FOR is a few of them)
PRUNE_EVERY = 3600.0  # seconds between clean-ups of old event ids and message versions


@dataclass
class IntakeCounts:
    stored: int = 0
    duplicate: int = 0
    stale: int = 0
    not_synced: int = 0
    ignored: int = 0
    retries: int = 0  # deliveries Slack marked as retries (X-Slack-Retry-Num > 0)
    failed: int = 0


class SlackEventIntake:
    def __init__(self, rt: Runtime, *, connector: Connector | None = None) -> None:
        self.rt = rt
        self._connector = connector
        self._channels: dict[str, str] | None = None  # channel id -> configured partition
        self._lock = threading.Lock()
        # a DM planned by an event goes out when its window opens (group_wait), not at the next sweep
        self.alarm = DueAlarm(now=rt.now, deliver=lambda: pipeline.deliver_notifications(rt), exclusive=self._lock)
        self.counts = IntakeCounts()
        self._beat_at = 0.0  # time.monotonic() of the last heartbeat written
        self._pruned_at: float | None = None  # time.monotonic() of the last clean-up

    # -- the channel map ----------------------------------------------------------------------

    def connector(self) -> Connector:
        if self._connector is None:
            self._connector = pipeline.build_connector(self.rt, Source.SLACK)
        return self._connector

    def channels(self) -> dict[str, str]:
        if self._channels is None:
            self._channels = self._channel_map()
        return self._channels

    def _channel_map(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for partition in self.rt.config.source(Source.SLACK).channels:
            try:
                channel = pipeline.push_place(self.rt, Source.SLACK, self.connector, partition)
            except ConnectorError as exc:  # a name the bot cannot see yet: its events are dropped
                log.warning("channel not followed by events: %s", self.rt.scrub(str(exc)))
                continue
            found[channel] = partition
        return found

    def refresh(self, reason: str) -> None:
        with self._lock:
            self._connector = None  # its conversations.list answer is out of date
            self._channels = None
            log.info("channel map refreshed", extra={"reason": reason})

    # -- events -------------------------------------------------------------------------------

    def on_message(self, event: dict[str, Any], *, event_id: str | None, retry_num: int = 0) -> PushReport | None:
        """One `message` event: None when it is dropped before the pipeline (another channel, a
        subtype that states no message)."""
        if retry_num:
            self.counts.retries += 1
        self.beat()  # events reach this app
        change = pipeline.pushed_change(self.rt, Source.SLACK, event)
        if change is None:
            self.counts.ignored += 1
            return None
        with self._lock:
            partition = self.channels().get(change.place)
            if partition is None:
                self.counts.not_synced += 1
                return None
            try:
                report = pipeline.apply_push(
                    self.rt, Source.SLACK, self.connector(), partition=partition, change=change, event_id=event_id
                )
            except ConnectorError as exc:  # Slack unreachable: the poller catches up from its cursor
                self.counts.failed += 1
                log.warning("event not stored: %s", self.rt.scrub(str(exc)), extra={"ref": change.source_ref})
                return None
        setattr(self.counts, report.outcome, getattr(self.counts, report.outcome) + 1)
        self.alarm.expect(report.plan)
        return report

    def beat(self, *, force: bool = False) -> None:
        """Tell the pollers that events reach this app (at most once per HEARTBEAT_EVERY)."""
        if force or time.monotonic() - self._beat_at >= HEARTBEAT_EVERY:
            self._beat_at = time.monotonic()
            pipeline.note_pushes_alive(self.rt, Source.SLACK)
        if self._pruned_at is None or time.monotonic() - self._pruned_at >= PRUNE_EVERY:
            self._pruned_at = time.monotonic()
            pipeline.prune_pushed_events(self.rt)

    def on_channel_rename(self, event: dict[str, Any]) -> None:
        channel = event.get("channel") or {}
        log.info("channel renamed", extra={"channel": channel.get("id"), "name": channel.get("name")})
        self.refresh("channel_rename")

    def on_member_joined(self, event: dict[str, Any], *, bot_user_id: str | None) -> pipeline.SyncReport | None:
        """The bot joined a channel: follow it if it is configured (and read it now), else say how."""
        if not bot_user_id or event.get("user") != bot_user_id:
            return None
        channel = str(event.get("channel") or "")
        self.refresh("member_joined_channel")
        with self._lock:
            partition = self.channels().get(channel)
        if partition is None:
            log.info("the bot joined a channel that is not synced; add it to [slack] channels to follow it",
                     extra={"channel": channel})
            return None
        report = pipeline.sync_partition(self.rt, Source.SLACK, partition)
        if report.ok:
            _, plan, _ = pipeline.reconcile_and_notify(self.rt)
            self.alarm.expect(plan)
        return report


def keep_alive(
    intake: SlackEventIntake, *, connected: Callable[[], bool], stop: threading.Event, every: float = HEARTBEAT_EVERY
) -> threading.Thread:
    """A thread writing the heartbeat while the Socket Mode connection is up; once it drops,
    the heartbeat goes stale and the pollers return to their usual pace (and catch up)."""

    def loop() -> None:
        while True:
            try:
                if connected():
                    intake.beat(force=True)
            except Exception as exc:  # noqa: BLE001 - a store hiccup: the next beat retries
                log.warning("events heartbeat failed: %s: %s", type(exc).__name__, intake.rt.scrub(str(exc)))
            if stop.wait(every):
                return

    thread = threading.Thread(target=loop, name="slack-app:events-heartbeat", daemon=True)
    thread.start()
    return thread
