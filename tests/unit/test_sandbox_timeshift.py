"""An anchored scenario is told relative to the day it is served (connectors/sandbox/timeshift.py)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from connectors.sandbox import bundled_scenario_path, load_scenario, parse_scenario
from connectors.sandbox.scenario import parse_iso
from connectors.sandbox.timeshift import render_dates, shifted


def _anchored() -> dict:
    return {
        "anchor": "2026-11-25",
        "asana": {
            "workspace": {"gid": "1000", "name": "Acme"},
            "users": [{"gid": "501", "name": "Alice Ng", "email": "alice@acme.test"}],
            "projects": [{"gid": "2001", "name": "P", "due_on": "2026-12-04",
                          "sections": [{"gid": "2101", "name": "S"}]}],
            "tasks": [{"gid": "3001", "name": "T", "projects": ["2001"], "section": "2101",
                       "due_on": "2026-12-01", "created_at": "2026-11-20T09:00:00Z",
                       "notes": "ships {{2026-12-01|%A %b %-d}}"}],
        },
        "slack": {
            "users": [{"id": "U01", "name": "alice"}],
            "channels": [{"id": "C01", "name": "launches", "created": 1762070400}],
            "messages": [
                {"channel": "C01", "ts": "1795428900.000100", "user": "U01", "text": "due {{2026-12-01|%a}}"},
                {"channel": "C01", "ts": "1795430400.000100", "user": "U01", "text": "ok",
                 "thread_ts": "1795428900.000100", "edited": {"user": "U01", "ts": "1795430500.000200"}},
            ],
        },
    }


@pytest.mark.parametrize("today", [date(2026, 11, 25), date(2027, 1, 4), date(2028, 2, 29), date(2026, 3, 1)])
def test_the_anchor_day_becomes_today_and_everything_moves_with_it(today: date) -> None:
    days = (today - date(2026, 11, 25)).days
    s = parse_scenario(_anchored(), today=today)
    assert s.days_shifted == days
    task = s.asana.tasks[0]
    due = date(2026, 12, 1) + timedelta(days=days)
    assert task.due_on == due.isoformat()
    assert s.asana.projects[0].due_on == (date(2026, 12, 4) + timedelta(days=days)).isoformat()
    assert parse_iso(task.created_at) == datetime(2026, 11, 20, 9, tzinfo=timezone.utc) + timedelta(days=days)
    assert task.notes == f"ships {due.strftime('%A %b')} {due.day}"
    first, reply = s.slack.messages
    assert first.text == f"due {due.strftime('%a')}"
    assert float(first.ts) == 1795428900.0001 + days * 86400
    assert reply.thread_ts == first.ts and reply.edited == {"user": "U01", "ts": f"{1795430500 + days * 86400}.000200"}
    assert s.slack.channels[0].created == 1762070400 + days * 86400


def test_a_scenario_without_anchor_stays_as_written() -> None:
    data = _anchored()
    del data["anchor"]
    s = parse_scenario(data, today=date(2030, 1, 1))
    assert s.days_shifted == 0 and s.asana.tasks[0].due_on == "2026-12-01"
    assert s.slack.messages[0].text == "due Tue"  # templates are rendered all the same


def test_a_bad_anchor_names_the_field() -> None:
    data = _anchored()
    data["anchor"] = "next tuesday"
    with pytest.raises(ValueError, match="scenario.anchor: expected a date YYYY-MM-DD"):
        parse_scenario(data)


def test_comments_are_not_moved() -> None:
    data = {"_notes": ["2026-11-25"], "anchor": "2026-11-25", "x": ["2026-11-25", "2026-11-25T10:00:00Z"]}
    moved = shifted(data, 2)
    assert moved == {"_notes": ["2026-11-25"], "anchor": "2026-11-25", "x": ["2026-11-27", "2026-11-27T10:00:00.000Z"]}


def test_render_dates_leaves_other_text_alone() -> None:
    assert render_dates("{not a template} {{2026-12-01|%d.%m.}}", timedelta(days=31)) == "{not a template} 01.01."


@pytest.mark.parametrize("today", [date(2026, 12, 4), date(2027, 1, 4), date(2028, 12, 4)])
def test_the_demo_keeps_its_story_on_any_day(today: date) -> None:
    """The planted cases keep their order relative to each other and to the day they are told."""
    s = load_scenario(bundled_scenario_path("demo"), today=today)
    start_of_today = datetime(today.year, today.month, today.day, tzinfo=timezone.utc)
    assert all(float(m.ts) < start_of_today.timestamp() for m in s.slack.messages)
    tasks = {t.gid: t for t in s.asana.tasks}
    assert date.fromisoformat(tasks["3005"].due_on) - today == timedelta(days=8)  # the campaign: 8 days out
    assert tasks["3006"].due_on < tasks["3003"].due_on  # the post is scheduled before search is due
    blocked = next(m for m in s.slack.messages if "checkout-v2 is blocked" in m.text)
    on_track = max(parse_iso(st.created_at) for st in tasks["3001"].stories
                   if st.resource_subtype == "enum_custom_field_changed")
    assert float(blocked.ts) > on_track.timestamp()
    provider = next(m for m in s.slack.messages if m.text.startswith("Sorry, the provider"))
    assert today.strftime("%A") in provider.text  # "Wednesday at the earliest" is the anchor day, today
    assert "{{" not in "".join(m.text for m in s.slack.messages)
