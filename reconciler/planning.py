"""Planning a chunk of deliverables: read everything the rules need about them over the DB-API,
evaluate the rules, and decide what to write, as statements ready to execute.

Apart from `reconciler.engine` (the entry points, the transaction and the writing) because a
helper process of a parallel pass runs this alone: it imports no SQLAlchemy, SQLModel or models,
only the rules, the lifecycle and the store's driver, which halves what a helper holds before it
plans anything (issue #21). Nothing here writes.
"""

from __future__ import annotations

import gc
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from connectors.base import ClaimKind
from connectors.registry import current_sources
from reconciler import lifecycle, rules
from reconciler.dbapi import Connect, Reader

_STATE_KIND = ClaimKind.STATE.value
# the tables a plan writes
AUDIT_EVENT, CONFLICT, DELIVERABLE, DEPENDENCY = "audit_event", "conflict", "deliverable", "deliverable_dependency"


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


@dataclass
class Handout:
    """Which chunk is next to plan and which next to write, shared by every process of a pass."""

    total: int
    next_to_plan: Any  # multiprocessing.Value("q"), with its lock
    next_to_write: Any  # multiprocessing.Value("q"); written by the parent only
    ahead: int  # chunks planned but not yet written, at most: bounds the plans held in memory

    def claim(self) -> int | None:
        """The next chunk to plan, or None when all are handed out or `ahead` wait to be written."""
        with self.next_to_plan.get_lock():
            index = self.next_to_plan.value
            if index >= self.total or index - self.next_to_write.value >= self.ahead:
                return None
            self.next_to_plan.value = index + 1
            return int(index)

    def exhausted(self) -> bool:
        return bool(self.next_to_plan.value >= self.total)


@dataclass(frozen=True)
class PackedChunks:
    """A pass's chunks of keys, as one string per chunk: a list of 100,000 key strings costs
    about 7 MB in each process (and as much again while a helper unpickles it), the joined
    text a seventh of that; a chunk is split back into its keys when it is planned."""

    texts: tuple[str, ...] | None  # keys joined by SEPARATOR; None when a key contains it
    lists: tuple[Sequence[str], ...] = ()
    deliverables: int = 0  # keys in all chunks

    SEPARATOR = "\x00"

    @classmethod
    def of(cls, chunks: Iterable[Sequence[str]]) -> PackedChunks:
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


def plan_as_handed_out(
    connect: Connect, chunks: PackedChunks, handout: Handout, settings: Settings, sql: Statements, now: datetime,
    results: Any,
) -> None:
    """A helper process's work: plan chunks as `handout` gives them out, from a connection of
    its own; send each plan to the parent."""
    gc.disable()
    connection = connect.open()
    try:
        reader = Reader(connection, connect.dialect)
        context = Context.load(reader, settings, sql, chunks=handout.total)
        while not handout.exhausted():
            index = handout.claim()
            if index is None:
                time.sleep(0.005)  # the parent is writing: too far ahead of it
                continue
            results.put(("plan", index, plan_chunk(reader, chunks.unpack(index), context, now)))
        connection.rollback()
        results.put(("done", time.process_time()))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which raises
        results.put(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        results.close()
        results.join_thread()
        connection.close()


@dataclass(frozen=True)
class Settings:
    """What evaluation reads of the configuration and the people, in a form a helper process
    takes without loading the configuration's models."""

    policy: rules.Policy
    timezone: str
    names: dict[tuple[str, str], str]  # see `reconciler.store.author_names`


# -- reading --------------------------------------------------------------------------------
# The hot path reads claims, deliverables and conflicts as plain DB-API tuples: at a million
# claims, SQLAlchemy's per-row and per-value processing costs more than all the rules together.
# `_ts`, `_day` and `_json` convert what SQLite (text) and PostgreSQL (typed values) hand back.


@dataclass
class Context:
    policy: rules.Policy
    tz: ZoneInfo
    names: dict[tuple[str, str], str]
    sql: Statements
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
    def load(cls, reader: Reader, settings: Settings, sql: Statements, *, chunks: int) -> Context:
        return cls(
            settings.policy, ZoneInfo(settings.timezone), settings.names, sql,
            _depended_on(reader) if chunks > 1 else None,
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


def _depended_on(reader: Reader) -> frozenset[str]:
    found = {key for (key,) in reader.scan("SELECT DISTINCT dependency_key FROM deliverable_dependency")}
    for (keys,) in reader.scan("SELECT depends_on FROM deliverable"):
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
    links: dict[str, str] = field(default_factory=dict)
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
    evidence: Any  # JSON text, as `Reader.fetch` returns it from either store
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


def _load_deliverables(reader: Reader, keys: Sequence[str]) -> dict[str, _DeliverableRow]:
    found = {}
    for row in reader.fetch(_DELIVERABLES_SQL, keys):
        (id_, key, title, owner, role, depends_on, status, status_source, target_date, date_source,
         conditions, decisions, updated_at, next_check_at) = row
        found[key] = _DeliverableRow(
            id_, key, title, owner, role, _json(depends_on) or [], status, status_source,
            _day(target_date), date_source, _json(conditions) or {}, _json(decisions) or {}, _ts(updated_at),
            _ts(next_check_at),
        )
    if found:
        for key, kind, ref in reader.fetch(_LINKS_SQL, list(found)):
            found[key].links[kind] = ref
    return found


def _load_claims(
    reader: Reader, keys: Sequence[str], names: dict[tuple[str, str], str], *, status_and_date_only: bool = False
) -> dict[str, list[rules.ClaimView]]:
    """Live claims of `keys`, per deliverable. The store packs each deliverable's claims into one
    JSON array (`_CLAIMS_PACKED_SQL`, `_CLAIMS_PACKED_PG_SQL`): a third cheaper than a row per
    claim on SQLite, the one cost of a full pass that dwarfs the rules."""
    only = _STATUS_AND_DATE if status_and_date_only else ""
    groups: Iterator[tuple[str, list[Any]]]
    packed_sql = _packed_claims_sql(reader)
    if packed_sql is not None:
        packed = reader.fetch(packed_sql + only + " GROUP BY 1", keys)
        groups = ((key, orjson.loads(claims)) for key, claims in packed)
    else:
        grouped: dict[str, list[Any]] = defaultdict(list)
        for key, *claim in reader.fetch(_CLAIMS_SQL + only, keys):
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


def _packed_claims_sql(reader: Reader) -> str | None:
    """The query reading claims packed per deliverable in this store's dialect, or None when
    the store cannot pack them (SQLite without its JSON functions)."""
    if reader.dialect == "postgresql":
        return _CLAIMS_PACKED_PG_SQL
    if reader.dialect == "sqlite" and _sqlite_has_json(reader.connection):
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


def _load_conflicts(reader: Reader, keys: Sequence[str]) -> dict[str, list[_ConflictRow]]:
    found: dict[str, list[_ConflictRow]] = defaultdict(list)
    for row in reader.fetch(_CONFLICTS_SQL, keys):
        (id_, fp, key, kind, state, severity, summary, evidence, details, sources, newest,
         resolved_at, resolved_by, resolution_value) = row
        found[key].append(_ConflictRow(
            id_, fp, key, kind, state, severity, summary, evidence, details, sources,
            _ts(newest), _ts(resolved_at), resolved_by, resolution_value,
        ))
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


def _snapshot(reader: Reader, keys: Sequence[str], context: Context) -> _Snapshot:
    """Everything the rules need for `keys`; the canonical state of every deliverable read
    (and of dependencies outside the chunk) lands in `context.canonical`."""
    deliverables = _load_deliverables(reader, keys)
    claims = _load_claims(reader, keys, context.names)
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
    _derive_missing(reader, {d for deps in depends_on.values() for d in deps}, context)
    edges: dict[str, set[str]] = defaultdict(set)
    for dependent, dependency in reader.fetch(_EDGES_SQL, keys):
        edges[dependent].add(dependency)
    gone = _gone_links(reader, deliverables, claims)
    return _Snapshot(deliverables, claims, _load_conflicts(reader, keys), edges, current, depends_on, gone)


def _person_name(context: Context, person_key: str | None) -> str | None:
    """A decision owner as people read them (author_names keys people by ("manual", key))."""
    if person_key is None:
        return None
    return context.names.get(("manual", person_key), person_key)


def _gone_links(
    reader: Reader, deliverables: dict[str, _DeliverableRow], claims: dict[str, list[rules.ClaimView]]
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
                 for found in reader.fetch(_RETRACTED_SQL, sorted(refs), first=source)]
    gone: dict[str, list[rules.GoneLink]] = defaultdict(list)
    for key, source, ref, retracted_at in retracted:
        row = deliverables.get(key)
        if row is None or row.links.get(source) != ref:
            continue
        if any(c.source == source and c.source_ref == ref for c in claims.get(key, ())):
            continue  # it came back
        gone[key].append(rules.GoneLink(source, ref, _ts(retracted_at)))  # type: ignore[arg-type]
    return {key: tuple(links) for key, links in gone.items()}


def _derive_missing(reader: Reader, keys: set[str], context: Context) -> None:
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
            rows = _load_deliverables(reader, missing)
            claims = _load_claims(reader, missing, context.names, status_and_date_only=True)
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


def plan_chunk(reader: Reader, keys: Sequence[str], context: Context, now: datetime) -> Writes:
    """Read `keys` and decide what to write; reads only."""
    snap = _snapshot(reader, keys, context)
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


def _facts(row: _DeliverableRow, snap: _Snapshot, context: Context, now: datetime) -> rules.DeliverableFacts:
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
Statement = tuple[str, list[list[Any]], bool]


@dataclass
class Writes:
    """A plan as statements ready to execute, in the order they run."""

    conflict_inserts: list[Statement]
    fingerprints: list[str]  # of the inserted conflicts, in order
    opened_events: Statement | None  # one per inserted conflict, same order; conflict id last
    statements: list[Statement]  # conflict and deliverable updates, edges, the other events
    report: ReconcileReport


def _seal(plan: _Plan, sql: Statements) -> Writes:
    conflicts = plan.conflicts
    opened_events = None
    if conflicts.insert_events:
        names = [n for n in conflicts.insert_events[0] if n != "conflict_id"] + ["conflict_id"]
        opened_events = sql.insert(AUDIT_EVENT, conflicts.insert_events, names)
    statements = [
        *sql.updates(CONFLICT, conflicts.updates),
        *sql.updates(DELIVERABLE, plan.deliverable_updates),
        *sql.deletes(DEPENDENCY, ("dependent_key", "dependency_key"), plan.edges_removed),
        *sql.inserts(DEPENDENCY, plan.edges_added),
        *sql.inserts(AUDIT_EVENT, conflicts.events),
    ]
    return Writes(
        sql.inserts(CONFLICT, conflicts.inserts), [row["fingerprint"] for row in conflicts.inserts], opened_events,
        statements, plan.report,
    )


@dataclass(frozen=True)
class Column:
    quoted: str  # the name as the statements spell it
    kind: str  # "json", "utc" (a UTC time), "date", or "" (as the driver takes it)
    sql_type: str  # as the store names it (PostgreSQL's typed arrays)


@dataclass(frozen=True)
class Table:
    quoted: str
    columns: Mapping[str, Column]


@dataclass(frozen=True)
class Statements:
    """INSERT, UPDATE and DELETE statements in the store's dialect, values adapted as the
    models would store them (`reconciler.engine` describes the tables from the models)."""

    sqlite: bool
    tables: Mapping[str, Table]

    @property
    def mark(self) -> str:
        return "?" if self.sqlite else "%s"

    def inserts(self, table: str, rows: list[dict[str, Any]]) -> list[Statement]:
        return [self.insert(table, group, names) for names, group in _by_columns(rows)]

    def insert(self, table: str, rows: list[dict[str, Any]], names: Sequence[str]) -> Statement:
        shape = self.tables[table]
        columns = ", ".join(shape.columns[n].quoted for n in names)
        if not self.sqlite:
            unnest, values = self._unnest(shape, names)
            statement = f"INSERT INTO {shape.quoted} ({columns}) SELECT {', '.join(values)} FROM {unnest}"
            return statement, self._values(shape, names, rows), True
        marks = ", ".join([self.mark] * len(names))
        statement = f"INSERT INTO {shape.quoted} ({columns}) VALUES ({marks})"
        return statement, self._values(shape, names, rows), False

    def updates(self, table: str, rows: list[dict[str, Any]]) -> list[Statement]:
        """UPDATE ... SET <the row's other keys> WHERE id = <its "id">, per set of columns."""
        shape = self.tables[table]
        statements = []
        for names, group in _by_columns(rows):
            columns = [n for n in names if n != "id"]
            values = self._values(shape, [*columns, "id"], group)
            if not self.sqlite and len({row["id"] for row in group}) == len(group):
                unnest, new = self._unnest(shape, [*columns, "id"])
                sets = ", ".join(f"{shape.columns[n].quoted} = {v}" for n, v in zip(columns, new, strict=False))
                statement = f"UPDATE {shape.quoted} AS t SET {sets} FROM {unnest} WHERE t.id = v.id"
                statements.append((statement, values, True))
                continue
            sets = ", ".join(f"{shape.columns[n].quoted} = {self._mark(shape.columns[n])}" for n in columns)
            statement = f"UPDATE {shape.quoted} SET {sets} WHERE id = {self.mark}"
            statements.append((statement, values, False))
        return statements

    def deletes(self, table: str, names: Sequence[str], rows: list[tuple[Any, ...]]) -> list[Statement]:
        if not rows:
            return []
        shape = self.tables[table]
        values = [list(row) for row in rows]
        if not self.sqlite:
            unnest, _ = self._unnest(shape, names)
            where = " AND ".join(f"t.{shape.columns[n].quoted} = v.{_alias(n)}" for n in names)
            return [(f"DELETE FROM {shape.quoted} AS t USING {unnest} WHERE {where}", values, True)]
        where = " AND ".join(f"{shape.columns[n].quoted} = {self.mark}" for n in names)
        return [(f"DELETE FROM {shape.quoted} WHERE {where}", values, False)]

    def _mark(self, column: Column) -> str:
        """A row's parameter for `column` (JSON goes as text, `_dumps`)."""
        return f"{self.mark}::json" if not self.sqlite and column.kind == "json" else self.mark

    def _unnest(self, shape: Table, names: Sequence[str]) -> tuple[str, list[str]]:
        """`unnest(<one typed array parameter per column>) AS v(<names>)` and the expression
        of each column's value in it (JSON goes as text, `_dumps`, and is cast back)."""
        arrays, values = [], []
        for name in names:
            column = shape.columns[name]
            json_column = column.kind == "json"
            # binary (%b): psycopg quotes each element of a text-format array with a regex
            arrays.append(f"%b::{'text' if json_column else column.sql_type}[]")
            values.append(f"v.{_alias(name)}::json" if json_column else f"v.{_alias(name)}")
        aliases = ", ".join(_alias(n) for n in names)
        return f"unnest({', '.join(arrays)}) AS v({aliases})", values

    def _values(self, shape: Table, names: Sequence[str], rows: list[dict[str, Any]]) -> list[list[Any]]:
        adapted = [(i, a) for i, n in enumerate(names) if (a := self._adapter(shape.columns[n])) is not _identity]
        values = []
        for row in rows:
            params = [row[n] for n in names]
            for i, adapt in adapted:
                if params[i] is not None:
                    params[i] = adapt(params[i])
            values.append(params)
        return values

    def _adapter(self, column: Column) -> Any:
        if column.kind == "json":
            return _dumps
        if column.kind == "utc":
            return _sqlite_ts if self.sqlite else _identity
        if column.kind == "date" and self.sqlite:
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
