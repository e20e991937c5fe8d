"""`config check --online` against the sandbox over real HTTP (the official asana SDK and
slack-sdk): everything the file names is asked of the APIs and every problem is listed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from connectors.sandbox import Sandbox, bundled_scenario_path, load_scenario
from reconciler.cli import app
from reconciler.settings import get_settings
from tests.conftest import write_demo_config

MISCONFIGURED = """
[asana]
workspace = "1000"
projects = ["2001", "Launch Q4", "999"]
status_field = "State"
section_map = { "Doen" = "done" }
[slack]
channels = ["launches", "engg", "random"]
[[people]]
key = "alice"
name = "Alice"
email = "alice@acme.test"
[[people]]
key = "zed"
name = "Zed"
slack_id = "U99"
asana_gid = "599"
[[people]]
key = "yan"
name = "Yan"
[[deliverables]]
key = "checkout-v2"
asana_task = "3001"
[[deliverables]]
key = "gone"
asana_task = "3999"
[[deliverable_rules]]
projects = ["2001"]
sections = ["In progres"]
custom_field = { Status = "Onn track" }
"""


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    with Sandbox(load_scenario(bundled_scenario_path("demo")), port=0) as sb:
        monkeypatch.setenv("ASANA_TOKEN", "asana-online-check-token")
        monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-online-check-token")
        monkeypatch.setenv("ASANA_BASE_URL", sb.asana_base_url)
        monkeypatch.setenv("SLACK_BASE_URL", sb.slack_base_url)
        get_settings.cache_clear()
        yield sb


def check(path: Path) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(app, ["config", "check", "--online", "--json", "-C", str(path)])
    return result.exit_code, json.loads(result.stdout)


def test_the_demo_config_checks_out_online(sandbox: Sandbox, tmp_path: Path) -> None:
    code, report = check(write_demo_config(tmp_path))
    assert (code, report["ok"], report["problems"]) == (0, True, [])
    assert "6 of 6 people found in Slack" in report["checked"]
    assert "6 deliverable task(s) readable in Asana" in report["checked"]


def test_every_online_problem_is_listed_with_the_closest_value(sandbox: Sandbox, tmp_path: Path) -> None:
    path = tmp_path / "reconciler.toml"
    path.write_text(MISCONFIGURED)
    code, report = check(path)
    assert code == 1 and not report["ok"]
    found = {(p["field"], p["suggestion"]) for p in report["problems"]}
    assert found == {
        ("asana.projects[1]", "2001"),  # a project name where a gid belongs
        ("asana.projects[2]", None),  # no such project
        ("asana.status_field", "Status"),
        ("asana.section_map.Doen", "Done"),
        ("deliverables[1].asana_task", None),
        ("people[1].ids.asana", None),
        ("slack.channels[1]", "eng"),
        ("slack.channels[2]", None),  # exists, but the bot is not in it
        ("people[1].ids.slack", None),
        ("people[2]", None),  # neither a Slack id nor an email
        ("deliverable_rules[0].sections", "In progress"),
        ("deliverable_rules[0].custom_field.Status", "On track"),
    }
    messages = {p["field"]: p["message"] for p in report["problems"]}
    assert messages["slack.channels[2]"] == "the bot is not in #random (invite it there: /invite @your-app)"
    assert "no enum custom field 'State' in project 'Launch Q4' (2001); its enum fields: Status" == messages["asana.status_field"]
    assert "3999" in messages["deliverables[1].asana_task"]


def test_revoked_tokens_and_missing_scopes(sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write_demo_config(tmp_path)
    sandbox.slack.scopes = [s for s in sandbox.slack.scopes if s != "users:read.email"]
    code, report = check(config)
    assert code == 1
    assert [p["message"] for p in report["problems"]] == [
        "the app lacks the scope(s) users:read.email (add them under OAuth & Permissions, then reinstall the app)"
    ]
    monkeypatch.setenv("ASANA_TOKEN", "asana-revoked")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-revoked")
    get_settings.cache_clear()
    code, report = check(config)
    assert code == 1
    assert [p["field"] for p in report["problems"]] == ["ASANA_TOKEN", "SLACK_BOT_TOKEN"]
    assert "check ASANA_TOKEN" in report["problems"][0]["message"]
    assert "invalid_auth" in report["problems"][1]["message"]
    assert "asana-revoked" not in json.dumps(report) and "xoxb-revoked" not in json.dumps(report)


def test_without_tokens_the_online_check_says_which_variable(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["config", "check", "--online", "-C", str(write_demo_config(tmp_path))])
    assert result.exit_code == 1
    assert "ASANA_TOKEN: not set" in result.stderr and "SLACK_BOT_TOKEN: not set" in result.stderr
