"""What each rule object says about its kind of finding, and the lifecycle's one transition
function, as the rest of the system reads them."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from reconciler import conflicts, lifecycle, message_actions, messages, rules, snoozes

S, D = rules.STATUS, rules.TARGET_DATE
AT = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)


def test_every_kind_has_exactly_one_rule() -> None:
    assert sorted(rule.kind.value for rule in rules.RULES) == sorted(kind.value for kind in rules.Rule)
    assert all(rules.rule_for(kind.value).kind is kind for kind in rules.Rule)  # type: ignore[union-attr]
    assert rules.rule_for("jira_contradiction") is None


@pytest.mark.parametrize(
    ("kind", "fields", "optional", "accepts", "inhibits"),
    [
        ("status_contradiction", {S}, False, True, set()),
        ("date_contradiction", {D}, False, True, set()),
        ("dependency_cascade", {S, D}, True, False, {"status_contradiction", "date_contradiction"}),
        ("scheduled_before_ready", {S, D}, False, False, {"status_contradiction", "date_contradiction"}),
        ("dependency_violation", {S, D}, False, False, {"status_contradiction", "date_contradiction"}),
        ("dependency_cycle", set(), True, False, set()),
        ("overdue", {S, D}, False, False, set()),
        ("stale", {S, D}, True, False, set()),
        ("source_deleted", {S}, True, False, set()),
        ("no_owner", set(), True, False, set()),
    ],
)
def test_what_a_resolution_may_set_and_what_a_kind_mutes(
    kind: str, fields: set[str], optional: bool, accepts: bool, inhibits: set[str]
) -> None:
    rule = rules.rule_for(kind)
    assert rule is not None
    assert (set(rule.fields), rule.value_optional, rule.accepts_source, set(rule.inhibits)) == (
        fields, optional, accepts, inhibits
    )
    assert conflicts.value_fields(kind) == rule.fields and conflicts.value_optional(kind) == optional
    assert (kind in snoozes.INHIBITING_KINDS) == bool(inhibits)
    assert snoozes.is_inhibitable(kind) == (kind in {"status_contradiction", "date_contradiction"})
    assert (kind in message_actions.ACCEPTING_KINDS) == accepts
    assert lifecycle.auto_resolved_because(kind) == rule.auto_resolved_because != "its finding no longer holds"


@pytest.mark.parametrize(
    ("kind", "sources", "first"),
    [
        ("status_contradiction", ("asana", "slack"), 'reconciler conflicts resolve 7 --accept asana -c "..."'),
        ("overdue", (), 'reconciler conflicts resolve 7 --status STATUS | --date YYYY-MM-DD -c "..."'),
        ("no_owner", (), 'reconciler conflicts resolve 7 --owner PERSON -c "..."'),
        ("stale", (), 'reconciler claim checkout-v2 --status STATUS [--date YYYY-MM-DD] --by YOU -c "..."'),
        ("dependency_cycle", (), 'reconciler conflicts resolve 7 -c "..."'),
        # its source is gone: there is nothing to accept (`--accept asana` would be refused)
        ("source_deleted", ("asana",), 'reconciler conflicts resolve 7 -c "..."'),
    ],
)
def test_the_dm_suggests_how_each_kind_is_settled(kind: str, sources: tuple[str, ...], first: str) -> None:
    commands = messages.resolve_commands(7, "checkout-v2", kind, sources)
    assert commands[0] == first and commands[-1] == "reconciler conflicts ack 7"


def test_opening_is_a_transition_too_and_a_resolution_carries_its_value() -> None:
    assert lifecycle.transition(None, "open", now=AT) == {
        "state": "open", "opened_at": AT, "last_seen_at": AT, "escalation_level": 0,
    }
    closed = lifecycle.transition("open", "resolved", now=AT, by="alice", comment="ok", value="done", source="slack")
    assert closed == {**lifecycle.CLOSED_RESET, "state": "resolved", "resolved_at": AT, "resolved_by": "alice",
                      "resolution_comment": "ok", "resolution_value": "done", "resolution_source": "slack"}
    with pytest.raises(lifecycle.InvalidTransition, match="from nothing to resolved"):
        lifecycle.transition(None, "resolved", now=AT)
    assert conflicts.transition is lifecycle.transition and conflicts.InvalidTransition is lifecycle.InvalidTransition
