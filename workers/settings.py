"""Settings that only the workers, beat and the embedded loop read (environment and `.env`)."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from reconciler.settings import SettingsError, describe_settings_error

if TYPE_CHECKING:  # the pipeline loads when a pace is asked for: `reconciler status` reads these settings too
    from reconciler.pipeline import PollPace


class WorkerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", env_ignore_empty=True)

    sync_interval: float = Field(default=300.0, gt=0, description="seconds between fan-outs")
    sweep_interval: float = Field(default=60.0, gt=0, description="seconds between sweeps")
    slack_events_sync_interval: float = Field(
        default=1800.0, gt=0, description="seconds between polls of a Slack channel while events flow"
    )
    asana_sync_interval: float | None = Field(
        default=None, gt=0, description="seconds between polls of an Asana project (its /events), if shorter"
    )
    celery_queue: str = "reconciler"
    celery_visibility_timeout: int = Field(default=3600, ge=5)
    celery_restore_interval: int = Field(default=10, ge=1, description="seconds between unacked sweeps")
    celery_restore_throttle: int = Field(default=10, ge=1, description="scan on every Nth sweep")
    task_time_limit: int = Field(default=900, ge=2)
    task_max_retries: int = Field(default=5, ge=0)
    retry_backoff_max: float = Field(default=60.0, gt=0)
    partition_lock_ttl: float = Field(default=60.0, gt=0.5)
    redis_key_prefix: str = "reconciler"
    notify_dry_run: bool = Field(default=False, description="plan and record, but post nothing")

    @model_validator(mode="after")
    def _limits_fit(self) -> WorkerSettings:
        if self.task_time_limit >= self.celery_visibility_timeout:
            raise ValueError(
                "TASK_TIME_LIMIT must be below CELERY_VISIBILITY_TIMEOUT, or Redis redelivers "
                "tasks that are still running"
            )
        return self

    def pace(self) -> PollPace:
        """SYNC_INTERVAL, with each registered source's own plan (`SourcePlugin.poll`, read from
        these settings)."""
        from connectors.registry import current_sources
        from reconciler.pipeline import PollPace

        return PollPace.for_sources(self.sync_interval, current_sources(), self)

    @property
    def sync_queue(self) -> str:
        """Where partition syncs wait, apart from the sweeps: a long backfill fills this queue,
        and workers that consume only `celery_queue` keep reconciling and notifying."""
        return f"{self.celery_queue}.sync"

    def key(self, *parts: str) -> str:
        """A Redis key under this deployment's prefix."""
        return ":".join((self.redis_key_prefix, *parts))


@lru_cache(maxsize=1)
def get_worker_settings() -> WorkerSettings:
    try:
        return WorkerSettings()
    except ValidationError as exc:
        raise SettingsError(describe_settings_error(exc)) from None
