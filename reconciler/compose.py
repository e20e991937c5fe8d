"""The composition root: the one module of `reconciler` that names the workers and the
sandbox. The CLI, the Slack app and the board get them from here; sources come from the
registry (connectors/registry.py). The import-linter contracts in pyproject.toml hold everything
else to the layering (tests/unit/test_layering.py runs them).

Imports are inside the functions: a CLI command loads only what it uses.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler.settings import Settings
from reconciler.settings import redis_configured  # noqa: F401  (compose.redis_configured, for the board)

if TYPE_CHECKING:
    from connectors.sandbox import Sandbox
    from reconciler.pipeline import PollPace, RunReport, Runtime


# -- workers ------------------------------------------------------------------------------------


def configure_logging(settings: Settings, *, level: str) -> None:
    from workers.logging import configure_logging as configure

    configure(settings, level=level)


def poll_pace(interval: float) -> PollPace:
    """The embedded loop's pace: `interval`, with each source's plan read from the workers'
    settings."""
    from connectors.registry import current_sources
    from reconciler.pipeline import PollPace
    from workers.settings import get_worker_settings

    return PollPace.for_sources(interval, current_sources(), get_worker_settings())


def run_loop(rt: Runtime, **options: Any) -> list[RunReport]:
    from workers.runner import run_loop as loop

    return loop(rt, **options)


def collect_status(rt: Runtime) -> dict[str, Any]:
    from workers.status import collect_status as collect

    return collect(rt)


def check_worker_settings() -> None:
    """A `SettingsError` when the workers' variables (SYNC_INTERVAL, CELERY_QUEUE, ...) are
    unusable, as `collect_status` reads them."""
    from workers.settings import get_worker_settings

    get_worker_settings()


def queue_status(settings: Settings) -> dict[str, Any] | str:
    """The Celery queues' depth in the configured Redis, or "unavailable" (as `reconciler
    status` shows it; imports redis alone, for the CLI's quick path)."""
    from workers.queue_depth import queue_status as depth
    from workers.settings import get_worker_settings

    return depth(settings.redis_url, get_worker_settings())


def redis_reachable(settings: Settings) -> bool:
    from workers.connections import reachable_redis

    return reachable_redis(settings) is not None


def celery_config(redis_url: str) -> dict[str, Any]:
    from workers.celery_app import celery_config as config
    from workers.settings import get_worker_settings

    return config(redis_url, get_worker_settings())


# -- the sandbox ---------------------------------------------------------------------------------


@contextmanager
def sandbox(scenario: Path | None = None, *, port: int = 0) -> Iterator[Sandbox]:
    """The local Asana + Slack stand-in serving `scenario` (default: the bundled demo)."""
    from connectors.sandbox import Sandbox, bundled_scenario_path, load_scenario

    with Sandbox(load_scenario(scenario or bundled_scenario_path("demo")), port=port) as served:
        yield served


def pointed_at_sandbox(settings: Settings, sandbox: Sandbox, **overrides: object) -> Settings:
    """`settings` with both sources served by `sandbox` (placeholder tokens it accepts)."""
    from pydantic import SecretStr

    return settings.model_copy(
        update={
            "asana_token": SecretStr("sandbox-asana-token"),
            "slack_bot_token": SecretStr("xoxb-sandbox-token"),
            "asana_base_url": sandbox.asana_base_url,
            "slack_base_url": sandbox.slack_base_url,
            **overrides,
        }
    )


@contextmanager
def sandbox_if_no_tokens(settings: Settings) -> Iterator[Settings]:
    """With neither token set, start the bundled sandbox and point both sources at it."""
    if settings.asana_token is not None or settings.slack_bot_token is not None:
        yield settings
        return
    with sandbox() as served:
        yield pointed_at_sandbox(settings, served)
