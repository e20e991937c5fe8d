from __future__ import annotations

import pytest

from connectors.workspace import AsanaTask
from reconciler.deliverable_rules import derive_deliverables, matches, slug
from reconciler.protocol import Config, DeliverableRuleConfig

PEOPLE = [
    {"key": "alice", "name": "Alice", "asana_gid": "501"},
    {"key": "bob", "name": "Bob", "email": "bob@acme.test"},
]


def task(gid: str, name: str, **kw: object) -> AsanaTask:
    return AsanaTask(gid=gid, name=name, projects=("1",), **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("title", "key"),
    [("Checkout v2", "checkout-v2"), ("  Search: relevance (EU)!", "search-relevance-eu"), ("Überweisung", "uberweisung")],
)
def test_slug_is_a_valid_key(title: str, key: str) -> None:
    assert slug(title) == key


def test_a_rule_matches_every_filter_it_names() -> None:
    rule = DeliverableRuleConfig(
        projects=["1"], sections=["In progress"], tags=["#launch"], custom_field={"Tier": "P1"}, milestones=True
    )
    good = task("1", "A", sections=("in progress",), tags=("Launch",), fields={"tier": "p1"}, milestone=True)
    assert matches(rule, good)
    assert not matches(rule, task("2", "B", sections=("Planned",), tags=("launch",), fields={"Tier": "P1"}, milestone=True))
    assert not matches(rule, task("3", "C", sections=("In progress",), tags=(), fields={"Tier": "P1"}, milestone=True))
    assert not matches(rule, task("4", "D", sections=("In progress",), tags=("launch",), fields={"Tier": "P2"}, milestone=True))
    assert not matches(rule, task("5", "E", sections=("In progress",), tags=("launch",), fields={"Tier": "P1"}))
    plain = DeliverableRuleConfig(projects=["1"])
    assert matches(plain, task("6", "F")) and not matches(plain, task("7", "G", completed=True))
    assert matches(DeliverableRuleConfig(projects=["1"], include_completed=True), task("7", "G", completed=True))


def test_derived_keys_titles_aliases_and_assignee_owners() -> None:
    config = Config.model_validate({"people": PEOPLE, "deliverable_rules": [{"projects": ["1"], "owner_from": "assignee"}]})
    tasks = [
        task("12", "Checkout v2", assignee_gid="501"),
        task("11", "Search", assignee_email="BOB@acme.test"),
        task("13", "Checkout V2", assignee_gid="999"),  # same slug: the later gid gets a suffix
    ]
    derived, owned = derive_deliverables(config, {"1": tasks})
    assert [(d.key, d.title, d.owner, d.asana_task, d.aliases) for d in derived] == [
        ("search", "Search", "bob", "11", ["#search"]),
        ("checkout-v2", "Checkout v2", "alice", "12", ["#checkout-v2", "checkout v2"]),
        ("checkout-v2-13", "Checkout V2", None, "13", ["#checkout-v2-13", "checkout v2"]),
    ]
    assert owned == {"search", "checkout-v2"}
    without = Config.model_validate({"people": PEOPLE, "deliverable_rules": [{"projects": ["1"]}]})
    assert all(d.owner is None for d in derive_deliverables(without, {"1": tasks})[0])


def test_declared_deliverables_override_derived_ones() -> None:
    config = Config.model_validate(
        {
            "people": PEOPLE,
            "deliverable_rules": [{"projects": ["1"], "owner_from": "assignee"}],
            "deliverables": [
                {"key": "checkout-v2", "owner": "bob", "aliases": ["#checkout"]},  # by key: owner and aliases
                {"key": "payments", "title": "Payments", "asana_task": "14"},  # by task: replaces the derived one
                {"key": "search", "depends_on": ["payments"]},  # by key, owner left to the assignee
            ],
        }
    )
    tasks = [
        task("12", "Checkout v2", assignee_gid="501"),
        task("14", "Payments API", assignee_gid="501"),
        task("11", "Search", assignee_gid="501"),
        task("15", "Docs", assignee_gid="501"),
    ]
    derived, owned = derive_deliverables(config, {"1": tasks})
    merged = config.with_derived(derived, assignee_owned=owned)
    by_key = {d.key: d for d in merged.deliverables}
    assert set(by_key) == {"checkout-v2", "payments", "search", "docs"}
    assert (by_key["checkout-v2"].owner, by_key["checkout-v2"].asana_task, by_key["checkout-v2"].aliases) == (
        "bob", "12", ["#checkout"]
    )
    assert (by_key["search"].owner, by_key["search"].depends_on, by_key["search"].asana_task) == ("alice", ["payments"], "11")
    assert by_key["payments"].title == "Payments"
    assert [merged.owner_origin(k) for k in ("checkout-v2", "search", "docs", "payments")] == [
        "config", "asana:assignee", "asana:assignee", "config"
    ]
    assert merged.declared is config and not merged.rules_unresolved and config.rules_unresolved
    assert merged.with_derived(derived, assignee_owned=owned).deliverables == merged.deliverables
    assert merged.deliverable_index().linked("asana") == {"12": "checkout-v2", "14": "payments", "11": "search", "15": "docs"}
