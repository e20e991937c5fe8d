"""Celery tasks: thin adapters over reconciler.pipeline.

Tasks take ids, never state: `sync_partition(source, partition)` re-reads the cursor from the
store, so running it twice or after a crash only repeats idempotent upserts. Transient failures
retry with short exponential backoff (at most RETRY_BACKOFF_MAX seconds, far below the broker's
visibility timeout); anything that must wait longer is a row that a periodic sweep selects.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import redis
from celery import Task
from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy.exc import DBAPIError

from connectors.base import ConnectorError, SourceName
from reconciler import pipeline
from reconciler.db import DatabaseError
from reconciler.pipeline import Runtime
from reconciler.settings import get_settings
from workers.celery_app import app
from workers.connections import redis_client
from workers.locks import LockLost, RenewedLock, claim_interval, held_lock, partition_lock_name
from workers.ratelimit import shared_rate_limiter
from workers.schedule import FAN_OUT, SWEEP, SYNC_PARTITION, fan_out_window
from workers.settings import WorkerSettings, get_worker_settings
from workers.steps import changed, log_step, report_fields, summarize

log = logging.getLogger("workers.tasks")

# Infrastructure that may come back by itself: the store or Redis going away for a moment.
RETRYABLE = (DBAPIError, DatabaseError, redis.ConnectionError, redis.TimeoutError)


@dataclass
class WorkerContext:
    rt: Runtime
    redis: redis.Redis
    ws: WorkerSettings


@lru_cache(maxsize=1)
def context() -> WorkerContext:
    """Built once per worker process, on its first task (after any fork)."""
    settings = get_settings()
    ws = get_worker_settings()
    client = redis_client(settings.redis_url)
    rt = pipeline.load_runtime(settings=settings)
    rt.rate_limiter = shared_rate_limiter(
        settings, client, sources=rt.sources, config=rt.config, prefix=ws.redis_key_prefix
    )
    ctx = WorkerContext(rt=rt, redis=client, ws=ws)
    apply_config(ctx)
    return ctx


def apply_config(ctx: WorkerContext) -> None:
    """Write the config file's people and deliverables to the store, one process at a time
    (several workers starting together would otherwise insert the same rows at once)."""
    with ctx.redis.lock(ctx.ws.key("lock", "config"), timeout=60, blocking_timeout=60):
        pipeline.apply_config(ctx.rt)


def backoff(retries: int, *, cap: float) -> float:
    """2, 4, 8 ... seconds with jitter, never above `cap`."""
    return min(cap, 2.0 ** (retries + 1)) * (0.5 + random.random() / 2)


def _retry(task: Task, exc: Exception, ws: WorkerSettings) -> Exception:
    countdown = backoff(task.request.retries, cap=ws.retry_backoff_max)
    return task.retry(exc=exc, countdown=countdown, max_retries=ws.task_max_retries)


# -- fan-out ----------------------------------------------------------------------------------


@app.task(name=FAN_OUT, bind=True)
def fan_out(self: Task) -> dict[str, Any]:
    """Send one sync task per configured partition, once per interval across all beats."""
    ctx = context()
    if not claim_interval(ctx.redis, ctx.ws.key("beat", "fan-out"), seconds=fan_out_window(ctx.ws)):
        log.info("fan-out skipped: another fan-out ran in this interval (is a second beat running?)")
        return {"skipped": "interval already fanned out"}
    try:
        apply_config(ctx)
    except RETRYABLE as exc:
        log.warning("fan-out interrupted; will retry", extra={"error": ctx.rt.scrub(str(exc))[:300]})
        ctx.redis.delete(ctx.ws.key("beat", "fan-out"))
        raise _retry(self, exc, ctx.ws) from None
    partitions = pipeline.partitions_due(ctx.rt, pipeline.configured_partitions(ctx.rt), ctx.ws.pace())
    for source, partition in partitions:
        sync_partition.apply_async((str(source), partition), expires=ctx.ws.pace().tick)
    log.info("fanned out", extra={"partitions": len(partitions)})
    return {"partitions": len(partitions)}


# -- one partition ----------------------------------------------------------------------------


@app.task(name=SYNC_PARTITION, bind=True)
def sync_partition(self: Task, source: str, partition: str) -> dict[str, Any]:
    """Sync one partition under its lock; a worker that loses the race skips."""
    ctx = context()
    fields = {"source": source, "partition": partition}
    src = ctx.rt.sources.find(source)
    if src is None:
        log.error("unknown source; dropping the task", extra=fields)
        return {"skipped": "unknown source"}
    if (src.name, partition) not in pipeline.configured_partitions(ctx.rt, [src.name]):
        log.warning("partition is not configured; dropping the task", extra=fields)
        return {"skipped": "not configured"}
    try:
        report = _locked_sync(ctx, src.name, partition)
    except SoftTimeLimitExceeded:
        # a long crawl keeps its progress page by page: a new task goes on from the cursor
        log.warning("sync reached its time limit; it goes on in a new task from where it stopped", extra=fields)
        pipeline.sync_stopped(ctx.rt, src.name, partition)
        sync_partition.apply_async((source, partition))
        return {"requeued": "time limit"}
    except RETRYABLE as exc:
        log.warning("sync interrupted; will retry", extra={**fields, "error": ctx.rt.scrub(str(exc))[:300]})
        raise _retry(self, exc, ctx.ws) from None
    if report is None:
        return {"skipped": "locked"}
    if report.transient and self.request.retries < ctx.ws.task_max_retries:
        raise _retry(self, ConnectorError(report.error or "transient failure"), ctx.ws)
    if changed(report):
        request_sweep(ctx)
    return report_fields(report)


def _locked_sync(ctx: WorkerContext, source: SourceName, partition: str) -> pipeline.SyncReport | None:
    name = partition_lock_name(ctx.ws.redis_key_prefix, source, partition)
    fields = {"source": source, "partition": partition}
    with held_lock(ctx.redis, name, ttl=ctx.ws.partition_lock_ttl) as lock:
        if lock is None:
            log.info("sync skipped: another worker holds the partition lock", extra=fields)
            return None
        started = time.monotonic()
        report = pipeline.sync_partition(ctx.rt, source, partition, on_batch=lambda _r: lock.check())
        log_step("sync", started, **report_fields(report))
        return report


# -- reconcile, plan, deliver -----------------------------------------------------------------


def request_sweep(ctx: WorkerContext) -> None:
    """Queue one sweep soon; many partitions finishing at once still queue only one."""
    if ctx.redis.set(ctx.ws.key("sweep", "queued"), "1", nx=True, ex=30):
        sweep.apply_async(countdown=1)


@app.task(name=SWEEP, bind=True)
def sweep(self: Task) -> dict[str, Any]:
    """Reconcile dirty deliverables, plan notifications, deliver them; one sweep at a time."""
    ctx = context()
    ctx.redis.delete(ctx.ws.key("sweep", "queued"))
    try:
        with held_lock(ctx.redis, ctx.ws.key("lock", "sweep"), ttl=ctx.ws.partition_lock_ttl) as lock:
            if lock is None:
                ctx.redis.set(ctx.ws.key("sweep", "again"), "1", ex=int(ctx.ws.sweep_interval) + 60)
                log.info("sweep skipped: another sweep is running; it will run once more")
                return {"skipped": "locked"}
            result = run_sweep(ctx.rt, lock, dry_run=ctx.ws.notify_dry_run)
    except LockLost as exc:
        log.warning("sweep stopped: its lock was lost; the next sweep goes on", extra={"error": str(exc)})
        return {"stopped": "lock lost"}
    except RETRYABLE as exc:
        log.warning("sweep interrupted; will retry", extra={"error": ctx.rt.scrub(str(exc))[:300]})
        raise _retry(self, exc, ctx.ws) from None
    if ctx.redis.getdel(ctx.ws.key("sweep", "again")):
        request_sweep(ctx)
    return result


def run_sweep(rt: Runtime, lock: RenewedLock, *, dry_run: bool) -> dict[str, Any]:
    started = time.monotonic()
    reconciled = pipeline.reconcile_dirty(rt)
    log_step("reconcile", started, **summarize(reconciled))
    lock.check()
    started = time.monotonic()
    planned = pipeline.plan_notifications(rt)
    log_step("plan", started, **summarize(planned))
    lock.check()
    started = time.monotonic()
    try:
        delivered = pipeline.deliver_notifications(rt, dry_run=dry_run)
    except ConnectorError as exc:
        log_step("deliver", started, error=rt.scrub(str(exc)))
        return {"reconcile": summarize(reconciled), "plan": summarize(planned), "deliver": "failed"}
    log_step("deliver", started, **summarize(delivered))
    return {"reconcile": summarize(reconciled), "plan": summarize(planned), "deliver": summarize(delivered)}
