"""Table-driven tests of the contradiction rules, each with the false friends that must not fire."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest

from connectors.registry import ref_scope
from reconciler import rules
from reconciler.protocol import RulesConfig
from reconciler.rules import (
    CanonicalState,
    ClaimView,
    DeliverableFacts,
    DependencyFacts,
    Resolution,
    Rule,
)

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
CONFIG = RulesConfig()
_ids = itertools.count(1)

_DEFAULTS = {
    "asana": {"kind": "state", "ref": "3001", "author": "alice@acme.test"},
    "slack": {"kind": "event", "ref": None, "author": "U02"},
    "manual": {"kind": "event", "ref": None, "author": "dan"},
}


def claim(
    source: str,
    value: str | None,
    *,
    hours_ago: float = 1,
    field: str = "status",
    author: str | None = "default",
    ref: str | None = None,
    kind: str | None = None,
    edited_hours_ago: float | None = None,
) -> ClaimView:
    default = _DEFAULTS[source]
    claim_id = next(_ids)
    source_ref = ref or default["ref"] or f"C1:{claim_id}"
    return ClaimView(
        id=claim_id,
        source=source,
        source_ref=source_ref,
        scope=ref_scope(source, source_ref),  # as the source's plugin reads its refs
        field=field,
        value=value,
        kind=kind or default["kind"],
        author=default["author"] if author == "default" else author,
        stated_at=NOW - timedelta(hours=hours_ago),
        edited_at=NOW - timedelta(hours=edited_hours_ago) if edited_hours_ago is not None else None,
    )


def day(value: str, source: str = "asana", **kw: Any) -> ClaimView:
    return claim(source, value, field="target_date", **kw)


def facts(*claims: ClaimView, **kw: Any) -> DeliverableFacts:
    base: dict[str, Any] = {"key": "checkout-v2", "title": "Checkout v2", "owner": "alice", "now": NOW}
    return DeliverableFacts(claims=tuple(claims), **{**base, **kw})


def findings(f: DeliverableFacts, kind: Rule, config: RulesConfig = CONFIG) -> list[rules.Finding]:
    return [x for x in rules.evaluate(f, config).findings if x.kind == kind]


# -- status contradictions ------------------------------------------------------------------

STATUS_CASES: list[tuple[str, list[ClaimView], list[tuple[str, ...]]]] = [
    (
        "newer message disagrees with an unchanged field",
        [claim("asana", "on_track", hours_ago=72), claim("slack", "blocked", hours_ago=2)],
        [("asana", "slack")],
    ),
    (
        "false friend: message older than the field change is superseded",
        [claim("slack", "blocked", hours_ago=48), claim("asana", "on_track", hours_ago=24)],
        [],
    ),
    (
        "false friend: a negated message is no claim (the parser drops it)",
        [claim("asana", "on_track", hours_ago=72)],
        [],
    ),
    (
        "false friend: agreement from two sources",
        [claim("asana", "on_track", hours_ago=72), claim("slack", "on_track", hours_ago=2)],
        [],
    ),
    (
        "false friend: the same person correcting themselves",
        [
            claim("asana", "on_track", hours_ago=72),
            claim("slack", "blocked", hours_ago=5),
            claim("slack", "on_track", hours_ago=1),
        ],
        [],
    ),
    (
        "two people in Slack disagree",
        [claim("slack", "blocked", hours_ago=5, author="U02"), claim("slack", "on_track", hours_ago=1, author="U03")],
        [("slack",)],
    ),
    (
        "false friend: different but compatible statuses (not in the table)",
        [claim("asana", "on_track", hours_ago=72), claim("slack", "at_risk", hours_ago=2)],
        [],
    ),
    (
        "project status update says done while the task field says blocked",
        [claim("asana", "blocked", hours_ago=72), claim("asana", "done", hours_ago=3, ref="status_update:2001")],
        [("asana",)],
    ),
    (
        "project cancelled while the task field says on track",
        [claim("asana", "on_track", hours_ago=72), claim("asana", "cancelled", hours_ago=3, ref="status_update:2001")],
        [("asana",)],
    ),
    (
        "false friend: project on track while the task is at risk",
        [claim("asana", "at_risk", hours_ago=72), claim("asana", "on_track", hours_ago=3, ref="status_update:2001")],
        [],
    ),
    (
        "false friend: project blocked while the task is on track (high in the table, not a strong pair)",
        [claim("asana", "on_track", hours_ago=72), claim("asana", "blocked", hours_ago=3, ref="status_update:2001")],
        [],
    ),
    (
        "false friend: project on track while a newer message says the deliverable is blocked",
        [claim("asana", "on_track", hours_ago=72, ref="status_update:2001"), claim("slack", "blocked", hours_ago=3)],
        [],
    ),
    (
        "project done while a newer message says the deliverable has not started",
        [claim("asana", "done", hours_ago=72, ref="status_update:2001"), claim("slack", "not_started", hours_ago=3)],
        [("asana", "slack")],
    ),
    (
        "two projects' status updates disagree: same specificity, the table decides",
        [
            claim("asana", "on_track", hours_ago=72, ref="status_update:2001"),
            claim("asana", "blocked", hours_ago=3, ref="status_update:2002"),
        ],
        [("asana",)],
    ),
    (
        "false friend: a cleared field states nothing",
        [claim("asana", None, hours_ago=1), claim("slack", "blocked", hours_ago=5)],
        [],
    ),
    (
        "false friend: an unknown value states nothing",
        [claim("asana", "on_track", hours_ago=72), claim("slack", "maybe", hours_ago=1)],
        [],
    ),
    (
        "an edit restates an old message after the field changed",
        [
            claim("slack", "blocked", hours_ago=72, edited_hours_ago=1),
            claim("asana", "on_track", hours_ago=24),
        ],
        [("asana", "slack")],
    ),
    (
        "one finding per pair of sources, three sources",
        [
            claim("asana", "on_track", hours_ago=72),
            claim("slack", "blocked", hours_ago=3),
            claim("manual", "blocked", hours_ago=2),
        ],
        [("asana", "slack"), ("asana", "manual")],
    ),
]


@pytest.mark.parametrize(("claims", "expected"), [c[1:] for c in STATUS_CASES], ids=[c[0] for c in STATUS_CASES])
def test_status_contradiction(claims: list[ClaimView], expected: list[tuple[str, ...]]) -> None:
    found = findings(facts(*claims), Rule.STATUS_CONTRADICTION)
    assert sorted(f.sources for f in found) == sorted(tuple(sorted(s)) for s in expected)


def test_status_contradiction_says_who_said_what_and_when() -> None:
    asana = replace(claim("asana", "on_track", hours_ago=72), author_name="Alice Ng")
    slack = replace(claim("slack", "blocked", hours_ago=2), author_name="Bob Okafor")
    (finding,) = findings(facts(asana, slack), Rule.STATUS_CONTRADICTION)
    assert finding.summary == (
        "Asana says on track (Alice Ng, 2026-11-17 12:00 UTC) but Slack says blocked (Bob Okafor, 2026-11-20 10:00 UTC)"
    )
    assert finding.severity == "high"
    assert finding.evidence == tuple(sorted([asana.id, slack.id]))
    assert finding.newest_evidence_at == slack.stated_at
    assert finding.details == {"field": "status", "values": {"asana": ["on_track"], "slack": ["blocked"]}}


def test_severity_comes_from_the_config_table() -> None:
    config = RulesConfig(status_conflicts=[{"a": "on_track", "b": "at_risk", "severity": "low"}])  # type: ignore[list-item]
    claims = [claim("asana", "on_track", hours_ago=72), claim("slack", "at_risk", hours_ago=2)]
    (finding,) = findings(facts(*claims), Rule.STATUS_CONTRADICTION, config)
    assert finding.severity == "low"
    assert findings(facts(claim("asana", "on_track", hours_ago=72), claim("slack", "blocked")), Rule.STATUS_CONTRADICTION, config) == []


# -- date contradictions --------------------------------------------------------------------

DATE_CASES: list[tuple[str, list[ClaimView], bool]] = [
    ("nine days apart", [day("2026-12-01", hours_ago=72), day("2026-12-10", "slack", hours_ago=2)], True),
    ("false friend: within the tolerance", [day("2026-12-01", hours_ago=72), day("2026-12-03", "slack")], False),
    ("one day past the tolerance", [day("2026-12-01", hours_ago=72), day("2026-12-04", "slack")], True),
    ("false friend: the same date", [day("2026-12-01", hours_ago=72), day("2026-12-01", "slack")], False),
    (
        "false friend: message older than the date change",
        [day("2026-12-10", "slack", hours_ago=48), day("2026-12-01", hours_ago=24)],
        False,
    ),
    (
        "false friend: the same person moving their own date",
        [day("2026-12-10", "slack", hours_ago=5), day("2026-12-01", "slack", hours_ago=1), day("2026-12-01", hours_ago=72)],
        False,
    ),
    ("false friend: not a date", [day("2026-12-01", hours_ago=72), day("next week", "slack")], False),
]


@pytest.mark.parametrize(("claims", "fires"), [c[1:] for c in DATE_CASES], ids=[c[0] for c in DATE_CASES])
def test_date_contradiction(claims: list[ClaimView], fires: bool) -> None:
    assert bool(findings(facts(*claims), Rule.DATE_CONTRADICTION)) is fires


def test_a_moved_date_keeps_its_fingerprint() -> None:
    before = findings(facts(day("2026-12-01", hours_ago=72), day("2026-12-10", "slack")), Rule.DATE_CONTRADICTION)
    after = findings(facts(day("2026-12-01", hours_ago=72), day("2026-12-20", "slack")), Rule.DATE_CONTRADICTION)
    assert before[0].fingerprint == after[0].fingerprint
    assert before[0].summary != after[0].summary


def test_fingerprint_depends_on_deliverable_rule_and_sources_only() -> None:
    fp = rules.fingerprint
    assert fp("a", "status_contradiction", ["slack", "asana"]) == fp("a", "status_contradiction", ["asana", "slack"])
    assert fp("a", "status_contradiction", ["asana", "slack"]) != fp("a", "status_contradiction", ["slack"])
    assert fp("a", "status_contradiction", ["slack"]) != fp("b", "status_contradiction", ["slack"])
    assert fp("a", "status_contradiction", ["slack"]) != fp("a", "date_contradiction", ["slack"])


# -- dependency violations ------------------------------------------------------------------


def dep(key: str, *, status: str | None = None, target: str | None = None) -> DependencyFacts:
    state = CanonicalState(
        status=status,
        status_claim=claim("asana", status, ref=f"dep-{key}") if status else None,
        target_date=date.fromisoformat(target) if target else None,
        date_claim=day(target, ref=f"dep-{key}") if target else None,
    )
    return DependencyFacts(key, key.title(), state)


V, S, C = Rule.DEPENDENCY_VIOLATION, Rule.SCHEDULED_BEFORE_READY, Rule.DEPENDENCY_CASCADE
DEPENDENCY_CASES: list[tuple[str, list[ClaimView], DependencyFacts, Rule | None, str | None]] = [
    ("dated before its dependency", [day("2026-12-01")], dep("checkout", status="on_track", target="2026-12-10"), S, "DependencyDatedLater"),
    ("false friend: the dependency is done", [day("2026-12-01")], dep("checkout", status="done", target="2026-12-10"), None, None),
    ("false friend: the dependency is dated earlier", [day("2026-12-10")], dep("checkout", status="on_track", target="2026-12-01"), None, None),
    ("false friend: the same day", [day("2026-12-10")], dep("checkout", status="on_track", target="2026-12-10"), None, None),
    ("done while the dependency is blocked", [claim("asana", "done")], dep("checkout", status="blocked"), C, "DependencyBlocked"),
    ("done while the dependency says nothing", [claim("asana", "done")], dep("checkout"), V, "DependencyNotDone"),
    ("done while the dependency is on track", [claim("asana", "done")], dep("checkout", status="on_track"), V, "DependencyNotDone"),
    ("dated while the dependency is undated and not done", [day("2026-12-01")], dep("checkout", status="on_track"), S, "DependencyUndated"),
    ("depends on something cancelled", [claim("asana", "on_track")], dep("checkout", status="cancelled"), V, "DependencyCancelled"),
    ("false friend: cancelled itself", [claim("asana", "cancelled"), day("2026-12-01")], dep("checkout", status="on_track", target="2026-12-10"), None, None),
    ("false friend: neither done nor dated", [claim("asana", "on_track")], dep("checkout", status="blocked"), None, None),
    ("on track, due soon, the dependency blocked", [claim("asana", "on_track"), day("2026-11-30")], dep("checkout", status="blocked", target="2026-11-28"), C, "DependencyBlocked"),
    ("not started, due soon, the dependency at risk", [claim("asana", "not_started"), day("2026-11-30")], dep("checkout", status="at_risk", target="2026-11-28"), C, "DependencyAtRisk"),
    ("on track, due soon, the dependency overdue", [claim("asana", "on_track"), day("2026-11-30")], dep("checkout", status="on_track", target="2026-11-18"), C, "DependencyOverdue"),
    ("false friend: due beyond the horizon", [claim("asana", "on_track"), day("2027-01-30")], dep("checkout", status="blocked", target="2026-11-28"), None, None),
    ("false friend: it knows it is blocked itself", [claim("asana", "blocked"), day("2026-11-30")], dep("checkout", status="blocked", target="2026-11-28"), None, None),
    ("false friend: the dependency is fine", [claim("asana", "on_track"), day("2026-11-30")], dep("checkout", status="on_track", target="2026-11-28"), None, None),
]


@pytest.mark.parametrize(("claims", "dependency", "kind", "reason"), [c[1:] for c in DEPENDENCY_CASES], ids=[c[0] for c in DEPENDENCY_CASES])
def test_dependency_rules(claims: list[ClaimView], dependency: DependencyFacts, kind: Rule | None, reason: str | None) -> None:
    f = facts(*claims, depends_on=(dependency.key,), dependencies={dependency.key: dependency})
    evaluation = rules.evaluate(f, CONFIG)
    found = [x for x in evaluation.findings if x.kind in rules.DEPENDENCY_RULES]
    assert [(x.kind, x.details["dependencies"][dependency.key]["reason"]) for x in found] == ([(kind, reason)] if kind else [])
    conditions = evaluation.conditions["DependenciesSatisfied"]
    assert (conditions["status"], conditions["reason"]) == ((False, reason) if reason else (True, "Satisfied"))


def test_scheduled_before_ready_names_both_dates_and_keeps_evidence() -> None:
    checkout = dep("checkout", status="on_track", target="2026-12-10")
    own = day("2026-12-01")
    f = facts(own, key="campaign", title="Launch campaign", depends_on=("checkout",), dependencies={"checkout": checkout})
    (finding,) = findings(f, Rule.SCHEDULED_BEFORE_READY)
    assert finding.summary == "Launch campaign is due 2026-12-01 but Checkout, which it depends on, is due 2026-12-10"
    assert finding.severity == "high" and finding.sources == ()
    assert finding.evidence == tuple(sorted([own.id, checkout.canonical.date_claim.id]))  # type: ignore[union-attr]


def chain(*links: DependencyFacts) -> dict[str, DependencyFacts]:
    """Each link depends on the next."""
    for upper, lower in zip(links, links[1:]):
        upper.depends_on = (lower.key,)
    return {link.key: link for link in links}


def test_a_blocked_dependency_two_levels_down_reaches_the_top_with_the_chain() -> None:
    checkout = dep("checkout", status="on_track", target="2026-11-28")
    payments = dep("payments", status="blocked", target="2026-11-25")
    payments.owner = "bob"
    own = [claim("asana", "on_track"), day("2026-12-01")]
    f = facts(*own, key="campaign", title="Launch campaign", depends_on=("checkout",), dependencies=chain(checkout, payments))
    (finding,) = findings(f, Rule.DEPENDENCY_CASCADE)
    assert finding.summary == (
        "Launch campaign is on track and due 2026-12-01, but it depends on Checkout, which depends on "
        "Payments (owner bob), which is blocked"
    )
    assert finding.details["dependencies"]["payments"] == {
        "reason": "DependencyBlocked", "status": "blocked", "target_date": "2026-11-25", "owner": "bob",
        "chain": ["checkout", "payments"],
    }
    assert payments.canonical.status_claim.id in finding.evidence  # type: ignore[union-attr]
    assert finding.severity == "high"


def test_the_chain_stops_at_the_first_broken_link_and_at_done_ones() -> None:
    checkout = dep("checkout", status="at_risk", target="2026-11-28")
    payments = dep("payments", status="blocked", target="2026-11-25")
    own = [claim("asana", "on_track"), day("2026-12-01")]
    f = facts(*own, key="campaign", depends_on=("checkout",), dependencies=chain(checkout, payments))
    (finding,) = findings(f, Rule.DEPENDENCY_CASCADE)
    assert list(finding.details["dependencies"]) == ["checkout"] and finding.severity == "medium"
    shipped = dep("checkout", status="done", target="2026-11-18")
    f = facts(*own, key="campaign", depends_on=("checkout",), dependencies=chain(shipped, dep("payments", status="blocked")))
    assert findings(f, Rule.DEPENDENCY_CASCADE) == []


def test_a_reopened_dependency_breaks_a_done_dependent() -> None:
    checkout = dep("checkout", status="on_track", target="2026-11-28")
    checkout.reopened = True
    f = facts(claim("asana", "done"), depends_on=("checkout",), dependencies={"checkout": checkout})
    (finding,) = findings(f, Rule.DEPENDENCY_CASCADE)
    assert finding.details["dependencies"]["checkout"]["reason"] == "DependencyReopened"
    assert "was done and is on track again" in finding.summary and finding.severity == "high"


def test_was_reopened_needs_an_earlier_done_and_an_active_status_now() -> None:
    done_then = claim("slack", "done", hours_ago=48)
    active = rules.canonical_state({"status": [claim("asana", "on_track")]})
    assert rules.was_reopened([done_then, claim("asana", "on_track")], active)
    assert not rules.was_reopened([claim("asana", "on_track")], active)
    assert not rules.was_reopened([done_then], rules.canonical_state({"status": [done_then]}))


def test_a_cycle_is_reported_once_by_its_first_member_and_the_walk_ends() -> None:
    a, b, c = dep("a", status="on_track"), dep("b", status="on_track"), dep("c", status="on_track")
    a.depends_on, b.depends_on, c.depends_on = ("b",), ("c",), ("a",)
    every = {"a": a, "b": b, "c": c}
    reported = {}
    for member in (a, b, c):
        f = facts(claim("asana", "on_track"), day("2026-11-30"), key=member.key, title=member.title,
                  depends_on=member.depends_on, dependencies=every)
        reported[member.key] = findings(f, Rule.DEPENDENCY_CYCLE)
    assert [f.summary for f in reported["a"]] == ["A depends on itself: A → B → C → A"]
    assert reported["b"] == reported["c"] == []


OVERDUE_CASES: list[tuple[str, list[ClaimView], str | None]] = [
    ("a day late", [claim("asana", "on_track"), day("2026-11-19")], "low"),
    ("three days late", [claim("asana", "on_track"), day("2026-11-17")], "medium"),
    ("a week late", [claim("asana", "at_risk"), day("2026-11-13")], "high"),
    ("late without a status", [day("2026-11-10")], "high"),
    ("false friend: due today", [claim("asana", "on_track"), day("2026-11-20")], None),
    ("false friend: late but done", [claim("asana", "done"), day("2026-11-10")], None),
    ("false friend: late but cancelled", [claim("asana", "cancelled"), day("2026-11-10")], None),
]


@pytest.mark.parametrize(("claims", "severity"), [c[1:] for c in OVERDUE_CASES], ids=[c[0] for c in OVERDUE_CASES])
def test_overdue(claims: list[ClaimView], severity: str | None) -> None:
    found = findings(facts(*claims), Rule.OVERDUE)
    assert [f.severity for f in found] == ([severity] if severity else [])
    assert findings(facts(*claims), Rule.STALE) == []  # past its date it is overdue, never stale


def test_overdue_keeps_its_summary_from_day_to_day() -> None:
    claims = [claim("asana", "on_track"), day("2026-11-17")]
    today = findings(facts(*claims), Rule.OVERDUE)[0]
    later = findings(facts(*claims, now=NOW + timedelta(days=1)), Rule.OVERDUE)[0]
    assert today.summary == later.summary == "Checkout v2 was due 2026-11-17 and is on track"
    assert today.fingerprint == later.fingerprint


def test_dependencies_come_from_config_and_current_claims() -> None:
    current = rules.current_by_field([claim("asana", "search,payments-api", field="depends_on"), claim("asana", "checkout-v2", field="depends_on", ref="x")])
    assert rules.depends_on("checkout-v2", ["launch"], current) == ("launch", "payments-api", "search")


# -- no owner and stale ---------------------------------------------------------------------


def test_no_owner() -> None:
    (finding,) = findings(facts(owner=None, role="engineering"), Rule.NO_OWNER)
    assert finding.summary == "Checkout v2 has no decision owner"
    assert findings(facts(owner="alice"), Rule.NO_OWNER) == []


STALE_CASES: list[tuple[str, list[ClaimView], RulesConfig, bool]] = [
    ("due in five days, silent for ten", [day("2026-11-25", hours_ago=240)], CONFIG, True),
    ("false friend: overdue and silent is overdue, not stale", [day("2026-11-18", hours_ago=240)], CONFIG, False),
    ("false friend: someone spoke two days ago", [day("2026-11-25", hours_ago=240), claim("slack", "on_track", hours_ago=48)], CONFIG, False),
    ("false friend: due in a month", [day("2026-12-20", hours_ago=240)], CONFIG, False),
    ("false friend: done", [day("2026-11-25", hours_ago=240), claim("asana", "done", hours_ago=240)], CONFIG, False),
    ("false friend: no target date", [claim("asana", "on_track", hours_ago=240)], CONFIG, False),
    ("disabled", [day("2026-11-25", hours_ago=240)], RulesConfig(stale_after_days=None), False),
]


@pytest.mark.parametrize(("claims", "config", "fires"), [c[1:] for c in STALE_CASES], ids=[c[0] for c in STALE_CASES])
def test_stale(claims: list[ClaimView], config: RulesConfig, fires: bool) -> None:
    assert bool(findings(facts(*claims), Rule.STALE, config)) is fires


# -- canonical state and conditions ---------------------------------------------------------


def test_canonical_state_is_the_newest_current_claim_state_winning_a_tie() -> None:
    tie_event = claim("slack", "blocked", hours_ago=3)
    tie_state = claim("asana", "at_risk", hours_ago=3)
    state = rules.canonical_state(rules.current_by_field([claim("asana", "on_track", hours_ago=5, ref="p"), tie_event, tie_state]))
    assert (state.status, state.status_source) == ("at_risk", "asana")


def test_a_superseded_message_never_becomes_canonical() -> None:
    claims = [claim("slack", "blocked", hours_ago=48), claim("asana", "on_track", hours_ago=24)]
    assert rules.canonical_state(rules.current_by_field(claims)).status == "on_track"


def test_a_message_agreeing_with_the_field_leaves_the_field_as_the_source() -> None:
    field, agreeing = claim("asana", "at_risk", hours_ago=24), claim("slack", "at_risk", hours_ago=1)
    state = rules.canonical_state(rules.current_by_field([field, agreeing]))
    assert (state.status, state.status_source, state.status_claim) == ("at_risk", "asana", field)
    disagreeing = claim("slack", "blocked", hours_ago=0.5, author="U05")
    state = rules.canonical_state(rules.current_by_field([field, agreeing, disagreeing]))
    assert (state.status, state.status_source) == ("blocked", "slack")


def test_a_decision_holds_until_a_newer_claim() -> None:
    decided = Resolution("status", "blocked", NOW - timedelta(hours=10), "alice", source="slack")
    older = [claim("asana", "on_track", hours_ago=72), claim("slack", "blocked", hours_ago=20, author="U09")]
    state = rules.canonical_state(rules.current_by_field(older), [decided])
    assert (state.status, state.status_source, state.status_resolution) == ("blocked", "slack", decided)
    newer = [*older, claim("asana", "done", hours_ago=1)]
    assert (rules.canonical_state(rules.current_by_field(newer), [decided]).status) == "done"
    project = [*older, claim("asana", "done", hours_ago=1, ref="status_update:1")]  # less specific: no new word
    assert rules.canonical_state(rules.current_by_field(project), [decided]).status_resolution == decided
    only_project = [claim("asana", "done", hours_ago=1, ref="status_update:1")]
    assert (rules.canonical_state(rules.current_by_field(only_project), [decided]).status) == "done"
    stored_later = [*older, replace(claim("slack", "at_risk", hours_ago=20, author="U07"), recorded_at=NOW)]
    assert rules.canonical_state(rules.current_by_field(stored_later), [decided]).status == "at_risk"


def test_a_resolved_contradiction_says_so_in_its_condition() -> None:
    claims = (claim("asana", "on_track", hours_ago=72), claim("slack", "blocked", hours_ago=20))
    decided = Resolution("status", "blocked", NOW - timedelta(hours=10), "alice", source="slack")
    condition = rules.evaluate(facts(*claims, resolutions=(decided,)), CONFIG).conditions["StatusAgrees"]
    assert (condition["status"], condition["reason"]) == (False, "ContradictionResolved")


def test_conditions_keep_their_transition_time_while_their_status_holds() -> None:
    claims = (claim("asana", "on_track", hours_ago=72), claim("slack", "blocked", hours_ago=2))
    first = rules.evaluate(facts(*claims), CONFIG).conditions
    assert first["StatusAgrees"] == {
        "status": False,
        "reason": "Contradiction",
        "message": first["StatusAgrees"]["message"],
        "last_transition_time": NOW.isoformat(),
    }
    later = NOW + timedelta(hours=5)
    again = rules.evaluate(facts(*claims, now=later, previous_conditions=first), CONFIG).conditions
    assert again == first
    agreed = (*claims, claim("slack", "on_track", hours_ago=-1))  # Bob corrects himself
    flipped = rules.evaluate(facts(*agreed, now=later, previous_conditions=first), CONFIG).conditions
    assert flipped["StatusAgrees"]["status"] is True and flipped["StatusAgrees"]["reason"] == "Agree"
    assert flipped["StatusAgrees"]["last_transition_time"] == later.isoformat()
    assert flipped["HasOwner"] == first["HasOwner"]


def test_evaluation_does_not_depend_on_claim_order() -> None:
    claims = [
        claim("asana", "on_track", hours_ago=72),
        claim("slack", "blocked", hours_ago=2, author="U02"),
        claim("slack", "done", hours_ago=2, author="U03"),
        claim("slack", "on_track", hours_ago=2, author="U04"),
        day("2026-12-01", hours_ago=72),
        day("2026-12-09", "slack", hours_ago=4),
    ]
    results = {repr(rules.evaluate(facts(*order), CONFIG)) for order in itertools.permutations(claims, len(claims))}
    assert len(results) == 1


# -- specificity: project status updates against the deliverable's own claims -----------------


def at(when: str, source: str, value: str, **kw: Any) -> ClaimView:
    """A claim stated at an ISO time (UTC), for cases copied from the demo scenario."""
    return replace(claim(source, value, **kw), stated_at=datetime.fromisoformat(when + "+00:00"))


# The demo's payments-api: Bob's task field says at risk, Bob says so in Slack too, then Erin's
# project status update "Week 47: back on track" says on track for the whole project.
PAYMENTS_TASK = at("2026-11-18T11:02", "asana", "at_risk", ref="3002", author="bob@acme.test")
PAYMENTS_SLACK = at("2026-11-18T11:10", "slack", "at_risk", author="U02")
PAYMENTS_PROJECT = at("2026-11-20T16:00", "asana", "on_track", ref="status_update:2001", author="erin@acme.test")
# ... and Bob's "payments sandbox integration merged; production keys still pending." the next
# day, which the message parser reads as done.
PAYMENTS_MERGED = at("2026-11-19T09:20", "slack", "done", author="U02")

# name, claims, (canonical status, the canonical claim), claims that must not be current,
# sources of the status contradictions expected
SPECIFICITY_CASES: list[tuple[str, list[ClaimView], tuple[str, ClaimView], list[ClaimView], list[tuple[str, ...]]]] = [
    (
        "demo payments-api fields: the task field, not the newer project update, is canonical",
        [PAYMENTS_TASK, PAYMENTS_PROJECT],
        ("at_risk", PAYMENTS_TASK),
        [],
        [],
    ),
    (
        "demo payments-api with Bob's agreeing Slack message: at risk, not the project's on track",
        [PAYMENTS_TASK, PAYMENTS_SLACK, PAYMENTS_PROJECT],
        ("at_risk", PAYMENTS_TASK),  # the newest specific value; the task field states it too
        [],
        [],
    ),
    (
        "demo payments-api with Bob's 'merged' message: the project update does not answer it",
        [PAYMENTS_TASK, PAYMENTS_SLACK, PAYMENTS_MERGED, PAYMENTS_PROJECT],
        ("done", PAYMENTS_MERGED),  # newer than the task field: the newest specific claim
        [PAYMENTS_SLACK],  # replaced by Bob's own newer message, not by the project
        [("asana", "slack")],  # done vs the task's at risk; the project's on track takes no part
    ),
    (
        "a newer task field change still answers an older message",
        [claim("slack", "blocked", hours_ago=48), claim("asana", "on_track", hours_ago=24),
         claim("asana", "at_risk", hours_ago=1, ref="status_update:2001")],
        ("on_track", None),
        ["slack"],
        [],
    ),
    (
        "without a task field the project update answers an older message and is canonical",
        [claim("slack", "blocked", hours_ago=48), claim("asana", "on_track", hours_ago=24, ref="status_update:2001")],
        ("on_track", None),
        ["slack"],
        [],
    ),
    (
        "without a task field a newer message wins over the project update",
        [claim("asana", "on_track", hours_ago=48, ref="status_update:2001"), claim("slack", "at_risk", hours_ago=2)],
        ("at_risk", None),
        [],
        [],
    ),
    (
        "only a project update: it is the canonical value",
        [claim("asana", "on_track", hours_ago=2, ref="status_update:2001")],
        ("on_track", None),
        [],
        [],
    ),
    (
        "project done against a blocked task field: contradiction, the task field stays canonical",
        [claim("asana", "blocked", hours_ago=72), claim("asana", "done", hours_ago=1, ref="status_update:2001")],
        ("blocked", None),
        [],
        [("asana",)],
    ),
]


@pytest.mark.parametrize(
    ("claims", "canonical", "superseded", "contradictions"),
    [c[1:] for c in SPECIFICITY_CASES],
    ids=[c[0] for c in SPECIFICITY_CASES],
)
def test_specificity(
    claims: list[ClaimView],
    canonical: tuple[str, ClaimView | None],
    superseded: list[ClaimView | str],
    contradictions: list[tuple[str, ...]],
) -> None:
    current = rules.current_by_field(claims)
    state = rules.canonical_state(current)
    value, which = canonical
    assert state.status == value
    assert state.status_claim is not None
    assert not rules.is_project_level(state.status_claim) or all(rules.is_project_level(c) for c in current["status"])
    if which is not None:
        assert state.status_claim is which
    live = current.get("status", [])
    for gone in superseded:
        if isinstance(gone, str):
            assert not [c for c in live if c.source == gone]
        else:
            assert gone not in live
    found = findings(facts(*claims), Rule.STATUS_CONTRADICTION)
    assert sorted(f.sources for f in found) == sorted(contradictions)


def test_demo_payments_contradiction_names_the_task_field_and_the_message() -> None:
    (finding,) = findings(facts(PAYMENTS_TASK, PAYMENTS_SLACK, PAYMENTS_MERGED, PAYMENTS_PROJECT), Rule.STATUS_CONTRADICTION)
    assert finding.evidence == tuple(sorted([PAYMENTS_TASK.id, PAYMENTS_MERGED.id]))
    assert finding.severity == "medium"  # done vs at risk, from the config table


def test_project_pairs_are_directional() -> None:
    assert ("done", "blocked") in rules.PROJECT_CONTRADICTIONS
    assert ("blocked", "done") not in rules.PROJECT_CONTRADICTIONS  # a project blocked, one task done
    assert ("on_track", "at_risk") not in rules.PROJECT_CONTRADICTIONS
    assert ("cancelled", "done") not in rules.PROJECT_CONTRADICTIONS  # finished before the cancellation
