"""A new user's whole path, non-interactively, against the sandbox over real HTTP: two tokens,
`reconciler init`, `config check --online`, `run --once` (the README's "Connect your
workspace" section is this path)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connectors.sandbox import Sandbox, bundled_scenario_path, load_scenario
from reconciler.cli import app
from reconciler.settings import get_settings
from tests.integration.test_cli import Cli

pytestmark = pytest.mark.demo  # the demo's story is told today: runs again with the clock moved ahead


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    with Sandbox(load_scenario(bundled_scenario_path("demo")), port=0) as sandbox:
        monkeypatch.setenv("ASANA_TOKEN", "asana-new-user-token")
        monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-new-user-token")
        monkeypatch.setenv("ASANA_BASE_URL", sandbox.asana_base_url)
        monkeypatch.setenv("SLACK_BASE_URL", sandbox.slack_base_url)
        monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'reconciler.db'}")
        get_settings.cache_clear()
        yield sandbox


def test_from_two_tokens_to_a_first_run(workspace: Sandbox, tmp_path: Path) -> None:
    cli = Cli()
    written = cli.ok("init", "--yes", "--lead", "bob")
    assert "Wrote reconciler.toml: 1 Asana project(s), 2 Slack channel(s), 6 people" in " ".join(written.split())
    config = Path("reconciler.toml").read_text()
    assert 'projects = ["2001"]' in config and '"At risk" = "at_risk"' in config and 'lead = "bob"' in config

    result = CliRunner().invoke(app, ["config", "check", "--online", "--json"])
    report = json.loads(result.stdout)
    assert (result.exit_code, report["problems"]) == (0, [])
    assert "deliverable rules make 5 deliverable(s) of Asana tasks (5 owned by their assignee)" in report["checked"]

    cli.ok("run", "--once")
    found = {(c["deliverable"], c["kind"]) for c in cli.json("conflicts", "list")}
    assert found == {
        ("checkout-v2", "status_contradiction"),  # Slack (#checkout) contradicts the Asana field
        ("launch-campaign", "dependency_cascade"),
        ("search-launch-post", "scheduled_before_ready"),
    }
    # the Asana assignees are told: `run --once` sent the DMs whose group_wait ended within
    # seconds; in the recipient's quiet hours they wait in the outbox instead
    slack_ids = {"alice": "U01", "dan": "U04", "fay": "U06"}
    sent = {m["user"] for m in workspace.posted_messages() if m.get("user") in slack_ids.values()}
    waiting = {slack_ids[m["recipient"]] for m in cli.json("notify", "--dry-run")}
    assert sent | waiting == set(slack_ids.values()) and not sent & waiting


def test_init_never_overwrites_without_asking(workspace: Sandbox) -> None:
    Path("reconciler.toml").write_text("# mine\n")
    message = Cli().error("init", "--yes")
    assert message == "error: reconciler.toml exists; pass --force to overwrite it, or -o to write elsewhere"
    assert Path("reconciler.toml").read_text() == "# mine\n"
    Cli().ok("init", "--yes", "--force", "--project", "Launch Q4", "--channel", "launches", "--no-rules")
    config = Path("reconciler.toml").read_text()
    assert 'channels = ["launches"]' in config and "[[deliverable_rules]]" not in config


def test_init_names_what_is_wrong(workspace: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    assert "unknown project 'Lanch Q4' (did you mean 'Launch Q4'?" in Cli().error("init", "--yes", "-p", "Lanch Q4")
    assert "unknown status field 'State'" in Cli().error("init", "--yes", "--status-field", "State")
    monkeypatch.delenv("SLACK_BOT_TOKEN")
    get_settings.cache_clear()
    assert Cli().error("init", "--yes") == "error: set SLACK_BOT_TOKEN first (README: Connect your workspace)"


def test_init_asks_on_a_terminal_with_the_proposals_as_defaults(
    workspace: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    import reconciler.cli.init as init_command

    monkeypatch.setattr(init_command, "_interactive", lambda: True)
    Path("reconciler.toml").write_text("# mine\n")
    refused = CliRunner().invoke(app, ["init"], input="n\n")
    assert refused.exit_code == 1 and Path("reconciler.toml").read_text() == "# mine\n"
    # overwrite: yes; projects: the default (all); status field: default; channels: 1 only; lead: carol
    answered = CliRunner().invoke(app, ["init"], input="y\n\n\n1\ncarol\n")
    assert answered.exit_code == 0, answered.output
    assert "Launch Q4 (2001): enum fields: Status (On track, At risk, Blocked, Done); sections: Planned, In progress, Done" in " ".join(answered.stdout.split())
    assert "#random (the bot is not in it: /invite it first)" in answered.stdout
    config = Path("reconciler.toml").read_text()
    assert 'channels = ["launches"]' in config and 'lead = "carol"' in config


def test_init_offers_the_teams_and_portfolios_it_finds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = json.loads(bundled_scenario_path("demo").read_text())
    data["asana"]["teams"] = [{"gid": "4001", "name": "Growth", "projects": ["2001"]}]
    data["asana"]["portfolios"] = [
        {"gid": "4101", "name": "Q4 launches", "projects": ["2001"], "owner": "501"},  # the token's user
        {"gid": "4102", "name": "Someone else's", "projects": ["2001"], "owner": "502"},
    ]
    scenario = tmp_path / "with-teams.json"
    scenario.write_text(json.dumps(data))
    with Sandbox(load_scenario(scenario), port=0) as sandbox:
        monkeypatch.setenv("ASANA_TOKEN", "asana-new-user-token")
        monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-new-user-token")
        monkeypatch.setenv("ASANA_BASE_URL", sandbox.asana_base_url)
        monkeypatch.setenv("SLACK_BASE_URL", sandbox.slack_base_url)
        get_settings.cache_clear()
        Cli().ok("init", "--yes")
    config = Path("reconciler.toml").read_text()
    assert "# every project of these teams can be synced too: teams = [<gid>, ...]\n# Growth (4001)\n" in config
    assert "# Q4 launches (4101)\n" in config and "4102" not in config
