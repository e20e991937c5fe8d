"""The domain API the surfaces decide through: identity, permission, one decision per finding."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from reconciler import decisions
from reconciler.db import session_scope
from reconciler.decisions import AlreadyDecided, NotAllowed, UnknownActor
from reconciler.models import AuditEvent, Conflict, Deliverable, Snooze
from tests.unit.test_engine import CHECKOUT_SPLIT, CONFIG, T0, apply, run, seed, the_conflict

# dan leads marketing: not on checkout-v2's path (alice owns it; bob leads, erin heads engineering)
WITH_ADMIN = CONFIG.model_copy(update={"admins": ["dan"]})


@pytest.fixture
def split(store_engine: Engine) -> tuple[Engine, int]:
    seed(store_engine)
    apply(store_engine, *CHECKOUT_SPLIT)
    run(store_engine)
    return store_engine, the_conflict(store_engine, "checkout-v2", "status_contradiction").id  # type: ignore[return-value]


def slack_actor(db: Engine, slack_user: str) -> decisions.Actor:
    with session_scope(db) as session:
        return decisions.slack_actor(session, CONFIG, slack_user)


def test_a_slack_user_maps_to_a_person_and_an_unknown_one_is_refused(split: tuple[Engine, int]) -> None:
    db, _ = split
    alice = slack_actor(db, "U01")
    assert (alice.name, alice.person_key, alice.via, alice.trusted) == ("alice", "alice", "slack", False)
    assert alice.context() == {"via": "slack", "slack_user": "U01"}
    with pytest.raises(UnknownActor, match="not one of the reconciler's people"):
        slack_actor(db, "U99")


def test_the_cli_is_recorded_as_the_os_user_unless_by_names_a_person(split: tuple[Engine, int]) -> None:
    db, _ = split
    with session_scope(db) as session:
        anonymous = decisions.cli_actor(session, by=None, os_user="ops")
        named = decisions.cli_actor(session, by="erin", os_user="ops")
        with pytest.raises(UnknownActor) as raised:
            decisions.cli_actor(session, by="Someone Else", os_user="ops")
    assert (anonymous.name, anonymous.person_key, anonymous.trusted) == ("cli:ops", None, True)
    assert (named.name, named.person_key, named.context()) == ("erin", "erin", {"via": "cli", "os_user": "ops"})
    assert str(raised.value) == (
        "--by 'Someone Else' is not a known person (see [[people]] in the config file); "
        "leave --by out to be recorded as cli:ops"
    )


@pytest.mark.parametrize(("slack_user", "allowed"), [("U01", True), ("U02", True), ("U05", True), ("U03", False), ("U04", True)])
def test_owner_escalation_path_and_admins_may_decide_nobody_else(
    split: tuple[Engine, int], slack_user: str, allowed: bool
) -> None:
    db, cid = split
    actor = slack_actor(db, slack_user)
    with session_scope(db) as session:
        if allowed:
            decisions.acknowledge(session, cid, actor=actor, config=WITH_ADMIN, now=T0)
            return
        with pytest.raises(NotAllowed) as raised:
            decisions.acknowledge(session, cid, actor=actor, config=WITH_ADMIN, now=T0)
    assert str(raised.value) == "you are not the decision owner of Checkout v2; Alice Ng is"
    assert raised.value.decider == "alice"
    assert the_conflict(db, "checkout-v2", "status_contradiction").state == "open"


def test_without_admins_the_marketing_lead_may_not_decide_checkout(split: tuple[Engine, int]) -> None:
    db, cid = split
    with session_scope(db) as session, pytest.raises(NotAllowed):
        decisions.resolve(session, cid, actor=slack_actor(db, "U04"), config=CONFIG, comment="x", now=T0, status="done")


def test_a_slack_decision_is_audited_with_the_slack_user(split: tuple[Engine, int]) -> None:
    db, cid = split
    with session_scope(db) as session:
        decisions.resolve(
            session, cid, actor=slack_actor(db, "U01"), config=CONFIG, comment="payments down", now=T0,
            accept_source="slack",
        )
    with session_scope(db) as session:
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "resolved")).one()
    assert (event.actor, event.conflict_id, event.comment) == ("alice", cid, "payments down")
    assert event.details == {
        "field": "status", "value": "blocked", "accepted_source": "slack", "via": "slack", "slack_user": "U01",
    }


def test_a_repeat_or_a_late_decision_is_refused_naming_the_winner(split: tuple[Engine, int]) -> None:
    db, cid = split
    with session_scope(db) as session:
        decisions.resolve(session, cid, actor=slack_actor(db, "U02"), config=CONFIG, comment="blocked", now=T0, status="blocked")
    for actor in (slack_actor(db, "U02"), slack_actor(db, "U01")):
        with session_scope(db) as session, pytest.raises(AlreadyDecided) as raised:
            decisions.resolve(session, cid, actor=actor, config=CONFIG, comment="mine", now=T0, accept_source="asana")
        assert str(raised.value) == f"conflict {cid} was already resolved by Bob Okafor at 2026-11-20T09:00+00:00"
    with session_scope(db) as session, pytest.raises(AlreadyDecided, match="already resolved by Bob Okafor"):
        decisions.acknowledge(session, cid, actor=slack_actor(db, "U01"), config=CONFIG, now=T0)
    with session_scope(db) as session:
        assert len(session.exec(select(AuditEvent).where(AuditEvent.action == "resolved")).all()) == 1


def test_acknowledging_twice_names_who_acknowledged(split: tuple[Engine, int]) -> None:
    db, cid = split
    with session_scope(db) as session:
        decisions.acknowledge(session, cid, actor=slack_actor(db, "U01"), config=CONFIG, now=T0)
    with session_scope(db) as session, pytest.raises(AlreadyDecided, match="already acknowledged by Alice Ng"):
        decisions.acknowledge(session, cid, actor=slack_actor(db, "U02"), config=CONFIG, now=T0)
    with session_scope(db) as session:  # an acknowledged finding can still be resolved
        assert decisions.resolve(
            session, cid, actor=slack_actor(db, "U02"), config=CONFIG, comment="ok", now=T0, status="on_track"
        ).state == "resolved"


def test_two_people_deciding_at_once_record_one_decision(split: tuple[Engine, int]) -> None:
    db, cid = split
    actors = [slack_actor(db, "U01"), slack_actor(db, "U02")]
    start = threading.Barrier(len(actors))
    outcomes: list[str] = []

    def decide(actor: decisions.Actor) -> None:
        start.wait()
        try:
            with session_scope(db) as session:
                decisions.resolve(session, cid, actor=actor, config=CONFIG, comment="mine", now=T0, status="blocked")
            outcomes.append("won")
        except AlreadyDecided:
            outcomes.append("lost")

    threads = [threading.Thread(target=decide, args=(a,)) for a in actors]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outcomes) == ["lost", "won"]
    with session_scope(db) as session:
        assert len(session.exec(select(AuditEvent).where(AuditEvent.action == "resolved")).all()) == 1


def test_snooze_silences_the_finding_and_is_audited_on_it(split: tuple[Engine, int]) -> None:
    db, cid = split
    with session_scope(db) as session:
        snooze = decisions.snooze(
            session, cid, actor=slack_actor(db, "U01"), config=CONFIG, duration=timedelta(days=2), comment="offsite", now=T0
        )
        assert snooze.matchers == {"deliverable": "checkout-v2", "kind": "status_contradiction"}
        with pytest.raises(ValueError, match="at most 30 days"):
            decisions.snooze(session, cid, actor=slack_actor(db, "U01"), config=CONFIG, duration=timedelta(days=90),
                             comment="x", now=T0)
    with session_scope(db) as session:
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "snooze_added")).one()
        assert (event.actor, event.conflict_id, event.details["slack_user"]) == ("alice", cid, "U01")
        assert len(session.exec(select(Snooze)).all()) == 1


def test_picking_an_owner_answers_a_missing_owner_finding(store_engine: Engine) -> None:
    seed(store_engine)
    run(store_engine, everything=True)
    cid = the_conflict(store_engine, "onboarding", "no_owner").id
    assert cid is not None
    carol = slack_actor(store_engine, "U03")
    with session_scope(store_engine) as session, pytest.raises(NotAllowed) as raised:
        decisions.assign_owner(session, cid, "carol", actor=carol, config=CONFIG, comment=None, now=T0)
    assert str(raised.value) == "you are not the decision owner of Onboarding flow; Bob Okafor is"
    with session_scope(store_engine) as session:
        done = decisions.assign_owner(
            session, cid, "carol", actor=slack_actor(store_engine, "U02"), config=CONFIG, comment="she built it", now=T0
        )
        assert (done.state, done.resolved_by, done.resolution_comment) == ("resolved", "bob", "owner: Carol Diaz (she built it)")
    with session_scope(store_engine) as session:
        onboarding = session.exec(select(Deliverable).where(Deliverable.key == "onboarding")).one()
        assert (onboarding.owner_key, onboarding.owner_set_by) == ("carol", "slack:bob")
        changed = session.exec(select(AuditEvent).where(AuditEvent.action == "owner_changed")).one()
        assert changed.details == {"from": None, "to": "carol", "via": "slack", "slack_user": "U02"}
    run(store_engine)
    with session_scope(store_engine) as session:
        open_ = session.exec(select(Conflict).where(Conflict.deliverable_key == "onboarding", Conflict.state == "open")).all()
        assert open_ == []
