"""The reconciler on real stores (SQLite and PostgreSQL): conflict lifecycle, canonical state,
idempotency and dirty tracking."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, text
from sqlmodel import SQLModel, select

from connectors.base import ClaimKind, Field, Observation, Retraction, Source, SyncBatch
from reconciler import conflicts, engine, store
from reconciler.db import session_scope
from reconciler.models import AuditEvent, Conflict, Deliverable, DeliverableDependency
from reconciler.protocol import Config, load_config

DEMO = Path(__file__).resolve().parents[2] / "reconciler" / "examples" / "demo.toml"
CONFIG = load_config(DEMO)
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)


def asana(key: str, field: Field, value: str | None, at: datetime, *, ref: str = "3001") -> Observation:
    return Observation(key, Source.ASANA, ref, field, value, at, ClaimKind.STATE, author="alice@acme.test",
                       excerpt=f"{field.value}: {value}", permalink=f"https://app.asana.com/0/0/{ref}")


def slack(key: str, field: Field, value: str, at: datetime, *, ref: str, author: str = "U02") -> Observation:
    return Observation(key, Source.SLACK, ref, field, value, at, ClaimKind.EVENT, author=author,
                       excerpt=f"it is {value}", permalink=f"https://acme.slack.com/archives/{ref}")


def seed(engine_: Engine, config: Config = CONFIG) -> None:
    with session_scope(engine_) as session:
        store.sync_config(session, config, now=T0 - timedelta(days=30))


def apply(engine_: Engine, *claims: Observation, retract: tuple[str, ...] = (), now: datetime = T0) -> None:
    """Each source's claims as one batch, the way a connector would hand them over."""
    with session_scope(engine_) as session:
        for source in Source:
            mine = [c for c in claims if c.source == source]
            gone = [Retraction(source, ref) for ref in retract if source == Source.SLACK]
            if mine or gone:
                batch = SyncBatch(observations=mine, retractions=gone)
                store.apply_batch(session, source=source, partition="p", batch=batch, now=now)


def run(engine_: Engine, *, now: datetime = T0, everything: bool = False) -> engine.ReconcileReport:
    with session_scope(engine_) as session:
        if everything:
            return engine.reconcile_all(session, config=CONFIG, now=now)
        return engine.reconcile_dirty(session, config=CONFIG, now=now)


def the_conflict(engine_: Engine, key: str, kind: str) -> Conflict:
    with session_scope(engine_) as session:
        return session.exec(select(Conflict).where(Conflict.deliverable_key == key, Conflict.kind == kind)).one()


def deliverable(engine_: Engine, key: str) -> Deliverable:
    with session_scope(engine_) as session:
        return session.exec(select(Deliverable).where(Deliverable.key == key)).one()


def actions(engine_: Engine, conflict_id: int) -> list[str]:
    with session_scope(engine_) as session:
        stmt = select(AuditEvent.action).where(AuditEvent.conflict_id == conflict_id).order_by(AuditEvent.id)
        return list(session.exec(stmt))


def snapshot(engine_: Engine) -> dict[str, list[Any]]:
    """Every row the reconciler may write, for before/after comparisons."""
    tables = ("conflict", "deliverable", "audit_event", "deliverable_dependency")
    with engine_.connect() as connection:
        return {t: [tuple(r) for r in connection.execute(text(f"SELECT * FROM {t} ORDER BY 1, 2"))] for t in tables}


CHECKOUT_SPLIT = (
    asana("checkout-v2", Field.STATUS, "on_track", T0 - timedelta(days=3)),
    slack("checkout-v2", Field.STATUS, "blocked", T0 - timedelta(hours=2), ref="C01:1"),
)


def test_a_contradiction_opens_one_conflict_and_sets_canonical_state(store_engine: Engine) -> None:
    seed(store_engine)
    apply(store_engine, *CHECKOUT_SPLIT)
    report = run(store_engine)
    found = the_conflict(store_engine, "checkout-v2", "status_contradiction")
    assert found.id in report.opened and found.state == "open" and found.severity == "high"
    assert found.sources == ["asana", "slack"] and len(found.evidence) == 2
    assert found.summary == (
        "Asana says on track (Alice Ng, 2026-11-17 10:00 CET) but Slack says blocked (Bob Okafor, 2026-11-20 08:00 CET)"
    )
    assert actions(store_engine, found.id) == ["opened"]
    checkout = deliverable(store_engine, "checkout-v2")
    assert (checkout.canonical_status, checkout.canonical_status_source) == ("blocked", "slack")
    assert checkout.conditions["StatusAgrees"]["status"] is False
    assert checkout.conditions["HasOwner"] == {
        "status": True, "reason": "OwnerAssigned", "message": "decision owner is alice",
        "last_transition_time": T0.isoformat(),
    }
    assert not checkout.dirty
    onboarding = the_conflict(store_engine, "onboarding", "no_owner")
    assert onboarding.summary == "Onboarding flow has no decision owner"


def test_reconcile_twice_changes_nothing(store_engine: Engine) -> None:
    seed(store_engine)
    apply(store_engine, *CHECKOUT_SPLIT, asana("launch-campaign", Field.TARGET_DATE, "2026-11-28", T0, ref="3005"),
          asana("checkout-v2", Field.TARGET_DATE, "2026-12-01", T0 - timedelta(days=3)))
    run(store_engine)
    before = snapshot(store_engine)
    assert before["conflict"] and before["deliverable_dependency"]
    again = run(store_engine, now=T0 + timedelta(hours=1), everything=True)
    assert (again.opened, again.updated, again.auto_resolved, again.reopened) == ([], [], [], [])
    assert snapshot(store_engine) == before


def test_a_moved_date_updates_the_same_conflict(store_engine: Engine) -> None:
    seed(store_engine)
    apply(store_engine, asana("checkout-v2", Field.TARGET_DATE, "2026-12-01", T0 - timedelta(days=3)),
          slack("checkout-v2", Field.TARGET_DATE, "2026-12-10", T0 - timedelta(hours=2), ref="C01:1"))
    run(store_engine)
    first = the_conflict(store_engine, "checkout-v2", "date_contradiction")
    apply(store_engine, slack("checkout-v2", Field.TARGET_DATE, "2026-12-20", T0 - timedelta(hours=1), ref="C01:1"))
    report = run(store_engine, now=T0 + timedelta(hours=1))
    moved = the_conflict(store_engine, "checkout-v2", "date_contradiction")
    assert moved.id == first.id and first.id in report.updated and report.opened == []
    assert "2026-12-20" in moved.summary and moved.details["values"]["slack"] == ["2026-12-20"]
    assert moved.last_seen_at == T0 + timedelta(hours=1) and moved.opened_at == T0
    assert actions(store_engine, first.id) == ["opened", "updated"]


def test_agreement_resolves_the_conflict_once(store_engine: Engine) -> None:
    seed(store_engine)
    apply(store_engine, *CHECKOUT_SPLIT)
    run(store_engine)
    conflict_id = the_conflict(store_engine, "checkout-v2", "status_contradiction").id
    apply(store_engine, slack("checkout-v2", Field.STATUS, "on_track", T0 - timedelta(hours=1), ref="C01:2"))
    report = run(store_engine, now=T0 + timedelta(hours=1))
    run(store_engine, now=T0 + timedelta(hours=2), everything=True)
    closed = the_conflict(store_engine, "checkout-v2", "status_contradiction")
    assert report.auto_resolved == [conflict_id]
    assert (closed.state, closed.resolved_by, closed.resolved_at) == ("resolved", "auto", T0 + timedelta(hours=1))
    assert closed.resolution_comment == "the sources agree again"
    assert actions(store_engine, conflict_id) == ["opened", "auto_resolved"]


def test_an_auto_resolved_conflict_reopens_when_its_finding_holds_again(store_engine: Engine) -> None:
    seed(store_engine)
    apply(store_engine, *CHECKOUT_SPLIT)
    run(store_engine)
    correction = slack("checkout-v2", Field.STATUS, "on_track", T0 - timedelta(hours=1), ref="C01:2")
    apply(store_engine, correction)
    run(store_engine, now=T0 + timedelta(hours=1))
    apply(store_engine, retract=("C01:2",), now=T0 + timedelta(hours=2))  # Bob deletes his correction
    report = run(store_engine, now=T0 + timedelta(hours=2))
    reopened = the_conflict(store_engine, "checkout-v2", "status_contradiction")
    assert report.reopened == [reopened.id] and reopened.state == "open" and reopened.resolved_at is None
    assert actions(store_engine, reopened.id) == ["opened", "auto_resolved", "reopened"]


def test_a_dismissed_conflict_reopens_only_on_newer_evidence(store_engine: Engine) -> None:
    seed(store_engine)
    apply(store_engine, *CHECKOUT_SPLIT)
    run(store_engine)
    conflict_id = the_conflict(store_engine, "checkout-v2", "status_contradiction").id
    with session_scope(store_engine) as session:
        conflicts.dismiss(session, conflict_id, actor="alice", comment="Bob means the sandbox", now=T0 + timedelta(hours=1))
    # the same disagreement, told again in other words, is no news
    apply(store_engine, slack("checkout-v2", Field.STATUS, "blocked", T0 - timedelta(hours=2), ref="C01:1"))
    assert run(store_engine, now=T0 + timedelta(hours=2), everything=True).reopened == []
    assert the_conflict(store_engine, "checkout-v2", "status_contradiction").state == "dismissed"
    apply(store_engine, slack("checkout-v2", Field.STATUS, "blocked", T0 + timedelta(hours=3), ref="C01:9", author="U03"),
          now=T0 + timedelta(hours=3))
    report = run(store_engine, now=T0 + timedelta(hours=3))
    reopened = the_conflict(store_engine, "checkout-v2", "status_contradiction")
    assert report.reopened == [conflict_id] and reopened.state == "open"
    assert reopened.resolved_by is None and reopened.resolution_comment is None
    assert actions(store_engine, conflict_id) == ["opened", "dismissed", "reopened"]


def test_a_claim_said_before_a_decision_but_stored_after_it_is_new_evidence(store_engine: Engine) -> None:
    seed(store_engine)
    apply(store_engine, *CHECKOUT_SPLIT)
    run(store_engine)
    conflict_id = the_conflict(store_engine, "checkout-v2", "status_contradiction").id
    with session_scope(store_engine) as session:
        conflicts.dismiss(session, conflict_id, actor="alice", comment="fine", now=T0 + timedelta(hours=1))
    late = slack("checkout-v2", Field.STATUS, "blocked", T0 + timedelta(minutes=30), ref="C01:5", author="U03")
    apply(store_engine, late, now=T0 + timedelta(hours=2))  # synced after the dismissal
    assert run(store_engine, now=T0 + timedelta(hours=2)).reopened == [conflict_id]


def test_acknowledged_stays_acknowledged_while_the_finding_holds(store_engine: Engine) -> None:
    seed(store_engine)
    apply(store_engine, *CHECKOUT_SPLIT)
    run(store_engine)
    conflict_id = the_conflict(store_engine, "checkout-v2", "status_contradiction").id
    with session_scope(store_engine) as session:
        conflicts.acknowledge(session, conflict_id, actor="alice", comment=None, now=T0 + timedelta(minutes=5))
    apply(store_engine, slack("checkout-v2", Field.STATUS, "cancelled", T0 + timedelta(hours=1), ref="C01:1"),
          now=T0 + timedelta(hours=1))
    report = run(store_engine, now=T0 + timedelta(hours=1))
    held = the_conflict(store_engine, "checkout-v2", "status_contradiction")
    assert report.updated == [conflict_id] and held.state == "acknowledged" and "cancelled" in held.summary


def test_a_resolution_is_canonical_until_a_newer_claim(store_engine: Engine) -> None:
    seed(store_engine)
    apply(store_engine, slack("checkout-v2", Field.STATUS, "blocked", T0 - timedelta(days=3), ref="C01:1"),
          asana("checkout-v2", Field.STATUS, "on_track", T0 - timedelta(hours=2)))
    apply(store_engine, slack("checkout-v2", Field.STATUS, "blocked", T0 - timedelta(hours=1), ref="C01:2", author="U03"))
    run(store_engine)
    assert deliverable(store_engine, "checkout-v2").canonical_status == "blocked"  # Carol, newest
    conflict_id = the_conflict(store_engine, "checkout-v2", "status_contradiction").id
    with session_scope(store_engine) as session:
        conflicts.resolve(session, conflict_id, actor="alice", comment="payments is fine", now=T0 + timedelta(hours=1),
                          accept_source="asana")
    run(store_engine, now=T0 + timedelta(hours=1))
    decided = deliverable(store_engine, "checkout-v2")
    assert (decided.canonical_status, decided.canonical_status_source) == ("on_track", "asana")
    assert decided.conditions["StatusAgrees"]["reason"] == "ContradictionResolved"
    assert the_conflict(store_engine, "checkout-v2", "status_contradiction").state == "resolved"
    apply(store_engine, asana("checkout-v2", Field.STATUS, "done", T0 + timedelta(hours=2)), now=T0 + timedelta(hours=2))
    run(store_engine, now=T0 + timedelta(hours=2))
    assert deliverable(store_engine, "checkout-v2").canonical_status == "done"


def test_a_decision_outlives_the_conflict_it_closed(store_engine: Engine) -> None:
    seed(store_engine)
    apply(store_engine, asana("launch-campaign", Field.TARGET_DATE, "2026-11-28", T0 - timedelta(days=2), ref="3005"),
          asana("checkout-v2", Field.TARGET_DATE, "2026-12-01", T0 - timedelta(days=2)))
    run(store_engine)
    violation = the_conflict(store_engine, "launch-campaign", "scheduled_before_ready")
    with session_scope(store_engine) as session:
        conflicts.resolve(session, violation.id, actor="dan", comment="campaign moves", now=T0,
                          target_date=datetime(2026, 12, 5).date())
    run(store_engine, now=T0)
    assert str(deliverable(store_engine, "launch-campaign").target_date) == "2026-12-05"
    # checkout slips past the decided date: the violation reopens, the decision still stands
    apply(store_engine, asana("checkout-v2", Field.TARGET_DATE, "2026-12-09", T0 + timedelta(hours=1)), now=T0 + timedelta(hours=1))
    report = run(store_engine, now=T0 + timedelta(hours=1))
    assert report.reopened == [violation.id]
    assert str(deliverable(store_engine, "launch-campaign").target_date) == "2026-12-05"
    before = snapshot(store_engine)
    run(store_engine, now=T0 + timedelta(hours=2), everything=True)
    assert snapshot(store_engine) == before


def test_dirty_deliverables_and_their_dependents_are_reconciled(store_engine: Engine) -> None:
    seed(store_engine)
    apply(store_engine, asana("launch-campaign", Field.TARGET_DATE, "2026-12-03", T0 - timedelta(days=2), ref="3005"),
          asana("checkout-v2", Field.TARGET_DATE, "2026-12-01", T0 - timedelta(days=2)))
    first = run(store_engine)
    assert first.reconciled == 6
    with session_scope(store_engine) as session:
        assert store.dirty_deliverable_keys(session) == []
        edges = {(e.dependent_key, e.dependency_key) for e in session.exec(select(DeliverableDependency))}
        assert edges == {("checkout-v2", "payments-api"), ("launch-campaign", "checkout-v2"), ("search-post", "search")}
    assert deliverable(store_engine, "launch-campaign").conditions["DependenciesSatisfied"]["status"] is True
    apply(store_engine, asana("checkout-v2", Field.TARGET_DATE, "2026-12-10", T0), now=T0)
    report = run(store_engine, now=T0)
    assert report.reconciled == 2  # checkout-v2, and launch-campaign which depends on it
    violation = the_conflict(store_engine, "launch-campaign", "scheduled_before_ready")
    assert violation.id in report.opened
    assert violation.summary == "Launch campaign is due 2026-12-03 but Checkout v2, which it depends on, is due 2026-12-10"


def test_dependencies_claimed_in_asana_count(store_engine: Engine) -> None:
    seed(store_engine)
    apply(store_engine, asana("search", Field.DEPENDS_ON, "payments-api", T0 - timedelta(days=2), ref="3003"),
          asana("search", Field.STATUS, "done", T0 - timedelta(days=1), ref="3003"))
    run(store_engine)
    violation = the_conflict(store_engine, "search", "dependency_violation")
    assert violation.summary == "Search relevance is done but Payments API, which it depends on, has no status"
    apply(store_engine, asana("payments-api", Field.STATUS, "done", T0, ref="3002"))
    report = run(store_engine)
    assert report.auto_resolved == [violation.id]


def test_a_dependency_claimed_for_the_first_time_counts_in_a_pass_of_many_chunks(
    store_engine: Engine, monkeypatch: Any
) -> None:
    """Past its chunk, a pass keeps only the canonical state of what the store already knew to
    be depended on; one first claimed as a dependency now is derived again for its dependent."""
    monkeypatch.setattr(engine, "CHUNK", 1)
    seed(store_engine)
    # onboarding (its own chunk, before search's) is no configured dependency and has no edge yet
    apply(store_engine, asana("search", Field.DEPENDS_ON, "onboarding", T0 - timedelta(days=2), ref="3003"),
          asana("search", Field.STATUS, "done", T0 - timedelta(days=1), ref="3003"),
          asana("onboarding", Field.STATUS, "blocked", T0 - timedelta(days=1), ref="3004"))
    assert run(store_engine, everything=True).reconciled == 6
    violation = the_conflict(store_engine, "search", "dependency_cascade")
    assert violation.summary == "Search relevance is done, but Onboarding flow, which it depends on, is blocked"


def test_reconcile_skips_unknown_keys_and_leaves_dirty_flags(store_engine: Engine) -> None:
    seed(store_engine)
    with session_scope(store_engine) as session:
        report = engine.reconcile(session, ["checkout-v2", "nope"], config=CONFIG, now=T0)
        assert report.reconciled == 1
        assert "checkout-v2" in store.dirty_deliverable_keys(session)


def test_orm_objects_in_the_session_see_what_reconcile_wrote(store_engine: Engine) -> None:
    seed(store_engine)
    apply(store_engine, *CHECKOUT_SPLIT)
    with session_scope(store_engine) as session:
        checkout = session.exec(select(Deliverable).where(Deliverable.key == "checkout-v2")).one()
        assert checkout.canonical_status is None
        engine.reconcile_dirty(session, config=CONFIG, now=T0)
        assert checkout.canonical_status == "blocked"
        assert session.exec(select(func.count()).select_from(Conflict)).one() > 0


def test_schema_has_the_tables_the_engine_writes() -> None:
    assert {"deliverable_dependency", "conflict", "audit_event"} <= set(SQLModel.metadata.tables)


def test_a_blocked_dependency_two_levels_down_reaches_the_top_and_lets_go(store_engine: Engine) -> None:
    seed(store_engine)
    day = timedelta(days=1)
    apply(store_engine,
          asana("launch-campaign", Field.STATUS, "on_track", T0 - day, ref="3005"),
          asana("launch-campaign", Field.TARGET_DATE, (T0 + 5 * day).date().isoformat(), T0 - day, ref="3005"),
          asana("checkout-v2", Field.STATUS, "on_track", T0 - day),
          asana("checkout-v2", Field.TARGET_DATE, (T0 + 3 * day).date().isoformat(), T0 - day),
          asana("payments-api", Field.STATUS, "on_track", T0 - day, ref="3002"))
    run(store_engine)
    assert not [c for c in conflicts_of(store_engine) if c.kind == "dependency_cascade"]

    apply(store_engine, asana("payments-api", Field.STATUS, "blocked", T0, ref="3002"), now=T0)
    report = run(store_engine, now=T0)
    assert report.reconciled == 3  # payments-api, checkout-v2 above it, and launch-campaign above that
    top = the_conflict(store_engine, "launch-campaign", "dependency_cascade")
    assert top.summary.endswith("but it depends on Checkout v2, which depends on Payments API (owner Bob Okafor), which is blocked")
    assert top.details["dependencies"]["payments-api"]["chain"] == ["checkout-v2", "payments-api"]
    assert the_conflict(store_engine, "checkout-v2", "dependency_cascade").state == "open"

    def found() -> set[tuple[str, str, str]]:
        return {(c.deliverable_key, c.kind, c.summary) for c in conflicts_of(store_engine) if c.state == "open"}

    before = found()
    run(store_engine, now=T0, everything=True)
    assert found() == before  # a full pass agrees with the incremental one

    apply(store_engine, asana("payments-api", Field.STATUS, "on_track", T0 + timedelta(hours=1), ref="3002"),
          now=T0 + timedelta(hours=1))
    report = run(store_engine, now=T0 + timedelta(hours=1))
    assert sorted(report.auto_resolved) == sorted(
        [top.id, the_conflict(store_engine, "checkout-v2", "dependency_cascade").id])


def test_the_chain_is_followed_across_chunks(store_engine: Engine, monkeypatch: Any) -> None:
    monkeypatch.setattr(engine, "CHUNK", 1)
    seed(store_engine)
    day = timedelta(days=1)
    apply(store_engine,
          asana("launch-campaign", Field.STATUS, "on_track", T0 - day, ref="3005"),
          asana("launch-campaign", Field.TARGET_DATE, (T0 + 5 * day).date().isoformat(), T0 - day, ref="3005"),
          asana("checkout-v2", Field.STATUS, "done", T0 - day),
          asana("payments-api", Field.STATUS, "blocked", T0 - day, ref="3002"))
    run(store_engine, everything=True)
    cascade = the_conflict(store_engine, "checkout-v2", "dependency_cascade")  # done on a blocked dependency
    assert cascade.severity == "high"
    # checkout-v2 is done: it shields the campaign from what lies under it
    assert not [c for c in conflicts_of(store_engine) if c.deliverable_key == "launch-campaign"
                and c.kind == "dependency_cascade"]


def conflicts_of(engine_: Engine) -> list[Conflict]:
    with session_scope(engine_) as session:
        return list(session.exec(select(Conflict)))


def test_a_deleted_task_is_its_own_finding_and_closes_what_leaned_on_it(store_engine: Engine) -> None:
    seed(store_engine)
    old = T0 - timedelta(days=10)
    apply(store_engine,
          asana("checkout-v2", Field.STATUS, "on_track", old),
          slack("checkout-v2", Field.STATUS, "blocked", T0 - timedelta(days=9), ref="C01:1"),
          slack("checkout-v2", Field.TARGET_DATE, (T0 + timedelta(days=3)).date().isoformat(), old, ref="C01:2"))
    run(store_engine)
    contradiction = the_conflict(store_engine, "checkout-v2", "status_contradiction")
    stale = the_conflict(store_engine, "checkout-v2", "stale")  # the old Slack date, due soon
    with session_scope(store_engine) as session:
        store.apply_batch(session, source=Source.ASANA, partition="p",
                          batch=SyncBatch(retractions=[Retraction(Source.ASANA, "3001")]), now=T0)
    report = run(store_engine, now=T0)
    gone = the_conflict(store_engine, "checkout-v2", "source_deleted")
    assert gone.id in report.opened and gone.state == "open"
    assert gone.summary.startswith("The Asana task behind Checkout v2 (3001) is gone since 2026-11-20")
    assert sorted(report.auto_resolved) == sorted([contradiction.id, stale.id])
    with session_scope(store_engine) as session:
        for cid in (contradiction.id, stale.id):
            closed = session.get(Conflict, cid)
            assert closed is not None and closed.resolution_comment == (
                "the Asana task 3001 behind it is gone (deleted, or moved out of the synced projects)")
    # the old Slack date alone does not make it stale or overdue
    kinds = {c.kind for c in conflicts_of(store_engine) if c.deliverable_key == "checkout-v2" and c.state == "open"}
    assert "source_deleted" in kinds and not kinds & {"stale", "overdue"}
    # the task comes back (moved into the project again): the finding closes
    apply(store_engine, asana("checkout-v2", Field.STATUS, "on_track", T0 + timedelta(hours=1)),
          now=T0 + timedelta(hours=1))
    assert gone.id in run(store_engine, now=T0 + timedelta(hours=1)).auto_resolved


def test_a_sweep_leaves_a_partition_being_synced_alone_until_its_sync_ends(store_engine: Engine) -> None:
    seed(store_engine)
    run(store_engine)
    wait = timedelta(minutes=10)

    def sweep(now: datetime) -> engine.ReconcileReport:
        with session_scope(store_engine) as session:
            hold = store.partitions_syncing(session, now=now, within=wait)
            return engine.reconcile_dirty(session, config=CONFIG, now=now, hold=hold)

    with session_scope(store_engine) as session:
        store.record_sync_start(session, Source.SLACK, "p", now=T0)
    # the first half of the sync: a message, its correction still to come
    apply(store_engine, slack("checkout-v2", Field.STATUS, "blocked", T0, ref="C01:9"), now=T0)
    assert sweep(T0 + timedelta(seconds=5)).reconciled == 0
    with session_scope(store_engine) as session:
        assert store.dirty_deliverable_keys(session) == ["checkout-v2"]
        store.record_sync_success(session, Source.SLACK, "p", now=T0 + timedelta(seconds=6))
    assert sweep(T0 + timedelta(seconds=7)).reconciled >= 1  # checkout-v2 and what depends on it

    # a sync whose process died is waited for no longer than `wait`
    with session_scope(store_engine) as session:
        store.record_sync_start(session, Source.SLACK, "p", now=T0 + timedelta(minutes=1))
    apply(store_engine, slack("checkout-v2", Field.STATUS, "on_track", T0 + timedelta(minutes=2), ref="C01:9"),
          now=T0 + timedelta(minutes=2))
    assert sweep(T0 + timedelta(minutes=5)).reconciled == 0
    assert sweep(T0 + timedelta(minutes=12)).reconciled >= 1
