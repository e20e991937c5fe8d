"""Errors a person reads: a failed partition's reason in full on its own line under the sync
table (at 80 columns too), in `sync --json`, and `status` exiting non-zero while it fails."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connectors.sandbox import Sandbox, bundled_scenario_path, load_scenario
from reconciler.cli import app
from reconciler.settings import get_settings
from tests.conftest import write_demo_config

REASON = "Slack channel launches (C01): the Slack token is invalid (check SLACK_BOT_TOKEN) (invalid_auth)"


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    from reconciler.cli.common import console

    with Sandbox(load_scenario(bundled_scenario_path("demo")), port=0) as sb:
        monkeypatch.setenv("ASANA_TOKEN", "asana-cli-errors-token")
        monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-cli-errors-token")
        monkeypatch.setenv("ASANA_BASE_URL", sb.asana_base_url)
        monkeypatch.setenv("SLACK_BASE_URL", sb.slack_base_url)
        monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'errors.db'}")
        monkeypatch.setenv("RECONCILER_CONFIG", str(write_demo_config(tmp_path)))
        monkeypatch.setattr(console, "_width", 80)  # piped into an 80-column terminal
        get_settings.cache_clear()
        yield sb
    get_settings.cache_clear()


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout


def test_a_failed_partition_reads_in_full(sandbox: Sandbox) -> None:
    sandbox.fail("conversations.history", slack_error="invalid_auth")
    code, out = invoke("sync", "slack")
    assert code == 1
    assert f"slack launches failed: {REASON}" in out.splitlines()  # one whole line, not a cell
    assert "failed (below)" in out

    code, out = invoke("sync", "slack", "--json")
    reports = {r["partition"]: r for r in json.loads(out)}
    assert code == 1 and reports["launches"]["error"] == REASON and not reports["launches"]["ok"]

    code, out = invoke("status")
    assert code == 1
    assert any(line.startswith("slack launches (") and line.endswith(REASON) for line in out.splitlines())
    code, out = invoke("status", "--json")
    failing = {p["partition"] for p in json.loads(out)["partitions"] if p["failing"]}
    assert code == 1 and failing == {"launches", "eng"}

    sandbox.clear_faults()
    assert invoke("sync", "slack")[0] == 0
    code, out = invoke("status")
    assert code == 0 and REASON not in out


def test_sync_of_a_source_not_registered_is_one_line(sandbox: Sandbox) -> None:
    result = CliRunner().invoke(app, ["sync", "jira"])
    assert result.exit_code != 0
    assert result.output.strip().splitlines() == ["error: 'jira' is not a source (sources: asana, slack)"]
    assert invoke("sync", "manual")[0] != 0
