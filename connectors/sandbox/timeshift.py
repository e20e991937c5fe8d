"""Scenarios told relative to the moment they are served.

A scenario with an ``anchor`` (an ISO date: the day its story is told on) is moved by whole days
so that the anchor becomes today: every timestamp, date and Slack ts in it moves by the same
number of days, and texts name dates through templates rendered after the move, so a message
that says "moved to {{2026-11-27|%a %b %-d}}" still names the task's due date. Whole days keep
the story's clock times and weekday arithmetic (a message sent the day before the due date still
is), so the demo reads the same today, in a month and in two years.

Template: ``{{YYYY-MM-DD|FORMAT}}`` with a ``strftime`` format; ``%-d`` is the day without a
leading zero on every platform.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

from connectors.sandbox.scenario import fmt_iso, parse_iso

_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SLACK_TS = re.compile(r"^(\d{9,10})\.(\d{6})$")
_TEMPLATE = re.compile(r"\{\{(\d{4}-\d{2}-\d{2})\|([^}]*)\}\}")
_UNIX_TIME_KEYS = frozenset({"created"})


def anchor_of(data: Any) -> date | None:
    """The day a scenario's story is told on, if it names one."""
    if not isinstance(data, dict) or data.get("anchor") is None:
        return None
    value = data["anchor"]
    if not isinstance(value, str) or not _ISO_DATE.match(value):
        raise ValueError(f"scenario.anchor: expected a date YYYY-MM-DD, got {value!r}")
    return date.fromisoformat(value)


def shift_days(data: Any, today: date) -> int:
    """How many days the scenario moves so that its anchor falls on `today` (0 without anchor)."""
    anchor = anchor_of(data)
    return 0 if anchor is None else (today - anchor).days


def shifted(data: Any, days: int) -> Any:
    """A copy of a scenario's JSON with every moment moved by `days` and date templates rendered.

    Templates are rendered even when `days` is 0, so a scenario never shows its raw ``{{…}}``."""
    return _shift(data, timedelta(days=days), key=None)


def render_dates(text: str, delta: timedelta) -> str:
    """Replace each ``{{YYYY-MM-DD|FORMAT}}`` with that date moved by `delta`, formatted."""

    def render(match: re.Match[str]) -> str:
        moved = date.fromisoformat(match.group(1)) + delta
        return moved.strftime(match.group(2).replace("%-d", str(moved.day)))

    return _TEMPLATE.sub(render, text)


def _shift(value: Any, delta: timedelta, *, key: str | None) -> Any:
    if isinstance(value, dict):
        return {k: (v if k.startswith("_") or k == "anchor" else _shift(v, delta, key=k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_shift(item, delta, key=key) for item in value]
    if isinstance(value, str):
        return _shift_text(value, delta)
    if key in _UNIX_TIME_KEYS and isinstance(value, int) and not isinstance(value, bool):
        return value + int(delta.total_seconds())
    return value


def _shift_text(value: str, delta: timedelta) -> str:
    if _ISO_DATETIME.match(value):
        return fmt_iso(parse_iso(value) + delta)
    if _ISO_DATE.match(value):
        return (date.fromisoformat(value) + delta).isoformat()
    if _SLACK_TS.match(value):
        return moved_slack_ts(value, delta)
    return render_dates(value, delta) if "{{" in value else value


def moved_slack_ts(ts: str, delta: timedelta) -> str:
    """A Slack ts (``1795428900.000100``) moved by `delta`, its sequence part kept."""
    seconds, sequence = ts.split(".")
    return f"{int(seconds) + int(delta.total_seconds())}.{sequence}"

