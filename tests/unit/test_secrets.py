"""Tokens are checked when read, never printed: not by the CLI, not in a Celery traceback."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery import Celery
from typer.testing import CliRunner

from reconciler.cli import app as cli_app
from reconciler.settings import SettingsError, get_settings, load_settings, scrub
from workers.logging import HANDLER_NAME, configure_logging
from workers.settings import get_worker_settings

SLACK = "xoxb-hardening-secret-31415"
ASANA = "2/1200000000/1300000000:0f1e2d3c4b5a"


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    get_settings.cache_clear()
    get_worker_settings.cache_clear()


def test_a_secret_file_newline_is_stripped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASANA_TOKEN", ASANA + "\n")
    monkeypatch.setenv("SLACK_BOT_TOKEN", f"  {SLACK}\r\n")
    settings = load_settings()
    assert settings.asana_token is not None and settings.asana_token.get_secret_value() == ASANA
    assert settings.slack_bot_token is not None and settings.slack_bot_token.get_secret_value() == SLACK


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("SLACK_BOT_TOKEN", "xoxb-12345 67890", "SLACK_BOT_TOKEN contains a space or a control character"),
        ("SLACK_BOT_TOKEN", "xoxp-1234567890", "SLACK_BOT_TOKEN must start with 'xoxb-' (this one starts with 'xoxp-')"),
        ("SLACK_BOT_TOKEN", "xapp-1-A111-222", "SLACK_BOT_TOKEN must start with 'xoxb-' (this one starts with 'xapp-')"),
        ("ASANA_TOKEN", "2/1200\t0000:abc", "ASANA_TOKEN contains a space or a control character"),
        ("ASANA_TOKEN", " \n", "ASANA_TOKEN is set but empty"),
        ("HTTP_TIMEOUT", "abc", "HTTP_TIMEOUT: Input should be a valid number"),
        ("LOG_FORMAT", "bogus", "LOG_FORMAT: Input should be 'auto', 'json' or 'human'"),
    ],
)
def test_a_bad_variable_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    message = str(info.value)
    assert "\n" not in message and "validation error" not in message
    assert message.startswith(variable)
    assert expected in message
    if variable.endswith("_TOKEN") and value.strip():
        assert value[5:] not in message


def test_the_cli_says_which_variable_is_wrong(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxp-" + SLACK[5:])
    result = CliRunner().invoke(cli_app, ["status"])
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: SLACK_BOT_TOKEN must start with 'xoxb-' (this one starts with 'xoxp-')"
    assert SLACK[5:] not in result.output
    get_settings.cache_clear()
    monkeypatch.delenv("SLACK_BOT_TOKEN")
    monkeypatch.setenv("HTTP_TIMEOUT", "abc")
    result = CliRunner().invoke(cli_app, ["status"])
    assert result.exit_code == 1 and result.stderr.startswith("error: HTTP_TIMEOUT: ")


def test_scrub_finds_a_token_in_its_escaped_forms() -> None:
    text = f"Invalid header value {('Bearer ' + SLACK + chr(10)).encode()!r} / {SLACK + chr(10)!r}"
    assert SLACK not in scrub(text, [SLACK]) and SLACK not in scrub(text, [SLACK + "\n"])


def test_a_celery_task_failure_traceback_carries_no_token(monkeypatch: pytest.MonkeyPatch) -> None:
    """Celery's own tracer logs the failure (message, `data` extra and traceback) through our
    handler; the token, read with a trailing newline, appears nowhere."""
    monkeypatch.setenv("SLACK_BOT_TOKEN", SLACK + "\n")
    monkeypatch.setenv("ASANA_TOKEN", ASANA)
    out = io.StringIO()
    configure_logging(load_settings(), stream=out)
    celery = Celery("secrets-test")

    @celery.task(name="boom")
    def boom() -> None:
        header = ("Bearer " + SLACK + "\n").encode()
        raise ValueError(f"Invalid header value {header!r} for {ASANA}")

    boom.apply()
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    failure = next(line for line in lines if line["logger"] == "celery.app.trace")
    assert "raised unexpected" in failure["msg"] and "Traceback" in failure["exc"]
    assert SLACK not in out.getvalue() and ASANA not in out.getvalue()
    assert "Bearer ***" in failure["exc"]


def test_worker_loglevel_debug_reaches_our_handler(monkeypatch: pytest.MonkeyPatch) -> None:
    """`celery worker --loglevel=DEBUG` goes through Celery's setup_logging signal to ours."""
    from workers.celery_app import app

    app.log.already_setup = False
    app.log.setup_logging_subsystem(loglevel="DEBUG")
    ours = [h for h in logging.getLogger().handlers if h.get_name() == HANDLER_NAME]
    assert len(ours) == 1
    assert logging.getLogger().level == logging.DEBUG
    assert logging.getLogger("reconciler.pipeline").isEnabledFor(logging.DEBUG)
    app.log.already_setup = False
    app.log.setup_logging_subsystem(loglevel="WARNING")
    assert logging.getLogger().level == logging.WARNING


def test_bad_worker_setting_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWEEP_INTERVAL", "often")
    with pytest.raises(SettingsError, match="^SWEEP_INTERVAL: Input should be a valid number"):
        get_worker_settings()


def test_a_bug_in_a_command_prints_a_scrubbed_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from reconciler.cli import main

    monkeypatch.setenv("SLACK_BOT_TOKEN", SLACK)

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError(f"unexpected: Authorization: Bearer {SLACK}")

    monkeypatch.setattr("sys.argv", ["reconciler", "status"])
    monkeypatch.setattr("reconciler.cli.admin.runtime", broken)
    with pytest.raises(SystemExit) as info:
        main()
    err = capsys.readouterr().err
    assert info.value.code == 1
    assert "Traceback" in err and "Bearer ***" in err and SLACK not in err


def test_a_later_app_token_field_is_checked_for_its_prefix() -> None:
    from pydantic import SecretStr

    from reconciler.settings import Settings

    class WithAppToken(Settings):
        slack_app_token: SecretStr | None = None

    assert WithAppToken(slack_app_token="xapp-1-A0-123\n").secrets() == ["xapp-1-A0-123"]
    with pytest.raises(ValueError, match="SLACK_APP_TOKEN must start with 'xapp-'"):
        WithAppToken(slack_app_token="xoxb-1-A0-123")
