"""The tracker's plugin and connector: one partition (`board`), one state-like status and
target-date claim per item linked to a deliverable (`[[deliverables]] links.tracker`); its token
from its own environment variable (TRACKER_TOKEN)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from connectors.base import CanonicalStatus, ClaimKind, Connector, DeliverableIndex, Field, Observation, SyncBatch
from connectors.plugin import BuildContext, Credentials, RequestLimits, RequestRate, SourcePlugin

NAME = "tracker"
PARTITION = "board"


class TrackerItem(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    status: CanonicalStatus
    due: date | None = None
    author: str | None = None


class TrackerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    items: list[TrackerItem] = []
    requests_per_minute: int = 30


class TrackerConnector:
    source = NAME

    def __init__(self, section: TrackerConfig, index: DeliverableIndex, clock: Callable[[], datetime]):
        self._section = section
        self._linked = index.linked(NAME)
        self._clock = clock

    def partitions(self) -> list[str]:
        return [PARTITION]

    def pull(self, partition: str, cursor: str | None) -> Iterator[SyncBatch]:
        now = self._clock()
        observations = [o for item in self._section.items for o in self._claims(item, now)]
        seen = json.dumps(sorted(item.id for item in self._section.items))
        yield SyncBatch(observations=observations, cursor=seen, requests=1,
                        live_refs=frozenset(item.id for item in self._section.items))

    def _claims(self, item: TrackerItem, now: datetime) -> list[Observation]:
        key = self._linked.get(item.id)
        if key is None:
            return []
        said = {Field.STATUS: item.status.value, Field.TARGET_DATE: item.due.isoformat() if item.due else None}
        return [
            Observation(deliverable_key=key, source=NAME, source_ref=item.id, field=name, value=value,
                        stated_at=now, kind=ClaimKind.STATE, author=item.author,
                        excerpt=f"{item.id}: {item.status.value}", permalink=f"https://tracker.test/{item.id}")
            for name, value in said.items()
        ]


def _build(ctx: BuildContext) -> Connector:
    return TrackerConnector(ctx.section, ctx.index, ctx.clock)


def _limits(section: TrackerConfig) -> Callable[[str], RequestLimits]:
    return lambda rest: RequestLimits((RequestRate("requests", section.requests_per_minute),))


class TrackerSettings(BaseSettings):
    """The tracker's own environment: TRACKER_TOKEN, TRACKER_URL."""

    model_config = SettingsConfigDict(env_prefix="TRACKER_", extra="ignore")

    token: SecretStr | None = None
    url: str = "https://tracker.test"


def _credentials(settings: Any) -> Credentials:
    own = TrackerSettings()
    token = own.token.get_secret_value() if own.token else None
    return Credentials(token=token, base_url=own.url, variable="TRACKER_TOKEN")


plugin = SourcePlugin(
    name=NAME,
    label="Tracker",
    config_model=TrackerConfig,
    credentials=_credentials,
    build=_build,
    partitions=lambda config: [PARTITION],
    limits=_limits,
    partitions_at_once=lambda section: 1,
    link_kind=NAME,
    item_noun="item",
)
