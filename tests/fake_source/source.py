"""The tracker's plugin and connector: one partition (`board`), one state-like status and
target-date claim per item linked to a deliverable (`[[deliverables]] links.tracker`); its
members as people (`PersonRecord`s with its name as source: the store joins them to `[[people]]`
by email and keeps their tracker id as an identity); its token from its own environment
variable (TRACKER_TOKEN).

The tracker's API is in memory (`item_api`): its list endpoint serves the items the config
section lists, `page_size` a page, paged by `response_metadata.next_cursor`. The connector is
mapping only: the call loop, the paginator and the cursor are the toolkit's (connectors/toolkit);
what it adds is `classify` (what an answer means) and `_claims` (what an item says).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from connectors.base import (
    CanonicalStatus,
    ClaimKind,
    Connector,
    ConnectorError,
    DeliverableIndex,
    Field,
    NoRateLimit,
    Observation,
    PersonRecord,
    RateLimiter,
    SyncBatch,
)
from connectors.plugin import BuildContext, Credentials, RequestLimits, RequestRate, SourcePlugin
from connectors.toolkit import (
    Backoff,
    CallPolicy,
    CursorModel,
    CursorPaginator,
    Fatal,
    Ok,
    RequestCount,
    Retry,
    RetryAfter,
    Verdict,
    call,
)

NAME = "tracker"
PARTITION = "board"


class TrackerItem(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    status: CanonicalStatus
    due: date | None = None
    author: str | None = None


class TrackerMember(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    name: str
    email: str | None = None


class TrackerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    items: list[TrackerItem] = []
    members: list[TrackerMember] = []
    page_size: int = 50
    requests_per_minute: int = 30


@dataclass(frozen=True)
class Answer:
    """One HTTP answer of the tracker's API."""

    status: int
    body: dict[str, Any] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)


Transport = Callable[[str | None], Answer]
"""GET /items?cursor=<position> (None: the first page)."""


def item_api(items: list[TrackerItem], page_size: int) -> Transport:
    """The tracker's list endpoint in memory: `items`, `page_size` a page; a page's cursor is
    the index of its first item."""

    def get(cursor: str | None) -> Answer:
        start = int(cursor or 0)
        following = start + max(1, page_size)
        meta = {"next_cursor": str(following)} if following < len(items) else {}
        page = [item.model_dump(mode="json") for item in items[start:following]]
        return Answer(200, {"items": page, "response_metadata": meta})

    return get


def classify(answer: Answer | Exception) -> Verdict[Answer]:
    """What one attempt's outcome means to the tracker."""
    if isinstance(answer, OSError):
        return Retry(f"connection failed ({type(answer).__name__})", answered=False)
    if isinstance(answer, Exception):
        return Fatal(answer)
    if answer.status == 200:
        return Ok(answer)
    if answer.status == 429:
        wait = answer.headers.get("Retry-After")
        return RetryAfter(float(wait) if wait is not None else None)
    if answer.status >= 500:
        return Retry(f"server error ({answer.status})")
    return Fatal(ConnectorError(f"Tracker: refused ({answer.status})"))


class TrackerCursor(CursorModel):
    """A read of the board that has not finished: the page it goes on from and the items read
    before it. A finished read stores `page` None, and the next pull reads the board again."""

    page: str | None = None
    seen: list[str] = []


class TrackerConnector:
    source = NAME

    def __init__(
        self,
        section: TrackerConfig,
        index: DeliverableIndex,
        clock: Callable[[], datetime],
        *,
        transport: Transport | None = None,
        rate_limiter: RateLimiter = NoRateLimit(),  # noqa: B008 - stateless, the contract's default
        sleep: Callable[[float], None] = time.sleep,
    ):
        self._section = section
        self._members = [PersonRecord(NAME, m.id, name=m.name, email=m.email) for m in section.members]
        self._linked = index.linked(NAME)
        self._clock = clock
        self._transport = transport or item_api(section.items, section.page_size)
        self._policy = CallPolicy(
            limiter=rate_limiter, limiter_key=f"{NAME}:items", max_retries=3, backoff=Backoff(0.5, 5.0),
            sleep=sleep, name=NAME,
        )

    def partitions(self) -> list[str]:
        return [PARTITION]

    def pull(self, partition: str, cursor: str | None) -> Iterator[SyncBatch]:
        """One batch per page; a page's cursor says where an interrupted read goes on; the last
        carries every item read (`live_refs`)."""
        now = self._clock()
        state = TrackerCursor.load(cursor)
        resume = state if state is not None and state.page else TrackerCursor()
        count = RequestCount()
        seen = list(resume.seen)

        def fetch(position: str | None) -> Answer:
            return call(lambda: self._transport(position), classify, policy=self._policy, count=count,
                        where=f"Tracker {partition}")

        for page in CursorPaginator(fetch, items_key="items", start=resume.page, body=lambda answer: answer.body):
            items = [TrackerItem.model_validate(raw) for raw in page.items]
            seen += [item.id for item in items]
            batch = SyncBatch(
                observations=[o for item in items for o in self._claims(item, now)],
                people=self._members if page.next is None else [],  # with the read's last page
                cursor=TrackerCursor(page=page.next, seen=seen if page.next else []).dump(),
                requests=count.take(),
                throttled=count.take_throttled(),
            )
            if page.next is None:
                batch.live_refs = frozenset(seen)
            yield batch

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
    return TrackerConnector(ctx.section, ctx.index, ctx.clock, rate_limiter=ctx.rate_limiter)


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
