"""Secrets and endpoints come from the environment (and `.env`); everything else from the
config file (see protocol.py)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///reconciler.db"
DEFAULT_ASANA_BASE_URL = "https://app.asana.com/api/1.0"
DEFAULT_SLACK_BASE_URL = "https://slack.com/api/"
MIN_SECRET_LENGTH = 6


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", env_ignore_empty=True)

    asana_token: SecretStr | None = None
    slack_bot_token: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    """The Slack app's app-level token (xapp-…) for Socket Mode."""
    slack_signing_secret: SecretStr | None = None
    """The Slack app's signing secret, to verify requests in HTTP mode."""
    board_url: str | None = None
    """The team board's address, linked from the Slack app's Home tab."""
    asana_base_url: str = DEFAULT_ASANA_BASE_URL
    slack_base_url: str = DEFAULT_SLACK_BASE_URL
    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str = "redis://127.0.0.1:6379/0"
    reconciler_config: Path = Field(default=Path("reconciler.toml"))
    log_format: str = "auto"
    http_timeout: float = Field(default=30.0, gt=0)
    """Seconds to wait for an Asana or Slack answer before retrying."""

    def secrets(self) -> list[str]:
        """Every configured secret long enough to be one, for scrubbing from logs and error
        text (a one-letter placeholder would mangle every word that contains it)."""
        return [
            s.get_secret_value()
            for s in (self.asana_token, self.slack_bot_token, self.slack_app_token, self.slack_signing_secret)
            if s is not None and len(s.get_secret_value()) >= MIN_SECRET_LENGTH
        ]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def scrub(text: str, secrets: list[str]) -> str:
    """Remove secrets from text that may reach a log line or an error message."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text
