"""The level-triggered reconciler: re-read everything about a set of deliverables, evaluate every
rule, and bring conflicts and canonical state in line with what the rules find.

Work is done per chunk of deliverables, planned by `reconciler.planning` (deliverables, live
claims, the canonical-state inputs of their dependencies, conflicts and dependency edges are one
query each; the rules' findings become statements) and written here in bulk. Nothing here
commits (the caller owns the transaction), and running it twice changes nothing. A large
`reconcile_all` (from `PARALLEL_MIN` deliverables, when the caller's transaction has not written
yet) plans in `WORKERS` processes and writes their plans here in key order: the same store as the
serial run (see `_run_parallel`).

The conflict lifecycle (what opens, follows, reopens or closes a conflict) is
`reconciler.lifecycle`'s; planning reads and evaluates the rules, this module writes what they decide.
Each deliverable's `next_check_at` is the earliest moment a rule says time alone may change its
findings; `reconcile_dirty` takes those whose moment has passed along with the dirty ones, so no
periodic pass over everything is needed.
"""

from __future__ import annotations

import gc
import hashlib
import itertools
import logging
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from functools import lru_cache
from typing import Any

import orjson
from sqlalchemy import JSON, Date, Table, and_, select, true, update
from sqlmodel import Session

from reconciler import planning, rules, store
from reconciler.models import (
    AuditEvent,
    Conflict,
    Deliverable,
    DeliverableDependency,
    UTCDateTime,
)
from reconciler.planning import (
    Connect,
    Context,
    Handout,
    PackedChunks,
    Reader,
    ReconcileReport,
    Settings,
    Statement,
    Statements,
    Writes,
    plan_as_handed_out,
    plan_chunk,
)
from reconciler.protocol import Config

__all__ = ["ReconcileReport", "due_for_check", "reconcile", "reconcile_all", "reconcile_dirty", "rules_fingerprint"]

log = logging.getLogger(__name__)

# deliverables planned and written together: a chunk's claims, plans and pymalloc arenas are most
# of what a process holds beyond what it keeps across chunks; 250 against 1,000 took a 100,000
# deliverable pass from 231 to 201 MB (both processes) at the same CPU time (issue #21)
CHUNK = 250
WORKERS = 2  # at most, reconcile_all's planning processes (this one included)
# deliverables; below this a helper's start costs about what it saves: on SQLite at 8,000 a pass
# took 1.2-1.5 s with or without one, at 10,000 1.4-1.8 s with one against 1.9 s without (issue #21)
PARALLEL_MIN = 10_000

_D: Table = Deliverable.__table__  # type: ignore[attr-defined]
_C: Table = Conflict.__table__  # type: ignore[attr-defined]
_E: Table = DeliverableDependency.__table__  # type: ignore[attr-defined]
_A: Table = AuditEvent.__table__  # type: ignore[attr-defined]
_IS_DIRTY = _D.c.dirty == true()  # "= true", not "IS true": the form the partial index matches
_DEPENDENTS_SQL = "SELECT dependent_key FROM deliverable_dependency WHERE dependency_key IN ({keys})"
_IDS_SQL = "SELECT fingerprint, id FROM conflict WHERE fingerprint IN ({keys})"


# -- entry points ---------------------------------------------------------------------------


def reconcile(session: Session, keys: Iterable[str], *, config: Config, now: datetime) -> ReconcileReport:
    """Reconcile exactly `keys` (unknown keys are skipped); leaves `dirty` flags alone."""
    return _run(session, PackedChunks.of(_chunks(sorted(set(keys)))), config=config, now=now)


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
    report = _run(session, PackedChunks.of(_chunks(sorted(keys))), config=config, now=now)
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
    chunks = PackedChunks.of(_all_keys(session))
    if workers is None:
        workers = _default_workers()
    connect = _helper_connect(session) if workers > 1 and chunks.deliverables >= parallel_min else None
    session.execute(update(_D).where(_IS_DIRTY).values(dirty=False))
    return _run(session, chunks, config=config, now=now, parallel=(connect, workers) if connect else None)


def _all_keys(session: Session) -> Iterator[list[str]]:
    """Every deliverable's key in key order, a chunk at a time: the keys of a whole store as
    one list would be the largest thing a pass keeps."""
    keys = (key for (key,) in _reader(session).scan("SELECT key FROM deliverable ORDER BY key", batch=CHUNK))
    while chunk := list(itertools.islice(keys, CHUNK)):
        yield chunk


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
    session: Session, chunks: PackedChunks, *, config: Config, now: datetime,
    parallel: tuple[Connect, int] | None = None,
) -> ReconcileReport:
    session.flush()
    report = ReconcileReport()
    reader, settings, sql = _reader(session), _settings(session, config), _statements(session)
    with _gc_paused(), _sqlite_cache(session, deliverables=chunks.deliverables):
        if parallel is not None:
            _run_parallel(reader, chunks, settings, sql, now, report, *parallel)
        else:
            context = Context.load(reader, settings, sql, chunks=len(chunks))
            for index in range(len(chunks)):
                plan = plan_chunk(reader, chunks.unpack(index), context, now)
                _flush(reader, plan)
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


def _reader(session: Session) -> Reader:
    """The session's own DB-API connection, in its transaction."""
    connection = session.connection()
    return Reader(connection.connection.dbapi_connection, connection.dialect.name)


def _settings(session: Session, config: Config) -> Settings:
    return Settings(rules.Policy.of(config.rules), config.timezone, store.author_names(session))


def _statements(session: Session) -> Statements:
    """The statement builder for this store, its tables described from the models."""
    return _statements_for(session.connection().dialect)


@lru_cache(maxsize=8)  # one per engine's dialect: a dirty pass after every sync needs one too
def _statements_for(dialect: Any) -> Statements:
    quote = dialect.identifier_preparer.quote

    def kind(column_type: Any) -> str:
        if isinstance(column_type, JSON):
            return "json"
        if isinstance(column_type, UTCDateTime):
            return "utc"
        return "date" if isinstance(column_type, Date) else ""

    # plain `str`s: SQLAlchemy's names are its own `quoted_name`, which would make a helper
    # process import SQLAlchemy to unpickle them
    return Statements(dialect.name == "sqlite", {
        str(table.name): planning.Table(str(quote(table.name)), {
            str(column.name): planning.Column(
                str(quote(column.name)), kind(column.type), str(column.type.compile(dialect=dialect))
            )
            for column in table.columns
        })
        for table in (_A, _C, _D, _E)
    })


def _default_workers() -> int:
    """`WORKERS`, or fewer when this process may use fewer CPUs."""
    import os

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(WORKERS, cpus))


def _helper_connect(session: Session) -> Connect | None:
    """How helper processes can read the same data, or None when they could not."""
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
    args, kwargs = connection.dialect.create_connect_args(url)
    kwargs.pop("context", None)  # SQLAlchemy's psycopg adapters: the driver's own read alike
    return Connect(connection.dialect.name, tuple(args), kwargs)


def _run_parallel(
    reader: Reader, chunks: PackedChunks, settings: Settings, sql: Statements, now: datetime, report: ReconcileReport,
    connect: Connect, workers: int,
) -> None:
    """`workers - 1` helper processes and this one plan chunks as they come free; this one
    writes every plan, in key order."""
    import multiprocessing

    # Not "fork": a child must not inherit this process's SQLite state (its connections and the
    # locks SQLite believes this process holds). Not "forkserver" either: the fork server stays
    # alive with every module imported (about 45 MB of its own), and a helper forked from it
    # dirties most of those pages anyway; a spawned helper imports what it needs (the planning
    # module, without SQLAlchemy or the models) in a quarter of a second. Either needs the main
    # module to be importable without side effects.
    context = multiprocessing.get_context("spawn")
    handout = Handout(len(chunks), context.Value("q", 0), context.Value("q", 0, lock=False), AHEAD)
    results = context.Queue()  # its feeder thread lets a helper plan on while we write
    helpers = [
        context.Process(target=plan_as_handed_out, args=(connect, chunks, handout, settings, sql, now, results),
                        daemon=True)
        for _ in range(workers - 1)
    ]
    # Starting a helper waits for it to import the planning module: this process plans meanwhile.
    starter = threading.Thread(target=_start_each, args=(helpers,), daemon=True)
    try:
        starter.start()
        inbox = _Inbox(results, helpers)
        own = Context.load(reader, settings, sql, chunks=len(chunks))
        planned: dict[int, Writes] = {}
        for index in range(len(chunks)):
            planned.update(inbox.ready())
            while index not in planned:
                mine = handout.claim()
                if mine is not None:
                    planned[mine] = plan_chunk(reader, chunks.unpack(mine), own, now)
                else:
                    planned.update(inbox.wait())
                planned.update(inbox.ready())
            plan = planned.pop(index)
            _flush(reader, plan)
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

    def wait(self) -> dict[int, Writes]:
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

    def ready(self) -> dict[int, Writes]:
        """The plans that arrived already, without waiting."""
        import queue as queues

        plans: dict[int, Writes] = {}
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

    def _take(self, message: tuple[Any, ...]) -> dict[int, Writes]:
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


def _chunks(items: Sequence[str], size: int | None = None) -> Iterator[Sequence[str]]:
    size = size or CHUNK
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _dependents(session: Session, keys: Sequence[str]) -> set[str]:
    """Everything that depends on `keys`, directly or further up (a blocked dependency two
    levels down changes what the deliverable at the top is told)."""
    found: set[str] = set()
    frontier = list(keys)
    reader = _reader(session)
    while frontier:
        above = {key for chunk in _chunks(frontier) for (key,) in reader.fetch(_DEPENDENTS_SQL, chunk)}
        frontier = sorted(above - found - set(keys))
        found |= above
    return found


def _flush(reader: Reader, writes: Writes) -> None:
    cursor = reader.connection.cursor()
    try:
        for statement in writes.conflict_inserts:
            _execute(cursor, statement)
        if writes.fingerprints:
            ids = dict(reader.fetch(_IDS_SQL, writes.fingerprints))
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


def _execute(cursor: Any, statement: Statement) -> None:
    sql, rows, by_column = statement
    if by_column:
        cursor.execute(sql, [list(column) for column in zip(*rows, strict=True)])
    else:
        cursor.executemany(sql, rows)


def _clear_dirty(session: Session, keys: Sequence[str]) -> None:
    session.execute(update(_D).where(and_(_D.c.key.in_(list(keys)), _IS_DIRTY)).values(dirty=False))


def _expire_written_objects(session: Session) -> None:
    """Rows were written with Core: ORM objects of them in this session must reload."""
    for obj in list(session.identity_map.values()):
        if isinstance(obj, (Conflict, Deliverable, DeliverableDependency)):
            session.expire(obj)
