"""Source text is data: a display name or message with Rich markup or Slack control sequences
is shown as typed by the CLI, and pings or links nobody in a DM (blocks and plain text)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, update
from typer.testing import CliRunner

from connectors.sandbox import Sandbox, bundled_scenario_path, load_scenario
from connectors.slack.client import make_web_client
from reconciler import notify
from reconciler.cli import app
from reconciler.db import session_scope
from reconciler.models import Conflict, Observation, Person
from reconciler.pipeline import open_store
from reconciler.protocol import load_config
from reconciler.settings import get_settings
from reconciler.untrusted import for_slack
from tests.conftest import write_demo_config
from tests.unit.test_notify_support import T0, make_config, open_conflict, plan, seed

RICH_NAME = "Maya [/] [link=https://evil.example/x]Chen[/link] [bold]"
SLACK_NAME = "<!channel> <https://evil.example/x|Maya Chen>"
MESSAGE = "checkout is blocked @here <@U01> <!everyone> see <https://evil.example/y|the doc> [/]"


def _make_hostile(engine: Engine, conflict_id: int, name: str) -> None:
    """Bob (U02) renamed himself in Slack; his message carries control sequences."""
    with session_scope(engine) as session:
        session.execute(update(Person).where(Person.key == "bob").values(name=name))
        conflict = session.get(Conflict, conflict_id)
        assert conflict is not None
        session.execute(
            update(Observation).where(Observation.id.in_(conflict.evidence), Observation.source == "slack")  # type: ignore[union-attr]
            .values(excerpt=MESSAGE)
        )
        conflict.summary = f"Asana says done, {name} says blocked"
        session.add(conflict)


@pytest.fixture
def cli_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    config_path = write_demo_config(tmp_path)
    url = f"sqlite:///{tmp_path / 'hostile.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("RECONCILER_CONFIG", str(config_path))
    get_settings.cache_clear()
    engine = open_store(url)
    seed(engine, load_config(config_path))
    conflict_id = open_conflict(engine, "checkout-v2")
    _make_hostile(engine, conflict_id, RICH_NAME)
    engine.dispose()
    yield conflict_id
    get_settings.cache_clear()


@pytest.mark.parametrize("command", [["conflicts", "list"], ["conflicts", "show", "{id}"], ["deliverables", "show", "checkout-v2"]])
def test_rich_markup_in_source_text_is_printed_as_typed(
    cli_store: int, command: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from reconciler.cli.common import console

    monkeypatch.setattr(console, "_width", 1000)  # one line per row: the text is checked whole
    args = [part.format(id=cli_store) for part in command]
    result = CliRunner().invoke(app, args, catch_exceptions=False, color=True)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "MarkupError" not in out and "\x1b]8;" not in out  # no crash, no terminal hyperlink
    flat = " ".join(out.split())
    assert RICH_NAME in flat and MESSAGE in flat if command[1] == "show" else RICH_NAME in flat


def test_conflict_state_in_brackets_is_shown(cli_store: int) -> None:
    result = CliRunner().invoke(app, ["conflicts", "show", str(cli_store)], catch_exceptions=False)
    assert "[open]" in result.stdout


def test_for_slack_neutralises_every_control_sequence() -> None:
    shown = for_slack(SLACK_NAME + " " + MESSAGE + " @channel @Everyone")
    for raw in ("<!channel>", "<https://", "<@U01>", "<!everyone>", "@here", "@channel", "@Everyone"):
        assert raw not in shown
    assert "&lt;!channel&gt;" in shown and "&lt;@U01&gt;" in shown and "Maya Chen" in shown


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(load_scenario(bundled_scenario_path("demo")), port=0) as running:
        yield running


def test_a_dm_pings_and_links_nobody(sqlite_engine: Engine, sandbox: Sandbox) -> None:
    config = make_config(group_wait="0s")
    seed(sqlite_engine, config)
    conflict_id = open_conflict(sqlite_engine, "checkout-v2")
    _make_hostile(sqlite_engine, conflict_id, SLACK_NAME)
    plan(sqlite_engine, config, T0)
    client = make_web_client("xoxb-untrusted-test", sandbox.slack_base_url, timeout=5)
    report = notify.deliver_pending(sqlite_engine, client=client, now=T0 + timedelta(minutes=1), min_interval_per_channel=0)
    assert len(report.sent) == 1
    (posted,) = [m for m in sandbox.posted_messages() if m["method"] == "chat.postMessage"]
    for part in (posted["text"], str(posted["blocks"])):
        assert "Maya Chen" in part and "checkout is blocked" in part
        for raw in ("<!channel>", "<https://evil", "<@U01>", "<!everyone>", "@here"):
            assert raw not in part, (raw, part)
