"""What every command shares: loading the runtime, output formats, and turning user-caused
errors into one line and a non-zero exit."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from rich.markup import escape

from connectors.base import ConnectorError
from reconciler.db import DatabaseError
from reconciler.cli.output import (  # noqa: F401  (commands import them from here)
    OutputFormat,
    console,
    err_console,
    print_json,
    relative_time,
    wants_json,
)
from reconciler.protocol import ConfigError

P = ParamSpec("P")
R = TypeVar("R")

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-C",
        help="Config file (default: $RECONCILER_CONFIG or ./reconciler.toml).",
        show_default=False,
    ),
]
OutputOption = Annotated[
    OutputFormat, typer.Option("--output", "-o", help="Output format.", case_sensitive=False)
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Shorthand for -o json.")]


class UserError(Exception):
    """Anything the user can fix; printed as one line."""


USER_ERRORS: tuple[type[BaseException], ...] = (
    UserError,
    ConfigError,
    DatabaseError,
    ConnectorError,
    LookupError,
    ValueError,
)


def fail(message: str, *, code: int = 1) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    return typer.Exit(code)


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Run a command; a user-caused error ends in one line on stderr and exit code 1."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except USER_ERRORS as exc:
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise fail(_scrub(message)) from None

    return wrapper


def _scrub(message: str) -> str:
    from reconciler.settings import get_settings, scrub

    try:
        return scrub(message, get_settings().secrets())
    except Exception:  # settings themselves may be the problem; the message has no token then
        return message


def parse_matchers(items: list[str]) -> dict[str, str]:
    """`deliverable=checkout-v2 kind=stale` -> {"deliverable": "checkout-v2", "kind": "stale"}."""
    matchers: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise UserError(f"matcher {item!r} is not KEY=VALUE (e.g. deliverable=checkout-v2)")
        matchers[key.strip()] = value.strip()
    return matchers


def local_time(when: datetime | None) -> str:
    if when is None:
        return "-"
    return when.astimezone().strftime("%Y-%m-%d %H:%M %Z")


@contextmanager
def progress_reporter(enabled: bool, *, summary: Callable[[], str | None] | None = None) -> Iterator[Callable[[Any], None]]:
    """A live line per partition on a terminal, and `summary()` (when it says something) on one
    more; nothing when piped (logs carry the detail)."""
    if not enabled or not err_console.is_terminal:
        yield lambda _report: None
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err_console, transient=True
    ) as progress:
        tasks: dict[tuple[str, str], Any] = {}
        summary_task: list[Any] = []

        def update(report: Any) -> None:
            key = (str(report.source), report.partition)
            text = f"{key[0]} {key[1]}: {report.observations} claims, {report.requests} requests"
            if getattr(report, "progress", None) is not None:
                text += f", {report.progress:.0%} of its history"
            if key not in tasks:
                tasks[key] = progress.add_task(text, total=None)
            progress.update(tasks[key], description=text)
            line = summary() if summary is not None else None
            if line is not None and not summary_task:
                summary_task.append(progress.add_task(line, total=None))
            elif line is not None:
                progress.update(summary_task[0], description=line)

        yield update
