"""The level-triggered reconciler: re-read everything about a set of deliverables, evaluate every
rule, and bring conflicts and canonical state in line with what the rules find.

Work is done per chunk of deliverables: deliverables, live claims, the canonical-state inputs of
their dependencies, conflicts and dependency edges are one query each, and every change is
flushed with executemany. Nothing here commits (the caller owns the transaction), and running it
twice changes nothing. A large `reconcile_all` (from `PARALLEL_MIN` deliverables, when the
caller's transaction has not written yet) reads and evaluates in `WORKERS` processes and writes
their plans here in key order: the same store as the serial run (see `_run_parallel`).

The conflict lifecycle (what opens, follows, reopens or closes a conflict) is
`reconciler.lifecycle`'s; this module reads, evaluates the rules and writes what they decide.
Each deliverable's `next_check_at` is the earliest moment a rule says time alone may change its
findings; `reconcile_dirty` takes those whose moment has passed along with the dirty ones, so no
periodic pass over everything is needed.
"""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import JSON, Date, Table, and_, select, true, update
from sqlmodel import Session

from connectors.base import ClaimKind
from connectors.registry import current_sources
from reconciler import lifecycle, rules, store
from reconciler.models import (
    AuditEvent,
    Conflict,
    Deliverable,
    DeliverableDependency,
    UTCDateTime,
)
from reconciler.protocol import Config

log = logging.getLogger(__name__)

_STATE_KIND = ClaimKind.STATE.value

# deliverables planned and written together: a chunk's claims, plans and pymalloc arenas are most
# of what a process holds beyond what it keeps across chunks; 250 against 1,000 took a 100,000
# deliverable pass from 231 to 201 MB (both processes) at the same CPU time (issue #21)
CHUNK = 250
WORKERS = 2  # at most, reconcile_all's planning processes (this one included)
PARALLEL_MIN = 20_000  # deliverables; below this starting the workers costs more than it saves

_D: Table = Deliverable.__table__  # type: ignore[attr-defined]
_C: Table = Conflict.__table__  # type: ignore[attr-defined]
_E: Table = DeliverableDependency.__table__  # type: ignore[attr-defined]
_A: Table = AuditEvent.__table__  # type: ignore[attr-defined]
_IS_DIRTY = _D.c.dirty == true()  # "= true", not "IS true": the form the partial index matches


@dataclass
class ReconcileReport:
    reconciled: int = 0
    opened: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    auto_resolved: list[int] = field(default_factory=list)
    reopened: list[int] = field(default_factory=list)
    due: int = 0  # of those reconciled, how many because their next check had come
    worker_cpu_seconds: float = field(default=0.0, compare=False)  # of worker processes, if any
    chunks_by_workers: int = field(default=0, compare=False)  # chunks planned by worker processes

    def add(self, other: ReconcileReport) -> None:
        self.worker_cpu_seconds += other.worker_cpu_seconds
        self.chunks_by_workers += other.chunks_by_workers
        self.reconciled += other.reconciled
        self.due += other.due
        self.opened += other.opened
        self.updated += other.updated
        self.auto_resolved += other.auto_resolved
        self.reopened += other.reopened


# -- entry points ---------------------------------------------------------------------------


def reconcile(session: Session, keys: Iterable[str], *, config: Config, now: datetime) -> ReconcileReport:
    """Reconcile exactly `keys` (unknown keys are skipped); leaves `dirty` flags alone."""
    return _run(session, _PackedChunks.of(_chunks(sorted(set(keys)))), config=config, now=now)


def reconcile_dirty(
    session: Session,
    *,
    config: Config,
    now: datetime,
    limit: int | None = None,
    hold: Sequence[tuple[str, str]] = (),
) -> ReconcileReport:
    """Reconcile deliverables marked dirty (at most `limit` of them) and everything depending on
    them, and those whose next check has come (at most `limit` more), and clear the flags.
    Flags are cleared before anything is read, so a sync committing meanwhile leaves its
    deliverables dirty for the next pass instead of being lost. Deliverables with claims from a
    partition in `hold` ((source, partition) with a sync under way) stay dirty (or due) for the
    pass after that sync: half a sync opens findings the whole one would not.

    A deliverable due for its check is reconciled on its own: what its dependents read of it
    (its canonical state) does not change with time; their own next checks cover their dates."""
    stmt = select(_D.c.key).where(_IS_DIRTY).order_by(_D.c.key)
    dirty = list(session.execute(stmt if limit is None else stmt.limit(limit)).scalars())
    due = due_for_check(session, now=now, limit=limit)
    held = store.keys_claimed_in(session, sorted(set(dirty) | set(due)), hold)
    dirty = [key for key in dirty if key not in held]
    for chunk in _chunks(dirty):
        _clear_dirty(session, chunk)
    keys = (set(dirty) | _dependents(session, dirty) | set(due)) - held
    report = _run(session, _PackedChunks.of(_chunks(sorted(keys))), config=config, now=now)
    report.due = len(set(due) - held)
    return report


def due_for_check(session: Session, *, now: datetime, limit: int | None = None) -> list[str]:
    """Deliverables whose next check (`next_check_at`) has come (the `limit` longest due), in
    key order. Ordered by the checked column, not the key: SQLite would otherwise walk the key
    index through the whole table instead of searching `ix_deliverable_next_check_at`."""
    stmt = select(_D.c.key).where(_D.c.next_check_at <= now).order_by(_D.c.next_check_at)
    return sorted(session.execute(stmt if limit is None else stmt.limit(limit)).scalars())


def reconcile_all(
    session: Session, *, config: Config, now: datetime, workers: int | None = None, parallel_min: int = PARALLEL_MIN
) -> ReconcileReport:
    """Reconcile every deliverable and clear every dirty flag. From `parallel_min` deliverables
    on, `workers` processes (this one and helpers; by default one per CPU, at most `WORKERS`)
    plan chunks as they come free while this one writes (see `_run_parallel`); the result is
    the same as reconciling in this process."""
    session.flush()
    chunks = _PackedChunks.of(_all_keys(session))
    if workers is None:
        workers = _default_workers()
    url = _parallel_url(session) if workers > 1 and chunks.deliverables >= parallel_min else None
    session.execute(update(_D).where(_IS_DIRTY).values(dirty=False))
    return _run(session, chunks, config=config, now=now, parallel=(url, workers) if url else None)


def _all_keys(session: Session) -> Iterator[list[str]]:
    """Every deliverable's key in key order, a chunk at a time: the keys of a whole store as
    one list would be the largest thing a pass keeps."""
    cursor = session.connection().connection.cursor()
    try:
        cursor.execute("SELECT key FROM deliverable ORDER BY key")
        while rows := cursor.fetchmany(CHUNK):
            yield [key for (key,) in rows]
    finally:
        cursor.close()


def rules_fingerprint(config: Config) -> str:
    """What evaluation reads of the configuration (the rules' settings, the time zone, people's
    names) and the rules' version: when it changes, every deliverable is due a full pass."""
    read = {
        "version": rules.RULES_VERSION,
        "rules": config.rules.model_dump(mode="json"),
        "timezone": config.timezone,
        "people": sorted((p.key, p.name) for p in config.people),
    }
    return hashlib.sha256(orjson.dumps(read, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _run(
    session: Session, chunks: _PackedChunks, *, config: Config, now: datetime, parallel: tuple[str, int] | None = None
) -> ReconcileReport:
    session.flush()
    report = ReconcileReport()
    with _gc_paused(), _sqlite_cache(session, deliverables=chunks.deliverables):
        if parallel is not None:
            _run_parallel(session, chunks, config, now, report, *parallel)
        else:
            context = _Context.load(session, config, chunks=len(chunks))
            for index in range(len(chunks)):
                plan = _plan_chunk(session, chunks.unpack(index), context, now)
                _flush(session, plan)
                report.add(plan.report)
    _expire_written_objects(session)
    return report


# -- parallel -------------------------------------------------------------------------------
# Reading and evaluating is most of a full pass and needs nothing from the other chunks (the
# canonical state of a dependency planned by another process is derived again, as in
# `_derive_missing`), so helper processes plan chunks on their own connections while this
# process plans chunks too and applies every plan, in key order, in the caller's transaction:
# the one writer SQLite allows, the same conflict ids and audit order as the serial run.
# Chunks are handed out one at a time from a shared counter, so a helper that gets less CPU
# (a busy box) simply plans fewer of them instead of holding up the writes. Helpers read
# committed data only, so this is used only when the caller's transaction has written nothing
# yet (our own clearing of the dirty flags aside, which nothing reads), and not from a daemonic
# process (which may not have children).

AHEAD = 6  # chunks planned but not yet written, at most: bounds the plans held in memory


def _default_workers() -> int:
    """`WORKERS`, or fewer when this process may use fewer CPUs."""
    import os

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(WORKERS, cpus))


def _parallel_url(session: Session) -> str | None:
    """The URL helper processes can read the same data from, or None when they could not."""
    import multiprocessing

    if multiprocessing.current_process().daemon:
        return None
    connection = session.connection()
    url = connection.engine.url
    if connection.dialect.name == "sqlite":
        database = url.database or ""
        if not database or database == ":memory:" or "mode=memory" in str(url):
            return None
        if connection.connection.dbapi_connection.in_transaction:  # type: ignore[union-attr]
            return None
    elif connection.dialect.name == "postgresql":
        if connection.exec_driver_sql("SELECT txid_current_if_assigned()").scalar() is not None:
            return None
    else:
        return None
    return url.render_as_string(hide_password=False)


@dataclass
class _Handout:
    """Which chunk is next to plan and which next to write, shared by every process of a pass."""

    total: int
    next_to_plan: Any  # multiprocessing.Value("q"), with its lock
    next_to_write: Any  # multiprocessing.Value("q"); written by the parent only

    def claim(self) -> int | None:
        """The next chunk to plan, or None when all are handed out or `AHEAD` wait to be written."""
        with self.next_to_plan.get_lock():
            index = self.next_to_plan.value
            if index >= self.total or index - self.next_to_write.value >= AHEAD:
                return None
            self.next_to_plan.value = index + 1
            return int(index)

    def exhausted(self) -> bool:
        return bool(self.next_to_plan.value >= self.total)


def _run_parallel(
    session: Session, chunks: _PackedChunks, config: Config, now: datetime, report: ReconcileReport, url: str,
    workers: int,
) -> None:
    """`workers - 1` helper processes and this one plan chunks as they come free; this one
    writes every plan, in key order."""
    import multiprocessing

    # Not "fork": a child must not inherit this process's SQLite state (its connections and the
    # locks SQLite believes this process holds). Not "forkserver" either: the fork server stays
    # alive with every module imported (about 45 MB of its own), and a helper forked from it
    # dirties most of those pages anyway; a spawned helper imports what it needs, in the same
    # half second. Either needs the main module to be importable without side effects.
    context = multiprocessing.get_context("spawn")
    handout = _Handout(len(chunks), context.Value("q", 0), context.Value("q", 0, lock=False))
    results = context.Queue()  # its feeder thread lets a helper plan on while we write
    helpers = [
        context.Process(target=_worker, args=(url, chunks, handout, config, now, results), daemon=True)
        for _ in range(workers - 1)
    ]
    # Starting a helper waits for it to import this module (half a second): this process plans
    # meanwhile.
    starter = threading.Thread(target=_start_each, args=(helpers,), daemon=True)
    try:
        starter.start()
        inbox = _Inbox(results, helpers)
        own = _Context.load(session, config, chunks=len(chunks))
        planned: dict[int, _Writes] = {}
        for index in range(len(chunks)):
            planned.update(inbox.ready())
            while index not in planned:
                mine = handout.claim()
                if mine is not None:
                    planned[mine] = _plan_chunk(session, chunks.unpack(mine), own, now)
                else:
                    planned.update(inbox.wait())
                planned.update(inbox.ready())
            plan = planned.pop(index)
            _flush(session, plan)
            report.add(plan.report)
            handout.next_to_write.value = index + 1
        starter.join()
        report.worker_cpu_seconds += inbox.finish()
        report.chunks_by_workers += inbox.plans_received
    finally:
        starter.join()
        for helper in helpers:
            if helper.pid is None:  # never started
                continue
            if helper.is_alive():
                helper.kill()
            helper.join()
        results.close()


def _start_each(processes: list[Any]) -> None:
    """Start the helpers; one that cannot start leaves its chunks to this process."""
    for process in processes:
        try:
            process.start()
        except Exception as exc:  # noqa: BLE001 - the pass goes on without it
            log.warning("reconcile helper process could not start (%s): planning in this process", exc)
            return


class _Inbox:
    """What helper processes send: ("plan", chunk index, plan), ("done", cpu seconds) or
    ("error", message)."""

    def __init__(self, queue: Any, helpers: list[Any]) -> None:
        self.queue = queue
        self.helpers = helpers
        self.running = len(helpers)
        self.cpu_seconds = 0.0
        self.plans_received = 0

    def wait(self) -> dict[int, _Writes]:
        """Block until a plan arrives."""
        import queue as queues

        while True:
            try:
                plans = self._take(self.queue.get(timeout=1))
            except queues.Empty:
                self._check_alive()
                continue
            if plans:
                return plans

    def ready(self) -> dict[int, _Writes]:
        """The plans that arrived already, without waiting."""
        import queue as queues

        plans: dict[int, _Writes] = {}
        while True:
            try:
                plans.update(self._take(self.queue.get_nowait()))
            except queues.Empty:
                return plans

    def finish(self) -> float:
        """Wait for every started helper's "done" (call once all were started); their CPU seconds."""
        import queue as queues

        self.running -= sum(helper.pid is None for helper in self.helpers)
        while self.running:
            try:
                if self._take(self.queue.get(timeout=1)):
                    raise RuntimeError("reconcile worker sent a plan nobody asked for")
            except queues.Empty:
                self._check_alive()
        return self.cpu_seconds

    def _take(self, message: tuple[Any, ...]) -> dict[int, _Writes]:
        kind = message[0]
        if kind == "error":
            raise RuntimeError(f"reconcile worker failed: {message[1]}")
        if kind == "done":
            self.running -= 1
            self.cpu_seconds += message[1]
            return {}
        self.plans_received += 1
        return {message[1]: message[2]}

    def _check_alive(self) -> None:
        started = [helper for helper in self.helpers if helper.pid is not None]
        for helper in started:
            if helper.exitcode not in (None, 0):
                raise RuntimeError(f"reconcile worker exited with code {helper.exitcode}")
        if self.running and started and all(helper.exitcode == 0 for helper in started):
            raise RuntimeError("reconcile workers exited without finishing")


def _worker(
    url: str, chunks: _PackedChunks, handout: _Handout, config: Config, now: datetime, results: Any
) -> None:
    """Plan chunks as `handout` gives them out, from a connection of its own; send each plan
    to the parent."""
    from reconciler.db import make_engine

    gc.disable()
    engine = make_engine(url, pool_size=1)
    try:
        with Session(engine) as session:
            context = _Context.load(session, config, chunks=handout.total)
            while not handout.exhausted():
                index = handout.claim()
                if index is None:
                    time.sleep(0.005)  # the parent is writing: too far ahead of it
                    continue
                results.put(("plan", index, _plan_chunk(session, chunks.unpack(index), context, now)))
            session.rollback()
        results.put(("done", time.process_time()))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which raises
        results.put(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        results.close()
        results.join_thread()
        engine.dispose()


@dataclass(frozen=True)
class _PackedChunks:
    """A pass's chunks of keys, as one string per chunk: a list of 100,000 key strings costs
    about 7 MB in each process (and as much again while a helper unpickles it), the joined
    text a seventh of that; a chunk is split back into its keys when it is planned."""

    texts: tuple[str, ...] | None  # keys joined by SEPARATOR; None when a key contains it
    lists: tuple[Sequence[str], ...] = ()
    deliverables: int = 0  # keys in all chunks

    SEPARATOR = "\x00"

    @classmethod
    def of(cls, chunks: Iterable[Sequence[str]]) -> _PackedChunks:
        texts: list[str] | None = []
        lists: list[Sequence[str]] = []
        deliverables = 0
        for chunk in chunks:
            deliverables += len(chunk)
            if texts is not None:
                text = cls.SEPARATOR.join(chunk)
                if text.count(cls.SEPARATOR) == len(chunk) - 1:
                    texts.append(text)
                    continue
                lists, texts = [t.split(cls.SEPARATOR) for t in texts], None
            lists.append(list(chunk))
        return cls(None if texts is None else tuple(texts), tuple(lists), deliverables)

    def __len__(self) -> int:
        return len(self.lists) if self.texts is None else len(self.texts)

    def unpack(self, index: int) -> Sequence[str]:
        if self.texts is None:
            return self.lists[index]
        return self.texts[index].split(self.SEPARATOR)


@contextmanager
def _sqlite_cache(session: Session, *, deliverables: int) -> Iterator[None]:
    """A pass of more than a chunk inserts into half a dozen indexes at random places; with
    SQLite's default 2 MB page cache it would spend most of its write time re-reading index
    pages. 2,000 pages (about 8 MB) measured as fast as 6,000 (and those as fast as 25,000 and
    250,000, 1 GiB); 1,000 cost a tenth more CPU in a steady pass (issue #21)."""
    connection = session.connection()
    if connection.dialect.name != "sqlite" or deliverables <= CHUNK:
        yield
        return
    before = int(connection.exec_driver_sql("PRAGMA cache_size").scalar() or -2000)  # -2000: the default
    connection.exec_driver_sql("PRAGMA cache_size = 2000")
    try:
        yield
    finally:
        connection.exec_driver_sql(f"PRAGMA cache_size = {before}")


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Reading a million claims allocates millions of acyclic objects; the cyclic collector
    would rescan the growing heap over and over (a third of the run) and find nothing."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# -- reading --------------------------------------------------------------------------------
# The hot path reads claims, deliverables and conflicts as plain DB-API tuples: at a million
# claims, SQLAlchemy's per-row and per-value processing costs more than all the rules together.
# `_ts`, `_day` and `_json` convert what SQLite (text) and PostgreSQL (typed values) hand back.


@dataclass
class _Context:
    config: Config
    policy: rules.Policy
    tz: ZoneInfo
    names: dict[tuple[str, str], str]
    sql: _Sql
    # In a pass of several chunks, the deliverables something depends on as far as the store
    # knows before this run (configured dependencies and the edges of earlier runs): only
    # their canonical state is kept past their chunk, and one missing here (a dependency first
    # claimed since) is derived again. None: keep everything (a pass of one chunk).
    depended_on: frozenset[str] | None
    # What dependents read of deliverables derived in this run (of the current chunk, and of
    # those in `depended_on` from earlier chunks, and further down their dependencies);
    # nothing the reconciler writes changes it.
    canonical: _Known = field(default_factory=lambda: _Known())

    @classmethod
    def load(cls, session: Session, config: Config, *, chunks: int) -> _Context:
        return cls(
            config, rules.Policy.of(config.rules), ZoneInfo(config.timezone), store.author_names(session),
            _Sql.of(session), _depended_on(session) if chunks > 1 else None,
        )

    def forget(self, keys: Iterable[str]) -> None:
        """Done with these deliverables: keep the canonical state of those depended on only,
        and of those only what a dependent's rules read."""
        if self.depended_on is not None:
            self.canonical.keep_packed(drop=[key for key in keys if key not in self.depended_on])


class _Known:
    """What dependents read of deliverables derived so far in a pass, by key. Those of the
    chunk being planned are objects; those kept past their chunk are packed as JSON, about a
    fifth of the objects' size (a 100,000 deliverable pass keeps 23,000 of them in each
    process), and unpacked again for the chunk that reads them."""

    def __init__(self) -> None:
        self._live: dict[str, rules.DependencyFacts] = {}
        self._unpacked: dict[str, rules.DependencyFacts] = {}
        self._packed: dict[str, str] = {}

    def __contains__(self, key: object) -> bool:
        return key in self._live or key in self._packed

    def __getitem__(self, key: str) -> rules.DependencyFacts:
        facts = self._live.get(key) or self._unpacked.get(key)
        if facts is None:
            facts = self._unpacked[key] = _unpack_dependency(key, self._packed[key])
        return facts

    def __setitem__(self, key: str, facts: rules.DependencyFacts) -> None:
        self._live[key] = facts
        self._unpacked.pop(key, None)

    def keep_packed(self, *, drop: Iterable[str]) -> None:
        """Pack what was derived since the last call, but for `drop`, which is forgotten."""
        for key in drop:
            self._live.pop(key, None)
            self._packed.pop(key, None)
        for key, facts in self._live.items():
            self._packed[key] = _pack_dependency(facts)
        self._live.clear()
        self._unpacked.clear()


def _pack_dependency(facts: rules.DependencyFacts) -> str:
    """`facts` as JSON, its claims cut to what dependency rules read as evidence (id, source,
    field, kind, times). Text, not orjson's bytes, which keep its whole 4 KB buffer."""
    state = facts.canonical
    return orjson.dumps([
        facts.title, facts.owner, facts.reopened, facts.depends_on,
        state.status, state.status_source, _evidence(state.status_claim), _resolution(state.status_resolution),
        state.target_date, state.target_date_source, _evidence(state.date_claim), _resolution(state.date_resolution),
    ]).decode()


def _unpack_dependency(key: str, packed: str) -> rules.DependencyFacts:
    (title, owner, reopened, depends_on, status, status_source, status_claim, status_resolution,
     target_date, target_date_source, date_claim, date_resolution) = orjson.loads(packed)
    state = rules.CanonicalState(
        status, status_source, _evidence_claim(status_claim), _resolution_of(status_resolution),
        None if target_date is None else date.fromisoformat(target_date), target_date_source,
        _evidence_claim(date_claim), _resolution_of(date_resolution),
    )
    return rules.DependencyFacts(key, title, state, tuple(depends_on), owner, reopened)


def _evidence(claim: rules.ClaimView | None) -> list[Any] | None:
    if claim is None:
        return None
    return [claim.id, claim.source, claim.field, claim.kind, claim.stated_at, claim.edited_at, claim.recorded_at]


def _evidence_claim(packed: list[Any] | None) -> rules.ClaimView | None:
    if packed is None:
        return None
    id_, source, field_name, kind, stated_at, edited_at, recorded_at = packed
    return rules.ClaimView(
        id_, source, "", field_name, None, kind, None, _instant(stated_at),  # type: ignore[arg-type]
        edited_at=_instant(edited_at), recorded_at=_instant(recorded_at),
    )


def _resolution(resolution: rules.Resolution | None) -> list[Any] | None:
    if resolution is None:
        return None
    return [resolution.field, resolution.value, resolution.at, resolution.by, resolution.source]


def _resolution_of(packed: list[Any] | None) -> rules.Resolution | None:
    if packed is None:
        return None
    field_name, value, at, by, source = packed
    return rules.Resolution(field_name, value, _instant(at), by, source)  # type: ignore[arg-type]


def _instant(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _depended_on(session: Session) -> frozenset[str]:
    connection = session.connection()
    found = set(connection.execute(select(_E.c.dependency_key).distinct()).scalars())
    for (keys,) in connection.exec_driver_sql("SELECT depends_on FROM deliverable"):
        if keys and keys != "[]":
            found.update(_json(keys))
    return frozenset(found)


@dataclass(slots=True)
class _DeliverableRow:
    id: int
    key: str
    title: str
    owner_key: str | None
    role: str | None
    depends_on: list[str]
    canonical_status: str | None
    canonical_status_source: str | None
    target_date: date | None
    target_date_source: str | None
    conditions: dict[str, Any]
    decisions: dict[str, Any]
    updated_at: datetime | None
    next_check_at: datetime | None = None
    links: dict[str, str] = dataclasses.field(default_factory=dict)
    """The source records this deliverable is declared to be (link kind, its source -> ref)."""


@dataclass(slots=True)
class _ConflictRow:
    id: int
    fingerprint: str
    deliverable_key: str
    kind: str
    state: str
    severity: str
    summary: str
    evidence: Any  # JSON as the driver returns it: text (SQLite) or decoded (PostgreSQL)
    details: Any
    sources: Any
    newest_evidence_at: datetime | None
    resolved_at: datetime | None
    resolved_by: str | None
    resolution_value: str | None


_DELIVERABLES_SQL = (
    "SELECT id, key, title, owner_key, role, depends_on, canonical_status, canonical_status_source,"
    " target_date, target_date_source, conditions, decisions, updated_at, next_check_at"
    " FROM deliverable WHERE key IN ({keys})"
)
_LINKS_SQL = "SELECT deliverable_key, kind, ref FROM deliverable_link WHERE deliverable_key IN ({keys})"
# when each declared source record of a deliverable was last retracted (see `_gone_links`)
_RETRACTED_SQL = (
    "SELECT deliverable_key, source, source_ref, MAX(deleted_at) FROM observation"
    " WHERE source = {first} AND source_ref IN ({keys}) AND deleted_at IS NOT NULL"
    " GROUP BY deliverable_key, source, source_ref"
)
_CLAIMS_SQL = (
    "SELECT deliverable_key, id, source, source_ref, field, value, kind, author, stated_at, edited_at, updated_at"
    " FROM observation WHERE deleted_at IS NULL AND deliverable_key IN ({keys})"
)
_CLAIMS_PACKED_SQL = (
    "SELECT deliverable_key, json_group_array(json_array(id, source, source_ref, field, value, kind, author,"
    " stated_at, edited_at, updated_at)) FROM observation WHERE deleted_at IS NULL AND deliverable_key IN ({keys})"
)
# PostgreSQL packs them too, as JSON text decoded by orjson (psycopg would decode with `json`),
# times as UTC without an offset, the form `_ts` reads from SQLite
_CLAIMS_PACKED_PG_SQL = (
    "SELECT deliverable_key, json_agg(json_build_array(id, source, source_ref, field, value, kind, author,"
    " stated_at AT TIME ZONE 'UTC', edited_at AT TIME ZONE 'UTC', updated_at AT TIME ZONE 'UTC'))::text"
    " FROM observation WHERE deleted_at IS NULL AND deliverable_key IN ({keys})"
)
# what a dependent reads of a dependency: its status and date, and what it depends on in turn
_STATUS_AND_DATE = f" AND field IN ('{rules.STATUS}', '{rules.TARGET_DATE}', '{rules.DEPENDS_ON}')"
_CONFLICTS_SQL = (
    "SELECT id, fingerprint, deliverable_key, kind, state, severity, summary, evidence, details,"
    " sources, newest_evidence_at, resolved_at, resolved_by, resolution_value"
    " FROM conflict WHERE deliverable_key IN ({keys})"
)
_EDGES_SQL = "SELECT dependent_key, dependency_key FROM deliverable_dependency WHERE dependent_key IN ({keys})"
_DEPENDENTS_SQL = "SELECT dependent_key FROM deliverable_dependency WHERE dependency_key IN ({keys})"
_IDS_SQL = "SELECT fingerprint, id FROM conflict WHERE fingerprint IN ({keys})"


def _fetch(session: Session, sql: str, keys: Sequence[str], *, first: str | None = None) -> list[tuple[Any, ...]]:
    """Run `sql` with `{keys}` bound to `keys` (and `{first}`, when given, to `first`), in the
    session's transaction, as DB-API rows."""
    connection = session.connection()
    mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    cursor = connection.connection.cursor()
    try:
        if first is None:
            cursor.execute(sql.format(keys=",".join([mark] * len(keys))), tuple(keys))
        else:
            cursor.execute(sql.format(first=mark, keys=",".join([mark] * len(keys))), (first, *keys))
        return list(cursor.fetchall())
    finally:
        cursor.close()


def _ts(value: Any) -> datetime | None:
    if value.__class__ is str:
        return datetime.fromisoformat(value + "+00:00")  # SQLite keeps UTC without an offset
    if value is None or value.tzinfo is timezone.utc:
        return value  # type: ignore[no-any-return]
    return value.astimezone(timezone.utc) if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _day(value: Any) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) else value


def _json(value: Any) -> Any:
    if value.__class__ is not str:
        return value
    return _EMPTY_JSON[value] if value in _EMPTY_JSON else orjson.loads(value)


def _dumps(value: Any) -> str:
    """JSON text for SQLite. Not the ORM's serializer (json.dumps, with spaces): only the text
    differs, and nothing compares stored JSON as text."""
    return orjson.dumps(value).decode()


_EMPTY_JSON: dict[str, Any] = {"{}": {}, "[]": []}  # most rows; callers copy with `or`


def _chunks(items: Sequence[str], size: int | None = None) -> Iterator[Sequence[str]]:
    size = size or CHUNK
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _load_deliverables(session: Session, keys: Sequence[str]) -> dict[str, _DeliverableRow]:
    found = {}
    for row in _fetch(session, _DELIVERABLES_SQL, keys):
        (id_, key, title, owner, role, depends_on, status, status_source, target_date, date_source,
         conditions, decisions, updated_at, next_check_at) = row
        found[key] = _DeliverableRow(
            id_, key, title, owner, role, _json(depends_on) or [], status, status_source,
            _day(target_date), date_source, _json(conditions) or {}, _json(decisions) or {}, _ts(updated_at),
            _ts(next_check_at),
        )
    if found:
        for key, kind, ref in _fetch(session, _LINKS_SQL, list(found)):
            found[key].links[kind] = ref
    return found


def _load_claims(
    session: Session, keys: Sequence[str], names: dict[tuple[str, str], str], *, status_and_date_only: bool = False
) -> dict[str, list[rules.ClaimView]]:
    """Live claims of `keys`, per deliverable. The store packs each deliverable's claims into one
    JSON array (`_CLAIMS_PACKED_SQL`, `_CLAIMS_PACKED_PG_SQL`): a third cheaper than a row per
    claim on SQLite, the one cost of a full pass that dwarfs the rules."""
    only = _STATUS_AND_DATE if status_and_date_only else ""
    groups: Iterator[tuple[str, list[Any]]]
    packed_sql = _packed_claims_sql(session)
    if packed_sql is not None:
        packed = _fetch(session, packed_sql + only + " GROUP BY 1", keys)
        groups = ((key, orjson.loads(claims)) for key, claims in packed)
    else:
        grouped: dict[str, list[Any]] = defaultdict(list)
        for key, *claim in _fetch(session, _CLAIMS_SQL + only, keys):
            grouped[key].append(claim)
        groups = iter(grouped.items())
    found: dict[str, list[rules.ClaimView]] = {}
    view = rules.ClaimView
    scope_of = current_sources().ref_kind  # the plugins say what their refs name
    times: dict[Any, datetime | None] = {None: None}  # a sync stamps many claims alike: parse once
    ts = _ts
    for key, claims in groups:
        found[key] = views = []
        for id_, source, ref, field_name, value, kind, author, stated_at, edited_at, recorded_at in claims:
            recorded = times.get(recorded_at)
            if recorded is None and recorded_at is not None:
                recorded = times[recorded_at] = ts(recorded_at)
            views.append(view(
                id_, source, ref, field_name, value, kind, author, ts(stated_at), "", None,  # type: ignore[arg-type]
                None if edited_at is None else ts(edited_at), names.get((source, author)) if author else None,
                recorded, scope_of(source, ref) if kind == _STATE_KIND else "item",
            ))
    return found


def _packed_claims_sql(session: Session) -> str | None:
    """The query reading claims packed per deliverable in this store's dialect, or None when
    the store cannot pack them (SQLite without its JSON functions)."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        return _CLAIMS_PACKED_PG_SQL
    if connection.dialect.name == "sqlite" and _sqlite_has_json(connection.connection.dbapi_connection):
        return _CLAIMS_PACKED_SQL
    return None


def _sqlite_has_json(dbapi_connection: Any) -> bool:
    """JSON functions are built into SQLite from 3.38 and usually compiled in before."""
    global _SQLITE_JSON
    if _SQLITE_JSON is None:
        try:
            dbapi_connection.execute("SELECT json_group_array(json_array(1))").fetchall()
            _SQLITE_JSON = True
        except Exception:  # noqa: BLE001 - sqlite3.OperationalError: no such function
            _SQLITE_JSON = False
    return _SQLITE_JSON


_SQLITE_JSON: bool | None = None


def _load_conflicts(session: Session, keys: Sequence[str]) -> dict[str, list[_ConflictRow]]:
    found: dict[str, list[_ConflictRow]] = defaultdict(list)
    for row in _fetch(session, _CONFLICTS_SQL, keys):
        (id_, fp, key, kind, state, severity, summary, evidence, details, sources, newest,
         resolved_at, resolved_by, resolution_value) = row
        found[key].append(_ConflictRow(
            id_, fp, key, kind, state, severity, summary, evidence, details, sources,
            _ts(newest), _ts(resolved_at), resolved_by, resolution_value,
        ))
    return found


def _dependents(session: Session, keys: Sequence[str]) -> set[str]:
    """Everything that depends on `keys`, directly or further up (a blocked dependency two
    levels down changes what the deliverable at the top is told)."""
    found: set[str] = set()
    frontier = list(keys)
    while frontier:
        above = {key for chunk in _chunks(frontier) for (key,) in _fetch(session, _DEPENDENTS_SQL, chunk)}
        frontier = sorted(above - found - set(keys))
        found |= above
    return found


@dataclass
class _Snapshot:
    deliverables: dict[str, _DeliverableRow]
    claims: dict[str, list[rules.ClaimView]]
    conflicts: dict[str, list[_ConflictRow]]
    edges: dict[str, set[str]]
    current: dict[str, rules.CurrentClaims]
    depends_on: dict[str, tuple[str, ...]]
    gone: dict[str, tuple[rules.GoneLink, ...]]


def _snapshot(session: Session, keys: Sequence[str], context: _Context) -> _Snapshot:
    """Everything the rules need for `keys`; the canonical state of every deliverable read
    (and of dependencies outside the chunk) lands in `context.canonical`."""
    deliverables = _load_deliverables(session, keys)
    claims = _load_claims(session, keys, context.names)
    current: dict[str, rules.CurrentClaims] = {}
    depends_on: dict[str, tuple[str, ...]] = {}
    for key, row in deliverables.items():
        current[key] = rules.current_by_field(claims.get(key, ()))
        depends_on[key] = rules.depends_on(key, row.depends_on, current[key])
        state = rules.canonical_state(current[key], _decisions(row))
        depended_on = context.depended_on is None or key in context.depended_on
        reopened = depended_on and rules.was_reopened(claims.get(key, ()), state)  # only dependents ask
        context.canonical[key] = rules.DependencyFacts(
            key, row.title, state, depends_on[key], _person_name(context, row.owner_key), reopened
        )
    _derive_missing(session, {d for deps in depends_on.values() for d in deps}, context)
    edges: dict[str, set[str]] = defaultdict(set)
    for dependent, dependency in _fetch(session, _EDGES_SQL, keys):
        edges[dependent].add(dependency)
    gone = _gone_links(session, deliverables, claims)
    return _Snapshot(deliverables, claims, _load_conflicts(session, keys), edges, current, depends_on, gone)


def _person_name(context: _Context, person_key: str | None) -> str | None:
    """A decision owner as people read them (author_names keys people by ("manual", key))."""
    if person_key is None:
        return None
    return context.names.get(("manual", person_key), person_key)


def _gone_links(
    session: Session, deliverables: dict[str, _DeliverableRow], claims: dict[str, list[rules.ClaimView]]
) -> dict[str, tuple[rules.GoneLink, ...]]:
    """Declared source records whose every claim was retracted: the task was deleted or moved
    out of what is synced."""
    by_source: dict[str, set[str]] = defaultdict(set)
    for row in deliverables.values():
        for source, ref in row.links.items():
            by_source[source].add(ref)
    if not by_source:
        return {}
    retracted = [found for source, refs in sorted(by_source.items())
                 for found in _fetch(session, _RETRACTED_SQL, sorted(refs), first=source)]
    gone: dict[str, list[rules.GoneLink]] = defaultdict(list)
    for key, source, ref, retracted_at in retracted:
        row = deliverables.get(key)
        if row is None or row.links.get(source) != ref:
            continue
        if any(c.source == source and c.source_ref == ref for c in claims.get(key, ())):
            continue  # it came back
        gone[key].append(rules.GoneLink(source, ref, _ts(retracted_at)))  # type: ignore[arg-type]
    return {key: tuple(links) for key, links in gone.items()}


def _derive_missing(session: Session, keys: set[str], context: _Context) -> None:
    """What dependents read of their dependencies, all the way down: each one reachable from
    `keys` and not derived yet in this run is derived here, from its status, date and
    dependency claims, the same way whichever chunk or process gets to it first."""
    frontier, seen = set(keys), set()
    for _ in range(rules.MAX_DEPENDENCY_DEPTH):
        frontier -= seen
        if not frontier:
            return
        seen |= frontier
        missing = sorted(k for k in frontier if k not in context.canonical)
        if missing:
            rows = _load_deliverables(session, missing)
            claims = _load_claims(session, missing, context.names, status_and_date_only=True)
            for key, row in rows.items():
                own = claims.get(key, ())
                current = rules.current_by_field(own)
                state = rules.canonical_state(current, _decisions(row))
                context.canonical[key] = rules.DependencyFacts(
                    key, row.title, state, rules.depends_on(key, row.depends_on, current),
                    _person_name(context, row.owner_key), rules.was_reopened(own, state),
                )
        frontier = {d for k in frontier if k in context.canonical for d in context.canonical[k].depends_on}


def _decisions(row: _DeliverableRow) -> tuple[rules.Resolution, ...]:
    if not row.decisions:
        return ()
    return tuple(
        rules.Resolution(name, d["value"], datetime.fromisoformat(d["at"]), d["by"], d.get("source"))
        for name, d in row.decisions.items()
        if d.get("value") and d.get("at")
    )


# -- deciding -------------------------------------------------------------------------------


@dataclass
class _Plan:
    """Everything one chunk writes, flushed in bulk at its end."""

    conflicts: lifecycle.ConflictChanges = field(default_factory=lifecycle.ConflictChanges)
    deliverable_updates: list[dict[str, Any]] = field(default_factory=list)
    edges_added: list[dict[str, str]] = field(default_factory=list)
    edges_removed: list[tuple[str, str]] = field(default_factory=list)
    report: ReconcileReport = field(default_factory=ReconcileReport)


def _plan_chunk(session: Session, keys: Sequence[str], context: _Context, now: datetime) -> _Writes:
    """Read `keys` and decide what to write; reads only."""
    snap = _snapshot(session, keys, context)
    plan = _Plan()
    for key in keys:
        row = snap.deliverables.get(key)
        if row is None:
            continue
        canonical = context.canonical[key].canonical
        facts = _facts(row, snap, context, now)
        evaluation = rules.evaluate(facts, context.policy, tz=context.tz, current=snap.current[key], canonical=canonical)
        _plan_deliverable(plan, row, evaluation, now)
        _plan_edges(plan, key, snap.edges.get(key, set()), facts.depends_on)
        lifecycle.follow_findings(plan.conflicts, key, snap.conflicts.get(key, []), evaluation.findings, now,  # type: ignore[arg-type]
                                  closing_reason=rules.gone_reason(facts.gone))
        plan.report.reconciled += 1
    plan.report.updated += plan.conflicts.updated
    plan.report.reopened += plan.conflicts.reopened
    plan.report.auto_resolved += plan.conflicts.auto_resolved
    context.forget(keys)
    return _seal(plan, context.sql)


def _facts(row: _DeliverableRow, snap: _Snapshot, context: _Context, now: datetime) -> rules.DeliverableFacts:
    depends_on = snap.depends_on[row.key]
    dependencies = _reachable(depends_on, context.canonical)
    return rules.DeliverableFacts(
        key=row.key,
        title=row.title,
        owner=row.owner_key,
        owner_changed_at=row.updated_at,
        role=row.role,
        depends_on=depends_on,
        claims=tuple(snap.claims.get(row.key, ())),
        dependencies=dependencies,
        resolutions=_decisions(row),
        previous_conditions=row.conditions,
        gone=snap.gone.get(row.key, ()),
        now=now,
    )


def _reachable(
    depends_on: Iterable[str], known: _Known
) -> dict[str, rules.DependencyFacts]:
    """The known dependencies reachable from `depends_on`, transitively (cycles end at the
    first repeat)."""
    found: dict[str, rules.DependencyFacts] = {}
    frontier = [k for k in depends_on if k in known]
    while frontier:
        key = frontier.pop()
        if key in found:
            continue
        found[key] = known[key]
        frontier += [k for k in found[key].depends_on if k in known and k not in found]
    return found


def _plan_deliverable(plan: _Plan, row: _DeliverableRow, evaluation: rules.Evaluation, now: datetime) -> None:
    state = evaluation.canonical
    wanted = {
        "canonical_status": state.status,
        "canonical_status_source": state.status_source,
        "target_date": state.target_date,
        "target_date_source": state.target_date_source,
        "conditions": evaluation.conditions,
        "next_check_at": evaluation.next_check,
    }
    stored = (row.canonical_status, row.canonical_status_source, row.target_date, row.target_date_source, row.conditions,
              row.next_check_at)
    if stored != tuple(wanted.values()):
        plan.deliverable_updates.append({"id": row.id, **wanted, "reconciled_at": now})


def _plan_edges(plan: _Plan, key: str, stored: set[str], wanted: Iterable[str]) -> None:
    target = set(wanted)
    plan.edges_added += [{"dependent_key": key, "dependency_key": d} for d in sorted(target - stored)]
    plan.edges_removed += [(key, d) for d in sorted(stored - target)]


# -- writing --------------------------------------------------------------------------------
# Like the reads, the writes go straight to the DB-API cursor (executemany): SQLAlchemy's
# per-row parameter processing cost ten times what SQLite needs to apply a row. Values are
# adapted exactly as SQLAlchemy would store them, so the ORM reads them back unchanged, and
# they are adapted where the plan is made: in a parallel pass the helpers do that work, and the
# one writing process only executes statements.

# SQL, one parameter list per row, and whether the statement takes the rows at once as one
# array per column (PostgreSQL's `unnest`: one statement the server parses and plans once,
# instead of one per row) or row by row (executemany)
_Statement = tuple[str, list[list[Any]], bool]


@dataclass
class _Writes:
    """A plan as statements ready to execute, in the order they run."""

    conflict_inserts: list[_Statement]
    fingerprints: list[str]  # of the inserted conflicts, in order
    opened_events: _Statement | None  # one per inserted conflict, same order; conflict id last
    statements: list[_Statement]  # conflict and deliverable updates, edges, the other events
    report: ReconcileReport


def _seal(plan: _Plan, sql: _Sql) -> _Writes:
    conflicts = plan.conflicts
    opened_events = None
    if conflicts.insert_events:
        names = [n for n in conflicts.insert_events[0] if n != "conflict_id"] + ["conflict_id"]
        opened_events = sql.insert(_A, conflicts.insert_events, names)
    statements = [
        *sql.updates(_C, conflicts.updates),
        *sql.updates(_D, plan.deliverable_updates),
        *sql.deletes(_E, ("dependent_key", "dependency_key"), plan.edges_removed),
        *sql.inserts(_E, plan.edges_added),
        *sql.inserts(_A, conflicts.events),
    ]
    return _Writes(
        sql.inserts(_C, conflicts.inserts), [row["fingerprint"] for row in conflicts.inserts], opened_events,
        statements, plan.report,
    )


def _flush(session: Session, writes: _Writes) -> None:
    cursor = session.connection().connection.cursor()
    try:
        for statement in writes.conflict_inserts:
            _execute(cursor, statement)
        if writes.fingerprints:
            ids = dict(_fetch(session, _IDS_SQL, writes.fingerprints))
            opened = [ids[fingerprint] for fingerprint in writes.fingerprints]
            assert writes.opened_events is not None
            for conflict_id, row in zip(opened, writes.opened_events[1], strict=True):
                row[-1] = conflict_id
            _execute(cursor, writes.opened_events)
            writes.report.opened += opened
        for statement in writes.statements:
            _execute(cursor, statement)
    finally:
        cursor.close()


def _execute(cursor: Any, statement: _Statement) -> None:
    sql, rows, by_column = statement
    if by_column:
        cursor.execute(sql, [list(column) for column in zip(*rows, strict=True)])
    else:
        cursor.executemany(sql, rows)


@dataclass(frozen=True)
class _Sql:
    """INSERT, UPDATE and DELETE statements in the store's dialect, values adapted."""

    mark: str
    sqlite: bool
    quote: Any
    dialect: Any

    @classmethod
    def of(cls, session: Session) -> _Sql:
        dialect = session.connection().dialect
        sqlite = dialect.name == "sqlite"
        return cls("?" if sqlite else "%s", sqlite, dialect.identifier_preparer.quote, dialect)

    def inserts(self, table: Table, rows: list[dict[str, Any]]) -> list[_Statement]:
        return [self.insert(table, group, names) for names, group in _by_columns(rows)]

    def insert(self, table: Table, rows: list[dict[str, Any]], names: Sequence[str]) -> _Statement:
        columns = ", ".join(self.quote(n) for n in names)
        if not self.sqlite:
            unnest, values = self._unnest(table, names)
            statement = f"INSERT INTO {self.quote(table.name)} ({columns}) SELECT {', '.join(values)} FROM {unnest}"
            return statement, self._values(table, names, rows), True
        marks = ", ".join([self.mark] * len(names))
        statement = f"INSERT INTO {self.quote(table.name)} ({columns}) VALUES ({marks})"
        return statement, self._values(table, names, rows), False

    def updates(self, table: Table, rows: list[dict[str, Any]]) -> list[_Statement]:
        """UPDATE ... SET <the row's other keys> WHERE id = <its "id">, per set of columns."""
        statements = []
        for names, group in _by_columns(rows):
            columns = [n for n in names if n != "id"]
            values = self._values(table, [*columns, "id"], group)
            if not self.sqlite and len({row["id"] for row in group}) == len(group):
                unnest, new = self._unnest(table, [*columns, "id"])
                sets = ", ".join(f"{self.quote(n)} = {v}" for n, v in zip(columns, new, strict=False))
                statement = f"UPDATE {self.quote(table.name)} AS t SET {sets} FROM {unnest} WHERE t.id = v.id"
                statements.append((statement, values, True))
                continue
            sets = ", ".join(f"{self.quote(n)} = {self._mark(table, n)}" for n in columns)
            statement = f"UPDATE {self.quote(table.name)} SET {sets} WHERE id = {self.mark}"
            statements.append((statement, values, False))
        return statements

    def deletes(self, table: Table, names: Sequence[str], rows: list[tuple[Any, ...]]) -> list[_Statement]:
        if not rows:
            return []
        values = [list(row) for row in rows]
        if not self.sqlite:
            unnest, _ = self._unnest(table, names)
            where = " AND ".join(f"t.{self.quote(n)} = v.{_alias(n)}" for n in names)
            return [(f"DELETE FROM {self.quote(table.name)} AS t USING {unnest} WHERE {where}", values, True)]
        where = " AND ".join(f"{self.quote(n)} = {self.mark}" for n in names)
        return [(f"DELETE FROM {self.quote(table.name)} WHERE {where}", values, False)]

    def _mark(self, table: Table, name: str) -> str:
        """A row's parameter for column `name` (JSON goes as text, `_dumps`)."""
        return f"{self.mark}::json" if not self.sqlite and isinstance(table.c[name].type, JSON) else self.mark

    def _unnest(self, table: Table, names: Sequence[str]) -> tuple[str, list[str]]:
        """`unnest(<one typed array parameter per column>) AS v(<names>)` and the expression
        of each column's value in it (JSON goes as text, `_dumps`, and is cast back)."""
        arrays, values = [], []
        for name in names:
            kind = table.c[name].type
            json_column = isinstance(kind, JSON)
            # binary (%b): psycopg quotes each element of a text-format array with a regex
            arrays.append(f"%b::{'text' if json_column else kind.compile(dialect=self.dialect)}[]")
            values.append(f"v.{_alias(name)}::json" if json_column else f"v.{_alias(name)}")
        aliases = ", ".join(_alias(n) for n in names)
        return f"unnest({', '.join(arrays)}) AS v({aliases})", values

    def _values(self, table: Table, names: Sequence[str], rows: list[dict[str, Any]]) -> list[list[Any]]:
        adapted = [(i, a) for i, n in enumerate(names) if (a := self._adapter(table.c[n].type)) is not _identity]
        values = []
        for row in rows:
            params = [row[n] for n in names]
            for i, adapt in adapted:
                if params[i] is not None:
                    params[i] = adapt(params[i])
            values.append(params)
        return values

    def _adapter(self, kind: Any) -> Any:
        if isinstance(kind, JSON):
            return _dumps
        if isinstance(kind, UTCDateTime):
            return _sqlite_ts if self.sqlite else _identity
        if isinstance(kind, Date) and self.sqlite:
            return date.isoformat
        return _identity


def _by_columns(rows: list[dict[str, Any]]) -> Iterator[tuple[tuple[str, ...], list[dict[str, Any]]]]:
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[tuple(row)].append(row)
    yield from groups.items()


@lru_cache(maxsize=4096)  # most rows of a pass carry the same `now`
def _sqlite_ts(value: datetime) -> str:
    utc = value if value.tzinfo is timezone.utc else value.astimezone(timezone.utc)
    return utc.isoformat(" ", "microseconds")[:26]


def _alias(name: str) -> str:
    return f'"{name}"'


def _identity(value: Any) -> Any:
    return value


def _clear_dirty(session: Session, keys: Sequence[str]) -> None:
    session.execute(update(_D).where(and_(_D.c.key.in_(list(keys)), _IS_DIRTY)).values(dirty=False))


def _expire_written_objects(session: Session) -> None:
    """Rows were written with Core: ORM objects of them in this session must reload."""
    for obj in list(session.identity_map.values()):
        if isinstance(obj, (Conflict, Deliverable, DeliverableDependency)):
            session.expire(obj)
