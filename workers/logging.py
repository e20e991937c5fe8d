"""Structured logs for the CLI, the embedded runner, workers and beat.

`configure_logging(settings)` installs one stderr handler on the root logger: JSON lines when
stderr is not a terminal (or LOG_FORMAT=json), short human lines on a terminal. Every record
passes a filter that removes the configured tokens (`Settings.secrets()`) from the message, its
arguments, its extra fields and any traceback, before any formatter sees it.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from typing import Any, TextIO

from reconciler.settings import Settings, scrub

HANDLER_NAME = "reconciler"

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD and not k.startswith("_")}


class SecretsFilter(logging.Filter):
    """Replaces every configured secret in a record with `***`."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def _clean(self, value: Any) -> Any:
        if isinstance(value, str):
            return scrub(value, self.secrets)
        if isinstance(value, (int, float, bool)) or value is None:
            return value
        if isinstance(value, dict):
            return {self._clean(str(k)): self._clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple, set, frozenset)):
            return [self._clean(v) for v in value]
        return scrub(str(value), self.secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not take the caller down
            message = f"{record.msg} {record.args}"
        record.msg = scrub(message, self.secrets)
        record.args = None
        for key, value in extra_fields(record).items():
            setattr(record, key, self._clean(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text, self.secrets)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info, self.secrets)
        return True


class TaskContextFilter(logging.Filter):
    """Adds the Celery task id and name to records logged inside a task."""

    def filter(self, record: logging.LogRecord) -> bool:
        if "celery" not in sys.modules or getattr(record, "task_id", None):
            return True
        from celery import current_task

        task = current_task
        if task and getattr(task.request, "id", None):
            record.task_id = task.request.id
            record.task_name = task.name
        return True


def _jsonable(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, then the record's extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        line.update({k: _jsonable(v) for k, v in extra_fields(record).items()})
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exc"] = record.exc_text
        return json.dumps(line, ensure_ascii=False)


class HumanFormatter(logging.Formatter):
    """`12:00:01 INFO  synced  source=slack partition=launches observations=4`."""

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        fields = " ".join(f"{k}={v}" for k, v in extra_fields(record).items())
        text = f"{when} {record.levelname:<7} {record.getMessage()}"
        if fields:
            text += f"  {fields}"
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            text += "\n" + record.exc_text
        return text


def wants_json(log_format: str, stream: TextIO) -> bool:
    if log_format == "json":
        return True
    if log_format == "human":
        return False
    isatty = getattr(stream, "isatty", None)
    return not (isatty and isatty())


def configure_logging(
    settings: Settings,
    *,
    level: int | str = logging.INFO,
    stream: TextIO | None = None,
    log_format: str | None = None,
) -> logging.Handler:
    """Install the one root handler (replacing an earlier one of ours); returns it.

    `log_format` (default: LOG_FORMAT from settings) is `json`, `human` or `auto`.
    """
    stream = stream if stream is not None else sys.stderr
    handler = logging.StreamHandler(stream)
    handler.set_name(HANDLER_NAME)
    use_json = wants_json(log_format or settings.log_format, stream)
    handler.setFormatter(JsonFormatter() if use_json else HumanFormatter())
    handler.addFilter(TaskContextFilter())
    handler.addFilter(SecretsFilter(settings.secrets()))
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("urllib3", "asana", "slack_sdk", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    logging.captureWarnings(True)
    return handler
