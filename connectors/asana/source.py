"""The Asana source: projects (and the projects of portfolios and teams) as partitions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from connectors.base import Connector, Source
from connectors.config import AsanaConfig
from connectors.asana.mapping import STATUS_UPDATE_PREFIX
from connectors.asana.writeback import writeback
from connectors.plugin import (
    PROJECT_REF,
    BuildContext,
    Credentials,
    PollPlan,
    PushContext,
    PushReceiver,
    RequestLimits,
    RequestRate,
    SourcePlugin,
)

NAME = Source.ASANA


@dataclass(frozen=True, slots=True)
class AsanaLimits:
    """Asana's budget: requests per minute, and at most `concurrency` in flight."""

    per_minute: int = 150
    concurrency: int = 10

    def __call__(self, rest: str) -> RequestLimits:
        return RequestLimits((RequestRate("requests", self.per_minute),), self.concurrency)


def _secret(value: Any) -> str | None:
    return value.get_secret_value() if value is not None and value.get_secret_value() else None


def _credentials(settings: Any) -> Credentials:
    return Credentials(_secret(settings.asana_token), settings.asana_base_url, "ASANA_TOKEN")


def _build(ctx: BuildContext) -> Connector:
    from connectors.asana.connector import AsanaConnector

    section: AsanaConfig = ctx.section
    return AsanaConnector(
        token=ctx.token,
        base_url=ctx.base_url,
        config=section,
        index=ctx.index,
        rate_limiter=ctx.rate_limiter,
        timezone=ctx.timezone,
        use_events=section.use_events,
        full_crawl_every=section.full_crawl_interval(),
        clock=ctx.clock,
        timeout=ctx.timeout,
    )


def _partitions(config: Any) -> list[str]:
    """Projects, then portfolios and teams not expanded yet (`portfolio:<gid>`, `team:<gid>`:
    syncing one reports why it could not be expanded), then the projects rules read."""
    section: AsanaConfig = config.source(NAME)
    names = [*section.projects, *(f"portfolio:{g}" for g in section.portfolios), *(f"team:{g}" for g in section.teams)]
    return list(dict.fromkeys([*names, *config.rule_projects()]))


def _expand(connector: Connector, config: Any) -> list[str]:
    """The projects of portfolios and teams asked of Asana, plus those rules read."""
    return list(dict.fromkeys([*connector.partitions(), *config.rule_projects()]))


def _push_receiver(ctx: PushContext) -> PushReceiver:
    from connectors.asana.webhooks import AsanaWebhookReceiver

    return AsanaWebhookReceiver(ctx)


def _ref_kind(source_ref: str) -> str:
    return PROJECT_REF if source_ref.startswith(STATUS_UPDATE_PREFIX) else "item"


plugin = SourcePlugin(
    name=NAME,
    label="Asana",
    config_model=AsanaConfig,
    section=str(NAME),
    credentials=_credentials,
    build=_build,
    partitions=_partitions,
    needs_expansion=lambda section: bool(section.portfolios or section.teams),
    expand=_expand,
    limits=lambda section: AsanaLimits(section.requests_per_minute, section.concurrent_requests),
    partitions_at_once=lambda section: section.concurrent_requests,
    requests_in_flight=lambda section: section.concurrent_requests,
    first_read_per_minute=lambda section: float(section.requests_per_minute),
    link_kind=NAME,
    item_noun="task",
    ref_kind=_ref_kind,
    writeback=writeback,
    # a shorter interval reads each project's /events (one request when nothing changed)
    poll=lambda settings: PollPlan(interval=settings.asana_sync_interval),
    push_receiver=_push_receiver,
)

__all__ = ["AsanaLimits", "plugin"]
