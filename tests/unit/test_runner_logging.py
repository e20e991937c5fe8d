"""configure_logging: JSON lines off a terminal, human lines on one, never a token."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from reconciler.settings import Settings
from workers.logging import HANDLER_NAME, configure_logging

ASANA = "asana-secret-0123456789"
SLACK = "xoxb-slack-secret-9876543210"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        if h.get_name() == HANDLER_NAME:
            root.removeHandler(h)
    root.handlers[:] = handlers
    root.setLevel(level)


def settings() -> Settings:
    return Settings(asana_token=SecretStr(ASANA), slack_bot_token=SecretStr(SLACK))


def test_json_lines_when_not_a_terminal() -> None:
    out = io.StringIO()
    configure_logging(settings(), stream=out)
    logging.getLogger("workers.test").info("synced", extra={"partition": "C01", "observations": 3})
    line = json.loads(out.getvalue().splitlines()[-1])
    assert line["msg"] == "synced" and line["level"] == "info" and line["logger"] == "workers.test"
    assert (line["partition"], line["observations"]) == ("C01", 3)
    assert line["ts"].endswith("+00:00")


def test_human_lines_on_a_terminal() -> None:
    out = Terminal()
    configure_logging(settings(), stream=out)
    logging.getLogger("workers.test").warning("sync failed", extra={"partition": "C01"})
    text = out.getvalue()
    assert "WARNING" in text and "sync failed" in text and "partition=C01" in text
    assert not text.lstrip().startswith("{")


def test_log_format_setting_wins_over_the_terminal_check() -> None:
    out = Terminal()
    configure_logging(settings().model_copy(update={"log_format": "json"}), stream=out)
    logging.getLogger("x").info("hello")
    assert json.loads(out.getvalue())["msg"] == "hello"


@pytest.mark.parametrize("stream", [io.StringIO, Terminal])
def test_tokens_never_reach_the_output(stream: type[io.StringIO]) -> None:
    out = stream()
    configure_logging(settings(), stream=out)
    log = logging.getLogger("workers.test")
    log.info(f"message with {ASANA}")
    log.info("args with %s and %r", SLACK, {"token": ASANA})
    log.warning("extra", extra={"error": f"401 for Bearer {SLACK}", "nested": {"t": [ASANA]}})
    try:
        raise RuntimeError(f"request failed: Authorization: Bearer {ASANA}")
    except RuntimeError:
        log.exception("boom")
    text = out.getvalue()
    assert ASANA not in text and SLACK not in text
    assert text.count("***") >= 5
    assert "RuntimeError" in text and "request failed" in text


def test_a_bad_format_string_does_not_raise_from_the_filter() -> None:
    from workers.logging import SecretsFilter

    record = logging.LogRecord("x", logging.INFO, __file__, 1, "bad %s %s", ("only one",), None)
    assert SecretsFilter([ASANA]).filter(record)
    assert "bad" in record.getMessage()


def test_configuring_twice_keeps_one_handler() -> None:
    configure_logging(settings(), stream=io.StringIO())
    configure_logging(settings(), stream=io.StringIO())
    ours = [h for h in logging.getLogger().handlers if h.get_name() == HANDLER_NAME]
    assert len(ours) == 1
