"""The embedded loop behind `reconciler run [--once] [--interval S]`: no broker, no beat.

Each iteration does what `pipeline.run_once` does, step by step, with the same pipeline
functions the Celery tasks call: apply the config, sync the partitions (concurrently), reconcile dirty
deliverables, plan notifications, deliver them. Between steps it checks for Ctrl-C / SIGTERM,
so a stop never cuts a step in half (a second Ctrl-C stops at once). One log line per step.
"""

from __future__ import annotations

import dataclasses
import logging
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

from sqlalchemy.exc import DBAPIError

from connectors.base import ConnectorError, NoRateLimit, SourceName
from reconciler import pipeline
from reconciler.db import DatabaseError
from reconciler.pipeline import PollPace, RunReport, Runtime, SyncReport
from workers.ratelimit import rate_limiter_for
from workers.settings import get_worker_settings
from workers.steps import log_step, report_fields, summarize, sync_counts

log = logging.getLogger("workers.runner")


class Stopped(Exception):
    """A stop was requested between two steps."""


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[threading.Event]:
    """SIGINT and SIGTERM set `stop`; a second SIGINT raises KeyboardInterrupt at once.

    Outside the main thread (where Python cannot install handlers) only `stop` is used.
    """
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def with_shared_limiter(rt: Runtime) -> Runtime:
    """Share the API budget through Redis when REDIS_URL is set and answers; else keep going
    with per-process limits (the connectors still honour Retry-After)."""
    if not isinstance(rt.rate_limiter, NoRateLimit):
        return rt
    prefix = get_worker_settings().redis_key_prefix
    limiter = rate_limiter_for(rt.settings, sources=rt.sources, config=rt.config, prefix=prefix)
    if isinstance(limiter, NoRateLimit):
        log.debug("no reachable Redis: rate limits are per process")
        return rt
    log.info("sharing the API budget through Redis")
    return dataclasses.replace(rt, rate_limiter=limiter)


def _checkpoint(stop: threading.Event, before: str) -> None:
    if stop.is_set():
        log.info(f"stopping before {before}", extra={"step": before})
        raise Stopped


BatchHook = Callable[[SyncReport], None]
KEEP_REPORTS = 20


def sync_step(
    rt: Runtime, stop: threading.Event, *, on_batch: BatchHook | None = None, pace: PollPace | None = None,
    dry_run: bool = False,
) -> list[SyncReport]:
    """Every partition, or with `pace` (the loop) those due, concurrently as `pipeline.sync_all`
    does (a source that gives no answer is given up on for the run); a stop is honoured before
    each partition starts."""
    sources: list[SourceName] | None = None
    names: list[str] | None = None
    if pace is not None:
        pipeline.apply_config(rt)
        due = pipeline.partitions_due(rt, pipeline.configured_partitions(rt), pace)
        if not due:
            return []
        sources, names = sorted({s for s, _ in due}), [p for _, p in due]

    def checkpoint(source: SourceName, partition: str) -> None:
        _checkpoint(stop, f"sync of {source}:{partition}")

    def done(report: SyncReport, started: float) -> None:
        log_step("sync", started, **report_fields(report))

    def while_crawling(partitions: frozenset[tuple[str, str]]) -> None:
        """A first sync takes hours under the API budget: what it stored (newest first) is
        reconciled and notified as it goes."""
        started = time.monotonic()
        reconciled = pipeline.reconcile_while_crawling(rt, partitions)
        log_step("reconcile", started, during_first_read=len(partitions), **summarize(reconciled))
        if stop.is_set():
            return
        started = time.monotonic()
        planned = pipeline.plan_notifications(rt)
        log_step("plan", started, **summarize(planned))
        _deliver(rt, dry_run=dry_run)

    return pipeline.sync_all(
        rt, sources=sources, partitions=names, on_batch=on_batch, before_partition=checkpoint, on_done=done,
        while_crawling=while_crawling,
    )


def _deliver(rt: Runtime, *, dry_run: bool) -> object:
    started = time.monotonic()
    try:
        delivered = pipeline.deliver_notifications(rt, dry_run=dry_run)
    except ConnectorError as exc:
        log_step("deliver", started, error=rt.scrub(str(exc)))
        return None
    log_step("deliver", started, **{"dry_run": dry_run, **summarize(delivered)})
    return delivered


def run_iteration(
    rt: Runtime, *, dry_run: bool, stop: threading.Event, on_batch: BatchHook | None = None,
    pace: PollPace | None = None,
) -> RunReport:
    """One pass of the pipeline; raises Stopped if a stop was asked for between steps."""
    syncs = sync_step(rt, stop, on_batch=on_batch, pace=pace, dry_run=dry_run)
    _checkpoint(stop, "reconcile")
    started = time.monotonic()
    reconciled = pipeline.reconcile_dirty(rt)
    log_step("reconcile", started, **summarize(reconciled))
    _checkpoint(stop, "plan")
    started = time.monotonic()
    planned = pipeline.plan_notifications(rt)
    log_step("plan", started, **summarize(planned))
    _checkpoint(stop, "deliver")
    delivered = _deliver(rt, dry_run=dry_run)
    return RunReport(syncs=syncs, reconcile=reconciled, plan=planned, delivery=delivered)


def run_loop(
    rt: Runtime,
    *,
    once: bool,
    interval: float,
    dry_run: bool,
    on_report: Callable[[RunReport], None] | None = None,
    on_batch: BatchHook | None = None,
    stop: threading.Event | None = None,
    pace: PollPace | None = None,
) -> list[RunReport]:
    """Run the pipeline once, or every `interval` seconds until Ctrl-C / SIGTERM / `stop`.
    With `pace` the loop wakes every `pace.tick` and syncs only the partitions due (a slower
    Slack poll while events flow, a faster Asana one); a single pass syncs everything.

    `on_report` gets each complete iteration's report, `on_batch` each committed sync batch
    (for progress). Returns the reports of the last iterations (at most KEEP_REPORTS; empty if
    stopped before one finished). With `once`, store errors propagate; in the loop they are
    logged and the next iteration retries.
    """
    rt = with_shared_limiter(rt)
    reports: deque[RunReport] = deque(maxlen=KEEP_REPORTS)
    with stop_on_signals(stop or threading.Event()) as stopping:
        iteration = 0
        while not stopping.is_set():
            iteration += 1
            started = time.monotonic()
            try:
                report = run_iteration(rt, dry_run=dry_run, stop=stopping, on_batch=on_batch,
                                       pace=None if once else pace)
            except Stopped:
                break
            except (DatabaseError, DBAPIError) as exc:
                if once:
                    raise
                log.error("iteration failed; retrying next interval", extra={"error": rt.scrub(str(exc))})
            else:
                reports.append(report)
                log_step("iteration", started, iteration=iteration, **sync_counts(report.syncs))
                if on_report is not None:
                    on_report(report)
            if once:
                break
            stopping.wait(pace.tick if pace else interval)
    log.info("runner stopped", extra={"iterations": iteration})
    return list(reports)
