"""`conflicts list` and `status` answered before Typer and the ORM load (reconciler/cli/quick.py)
print byte for byte what the Typer commands print, on a populated store, on SQLite and
PostgreSQL; whatever the quick path does not know goes to Typer, errors included."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import time_machine
from sqlalchemy import Engine
from sqlmodel import select
from typer.testing import CliRunner

from connectors.sandbox import Sandbox, bundled_scenario_path, load_scenario
from reconciler.cli import app, main
from reconciler.cli.quick import answer
from reconciler.db import session_scope
from reconciler.models import Conflict, Notification, NotificationStatus, SyncCursor
from reconciler.settings import get_settings
from tests.conftest import write_demo_config

Output = tuple[int, str, str]


def run_main(argv: list[str], capsys: pytest.CaptureFixture[str], *, quick: bool) -> Output:
    """Exit code, stdout and stderr of the `reconciler` executable's `main`."""
    capsys.readouterr()
    old_argv = sys.argv
    sys.argv = ["reconciler", *argv]
    try:
        main(quick=quick)
        code = 0
    except SystemExit as exit:
        code = int(exit.code or 0)
    finally:
        sys.argv = old_argv
    out, err = capsys.readouterr()
    return code, out, err


def answered_quickly(argv: list[str], capsys: pytest.CaptureFixture[str]) -> Output:
    """As run_main, asserting the quick path answered (no Typer, no ORM read)."""
    capsys.readouterr()
    code = answer(argv)
    assert code is not None, f"{argv}: left to Typer"
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def populated(store_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """The demo team synced, reconciled and notified; then a muted conflict, a resolved one, a
    partition failing and a DM that failed, so every column the commands show has a value."""
    url = store_engine.url.render_as_string(hide_password=False)
    with Sandbox(load_scenario(bundled_scenario_path("demo")), port=0) as sandbox:
        monkeypatch.setenv("ASANA_TOKEN", "asana-quick-test-token")
        monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-quick-test-token")
        monkeypatch.setenv("ASANA_BASE_URL", sandbox.asana_base_url)
        monkeypatch.setenv("SLACK_BASE_URL", sandbox.slack_base_url)
        monkeypatch.setenv("DATABASE_URL", url)
        monkeypatch.setenv("RECONCILER_CONFIG", str(write_demo_config(tmp_path)))
        get_settings.cache_clear()
        runner = CliRunner()
        for command in (["sync"], ["reconcile"], ["notify"]):
            result = runner.invoke(app, command, catch_exceptions=False)
            assert result.exit_code == 0, result.output
    now = datetime.now(timezone.utc)
    with session_scope(store_engine) as session:
        conflicts = list(session.exec(select(Conflict).order_by(Conflict.id)))
        assert len(conflicts) >= 3
        conflicts[0].suppressed_by = "snooze 1"
        conflicts[1].state, conflicts[1].resolved_at, conflicts[1].resolved_by = "resolved", now, "cli:lead"
        conflicts[1].resolution_comment = "[bold]agreed[/] in standup"
        cursor = session.exec(select(SyncCursor).order_by(SyncCursor.id)).first()
        assert cursor is not None
        cursor.last_error, cursor.last_error_at = "HTTP 503 from the API", now - timedelta(minutes=5)
        notification = session.exec(select(Notification).order_by(Notification.id)).first()
        assert notification is not None
        notification.status, notification.last_error = NotificationStatus.FAILED, "channel_not_found"
        notification.not_before = now - timedelta(hours=2)
    yield store_engine


ANSWERED_QUICKLY = [
    ["conflicts", "list"],
    ["conflicts", "list", "--json"],
    ["conflicts", "list", "-o", "json", "--state", "all"],
    ["conflicts", "list", "-q", "-s", "resolved", "-s", "open"],
    ["conflicts", "list", "--output", "table", "--state", "all", "--owner", "alice"],
    ["conflicts", "list", "--json", "--role", "marketing", "-s", "all"],
    ["conflicts", "list", "-d", "checkout-v2", "--json"],
    ["conflicts", "list", "--state", "dismissed"],
    ["status"],
    ["status", "--json"],
    ["status", "-o", "json"],
]


@pytest.mark.parametrize("argv", ANSWERED_QUICKLY, ids=" ".join)
def test_the_quick_answer_is_the_typer_commands_output(
    populated: Engine, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with time_machine.travel(datetime.now(timezone.utc), tick=False):
        quick = answered_quickly(argv, capsys)
        full = run_main(argv, capsys, quick=False)
    assert quick == full
    assert quick[1].strip(), "printed nothing"


def test_a_config_given_with_c_is_the_one_read(
    populated: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`-C` names the config, as the full command reads it: here one with a Slack channel less,
    which `status` lists as not configured."""
    config = Path(get_settings().reconciler_config)
    other = tmp_path / "other.toml"
    other.write_text(config.read_text().replace('"eng", ', "").replace(', "eng"', ""))
    assert other.read_text() != config.read_text()
    argv = ["status", "--json", "-C", str(other)]
    with time_machine.travel(datetime.now(timezone.utc), tick=False):
        quick = answered_quickly(argv, capsys)
        full = run_main(argv, capsys, quick=False)
    assert quick == full
    assert '"configured": false' in quick[1]


LEFT_TO_TYPER = [
    ["conflicts", "list", "--help"],
    ["conflicts", "list", "--state", "opne"],  # the typo is named by the full command
    ["conflicts", "list", "--kind", "status_contradiction"],
    ["conflicts", "list", "kind=status*"],
    ["conflicts", "list", "--since", "7d"],
    ["conflicts", "list", "-o", "JSON"],
    ["conflicts", "list", "--output=json"],
    ["conflicts", "list", "--json", "--json"],
    ["conflicts", "list", "--owner"],
    ["status", "--verbose"],
    ["status", "extra"],
]


@pytest.mark.parametrize("argv", LEFT_TO_TYPER, ids=" ".join)
def test_what_the_quick_path_does_not_know_goes_to_typer(
    populated: Engine, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert answer(argv) is None
    assert run_main(argv, capsys, quick=True) == run_main(argv, capsys, quick=False)


def test_a_store_not_migrated_yet_is_migrated_by_the_full_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'new.db'}")
    get_settings.cache_clear()
    assert answer(["conflicts", "list"]) is None
    assert not (tmp_path / "new.db").exists()  # the quick path opened nothing for writing
    assert run_main(["conflicts", "list"], capsys, quick=True) == (0, "No conflicts.\n", "")
    assert answer(["conflicts", "list"]) == 0  # migrated now


@pytest.mark.parametrize(
    ("variables", "argv"),
    [
        ({"ASANA_TOKEN": "asana-quick-test-token", "RECONCILER_CONFIG": "missing.toml"}, ["conflicts", "list"]),
        ({"RECONCILER_CONFIG": "broken.toml"}, ["status", "--json"]),
        ({"DATABASE_URL": "postgresql://postgres@127.0.0.1:1/nowhere"}, ["conflicts", "list", "--json"]),
        ({"DATABASE_URL": "mysql://db/store"}, ["status"]),
        ({"HTTP_TIMEOUT": "soon"}, ["status"]),
        ({"TASK_TIME_LIMIT": "7200"}, ["status"]),  # the workers' settings: above the visibility timeout
    ],
)
def test_errors_and_what_needs_more_than_the_store_are_the_full_commands(
    variables: dict[str, str],
    argv: list[str],
    sqlite_url: str,
    sqlite_engine: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """On a migrated store: each case is left to the full command for what `variables` say."""
    (tmp_path / "broken.toml").write_text("[asana\n")
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    from workers.settings import get_worker_settings

    get_worker_settings.cache_clear()
    try:
        with time_machine.travel(datetime.now(timezone.utc), tick=False):
            assert answer(argv) is None
            quick, full = run_main(argv, capsys, quick=True), run_main(argv, capsys, quick=False)
    finally:
        get_worker_settings.cache_clear()
    assert quick == full
    assert quick[0] == 1 and quick[2].startswith("error: "), quick


@pytest.mark.parametrize("argv", [["conflicts", "list", "--json"], ["status"]], ids=" ".join)
def test_the_quick_answer_loads_neither_typer_nor_the_orm(
    argv: list[str], sqlite_url: str, sqlite_engine: Engine, tmp_path: Path
) -> None:
    """What makes it quick (issue #21; the time itself is measured by bench/startup_bench.py)."""
    import os
    import subprocess

    env = {k: v for k, v in os.environ.items() if k not in ("ASANA_TOKEN", "SLACK_BOT_TOKEN", "REDIS_URL")}
    env.update(DATABASE_URL=sqlite_url, RECONCILER_CONFIG=str(write_demo_config(tmp_path)))
    probe = (
        "import sys\n"
        "from reconciler.cli import main\n"
        f"sys.argv = ['reconciler', *{argv!r}]\n"
        "try:\n    main()\nexcept SystemExit as exit:\n    assert not exit.code, exit.code\n"
        "heavy = {'sqlalchemy', 'sqlmodel', 'typer', 'click', 'alembic', 'celery', 'redis', 'psycopg',\n"
        "         'slack_sdk', 'asana', 'dateparser', 'reconciler.models', 'reconciler.pipeline'}\n"
        "print(sorted(heavy & set(sys.modules)), file=sys.stderr)\n"
    )
    ran = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert ran.stderr.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize(
    "redis_url", ["redis://127.0.0.1:6379/15", "redis://127.0.0.1:1/0"], ids=["redis", "redis down"]
)
def test_status_with_redis_is_answered_quickly_with_the_queue(
    redis_url: str,
    sqlite_url: str,
    sqlite_engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """With REDIS_URL set the quick path reads the Celery queues' depth itself (as the full
    command shows it), or says "unavailable" when Redis does not answer."""
    import redis

    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("CELERY_QUEUE", "quick-read-test")
    get_settings.cache_clear()
    from workers.settings import get_worker_settings

    get_worker_settings.cache_clear()
    up = redis_url.endswith("/15")
    if up:
        client = redis.Redis.from_url(redis_url)
        client.delete("quick-read-test")
        client.rpush("quick-read-test", "a", "b")
    try:
        with time_machine.travel(datetime.now(timezone.utc), tick=False):
            assert answer(["status", "--json"]) == 0
            quick, full = run_main(["status", "--json"], capsys, quick=True), run_main(["status", "--json"], capsys, quick=False)
    finally:
        get_worker_settings.cache_clear()
        if up:
            client.delete("quick-read-test")
            client.close()
    assert quick == full
    shown = json.loads(quick[1])
    assert shown["queue_depth"] == (2 if up else "unavailable"), shown


def test_a_failure_the_quick_path_did_not_foresee_leaves_the_answer_to_the_full_command(
    sqlite_url: str, sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bug in the quick read costs the full command's start-up, not a traceback."""
    from reconciler import quick_read

    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    get_settings.cache_clear()
    expected = run_main(["conflicts", "list", "--json"], capsys, quick=False)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a read the quick path did not foresee")

    monkeypatch.setattr(quick_read, "quick_store", broken)
    assert answer(["conflicts", "list", "--json"]) is None
    assert run_main(["conflicts", "list", "--json"], capsys, quick=True) == expected
    assert expected[0] == 0
