"""What the notifier's stages report, its timing settings, and the constants they share."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from typing import TYPE_CHECKING

from reconciler.models import Conflict, ConflictState, NotificationStatus
from reconciler.protocol import AlertsConfig, parse_duration

if TYPE_CHECKING:
    from reconciler.routing import Recipient

ACTOR = "notifier"
AUTO_RESOLVER = "auto"  # Conflict.resolved_by when the sources agreed again
CLOSED_CONFLICT_STATES = (ConflictState.RESOLVED, ConflictState.DISMISSED)
TOLD_STATUSES = (NotificationStatus.PENDING, NotificationStatus.SENDING, NotificationStatus.SENT)
DELIVERED_STATUSES = (NotificationStatus.SENDING, NotificationStatus.SENT)
CHECK_IN_KIND = "stale"  # findings that are check-ins: a daily digest, no escalation
SEVERITY_RANK = {"low": 0, "medium": 1, "high": 2}


# -- what flows between the stages ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Notice:
    """One candidate message: tell `recipient` about `conflict_id` for `reason` (a
    NotificationReason), at escalation `level`, threaded under `parent_id`. A check-in carries
    the digest slot (`digest_due`) it belongs to."""

    conflict_id: int
    recipient: Recipient
    reason: str
    level: int
    parent_id: int | None = None
    digest_due: datetime | None = None


class Silences(Enum):
    """Which silences the inhibit/silence stage asks about a candidate."""

    NONE = "none"  # nothing to decide: `suppressed_by` is left as it is
    ALL = "all"  # snoozes and inhibiting dependency violations
    SNOOZES = "snoozes"  # a closed conflict's resolution notice: snoozes only


@dataclass(frozen=True, slots=True)
class EpisodeUpdate:
    """What a conflict's episode records once its notices pass the silence stage (None: unchanged)."""

    alert_started_at: datetime | None = None
    notified_at: datetime | None = None
    last_notified_at: datetime | None = None
    escalation_level: int | None = None

    def apply(self, conflict: Conflict) -> None:
        for name in ("alert_started_at", "notified_at", "last_notified_at", "escalation_level"):
            value = getattr(self, name)
            if value is not None:
                setattr(conflict, name, value)


@dataclass(frozen=True, slots=True)
class Candidate:
    """The plan stage's output for one due conflict: its candidate notices, the silences that
    can stop them, and what the episode records if they are not stopped. `unroutable` stops them
    when no silence does (a first notice nobody can receive); `blocked_by` stops them whatever the
    silences say (a check-in nobody can receive). `next_check` is a check-in's next look."""

    conflict: Conflict
    notices: tuple[Notice, ...] = ()
    silences: Silences = Silences.NONE
    update: EpisodeUpdate | None = None
    unroutable: str | None = None
    blocked_by: str | None = None
    next_check: datetime | None = None
    warnings: tuple[str, ...] = ()  # logged when the update is recorded

    @property
    def conflict_id(self) -> int:
        assert self.conflict.id is not None
        return self.conflict.id


# -- reports --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlannedNotice:
    notification_id: int
    recipient: str
    reason: str
    conflict_ids: tuple[int, ...]
    not_before: datetime | None
    appended: bool = False  # added to a window's DM that was already waiting


@dataclass(slots=True)
class PlanReport:
    notices: list[PlannedNotice] = field(default_factory=list)
    suppressed: dict[int, str] = field(default_factory=dict)  # conflict id -> suppressed_by
    ack_timeouts: list[int] = field(default_factory=list)
    withdrawn: list[int] = field(default_factory=list)  # closed before their pending DM went out

    @property
    def written(self) -> int:
        return len(self.notices)


@dataclass(frozen=True, slots=True)
class DeliveredMessage:
    notification_id: int
    recipient: str
    reason: str
    conflict_ids: tuple[int, ...]
    text: str
    sent: bool
    status: str
    not_before: datetime | None = None
    channel: str | None = None
    ts: str | None = None
    thread_ts: str | None = None
    error: str | None = None
    found_in_slack: bool = False  # its outcome was unknown, and Slack showed it had been posted


@dataclass(slots=True)
class DeliverReport:
    """What one delivery pass did. With `dry_run`, `messages` is what would be sent (every
    pending row, due now or later, with its `not_before`), and nothing was marked."""

    dry_run: bool = False
    messages: list[DeliveredMessage] = field(default_factory=list)
    reclaimed: int = 0
    aborted: str | None = None

    @property
    def sent(self) -> list[DeliveredMessage]:
        return [m for m in self.messages if m.sent]

    @property
    def failed(self) -> list[DeliveredMessage]:
        return [m for m in self.messages if m.error is not None]

    @property
    def skipped(self) -> list[DeliveredMessage]:
        return [m for m in self.messages if m.status == NotificationStatus.SKIPPED]


@dataclass(frozen=True, slots=True)
class AlertTiming:
    group_wait: timedelta
    group_interval: timedelta
    repeat_interval: timedelta
    ack_timeout: timedelta
    quiet_hours: str | None

    @classmethod
    def from_config(cls, alerts: AlertsConfig) -> AlertTiming:
        return cls(
            group_wait=parse_duration(alerts.group_wait),
            group_interval=parse_duration(alerts.group_interval),
            repeat_interval=parse_duration(alerts.repeat_interval),
            ack_timeout=parse_duration(alerts.ack_timeout),
            quiet_hours=alerts.quiet_hours,
        )
