"""When a deliverable must be looked at again without any new claim (`next_check`), and that the
sweep opens time-driven findings (overdue, stale) when that moment passes, with no full pass."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine

from connectors.base import Field
from reconciler import engine, rules
from reconciler.db import session_scope
from reconciler.protocol import RulesConfig
from tests.unit.test_engine import CONFIG, apply, asana, deliverable, seed, slack, the_conflict

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)  # Friday 20 November in Berlin
POLICY = rules.Policy.of(RulesConfig())  # stale after 7 days within 14 of the date; horizon 14; overdue (3, 7)


def midnight(day: str) -> datetime:
    """The start of `day` in Berlin, in UTC."""
    return datetime.combine(date.fromisoformat(day), datetime.min.time(), tzinfo=BERLIN).astimezone(timezone.utc)


def claim(field: str, value: str, at: datetime, *, id_: int = 1) -> rules.ClaimView:
    return rules.ClaimView(id_, "asana", "3001", field, value, "state", "alice", at)


def facts(
    *, due: str | None = None, status: str | None = "on_track", said_at: datetime = NOW,
    depends_on: dict[str, tuple[str | None, str | None]] | None = None,
) -> rules.DeliverableFacts:
    """A deliverable with an owner, its status and date said at `said_at`, and dependencies
    (key -> (status, date))."""
    claims = [claim(rules.STATUS, status, said_at)] if status else []
    if due:
        claims.append(claim(rules.TARGET_DATE, due, said_at, id_=2))
    dependencies = {
        key: rules.DependencyFacts(key, key, rules.CanonicalState(status=dep_status, target_date=(
            date.fromisoformat(dep_due) if dep_due else None)))
        for key, (dep_status, dep_due) in (depends_on or {}).items()
    }
    return rules.DeliverableFacts(
        key="d", title="D", owner="alice", claims=tuple(claims), depends_on=tuple(sorted(dependencies)),
        dependencies=dependencies, now=NOW,
    )


def context_of(f: rules.DeliverableFacts) -> rules.RuleContext:
    current = rules.current_by_field(f.claims)
    return rules.RuleContext(f, current, rules.canonical_state(current), POLICY, BERLIN)


OVERDUE, STALE = rules.OverdueRule(), rules.StaleRule()
CASCADE, VIOLATION = rules.DependencyCascadeRule(), rules.DependencyViolationRule()


@pytest.mark.parametrize(
    ("rule", "case", "expected"),
    [
        (OVERDUE, facts(due="2026-11-25"), midnight("2026-11-26")),  # the day after its date
        (OVERDUE, facts(due="2026-11-20"), midnight("2026-11-21")),  # due today: overdue tomorrow
        (OVERDUE, facts(due="2026-11-19"), midnight("2026-11-22")),  # one day late: medium from 3
        (OVERDUE, facts(due="2026-11-16"), midnight("2026-11-23")),  # four days late: high from 7
        (OVERDUE, facts(due="2026-11-01"), None),  # already high: nothing more to happen
        (OVERDUE, facts(due="2026-11-25", status="done"), None),
        (OVERDUE, facts(due=None), None),
        # due in 11 days, said today: silent for 7 days on the 27th (inside the 14-day window)
        (STALE, facts(due="2026-12-01"), NOW + timedelta(days=7)),
        # due in 40 days: the window opens on 16 December, long after the silence began
        (STALE, facts(due="2026-12-30"), midnight("2026-12-16")),
        # already a check-in (silent for 10 days): it stops being one the day after its date
        (STALE, facts(due="2026-12-01", said_at=NOW - timedelta(days=10)), midnight("2026-12-02")),
        (STALE, facts(due="2026-11-19"), None),  # past its date: overdue instead
        (STALE, facts(due="2026-12-01", status="cancelled"), None),
        # due within the horizon: a dependency due on the 25th breaks the chain on the 26th
        (CASCADE, facts(due="2026-12-01", depends_on={"b": ("on_track", "2026-11-25")}), midnight("2026-11-26")),
        (CASCADE, facts(due="2026-12-01", status="done", depends_on={"b": ("on_track", "2026-11-25")}),
         midnight("2026-11-26")),
        # due later: what is broken down the chain matters once it comes within the horizon
        (CASCADE, facts(due="2026-12-30", depends_on={"b": ("on_track", "2026-11-25")}), midnight("2026-12-16")),
        (CASCADE, facts(due="2026-12-30", depends_on={"b": ("at_risk", None)}), midnight("2026-12-16")),
        (CASCADE, facts(due="2026-12-01", depends_on={"b": ("done", "2026-11-25")}), None),
        (CASCADE, facts(due="2026-12-01", status="blocked", depends_on={"b": ("on_track", "2026-11-25")}), None),
        (CASCADE, facts(due=None, depends_on={"b": ("on_track", "2026-11-25")}), None),
        (CASCADE, facts(due="2026-12-01"), None),  # depends on nothing
        # done while a dependency is not: when that one is overdue it is a cascade instead
        (VIOLATION, facts(due="2026-11-18", status="done", depends_on={"b": ("on_track", "2026-11-25")}),
         midnight("2026-11-26")),
        (VIOLATION, facts(due="2026-12-30", depends_on={"b": ("on_track", "2026-11-25")}), None),
        (rules.NoOwnerRule(), facts(due="2026-11-25"), None),  # only a new fact changes it
    ],
)
def test_when_time_alone_may_change_a_finding(
    rule: rules.FindingRule, case: rules.DeliverableFacts, expected: datetime | None
) -> None:
    context = context_of(case)
    assert rule.next_check(context, NOW) == expected
    if expected is not None:
        assert expected > NOW
        # what the rule finds just before and at that moment differs: the check is not wasted
        before = rule.evaluate(context, expected - timedelta(seconds=1))
        at = rule.evaluate(context, expected)
        assert [(f.kind, f.severity, f.summary) for f in before] != [(f.kind, f.severity, f.summary) for f in at]


def test_evaluate_takes_the_earliest_next_check_of_the_rules() -> None:
    case = facts(due="2026-12-01", depends_on={"b": ("on_track", "2026-11-25")})
    evaluation = rules.evaluate(case, POLICY, tz=BERLIN)
    # the cascade's (26th), before stale (27th, a week after it was said) and overdue (2 December)
    assert evaluation.next_check == midnight("2026-11-26")


def test_a_deliverable_whose_task_is_gone_has_no_time_driven_check() -> None:
    case = facts(due="2026-11-25")
    gone = rules.DeliverableFacts(**{**{s: getattr(case, s) for s in case.__dataclass_fields__},
                                     "gone": (rules.GoneLink("asana", "3001", NOW),)})
    assert rules.evaluate(case, POLICY, tz=BERLIN).next_check == midnight("2026-11-26")
    assert rules.evaluate(gone, POLICY, tz=BERLIN).next_check is None


# -- on the store: the sweep picks up what is due, and nothing else --------------------------


def sweep(engine_: Engine, now: datetime) -> engine.ReconcileReport:
    with session_scope(engine_) as session:
        return engine.reconcile_dirty(session, config=CONFIG, now=now)


def test_an_overdue_finding_opens_when_its_check_comes_without_a_full_pass(store_engine: Engine) -> None:
    seed(store_engine)
    apply(store_engine, asana("search", Field.STATUS, "on_track", NOW, ref="3003"),
          asana("search", Field.TARGET_DATE, "2026-11-25", NOW, ref="3003"))
    sweep(store_engine, NOW)
    due_at = midnight("2026-11-26")
    assert deliverable(store_engine, "search").next_check_at == due_at

    assert sweep(store_engine, due_at - timedelta(seconds=1)).reconciled == 0  # nothing changed, nothing due
    report = sweep(store_engine, due_at)
    assert (report.reconciled, report.due) == (1, 1)  # search-post depends on it, but has no date
    found = the_conflict(store_engine, "search", "overdue")
    assert found.id in report.opened and found.severity == "low"
    assert deliverable(store_engine, "search").next_check_at == midnight("2026-11-28")  # medium from 3 days late

    assert sweep(store_engine, due_at + timedelta(days=1)).reconciled == 0
    report = sweep(store_engine, midnight("2026-11-28"))
    assert report.updated == [found.id] and the_conflict(store_engine, "search", "overdue").severity == "medium"


def test_a_stale_check_in_opens_when_the_silence_reaches_stale_after(store_engine: Engine) -> None:
    seed(store_engine)
    said = NOW - timedelta(days=1)
    apply(store_engine, asana("search", Field.STATUS, "on_track", said, ref="3003"),
          asana("search", Field.TARGET_DATE, "2026-12-01", said, ref="3003"), now=said)
    sweep(store_engine, NOW)
    quiet_for_a_week = said + timedelta(days=7)
    assert deliverable(store_engine, "search").next_check_at == quiet_for_a_week

    assert sweep(store_engine, quiet_for_a_week - timedelta(minutes=1)).reconciled == 0
    report = sweep(store_engine, quiet_for_a_week)
    assert report.due == 1
    stale = the_conflict(store_engine, "search", "stale")
    assert stale.id in report.opened and stale.state == "open"

    # someone speaks: a claim makes it dirty, and the check-in closes by itself
    apply(store_engine, slack("search", Field.STATUS, "on_track", quiet_for_a_week + timedelta(hours=1), ref="C01:9"),
          now=quiet_for_a_week + timedelta(hours=1))
    report = sweep(store_engine, quiet_for_a_week + timedelta(hours=2))
    assert report.auto_resolved == [stale.id]
    assert the_conflict(store_engine, "search", "stale").resolution_comment == "a source has said something about it again"
