"""The contract between connectors and the rest of the system.

A connector pulls one partition (an Asana project, a Slack channel) from its cursor and yields
`SyncBatch`es of normalised `Observation`s. It knows nothing about conflicts or the database:
the store applies each batch and advances the cursor in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol


class Source(StrEnum):
    """The sources built in. Any registered plugin's name (connectors/registry.py) is a source
    too: code that handles every source takes a `SourceName`."""

    ASANA = "asana"
    SLACK = "slack"
    MANUAL = "manual"


SourceName = str


class Field(StrEnum):
    STATUS = "status"
    TARGET_DATE = "target_date"
    OWNER = "owner"
    DEPENDS_ON = "depends_on"


class CanonicalStatus(StrEnum):
    NOT_STARTED = "not_started"
    ON_TRACK = "on_track"
    AT_RISK = "at_risk"
    BLOCKED = "blocked"
    DONE = "done"
    CANCELLED = "cancelled"


class ClaimKind(StrEnum):
    """State-like claims (an Asana field) hold until changed; event-like ones (a message) are
    said once and are superseded by any later change of a state-like claim."""

    STATE = "state"
    EVENT = "event"


@dataclass(frozen=True, slots=True)
class Observation:
    """One claim a source made about one field of one deliverable.

    `source_ref` identifies the thing that made the claim in its source (an Asana task gid, a
    Slack `channel:ts`); together with `source`, `field` and `deliverable_key` it is the claim's
    identity, so a re-read or an edit replaces the claim instead of adding another.

    Values: a `CanonicalStatus` for status, an ISO date for target_date, a person's email (or
    source id when unknown) for owner, and for depends_on the comma-separated sorted keys of
    every deliverable it depends on (one claim per ref, so a removed dependency is seen).
    """

    deliverable_key: str
    source: SourceName
    source_ref: str
    field: Field
    value: str | None
    stated_at: datetime
    kind: ClaimKind
    author: str | None = None
    excerpt: str = ""
    permalink: str | None = None
    edited_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Retraction:
    """Every claim a source ref made is withdrawn (a deleted message, a task removed)."""

    source: SourceName
    source_ref: str


@dataclass(frozen=True, slots=True)
class PersonRecord:
    """What a source knows about a person; joined to other sources by email."""

    source: SourceName
    source_id: str
    name: str | None = None
    email: str | None = None
    timezone: str | None = None


@dataclass(slots=True)
class SyncBatch:
    """One unit of progress. The store applies it atomically with `cursor` (None keeps the
    stored cursor). A connector yields a batch only after every request behind it succeeded."""

    observations: list[Observation] = field(default_factory=list)
    retractions: list[Retraction] = field(default_factory=list)
    people: list[PersonRecord] = field(default_factory=list)
    cursor: str | None = None
    requests: int = 0
    throttled: int = 0  # of those requests, answers that were 429 (rate limited) and waited for
    progress: float | None = None  # the share of a first (full) read done after it, if known
    live_refs: frozenset[str] | None = None
    """Set on the last batch of a full crawl: every source ref still alive in the partition.
    Stored claims of the partition whose ref is not in it are retracted (deleted tasks)."""


@dataclass(frozen=True, slots=True)
class DeliverableRef:
    """A deliverable as connectors see it: its key, the item it is in each source (`links`:
    link kind, e.g. `asana`, -> the id there) and the names it goes by."""

    key: str
    links: Mapping[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DeliverableIndex:
    """How connectors link what they read to deliverable keys, built from configuration."""

    links: Mapping[str, Mapping[str, str]]
    by_alias: Mapping[str, str]
    channel_defaults: Mapping[str, str]

    @classmethod
    def build(
        cls,
        deliverables: list[DeliverableRef],
        *,
        channel_defaults: Mapping[str, str] | None = None,
    ) -> DeliverableIndex:
        links: dict[str, dict[str, str]] = {}
        for d in deliverables:
            for kind, ident in d.links.items():
                if ident:
                    links.setdefault(kind, {})[ident] = d.key
        by_alias: dict[str, str] = {}
        for d in deliverables:
            for alias in (d.key, *d.aliases):
                by_alias[alias.lower()] = d.key
        return cls(links, by_alias, dict(channel_defaults or {}))

    def linked(self, kind: str) -> Mapping[str, str]:
        """The deliverables linked to an item of `kind`: the item's id -> the deliverable key."""
        return self.links.get(kind, {})


class ConnectorError(Exception):
    """A failure a user can act on (bad token, missing access, unknown project). The message is
    one line, names the partition or object, and never contains a token."""


class TransientError(ConnectorError):
    """A failure that may pass on retry (rate limit, 5xx, connection reset)."""


class UnreachableError(TransientError):
    """No answer from the API at all, retries spent (connection refused, no route, timeouts):
    the other partitions of the source would fail the same way."""


class Connector(Protocol):
    source: SourceName

    def partitions(self) -> list[str]:
        """The partition ids this connector syncs, from configuration."""
        ...

    def pull(self, partition: str, cursor: str | None) -> Iterator[SyncBatch]:
        """Yield batches from `cursor` on; each batch carries the cursor to store with it."""
        ...


class RateLimiter(Protocol):
    """Supplied by the caller so several processes can share one API budget."""

    def acquire(self, key: str) -> None:
        """Block until one request under `key` may be sent."""
        ...

    def release(self, key: str) -> None:
        """Mark the request under `key` finished (for concurrency limits)."""
        ...


class NoRateLimit:
    def acquire(self, key: str) -> None:
        return None

    def release(self, key: str) -> None:
        return None
