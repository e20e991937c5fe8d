from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from reconciler import snoozes
from reconciler.db import session_scope
from reconciler.models import AuditEvent, Conflict, Deliverable, Snooze
from tests.unit.test_notify_support import T0

H = timedelta(hours=1)


def make_conflict(key: str = "checkout-v2", kind: str = "status_contradiction", cid: int = 1) -> Conflict:
    return Conflict(id=cid, fingerprint=f"f{cid}", deliverable_key=key, kind=kind, opened_at=T0, last_seen_at=T0)


def make_snooze(sid: int, matchers: dict[str, str], *, start=T0, hours: float = 4) -> Snooze:  # type: ignore[no-untyped-def]
    return Snooze(id=sid, matchers=matchers, starts_at=start, ends_at=start + hours * H, author="a", comment="c", created_at=start)


def test_add_list_expire_with_audit(store_engine: Engine) -> None:
    with session_scope(store_engine) as session:
        first = snoozes.add_snooze(session, matchers={"deliverable": "checkout-v2"}, duration=2 * H, author="bob", comment="freeze", now=T0)
        later = snoozes.add_snooze(
            session, matchers={"kind": "stale*"}, duration=H, author="bob", comment="later", now=T0, starts_at=T0 + 5 * H
        )
    with session_scope(store_engine) as session:
        views = snoozes.list_snoozes(session, now=T0 + H)
        assert [(v.id, v.state) for v in views] == [(first.id, "active"), (later.id, "pending")]
        assert [v.id for v in snoozes.list_snoozes(session, now=T0 + 3 * H)] == [later.id]
        expired = snoozes.expire_snooze(session, first.id, actor="alice", now=T0 + H)
        assert expired.ends_at == T0 + H
    with session_scope(store_engine) as session:
        assert [v.id for v in snoozes.list_snoozes(session, now=T0 + H)] == [later.id]
        every = snoozes.list_snoozes(session, now=T0 + H, include_expired=True)
        assert [(v.id, v.state) for v in every] == [(first.id, "expired"), (later.id, "pending")]
        assert session.get(Snooze, first.id) is not None  # never deleted
        actions = [(e.action, e.actor) for e in session.exec(select(AuditEvent).order_by(AuditEvent.id))]
        assert actions == [("snooze_added", "bob"), ("snooze_added", "bob"), ("snooze_expired", "alice")]
        with pytest.raises(ValueError, match="already expired"):
            snoozes.expire_snooze(session, first.id, actor="alice", now=T0 + 2 * H)
        with pytest.raises(ValueError, match="no snooze with id 999"):
            snoozes.expire_snooze(session, 999, actor="alice", now=T0)


@pytest.mark.parametrize(
    ("matchers", "duration", "comment", "message"),
    [
        ({"team": "x"}, H, "c", "unknown snooze matcher 'team' (use deliverable, kind, owner)"),
        ({}, H, "c", "at least one matcher"),
        ({"kind": " "}, H, "c", "needs a value"),
        ({"kind": "stale"}, timedelta(0), "c", "positive duration"),
        ({"kind": "stale"}, H, "", "comment"),
        ({"kind": "stal"}, H, "c", "unknown kind 'stal' (did you mean 'stale'? valid: status_contradiction"),
        ({"kind": "date*"}, H, "", "comment"),  # a glob matching a kind passes on to the next check
        ({"kind": "nothing*"}, H, "c", "unknown kind 'nothing*'"),
    ],
)
def test_add_validates_in_one_line(sqlite_engine: Engine, matchers, duration, comment, message) -> None:  # type: ignore[no-untyped-def]
    with session_scope(sqlite_engine) as session, pytest.raises(ValueError) as info:
        snoozes.add_snooze(session, matchers=matchers, duration=duration, author="bob", comment=comment, now=T0)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_active_snooze_for_matches_every_matcher_and_the_window() -> None:
    deliverable = Deliverable(key="checkout-v2", title="Checkout", owner_key="alice")
    by_owner = make_snooze(1, {"owner": "alice"})
    by_kind_glob = make_snooze(2, {"kind": "date_*", "deliverable": "checkout-v2"}, hours=8)
    pending = make_snooze(3, {"deliverable": "checkout-v2"}, start=T0 + 2 * H)
    snoozes_ = [by_owner, by_kind_glob, pending]

    status = make_conflict(kind="status_contradiction")
    date = make_conflict(kind="date_mismatch")
    assert snoozes.active_snooze_for(status, deliverable, snoozes_, T0) is by_owner
    assert snoozes.active_snooze_for(date, deliverable, snoozes_, T0) is by_kind_glob  # ends last
    assert snoozes.active_snooze_for(status, deliverable, snoozes_, T0 + 5 * H) is pending
    assert snoozes.active_snooze_for(status, deliverable, snoozes_, T0 + 7 * H) is None
    assert snoozes.active_snooze_for(make_conflict(key="search"), None, snoozes_, T0) is None  # no owner known


def test_inhibitor_for_is_pure_and_mutes_only_what_the_violation_causes() -> None:
    inhibitors = {7: snoozes.Inhibitor(7, "checkout-v2", frozenset({100, 101}), frozenset({"launch"}))}

    def on(key: str, kind: str, cid: int, evidence: list[int] | None = None) -> Conflict:
        c = make_conflict(key, kind, cid)
        c.evidence = evidence or []
        return c

    assert snoozes.inhibitor_for(on("launch", "date_contradiction", 1), inhibitors) == 7
    assert snoozes.inhibitor_for(on("launch", "no_owner", 2), inhibitors) is None
    assert snoozes.inhibitor_for(on("search", "status_contradiction", 3), inhibitors) is None
    assert snoozes.inhibitor_for(on("checkout-v2", "dependency_violation", 7, [100]), inhibitors) is None
    assert snoozes.inhibitor_for(on("checkout-v2", "date_contradiction", 4, [101, 102]), inhibitors) == 7
    assert snoozes.inhibitor_for(on("checkout-v2", "status_contradiction", 5, [103, 104]), inhibitors) is None
