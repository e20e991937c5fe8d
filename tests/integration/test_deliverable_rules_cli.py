"""Deliverables declared by rule, end to end against the sandbox: every open task of the
project becomes a deliverable under the slug of its title, the Asana assignee owns it, a
declared owner or `owners set` wins, and `owners list` says where each owner came from."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.sandbox import Sandbox, bundled_scenario_path, load_scenario
from reconciler.pipeline import EXAMPLE_CONFIG
from reconciler.settings import get_settings
from tests.integration.test_cli import Cli

PEOPLE = EXAMPLE_CONFIG.read_text().split("[[roles]]")[0].split("[slack]")[1].split("\n", 2)[2]

CONFIG = f"""
timezone = "Europe/Berlin"
[asana]
workspace = "1000"
status_field = "Status"
[slack]
channels = ["launches", "eng"]
{PEOPLE}
[[deliverable_rules]]
projects = ["2001"]
owner_from = "assignee"

[[deliverables]]
key = "checkout-v2"
owner = "carol"
aliases = ["#checkout", "checkout"]
"""


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Cli, Sandbox]]:
    with Sandbox(load_scenario(bundled_scenario_path("demo")), port=0) as sandbox:
        config = tmp_path / "reconciler.toml"
        config.write_text(CONFIG)
        monkeypatch.setenv("ASANA_TOKEN", "asana-rules-test-token")
        monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-rules-test-token")
        monkeypatch.setenv("ASANA_BASE_URL", sandbox.asana_base_url)
        monkeypatch.setenv("SLACK_BASE_URL", sandbox.slack_base_url)
        monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'rules.db'}")
        monkeypatch.setenv("RECONCILER_CONFIG", str(config))
        monkeypatch.setenv("USER", "lead")
        get_settings.cache_clear()
        yield Cli(), sandbox


def owners(cli: Cli) -> dict[str, tuple[str | None, str | None]]:
    return {o["deliverable"]: (o["owner"], o["set_by"]) for o in cli.json("owners", "list")}


def test_rule_deliverables_with_assignee_owners_and_overrides(cli: tuple[Cli, Sandbox]) -> None:
    runner, sandbox = cli
    checked = runner.ok("config", "check", "--online")
    assert "deliverable rules make 5 deliverable(s) of Asana tasks (4 owned by their assignee)" in checked
    runner.ok("sync")
    assert owners(runner) == {
        "checkout-v2": ("carol", "config"),  # declared owner wins over the assignee (alice)
        "payments-api": ("bob", "asana:assignee"),
        "search-relevance": ("carol", "asana:assignee"),
        "launch-campaign": ("dan", "asana:assignee"),
        "search-launch-post": ("fay", "asana:assignee"),
        # "Onboarding flow" is completed: a rule takes open tasks unless include_completed
    }
    titles = {d["key"]: d["title"] for d in runner.json("deliverables", "list")}
    assert titles["search-launch-post"] == "Search launch post"
    runner.ok("reconcile")
    status = {d["key"]: d["status"] for d in runner.json("deliverables", "list")}
    assert status["payments-api"] == "at_risk"  # claims from Asana reach the derived deliverable
    runner.ok("owners", "set", "payments-api", "erin", "-c", "Erin takes payments")
    sandbox.asana.add_task(
        {"gid": "3010", "name": "Launch day", "projects": ["2001"], "assignee": "505", "resource_subtype": "milestone"}
    )
    runner.ok("sync")
    after = owners(runner)
    assert after["payments-api"] == ("erin", "cli:lead")  # owners set wins over the assignee from then on
    assert after["launch-day"] == ("erin", "asana:assignee")
    runner.ok("reconcile")
    assert runner.json("conflicts", "list", "-k", "no_owner") == []
