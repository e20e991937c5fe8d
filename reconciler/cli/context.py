"""Building the runtime for a command, including the sandbox stand-in for a first run."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.cli.output import err_console
from reconciler.protocol import EXAMPLE_CONFIG
from reconciler.settings import Settings, get_settings

if TYPE_CHECKING:  # the pipeline (and the ORM) load when a runtime is built, not for quick reads
    from reconciler.pipeline import Runtime


def config_path_for(settings: Settings, explicit: Path | None) -> Path:
    return explicit or settings.reconciler_config


def uses_sandbox(settings: Settings, explicit: Path | None) -> bool:
    """A first run: no tokens and no config file. Anything else is a real deployment, where a
    missing token is an error rather than a reason to talk to a fake."""
    no_tokens = settings.asana_token is None and settings.slack_bot_token is None
    return no_tokens and not config_path_for(settings, explicit).exists()


@contextmanager
def runtime(config: Path | None, *, talks_to_apis: bool = False) -> Iterator[Runtime]:
    """The runtime for one command. Commands that call the APIs get the bundled sandbox and the
    demo config when no tokens and no config file are set, and say so."""
    from reconciler.compose import sandbox_if_no_tokens
    from reconciler.pipeline import load_runtime

    settings = get_settings()
    if not uses_sandbox(settings, config):
        yield load_runtime(settings=settings, config_path=config)
        return
    if not talks_to_apis:
        yield load_runtime(settings=settings, config_path=EXAMPLE_CONFIG)
        return
    err_console.print(
        "[yellow]No tokens and no config file: using the bundled sandbox and the demo team "
        f"({EXAMPLE_CONFIG.name}). Set ASANA_TOKEN and SLACK_BOT_TOKEN and write reconciler.toml "
        "to use your workspace.[/]"
    )
    with sandbox_if_no_tokens(settings) as sandboxed:
        yield load_runtime(settings=sandboxed, config_path=EXAMPLE_CONFIG)
