"""`/healthz` and `/metrics`: the store, the last successful sync of each partition, the broker
and workers when they are configured, and the store's figures in Prometheus form (read at
scrape time, so every worker's work shows, not only this process's)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from reconciler import board, store
from reconciler.db import session_scope
from reconciler.pipeline import Runtime


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def store_check(rt: Runtime) -> dict[str, Any]:
    try:
        with session_scope(rt.engine) as session:
            session.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or type(exc).__name__).strip().splitlines()[0]
        return {"ok": False, "error": rt.scrub(reason)}
    return {"ok": True}


def partitions(rt: Runtime, now: datetime) -> list[dict[str, Any]]:
    with session_scope(rt.engine) as session:
        cursors = store.sync_cursors(session)
    return [
        {
            "source": c.source,
            "partition": c.partition,
            "last_success_at": _iso(c.last_success_at),
            "lag_seconds": round((now - c.last_success_at).total_seconds()) if c.last_success_at else None,
            "failing": c.last_error is not None
            and (c.last_success_at is None or (c.last_error_at is not None and c.last_error_at > c.last_success_at)),
            "last_error": c.last_error,
        }
        for c in cursors
    ]


def broker_and_workers(rt: Runtime) -> tuple[dict[str, Any], dict[str, Any]]:
    """Redis and the Celery workers, when REDIS_URL is set; otherwise "not configured"."""
    from reconciler.compose import redis_configured, redis_reachable

    if not redis_configured(rt.settings):
        return {"configured": False}, {"configured": False}
    if not redis_reachable(rt.settings):
        return {"configured": True, "ok": False}, {"configured": True, "ok": False, "workers": 0}
    try:
        replies = _ping_workers(rt.settings.redis_url)
    except Exception:  # noqa: BLE001 - any broker trouble reads as "no worker answered"
        replies = []
    return {"configured": True, "ok": True}, {"configured": True, "ok": bool(replies), "workers": len(replies)}


def _ping_workers(redis_url: str, *, timeout: float = 0.5) -> list[Any]:
    """The workers that answer a broadcast ping on this broker within `timeout` seconds."""
    from celery import Celery

    from reconciler.compose import celery_config

    app = Celery("reconciler-board", set_as_current=False)
    app.conf.update(celery_config(redis_url))
    try:
        return list(app.control.ping(timeout=timeout) or [])
    finally:
        app.close()


def health(rt: Runtime) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body): 503 when the store or a configured broker is down; "degraded" (200)
    when a partition's last sync failed or no worker answers."""
    now = rt.now()
    checked_store = store_check(rt)
    parts = partitions(rt, now) if checked_store["ok"] else []
    broker, workers = broker_and_workers(rt)
    down = not checked_store["ok"] or (broker["configured"] and not broker["ok"])
    degraded = any(p["failing"] for p in parts) or (workers["configured"] and not workers["ok"])
    status = "down" if down else "degraded" if degraded else "ok"
    body = {"status": status, "checked_at": now.isoformat(), "store": checked_store, "partitions": parts,
            "broker": broker, "workers": workers}
    return (503 if down else 200), body


class StoreCollector(Collector):
    """The store's figures at scrape time."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    def collect(self) -> Iterator[Any]:
        now = self.rt.now()
        lag = GaugeMetricFamily("reconciler_sync_lag_seconds", "Seconds since the partition's last successful sync.",
                                labels=["source", "partition"])
        last = GaugeMetricFamily("reconciler_sync_last_success_timestamp_seconds",
                                 "When the partition last synced successfully (Unix time).", labels=["source", "partition"])
        failing = GaugeMetricFamily("reconciler_sync_failing", "1 when the partition's last sync failed.",
                                    labels=["source", "partition"])
        requests = CounterMetricFamily("reconciler_api_requests", "Requests syncs made to each API (all time, from the store).",
                                       labels=["api"])
        throttled = CounterMetricFamily("reconciler_api_throttled",
                                        "Answers that were 429 (rate limited) to syncs, by API (all time, from the store).",
                                        labels=["api"])
        reconcile = GaugeMetricFamily("reconciler_reconcile_seconds",
                                      "How long the last reconcile pass took, by pass (dirty: what changed; full: everything).",
                                      labels=["pass"])
        findings = GaugeMetricFamily("reconciler_findings", "Findings by kind and state.", labels=["kind", "state"])
        notifications = GaugeMetricFamily("reconciler_notifications", "Outbox rows by status (sent, failed, ...).",
                                          labels=["status"])
        deliverables = GaugeMetricFamily("reconciler_deliverables", "Deliverables in the store.")
        full_pass = GaugeMetricFamily("reconciler_last_full_reconcile_timestamp_seconds",
                                      "When every deliverable was last reconciled (Unix time).")
        up = GaugeMetricFamily("reconciler_store_up", "1 when the store answers.")
        try:
            with session_scope(self.rt.engine) as session:
                cursors = store.sync_cursors(session)
                figures = board.store_figures(session)
        except SQLAlchemyError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        for c in cursors:
            labels = [c.source, c.partition]
            if c.last_success_at is not None:
                lag.add_metric(labels, (now - c.last_success_at).total_seconds())
                last.add_metric(labels, c.last_success_at.timestamp())
            is_failing = c.last_error is not None and (
                c.last_success_at is None or (c.last_error_at is not None and c.last_error_at > c.last_success_at)
            )
            failing.add_metric(labels, 1 if is_failing else 0)
        for api, count in sorted(figures.requests.items()):
            requests.add_metric([api], count)
            throttled.add_metric([api], figures.throttled.get(api, 0))
        for kind, seconds in sorted(figures.reconcile_seconds.items()):
            reconcile.add_metric([kind], seconds)
        for (kind, state), count in sorted(figures.findings.items()):
            findings.add_metric([kind, state], count)
        for status, count in sorted(figures.notifications.items()):
            notifications.add_metric([status], count)
        deliverables.add_metric([], figures.deliverables)
        if figures.last_full_pass is not None:
            full_pass.add_metric([], figures.last_full_pass.timestamp())
        yield from (up, lag, last, failing, requests, throttled, reconcile, findings, notifications, deliverables,
                    full_pass)


class WebMetrics:
    """This process's own figures, in a registry of its own (one per app)."""

    def __init__(self, rt: Runtime) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(StoreCollector(rt))
        self.requests = Counter("reconciler_web_requests", "Board requests by route and status.",
                                ["route", "status"], registry=self.registry)
        self.render_seconds = Histogram("reconciler_web_render_seconds", "Server time to answer, by route.", ["route"],
                                        registry=self.registry,
                                        buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 5))
