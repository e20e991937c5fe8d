from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import select

from connectors.base import ClaimKind, Field, Observation, PersonRecord, Retraction, Source, SyncBatch
from reconciler import store
from reconciler.db import session_scope
from reconciler.models import Deliverable, Person
from reconciler.protocol import load_config

DEMO = Path(__file__).resolve().parents[2] / "reconciler" / "examples" / "demo.toml"
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)


def claim(ref: str, value: str, *, key: str = "checkout-v2", at: datetime = T0) -> Observation:
    return Observation(
        deliverable_key=key,
        source=Source.SLACK,
        source_ref=ref,
        field=Field.STATUS,
        value=value,
        stated_at=at,
        kind=ClaimKind.EVENT,
        author="U01",
        excerpt=f"it is {value}",
    )


def seed(engine: Engine) -> None:
    with session_scope(engine) as session:
        store.sync_config(session, load_config(DEMO), now=T0)
        for d in session.exec(select(Deliverable)):
            d.dirty = False
            session.add(d)


def apply(engine: Engine, batch: SyncBatch) -> store.BatchResult:
    with session_scope(engine) as session:
        return store.apply_batch(session, source=Source.SLACK, partition="C01", batch=batch, now=T0)


def test_batch_is_idempotent_and_marks_dirty(store_engine: Engine) -> None:
    seed(store_engine)
    batch = SyncBatch(observations=[claim("C01:1", "blocked"), claim("C01:2", "done", key="search")], cursor="c1")
    first = apply(store_engine, batch)
    assert (first.inserted, first.dirty) == (2, {"checkout-v2", "search"})
    with session_scope(store_engine) as session:
        assert set(store.dirty_deliverable_keys(session)) == {"checkout-v2", "search"}
        assert store.get_cursor(session, Source.SLACK, "C01") == "c1"
        for d in session.exec(select(Deliverable)):
            d.dirty = False
            session.add(d)
    second = apply(store_engine, batch)
    assert (second.inserted, second.updated, second.unchanged, second.dirty) == (0, 0, 2, set())


def test_edit_replaces_and_deletion_retracts(store_engine: Engine) -> None:
    seed(store_engine)
    apply(store_engine, SyncBatch(observations=[claim("C01:1", "blocked")]))
    edited = apply(store_engine, SyncBatch(observations=[claim("C01:1", "on_track")]))
    assert edited.updated == 1
    with session_scope(store_engine) as session:
        live = store.live_claims(session, ["checkout-v2"])["checkout-v2"]
        assert [c.value for c in live] == ["on_track"]
    gone = apply(store_engine, SyncBatch(retractions=[Retraction(Source.SLACK, "C01:1")]))
    assert gone.retracted == 1 and gone.dirty == {"checkout-v2"}
    with session_scope(store_engine) as session:
        assert store.live_claims(session, ["checkout-v2"]) == {}
        assert len(store.claims_history(session, "checkout-v2")) == 1


def test_ref_that_stops_naming_a_deliverable_retracts_that_claim(store_engine: Engine) -> None:
    seed(store_engine)
    apply(store_engine, SyncBatch(observations=[claim("C01:1", "blocked"), claim("C01:1", "blocked", key="search")]))
    result = apply(store_engine, SyncBatch(observations=[claim("C01:1", "blocked", key="search")]))
    assert (result.retracted, result.unchanged) == (1, 1)


def test_cursor_is_kept_when_batch_has_none(store_engine: Engine) -> None:
    seed(store_engine)
    apply(store_engine, SyncBatch(cursor="c1"))
    apply(store_engine, SyncBatch(observations=[claim("C01:9", "done")]))
    with session_scope(store_engine) as session:
        assert store.get_cursor(session, Source.SLACK, "C01") == "c1"


def test_failed_transaction_leaves_nothing_half_written(store_engine: Engine) -> None:
    seed(store_engine)
    try:
        with session_scope(store_engine) as session:
            store.apply_batch(session, source=Source.SLACK, partition="C01", batch=SyncBatch(observations=[claim("C01:1", "done")], cursor="c9"), now=T0)
            raise RuntimeError("crash before commit")
    except RuntimeError:
        pass
    with session_scope(store_engine) as session:
        assert store.get_cursor(session, Source.SLACK, "C01") is None
        assert store.claims_history(session, "checkout-v2") == []


def test_people_join_by_email(store_engine: Engine) -> None:
    seed(store_engine)
    records = [
        PersonRecord(Source.SLACK, "U01", name="Alice", email="Alice@acme.test", timezone="Europe/Berlin"),
        PersonRecord(Source.SLACK, "U77", name="Zoe", email="zoe@acme.test"),
    ]
    apply(store_engine, SyncBatch(people=records))
    with session_scope(store_engine) as session:
        alice = session.exec(select(Person).where(Person.key == "alice")).one()
        assert alice.identity("slack") == "U01" and alice.timezone == "Europe/Berlin"
        zoe = store.person_by_identity(session, Source.SLACK, "U77")
        assert zoe is not None and zoe.email == "zoe@acme.test" and not zoe.from_config


def test_config_sync_keeps_what_a_source_taught_where_the_file_says_nothing(store_engine: Engine) -> None:
    demo = load_config(DEMO)
    people = [p.model_copy(update={"ids": {}, "timezone": None}) if p.key == "dan" else p for p in demo.people]
    config = demo.model_copy(update={"people": people})
    with session_scope(store_engine) as session:
        store.sync_config(session, config, now=T0)
    apply(store_engine, SyncBatch(people=[PersonRecord(Source.SLACK, "U04", name="Dan", email="dan@acme.test",
                                                       timezone="America/Chicago")]))
    with session_scope(store_engine) as session:
        store.sync_config(session, config, now=T0 + timedelta(minutes=5))
    with session_scope(store_engine) as session:
        dan = session.exec(select(Person).where(Person.key == "dan")).one()
        assert (dan.identity("slack"), dan.timezone, dan.name) == ("U04", "America/Chicago", "Dan Weber")


def test_a_person_without_email_is_joined_by_their_id_in_the_source(store_engine: Engine) -> None:
    seed(store_engine)  # alice is U01 in Slack and 501 in Asana
    apply(store_engine, SyncBatch(people=[PersonRecord(Source.SLACK, "U01", name="alice", timezone="Asia/Tokyo"),
                                          PersonRecord("tracker", "T-9", name="nobody knows")]))
    with session_scope(store_engine) as session:
        alice = store.person_by_identity(session, Source.SLACK, "U01")
        assert alice is not None and (alice.key, alice.name) == ("alice", "Alice Ng")
        assert alice.external_ids() == {"slack": "U01", "asana": "501"}
        assert store.person_by_identity(session, "tracker", "T-9") is None  # no email, no id: nobody to join


def test_an_id_goes_to_the_person_whose_email_says_so(store_engine: Engine) -> None:
    seed(store_engine)
    apply(store_engine, SyncBatch(people=[PersonRecord("tracker", "T-1", email="zoe@acme.test")]))
    apply(store_engine, SyncBatch(people=[PersonRecord("tracker", "T-1", email="bob@acme.test")]))  # T-1 is Bob's now
    with session_scope(store_engine) as session:
        assert store.people_by_identity(session, "tracker", ["T-1"])["T-1"].key == "bob"
        assert store.identities_of_keys(session, ["bob", "zoe@acme.test"], "tracker") == {"bob": "T-1"}


def test_the_config_file_takes_an_id_a_source_gave_someone_else(store_engine: Engine) -> None:
    seed(store_engine)
    apply(store_engine, SyncBatch(people=[PersonRecord(Source.SLACK, "U99", email="zoe@acme.test")]))
    demo = load_config(DEMO)
    people = [p.model_copy(update={"ids": {"slack": "U99"}}) if p.key == "dan" else p for p in demo.people]
    with session_scope(store_engine) as session:
        store.sync_config(session, demo.model_copy(update={"people": people}), now=T0 + timedelta(minutes=5))
    with session_scope(store_engine) as session:
        assert store.identities_of_keys(session, ["dan", "zoe@acme.test"], Source.SLACK) == {"dan": "U99"}


def test_a_learned_id_is_added_only_where_none_is_known(store_engine: Engine) -> None:
    seed(store_engine)
    with session_scope(store_engine) as session:
        assert not store.add_identity_if_missing(session, "alice", Source.SLACK, "U55")  # alice has U01
        assert store.add_identity_if_missing(session, "bob", "tracker", "T-1")
        assert not store.add_identity_if_missing(session, "carol", "tracker", "T-1")  # T-1 is bob's
        assert not store.add_identity_if_missing(session, "nobody", "tracker", "T-2")
    with session_scope(store_engine) as session:
        assert store.identities_of_keys(session, ["alice", "bob", "carol"], "tracker") == {"bob": "T-1"}
        assert store.identities_of_keys(session, ["alice"], Source.SLACK) == {"alice": "U01"}


def test_people_come_with_their_identities_in_one_more_query(store_engine: Engine) -> None:
    from sqlalchemy import event

    seed(store_engine)
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    with session_scope(store_engine) as session:
        event.listen(store_engine, "before_cursor_execute", count)
        try:
            people = store.people_by_key(session)
            ids = {key: person.external_ids() for key, person in people.items()}
        finally:
            event.remove(store_engine, "before_cursor_execute", count)
    assert len(people) == 6 and ids["fay"] == {"slack": "U06", "asana": "506"}
    assert len(statements) == 2


def test_timestamps_come_back_timezone_aware(store_engine: Engine) -> None:
    seed(store_engine)
    apply(store_engine, SyncBatch(observations=[claim("C01:1", "done", at=T0 + timedelta(hours=1))]))
    with session_scope(store_engine) as session:
        (row,) = store.claims_history(session, "checkout-v2")
        assert row.stated_at == T0 + timedelta(hours=1)
        assert row.stated_at.tzinfo is not None


def test_dependents_of(store_engine: Engine) -> None:
    seed(store_engine)
    with session_scope(store_engine) as session:
        assert store.dependents_of(session, ["checkout-v2"]) == {"launch-campaign"}
        assert store.dependents_of(session, ["payments-api"]) == {"checkout-v2"}


def test_full_crawl_retracts_refs_that_vanished(store_engine: Engine) -> None:
    seed(store_engine)
    apply(store_engine, SyncBatch(observations=[claim("C01:1", "blocked"), claim("C01:2", "done", key="search")]))
    result = apply(store_engine, SyncBatch(observations=[claim("C01:2", "done", key="search")], live_refs=frozenset({"C01:2"})))
    assert (result.retracted, result.dirty) == (1, {"checkout-v2"})
    with session_scope(store_engine) as session:
        assert "checkout-v2" not in store.live_claims(session, ["checkout-v2", "search"])


def test_a_large_batch_stores_and_updates_every_claim_exactly(store_engine: Engine) -> None:
    """Hundreds of claims in one batch (one statement per kind of write on PostgreSQL), with
    columns that are empty for all of them, read back as they were given, in UTC."""
    from reconciler.models import Observation as Stored

    seed(store_engine)
    berlin = timezone(timedelta(hours=1))
    claims = [
        Observation(deliverable_key="checkout-v2", source=Source.SLACK, source_ref=f"C01:{n}", field=Field.STATUS,
                    value="blocked", stated_at=(T0 + timedelta(minutes=n)).astimezone(berlin),
                    kind=ClaimKind.EVENT, author=None, excerpt="", permalink=None)
        for n in range(300)
    ]
    assert apply(store_engine, SyncBatch(observations=claims)).inserted == 300
    edited = [dataclasses.replace(c, value="done", author="U02", edited_at=T0 + timedelta(days=1))
              if n % 2 else c for n, c in enumerate(claims)]
    result = apply(store_engine, SyncBatch(observations=edited))
    assert (result.inserted, result.updated, result.unchanged) == (0, 150, 150)
    with session_scope(store_engine) as session:
        rows = {r.source_ref: r for r in session.exec(select(Stored))}
    assert len(rows) == 300
    for n, c in enumerate(edited):
        row = rows[c.source_ref]
        assert (row.value, row.author, row.permalink, row.edited_at) == (c.value, c.author, None, c.edited_at)
        assert row.stated_at == c.stated_at and row.stated_at.utcoffset() == timedelta(0)
        assert row.first_seen_at == T0 and row.deleted_at is None and row.partition == "C01"


def test_a_batch_counts_its_items_requests_and_throttles_on_the_cursor(store_engine: Engine) -> None:
    """What `apply_batch` writes after reading (one statement on PostgreSQL) adds up per batch, and
    a cursor row the session already held is read back as written."""
    seed(store_engine)
    apply(store_engine, SyncBatch(observations=[claim("C01:1", "blocked")], cursor="c1", requests=3, throttled=1))
    with session_scope(store_engine) as session:
        held = session.exec(select(store.SyncCursor)).one()
        assert (held.cursor, held.items_synced, held.requests_made, held.throttled) == ("c1", 1, 3, 1)
        updated = store.apply_batch(
            session, source=Source.SLACK, partition="C01", now=T0 + timedelta(minutes=1),
            batch=SyncBatch(observations=[claim("C01:1", "done"), claim("C01:2", "done", key="search")], requests=2),
        )
        assert (updated.inserted, updated.updated, updated.dirty) == (1, 1, {"checkout-v2", "search"})
        assert (held.cursor, held.items_synced, held.requests_made, held.throttled) == ("c1", 3, 5, 1)
        assert held.last_attempt_at == T0 + timedelta(minutes=1)
        assert set(store.dirty_deliverable_keys(session)) == {"checkout-v2", "search"}


def test_two_syncs_joining_the_same_person_at_once_both_succeed(postgres_engine: Engine) -> None:
    """The second sync's insert waits on the first's uncommitted identity row, fails on its
    commit, and is applied again against what the first wrote."""
    import threading
    import time

    from sqlalchemy import text
    from sqlmodel import Session

    demo = load_config(DEMO)
    people = [p.model_copy(update={"ids": {}}) if p.key == "dan" else p for p in demo.people]
    with session_scope(postgres_engine) as session:
        store.sync_config(session, demo.model_copy(update={"people": people}), now=T0)
    record = PersonRecord(Source.SLACK, "U04", name="Dan", email="dan@acme.test")
    errors: list[BaseException] = []

    def second() -> None:
        try:
            with session_scope(postgres_engine) as other:
                store.upsert_people(other, [record], now=T0)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    first = Session(postgres_engine, expire_on_commit=False)
    try:
        store.upsert_people(first, [record], now=T0)  # flushed, not committed
        thread = threading.Thread(target=second)
        thread.start()
        with postgres_engine.connect() as watcher:
            while thread.is_alive() and not watcher.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )).scalar():
                watcher.rollback()
                time.sleep(0.005)
        first.commit()
    finally:
        first.close()
    thread.join()
    assert errors == []
    with session_scope(postgres_engine) as session:
        assert store.identities_of_keys(session, ["dan"], Source.SLACK) == {"dan": "U04"}


def test_text_that_array_literals_quote_is_stored_as_given(store_engine: Engine) -> None:
    """Claims and the refs looked up travel to PostgreSQL as binary arrays: braces, quotes, backslashes, commas, the word
    NULL, blanks and non-ASCII come back exactly, and the same batch again changes nothing."""
    from reconciler.models import Observation as Stored

    seed(store_engine)
    texts = ['{a,b}', 'say "blocked"', 'C:\\path\\', 'NULL', '', '  spaced  ', 'two\nlines', 'déjà vu 🚧', '\\"}{,']
    claims = [dataclasses.replace(claim(f"C01:{n}:{text}", text), excerpt=text, author=text or None, permalink=text)
              for n, text in enumerate(texts)]
    assert apply(store_engine, SyncBatch(observations=claims)).inserted == len(texts)
    again = apply(store_engine, SyncBatch(observations=claims))
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, len(texts))
    with session_scope(store_engine) as session:
        rows = {r.source_ref: r for r in session.exec(select(Stored))}
    for n, text in enumerate(texts):
        row = rows[f"C01:{n}:{text}"]
        assert (row.value, row.excerpt, row.author, row.permalink) == (text, text, text or None, text)


def test_stored_claims_are_read_by_index_before_the_table_is_analysed(postgres_engine: Engine) -> None:
    """A first sync grows the claim table faster than autovacuum analyses it. Planned without
    statistics, `source = ... AND source_ref = ANY(...)` read every claim of the source and
    filtered the refs; the read of a batch's stored claims must look each ref up in the index."""
    seed(postgres_engine)
    apply(postgres_engine, SyncBatch(observations=[claim(f"C01:{n}", "blocked") for n in range(1000)]))
    refs = [f"C01:{n}" for n in range(0, 200, 2)]
    with session_scope(postgres_engine) as session:
        driver = session.connection().connection.driver_connection
        plan = "\n".join(row[0] for row in driver.execute(
            "EXPLAIN " + store._PG_EXISTING_CLAIMS, {"source": "slack", "refs": refs}))
    assert "Seq Scan" not in plan and "Filter" not in plan, plan
    assert "Index Cond: (((source)::text = 'slack'::text) AND ((source_ref)::text = (wanted.ref)::text))" in plan, plan


def test_a_retracted_claim_stated_again_is_live_again(store_engine: Engine) -> None:
    """The same claim after its retraction (an undone deletion, a ref that names the deliverable
    again) is an update: live again, marked updated at that batch's time, its deliverable dirty."""
    from reconciler.models import Observation as Stored

    seed(store_engine)
    apply(store_engine, SyncBatch(observations=[claim("C01:1", "blocked")]))
    apply(store_engine, SyncBatch(retractions=[Retraction(Source.SLACK, "C01:1")]))
    later = T0 + timedelta(hours=2)
    with session_scope(store_engine) as session:
        back = store.apply_batch(session, source=Source.SLACK, partition="C01",
                                 batch=SyncBatch(observations=[claim("C01:1", "blocked")]), now=later)
    assert (back.inserted, back.updated, back.dirty) == (0, 1, {"checkout-v2"})
    with session_scope(store_engine) as session:
        row = session.exec(select(Stored)).one()
        assert (row.value, row.deleted_at, row.updated_at, row.first_seen_at) == ("blocked", None, later, T0)
        assert [c.value for c in store.live_claims(session, ["checkout-v2"])["checkout-v2"]] == ["blocked"]
