"""Properties of the reconciler: it is idempotent, and what it concludes does not depend on the
order in which observations arrived (the same claims applied in shuffled batches)."""

from __future__ import annotations

import itertools
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlmodel import SQLModel, select

from connectors.base import (
    CanonicalStatus,
    ClaimKind,
    Field,
    Observation,
    Source,
    SyncBatch,
)
from reconciler import engine, store
from reconciler.db import make_engine, session_scope
from reconciler.models import Conflict, Deliverable, DeliverableDependency
from reconciler.models import Observation as StoredClaim
from tests.unit.test_engine import CONFIG

T = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)
KEYS = ["checkout-v2", "payments-api", "launch-campaign"]
DATES = ["2026-11-25", "2026-12-01", "2026-12-03", "2026-12-10"]
STATUSES = [s.value for s in CanonicalStatus]

Unit = list[Observation]  # every claim one source ref makes: applied together, as connectors do


@st.composite
def units(draw: st.DrawFn) -> list[Unit]:
    """Asana task fields and project status updates, Slack messages, manual claims; few distinct
    times so that ties happen."""
    hours = st.integers(min_value=1, max_value=4).map(lambda h: T - timedelta(days=h * 3))
    found: list[Unit] = []
    for key, gid in zip(KEYS, ["3001", "3002", "3005"], strict=True):
        fields = draw(st.lists(st.sampled_from([Field.STATUS, Field.TARGET_DATE]), unique=True, max_size=2))
        task = [_claim(key, Source.ASANA, gid, f, draw(_value(f)), draw(hours), ClaimKind.STATE, "alice@acme.test") for f in fields]
        if task:
            found.append(task)
    if draw(st.booleans()):
        found.append([_claim("checkout-v2", Source.ASANA, "status_update:2001", Field.STATUS,
                             draw(_value(Field.STATUS)), draw(hours), ClaimKind.STATE, "erin@acme.test")])
    for n in range(draw(st.integers(min_value=0, max_value=6))):
        source = draw(st.sampled_from([Source.SLACK, Source.SLACK, Source.MANUAL]))
        author = draw(st.sampled_from(["U01", "U02"] if source == Source.SLACK else ["alice", "dan"]))
        field = draw(st.sampled_from([Field.STATUS, Field.TARGET_DATE]))
        found.append([_claim(draw(st.sampled_from(KEYS[:1] * 2 + KEYS)), source, f"{source.value}:{n}", field,
                             draw(_value(field)), draw(hours), ClaimKind.EVENT, author)])
    return found


def _value(field: Field) -> st.SearchStrategy[str]:
    return st.sampled_from(STATUSES if field == Field.STATUS else DATES)


def _claim(key: str, source: Source, ref: str, field: Field, value: str, at: datetime, kind: ClaimKind, author: str) -> Observation:
    return Observation(key, source, ref, field, value, at, kind, author=author, excerpt=f"{field.value} {value}")


def _fresh_store(directory: str) -> Engine:
    db = make_engine(f"sqlite:///{Path(directory) / 'store.db'}")
    SQLModel.metadata.create_all(db)
    with session_scope(db) as session:
        store.sync_config(session, CONFIG, now=T - timedelta(days=30))
    return db


def _arrive(db: Engine, batches: list[list[Unit]]) -> None:
    """Apply each batch (one transaction per source, as syncs do) and reconcile after each."""
    for i, batch in enumerate(batches):
        now = T + timedelta(minutes=i)
        with session_scope(db) as session:
            for source in Source:
                claims = [c for unit in batch for c in unit if c.source == source]
                if claims:
                    store.apply_batch(session, source=source, partition="p", batch=SyncBatch(observations=claims), now=now)
            engine.reconcile_dirty(session, config=CONFIG, now=now)


def _conclusions(db: Engine) -> dict[str, Any]:
    """What the reconciler concluded, without history (ids, transition and opening times)."""
    with session_scope(db) as session:
        claim_of = {c.id: (c.source, c.source_ref, c.field, c.deliverable_key) for c in session.exec(select(StoredClaim))}
        active = {
            c.fingerprint: (c.kind, c.state, c.severity, c.summary, sorted(claim_of[i] for i in c.evidence),
                            c.details, c.sources, c.newest_evidence_at)
            for c in session.exec(select(Conflict))
            if c.state in ("open", "acknowledged")
        }
        deliverables = {
            d.key: (d.canonical_status, d.canonical_status_source, d.target_date, d.target_date_source,
                    {name: {k: v for k, v in cond.items() if k != "last_transition_time"} for name, cond in d.conditions.items()})
            for d in session.exec(select(Deliverable))
        }
        edges = sorted((e.dependent_key, e.dependency_key) for e in session.exec(select(DeliverableDependency)))
    return {"conflicts": active, "deliverables": deliverables, "edges": edges}


def _split(items: list[Unit], cuts: list[int]) -> list[list[Unit]]:
    bounds = sorted({0, len(items), *(c % (len(items) + 1) for c in cuts)})
    return [items[a:b] for a, b in itertools.pairwise(bounds) if b > a]


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), claims=units())
def test_conclusions_do_not_depend_on_arrival_order(data: st.DataObject, claims: list[Unit]) -> None:
    orders = [data.draw(st.permutations(claims)) for _ in range(2)]
    cuts = [data.draw(st.lists(st.integers(min_value=0, max_value=20), max_size=4)) for _ in range(2)]
    results = []
    for order, cut in zip(orders, cuts, strict=True):
        with tempfile.TemporaryDirectory() as directory:
            db = _fresh_store(directory)
            _arrive(db, _split(list(order), cut))
            with session_scope(db) as session:
                engine.reconcile_all(session, config=CONFIG, now=T + timedelta(hours=1))
            results.append(_conclusions(db))
            db.dispose()
    assert results[0] == results[1]


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(claims=units())
def test_reconcile_is_idempotent(claims: list[Unit]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        db = _fresh_store(directory)
        _arrive(db, [claims])
        with session_scope(db) as session:
            engine.reconcile_all(session, config=CONFIG, now=T + timedelta(hours=1))
        with db.connect() as connection:
            before = [list(connection.exec_driver_sql(f"SELECT * FROM {t} ORDER BY 1")) for t in
                      ("conflict", "deliverable", "audit_event", "deliverable_dependency")]
        with session_scope(db) as session:
            report = engine.reconcile_all(session, config=CONFIG, now=T + timedelta(hours=2))
        with db.connect() as connection:
            after = [list(connection.exec_driver_sql(f"SELECT * FROM {t} ORDER BY 1")) for t in
                     ("conflict", "deliverable", "audit_event", "deliverable_dependency")]
        db.dispose()
    assert (report.opened, report.updated, report.auto_resolved, report.reopened) == ([], [], [], [])
    assert after == before


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(claims=units())
def test_a_pass_in_chunks_of_one_concludes_what_a_pass_in_one_chunk_does(claims: list[Unit]) -> None:
    """Past its chunk, a dependency's canonical state is kept packed and unpacked for the chunk
    that reads it: the findings must be those of a pass holding everything as objects."""
    results = []
    for chunk in (1, engine.CHUNK):
        with tempfile.TemporaryDirectory() as directory:
            db = _fresh_store(directory)
            _arrive(db, [claims])
            original, engine.CHUNK = engine.CHUNK, chunk
            try:
                with session_scope(db) as session:
                    engine.reconcile_all(session, config=CONFIG, now=T + timedelta(days=9))
            finally:
                engine.CHUNK = original
            results.append(_conclusions(db))
            db.dispose()
    assert results[0] == results[1]
