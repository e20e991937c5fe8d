"""Every admin command through the real CLI: JSON output parsed and checked, each bad input one
line and a non-zero exit, and decisions verified through what the notifier would send."""

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

pytestmark = pytest.mark.demo  # runs again with the clock moved ahead (test_demo.py)


class Cli:
    def __init__(self) -> None:
        self.runner = CliRunner()

    def ok(self, *args: str) -> str:
        result = self.runner.invoke(app, list(args), catch_exceptions=False)
        assert result.exit_code == 0, f"{args}: {result.output}"
        return result.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "-o", "json"))

    def error(self, *args: str) -> str:
        """A user error: exit 1, one line on stderr, no traceback."""
        result = self.runner.invoke(app, list(args))
        assert result.exit_code == 1, f"{args}: exit {result.exit_code}: {result.output}"
        message = result.stderr.strip()
        assert message.startswith("error: ") and "\n" not in message, message
        assert "Traceback" not in result.output
        return message


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cli]:
    with Sandbox(load_scenario(bundled_scenario_path("demo")), port=0) as sandbox:
        config = write_demo_config(tmp_path)
        monkeypatch.setenv("ASANA_TOKEN", "asana-cli-test-token")
        monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-cli-test-token")
        monkeypatch.setenv("ASANA_BASE_URL", sandbox.asana_base_url)
        monkeypatch.setenv("SLACK_BASE_URL", sandbox.slack_base_url)
        monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
        monkeypatch.setenv("RECONCILER_CONFIG", str(config))
        monkeypatch.setenv("USER", "lead")
        get_settings.cache_clear()
        runner = Cli()
        runner.ok("sync")
        runner.ok("reconcile")
        yield runner


def conflict_id(cli: Cli, deliverable: str, kind: str) -> int:
    rows = cli.json("conflicts", "list", "--state", "all")
    return next(r["id"] for r in rows if r["deliverable"] == deliverable and r["kind"] == kind)


def dry_run(cli: Cli) -> list[dict[str, Any]]:
    return cli.json("notify", "--dry-run")


# -- conflicts ------------------------------------------------------------------------------


DEMO_FINDINGS = {
    ("checkout-v2", "status_contradiction"),  # Slack contradicts Asana
    ("launch-campaign", "dependency_cascade"),  # on track while checkout-v2 is blocked
    ("search-post", "scheduled_before_ready"),  # dated before search is due
    ("onboarding", "no_owner"),
}


def test_conflicts_list_filters_and_ids(cli: Cli) -> None:
    rows = cli.json("conflicts", "list")
    assert {(r["deliverable"], r["kind"]) for r in rows} == DEMO_FINDINGS
    assert all(r["state"] in ("open", "acknowledged") for r in rows)
    only = cli.json("conflicts", "list", "-k", "no_owner")
    assert [r["deliverable"] for r in only] == ["onboarding"]
    assert cli.json("conflicts", "list", "-d", "search") == []
    ids = cli.ok("conflicts", "list", "-q").split()
    assert sorted(map(int, ids)) == sorted(r["id"] for r in rows)
    assert cli.error("conflicts", "list", "--state", "closed").endswith("(use acknowledged, dismissed, open, resolved or all)")
    assert [r["deliverable"] for r in cli.json("conflicts", "list", "--owner", "alice")] == ["checkout-v2"]
    engineering = {r["deliverable"] for r in cli.json("conflicts", "list", "--role", "engineering")}
    marketing = {r["deliverable"] for r in cli.json("conflicts", "list", "--role", "marketing")}
    assert (engineering, marketing) == ({"checkout-v2", "onboarding"}, {"launch-campaign", "search-post"})
    assert len(cli.json("conflicts", "list", "--since", "1h")) == len(rows)
    assert [r["kind"] for r in cli.json("conflicts", "list", "kind=status*")] == ["status_contradiction"]
    assert [r["deliverable"] for r in cli.json("conflicts", "list", "owner=")] == ["onboarding"]
    assert "unknown matcher" in cli.error("conflicts", "list", "colour=red")
    assert "not a duration" in cli.error("conflicts", "list", "--since", "recently")


def test_conflicts_show_evidence_side_by_side(cli: Cli) -> None:
    cid = conflict_id(cli, "checkout-v2", "status_contradiction")
    shown = cli.json("conflicts", "show", str(cid))
    assert shown["id"] == cid and shown["state"] == "open"
    by_source = {e["source"] for e in shown["evidence"]}
    assert by_source == {"asana", "slack"}
    assert any(e["value"] == "blocked" and "waiting on" in e["excerpt"] for e in shown["evidence"])
    assert shown["timeline"][0]["action"] == "opened"
    text = cli.ok("conflicts", "show", str(cid))
    assert "Evidence" in text and f"conflicts resolve {cid}" in text
    assert "9999" in cli.error("conflicts", "show", "9999")


def test_ack_dismiss_reopen_several_ids(cli: Cli) -> None:
    a = conflict_id(cli, "checkout-v2", "status_contradiction")
    b = conflict_id(cli, "onboarding", "no_owner")
    cli.ok("conflicts", "ack", str(a), str(b), "-c", "on it")
    states = {r["id"]: r["state"] for r in cli.json("conflicts", "list")}
    assert states[a] == states[b] == "acknowledged"
    assert "comment is required" in cli.error("conflicts", "dismiss", str(b))
    cli.ok("conflicts", "dismiss", str(b), "-c", "owner being hired")
    assert cli.json("conflicts", "show", str(b))["state"] == "dismissed"
    assert "already" in cli.error("conflicts", "dismiss", str(b), "-c", "again")
    cli.ok("conflicts", "reopen", str(b), "-c", "hired")
    assert cli.json("conflicts", "show", str(b))["state"] == "open"
    actions = [e["action"] for e in cli.json("audit", "--conflict", str(b))]
    assert actions[:3] == ["reopened", "dismissed", "acknowledged"]


def test_resolve_needs_a_comment_and_one_answer(cli: Cli) -> None:
    cid = conflict_id(cli, "checkout-v2", "status_contradiction")
    assert "comment is required" in cli.error("conflicts", "resolve", str(cid), "--accept", "slack")
    assert "say which source to accept" in cli.error("conflicts", "resolve", str(cid), "-c", "x")
    assert "not both" in cli.error("conflicts", "resolve", str(cid), "--accept", "slack", "--status", "done", "-c", "x")
    unowned = conflict_id(cli, "onboarding", "no_owner")
    assert "goes alone" in cli.error("conflicts", "resolve", str(unowned), "--status", "done", "--owner", "dan", "-c", "x")
    assert "name one (--owner PERSON)" in cli.error("conflicts", "resolve", str(unowned), "-c", "dan takes it")
    assert "person 'zed' does not exist" in cli.error("conflicts", "resolve", str(unowned), "--owner", "zed", "-c", "x")
    cli.ok("conflicts", "resolve", str(unowned), "--owner", "dan", "-c", "dan takes it from Monday")
    assert cli.json("conflicts", "show", str(unowned))["state"] == "resolved"
    assert {o["deliverable"]: o["owner"] for o in cli.json("owners", "list")}["onboarding"] == "dan"
    assert "jira" in cli.error("conflicts", "resolve", str(cid), "--accept", "jira", "-c", "x")
    bad_date = CliRunner().invoke(app, ["conflicts", "resolve", str(cid), "--date", "next week", "-c", "x"])
    assert bad_date.exit_code == 2


def test_resolution_sets_canonical_state_and_tells_the_owner(cli: Cli) -> None:
    cid = conflict_id(cli, "checkout-v2", "status_contradiction")
    cli.ok("notify")
    cli.ok("conflicts", "resolve", str(cid), "--status", "blocked", "-c", "payments keys missing", "--by", "erin")
    board = {d["key"]: d for d in cli.json("deliverables", "list")}
    assert board["checkout-v2"]["status"] == "blocked"
    notices = dry_run(cli)
    assert any(n["reason"] == "resolved" and "erin" in n["text"].lower() for n in notices)
    assert "already resolved" in cli.error("conflicts", "resolve", str(cid), "--accept", "asana", "-c", "x")


# -- snoozes --------------------------------------------------------------------------------


def test_snooze_silences_what_it_matches_until_expired(cli: Cli) -> None:
    assert "duration" in cli.error("snooze", "add", "deliverable=onboarding", "-d", "soon", "-c", "hiring")
    assert "matcher" in cli.error("snooze", "add", "colour=red", "-d", "2d", "-c", "x")
    assert "KEY=VALUE" in cli.error("snooze", "add", "onboarding", "-d", "2d", "-c", "x")
    cli.ok("snooze", "add", "deliverable=onboarding", "-d", "2d", "-c", "owner being hired")
    (snooze,) = cli.json("snooze", "list")
    assert snooze["state"] == "active" and snooze["matchers"] == {"deliverable": "onboarding"}
    recipients_reasons = [(n["recipient"], n["reason"]) for n in dry_run(cli)]
    texts = " ".join(n["text"] for n in dry_run(cli))
    assert "Onboarding" not in texts and "Checkout" in texts, recipients_reasons
    cli.ok("snooze", "expire", str(snooze["id"]))
    assert cli.json("snooze", "list") == []
    assert cli.json("snooze", "list", "--all")[0]["state"] == "expired"
    assert "Onboarding" in " ".join(n["text"] for n in dry_run(cli))
    assert "999" in cli.error("snooze", "expire", "999")


# -- deliverables, owners, claims, audit ----------------------------------------------------


def test_deliverables_board_and_history(cli: Cli) -> None:
    board = {d["key"]: d for d in cli.json("deliverables", "list")}
    assert set(board) == {"checkout-v2", "payments-api", "search", "onboarding", "launch-campaign", "search-post"}
    assert board["search"]["status"] == "on_track"
    assert board["checkout-v2"]["conditions"]["StatusAgrees"]["status"] is False
    assert board["onboarding"]["owner"] is None
    history = cli.json("deliverables", "show", "search")
    sources = {c["source"] for c in history["claims"]}
    assert sources == {"asana", "slack"}
    assert all(c["permalink"] for c in history["claims"] if c["source"] == "slack")
    assert "nope" in cli.error("deliverables", "show", "nope")


def test_owners_set_and_import_are_audited(cli: Cli, tmp_path: Path) -> None:
    cli.ok("owners", "set", "onboarding", "alice", "-c", "she shipped it")
    owners = {o["deliverable"]: o for o in cli.json("owners", "list")}
    assert owners["onboarding"]["owner"] == "alice" and owners["onboarding"]["set_by"] == "cli:lead"
    cli.ok("reconcile")
    assert cli.json("conflicts", "list", "-k", "no_owner") == []
    assert "zed" in cli.error("owners", "set", "onboarding", "zed")
    assert "nope" in cli.error("owners", "set", "nope", "alice")
    good = tmp_path / "owners.csv"
    good.write_text("deliverable,owner\nsearch,bob\npayments-api,bob\n")
    cli.ok("owners", "import", str(good))
    assert {o["deliverable"]: o["owner"] for o in cli.json("owners", "list")}["search"] == "bob"
    bad = tmp_path / "bad.csv"
    bad.write_text("deliverable,owner\nsearch,carol\nmissing,alice\n")
    assert f"{bad}:3" in cli.error("owners", "import", str(bad))
    assert {o["deliverable"]: o["owner"] for o in cli.json("owners", "list")}["search"] == "bob"  # all or nothing
    headerless = tmp_path / "headerless.csv"
    headerless.write_text("search,bob\n")
    assert "header" in cli.error("owners", "import", str(headerless))
    changes = cli.json("audit", "-d", "search")
    assert [(e["action"], e["details"]["to"]) for e in changes] == [("owner_changed", "bob")]


def test_manual_claim_is_a_source(cli: Cli) -> None:
    cli.ok("claim", "search", "--status", "blocked", "--by", "carol", "-c", "standup: index build failed again")
    cli.ok("reconcile")
    kinds = {(r["deliverable"], r["kind"]) for r in cli.json("conflicts", "list")}
    assert ("search", "status_contradiction") in kinds
    cid = conflict_id(cli, "search", "status_contradiction")
    assert "manual" in {e["source"] for e in cli.json("conflicts", "show", str(cid))["evidence"]}
    assert "say what was claimed" in cli.error("claim", "search", "--by", "carol", "-c", "x")
    assert "zed" in cli.error("claim", "search", "--status", "done", "--by", "zed", "-c", "x")


def test_audit_lists_who_did_what(cli: Cli) -> None:
    cid = conflict_id(cli, "checkout-v2", "status_contradiction")
    cli.ok("conflicts", "ack", str(cid), "--by", "alice", "-c", "looking")
    events = cli.json("audit", "--since", "1h", "--actor", "alice")
    assert [(e["action"], e["conflict_id"], e["comment"]) for e in events] == [("acknowledged", cid, "looking")]
    assert "duration" in cli.error("audit", "--since", "yesterday")


# -- routing, status, config ----------------------------------------------------------------


def test_route_test_explains_without_sending(cli: Cli) -> None:
    plan = cli.json("route", "test", "checkout-v2")
    assert plan["owner"] == "alice"
    assert [s["recipient"] for s in plan["steps"]] == ["alice", "bob", "erin"]
    unowned = cli.json("route", "test", "onboarding")
    assert unowned["steps"][0]["recipient"] == "bob"  # no owner and no escalation contact: the lead
    # onboarding names no role: the engineering zone holds the Asana project its task is in
    assert (unowned["role"], unowned["role_reason"]) == ("engineering", "the engineering zone holds its Asana project 2001")
    assert "nope" in cli.error("route", "test", "nope")


def test_status_and_config_check(cli: Cli, tmp_path: Path) -> None:
    status = cli.json("status")
    assert {p["partition"] for p in status["partitions"]} == {"2001", "launches", "eng"}
    assert all(p["last_success_at"] and p["cursor"] for p in status["partitions"])
    assert status["last_full_reconcile"]
    assert "ok" in cli.ok("config", "check")
    bad = tmp_path / "bad.toml"
    bad.write_text("[alerts]\ngroup_wait = 5\n")
    assert "alerts.group_wait" in cli.error("config", "check", "-C", str(bad))


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://nobody@127.0.0.1:1/nowhere", "cannot open the store at postgresql+psycopg://nobody@127.0.0.1:1/nowhere"),
        ("sqlite:////nonexistent/dir/store.db", "cannot open the store at sqlite:////nonexistent/dir/store.db"),
        ("not a url", "DATABASE_URL is not a valid SQLAlchemy URL"),
    ],
)
def test_unreachable_store_is_one_line(url: str, expected: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    assert expected in Cli().error("conflicts", "list")


def test_people_list_shows_each_persons_id_in_each_source(cli: Cli) -> None:
    people = {p["key"]: p for p in cli.json("people", "list")}
    assert people["alice"]["ids"] == {"asana": "501", "slack": "U01"} and people["alice"]["from_config"]
    assert {p["key"] for p in people.values() if p["from_config"]} == {"alice", "bob", "carol", "dan", "erin", "fay"}
