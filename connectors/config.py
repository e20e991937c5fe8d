"""Connector-facing configuration: which Asana projects and Slack channels to read and how their
vocabulary maps onto canonical statuses. Part of the config file (reconciler/protocol.py), kept
here so connectors depend on nothing above them."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from connectors.base import CanonicalStatus

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

Duration = Annotated[str, Field(description="e.g. 30m, 24h, 2d")]


def parse_duration(text: str) -> timedelta:
    """'90s', '15m', '24h', '2d', '1w' -> timedelta."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"not a duration: {text!r} (use e.g. 30m, 24h, 2d)")
    return timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])


def check_duration(value: str) -> str:
    parse_duration(value)
    return value


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


DEFAULT_ASANA_STATUS_MAP: dict[str, CanonicalStatus] = {
    "not started": CanonicalStatus.NOT_STARTED,
    "on track": CanonicalStatus.ON_TRACK,
    "in progress": CanonicalStatus.ON_TRACK,
    "at risk": CanonicalStatus.AT_RISK,
    "off track": CanonicalStatus.AT_RISK,
    "blocked": CanonicalStatus.BLOCKED,
    "on hold": CanonicalStatus.BLOCKED,
    "done": CanonicalStatus.DONE,
    "complete": CanonicalStatus.DONE,
    "shipped": CanonicalStatus.DONE,
    "cancelled": CanonicalStatus.CANCELLED,
    "canceled": CanonicalStatus.CANCELLED,
}

DEFAULT_STATUS_UPDATE_MAP: dict[str, CanonicalStatus] = {
    "on_track": CanonicalStatus.ON_TRACK,
    "at_risk": CanonicalStatus.AT_RISK,
    "off_track": CanonicalStatus.AT_RISK,
    "on_hold": CanonicalStatus.BLOCKED,
    "complete": CanonicalStatus.DONE,
    "achieved": CanonicalStatus.DONE,
    "partial": CanonicalStatus.AT_RISK,
    "missed": CanonicalStatus.AT_RISK,
    "dropped": CanonicalStatus.CANCELLED,
}


class AsanaConfig(StrictModel):
    """`[asana]`. Partitions are projects: `projects`, plus every project of each of `portfolios`
    (portfolio items that are projects) and `teams` (the team's projects, archived ones left out).
    The expansion is asked of Asana at most once per `expand_every` in a process; a project reached
    twice is synced once. With `workspace` set and `workspace_users` on, a full crawl also reads the
    workspace's users (name, email), so people are joined by email to Slack and the config."""

    workspace: str | None = None
    projects: list[str] = []
    portfolios: list[str] = []
    teams: list[str] = []
    expand_every: Duration = "15m"
    workspace_users: bool = True
    status_field: str = "Status"
    status_map: dict[str, CanonicalStatus] = Field(default_factory=lambda: dict(DEFAULT_ASANA_STATUS_MAP))
    section_map: dict[str, CanonicalStatus] = {}
    status_update_map: dict[str, CanonicalStatus] = Field(
        default_factory=lambda: dict(DEFAULT_STATUS_UPDATE_MAP)
    )
    completed_status: CanonicalStatus = CanonicalStatus.DONE
    requests_per_minute: int = Field(default=150, ge=1)
    concurrent_requests: int = Field(default=50, ge=1)  # Asana: 50 concurrent reads per token
    use_events: bool = True
    full_crawl_every: Duration | None = "24h"

    _full_crawl_every = field_validator("full_crawl_every")(
        lambda value: None if value in (None, "", "off") else check_duration(value)
    )
    _expand_every = field_validator("expand_every")(check_duration)

    def expansion_ttl(self) -> timedelta:
        """How long the projects of `portfolios` and `teams` are reused before asking again."""
        return parse_duration(self.expand_every)

    def full_crawl_interval(self) -> timedelta | None:
        return parse_duration(self.full_crawl_every) if self.full_crawl_every else None

    def status_for_option(self, option_name: str) -> CanonicalStatus | None:
        lowered = {k.lower(): v for k, v in self.status_map.items()}
        return lowered.get(option_name.strip().lower())

    def status_for_section(self, section_name: str) -> CanonicalStatus | None:
        lowered = {k.lower(): v for k, v in self.section_map.items()}
        return lowered.get(section_name.strip().lower())


class SlackConfig(StrictModel):
    """`[slack]`. A run re-reads the `lookback` window of each channel's history (edits and
    deletions of top-level messages there are seen on the next run) and every thread whose parent
    shows a new reply or a changed reply count in it. A thread that did not move is re-read at most
    once per `thread_recheck` (`off`: never), to see edits and deletions of its replies and new
    replies to a parent older than the window: those show up within `thread_recheck`."""

    channels: list[str] = []
    status_phrases: dict[str, CanonicalStatus] = {}
    # which built-in status vocabularies the message parser reads (connectors/claim_vocab.py)
    status_languages: list[Literal["en", "de", "es", "fr", "pt", "nl", "it"]] = [
        "en", "de", "es", "fr", "pt", "nl", "it"]
    channel_defaults: dict[str, str] = {}
    trusted_bots: list[str] = []
    lookback: Duration = "3d"
    thread_recheck: Duration | None = "6h"
    budget: Literal["internal", "marketplace_limited"] = "internal"

    _lookback = field_validator("lookback")(check_duration)
    _thread_recheck = field_validator("thread_recheck")(
        lambda value: None if value in (None, "", "off") else check_duration(value)
    )

    def thread_recheck_interval(self) -> timedelta | None:
        """How often a quiet watched thread is read again; None never."""
        return parse_duration(self.thread_recheck) if self.thread_recheck not in (None, "", "off") else None


