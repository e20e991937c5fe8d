"""How commands print: the consoles, JSON and relative times. Loads Rich only (not Typer), so the
quick read commands (reconciler/cli/quick.py) print through the same code as the full CLI."""

from __future__ import annotations

import json
import sys
from datetime import date, datetime, timezone
from enum import StrEnum
from typing import Any

from rich.console import Console

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


def wants_json(output: OutputFormat, json_flag: bool) -> bool:
    return json_flag or output is OutputFormat.JSON


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, StrEnum):
        return value.value
    if hasattr(value, "model_dump"):
        return value.model_dump()
    if hasattr(value, "__dataclass_fields__"):
        from dataclasses import asdict

        return asdict(value)
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, default=_default, indent=2, sort_keys=False) + "\n")


def relative_time(when: datetime | str | None, *, now: datetime | None = None) -> str:
    """'3h ago', 'in 2d'; the absolute time is shown by `show` commands. Takes ISO strings too
    (what JSON-ready reports carry)."""
    if when is None:
        return "-"
    if isinstance(when, str):
        when = datetime.fromisoformat(when)
    now = now or datetime.now(timezone.utc)
    seconds = (now - when).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            amount = f"{int(seconds // size)}{unit}"
            break
    else:
        amount = "now"
        return amount
    return f"in {amount}" if future else f"{amount} ago"
