"""Secrets and endpoints come from the environment (and `.env`); everything else from the
config file (see protocol.py)."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///reconciler.db"
DEFAULT_ASANA_BASE_URL = "https://app.asana.com/api/1.0"
DEFAULT_SLACK_BASE_URL = "https://slack.com/api/"
MIN_SECRET_LENGTH = 6

# The prefix a token of each kind starts with; a token pasted into the wrong variable fails at
# start instead of as `invalid_auth` on the first request.
TOKEN_PREFIXES: dict[str, str] = {"slack_bot_token": "xoxb-", "slack_app_token": "xapp-"}
_KNOWN_SLACK_PREFIX = re.compile(r"^(xox[a-z]-|xapp-)")


class SettingsError(ValueError):
    """An environment variable with a value the service cannot use; one line naming it."""


def check_token(variable: str, value: str, *, prefix: str | None = None) -> str:
    """`value` without surrounding whitespace (a secret file's trailing newline), or a
    ValueError naming the variable that never repeats the token itself."""
    token = value.strip()
    if not token:
        raise ValueError(f"{variable} is set but empty")
    if any(ch.isspace() or not ch.isprintable() for ch in token):
        raise ValueError(f"{variable} contains a space or a control character inside the token")
    if prefix and not token.startswith(prefix):
        seen = _KNOWN_SLACK_PREFIX.match(token)
        hint = f" (this one starts with {seen.group(1)!r})" if seen else ""
        raise ValueError(f"{variable} must start with {prefix!r}{hint}")
    return token


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
    log_format: Literal["auto", "json", "human"] = "auto"
    http_timeout: float = Field(default=30.0, gt=0)
    """Seconds to wait for an Asana or Slack answer before retrying."""

    # check_fields=False: a token field added later (the Slack app's SLACK_APP_TOKEN) is
    # validated by naming it here, whether or not this class declares it yet.
    @field_validator("asana_token", "slack_bot_token", "slack_app_token", mode="before", check_fields=False)
    @classmethod
    def _clean_token(cls, value: object, info: object) -> object:
        field_name = getattr(info, "field_name", "") or ""
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        if not isinstance(raw, str):
            return value
        return check_token(field_name.upper(), raw, prefix=TOKEN_PREFIXES.get(field_name))

    def secrets(self) -> list[str]:
        """Every configured secret long enough to be one, for scrubbing from logs and error
        text (a one-letter placeholder would mangle every word that contains it)."""
        values = (getattr(self, name) for name in type(self).model_fields)
        return [
            s.get_secret_value()
            for s in values
            if isinstance(s, SecretStr) and len(s.get_secret_value()) >= MIN_SECRET_LENGTH
        ]


def describe_settings_error(error: ValidationError) -> str:
    """`HTTP_TIMEOUT: Input should be a valid number`: the variable and the reason, never the
    value (which may be a token)."""
    parts = []
    for item in error.errors(include_input=False, include_url=False):
        variable = "_".join(str(p) for p in item["loc"]).upper()
        message = item["msg"].removeprefix("Value error, ")
        parts.append(message if not variable or message.startswith(variable) else f"{variable}: {message}")
    return "; ".join(parts)


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment; an unusable value is one `SettingsError` line."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise SettingsError(describe_settings_error(exc)) from None


def redis_configured(settings: Settings) -> bool:
    """True when REDIS_URL was set (environment or `.env`), not just defaulted."""
    return "redis_url" in settings.model_fields_set


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()


def _variants(secret: str) -> list[str]:
    """The forms a secret takes in text: as is, stripped, and escaped the way repr() and
    bytes reprs (an HTTP library's header error) print it."""
    forms = {secret, secret.strip()}
    forms |= {repr(f)[1:-1] for f in list(forms)}
    return sorted((f for f in forms if f), key=len, reverse=True)


def scrub(text: str, secrets: list[str]) -> str:
    """Remove secrets from text that may reach a log line or an error message."""
    for secret in secrets:
        if not secret:
            continue
        for form in _variants(secret):
            text = text.replace(form, "***")
    return text
