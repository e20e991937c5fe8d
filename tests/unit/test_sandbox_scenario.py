"""Scenario loading and validation for connectors.sandbox."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connectors.sandbox import Scenario, bundled_scenario_path, load_scenario, parse_scenario
from connectors.sandbox.scenario import parse_iso


def _minimal() -> dict:
    return {
        "asana": {
            "workspace": {"gid": "1000", "name": "Acme"},
            "users": [{"gid": "501", "name": "Alice Ng", "email": "alice@acme.test"}],
            "custom_fields": [{"gid": "700", "name": "Status", "type": "enum",
                               "enum_options": [{"gid": "701", "name": "On track"}]}],
            "projects": [{"gid": "2001", "name": "P", "sections": [{"gid": "2101", "name": "S"}]}],
            "tasks": [{"gid": "3001", "name": "T", "projects": ["2001"], "section": "2101", "assignee": "501",
                       "custom_fields": {"700": "701"}, "due_on": "2026-12-01"}],
        },
        "slack": {
            "users": [{"id": "U01", "name": "alice", "profile": {"email": "alice@acme.test"}}],
            "channels": [{"id": "C01", "name": "launches"}],
            "messages": [{"channel": "C01", "ts": "1763900000.000100", "user": "U01", "text": "hi"}],
        },
    }


def test_demo_scenario_loads_and_has_the_planted_cases() -> None:
    path = bundled_scenario_path("demo")
    assert path.name == "demo.json" and path.is_file()
    s = load_scenario(path)
    assert isinstance(s, Scenario)
    assert s.notes and "CONTRADICTION" in " ".join(s.notes)
    tasks = {t.gid: t for t in s.asana.tasks}
    assert set(tasks) == {"3001", "3002", "3003", "3004", "3005", "3006"}
    assert tasks["3001"].custom_fields["700"] == "701"  # On track
    assert tasks["3005"].dependencies == ["3001"]
    emails_asana = {u.email for u in s.asana.users}
    emails_slack = {u.profile["email"] for u in s.slack.users}
    assert emails_asana == emails_slack and len(emails_asana) == 6
    # the contradiction is newer than the last Status change of 3001
    last_status_change = max(parse_iso(st.created_at) for st in tasks["3001"].stories
                             if st.resource_subtype == "enum_custom_field_changed")
    blocked = [m for m in s.slack.messages if "checkout-v2 is blocked waiting on the payments API" in m.text]
    assert len(blocked) == 1 and float(blocked[0].ts) > last_status_change.timestamp()
    assert "https://app.asana.com/0/2001/3001" in blocked[0].text
    # the false friend is older than the Status change of 3003
    search_change = max(parse_iso(st.created_at) for st in tasks["3003"].stories
                        if st.resource_subtype == "enum_custom_field_changed")
    search = [m for m in s.slack.messages if m.text.startswith("#search is blocked")]
    assert len(search) == 1 and float(search[0].ts) < search_change.timestamp()
    subtypes = {m.subtype for m in s.slack.messages}
    assert {"channel_join", "bot_message", "thread_broadcast"} <= subtypes
    assert any("is onboarding done?" in m.text for m in s.slack.messages)


def test_unknown_bundled_scenario() -> None:
    with pytest.raises(ValueError, match="no bundled scenario named 'nope'"):
        bundled_scenario_path("nope")


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d["asana"]["tasks"][0].update(due_on="1 Dec"),
         r"scenario\.asana\.tasks\[0\]\.due_on: expected a date"),
        (lambda d: d["asana"]["tasks"][0].update(assignee="999"), r"tasks\[0\]\.assignee: unknown user gid '999'"),
        (lambda d: d["asana"]["tasks"][0].update(custom_fields={"700": "799"}), r"custom_fields\.700: '799' is not"),
        (lambda d: d["asana"]["tasks"][0].update(colour="red"), r"tasks\[0\]\.colour: unknown field"),
        (lambda d: d["asana"]["tasks"][0].update(created_at="yesterday"), r"tasks\[0\]\.created_at: expected an ISO"),
        (lambda d: d["asana"]["tasks"][0].pop("name"), r"tasks\[0\]\.name: missing required field"),
        (lambda d: d["asana"]["tasks"][0].update(section="2999"), r"tasks\[0\]\.section"),
        (lambda d: d["asana"]["tasks"][0].update(dependencies=["3999"]), r"dependencies\[0\]: unknown task"),
        (lambda d: d["slack"]["messages"][0].update(ts="12"), r"messages\[0\]\.ts: expected a Slack ts"),
        (lambda d: d["slack"]["messages"][0].update(channel="C99"), r"messages\[0\]\.channel: unknown channel"),
        (lambda d: d["slack"]["messages"][0].update(thread_ts="1763000000.000100"), r"messages\[0\]\.thread_ts"),
        (lambda d: d["slack"]["channels"][0].update(is_member="yes"), r"channels\[0\]\.is_member: expected true"),
        (lambda d: d.update(invalid_tokens="x"), r"scenario\.invalid_tokens: expected a list"),
    ],
)
def test_validation_names_the_field(mutate, message) -> None:  # type: ignore[no-untyped-def]
    data = _minimal()
    mutate(data)
    with pytest.raises(ValueError, match=message):
        parse_scenario(data)


def test_load_scenario_reports_file_and_json_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{ nope")
    with pytest.raises(ValueError, match=r"bad\.json: invalid JSON at line 1"):
        load_scenario(bad)
    with pytest.raises(ValueError, match="cannot read scenario file"):
        load_scenario(tmp_path / "missing.json")
    good = tmp_path / "good.json"
    data = _minimal()
    data["_notes"] = "comment keys are ignored"
    data["asana"]["tasks"][0]["_why"] = "also ignored"
    good.write_text(json.dumps(data))
    s = load_scenario(good)
    assert s.asana.tasks[0].modified_at == "2026-11-01T09:00:00.000Z"
    assert s.notes == "comment keys are ignored"
