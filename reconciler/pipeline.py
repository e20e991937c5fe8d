"""The one pipeline: sync a partition, reconcile what changed, plan and deliver notifications.

The CLI, the embedded runner and the Celery tasks are thin adapters over these functions, so no
rule, query or API call is written twice for the two modes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from connectors.base import (
    Connector,
    ConnectorError,
    NoRateLimit,
    RateLimiter,
    Source,
    SourceName,
    TransientError,
    UnreachableError,
)
from connectors.plugin import (
    BuildContext,
    Credentials,
    PollPlan,
    PushedChange,
    PushMapping,
    SourcePlugin,
    SourceRegistry,
)
from connectors.registry import current_sources
from reconciler import store
from reconciler.db import DatabaseError, describe_url, engine_for, migrate, session_scope
from reconciler.progress import PartitionProgress
from reconciler.protocol import EXAMPLE_CONFIG, Config, check_source_sections, load_config  # noqa: F401  (pipeline.EXAMPLE_CONFIG too)
from reconciler.settings import MIN_SECRET_LENGTH, Settings, get_settings, scrub

if TYPE_CHECKING:
    from slack_sdk import WebClient

    from reconciler.engine import ReconcileReport
    from reconciler.notify import DeliverReport, PlanReport

log = logging.getLogger(__name__)



def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Runtime:
    """Everything one pipeline step needs, built once per process or command."""

    settings: Settings
    config: Config
    engine: Engine
    clock: Callable[[], datetime] = utcnow
    rate_limiter: RateLimiter = field(default_factory=NoRateLimit)
    rules_read_at: datetime | None = None  # when `deliverable_rules` were last resolved
    sources: SourceRegistry = field(default_factory=current_sources)  # the process-wide registry

    def now(self) -> datetime:
        return self.clock()

    def scrub(self, text: str) -> str:
        return scrub(text, [*self.settings.secrets(), *source_secrets(self.sources, self.settings)])


@dataclass
class SyncReport:
    source: SourceName
    partition: str
    batches: int = 0
    observations: int = 0
    inserted: int = 0
    updated: int = 0
    retracted: int = 0
    requests: int = 0
    error: str | None = None
    transient: bool = False
    unreachable: bool = False  # the API gave no answer at all
    first_read: bool = False  # no cursor when it started, or its connector still reads the whole history
    progress: float | None = None  # share of that first read done, when the connector says
    finished: bool = False  # it ended without an error

    @property
    def ok(self) -> bool:
        return self.error is None

    def progress_view(self) -> PartitionProgress:
        return PartitionProgress(self.source, self.partition, self.requests, self.first_read, self.progress, self.finished)


def source_secrets(sources: SourceRegistry, settings: Settings) -> list[str]:
    """The tokens registered sources read from their own settings, to scrub like the others."""
    tokens = (p.credentials(settings).token for p in sources)
    return [t for t in tokens if t and len(t) >= MIN_SECRET_LENGTH]


def open_store(database_url: str) -> Engine:
    """The engine for `database_url`, migrated to the newest schema; one-line error if down."""
    engine = engine_for(database_url)
    try:
        migrate(engine)
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else "connection failed"
        raise DatabaseError(f"cannot open the store at {describe_url(engine)}: {reason}") from None
    return engine


def load_runtime(
    *,
    settings: Settings | None = None,
    config_path: Path | None = None,
    clock: Callable[[], datetime] = utcnow,
    rate_limiter: RateLimiter | None = None,
) -> Runtime:
    settings = settings or get_settings()
    config = load_config(config_path or settings.reconciler_config)
    sources = current_sources()
    check_source_sections(sources, config, origin=str(config_path or settings.reconciler_config))
    engine = open_store(settings.database_url)
    return Runtime(
        settings=settings,
        config=config,
        engine=engine,
        clock=clock,
        rate_limiter=rate_limiter or NoRateLimit(),
        sources=sources,
    )


def apply_config(rt: Runtime) -> None:
    resolve_deliverable_rules(rt)
    with session_scope(rt.engine) as session:
        store.sync_config(session, rt.config, now=rt.now())


def resolve_deliverable_rules(rt: Runtime) -> None:
    """Turn `[[deliverable_rules]]` into deliverables by reading the tasks of their projects
    (one listing per project, at most once per `[asana] expand_every`). Until they can be read
    (no token, Asana down) the deliverables derived last time stay, and the store keeps every
    deliverable it was ever told about; the Asana partition's own sync reports the failure."""
    declared = rt.config.declared
    if not declared.deliverable_rules or rt.settings.asana_token is None:
        return
    now = rt.now()
    if rt.rules_read_at is not None and now - rt.rules_read_at < declared.source(Source.ASANA).expansion_ttl():
        return
    from connectors.workspace import AsanaWorkspaceReader
    from reconciler.deliverable_rules import derive_deliverables

    reader = AsanaWorkspaceReader(
        token=rt.settings.asana_token.get_secret_value(),
        base_url=rt.settings.asana_base_url,
        timeout=rt.settings.http_timeout,
    )
    try:
        tasks = {project: reader.project_tasks(project) for project in rule_projects(declared)}
    except ConnectorError as exc:
        log.warning("deliverable rules not resolved", extra={"error": rt.scrub(str(exc))})
        return
    finally:
        reader.close()
    derived, assignee_owned = derive_deliverables(declared, tasks)
    rt.config = declared.with_derived(derived, assignee_owned=assignee_owned)
    rt.rules_read_at = now
    log.info("deliverable rules resolved", extra={"deliverables": len(derived)})


def rule_projects(config: Config) -> list[str]:
    """The projects `deliverable_rules` read (synced like `[asana] projects`)."""
    return config.rule_projects()


# -- sync -----------------------------------------------------------------------------------


def credentials(rt: Runtime, source: SourceName) -> Credentials:
    """The source's token and address; a one-line ConnectorError when its token is not set."""
    found = rt.sources.get(source).credentials(rt.settings)
    if not found.token:
        raise ConnectorError(f"{source}: no token configured (set {found.variable})")
    return found


def build_connector(rt: Runtime, source: SourceName) -> Connector:
    resolve_deliverable_rules(rt)  # a worker that only syncs sees new rule-made deliverables too
    plugin = rt.sources.get(source)
    found = credentials(rt, source)
    return plugin.build(
        BuildContext(
            token=found.token or "",
            base_url=found.base_url,
            section=rt.config.source(plugin.name),
            index=rt.config.deliverable_index(),
            rate_limiter=rt.rate_limiter,
            timezone=rt.config.timezone,
            clock=rt.clock,
            timeout=rt.settings.http_timeout,
        )
    )


def configured_partitions(
    rt: Runtime, sources: list[SourceName] | None = None
) -> list[tuple[SourceName, str]]:
    """Every partition to sync, source by source in the registry's order. Each plugin lists
    those that cost no request; one whose config needs the source asked (Asana portfolios and
    teams, reused for `[asana] expand_every` within the process, see
    `AsanaConnector.partitions`) builds a connector and expands them. One that cannot be
    expanded (or no token) stays as the plugin listed it (`portfolio:<gid>` / `team:<gid>`),
    whose sync then fails with the one-line reason."""
    partitions: list[tuple[SourceName, str]] = []
    for plugin in rt.sources:
        if sources and plugin.name not in sources:
            continue
        partitions += [(plugin.name, p) for p in _plugin_partitions(rt, plugin)]
    return partitions


def _plugin_partitions(rt: Runtime, plugin: SourcePlugin) -> list[str]:
    listed = plugin.partitions(rt.config)
    if plugin.lists_without_requests(rt.config):
        return listed
    try:
        connector = build_connector(rt, plugin.name)
    except ConnectorError:  # no token: syncing each partition reports it
        return listed
    try:
        return list(dict.fromkeys(plugin.expand(connector, rt.config)))
    finally:
        close = getattr(connector, "close", None)
        if close is not None:
            close()


_SQLITE_WRITES = threading.Lock()


def _storing(engine: Engine) -> AbstractContextManager[object]:
    """SQLite takes one writer at a time, and a transaction that read before writing fails at
    once, without waiting, when another wrote in between (WAL's busy snapshot): the partitions
    synced at the same time store their batches one after the other there."""
    return _SQLITE_WRITES if engine.dialect.name == "sqlite" else nullcontext()


def sync_partition(
    rt: Runtime,
    source: SourceName,
    partition: str,
    *,
    connector: Connector | None = None,
    on_batch: Callable[[SyncReport], None] | None = None,
) -> SyncReport:
    """Pull one partition from its stored cursor; every batch commits with its cursor.

    A failure keeps what earlier batches committed and leaves the cursor at the last committed
    batch, so the next run resumes there. The error is recorded on the partition and returned.
    """
    report = SyncReport(source=source, partition=partition)
    try:
        connector = connector or build_connector(rt, source)
        with _storing(rt.engine), session_scope(rt.engine) as session:
            store.record_sync_start(session, source, partition, now=rt.now())
        with session_scope(rt.engine) as session:
            cursor = store.get_cursor(session, source, partition)
        report.first_read = cursor is None
        for batch in connector.pull(partition, cursor):
            with _storing(rt.engine), session_scope(rt.engine) as session:
                result = store.apply_batch(
                    session, source=source, partition=partition, batch=batch, now=rt.now()
                )
            report.batches += 1
            report.observations += len(batch.observations)
            report.inserted += result.inserted
            report.updated += result.updated
            report.retracted += result.retracted
            report.requests += batch.requests
            if batch.progress is not None:
                report.first_read, report.progress = True, batch.progress
            log.debug(
                "batch stored",
                extra={"source": str(source), "partition": partition, "batch": report.batches,
                       "observations": len(batch.observations), "inserted": result.inserted},
            )
            if on_batch is not None:
                on_batch(report)
    except ConnectorError as exc:
        report.error = rt.scrub(str(exc))
        report.transient = isinstance(exc, TransientError)
        report.unreachable = isinstance(exc, UnreachableError)
        with _storing(rt.engine), session_scope(rt.engine) as session:
            store.record_sync_error(session, source, partition, report.error, now=rt.now())
        log.warning("sync failed", extra={"source": str(source), "partition": partition, "error": report.error})
        return report
    with _storing(rt.engine), session_scope(rt.engine) as session:
        store.record_sync_success(session, source, partition, now=rt.now())
    report.finished = True
    log.info(
        "synced",
        extra={"source": str(source), "partition": partition, "observations": report.observations},
    )
    return report


def sync_stopped(rt: Runtime, source: SourceName, partition: str) -> None:
    """A sync was cut short (a time limit) and will go on from its cursor: it is no longer
    under way, so sweeps take its deliverables again."""
    with _storing(rt.engine), session_scope(rt.engine) as session:
        store.record_sync_stop(session, source, partition)


# how often the findings of first reads under way are looked for (seconds; the runner)
WHILE_CRAWLING_EVERY = 60.0

SyncDone = Callable[[SyncReport, float], None]


def sync_all(
    rt: Runtime,
    *,
    sources: list[SourceName] | None = None,
    partitions: list[str] | None = None,
    on_batch: Callable[[SyncReport], None] | None = None,
    before_partition: Callable[[SourceName, str], None] | None = None,
    on_done: SyncDone | None = None,
    while_crawling: Callable[[frozenset[tuple[str, str]]], None] | None = None,
    while_crawling_every: float = WHILE_CRAWLING_EVERY,
) -> list[SyncReport]:
    """Sync every configured partition (or those named), concurrently; the reports come in
    the configured order. The sources go side by side. Within one, the first partition goes
    alone until the source has answered (its first batch is stored, or it ends), unless every
    partition of it synced last time; then the others go together, up to
    the source plugin's `partitions_at_once` (`[asana] concurrent_requests` projects, 20 Slack
    channels; of which its `first_reads_at_once` first reads: 2 Asana projects, every channel), the
    requests in flight capped at its `requests_in_flight` across them (Asana:
    `concurrent_requests`). Once a source's API gives
    no answer at all for a partition, its partitions not started yet are skipped for this run
    (and say so), instead of each spending its own retries on the same outage.

    `before_partition(source, partition)` runs before each (the embedded runner stops there);
    `on_done(report, started)` after each, with its `time.monotonic()` start.
    `while_crawling(partitions)` runs every `while_crawling_every` seconds while first reads
    are under way, with those (source, partition) pairs: the runner reconciles and notifies there
    (`reconcile_while_crawling`), so a first sync that takes hours gives its findings as it goes."""
    apply_config(rt)
    wanted = [(s, p) for s, p in configured_partitions(rt, sources) if not partitions or p in partitions]
    by_source: dict[SourceName, list[str]] = {}
    for source, partition in wanted:
        by_source.setdefault(source, []).append(partition)
    capped = replace(rt, rate_limiter=InFlightCap(rt.rate_limiter, in_flight_caps(rt)))
    crawling = _Crawling(on_batch, on_done)
    hooks = _SyncHooks(crawling.on_batch, before_partition, crawling.on_done)
    with ThreadPoolExecutor(max_workers=max(1, len(by_source)), thread_name_prefix="sync") as pool, \
            crawling.calling(while_crawling, every=while_crawling_every):
        runs = [pool.submit(_sync_source, capped, source, names, hooks) for source, names in by_source.items()]
        done = {(r.source, r.partition): r for run in runs for r in run.result()}
    return [done[key] for key in wanted]


def in_flight_caps(rt: Runtime) -> dict[str, int]:
    caps = {p.name: p.requests_in_flight(rt.config.source(p.name)) for p in rt.sources}
    return {name: cap for name, cap in caps.items() if cap is not None}


class _Crawling:
    """The first reads under way in a `sync_all`, and the thread that calls `while_crawling`."""

    def __init__(self, on_batch: Callable[[SyncReport], None] | None, on_done: SyncDone | None):
        self._on_batch, self._on_done = on_batch, on_done
        self._now: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def on_batch(self, report: SyncReport) -> None:
        if report.first_read:
            with self._lock:
                self._now.add((str(report.source), report.partition))
        if self._on_batch is not None:
            self._on_batch(report)

    def on_done(self, report: SyncReport, started: float) -> None:
        with self._lock:
            self._now.discard((str(report.source), report.partition))
        if self._on_done is not None:
            self._on_done(report, started)

    def under_way(self) -> frozenset[tuple[str, str]]:
        with self._lock:
            return frozenset(self._now)

    @contextmanager
    def calling(self, call: Callable[[frozenset[tuple[str, str]]], None] | None, *, every: float) -> Iterator[None]:
        if call is None:
            yield
            return
        finished = threading.Event()

        def loop() -> None:
            while not finished.wait(every):
                partitions = self.under_way()
                if not partitions:
                    continue
                try:
                    call(partitions)
                except Exception:  # the sync goes on; the pass after it reconciles what is left
                    log.exception("reconcile during the first sync failed")

        thread = threading.Thread(target=loop, name="sync-while-crawling", daemon=True)
        thread.start()
        try:
            yield
        finally:
            finished.set()
            thread.join()


@dataclass(frozen=True)
class _SyncHooks:
    on_batch: Callable[[SyncReport], None] | None
    before_partition: Callable[[SourceName, str], None] | None
    on_done: SyncDone | None


def _sync_source(rt: Runtime, source: SourceName, names: list[str], hooks: _SyncHooks) -> list[SyncReport]:
    """One source's partitions: the first alone until the source answered (unless all synced
    last time), and the rest together."""
    try:
        connector = build_connector(rt, source)
    except ConnectorError as exc:
        return [SyncReport(source=source, partition=p, error=rt.scrub(str(exc))) for p in names]
    outage: list[SyncReport] = []  # the first partition the API gave no answer for
    answered = threading.Event()
    plugin = rt.sources.get(source)
    at_once = plugin.partitions_at_once(rt.config.source(plugin.name))
    first_reads = threading.BoundedSemaphore(max(1, plugin.first_reads_at_once or at_once))
    with session_scope(rt.engine) as session:
        if store.all_synced_last_time(session, source, names):
            answered.set()  # it answered every partition last time: no need to wait for it first

    def one(partition: str, on_batch: Callable[[SyncReport], None] | None) -> SyncReport:
        if hooks.before_partition is not None:
            hooks.before_partition(source, partition)
        started = time.monotonic()
        if outage:
            report = _skip_unreachable(rt, source, partition, outage[0])
        else:
            with _first_read_turn(rt, source, partition, first_reads):
                report = sync_partition(rt, source, partition, connector=connector, on_batch=on_batch)
            if report.unreachable and report.batches == 0:
                outage.append(report)
        if hooks.on_done is not None:
            hooks.on_done(report, started)
        return report

    def first_batch(report: SyncReport) -> None:
        if hooks.on_batch is not None:
            hooks.on_batch(report)
        answered.set()

    with ThreadPoolExecutor(max_workers=max(1, at_once), thread_name_prefix=f"sync-{source}") as pool:
        first = pool.submit(one, names[0], first_batch)
        first.add_done_callback(lambda _f: answered.set())
        answered.wait()
        rest = [pool.submit(one, partition, hooks.on_batch) for partition in names[1:]]
        return [first.result(), *(f.result() for f in rest)]


@contextmanager
def _first_read_turn(rt: Runtime, source: SourceName, partition: str, turns: threading.BoundedSemaphore) -> Iterator[None]:
    """Waits for one of the source's first-read turns if the partition has no cursor yet."""
    with session_scope(rt.engine) as session:
        first = store.get_cursor(session, source, partition) is None
    if not first:
        yield
        return
    with turns:
        yield


class InFlightCap:
    """A rate limiter that also holds the requests in flight per service (the part of the key
    before ":") to a cap, around the limiter it wraps: the partitions synced at the same time
    share one budget of concurrent requests, as one partition's own workers did."""

    def __init__(self, inner: RateLimiter, caps: dict[str, int]):
        self._inner = inner
        self._slots = {service: threading.BoundedSemaphore(max(1, cap)) for service, cap in caps.items()}

    def acquire(self, key: str) -> None:
        slots = self._slots.get(key.partition(":")[0])
        if slots is not None:
            slots.acquire()
        try:
            self._inner.acquire(key)
        except BaseException:
            if slots is not None:
                slots.release()
            raise

    def release(self, key: str) -> None:
        try:
            self._inner.release(key)
        finally:
            slots = self._slots.get(key.partition(":")[0])
            if slots is not None:
                slots.release()


def _skip_unreachable(rt: Runtime, source: SourceName, partition: str, first: SyncReport) -> SyncReport:
    error = f"skipped: {source} gave no answer this run (for {first.partition}: {first.error})"
    with _storing(rt.engine), session_scope(rt.engine) as session:
        store.record_sync_error(session, source, partition, error, now=rt.now())
    log.warning("sync skipped", extra={"source": str(source), "partition": partition, "error": error})
    return SyncReport(source=source, partition=partition, error=error, transient=True, unreachable=True)


# -- reconcile and notify -------------------------------------------------------------------


# how long a sweep leaves the deliverables of a partition being synced alone (a sync that died
# is not waited for longer; a first crawl that takes hours is reconciled as it goes after that)
WHOLE_SYNC_WAIT = timedelta(minutes=10)


def reconcile_dirty(rt: Runtime, *, limit: int | None = None) -> ReconcileReport:
    """Reconcile what changed and what is due for its next check (a date passing, a check-in
    falling due); everything once on a new store (or one last checked before next checks
    existed) and after the rules' configuration changed."""
    from reconciler import engine

    started = time.monotonic()
    with session_scope(rt.engine) as session:
        now = rt.now()
        syncing = store.partitions_syncing(session, now=now, within=WHOLE_SYNC_WAIT)
        fingerprint = engine.rules_fingerprint(rt.config)
        if limit is None and not syncing and store.full_pass_due(session, fingerprint=fingerprint):
            report = engine.reconcile_all(session, config=rt.config, now=now)
            store.record_full_pass(session, now=now, seconds=time.monotonic() - started, fingerprint=fingerprint)
            return report
        report = engine.reconcile_dirty(session, config=rt.config, now=now, limit=limit, hold=syncing)
        store.record_run(session, store.DIRTY_RECONCILE, now=now, seconds=time.monotonic() - started)
        return report


def reconcile_while_crawling(rt: Runtime, crawling: frozenset[tuple[str, str]]) -> ReconcileReport:
    """Reconcile what changed while first reads are under way: the deliverables of first reads
    that store the newest first (what they have stored is current) too, not those of ordinary
    syncs under way nor of first reads in another order (held as `reconcile_dirty` holds them)."""
    from reconciler import engine

    started = time.monotonic()
    current = {(source, partition) for source, partition in crawling if rt.sources.get(source).first_read_newest_first}
    with _storing(rt.engine), session_scope(rt.engine) as session:
        now = rt.now()
        syncing = store.partitions_syncing(session, now=now, within=WHOLE_SYNC_WAIT)
        hold = [p for p in syncing if (p[0], p[1]) not in current]
        report = engine.reconcile_dirty(session, config=rt.config, now=now, hold=hold)
        store.record_run(session, store.DIRTY_RECONCILE, now=now, seconds=time.monotonic() - started)
    log.info("reconciled during the first sync", extra={"reconciled": report.reconciled,
                                                         "opened": len(report.opened)})
    return report


def reconcile_all(rt: Runtime) -> ReconcileReport:
    from reconciler import engine

    apply_config(rt)
    started = time.monotonic()
    with session_scope(rt.engine) as session:
        report = engine.reconcile_all(session, config=rt.config, now=rt.now())
        store.record_full_pass(session, now=rt.now(), seconds=time.monotonic() - started,
                               fingerprint=engine.rules_fingerprint(rt.config))
        return report


def slack_client(rt: Runtime) -> WebClient:
    """The Slack Web API client the notifier's DM channel and the Slack app use, as the Slack
    plugin builds it (`SourcePlugin.api_client`)."""
    return api_client(rt, Source.SLACK)


def api_client(rt: Runtime, source: SourceName) -> Any:
    """A client of `source`'s API from its plugin; a one-line ConnectorError without a token."""
    make = rt.sources.get(source).api_client
    if make is None:
        raise ConnectorError(f"{source}: the source has no API client for people to be reached through")
    return make(credentials(rt, source), rt.settings.http_timeout)


def plan_notifications(rt: Runtime) -> PlanReport:
    from reconciler import notify

    with session_scope(rt.engine) as session:
        return notify.plan_notifications(session, config=rt.config, now=rt.now())


def deliver_notifications(rt: Runtime, *, dry_run: bool = False) -> DeliverReport:
    from reconciler import notify

    client = None if dry_run else slack_client(rt)
    return notify.deliver_pending(rt.engine, client=client, now=rt.now(), dry_run=dry_run)


@dataclass
class RunReport:
    syncs: list[SyncReport]
    reconcile: ReconcileReport
    plan: PlanReport
    delivery: DeliverReport

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.syncs)


def run_once(rt: Runtime, *, dry_run: bool = False, on_batch: Callable[[SyncReport], None] | None = None) -> RunReport:
    """Sync every partition, reconcile what changed, plan and deliver notifications."""
    syncs = sync_all(rt, on_batch=on_batch)
    reconciled = reconcile_dirty(rt)
    plan = plan_notifications(rt)
    delivery = deliver_notifications(rt, dry_run=dry_run)
    return RunReport(syncs=syncs, reconcile=reconciled, plan=plan, delivery=delivery)


# -- pushed events ------------------------------------------------------------------------------


PUSHED_EVENTS_KEPT = timedelta(days=1)  # Slack retries for minutes; repeats after a day are not expected
MESSAGE_VERSIONS_KEPT = timedelta(days=7)  # a late edit older than this is left to the poller


@dataclass
class PushReport:
    """What one pushed event did: `stored`, or why not (`duplicate`, `stale`)."""

    outcome: str
    source_ref: str
    dirty: set[str] = field(default_factory=set)
    requests: int = 0
    reconcile: ReconcileReport | None = None
    plan: PlanReport | None = None
    delivery: DeliverReport | None = None


def apply_push(
    rt: Runtime,
    source: SourceName,
    connector: Connector,
    *,
    partition: str,
    change: PushedChange,
    event_id: str | None,
    deliver: bool = True,
) -> PushReport:
    """One pushed event (a Slack message event), in one short step: stated as the poller
    states it (its plugin's `PushMapping`, same claim identity, so the two never double count),
    stored without moving the poller's cursor (a Slack reply only noted on its watched thread,
    so the next poll does not read the thread for it), then the deliverables it touched
    reconciled and the notifier run. A repeated event id, and a version older than one already
    stored (an edit before its message, an old edit after a newer one, anything after a
    deletion), change nothing."""
    mapping = _push_mapping(rt, source)
    ref = change.source_ref
    with session_scope(rt.engine) as session:
        if event_id and store.event_taken(session, event_id):
            return PushReport("duplicate", ref)
        if _stale(session, source, mapping, change):
            return _drop_stale(rt, source, change, event_id)
        cursor = store.get_cursor(session, source, partition)
    batch = mapping.batch(connector, partition, cursor, change)
    now = rt.now()
    with session_scope(rt.engine) as session:
        if event_id and store.event_taken(session, event_id):  # taken meanwhile by another listener
            return PushReport("duplicate", ref)
        if _stale(session, source, mapping, change):
            return _drop_stale(rt, source, change, event_id)
        # the poller's cursor learns of the change (read afresh, in this transaction)
        batch.cursor = mapping.cursor_after(connector, store.get_cursor(session, source, partition), change,
                                            bool(batch.observations))
        result = store.apply_batch(session, source=source, partition=partition, batch=batch, now=now)
        store.record_message_version(session, source, ref, change.version, deleted=change.deleted, now=now)
        if event_id:
            store.take_event(session, event_id, now=now)
    report = PushReport("stored", ref, dirty=set(result.dirty), requests=batch.requests)
    log.info("event stored", extra={"source": str(source), "partition": partition, "ref": ref, "dirty": len(result.dirty)})
    if report.dirty and deliver:
        report.reconcile, report.plan, report.delivery = reconcile_and_notify(rt)
    return report


def _push_mapping(rt: Runtime, source: SourceName) -> PushMapping:
    mapping = rt.sources.get(source).pushed
    if mapping is None:
        raise ConnectorError(f"{source}: the source pushes no events")
    return mapping


def pushed_change(rt: Runtime, source: SourceName, event: Mapping[str, Any]) -> PushedChange | None:
    """The change one event the source pushed makes, None for one that states no item."""
    return _push_mapping(rt, source).change(event)


def push_place(rt: Runtime, source: SourceName, connect: Callable[[], Connector], partition: str) -> str:
    """The id the source's pushes name `partition` by (a Slack channel id): the one its stored
    cursor remembers, else asked of the source through `connect()` (a ConnectorError when it
    cannot be)."""
    with session_scope(rt.engine) as session:
        cursor = store.get_cursor(session, source, partition)
    return _push_mapping(rt, source).place(connect, partition, cursor)


def _stale(session: Session, source: SourceName, mapping: PushMapping, change: PushedChange) -> bool:
    known = store.message_version(session, source, change.source_ref)
    if known is not None and (known.deleted or (
            not change.deleted and mapping.version_key(change.version) < mapping.version_key(known.version))):
        return True
    if change.deleted:
        return False
    edited = store.newest_edit(session, source, change.source_ref)  # a newer edit the poller stored
    return edited is not None and edited > mapping.version_time(change.version)


def _drop_stale(rt: Runtime, source: SourceName, change: PushedChange, event_id: str | None) -> PushReport:
    with session_scope(rt.engine) as session:
        if event_id and not store.event_taken(session, event_id):
            store.take_event(session, event_id, now=rt.now())
    log.info("stale event dropped", extra={"source": str(source), "ref": change.source_ref, "version": change.version})
    return PushReport("stale", change.source_ref)


def reconcile_and_notify(rt: Runtime) -> tuple[ReconcileReport, PlanReport, DeliverReport]:
    """Reconcile the dirty deliverables (and their dependents, and those due for their next
    check; never a full pass, which the periodic pipeline makes when the rules' configuration
    changed), then plan and deliver what is due."""
    from reconciler import engine

    with session_scope(rt.engine) as session:
        reconciled = engine.reconcile_dirty(session, config=rt.config, now=rt.now())
    return reconciled, plan_notifications(rt), deliver_notifications(rt)


def prune_pushed_events(rt: Runtime) -> None:
    now = rt.now()
    with session_scope(rt.engine) as session:
        store.prune_pushed(session, events_before=now - PUSHED_EVENTS_KEPT, versions_before=now - MESSAGE_VERSIONS_KEPT)


# -- polling as the safety net ------------------------------------------------------------------


PUSHES_ALIVE_FOR = timedelta(minutes=2)  # a heartbeat older than this: poll at the usual pace again


def note_pushes_alive(rt: Runtime, source: SourceName) -> None:
    """The source's push listener is connected (Slack's Socket Mode) or has just received a push."""
    with session_scope(rt.engine) as session:
        store.record_periodic(session, rt.sources.get(source).pushes_heartbeat, now=rt.now())


def pushes_flowing(rt: Runtime, source: SourceName) -> bool:
    with session_scope(rt.engine) as session:
        last = store.last_periodic(session, rt.sources.get(source).pushes_heartbeat)
    return last is not None and rt.now() - last < PUSHES_ALIVE_FOR


@dataclass(frozen=True)
class PollPace:
    """How often partitions are polled (seconds): `every` as a rule, and each source's own
    `PollPlan` (`SourcePlugin.poll`): its `interval` instead when set (Asana's /events, cheap
    when nothing changed), its `while_pushed` while its pushes flow (a Slack channel while the
    Slack app hears its events: polling is then only the safety net)."""

    every: float
    plans: Mapping[SourceName, PollPlan] = field(default_factory=dict)

    @classmethod
    def for_sources(cls, every: float, sources: Iterable[SourcePlugin], settings: object) -> PollPace:
        """The pace of `every` with each source's plan read from the worker `settings`."""
        return cls(every, {plugin.name: plugin.poll(settings) for plugin in sources})

    @property
    def tick(self) -> float:
        """How often to look for due partitions: the shortest of the intervals in use."""
        return min([self.every, *(plan.interval for plan in self.plans.values() if plan.interval)])

    def interval(self, source: SourceName, *, pushed: bool) -> float:
        """The source's interval, `pushed` saying whether its pushes flow now."""
        plan = self.plans.get(source, PollPlan())
        if pushed and plan.while_pushed is not None:
            return plan.while_pushed
        return plan.interval or self.every

    def push_paced(self, source: SourceName) -> bool:
        """Whether the source's pace depends on its pushes flowing."""
        return self.plans.get(source, PollPlan()).while_pushed is not None


def partitions_due(
    rt: Runtime, partitions: list[tuple[SourceName, str]], pace: PollPace
) -> list[tuple[SourceName, str]]:
    """The partitions whose interval (see `PollPace`) has passed since their last success. A
    partition is due half a tick early, so one whose interval is the tick is polled on every
    tick despite jitter. Pushes missed in a disconnect or a restart are caught up from the
    partition's cursor by the next poll: once the source's heartbeat is stale, at the usual pace."""
    sources = {source for source, _ in partitions}
    intervals = {
        source: pace.interval(source, pushed=pace.push_paced(source) and pushes_flowing(rt, source))
        for source in sources
    }
    if all(interval <= pace.tick for interval in intervals.values()):
        return partitions
    now = rt.now()
    last: dict[SourceName, dict[str, datetime]] = {}
    with session_scope(rt.engine) as session:
        for source in sources:
            last[source] = store.last_successes(session, source)

    def due(source: SourceName, partition: str) -> bool:
        at = last[source].get(partition)
        return at is None or (now - at).total_seconds() >= intervals[source] - pace.tick / 2

    return [(source, partition) for source, partition in partitions if due(source, partition)]
