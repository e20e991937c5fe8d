"""Pushes over HTTP into the pipeline: a source whose plugin has a `push_receiver` (Asana's
webhooks) is mounted on the app's HTTP server under the receiver's `path_prefix`; a partition it
says changed is synced soon after (the source's incremental read says what changed), then the
reconcile and the notifier run, and the DMs they plan go out when due (`DueAlarm`). Pushes that
arrive while a partition's sync runs fold into one more. Polling stays as the safety net.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from connectors.base import SourceName
from connectors.plugin import PushContext, PushReceiver
from reconciler import pipeline
from reconciler.due_alarm import DueAlarm
from reconciler.pipeline import Runtime

log = logging.getLogger(__name__)


class PushedSyncs:
    """Syncs a partition of `source` that a push said changed, one thread per partition."""

    def __init__(self, rt: Runtime, source: SourceName, alarm: DueAlarm) -> None:
        self.rt = rt
        self.source = source
        self.alarm = alarm
        self.count = 0  # syncs run
        self._running: dict[str, bool] = {}  # partition -> whether another sync is wanted after this one
        self._lock = threading.Lock()

    def changed(self, partition: str) -> None:
        """Sync `partition` soon (returns at once); during its sync, once more after it."""
        with self._lock:
            if partition in self._running:
                self._running[partition] = True  # one more pass after the one under way
                return
            self._running[partition] = False
        threading.Thread(target=self._sync_loop, args=(partition,), name=f"{self.source}-push:{partition}",
                         daemon=True).start()

    def _sync_loop(self, partition: str) -> None:
        while True:
            try:
                report = pipeline.sync_partition(self.rt, self.source, partition)
                self.count += 1
                if report.ok:
                    _, plan, _ = pipeline.reconcile_and_notify(self.rt)
                    self.alarm.expect(plan)
            except Exception as exc:  # noqa: BLE001 - the poller is the safety net
                log.warning("%s push sync failed: %s: %s", self.source, type(exc).__name__, self.rt.scrub(str(exc)))
            with self._lock:
                if not self._running.get(partition):
                    del self._running[partition]
                    return
                self._running[partition] = False


@dataclass
class SourcePushes:
    """One source's push receiver and the syncs it starts."""

    source: SourceName
    receiver: PushReceiver
    syncs: PushedSyncs

    @property
    def alarm(self) -> DueAlarm:
        return self.syncs.alarm


def source_pushes(rt: Runtime, source: SourceName, *, public_url: str, alarm: DueAlarm | None = None) -> SourcePushes:
    """The push receiver of `source` (its plugin must have one) delivering to `public_url`; the
    DMs planned after a push go to `alarm` (share the Slack intake's)."""
    plugin = rt.sources.get(source)
    if plugin.push_receiver is None:
        raise ValueError(f"{source} pushes nothing over HTTP")
    syncs = PushedSyncs(rt, plugin.name, alarm or DueAlarm(now=rt.now, deliver=lambda: pipeline.deliver_notifications(rt)))
    receiver = plugin.push_receiver(
        PushContext(
            credentials=plugin.credentials(rt.settings),
            section=rt.config.source(plugin.name),
            public_url=public_url,
            partitions=lambda: [p for _, p in pipeline.configured_partitions(rt, [plugin.name])],
            changed=syncs.changed,
            clock=rt.now,
            scrub=rt.scrub,
            timeout=rt.settings.http_timeout,
        )
    )
    return SourcePushes(plugin.name, receiver, syncs)


def all_pushes(rt: Runtime, *, public_url: str, alarm: DueAlarm | None = None) -> list[SourcePushes]:
    """A push receiver for every registered source that has one."""
    return [source_pushes(rt, p.name, public_url=public_url, alarm=alarm) for p in rt.sources if p.push_receiver]
