"""`reconciler conflicts list` and `reconciler status` answered before Typer, SQLAlchemy and the
models load (issue #21: read commands in 0.3 s). The settings and the config file are read and
checked by the same code as the full commands (runtime in context.py), the store through
reconciler/quick_read.py, and the output printed by read_views.py, as the full commands do.

Only what these reads know for certain is answered here: the arguments in the forms below, a
store already at the newest migration, no Redis to ask. Anything else (help, another option or
form, a value Typer would reject or convert, a config, settings or store problem) returns None
and the Typer app answers, with its own output and errors."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from reconciler.states import ACTIVE_CONFLICT_STATES, ConflictState

if TYPE_CHECKING:
    from reconciler.protocol import Config
    from reconciler.quick_read import QuickStore
    from reconciler.settings import Settings

T = TypeVar("T")

_OUTPUTS = ("table", "json")
_STATE_NAMES = frozenset(s.value for s in ConflictState)


@dataclass
class _Arguments:
    """What the shared options say; `values` holds the command's own."""

    as_json: bool = False
    output_json: bool = False
    config: Path | None = None
    quiet: bool = False
    values: dict[str, list[str]] = field(default_factory=dict)

    @property
    def wants_json(self) -> bool:
        return self.as_json or self.output_json


class _Unexpected(Exception):
    """An argument form the quick path leaves to Typer."""


def _parse(tokens: list[str], *, value_options: dict[str, str], repeatable: frozenset[str], quiet: bool) -> _Arguments:
    """`--json`, `-o/--output table|json`, `-C/--config PATH` (and `-q/--quiet` when `quiet`)
    plus the command's `value_options` (option -> name), each once unless `repeatable`. A value
    is the next token and may not look like an option (Typer would take it; we leave it)."""
    args = _Arguments()
    seen: set[str] = set()
    position = 0

    def once(name: str) -> None:
        if name in seen:
            raise _Unexpected(name)
        seen.add(name)

    def value() -> str:
        if position + 1 >= len(tokens) or not tokens[position + 1] or tokens[position + 1].startswith("-"):
            raise _Unexpected("value")
        return tokens[position + 1]

    while position < len(tokens):
        token = tokens[position]
        if token == "--json":
            once("json")
            args.as_json = True
            position += 1
        elif quiet and token in ("-q", "--quiet"):
            once("quiet")
            args.quiet = True
            position += 1
        elif token in ("-o", "--output"):
            once("output")
            chosen = value()
            if chosen not in _OUTPUTS:
                raise _Unexpected(chosen)
            args.output_json = chosen == "json"
            position += 2
        elif token in ("-C", "--config"):
            once("config")
            args.config = Path(value())
            position += 2
        elif token in value_options:
            name = value_options[token]
            if name not in repeatable:
                once(name)
            args.values.setdefault(name, []).append(value())
            position += 2
        else:
            raise _Unexpected(token)
    return args


_LIST_OPTIONS = {
    "-s": "state", "--state": "state",
    "-d": "deliverable", "--deliverable": "deliverable",
    "--owner": "owner",
    "--role": "role",
}


def answer(argv: list[str]) -> int | None:
    """The exit code of `argv` answered here, or None: the Typer app answers it."""
    command: Callable[[list[str]], Callable[[], int] | None]
    if argv[:2] == ["conflicts", "list"]:
        command, rest = _conflicts_list, argv[2:]
    elif argv[:1] == ["status"]:
        command, rest = _status, argv[1:]
    else:
        return None
    try:
        show = command(rest)
    except Exception:  # noqa: BLE001  `_Unexpected` arguments, or a read this path did not foresee: Typer answers
        return None
    return None if show is None else show()


def _conflicts_list(tokens: list[str]) -> Callable[[], int] | None:
    args = _parse(tokens, value_options=_LIST_OPTIONS, repeatable=frozenset({"state"}), quiet=True)
    states = args.values.get("state") or [s.value for s in ACTIVE_CONFLICT_STATES]
    if any(s not in _STATE_NAMES and s != "all" for s in states):
        return None  # the full command names the typo and the closest state
    if "all" in states:
        states = []

    def one(name: str) -> str | None:
        given = args.values.get(name)
        return given[0] if given else None

    read = _read_store(
        args.config,
        lambda store, _settings, _config: _list_rows(store, states, one("deliverable"), one("owner"), one("role")),
    )
    if read is None:
        return None

    def show() -> int:
        from reconciler.cli.read_views import print_conflict_list

        print_conflict_list(read, quiet=args.quiet, as_json=args.wants_json, now=datetime.now(timezone.utc))
        return 0

    return show


def _list_rows(
    store: QuickStore, states: list[str], deliverable: str | None, owner: str | None, role: str | None
) -> list[dict[str, Any]]:
    from reconciler.quick_read import conflict_summaries

    return conflict_summaries(store, states=states, deliverable=deliverable, owner=owner, role=role)


def _status(tokens: list[str]) -> Callable[[], int] | None:
    args = _parse(tokens, value_options={}, repeatable=frozenset(), quiet=False)
    read = _read_store(args.config, _status_data)
    if read is None:
        return None
    data, now = read

    def show() -> int:
        from reconciler.cli.read_views import print_status

        return print_status(data, as_json=args.wants_json, now=now)

    return show


def _status_data(store: QuickStore, settings: Settings, config: Config) -> tuple[dict[str, Any], datetime] | None:
    """What `collect_status` gathers, while every partition is listed without asking a source
    (the queue from Redis when one is configured)."""
    from connectors.registry import current_sources
    from reconciler import quick_read
    from reconciler.compose import check_worker_settings, queue_status
    from reconciler.settings import redis_configured

    check_worker_settings()
    wanted: list[tuple[str, str]] = []
    for plugin in current_sources():
        if not plugin.lists_without_requests(config):
            return None
        wanted += [(str(plugin.name), p) for p in plugin.partitions(config)]
    notifications = quick_read.notification_status(store)
    queue = queue_status(settings) if redis_configured(settings) else "unavailable"
    full_pass = quick_read.last_full_pass(store)
    partitions = quick_read.partition_statuses(wanted, quick_read.sync_cursors(store), datetime.now(timezone.utc))
    data = {
        "partitions": partitions,
        "last_full_reconcile": full_pass.isoformat() if full_pass else None,
        "queue": queue,
        "queue_depth": queue["waiting"] if isinstance(queue, dict) else queue,
        "notifications": notifications,
    }
    return data, datetime.now(timezone.utc)


def _read_store(explicit_config: Path | None, read: Callable[[QuickStore, Settings, Config], T]) -> T | None:
    """`read(store, settings, config)` with the settings, config and store the full command's
    runtime would use (read-only, no sandbox: these commands talk to no API), or None when any
    of them has a problem the full command reports."""
    from reconciler.cli.context import config_path_for, uses_sandbox
    from reconciler.protocol import EXAMPLE_CONFIG, ConfigError, check_source_sections, load_config
    from reconciler.quick_read import StoreNotReady, quick_store
    from reconciler.settings import get_settings

    try:
        settings = get_settings()
        path = EXAMPLE_CONFIG if uses_sandbox(settings, explicit_config) else config_path_for(settings, explicit_config)
        config = load_config(path)
        from connectors.registry import current_sources

        check_source_sections(current_sources(), config, origin=str(path))
        with quick_store(settings.database_url) as store:
            return read(store, settings, config)
    except (ConfigError, StoreNotReady, ValueError, LookupError, OSError):
        return None
