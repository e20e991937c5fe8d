"""What `reconciler status` shows: partitions, the Celery queue and the notification outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from reconciler import pipeline, store
from reconciler.db import session_scope
from reconciler.pipeline import Runtime
from reconciler.quick_read import partition_statuses
from workers.connections import redis_configured
from workers.queue_depth import queue_status
from workers.settings import WorkerSettings, get_worker_settings


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def partition_status(rt: Runtime) -> list[dict[str, Any]]:
    """Every configured partition (and any other with a cursor), with lag in seconds."""
    with session_scope(rt.engine) as session:
        rows = {(c.source, c.partition): c.model_dump() for c in store.sync_cursors(session)}
    now = rt.now()
    wanted = [(s.value, p) for s, p in pipeline.configured_partitions(rt)]
    return partition_statuses(wanted, rows, now)


def collect_status(rt: Runtime, *, ws: WorkerSettings | None = None) -> dict[str, Any]:
    """partitions: one dict each (source, partition, configured, cursor, last_success_at,
    last_error, failing, last_error_at, lag_seconds); queue: {queue, waiting, unacked} or "unavailable";
    queue_depth: the waiting count or "unavailable"; notifications: notify.notification_status;
    last_full_reconcile: when every deliverable was last reconciled (a new store, or the rules changed)."""
    from reconciler import notify

    with session_scope(rt.engine) as session:
        notifications = notify.notification_status(session)
    ws = ws or get_worker_settings()
    queue = queue_status(rt.settings.redis_url, ws) if redis_configured(rt.settings) else "unavailable"
    with session_scope(rt.engine) as session:
        full_pass = _iso(store.last_full_pass(session))
    return {
        "partitions": partition_status(rt),
        "last_full_reconcile": full_pass,
        "queue": queue,
        "queue_depth": queue["waiting"] if isinstance(queue, dict) else queue,
        "notifications": notifications,
    }
