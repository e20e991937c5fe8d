"""reconcile_all with worker processes ends in exactly the store the serial run does."""

from __future__ import annotations

import dataclasses
import pickle
import random
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, insert, text

from bench.reconcile_bench import NOW, _claim, config, generate
from reconciler import engine, planning
from reconciler.db import make_engine, migrate, session_scope
from reconciler.dbapi import Connect
from reconciler.models import Observation
from tests.conftest import _truncate_all

TABLES = ("deliverable", "conflict", "audit_event", "deliverable_dependency")


def _store(path: Path) -> Engine:
    store = make_engine(f"sqlite:///{path}")
    migrate(store)
    generate(store, 2500, 12_000, random.Random(11))  # three chunks, handed to whichever process is free
    return store


def _dump(store: Engine) -> dict[str, list[tuple[Any, ...]]]:
    with store.connect() as connection:
        return {t: [tuple(r) for r in connection.execute(text(f"SELECT * FROM {t} ORDER BY 1, 2"))] for t in TABLES}


def _reconcile_all(store: Engine, **kw: Any) -> engine.ReconcileReport:
    with session_scope(store) as session:
        return engine.reconcile_all(session, config=config(), now=NOW, **kw)


def test_parallel_reconcile_all_matches_serial(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    serial, parallel = _store(tmp_path / "serial.db"), _store(tmp_path / "parallel.db")
    assert _dump(serial) == _dump(parallel)
    used = []
    run_parallel = engine._run_parallel
    monkeypatch.setattr(engine, "_run_parallel", lambda *a: used.append(a[-1]) or run_parallel(*a))

    first = _reconcile_all(serial, workers=1, parallel_min=0), _reconcile_all(parallel, workers=2, parallel_min=0)
    assert used == [2]
    assert first[0] == first[1] and first[0].opened
    assert _dump(serial) == _dump(parallel)

    # new claims on some deliverables, a later clock: updates, auto-resolutions, stale findings
    rng = random.Random(5)
    touched = [f"d{i:06d}" for i in rng.sample(range(2500), 300)]
    for store in (serial, parallel):
        with store.begin() as connection:
            connection.execute(insert(Observation.__table__), [  # type: ignore[attr-defined]
                _claim(k, "slack", f"new:{k}", "status", "on_track", NOW + timedelta(hours=1), "event", "U0001")
                for k in touched
            ])
    later = NOW + timedelta(days=9)
    with session_scope(serial) as session:
        again = [engine.reconcile_all(session, config=config(), now=later, workers=1)]
    with session_scope(parallel) as session:
        again.append(engine.reconcile_all(session, config=config(), now=later, workers=2, parallel_min=0))
    assert again[0] == again[1] and again[0].auto_resolved and again[0].updated
    assert _dump(serial) == _dump(parallel)


def test_helpers_plan_the_chunks_this_process_leaves_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks go to whichever process is free; here this process declines odd chunks, so the
    helper must plan them and the writes still come out in key order, as in the serial run."""
    serial, parallel = _store(tmp_path / "serial.db"), _store(tmp_path / "parallel.db")
    monkeypatch.setattr(engine, "CHUNK", 250)  # ten chunks
    monkeypatch.setattr(planning.Handout, "claim", _declining_odd_chunks(planning.Handout.claim))

    reports = _reconcile_all(serial, workers=1), _reconcile_all(parallel, workers=2, parallel_min=0)
    assert reports[1].chunks_by_workers >= 5
    assert reports[0] == reports[1]
    assert _dump(serial) == _dump(parallel)


def test_a_failing_helper_fails_the_pass_and_nothing_is_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = _store(tmp_path / "store.db")
    monkeypatch.setattr(engine, "CHUNK", 250)
    monkeypatch.setattr(engine, "_helper_connect", lambda session: Connect("sqlite", (str(tmp_path / "empty.db"),), {}))
    monkeypatch.setattr(planning.Handout, "claim", _declining_odd_chunks(planning.Handout.claim))
    with pytest.raises(RuntimeError, match="reconcile worker failed: OperationalError"):
        _reconcile_all(store, workers=2, parallel_min=0)
    with store.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM conflict")).scalar() == 0
        assert connection.execute(text("SELECT count(*) FROM deliverable WHERE dirty")).scalar() == 2500


def test_a_helper_that_cannot_start_leaves_the_pass_to_this_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import multiprocessing

    def cannot_start(process: Any) -> None:
        raise OSError("no fork server here")

    serial, parallel = _store(tmp_path / "serial.db"), _store(tmp_path / "parallel.db")
    monkeypatch.setattr(multiprocessing.get_context("spawn").Process, "start", cannot_start)
    reports = _reconcile_all(serial, workers=1), _reconcile_all(parallel, workers=2, parallel_min=0)
    assert reports[1].chunks_by_workers == 0 and reports[0] == reports[1]
    assert _dump(serial) == _dump(parallel)


def _declining_odd_chunks(claim: Any) -> Any:
    """This process's `_Handout.claim`, leaving odd chunks to the helpers."""
    return lambda self: None if self.next_to_plan.value % 2 else claim(self)


def test_parallel_reconcile_all_matches_serial_on_postgres(
    postgres_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    used = []
    run_parallel = engine._run_parallel
    monkeypatch.setattr(engine, "_run_parallel", lambda *a: used.append(a[-1]) or run_parallel(*a))
    dumps = []
    for workers in (1, 2):
        _truncate_all(postgres_engine)
        generate(postgres_engine, 2500, 12_000, random.Random(11))
        report = _reconcile_all(postgres_engine, workers=workers, parallel_min=0)
        dumps.append((report, _dump(postgres_engine)))
    assert used == [2]
    assert dumps[0] == dumps[1] and dumps[0][0].opened


def test_workers_are_not_used_when_the_transaction_already_wrote(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers read committed data only: the caller's uncommitted claims must count."""
    store = _store(tmp_path / "store.db")
    monkeypatch.setattr(engine, "_run_parallel", lambda *a: pytest.fail("workers cannot see this transaction"))
    with session_scope(store) as session:
        session.execute(insert(Observation.__table__), [  # type: ignore[attr-defined]
            _claim("d000001", "manual", "m1", "status", "cancelled", NOW, "event", "dan"),
        ])
        engine.reconcile_all(session, config=config(), now=NOW, workers=2, parallel_min=0)
    with store.connect() as connection:
        status = connection.execute(text("SELECT canonical_status FROM deliverable WHERE key = 'd000001'")).scalar()
    assert status == "cancelled"


def test_in_memory_sqlite_reconciles_in_process() -> None:
    store = make_engine("sqlite://")
    migrate(store)
    with session_scope(store) as session:
        assert engine._helper_connect(session) is None


def test_claims_packed_by_postgres_read_as_a_row_per_claim(
    postgres_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL packs each deliverable's claims into JSON (`json_agg`); the claims and the
    store a pass leaves are those of reading a row per claim, microseconds and edits included."""
    dumps, claims = [], []
    for packed in (True, False):
        if not packed:
            monkeypatch.setattr(planning, "_packed_claims_sql", lambda reader: None)
        _truncate_all(postgres_engine)
        generate(postgres_engine, 1200, 6_000, random.Random(3))
        with postgres_engine.begin() as connection:
            connection.execute(text(
                "UPDATE observation SET stated_at = stated_at + interval '0.123456 seconds',"
                " edited_at = stated_at + interval '2 hours 0.5 seconds', author = author || ' é\"' WHERE id % 7 = 0"
            ))
        with session_scope(postgres_engine) as session:
            claims.append(planning._load_claims(engine._reader(session), [f"d{i:06d}" for i in range(0, 1200, 3)], {}))
        report = _reconcile_all(postgres_engine, workers=1)
        dumps.append((report, _dump(postgres_engine)))
    assert _as_values(claims[0]) == _as_values(claims[1])
    assert any(view.edited_at and view.stated_at.microsecond for views in claims[0].values() for view in views)
    assert dumps[0] == dumps[1] and dumps[0][0].opened


def _as_values(claims: dict[str, list[Any]]) -> dict[str, list[tuple[Any, ...]]]:
    """Claim views (compared by identity) as their values, in id order."""
    return {key: sorted(dataclasses.astuple(view) for view in views) for key, views in claims.items()}


def test_postgres_writes_rows_by_column_and_falls_back_to_rows_for_repeated_ids(postgres_engine: Engine) -> None:
    """A chunk's updates go as one `unnest` statement per set of columns; one updating the same
    row twice goes row by row, in order, as executemany would."""
    _truncate_all(postgres_engine)
    generate(postgres_engine, 3, 6, random.Random(2))
    with session_scope(postgres_engine) as session:
        ids = dict(session.connection().execute(text("SELECT key, id FROM deliverable")).all())
        sql = engine._statements(session)
        once = sql.updates(planning.DELIVERABLE, [{"id": ids["d000000"], "conditions": {"a": 1}, "role": "x"},
                                       {"id": ids["d000001"], "conditions": {"b": [2]}, "role": None}])
        twice = sql.updates(planning.DELIVERABLE, [{"id": ids["d000002"], "conditions": {"c": 1}},
                                        {"id": ids["d000002"], "conditions": {"c": 2}}])
        assert [by_column for _, _, by_column in once + twice] == [True, False]
        cursor = session.connection().connection.cursor()
        for statement in once + twice:
            engine._execute(cursor, statement)
        rows = dict(session.connection().execute(text("SELECT key, conditions::text || coalesce(role, '-') FROM deliverable")).all())
    assert rows == {"d000000": '{"a":1}x', "d000001": '{"b":[2]}-', "d000002": '{"c":2}engineering'}


def test_a_helper_gets_each_chunk_back_as_the_keys_it_was() -> None:
    chunks = [["d000001", "d000002"], ["d000003"], ["key with spaces", "ünïcode"]]
    packed = planning.PackedChunks.of(chunks)
    assert packed.texts is not None
    assert [packed.unpack(i) for i in range(len(chunks))] == chunks


def test_keys_holding_the_separator_are_handed_over_as_lists() -> None:
    chunks = [["a", "b\x00c"], ["d"]]
    packed = planning.PackedChunks.of(chunks)
    assert packed.texts is None
    assert [list(packed.unpack(i)) for i in range(len(chunks))] == chunks


def test_a_separator_in_a_later_chunk_turns_the_packed_ones_back_into_lists() -> None:
    chunks = [["a", "b"], ["c"], ["d\x00e", "f"]]
    packed = planning.PackedChunks.of(iter(chunks))
    assert packed.texts is None
    assert len(packed) == 3 and packed.deliverables == 5
    assert [list(packed.unpack(i)) for i in range(len(chunks))] == chunks


def test_a_helper_process_plans_without_sqlalchemy_or_the_models(tmp_path: Path) -> None:
    """A helper imports `reconciler.planning` and unpickles what it is handed: without
    SQLAlchemy, SQLModel and the models it holds about half the memory before it plans."""
    store = _store(tmp_path / "store.db")
    with session_scope(store) as session:
        handed = (engine._helper_connect(session), planning.PackedChunks.of([["d000001"]]),
                  engine._settings(session, config()), engine._statements(session), NOW)
    code = (
        "import sys, pickle, reconciler.planning\n"
        "pickle.loads(sys.stdin.buffer.read())\n"
        "heavy = {'reconciler.models', 'reconciler.store', 'reconciler.engine', 'reconciler.db', 'reconciler.protocol'}\n"
        "print(sorted(m for m in sys.modules if m in heavy or m.split('.')[0] in ('sqlalchemy', 'sqlmodel', 'alembic')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], input=pickle.dumps(handed), capture_output=True, timeout=60,
                            check=True)
    assert result.stdout.decode().strip() == "[]"
