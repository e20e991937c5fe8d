"""Reads and writes of the canonical store shared by the CLI, the embedded runner and workers.

Every function takes an open session and leaves committing to the caller, so one unit of work
(a sync batch with its cursor, a resolution with its audit event) is one transaction.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import ARRAY, Row, String, any_, bindparam, cast, delete, func, insert, or_, text, true, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from connectors.base import Observation as Claim
from connectors.base import PersonRecord, Source, SourceName, SyncBatch
from connectors.registry import current_sources
from reconciler.models import (
    AuditEvent,
    Deliverable,
    DeliverableLink,
    MessageVersion,
    Observation,
    PeriodicRun,
    Person,
    PersonIdentity,
    PushedEvent,
    SyncCursor,
    UTCDateTime,
)
from reconciler.protocol import Config
from reconciler.states import FULL_RECONCILE_RUN

ClaimKey = tuple[str, str, str, str]  # source, source_ref, field, deliverable_key

_IN_CHUNK = 500


@dataclass(slots=True)
class BatchResult:
    inserted: int = 0
    updated: int = 0
    retracted: int = 0
    unchanged: int = 0
    dirty: set[str] = field(default_factory=set)


def _chunks(items: Sequence[Any], size: int = _IN_CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# -- configuration --------------------------------------------------------------------------


# Owners the config file gives (named, or the Asana assignee by `owner_from`): a later file
# replaces them; an owner set from the CLI ("cli:<actor>") is never replaced by the file.
FILE_OWNER_ORIGINS = ("config", "asana:assignee")


def sync_config(session: Session, config: Config, *, now: datetime) -> None:
    """Upsert people and deliverables from the config file into the store.

    An owner set from the CLI (`owner_set_by` "cli:<actor>") wins over the file from then on;
    `reconciler owners list` shows where each assignment came from.
    """
    _sync_config_people(session, config, now=now)

    existing = {d.key: d for d in session.exec(select(Deliverable)).all()}
    stored_links = deliverable_links(session)
    talked_about = partitions_of(session, [dc.key for dc in config.deliverables])
    for dc in config.deliverables:
        if config.rules_unresolved and dc.asana_task is None and dc.key in existing:
            # may override a rule-derived deliverable: written once the rules are read again
            continue
        deliverable = existing.get(dc.key) or Deliverable(key=dc.key, title=dc.title or dc.key)
        where = talked_about.get(dc.key, {})
        role, _ = config.role_choice(
            dc.key, asana_projects=where.get("asana", ()), slack_channels=where.get("slack", ())
        )
        wanted: dict[str, Any] = {
            "title": dc.title or dc.key,
            "role": role.name if role else None,
            "aliases": list(dc.aliases),
            "depends_on": list(dc.depends_on),
        }
        if deliverable.owner_set_by in (None, *FILE_OWNER_ORIGINS):
            wanted["owner_key"] = dc.owner
            wanted["owner_set_by"] = config.owner_origin(dc.key)
        links = dc.source_links()
        relinked = stored_links.get(dc.key, {}) != links
        changed = deliverable.id is None or relinked or any(getattr(deliverable, k) != v for k, v in wanted.items())
        if changed:
            for k, v in wanted.items():
                setattr(deliverable, k, v)
            deliverable.dirty = True
            deliverable.updated_at = now
            session.add(deliverable)
        if relinked:
            _replace_links(session, dc.key, links)
    session.flush()


def deliverable_links(session: Session, keys: Sequence[str] | None = None) -> dict[str, dict[str, str]]:
    """Deliverable key -> the items it is declared to be (link kind -> id there)."""
    stmt = select(DeliverableLink)
    if keys is not None:
        stmt = stmt.where(col(DeliverableLink.deliverable_key).in_(list(keys)))
    found: dict[str, dict[str, str]] = {}
    for link in session.exec(stmt):
        found.setdefault(link.deliverable_key, {})[link.kind] = link.ref
    return found


def _replace_links(session: Session, key: str, links: dict[str, str]) -> None:
    session.execute(delete(DeliverableLink).where(col(DeliverableLink.deliverable_key) == key))
    for kind, ref in sorted(links.items()):
        session.add(DeliverableLink(deliverable_key=key, kind=kind, ref=ref))


# -- sync batches ---------------------------------------------------------------------------


_OBS = Observation.__table__
# What a claim says; a change to any of these is an update the reconciler must see.
_CLAIM_FIELDS = ("value", "kind", "author", "excerpt", "permalink", "stated_at", "edited_at")
_STORED_COLUMNS = (_OBS.c.id, _OBS.c.source_ref, _OBS.c.field, _OBS.c.deliverable_key, _OBS.c.deleted_at) + tuple(
    _OBS.c[name] for name in _CLAIM_FIELDS
)
_UPDATE_CLAIM = (
    update(_OBS)
    .where(_OBS.c.id == bindparam("_id"))
    .values({name: bindparam(name) for name in (*_CLAIM_FIELDS, "deleted_at", "updated_at")})
)


# On PostgreSQL a batch's new and changed claims go in one statement, whatever their number:
# one array parameter per column, unnested server side. (A multi-row VALUES has a parameter per
# cell that the server parses anew for every batch; an executemany UPDATE is a statement per row.)
_PG_TYPES = {"value": "VARCHAR", "kind": "VARCHAR", "author": "VARCHAR", "excerpt": "VARCHAR",
             "permalink": "VARCHAR", "stated_at": "TIMESTAMPTZ", "edited_at": "TIMESTAMPTZ",
             "deliverable_key": "VARCHAR", "source": "VARCHAR", "source_ref": "VARCHAR", "field": "VARCHAR",
             "_id": "INTEGER"}
# what differs from claim to claim goes as arrays; the partition and the times written (the
# batch's `now`, no retraction) go once
_PG_INSERT_COLUMNS = (*_CLAIM_FIELDS, "deliverable_key", "source", "source_ref", "field")
_PG_UPDATE_COLUMNS = ("_id", *_CLAIM_FIELDS)


def _unnest(columns: Sequence[str], prefix: str = "") -> str:
    return ", ".join(f"CAST(:{prefix}{c} AS {_PG_TYPES[c]}[])" for c in columns)


# The whole write of a batch in one statement on PostgreSQL (a round trip and a parse instead of
# four): new claims, changed claims, the deliverables they make dirty and the partition's cursor.
# Data-modifying CTEs all run, on the same snapshot; they touch different rows.
_PG_WRITE_BATCH_SQL = (
    f"WITH inserted AS (INSERT INTO observation ({', '.join(_PG_INSERT_COLUMNS)}, "
    "partition, deleted_at, first_seen_at, updated_at) "
    "SELECT v.*, CAST(:partition AS VARCHAR), NULL, CAST(:now AS TIMESTAMPTZ), CAST(:now AS TIMESTAMPTZ) "
    f"FROM unnest({_unnest(_PG_INSERT_COLUMNS)}) AS v), "
    f"updated AS (UPDATE observation AS o SET {', '.join(f'{c} = v.{c}' for c in _PG_UPDATE_COLUMNS if c != '_id')}, "
    "deleted_at = NULL, updated_at = CAST(:now AS TIMESTAMPTZ) "
    f"FROM unnest({_unnest(_PG_UPDATE_COLUMNS, 'changed_')}) AS v({', '.join(_PG_UPDATE_COLUMNS)}) "
    "WHERE o.id = v._id), "
    "dirtied AS (UPDATE deliverable SET dirty = true "
    "WHERE key = ANY(CAST(:dirty_keys AS VARCHAR[])) AND dirty IS NOT TRUE), "
    "cursor AS (INSERT INTO sync_cursor (source, partition, cursor, items_synced, requests_made, throttled, "
    "last_attempt_at) VALUES (:cursor_source, :partition, :cursor_value, :items, :requests, :throttled, "
    "CAST(:now AS TIMESTAMPTZ)) ON CONFLICT (source, partition) DO UPDATE SET "
    "cursor = COALESCE(EXCLUDED.cursor, sync_cursor.cursor), "
    "items_synced = sync_cursor.items_synced + EXCLUDED.items_synced, "
    "requests_made = sync_cursor.requests_made + EXCLUDED.requests_made, "
    "throttled = sync_cursor.throttled + EXCLUDED.throttled, last_attempt_at = EXCLUDED.last_attempt_at) "
    "SELECT 1"
)
# sent by psycopg itself, every parameter in binary (`%(name)b`): its text format (what `%s`
# picks for lists) quotes every array element with a regex and formats every datetime, 150 and
# 450 us an array of 200 against 30 us in binary, half the client's CPU in a batch
_PG_WRITE_BATCH = re.sub(r":(\w+)", r"%(\1)b", _PG_WRITE_BATCH_SQL)
_UTC = UTCDateTime()


def _as_arrays(rows: list[dict[str, Any]], columns: Sequence[str], prefix: str = "") -> dict[str, list[Any]]:
    """Rows as one list per column (named `prefix` + column), datetimes checked and in UTC as the
    column type stores them."""
    arrays: dict[str, list[Any]] = {}
    for column in columns:
        values = [row[column] for row in rows]
        if _PG_TYPES[column] == "TIMESTAMPTZ":
            values = [_UTC.process_bind_param(v, None) for v in values]
        arrays[prefix + column] = values
    return arrays


def partitions_of(session: Session, keys: Sequence[str]) -> dict[str, dict[str, list[str]]]:
    """Where each deliverable is talked about: per key, per source, the partitions (Asana
    projects, Slack channels) of its live claims, most recent first."""
    found: dict[str, dict[str, list[str]]] = {}
    for chunk in _chunks(list(keys)):
        stmt = (
            select(Observation.deliverable_key, Observation.source, Observation.partition,
                   func.max(Observation.stated_at))
            .where(col(Observation.deliverable_key).in_(chunk), col(Observation.deleted_at).is_(None),
                   col(Observation.partition).is_not(None))
            .group_by(Observation.deliverable_key, Observation.source, Observation.partition)
            .order_by(func.max(Observation.stated_at).desc())
        )
        for key, source, partition, _ in session.exec(stmt):
            found.setdefault(key, {}).setdefault(source, []).append(partition)
    return found


def _claim_key(claim: Claim) -> ClaimKey:
    return (str(claim.source), claim.source_ref, claim.field.value, claim.deliverable_key)


def _claim_values(claim: Claim) -> dict[str, Any]:
    return {
        "value": claim.value,
        "kind": claim.kind.value,
        "author": claim.author,
        "excerpt": claim.excerpt,
        "permalink": claim.permalink,
        "stated_at": claim.stated_at,
        "edited_at": claim.edited_at,
    }


def _existing_claims(session: Session, source: str, refs: list[str]) -> dict[ClaimKey, Row[Any]]:
    """The stored claims of these refs as plain rows (the hot path of every sync: no ORM)."""
    if session.get_bind().dialect.name == "postgresql":
        return _pg_existing_claims(session, source, refs)
    rows: dict[ClaimKey, Row[Any]] = {}
    for chunk in _chunks(refs):
        stmt = select(*_STORED_COLUMNS).where(_OBS.c.source == source, _one_of(session, _OBS.c.source_ref, chunk))
        for row in session.execute(stmt):
            rows[(source, row.source_ref, row.field, row.deliverable_key)] = row
    return rows


# One index look-up per ref, whatever the table's statistics say. The plain
# `source = %s AND source_ref = ANY(%s)` is planned from statistics that lag behind a table
# growing by a first sync (autovacuum analyses it a minute or more later): taking `source` for
# selective, the planner reads the whole source and filters the refs, 12 ms a batch at 100,000
# claims instead of 0.3 ms. The lateral subquery (kept apart by OFFSET 0) gives it no choice but
# an index scan on (source, source_ref) per ref.
_PG_EXISTING_CLAIMS = (
    f"SELECT {', '.join('o.' + c.name for c in _STORED_COLUMNS)} "
    "FROM unnest(CAST(%(refs)b AS VARCHAR[])) AS wanted(ref) CROSS JOIN LATERAL "
    "(SELECT * FROM observation WHERE source = %(source)b AND source_ref = wanted.ref OFFSET 0) AS o"
)


def _pg_existing_claims(session: Session, source: str, refs: list[str]) -> dict[ClaimKey, Any]:
    """`_existing_claims` on PostgreSQL, the refs sent in binary (see `_PG_WRITE_BATCH`). Times
    come in the connection's time zone: `apply_batch` only compares them, and aware datetimes
    compare by instant."""
    from psycopg.rows import namedtuple_row

    session.flush()  # psycopg's own cursor does not autoflush what the session holds
    driver = session.connection().connection.driver_connection
    with driver.cursor(row_factory=namedtuple_row) as cursor:
        cursor.execute(_PG_EXISTING_CLAIMS, {"source": source, "refs": refs}, binary=True)
        return {(source, row.source_ref, row.field, row.deliverable_key): row for row in cursor.fetchall()}


def _one_of(session: Session, column: Any, values: Sequence[str]) -> Any:
    """`column IN values`; on PostgreSQL as `= ANY(array)`, one parameter instead of hundreds
    that psycopg would parse anew for every batch size."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(cast(list(values), ARRAY(String)))
    return column.in_(values)


def _differs(row: Row[Any], values: dict[str, Any]) -> bool:
    return row.deleted_at is not None or any(getattr(row, name) != values[name] for name in _CLAIM_FIELDS)


def apply_batch(
    session: Session, *, source: SourceName, partition: str, batch: SyncBatch, now: datetime
) -> BatchResult:
    """Apply one batch and its cursor in the caller's transaction.

    A batch states the complete current claims of every source ref it mentions: a claim of such
    a ref that the batch no longer carries is retracted, and refs in `batch.retractions` have
    none. Re-applying the same batch changes nothing.
    """
    result = BatchResult()
    wanted: dict[ClaimKey, Claim] = {_claim_key(c): c for c in batch.observations}
    refs = sorted({c.source_ref for c in batch.observations} | {r.source_ref for r in batch.retractions})
    existing = _existing_claims(session, str(source), refs)

    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for key, claim in wanted.items():
        values = _claim_values(claim)
        row = existing.get(key)
        if row is None:
            inserts.append(
                {
                    **values,
                    "deliverable_key": claim.deliverable_key,
                    "source": str(claim.source),
                    "source_ref": claim.source_ref,
                    "field": claim.field.value,
                    "partition": partition,
                    "deleted_at": None,
                    "first_seen_at": now,
                    "updated_at": now,
                }
            )
            result.dirty.add(claim.deliverable_key)
        elif _differs(row, values):
            updates.append({**values, "_id": row.id, "deleted_at": None, "updated_at": now})
            result.dirty.add(claim.deliverable_key)
        else:
            result.unchanged += 1
    retracted = [row for key, row in existing.items() if key not in wanted and row.deleted_at is None]

    postgres = session.get_bind().dialect.name == "postgresql"
    result.inserted, result.updated, result.retracted = len(inserts), len(updates), len(retracted)
    if postgres:
        _retract(session, [row.id for row in retracted], now=now)
        result.dirty.update(row.deliverable_key for row in retracted)
        if batch.live_refs is not None:
            _retract_vanished(session, source.value, partition, batch.live_refs, result, now=now)
        upsert_people(session, batch.people, now=now)
        _pg_write_batch(session, inserts, updates, result.dirty, source=source.value, partition=partition,
                        batch=batch, now=now)
        return result
    if inserts:
        session.execute(insert(_OBS), inserts)
    if updates:
        session.execute(_UPDATE_CLAIM, updates)
    _retract(session, [row.id for row in retracted], now=now)
    result.dirty.update(row.deliverable_key for row in retracted)

    if batch.live_refs is not None:
        _retract_vanished(session, str(source), partition, batch.live_refs, result, now=now)
    upsert_people(session, batch.people, now=now)
    mark_dirty(session, result.dirty)
    _advance_cursor(session, source=str(source), partition=partition, batch=batch, now=now)
    session.flush()
    return result


def _pg_write_batch(
    session: Session, inserts: list[dict[str, Any]], updates: list[dict[str, Any]], dirty: set[str], *,
    source: str, partition: str, batch: SyncBatch, now: datetime,
) -> None:
    """`_PG_WRITE_BATCH`: what `apply_batch` writes after reading, as `mark_dirty` and
    `_advance_cursor` would write it. A cursor row this session holds is expired so it is read
    back as written."""
    params: dict[str, Any] = {
        **_as_arrays(inserts, _PG_INSERT_COLUMNS),
        **_as_arrays(updates, _PG_UPDATE_COLUMNS, "changed_"),
        "dirty_keys": sorted(dirty),
        "cursor_source": source, "partition": partition, "cursor_value": batch.cursor,
        "items": len(batch.observations), "requests": batch.requests, "throttled": batch.throttled,
        "now": _UTC.process_bind_param(now, None),
    }
    session.flush()  # psycopg's own cursor does not autoflush what the session holds
    driver = session.connection().connection.driver_connection
    with driver.cursor() as cursor:
        cursor.execute(_PG_WRITE_BATCH, params, binary=True)
    for held in list(session.identity_map.values()):
        if isinstance(held, SyncCursor) and held.source == source and held.partition == partition:
            session.expire(held)


def _retract(session: Session, ids: list[int], *, now: datetime) -> None:
    for chunk in _chunks(ids):
        session.execute(update(_OBS).where(_OBS.c.id.in_(chunk)).values(deleted_at=now, updated_at=now))


def _retract_vanished(
    session: Session,
    source: str,
    partition: str,
    live_refs: frozenset[str],
    result: BatchResult,
    *,
    now: datetime,
) -> None:
    stmt = select(_OBS.c.id, _OBS.c.source_ref, _OBS.c.deliverable_key).where(
        _OBS.c.source == source, _OBS.c.partition == partition, _OBS.c.deleted_at.is_(None)
    )
    vanished = [row for row in session.execute(stmt) if row.source_ref not in live_refs]
    _retract(session, [row.id for row in vanished], now=now)
    result.retracted += len(vanished)
    result.dirty.update(row.deliverable_key for row in vanished)


def _cursor_row(session: Session, source: str, partition: str) -> SyncCursor:
    row = session.exec(
        select(SyncCursor).where(SyncCursor.source == source, SyncCursor.partition == partition)
    ).first()
    return row or SyncCursor(source=source, partition=partition)


def _advance_cursor(
    session: Session, *, source: str, partition: str, batch: SyncBatch, now: datetime
) -> None:
    row = _cursor_row(session, source, partition)
    if batch.cursor is not None:
        row.cursor = batch.cursor
    row.items_synced += len(batch.observations)
    row.requests_made += batch.requests
    row.throttled += batch.throttled
    row.last_attempt_at = now
    session.add(row)


def get_cursor(session: Session, source: SourceName, partition: str) -> str | None:
    row = session.exec(
        select(SyncCursor).where(SyncCursor.source == str(source), SyncCursor.partition == partition)
    ).first()
    return row.cursor if row else None


def reset_cursor(session: Session, source: SourceName, partition: str) -> None:
    row = _cursor_row(session, str(source), partition)
    row.cursor = None
    session.add(row)


def record_sync_start(session: Session, source: SourceName, partition: str, *, now: datetime) -> None:
    """A sync of the partition is under way (cleared by its success or its error)."""
    row = _cursor_row(session, source, partition)
    row.sync_started_at = now
    session.add(row)


def record_sync_stop(session: Session, source: SourceName, partition: str) -> None:
    """The sync under way stopped without an outcome (cut short; it goes on later)."""
    row = _cursor_row(session, source, partition)
    if row.id is not None:
        row.sync_started_at = None
        session.add(row)


def partitions_syncing(session: Session, *, now: datetime, within: timedelta) -> list[tuple[str, str]]:
    """(source, partition) of the syncs under way that started less than `within` ago (a sync
    whose process died is not waited for longer than that)."""
    stmt = select(SyncCursor.source, SyncCursor.partition).where(
        col(SyncCursor.sync_started_at).is_not(None), col(SyncCursor.sync_started_at) > now - within
    )
    return [(source, partition) for source, partition in session.exec(stmt)]


def keys_claimed_in(session: Session, keys: Sequence[str], partitions: Sequence[tuple[str, str]]) -> set[str]:
    """Which of `keys` have live claims from one of `partitions` ((source, partition) pairs)."""
    if not keys or not partitions:
        return set()
    found: set[str] = set()
    where_partition = or_(*[(Observation.source == s) & (Observation.partition == p) for s, p in partitions])
    for chunk in _chunks(list(keys)):
        stmt = select(Observation.deliverable_key).distinct().where(
            col(Observation.deliverable_key).in_(chunk), col(Observation.deleted_at).is_(None), where_partition
        )
        found.update(session.exec(stmt))
    return found


def record_sync_success(session: Session, source: SourceName, partition: str, *, now: datetime) -> None:
    row = _cursor_row(session, str(source), partition)
    row.last_attempt_at = now
    row.last_success_at = now
    row.last_error = None
    row.sync_started_at = None
    session.add(row)


def all_synced_last_time(session: Session, source: SourceName, partitions: list[str]) -> bool:
    """Every one of `partitions` has synced, and its last sync succeeded."""
    rows = session.exec(
        select(SyncCursor).where(SyncCursor.source == str(source), SyncCursor.partition.in_(partitions))  # type: ignore[attr-defined]
    ).all()
    healthy = {r.partition for r in rows if r.last_success_at is not None and r.last_error is None}
    return healthy >= set(partitions)


def record_sync_error(
    session: Session, source: SourceName, partition: str, message: str, *, now: datetime
) -> None:
    row = _cursor_row(session, str(source), partition)
    row.last_attempt_at = now
    row.last_error = message[:1000]
    row.last_error_at = now
    row.sync_started_at = None
    session.add(row)


FULL_RECONCILE = FULL_RECONCILE_RUN


def last_full_pass(session: Session) -> datetime | None:
    row = session.get(PeriodicRun, FULL_RECONCILE)
    return row.last_run_at if row else None


def full_pass_due(session: Session, *, fingerprint: str) -> bool:
    """Whether a full reconcile is due: none ran yet, or the last one ran with another rule
    configuration (`fingerprint`). Time-driven findings need none: each deliverable's
    `next_check_at` brings it back when due."""
    row = session.get(PeriodicRun, FULL_RECONCILE)
    return row is None or row.fingerprint != fingerprint


def record_full_pass(
    session: Session, *, now: datetime, seconds: float | None = None, fingerprint: str | None = None
) -> None:
    row = record_run(session, FULL_RECONCILE, now=now, seconds=seconds)
    if fingerprint is not None:
        row.fingerprint = fingerprint


DIRTY_RECONCILE = "dirty_reconcile"


def record_run(session: Session, name: str, *, now: datetime, seconds: float | None = None) -> PeriodicRun:
    """A periodic job ran at `now` and took `seconds` (for the board's /metrics)."""
    row = session.get(PeriodicRun, name) or PeriodicRun(name=name, last_run_at=now)
    row.last_run_at = now
    row.seconds = seconds
    session.add(row)
    return row


def periodic_runs(session: Session) -> list[PeriodicRun]:
    return list(session.exec(select(PeriodicRun).order_by(PeriodicRun.name)))


def sync_cursors(session: Session) -> list[SyncCursor]:
    return list(session.exec(select(SyncCursor).order_by(SyncCursor.source, SyncCursor.partition)))


# -- people ---------------------------------------------------------------------------------
#
# A person's id in each source is a `PersonIdentity` row (source = the plugin's name). Loading a
# person loads its identities with it, one query per batch of people (`Person.identities`).


IdentityHolders = dict[tuple[str, str], Person]
"""(source, external id) -> the person holding it, among the people loaded."""


def _holders(people: Iterable[Person]) -> IdentityHolders:
    return {(i.source, i.external_id): p for p in people for i in p.identities}


def _claim_identity(session: Session, person: Person, source: str, external_id: str, holders: IdentityHolders) -> bool:
    """Make `external_id` the person's id in `source`, taking it from whoever held it before
    (the config file, or an email match, says who it is now); whether anything changed."""
    holder = holders.get((source, external_id))
    if holder is not None and holder is not person:
        holder.identities = [i for i in holder.identities if (i.source, i.external_id) != (source, external_id)]
        session.add(holder)
        session.flush()  # the row goes before another person's takes its (source, id)
    previous = person.identity(source)
    if previous is not None:
        holders.pop((source, previous), None)
    holders[(source, external_id)] = person
    return person.set_identity(source, external_id)


def _sync_config_people(session: Session, config: Config, *, now: datetime) -> None:
    """Upsert the file's people with their ids; the file's values win over what a source said."""
    people = {p.key: p for p in session.exec(select(Person)).all()}
    holders = _holders(people.values())
    for pc in config.people:
        person = people.get(pc.key) or Person(key=pc.key, name=pc.name)
        # what the file leaves out (a Slack id, a time zone) may have been learned from a source
        values = pc.model_dump(include={"name", "email", "timezone"}, exclude_none=True)
        changed = person.id is None or any(getattr(person, k) != v for k, v in values.items())
        for k, v in values.items():
            setattr(person, k, v)
        for source, external_id in sorted(pc.ids.items()):
            changed = _claim_identity(session, person, source, external_id, holders) or changed
        if changed:
            person.from_config = True
            person.updated_at = now
            session.add(person)
    session.flush()


def people_by_identity(session: Session, source: SourceName | str, external_ids: Iterable[str]) -> dict[str, Person]:
    """External id in `source` -> the person it is, for those of `external_ids` someone has."""
    found: dict[str, Person] = {}
    for chunk in _chunks(sorted(set(external_ids))):
        stmt = select(PersonIdentity.external_id, Person).join(Person, col(Person.id) == PersonIdentity.person_id).where(
            PersonIdentity.source == str(source), col(PersonIdentity.external_id).in_(chunk)
        )
        for external_id, person in session.exec(stmt):
            found[external_id] = person
    return found


def person_by_identity(session: Session, source: SourceName | str, external_id: str) -> Person | None:
    return people_by_identity(session, source, [external_id]).get(external_id)


def identities_of_keys(session: Session, person_keys: Iterable[str], source: SourceName | str) -> dict[str, str]:
    """Person key -> their id in `source`, for those of `person_keys` who have one (one query)."""
    found: dict[str, str] = {}
    for chunk in _chunks(sorted(set(person_keys))):
        stmt = select(Person.key, PersonIdentity.external_id).join(
            PersonIdentity, col(PersonIdentity.person_id) == Person.id
        ).where(col(Person.key).in_(chunk), PersonIdentity.source == str(source))
        for key, external_id in session.exec(stmt):
            found[key] = external_id
    return found


def add_identity_if_missing(session: Session, person_key: str, source: SourceName | str, external_id: str) -> bool:
    """Record an id learned for a person (a Slack id found by email) unless they have one in
    `source` already or someone else holds it; whether it was recorded. Safe when two workers
    learn the same id at once: the loser's insert is rolled back to a savepoint."""
    person = session.exec(select(Person).where(Person.key == person_key)).first()
    if person is None or person.identity(source) is not None:
        return False
    if person_by_identity(session, source, external_id) is not None:
        return False
    try:
        with session.begin_nested():
            session.add(PersonIdentity(person_id=person.id, source=str(source), external_id=external_id))
    except IntegrityError:
        return False
    return True


def _known_people(session: Session, records: Sequence[PersonRecord], *, fresh: bool = False) -> list[Person]:
    """Everyone a batch's records may be: by email or by their id in the record's source."""
    emails = sorted({r.email.lower() for r in records if r.email})
    clauses = [col(Person.email).in_(chunk) for chunk in _chunks(emails)]
    ids_by_source: dict[str, set[str]] = defaultdict(set)
    for record in records:
        ids_by_source[str(record.source)].add(record.source_id)
    for source, ids in sorted(ids_by_source.items()):
        for chunk in _chunks(sorted(ids)):
            held = select(PersonIdentity.person_id).where(
                PersonIdentity.source == source, col(PersonIdentity.external_id).in_(chunk)
            )
            clauses.append(col(Person.id).in_(held))
    if not clauses:
        return []
    return list(session.exec(select(Person).where(or_(*clauses)).execution_options(populate_existing=fresh)))


def upsert_people(session: Session, records: Sequence[PersonRecord], *, now: datetime) -> None:
    """Join what sources know about people to one person by email (then by their id in the
    record's source), and keep that id as the person's identity in the source.

    Two queries for the whole batch (people, their identities); a person is written only when
    something changed. Someone a source knows but the config file does not becomes a person
    keyed by their email.
    """
    if not records:
        return
    if session.get_bind().dialect.name != "postgresql":
        _upsert_people(session, records, now=now, fresh=False)  # SQLite has one writer at a time
        return
    try:
        with session.begin_nested():
            _upsert_people(session, records, now=now, fresh=False)
    except IntegrityError:
        # another sync (a partition of the same source) joined the same person or id at the
        # same moment and committed first: read them again, once
        with session.begin_nested():
            _upsert_people(session, records, now=now, fresh=True)


def _upsert_people(session: Session, records: Sequence[PersonRecord], *, now: datetime, fresh: bool) -> None:
    known = _known_people(session, records, fresh=fresh)
    by_email = {p.email.lower(): p for p in known if p.email}
    holders = _holders(known)
    for record in records:
        source = str(record.source)
        email = record.email.lower() if record.email else None
        person = (by_email.get(email) if email else None) or holders.get((source, record.source_id))
        if person is None:
            if email is None:
                continue
            person = Person(key=email, name=record.name or email, email=email, from_config=False)
            by_email[email] = person
        if _merge_person(session, person, record, holders):
            person.updated_at = now
            session.add(person)
    session.flush()


def _merge_person(session: Session, person: Person, record: PersonRecord, holders: IdentityHolders) -> bool:
    """Fill in what the record adds; the config file's values win over a source's."""
    changed = _claim_identity(session, person, str(record.source), record.source_id, holders) or person.id is None
    if record.timezone and person.timezone != record.timezone and (person.timezone is None or not person.from_config):
        person.timezone = record.timezone
        changed = True
    return changed


def author_names(session: Session) -> dict[tuple[str, str], str]:
    """(source, author id as that source names it) -> the person's name. Slack names authors by
    user id, Asana by gid or email, manual claims by person key."""
    names: dict[tuple[str, str], str] = {}
    sources = [Source.MANUAL.value, *(p.name for p in current_sources())]
    for person in session.exec(select(Person)):
        names[(Source.MANUAL.value, person.key)] = person.name
        for source, external_id in person.external_ids().items():
            names[(source, external_id)] = person.name
        if person.email:
            for source in sources:
                names.setdefault((str(source), person.email), person.name)
    return names


def people_by_key(session: Session) -> dict[str, Person]:
    return {p.key: p for p in session.exec(select(Person))}


# -- deliverables and their claims ----------------------------------------------------------


def mark_dirty(session: Session, keys: Iterable[str]) -> None:
    ordered = sorted(set(keys))
    for chunk in _chunks(ordered):
        # only rows not dirty yet: rewriting a row that already is costs PostgreSQL a new row
        # version (and its index entries) for nothing, once per batch that mentions it
        session.execute(
            update(Deliverable)
            .where(col(Deliverable.key).in_(chunk), col(Deliverable.dirty).is_not(True))
            .values(dirty=True)
        )


def dirty_deliverable_keys(session: Session, *, limit: int | None = None) -> list[str]:
    stmt = select(Deliverable.key).where(Deliverable.dirty == true()).order_by(Deliverable.key)
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(session.exec(stmt))


def dependents_of(session: Session, keys: Iterable[str]) -> set[str]:
    """Deliverables that depend on any of `keys`, by configuration or by an Asana claim."""
    wanted = set(keys)
    found: set[str] = set()
    for key, depends_on in session.exec(select(Deliverable.key, Deliverable.depends_on)):
        if wanted.intersection(depends_on or []):
            found.add(key)
    for chunk in _chunks(sorted(wanted)):
        clauses = [col(Observation.value).contains(k) for k in chunk]
        stmt = select(Observation.deliverable_key, Observation.value).where(
            Observation.field == "depends_on", col(Observation.deleted_at).is_(None), or_(*clauses)
        )
        for key, value in session.exec(stmt):
            if wanted.intersection((value or "").split(",")):
                found.add(key)
    return found - wanted


def deliverables_by_key(session: Session, keys: Iterable[str]) -> dict[str, Deliverable]:
    found: dict[str, Deliverable] = {}
    for chunk in _chunks(sorted(set(keys))):
        for d in session.exec(select(Deliverable).where(col(Deliverable.key).in_(chunk))):
            found[d.key] = d
    return found


def live_claims(session: Session, keys: Iterable[str]) -> dict[str, list[Observation]]:
    """Every claim not retracted, per deliverable, oldest first."""
    by_key: dict[str, list[Observation]] = defaultdict(list)
    for chunk in _chunks(sorted(set(keys))):
        stmt = (
            select(Observation)
            .where(col(Observation.deliverable_key).in_(chunk), col(Observation.deleted_at).is_(None))
            .order_by(Observation.stated_at, Observation.id)
        )
        for row in session.exec(stmt):
            by_key[row.deliverable_key].append(row)
    return by_key


def claims_history(session: Session, key: str) -> list[Observation]:
    """Every claim ever stored for a deliverable, retracted ones included, oldest first."""
    stmt = (
        select(Observation)
        .where(Observation.deliverable_key == key)
        .order_by(Observation.stated_at, Observation.id)
    )
    return list(session.exec(stmt))


def observations_by_id(session: Session, ids: Iterable[int]) -> dict[int, Observation]:
    found: dict[int, Observation] = {}
    for chunk in _chunks(sorted(set(ids))):
        for row in session.exec(select(Observation).where(col(Observation.id).in_(chunk))):
            assert row.id is not None
            found[row.id] = row
    return found


# -- audit ----------------------------------------------------------------------------------


def audit(
    session: Session,
    *,
    actor: str,
    action: str,
    now: datetime,
    conflict_id: int | None = None,
    deliverable_key: str | None = None,
    comment: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    event = AuditEvent(
        at=now,
        actor=actor,
        action=action,
        conflict_id=conflict_id,
        deliverable_key=deliverable_key,
        comment=comment,
        details=details or {},
    )
    session.add(event)
    return event


# -- pushed events ------------------------------------------------------------------------------


def event_taken(session: Session, event_id: str) -> bool:
    """Whether a pushed event with this id was already taken in (a retry, a repeat)."""
    return session.get(PushedEvent, event_id) is not None


def take_event(session: Session, event_id: str, *, now: datetime) -> None:
    session.add(PushedEvent(event_id=event_id, received_at=now))


def message_version(session: Session, source: SourceName, source_ref: str) -> MessageVersion | None:
    return session.get(MessageVersion, (str(source), source_ref))


def newest_edit(session: Session, source: SourceName, source_ref: str) -> datetime | None:
    """The newest edit time among the stored claims of a ref (whoever stored them: the poller too)."""
    stmt = select(func.max(_OBS.c.edited_at)).where(_OBS.c.source == str(source), _OBS.c.source_ref == source_ref)
    value = session.execute(stmt).scalar()
    if isinstance(value, datetime) and value.tzinfo is None:  # SQLite's aggregate skips the column type
        value = value.replace(tzinfo=timezone.utc)
    return value if isinstance(value, datetime) else None


def record_message_version(
    session: Session, source: SourceName, source_ref: str, version: str, *, deleted: bool, now: datetime
) -> None:
    row = message_version(session, source, source_ref) or MessageVersion(
        source=str(source), source_ref=source_ref, version=version, updated_at=now
    )
    row.version, row.deleted, row.updated_at = version, deleted, now
    session.add(row)


def prune_pushed(session: Session, *, events_before: datetime, versions_before: datetime) -> None:
    """Forget event ids and message versions older than any repeat or late edit still expected."""
    session.execute(delete(PushedEvent).where(col(PushedEvent.received_at) < events_before))
    session.execute(delete(MessageVersion).where(col(MessageVersion.updated_at) < versions_before))


def record_periodic(session: Session, name: str, *, now: datetime) -> None:
    row = session.get(PeriodicRun, name) or PeriodicRun(name=name, last_run_at=now)
    row.last_run_at = now
    session.add(row)


def last_periodic(session: Session, name: str) -> datetime | None:
    row = session.get(PeriodicRun, name)
    return row.last_run_at if row else None


def last_successes(session: Session, source: SourceName) -> dict[str, datetime]:
    """When each partition of a source last synced without error."""
    stmt = select(SyncCursor.partition, SyncCursor.last_success_at).where(SyncCursor.source == str(source))
    return {partition: at for partition, at in session.exec(stmt) if at is not None}
