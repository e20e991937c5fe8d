"""Lifecycle operations the CLI calls: transitions, validation and their one-line messages."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from connectors.base import Field
from reconciler import conflicts, decisions, store
from reconciler.conflicts import ConflictNotFound, InvalidTransition
from reconciler.db import session_scope
from reconciler.models import AuditEvent, Deliverable
from tests.unit.test_engine import (
    CHECKOUT_SPLIT,
    CONFIG,
    T0,
    apply,
    asana,
    run,
    seed,
    slack,
    the_conflict,
)


@pytest.fixture
def split(sqlite_engine: Engine) -> tuple[Engine, int]:
    """checkout-v2: Asana says on track, Slack says blocked; one open conflict."""
    seed(sqlite_engine)
    apply(sqlite_engine, *CHECKOUT_SPLIT)
    run(sqlite_engine)
    return sqlite_engine, the_conflict(sqlite_engine, "checkout-v2", "status_contradiction").id  # type: ignore[return-value]


def test_unknown_conflict(sqlite_engine: Engine) -> None:
    with session_scope(sqlite_engine) as session, pytest.raises(ConflictNotFound) as raised:
        conflicts.get_conflict(session, 42)
    assert str(raised.value) == "conflict 42 does not exist"


def test_acknowledge_then_resolve_with_an_accepted_source(split: tuple[Engine, int]) -> None:
    db, cid = split
    with session_scope(db) as session:
        acked = conflicts.acknowledge(session, cid, actor="alice", comment="looking", now=T0 + timedelta(minutes=1))
        assert (acked.state, acked.acknowledged_by) == ("acknowledged", "alice")
        with pytest.raises(InvalidTransition, match=f"^conflict {cid} is already acknowledged$"):
            conflicts.acknowledge(session, cid, actor="alice", comment=None, now=T0)
        done = conflicts.resolve(session, cid, actor="alice", comment="payments API is down", now=T0 + timedelta(minutes=2),
                                 accept_source="slack")
        assert (done.state, done.resolved_by, done.resolution_value, done.resolution_source) == (
            "resolved", "alice", "blocked", "slack")
        checkout = session.exec(select(Deliverable).where(Deliverable.key == "checkout-v2")).one()
        assert checkout.decisions["status"]["value"] == "blocked" and checkout.dirty
        events = session.exec(select(AuditEvent).where(AuditEvent.conflict_id == cid).order_by(AuditEvent.id)).all()
        assert [(e.action, e.actor) for e in events] == [("opened", "reconciler"), ("acknowledged", "alice"), ("resolved", "alice")]
        assert events[-1].comment == "payments API is down"
        assert events[-1].details == {"field": "status", "value": "blocked", "accepted_source": "slack"}
        with pytest.raises(InvalidTransition, match=f"^conflict {cid} is already resolved$"):
            conflicts.resolve(session, cid, actor="alice", comment="again", now=T0, status="done")
        with pytest.raises(InvalidTransition, match=f"^conflict {cid} is resolved; reopen it first$"):
            conflicts.dismiss(session, cid, actor="alice", comment="x", now=T0)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"comment": " "}, ValueError, "a comment is required to resolve conflict {cid}"),
        ({"accept_source": "manual"}, InvalidTransition, "conflict {cid} has no claim from 'manual' (its sources: asana, slack)"),
        ({"status": "shipped"}, ValueError, "unknown status 'shipped' (use one of: not_started, on_track, at_risk, blocked, done, cancelled)"),
        ({"accept_source": "slack", "status": "done"}, ValueError, "give one of: a source to accept, a status, a date"),
        ({}, ValueError, "conflict {cid}: say which source to accept, or give the status"),
        ({"target_date": date(2026, 12, 1)}, InvalidTransition, "conflict {cid} (status_contradiction) is about the status, not the date"),
    ],
)
def test_resolve_validates_its_arguments(split: tuple[Engine, int], kwargs: dict[str, object], error: type[Exception], message: str) -> None:
    db, cid = split
    arguments: dict[str, object] = {"comment": "because", **kwargs}
    with session_scope(db) as session, pytest.raises(error) as raised:
        conflicts.resolve(session, cid, actor="alice", now=T0, **arguments)  # type: ignore[arg-type]
    assert str(raised.value) == message.format(cid=cid)
    assert "\n" not in str(raised.value)


def test_accepting_a_source_whose_people_disagree_asks_for_the_value(split: tuple[Engine, int]) -> None:
    db, cid = split
    apply(db, slack("checkout-v2", Field.STATUS, "done", T0 - timedelta(hours=1), ref="C01:7", author="U03"))
    with session_scope(db) as session, pytest.raises(InvalidTransition) as raised:
        conflicts.resolve(session, cid, actor="alice", comment="x", now=T0, accept_source="slack")
    assert str(raised.value) == f"slack says blocked and done for conflict {cid}; give the status instead"


def test_dismiss_needs_a_comment_and_reopen_withdraws_the_decision(split: tuple[Engine, int]) -> None:
    db, cid = split
    with session_scope(db) as session:
        with pytest.raises(ValueError, match=f"^a comment is required to dismiss conflict {cid}$"):
            conflicts.dismiss(session, cid, actor="alice", comment="", now=T0)
        conflicts.resolve(session, cid, actor="alice", comment="it is blocked", now=T0, status="blocked")
        reopened = conflicts.reopen(session, cid, actor="bob", comment="not anymore", now=T0 + timedelta(hours=1))
        assert (reopened.state, reopened.resolved_at, reopened.resolution_value) == ("open", None, None)
        checkout = session.exec(select(Deliverable).where(Deliverable.key == "checkout-v2")).one()
        assert checkout.decisions == {}
        with pytest.raises(InvalidTransition, match=f"^conflict {cid} is open, not resolved or dismissed$"):
            conflicts.reopen(session, cid, actor="bob", comment=None, now=T0)
        dismissed = conflicts.dismiss(session, cid, actor="alice", comment="known", now=T0 + timedelta(hours=2))
        assert (dismissed.state, dismissed.resolved_by, dismissed.resolution_comment) == ("dismissed", "alice", "known")


def test_a_stale_conflict_may_be_resolved_with_or_without_a_value(sqlite_engine: Engine) -> None:
    seed(sqlite_engine)
    apply(sqlite_engine, asana("checkout-v2", Field.TARGET_DATE, "2026-11-25", T0 - timedelta(days=10)))
    run(sqlite_engine)
    cid = the_conflict(sqlite_engine, "checkout-v2", "stale").id
    with session_scope(sqlite_engine) as session:
        resolved = conflicts.resolve(session, cid, actor="alice", comment="shipped", now=T0, status="done")
        assert resolved.resolution_value == "done"


def test_a_missing_owner_is_resolved_by_naming_one_into_the_gatekeeper_map(sqlite_engine: Engine) -> None:
    seed(sqlite_engine)
    run(sqlite_engine)
    owner = the_conflict(sqlite_engine, "onboarding", "no_owner").id
    with session_scope(sqlite_engine) as session:
        with pytest.raises(InvalidTransition, match=r"is a missing owner: name one \(--owner PERSON\)"):
            conflicts.resolve(session, owner, actor="erin", comment="alice takes it", now=T0)
        with pytest.raises(InvalidTransition, match=r"is a missing owner: name one"):
            conflicts.resolve(session, owner, actor="erin", comment="x", now=T0, status="done")
        admin = decisions.cli_actor(session, by="erin", os_user="lead")
        with pytest.raises(LookupError, match="person 'zed' does not exist"):
            decisions.assign_owner(session, owner, "zed", actor=admin, config=CONFIG, comment="x", now=T0)
    with session_scope(sqlite_engine) as session:
        admin = decisions.cli_actor(session, by="erin", os_user="lead")
        resolved = decisions.assign_owner(session, owner, "alice", actor=admin, config=CONFIG,
                                          comment="alice takes it", now=T0)
        assert (resolved.state, resolved.resolution_value) == ("resolved", "alice")
        onboarding = session.exec(select(Deliverable).where(Deliverable.key == "onboarding")).one()
        assert onboarding.owner_key == "alice"
        changes = session.exec(select(AuditEvent).where(AuditEvent.action == "owner_changed")).all()
        assert [(e.deliverable_key, e.details["from"], e.details["to"]) for e in changes] == [("onboarding", None, "alice")]
    run(sqlite_engine, now=T0)
    assert the_conflict(sqlite_engine, "onboarding", "no_owner").state == "resolved"  # and stays so


def test_only_a_missing_owner_takes_an_owner(split: tuple[Engine, int]) -> None:
    db, cid = split
    with session_scope(db) as session, pytest.raises(InvalidTransition, match="is not about the owner"):
        conflicts.resolve(session, cid, actor="alice", comment="x", now=T0, owner="bob")


def test_an_actor_is_required(split: tuple[Engine, int]) -> None:
    db, cid = split
    with session_scope(db) as session, pytest.raises(ValueError, match="say who is acting"):
        conflicts.acknowledge(session, cid, actor=" ", comment=None, now=T0)


def test_resolving_marks_the_deliverable_dirty_for_the_next_reconcile(split: tuple[Engine, int]) -> None:
    db, cid = split
    with session_scope(db) as session:
        assert store.dirty_deliverable_keys(session) == []
        conflicts.resolve(session, cid, actor="alice", comment="x", now=T0, accept_source="asana")
        assert store.dirty_deliverable_keys(session) == ["checkout-v2"]


def test_one_transition_function_defines_every_state_change() -> None:
    at = T0
    assert conflicts.transition("open", "acknowledged", now=at, by="alice") == {
        "state": "acknowledged", "acknowledged_at": at, "acknowledged_by": "alice"}
    assert conflicts.transition("acknowledged", "open", now=at) == {
        "state": "open", "acknowledged_at": None, "acknowledged_by": None}
    closed = conflicts.transition("acknowledged", "resolved", now=at, by="auto", comment="sources agree")
    assert closed == {**conflicts.CLOSED_RESET, "state": "resolved", "resolved_at": at, "resolved_by": "auto",
                      "resolution_comment": "sources agree"}
    assert conflicts.transition("dismissed", "open", now=at) == {**conflicts.REOPEN_RESET, "state": "open"}
    for current, target in (("resolved", "dismissed"), ("open", "open"), ("resolved", "acknowledged")):
        with pytest.raises(InvalidTransition, match=f"^a conflict cannot go from {current} to {target}$"):
            conflicts.transition(current, target, now=at)
