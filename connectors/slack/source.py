"""The Slack source: channels as partitions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from connectors.base import Connector, ConnectorError, Source
from connectors.config import SlackConfig
from connectors.plugin import ApiErrors, BuildContext, Credentials, PollPlan, RequestLimits, RequestRate, SourcePlugin
from connectors.slack.events import pushed_messages
from connectors.slack.writeback import writeback

NAME = Source.SLACK

# Channels synced at the same time at most. Each mostly waits on its API; the rate limiter
# keeps the budget.
CHANNELS_AT_ONCE = 20

TIERS: dict[str, int] = {"tier1": 1, "tier2": 20, "tier3": 50, "tier4": 100}

METHOD_TIERS: dict[str, str] = {
    "auth.test": "tier4",
    "conversations.history": "tier3",
    "conversations.replies": "tier3",
    "conversations.info": "tier3",
    "conversations.list": "tier2",
    "conversations.members": "tier4",
    "conversations.open": "tier3",
    "chat.update": "tier3",
    "chat.delete": "tier3",
    "chat.getPermalink": "tier4",
    "users.info": "tier4",
    "users.list": "tier2",
    "users.lookupByEmail": "tier3",
}

# Non-Marketplace apps created after May 2025: history and replies at 1 request per minute.
MARKETPLACE_LIMITED = {"conversations.history": 1, "conversations.replies": 1}


@dataclass(frozen=True)
class SlackLimits:
    """Slack's budget for a key `<method>` (the method's tier; unknown methods count as
    `default_tier`) or `chat.postMessage:<channel>` (one message per second per channel)."""

    tiers: dict[str, int] = field(default_factory=lambda: dict(TIERS))
    method_tiers: dict[str, str] = field(default_factory=lambda: dict(METHOD_TIERS))
    method_overrides: dict[str, int] = field(default_factory=dict)
    default_tier: str = "tier3"
    post_per_channel_per_second: float = 1.0

    @classmethod
    def for_section(cls, section: SlackConfig) -> SlackLimits:
        return cls(method_overrides=dict(MARKETPLACE_LIMITED) if section.budget == "marketplace_limited" else {})

    def __call__(self, rest: str) -> RequestLimits:
        method, _, scope = rest.partition(":")
        method = method or "unknown"
        if method == "chat.postMessage":
            per_second = self.post_per_channel_per_second
            burst = max(1, round(per_second))
            return RequestLimits((RequestRate(f"chat.postMessage:{scope or '-'}", burst, period=burst / per_second),))
        per_minute = self.method_overrides.get(method)
        if per_minute is None:
            tier = self.method_tiers.get(method, self.default_tier)
            per_minute = self.tiers.get(tier, self.tiers[self.default_tier])
        return RequestLimits((RequestRate(f"method:{method}", per_minute),))


def _reads_per_minute(section: SlackConfig) -> float:
    """What a first read may spend: conversations.history and .replies each have this budget
    (Tier 3, 50 a minute; 1 with `budget = "marketplace_limited"`)."""
    (rate,) = SlackLimits.for_section(section)("conversations.replies").rates
    return rate.limit * 60.0 / rate.period


def _secret(value: Any) -> str | None:
    return value.get_secret_value() if value is not None and value.get_secret_value() else None


def _credentials(settings: Any) -> Credentials:
    return Credentials(_secret(settings.slack_bot_token), settings.slack_base_url, "SLACK_BOT_TOKEN")


def _api_client(credentials: Credentials, timeout: float) -> Any:
    """A slack-sdk WebClient with the connector's retries (connectors/slack/client.py)."""
    from connectors.slack.client import make_web_client

    return make_web_client(credentials.token or "", credentials.base_url, timeout=timeout)


def _describe_error(exc: Exception, where: str) -> ConnectorError:
    from slack_sdk.errors import SlackApiError

    from connectors.slack.client import describe_slack_error, describe_transport_error

    if isinstance(exc, SlackApiError):
        return describe_slack_error(exc, where=where)
    return describe_transport_error(exc, where=where) or ConnectorError(f"Slack {where}: {type(exc).__name__}")


def _outcome_unknown(exc: BaseException) -> bool:
    from connectors.slack.client import outcome_unknown

    return outcome_unknown(exc)


def _build(ctx: BuildContext) -> Connector:
    from connectors.slack.client import make_web_client
    from connectors.slack.connector import SlackConnector

    return SlackConnector(
        token=ctx.token,
        base_url=ctx.base_url,
        config=ctx.section,
        index=ctx.index,
        rate_limiter=ctx.rate_limiter,
        timezone=ctx.timezone,
        clock=ctx.clock,
        client=make_web_client(ctx.token, ctx.base_url, timeout=ctx.timeout),
    )


plugin = SourcePlugin(
    name=NAME,
    label="Slack",
    config_model=SlackConfig,
    section=str(NAME),
    credentials=_credentials,
    build=_build,
    partitions=lambda config: list(config.source(NAME).channels),
    limits=SlackLimits.for_section,
    partitions_at_once=lambda section: CHANNELS_AT_ONCE,
    # a first read goes newest first, one page's threads in memory: all channels' last days first
    first_reads_at_once=None,
    first_read_newest_first=True,
    first_read_per_minute=lambda section: _reads_per_minute(section),
    item_noun="message",
    writeback=writeback,
    deliverable_refs=lambda section: {f"channel_defaults.{c}": key for c, key in section.channel_defaults.items()},
    partition_defaults=lambda section: section.channel_defaults,
    # while the Slack app hears message events, a channel's poll is only the safety net
    poll=lambda settings: PollPlan(while_pushed=settings.slack_events_sync_interval),
    api_client=_api_client,
    api_errors=ApiErrors(describe=_describe_error, outcome_unknown=_outcome_unknown),
    pushed=pushed_messages,
)
