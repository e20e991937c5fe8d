"""The walking skeleton end to end: the sandbox over real HTTP, the official SDKs, a real store
(SQLite and PostgreSQL), the planted contradiction reaching its owner once, and its resolution
through the CLI with an audit event."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connectors.sandbox import Sandbox
from reconciler.cli import app
from reconciler.settings import get_settings
from tests.conftest import write_demo_config

pytestmark = pytest.mark.demo  # runs again with the clock moved ahead (test_demo.py)


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'e2e.db'}"
    request.getfixturevalue("postgres_engine")  # a clean schema for this test
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def cli(sandbox: Sandbox, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    config = write_demo_config(tmp_path)
    monkeypatch.setenv("ASANA_TOKEN", "asana-e2e-secret-token")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-e2e-secret-token")
    monkeypatch.setenv("ASANA_BASE_URL", sandbox.asana_base_url)
    monkeypatch.setenv("SLACK_BASE_URL", sandbox.slack_base_url)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("RECONCILER_CONFIG", str(config))
    get_settings.cache_clear()
    runner = CliRunner()

    def invoke(*args: str, ok: bool = True) -> str:
        result = runner.invoke(app, list(args), catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, result.output
        return result.stdout

    return invoke


def as_json(text: str):  # type: ignore[no-untyped-def]
    return json.loads(text)


def test_planted_contradiction_reaches_its_owner_once_and_is_resolved(cli, sandbox: Sandbox) -> None:  # type: ignore[no-untyped-def]
    synced = as_json(cli("sync", "--json"))
    assert {(r["source"], r["ok"]) for r in synced} == {("asana", True), ("slack", True)}
    assert sum(r["observations"] for r in synced) > 0

    cli("reconcile")
    conflicts = as_json(cli("conflicts", "list", "--json"))
    kinds = {(c["deliverable"], c["kind"]) for c in conflicts}
    assert ("checkout-v2", "status_contradiction") in kinds
    assert ("onboarding", "no_owner") in kinds
    assert not any(d == "search" and k == "status_contradiction" for d, k in kinds), "superseded message flagged"

    cli("notify")
    cli("notify")  # a second pass must not send again
    checkout = next(c for c in conflicts if c["deliverable"] == "checkout-v2" and c["kind"] == "status_contradiction")
    to_alice = [m for m in sandbox.posted_messages() if m.get("user") == "U01"]
    assert len(to_alice) == 1
    assert f"#{checkout['id']} Checkout v2" in to_alice[0]["text"] and "[Accept slack: blocked]" in to_alice[0]["text"]

    shown = as_json(cli("conflicts", "show", str(checkout["id"]), "--json"))
    assert {e["source"] for e in shown["evidence"]} == {"asana", "slack"}
    assert all(e["permalink"] for e in shown["evidence"])

    cli("conflicts", "resolve", str(checkout["id"]), "--accept", "slack", "-c", "payments API is down", "--by", "alice")
    after = as_json(cli("conflicts", "show", str(checkout["id"]), "--json"))
    assert after["state"] == "resolved"
    assert after["resolved_by"] == "alice"
    assert any(e["action"] == "resolved" and e["actor"] == "alice" for e in after["timeline"])

    cli("reconcile")  # nothing new: the resolution holds
    assert as_json(cli("conflicts", "show", str(checkout["id"]), "--json"))["state"] == "resolved"


def test_unknown_conflict_id_is_one_line(cli) -> None:  # type: ignore[no-untyped-def]
    runner = CliRunner()
    cli("sync")
    result = runner.invoke(app, ["conflicts", "show", "9999"])
    assert result.exit_code == 1
    assert result.stderr.strip().count("\n") == 0
    assert "9999" in result.stderr and "Traceback" not in result.output + result.stderr


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (("asana GET /projects/{gid}/tasks", {"status": 401}), "not authori"),
        (("conversations.history", {"slack_error": "invalid_auth"}), "invalid"),
    ],
)
def test_bad_tokens_are_one_line_and_write_nothing(cli, sandbox: Sandbox, failure, expected: str) -> None:  # type: ignore[no-untyped-def]
    endpoint, kwargs = failure
    sandbox.fail(endpoint, **kwargs)
    runner = CliRunner()
    result = runner.invoke(app, ["sync", "--json"])
    assert result.exit_code == 1
    reports = json.loads(result.stdout)
    failed = [r for r in reports if not r["ok"]]
    assert failed and expected in failed[0]["error"].lower()
    assert "secret-token" not in result.output + result.stderr
    status_run = runner.invoke(app, ["status", "--json"])
    assert status_run.exit_code == 1  # a failing partition is unhealthy
    broken = [p for p in json.loads(status_run.stdout)["partitions"] if p["last_error"]]
    assert broken and all(p["cursor"] is None and p["failing"] for p in broken)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the store plays no part here
def test_unreachable_api_is_one_line(cli, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("ASANA_BASE_URL", "http://127.0.0.1:9/api/1.0")
    monkeypatch.setenv("SLACK_BASE_URL", "http://127.0.0.1:9/api/")
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["sync", "--json"])
    assert result.exit_code == 1
    assert all(not r["ok"] for r in json.loads(result.stdout))
    assert "Traceback" not in result.output


def test_malformed_config_is_one_line(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.toml"
    bad.write_text('[[deliverables]]\nkey = "x"\nowner = "nobody"\n')
    result = CliRunner().invoke(app, ["sync", "-C", str(bad)])
    assert result.exit_code == 1
    assert result.stderr.strip() == f"error: {bad}: deliverables[0].owner: unknown person 'nobody'"
