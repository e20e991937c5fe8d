"""Pure mapping from Asana records to claims: status precedence, story dating, dates, events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from connectors.asana.connector import AsanaCursor, config_fingerprint, index_fingerprint
from connectors.asana.mapping import (
    compact_status_update,
    newest_status_update,
    read_status,
    status_update_claims,
    summarise_events,
    task_claims,
)
from connectors.base import CanonicalStatus, DeliverableIndex, DeliverableRef, Field
from connectors.config import AsanaConfig

PROJECT = "2001"
INDEX = {"3001": "checkout-v2", "3002": "payments-api", "3003": "search"}
BERLIN = ZoneInfo("Europe/Berlin")
CONFIG = AsanaConfig(projects=[PROJECT], section_map={"Done": CanonicalStatus.DONE, "Planned": "not_started"})
ALICE = {"gid": "501", "name": "Alice Ng", "email": "alice@acme.test"}
BOB = {"gid": "502", "name": "Bob Okafor"}


def task(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "gid": "3001",
        "name": "Checkout v2",
        "completed": False,
        "created_at": "2026-11-02T09:00:00.000Z",
        "modified_at": "2026-11-24T09:00:00.000Z",
        "due_on": None,
        "due_at": None,
        "assignee": None,
        "custom_fields": [],
        "memberships": [{"project": {"gid": PROJECT}, "section": {"gid": "2102", "name": "In progress"}}],
        "dependencies": [],
        "permalink_url": "https://app.asana.com/0/2001/3001",
    }
    base.update(fields)
    return base


def status_field(option: str | None, gid: str = "700") -> list[dict[str, Any]]:
    return [{"gid": gid, "name": "Status", "enum_value": {"gid": "70x", "name": option} if option else None}]


def story(subtype: str, at: str, by: dict[str, Any] | None = ALICE, **extra: Any) -> dict[str, Any]:
    return {"gid": f"s-{subtype}-{at}", "resource_subtype": subtype, "created_at": at, "created_by": by, **extra}


def claims_of(t: dict[str, Any], stories: list[dict[str, Any]] | None = None, config: AsanaConfig = CONFIG):
    out = task_claims(
        t, stories or [], project_gid=PROJECT, deliverable_key="checkout-v2", config=config, index=INDEX, tz=BERLIN
    )
    return {c.field: c for c in out}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# -- status ----------------------------------------------------------------------------------


def test_completed_beats_the_field_which_beats_the_section() -> None:
    done_section = [{"project": {"gid": PROJECT}, "section": {"gid": "2103", "name": "Done"}}]
    assert read_status(task(completed=True, custom_fields=status_field("Blocked")), project_gid=PROJECT, config=CONFIG).value == "done"  # type: ignore[union-attr]
    reading = read_status(task(custom_fields=status_field("Blocked"), memberships=done_section), project_gid=PROJECT, config=CONFIG)
    assert reading is not None and (reading.value, reading.excerpt) == ("blocked", "Status: Blocked")
    reading = read_status(task(custom_fields=status_field("Weird option"), memberships=done_section), project_gid=PROJECT, config=CONFIG)
    assert reading is not None and (reading.value, reading.excerpt) == ("done", "Section: Done")
    assert read_status(task(custom_fields=status_field(None)), project_gid=PROJECT, config=CONFIG) is None


def test_completed_status_and_field_name_come_from_config() -> None:
    config = AsanaConfig(status_field="Health", completed_status=CanonicalStatus.CANCELLED)
    t = task(custom_fields=[{"gid": "800", "name": "health", "enum_value": {"gid": "801", "name": "at risk"}}])
    assert read_status(t, project_gid=PROJECT, config=config).value == "at_risk"  # type: ignore[union-attr]
    assert read_status(task(completed=True), project_gid=PROJECT, config=config).value == "cancelled"  # type: ignore[union-attr]


def test_section_of_another_project_is_not_read() -> None:
    elsewhere = [{"project": {"gid": "2002"}, "section": {"gid": "2203", "name": "Done"}}]
    assert read_status(task(memberships=elsewhere), project_gid=PROJECT, config=CONFIG) is None


def test_status_is_dated_by_the_last_change_of_the_field_not_modified_at() -> None:
    stories = [
        story("enum_custom_field_changed", "2026-11-12T16:20:00.000Z", custom_field={"gid": "700", "name": "Status"}),
        story("enum_custom_field_changed", "2026-11-13T10:00:00.000Z", BOB, custom_field={"gid": "999", "name": "Priority"}),
        story("comment_added", "2026-11-20T10:00:00.000Z", BOB),
    ]
    status = claims_of(task(custom_fields=status_field("At risk")), stories)[Field.STATUS]
    assert (status.value, status.stated_at, status.author) == ("at_risk", at("2026-11-12T16:20:00"), "alice@acme.test")
    assert status.permalink == "https://app.asana.com/0/2001/3001" and status.excerpt == "Status: At risk"


def test_reopening_dates_the_field_status_again() -> None:
    stories = [
        story("enum_custom_field_changed", "2026-11-12T16:20:00.000Z", custom_field={"gid": "700", "name": "Status"}),
        story("marked_complete", "2026-11-14T10:00:00.000Z"),
        story("marked_incomplete", "2026-11-15T10:00:00.000Z", BOB),
    ]
    status = claims_of(task(custom_fields=status_field("On track")), stories)[Field.STATUS]
    assert (status.stated_at, status.author) == (at("2026-11-15T10:00:00"), "502")  # no email: the gid


def test_completion_is_dated_by_marked_complete_then_completed_at() -> None:
    stories = [story("marked_complete", "2026-11-20T17:30:00.000Z")]
    assert claims_of(task(completed=True), stories)[Field.STATUS].stated_at == at("2026-11-20T17:30:00")
    fallback = claims_of(task(completed=True, completed_at="2026-11-21T08:00:00.000Z"))[Field.STATUS]
    assert (fallback.stated_at, fallback.author) == (at("2026-11-21T08:00:00"), None)


def test_section_status_is_dated_by_the_move_into_that_section() -> None:
    done = [{"project": {"gid": PROJECT}, "section": {"gid": "2103", "name": "Done"}}]
    stories = [
        story("section_changed", "2026-11-19T10:00:00.000Z", new_section={"gid": "2103", "name": "Done"}),
        story("section_changed", "2026-11-20T10:00:00.000Z", BOB, new_section={"gid": "2209", "name": "Elsewhere"}),
    ]
    status = claims_of(task(memberships=done), stories)[Field.STATUS]
    assert (status.value, status.stated_at, status.excerpt) == ("done", at("2026-11-19T10:00:00"), "Section: Done")


def test_without_stories_a_field_is_dated_by_the_task_creation() -> None:
    status = claims_of(task(custom_fields=status_field("On track")))[Field.STATUS]
    assert (status.stated_at, status.author) == (at("2026-11-02T09:00:00"), None)


# -- other fields ----------------------------------------------------------------------------


def test_target_date_from_due_on_or_due_at_in_the_configured_timezone() -> None:
    stories = [
        story("due_date_changed", "2026-11-18T11:05:00.000Z"),
        story("start_date_changed", "2026-11-19T11:05:00.000Z", BOB),
    ]
    due = claims_of(task(due_on="2026-12-01"), stories)[Field.TARGET_DATE]
    assert (due.value, due.stated_at, due.excerpt) == ("2026-12-01", at("2026-11-18T11:05:00"), "Due: 2026-12-01")
    late_evening = claims_of(task(due_at="2026-12-01T23:30:00.000Z"))[Field.TARGET_DATE]
    assert late_evening.value == "2026-12-02"  # already Dec 2 in Berlin
    assert Field.TARGET_DATE not in claims_of(task())


def test_owner_is_the_assignee_email_dated_by_the_matching_assigned_story() -> None:
    stories = [
        story("assigned", "2026-11-10T10:00:00.000Z", BOB, assignee=BOB),
        story("assigned", "2026-11-16T10:00:00.000Z", BOB, assignee=ALICE),
    ]
    owner = claims_of(task(assignee=ALICE), stories)[Field.OWNER]
    assert (owner.value, owner.stated_at, owner.author, owner.excerpt) == (
        "alice@acme.test",
        at("2026-11-16T10:00:00"),
        "502",
        "Assignee: Alice Ng",
    )
    assert claims_of(task(assignee={"gid": "509"}))[Field.OWNER].value == "509"  # email hidden: the gid
    assert Field.OWNER not in claims_of(task())


def test_depends_on_is_one_claim_of_sorted_linked_keys() -> None:
    deps = [{"gid": "3003", "name": "Search"}, {"gid": "3777", "name": "Unlinked"}, {"gid": "3002", "name": "Payments"}]
    stories = [story("dependency_added", "2026-11-11T10:00:00.000Z")]
    claim = claims_of(task(dependencies=deps), stories)[Field.DEPENDS_ON]
    assert (claim.value, claim.excerpt, claim.stated_at) == (
        "payments-api,search",
        "Depends on: Payments, Search",
        at("2026-11-11T10:00:00"),
    )
    assert Field.DEPENDS_ON not in claims_of(task(dependencies=[{"gid": "3777"}]))


def test_all_claims_share_the_task_ref_and_are_state_claims() -> None:
    t = task(custom_fields=status_field("On track"), due_on="2026-12-01", assignee=ALICE, dependencies=[{"gid": "3002"}])
    found = claims_of(t)
    assert set(found) == {Field.STATUS, Field.TARGET_DATE, Field.OWNER, Field.DEPENDS_ON}
    assert {(c.source_ref, c.kind, c.deliverable_key) for c in found.values()} == {("3001", "state", "checkout-v2")}


# -- status updates --------------------------------------------------------------------------


def test_status_update_claims_map_the_status_type() -> None:
    updates = [
        {"gid": "1", "status_type": "on_track", "title": "old", "created_at": "2026-11-13T16:00:00.000Z"},
        {"gid": "2", "status_type": "off_track", "title": "Keys late", "created_at": "2026-11-20T16:00:00.000Z",
         "author": {"gid": "505", "email": "erin@acme.test"}},
    ]
    newest = newest_status_update(updates)
    assert newest is not None and newest["gid"] == "2"
    out = status_update_claims(compact_status_update(newest) or {}, project_gid=PROJECT, deliverable_keys=["search", "checkout-v2"], config=CONFIG)
    assert [(c.deliverable_key, c.value, c.source_ref, c.author) for c in out] == [
        ("checkout-v2", "at_risk", "status_update:2001", "erin@acme.test"),
        ("search", "at_risk", "status_update:2001", "erin@acme.test"),
    ]
    assert out[0].excerpt == "Project status: Off track — Keys late" and out[0].stated_at == at("2026-11-20T16:00:00")
    unmapped = {"status_type": "something_new", "created_at": "2026-11-20T16:00:00.000Z"}
    assert status_update_claims(unmapped, project_gid=PROJECT, deliverable_keys=["search"], config=CONFIG) == []


# -- events ----------------------------------------------------------------------------------


def ev(rtype: str, gid: str, action: str, parent: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"type": rtype, "action": action, "resource": {"gid": gid, "resource_type": rtype}, "parent": parent}


def test_events_fold_into_tasks_to_fetch_and_tasks_gone() -> None:
    events = [
        ev("task", "3001", "changed"),
        ev("story", "9001", "added", {"gid": "3002", "resource_type": "task"}),
        ev("task", "3003", "changed"),
        ev("task", "3003", "deleted"),
        ev("task", "3004", "removed", {"gid": PROJECT, "resource_type": "project"}),
        ev("task", "3005", "removed", {"gid": "2102", "resource_type": "section"}),  # moved, not gone
        ev("task", "3006", "removed", {"gid": "2002", "resource_type": "project"}),  # other project
        ev("task", "3007", "deleted"),
        ev("task", "3007", "undeleted"),
    ]
    summary = summarise_events(events, PROJECT, sections_matter=False)
    assert summary.changed == {"3001", "3002", "3005", "3006", "3007"}
    assert summary.gone == {"3003", "3004"}
    assert not summary.status and not summary.recrawl


def test_project_and_section_events() -> None:
    project_changed = [ev("project", PROJECT, "changed")]
    assert summarise_events(project_changed, PROJECT, sections_matter=False).status
    renamed = [ev("section", "2103", "changed", {"gid": PROJECT, "resource_type": "project"})]
    assert summarise_events(renamed, PROJECT, sections_matter=True).recrawl
    assert not summarise_events(renamed, PROJECT, sections_matter=False).recrawl


# -- cursor and fingerprint ------------------------------------------------------------------


def test_fingerprint_changes_with_mapping_only_and_the_index_has_its_own() -> None:
    index = DeliverableIndex.build([DeliverableRef("checkout-v2", {"asana": "3001"})])
    base = config_fingerprint(CONFIG, index, "UTC")
    assert base == config_fingerprint(CONFIG.model_copy(update={"requests_per_minute": 1500}), index, "UTC")
    assert base != config_fingerprint(CONFIG.model_copy(update={"status_field": "Health"}), index, "UTC")
    assert base != config_fingerprint(CONFIG, index, "Europe/Berlin")
    moved = DeliverableIndex.build([DeliverableRef("checkout-v2", {"asana": "3009"})])
    assert base == config_fingerprint(CONFIG, moved, "UTC")  # a changed index costs no crawl
    linked = index_fingerprint(index.linked("asana"))
    assert linked != index_fingerprint(moved.linked("asana"))
    assert linked != index_fingerprint({"3001": "payments-api"})
    assert linked == index_fingerprint({"3001": "checkout-v2"})


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "{",
        "[]",
        '{"v": 1, "mode": "events", "crawled_at": "x", "config": "c"}',  # events without a token
        '{"v": 1, "mode": "poll", "crawled_at": "x", "config": "c"}',  # poll without since
        '{"v": 1, "mode": "other", "crawled_at": "x", "config": "c", "sync": "t"}',
        '{"v": 1, "mode": "events", "crawled_at": "x", "config": "c", "sync": "t", "extra": 1}',
    ],
)
def test_a_cursor_that_is_not_ours_means_a_full_crawl(raw: str | None) -> None:
    assert AsanaCursor.load(raw) is None
