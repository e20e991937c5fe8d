"""Typos a person can make at the CLI and in the config file: each named with the closest valid
value and the valid list, every config problem in one run, nothing accepted silently."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.settings import get_settings
from tests.integration.test_cli import Cli

KIND_HINT = "unknown kind 'stal' (did you mean 'stale'? valid: status_contradiction, date_contradiction"


@pytest.mark.parametrize(
    "args",
    [
        ("conflicts", "list", "-k", "stal"),
        ("conflicts", "list", "kind=stal"),
        ("snooze", "add", "kind=stal", "-d", "1d", "-c", "known"),
    ],
)
def test_unknown_finding_kind_is_rejected_with_the_valid_list(args: tuple[str, ...]) -> None:
    message = Cli().error(*args)
    assert KIND_HINT in message and "source_deleted" in message


def test_a_kind_glob_must_match_some_kind() -> None:
    assert "unknown kind 'stall*'" in Cli().error("snooze", "add", "kind=stall*", "-d", "1d", "-c", "x")
    assert "unknown severity 'hihg' (did you mean 'high'?" in Cli().error("conflicts", "list", "severity=hihg")
    assert "unknown state 'opne' (did you mean 'open'?" in Cli().error("conflicts", "list", "-s", "opne")


def test_unsupported_database_scheme_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "mysql://app:secret@db-host/reconciler")
    get_settings.cache_clear()
    message = Cli().error("conflicts", "list")
    assert message == (
        "error: DATABASE_URL: unsupported database 'mysql' "
        "(use sqlite:///path/to/file.db or postgresql://user@host/db)"
    )


BROKEN = """
[asana]
projetcs = ["1"]
[[people]]
key = "alice"
name = "Alice"
[[deliverables]]
key = "checkout"
owner = "alcie"
"""


def test_config_check_reports_every_problem_in_one_run(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text(BROKEN)
    result = CliRunner().invoke(app, ["config", "check", "-C", str(path)])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"error: {path}: asana.projetcs: unknown field (did you mean 'projects'?)",
        f"error: {path}: deliverables[0].owner: unknown person 'alcie' (did you mean 'alice'?)",
        f"2 problems in {path}",
    ]
    as_json = CliRunner().invoke(app, ["config", "check", "-C", str(path), "--json"])
    assert as_json.exit_code == 1
    assert json.loads(as_json.stdout)["problems"][1] == {
        "field": "deliverables[0].owner",
        "message": "unknown person 'alcie'",
        "suggestion": "alice",
    }
