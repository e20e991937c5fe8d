"""What a source package exports: one `SourcePlugin` the rest of the system reads instead of
naming the source. A registry (connectors/registry.py) lists the plugins; the pipeline, the
config, the settings and the rate limiter ask it.

Plugins read the config and settings objects by attribute (duck-typed), so this module and the
source packages depend on nothing above `connectors`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel

from connectors.base import Connector, ConnectorError, DeliverableIndex, RateLimiter, SyncBatch


@dataclass(frozen=True, slots=True)
class Credentials:
    """How to reach a source: its token (None: not configured) and API address. `variable` is
    the environment variable a user sets to configure the token (named in errors)."""

    token: str | None
    base_url: str
    variable: str


@dataclass(frozen=True, slots=True)
class BuildContext:
    """Everything `SourcePlugin.build` may use; `token` is set (checked by the caller)."""

    token: str
    base_url: str
    section: Any  # the plugin's config section (an instance of its `config_model`)
    index: DeliverableIndex
    rate_limiter: RateLimiter
    timezone: str
    clock: Callable[[], datetime]
    timeout: float


@dataclass(frozen=True, slots=True)
class RequestRate:
    """`limit` requests per `period` seconds with bursts of `burst` (default `limit`), counted
    in the bucket named `bucket`."""

    bucket: str
    limit: int
    period: float = 60.0
    burst: int | None = None


@dataclass(frozen=True, slots=True)
class RequestLimits:
    """What one rate-limiter key of the source must get: a token of every rate, and a slot
    out of `concurrency` requests in flight when set."""

    rates: tuple[RequestRate, ...]
    concurrency: int | None = None


@dataclass(frozen=True)
class WriteTarget:
    """One place a decision is written back to: `ref` names it in its source (a Slack channel
    with `thread_ts`, an Asana task); `action` says what is done there (`reply in thread`)."""

    source: str
    ref: str
    label: str
    permalink: str | None = None
    thread_ts: str | None = None
    action: str = "comment on"

    def describe(self) -> str:
        return f"{self.label}: {self.action} {self.permalink or '(no permalink)'}"


class Evidence(Protocol):
    """A stored claim as write-back reads it."""

    source: str
    source_ref: str
    permalink: str | None
    partition: str | None


class Writer(Protocol):
    def write(self, target: WriteTarget, text: str, *, mark: str) -> str:
        """Write `text` once (`mark` names this decision's write, to find one whose answer was
        lost); the id of what was written. A failure is a one-line ConnectorError."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class WriteBack:
    """How a decision is written back to a source. targets: the places the source's evidence
    names (and notes on evidence that takes no write). writer: a client, built on first use.
    audit / place: a target as an audit event's details, and back (`Place`), so a retry never
    writes twice. result_key: the details key of the written id. markup: how text is escaped
    for the source (`plain`, `slack_mrkdwn`)."""

    targets: Callable[[Sequence[Evidence]], tuple[list[WriteTarget], list[str]]]
    writer: Callable[[Credentials, RateLimiter, float], Writer]
    audit: Callable[[WriteTarget], dict[str, Any]]
    place: Callable[[Mapping[str, Any]], tuple[str, str | None]]
    result_key: str
    markup: str = "plain"


@dataclass(frozen=True)
class PushContext:
    """What a source's push receiver may use. `changed(partition)`: the source pushed that the
    partition changed (the caller syncs it, then reconciles and notifies; it returns at once).
    `partitions()`: the partitions to follow. `public_url`: where the service is reached."""

    credentials: Credentials
    section: Any
    public_url: str
    partitions: Callable[[], list[str]]
    changed: Callable[[str], None]
    clock: Callable[[], datetime]
    scrub: Callable[[str], str]
    timeout: float


@dataclass(frozen=True, slots=True)
class PushedChange:
    """One item as a source pushed it (a Slack message event): `place`, the id pushes name its
    partition by (a channel id); `source_ref`, the item; `version`, which version of it (an older
    one never replaces a newer one; a deletion is final); `item`, what the source says of it, for
    the plugin's mapping alone."""

    place: str
    source_ref: str
    version: str
    deleted: bool
    item: Any


@dataclass(frozen=True)
class PushMapping:
    """How a source's pushed events become what its poller would store (`SourcePlugin.pushed`).

    change: one event as a `PushedChange`, None for an event that states no item. place: the
    id pushes name a partition by, from its stored cursor or asked of the connector (built on
    first use by the callable given; a ConnectorError when it cannot be). batch: the change stated as a poll states it, claims or
    a retraction, without moving the cursor. cursor_after: the stored cursor with the change
    noted (so the next poll does not read it again; `claims`: the batch carries claims), None:
    unchanged. version_key: a version as a sortable key; version_time: as a moment."""

    change: Callable[[Mapping[str, Any]], PushedChange | None]
    place: Callable[[Callable[[], Connector], str, str | None], str]
    batch: Callable[[Connector, str, str | None, PushedChange], SyncBatch]
    cursor_after: Callable[[Connector, str | None, PushedChange, bool], str | None]
    version_key: Callable[[str], Any]
    version_time: Callable[[str], datetime]


@dataclass(frozen=True)
class ApiErrors:
    """How a surface using a source's `api_client` reads its failures: `describe(exc, where)`,
    one line naming `where` (a TransientError when a retry may help); `outcome_unknown(exc)`,
    whether a failed call may still have taken effect (no answer, a cut-off one, a server
    error after the request arrived), so a post is looked for before it is sent again."""

    describe: Callable[[Exception, str], ConnectorError]
    outcome_unknown: Callable[[BaseException], bool]


class PushReceiver(Protocol):
    """Receives a source's pushes over HTTP on the service's public URL: every request under
    `path_prefix` goes to `wsgi`; `watch` keeps the source's subscriptions (a thread)."""

    path_prefix: str

    def wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]: ...

    def watch(self, stop: threading.Event) -> threading.Thread: ...


@dataclass(frozen=True)
class SourcePlugin:
    """One source. `name` is the source value observations, cursors and findings carry.

    config_model: the model of its config file section (read by `section`). credentials: the
    token and address from the settings. build: a connector. partitions: the partitions to sync
    that cost no request; when `needs_expansion(section)`, `expand(connector, config)` asks the
    source for the full list. limits(section): the rate-limiter budget of one request key
    (given the part after `<name>:`). partitions_at_once / requests_in_flight: how many
    partitions sync side by side, and the cap on requests in flight across them (None: no cap).
    link_kind: the deliverable link (`[[deliverables]] links.<kind>`) naming the item a
    deliverable is in this source. ref_kind: what a claim's source ref names, as data the rules
    read (`item` by default; `project` for claims that speak for a whole project). label /
    item_noun: how findings name the source and its items. The people a connector reports
    (`SyncBatch.people`, `PersonRecord.source` = `name`) are joined to the others by email and
    their id kept as the person's identity in `name`: no attribute here, no column in the store.
    """

    name: str
    label: str
    config_model: type[BaseModel]
    credentials: Callable[[Any], Credentials]
    build: Callable[[BuildContext], Connector]
    partitions: Callable[[Any], list[str]]
    """From the whole config: the partitions to sync that cost no request."""
    limits: Callable[[Any], Callable[[str], RequestLimits]]
    partitions_at_once: Callable[[Any], int] = lambda section: 4
    requests_in_flight: Callable[[Any], int | None] = lambda section: None
    first_reads_at_once: int | None = 2
    """Partitions reading their whole history for the first time side by side at most (each is
    bound by the API budget, not by waiting); None: as many as `partitions_at_once`."""
    first_read_per_minute: Callable[[Any], float | None] = lambda section: None
    """From its config section: the requests a minute a first read may spend (its slowest
    budget), for the time-left estimate; None: not known."""
    first_read_newest_first: bool = False
    """Its first read stores the newest items first, so what a first read has stored so far is
    current and may be reconciled before the read ends; otherwise (Asana's project order) a
    partition's findings wait for its first read to finish."""
    expand: Callable[[Connector, Any], list[str]] | None = None
    needs_expansion: Callable[[Any], bool] = lambda section: False
    link_kind: str | None = None
    item_noun: str = "item"
    ref_kind: Callable[[str], str] = lambda source_ref: "item"
    writeback: WriteBack | None = None
    """How a decision is written back where this source's evidence lives; None: it is not."""
    section: str | None = None
    """The config file's key of its section, validated with `config_model` when the file is read
    (`asana` for `[asana]`); default `sources.<name>` (`[sources.<name>]`). The loaded config
    gives the validated section as `config.source(name)`."""
    deliverable_refs: Callable[[Any], Mapping[str, str]] = lambda section: {}
    """From its validated section: the deliverable keys it names, by the field path inside the
    section (`channel_defaults.launches` -> `checkout`), checked like every other reference."""
    partition_defaults: Callable[[Any], Mapping[str, str]] = lambda section: {}
    """From its validated section: the deliverable a partition's items are about when they name
    none (Slack's `channel_defaults`), for the deliverable index."""
    poll: Callable[[Any], PollPlan] = lambda settings: PollPlan()
    """From the worker settings (read by attribute): how often its partitions are polled."""
    pushed: PushMapping | None = None
    """How events the source pushes to a listener of its own (the Slack app) are stored; None:
    it pushes none."""
    push_receiver: Callable[[PushContext], PushReceiver] | None = None
    """Receives the source's pushes over HTTP (Asana's webhooks); None: it pushes nothing."""
    api_client: Callable[[Credentials, float], Any] | None = None
    """A client of its API for the surfaces that speak to people there (the notifier's DM
    channel, the Slack app), from its credentials and the request timeout; None: none."""
    api_errors: ApiErrors | None = None
    """How the failures of `api_client`'s calls read."""

    def section_path(self) -> tuple[str, ...]:
        """Where its section is in the config file: (`asana`,) or (`sources`, `<name>`)."""
        return (self.section,) if self.section else ("sources", self.name)

    @property
    def pushes_heartbeat(self) -> str:
        """The periodic-run name its push listener touches while pushes reach the service."""
        return f"{self.name}-events"

    def lists_without_requests(self, config: Any) -> bool:
        """Whether `partitions(config)` is the whole list (no `expand` asking the source)."""
        return self.expand is None or not self.needs_expansion(config.source(self.name))


@dataclass(frozen=True, slots=True)
class PollPlan:
    """How often a source's partitions are polled, in seconds. `interval`: as a rule (None: the
    runner's interval); `while_pushed`: instead, while its pushes flow (its listener's heartbeat,
    `SourcePlugin.pushes_heartbeat`, is fresh), None: pushes do not change the pace."""

    interval: float | None = None
    while_pushed: float | None = None


PROJECT_REF = "project"
"""`SourcePlugin.ref_kind` of a claim that speaks for a whole project (less specific than the
item's own claims)."""


class UnknownSource(ConnectorError):
    pass


class SourceRegistry:
    """The registered sources, in the order they sync and are listed."""

    def __init__(self, plugins: Iterable[SourcePlugin]):
        self._plugins: dict[str, SourcePlugin] = {}
        for plugin in plugins:
            if plugin.name in self._plugins:
                raise ValueError(f"two sources named {plugin.name!r}")
            self._plugins[plugin.name] = plugin

    def __iter__(self) -> Iterator[SourcePlugin]:
        return iter(self._plugins.values())

    def __contains__(self, name: object) -> bool:
        return name in self._plugins

    def names(self) -> list[str]:
        return list(self._plugins)

    def get(self, name: str) -> SourcePlugin:
        plugin = self._plugins.get(str(name))
        if plugin is None:
            known = ", ".join(self._plugins) or "none"
            raise UnknownSource(f"{name} is not a source that can be synced (known: {known})")
        return plugin

    def find(self, name: str) -> SourcePlugin | None:
        return self._plugins.get(str(name))

    def labels(self) -> Mapping[str, str]:
        return {p.name: p.label for p in self}

    def ref_kind(self, source: str, source_ref: str) -> str:
        plugin = self._plugins.get(str(source))
        return plugin.ref_kind(source_ref) if plugin is not None else "item"

    def audit_target(self, details: Mapping[str, Any]) -> SourcePlugin | None:
        """The source a write-back audit event's details name (`target`)."""
        return self._plugins.get(str(details.get("target")))
