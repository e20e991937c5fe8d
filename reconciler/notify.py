"""The notifier: plan who is told what (an outbox), then deliver the outbox to Slack.

Planning (`plan_notifications`) reads conflicts and writes `Notification` rows; it never sends.
Delivery (`deliver_pending`) claims due rows under a lock, sends them as Slack DMs and marks them
sent. Every delay is data (`Conflict.next_escalation_at`, `Notification.not_before`) selected by
the next sweep: nothing sleeps and nothing is scheduled with a countdown.

Semantics, per conflict episode (an episode starts when the notifier first sees the conflict
active, and again when a closed conflict reopens):

- first notice: level 0 of the role's escalation path (the decision owner; without one the
  role's lead, else its head), `after` level 0's delay; new conflicts for one recipient are
  grouped into one DM per window: the window's DM waits `group_wait`, and a recipient's next
  window opens no sooner than `group_interval` after the previous one;
- escalation: level i fires once, when `after` has elapsed since the episode started and its
  `when` holds (`not_acknowledged`: state open; `not_resolved`: open or acknowledged; `always`);
- reminders: while open, every `repeat_interval`, to the level-0 recipient and the current
  escalation level's recipient; acknowledged conflicts get none;
- ack timeout: an acknowledgement older than `ack_timeout` lapses (state open again, audit event
  `ack_timeout`), which resumes reminders and not_acknowledged escalation;
- resolved/dismissed: told once, to everyone a DM about it was sent to (not to the resolver);
  notices still pending for it are withdrawn;
- silences: a matching snooze or an inhibiting dependency violation stops every notice and is
  recorded in `Conflict.suppressed_by`; when it lifts, whatever is due goes out;
- quiet hours: notices whose conflicts are all non-urgent (severity != high) wait until quiet
  hours end in the recipient's time zone.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.client import HTTPException
from typing import Any
from zoneinfo import ZoneInfo

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy import Engine, func, or_, text, update
from sqlmodel import Session, col, select

from connectors.slack.client import describe_slack_error, outcome_unknown
from reconciler import messages, store
from reconciler.conflicts import apply_transition
from reconciler import snoozes as silences
from reconciler import untrusted
from reconciler.db import session_scope
from reconciler.models import (
    ACTIVE_CONFLICT_STATES,
    Conflict,
    ConflictState,
    Notification,
    NotificationConflict,
    NotificationReason,
    NotificationStatus,
    Person,
    Snooze,
)
from reconciler.protocol import AlertsConfig, Config, EscalationLevel, parse_duration
from reconciler.routing import Directory, Recipient, check_in_slot, deliver_at, level_applies

log = logging.getLogger(__name__)

ACTOR = "notifier"
AUTO_RESOLVER = "auto"  # Conflict.resolved_by when the sources agreed again
CLOSED_CONFLICT_STATES = (ConflictState.RESOLVED, ConflictState.DISMISSED)
TOLD_STATUSES = (NotificationStatus.PENDING, NotificationStatus.SENDING, NotificationStatus.SENT)
DELIVERED_STATUSES = (NotificationStatus.SENDING, NotificationStatus.SENT)

SENDING_LEASE = timedelta(seconds=30)
"""How long a claimed row stays `sending` without renewal. A live sender renews its claim every
LEASE_RENEW_EVERY seconds while it talks to Slack, so only a dead sender's row comes back, and
within this time; before it is sent again, Slack is asked whether it went out (_already_posted)."""
LEASE_RENEW_EVERY = 5.0
NOTIFICATION_EVENT = "reconciler_notification"  # the metadata event type that marks our DMs
HISTORY_PAGES = 3  # pages of the DM channel's (or thread's) recent history searched for a DM
MAX_ATTEMPTS = 5
BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_CAP = timedelta(hours=1)
PLANNER_LOCK_ID = 0x5EC0_0001  # pg_advisory_xact_lock key: one planner at a time

_SEVERITY_RANK = {"low": 0, "medium": 1, "high": 2}
CHECK_IN_KIND = "stale"  # findings that are check-ins: a daily digest, no escalation
_ABORT_ERRORS = frozenset({"invalid_auth", "not_authed", "token_revoked", "account_inactive", "missing_scope"})
_PERMANENT_ERRORS = frozenset({"user_not_found", "user_disabled", "cannot_dm_bot", "channel_not_found"})


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


# -- planning -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _FollowUp:
    recipient: Recipient
    reason: str
    parent_id: int | None


@dataclass
class _Planner:
    session: Session
    directory: Directory
    timing: AlertTiming
    now: datetime
    snoozes: list[Snooze]
    inhibitors: dict[int, silences.Inhibitor]
    report: PlanReport = field(default_factory=PlanReport)
    windows: dict[str, Notification] = field(default_factory=dict)
    window_created: set[int] = field(default_factory=set)
    follow_ups: dict[_FollowUp, dict[int, int]] = field(default_factory=dict)  # -> conflict id: level
    touched: dict[int, Notification] = field(default_factory=dict)


def plan_notifications(session: Session, *, config: Config, now: datetime) -> PlanReport:
    """Write the outbox rows that are due at `now`; idempotent, sends nothing. The caller commits."""
    _lock_planner(session)
    timing = AlertTiming.from_config(config.alerts)
    conflicts = _due_conflicts(session, now=now, timing=timing)
    planner = _Planner(
        session=session,
        directory=Directory.load(session, config, {c.deliverable_key for c in conflicts}),
        timing=timing,
        now=now,
        snoozes=silences.active_snoozes(session, now=now),
        inhibitors=silences.inhibition_map(session) if conflicts else {},
    )
    for conflict in conflicts:
        if conflict.state in CLOSED_CONFLICT_STATES:
            _plan_closed(planner, conflict)
        else:
            _plan_active(planner, conflict)
        session.add(conflict)
    session.flush()
    _write_follow_ups(planner)
    _finish_rows(planner)
    session.flush()
    return planner.report


def _lock_planner(session: Session) -> None:
    """Serialise planners: an advisory lock on PostgreSQL, the write lock on SQLite."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PLANNER_LOCK_ID})
    elif dialect == "sqlite":
        session.execute(text("UPDATE notification SET id = id WHERE 1 = 0"))


def _due_conflicts(session: Session, *, now: datetime, timing: AlertTiming) -> list[Conflict]:
    """Conflicts with something to decide now; the rest wait for their `next_escalation_at`
    (looked at up to `group_interval` early, so reminders due close together go out together)."""
    active = col(Conflict.state).in_(ACTIVE_CONFLICT_STATES)
    closed = col(Conflict.state).in_(CLOSED_CONFLICT_STATES)
    stmt = (
        select(Conflict)
        .where(
            or_(
                active
                & or_(
                    col(Conflict.notified_at).is_(None),
                    col(Conflict.next_escalation_at).is_(None),
                    col(Conflict.next_escalation_at) <= now + timing.group_interval,
                    col(Conflict.suppressed_by).is_not(None),
                    col(Conflict.resolution_notified_at).is_not(None),
                    (Conflict.state == ConflictState.ACKNOWLEDGED)
                    & (col(Conflict.acknowledged_at) <= now - timing.ack_timeout),
                ),
                closed
                & col(Conflict.notified_at).is_not(None)
                & col(Conflict.resolution_notified_at).is_(None),
            )
        )
        .order_by(Conflict.id)
    )
    return list(session.exec(stmt))


def _start_episode(conflict: Conflict, now: datetime) -> None:
    conflict.alert_started_at = now
    conflict.notified_at = None
    conflict.last_notified_at = None
    conflict.resolution_notified_at = None
    conflict.escalation_level = 0
    conflict.next_escalation_at = None
    conflict.suppressed_by = None


def _plan_active(p: _Planner, conflict: Conflict) -> None:
    if conflict.alert_started_at is None or conflict.resolution_notified_at is not None:
        _start_episode(conflict, p.now)  # first sight, or reopened after its resolution was told
    forced = _expire_acknowledgement(p, conflict)
    if conflict.kind == CHECK_IN_KIND:
        conflict.next_escalation_at = _plan_check_in(p, conflict)
        return
    levels = p.directory.levels_for(conflict.deliverable_key)
    if conflict.notified_at is None:
        _plan_first_notice(p, conflict, levels)
    elif not _suppress(p, conflict):
        told = _plan_escalations(p, conflict, levels)
        _plan_reminder(p, conflict, told, force=forced)
    conflict.next_escalation_at = _next_due(conflict, levels, p.timing, now=p.now)


def _expire_acknowledgement(p: _Planner, conflict: Conflict) -> bool:
    acked_at = conflict.acknowledged_at
    if conflict.state != ConflictState.ACKNOWLEDGED or acked_at is None:
        return False
    if acked_at + p.timing.ack_timeout > p.now:
        return False
    store.audit(
        p.session,
        actor=ACTOR,
        action="ack_timeout",
        now=p.now,
        conflict_id=conflict.id,
        deliverable_key=conflict.deliverable_key,
        comment=f"acknowledgement older than {p.timing.ack_timeout}; open again",
        details={"acknowledged_by": conflict.acknowledged_by, "acknowledged_at": acked_at.isoformat()},
    )
    apply_transition(conflict, ConflictState.OPEN, now=p.now)
    assert conflict.id is not None
    p.report.ack_timeouts.append(conflict.id)
    return True


def _suppress(p: _Planner, conflict: Conflict, reason: str | None = None) -> bool:
    """Record why nobody is told (a silence, or `reason`); False when nothing silences it."""
    reason = reason or silences.suppression_for(
        conflict, p.directory.deliverable(conflict.deliverable_key), p.snoozes, p.inhibitors, now=p.now
    )
    if reason is None:
        conflict.suppressed_by = None
        return False
    if conflict.suppressed_by != reason:
        store.audit(
            p.session,
            actor=ACTOR,
            action="notification_suppressed",
            now=p.now,
            conflict_id=conflict.id,
            deliverable_key=conflict.deliverable_key,
            details={"suppressed_by": reason},
        )
    conflict.suppressed_by = reason
    assert conflict.id is not None
    p.report.suppressed[conflict.id] = reason
    return True


def _plan_first_notice(p: _Planner, conflict: Conflict, levels: Sequence[EscalationLevel]) -> None:
    assert conflict.alert_started_at is not None
    if conflict.alert_started_at + levels[0].delay > p.now or _suppress(p, conflict):
        return
    recipient, why = _recipient_for_level(p, conflict, 0)
    if recipient is None:
        _suppress(p, conflict, f"unroutable:{why}")
        return
    _add_to_window(p, recipient, conflict)
    # Escalation counts from the first notice (a snooze or a late sweep does not shorten it).
    conflict.alert_started_at = max(conflict.alert_started_at, p.now - levels[0].delay)
    conflict.notified_at = p.now
    conflict.last_notified_at = p.now
    conflict.escalation_level = 0


def _plan_check_in(p: _Planner, conflict: Conflict) -> datetime | None:
    """A stale deliverable is a check-in, not a contradiction: it joins its owner's daily
    digest (one a working day at `check_in_at`, weekends and their holidays skipped) and never
    escalates. Returns when to look at it again."""
    recipient, why = _recipient_for_level(p, conflict, 0)
    if recipient is None:
        _suppress(p, conflict, f"unroutable:{why}")
        return None
    if conflict.state != ConflictState.OPEN:  # acknowledged: quiet until the acknowledgement lapses
        return conflict.acknowledged_at + p.timing.ack_timeout if conflict.acknowledged_at else None
    if _suppress(p, conflict):
        return None

    def slot(last_sent: datetime | None) -> datetime:
        return check_in_slot(
            p.now, tz=recipient.timezone, at=p.directory.config.alerts.check_in_at,
            working_days=p.directory.config.alerts.working_days,
            is_off=lambda day: p.directory.is_off(recipient.key, day), last_sent=last_sent,
        )

    due = slot(conflict.last_notified_at)
    if due > p.now:
        return due
    row = _digest_row(p, recipient, due)
    if row is None:  # today's digest has gone already: tomorrow's, then
        return slot(p.now)
    assert row.id is not None and conflict.id is not None
    _link(p.session, row.id, conflict.id, level=0, now=p.now)
    p.touched[row.id] = row
    conflict.notified_at = conflict.notified_at or p.now
    conflict.last_notified_at = p.now
    conflict.escalation_level = 0
    return slot(p.now)


def _digest_row(p: _Planner, recipient: Recipient, due: datetime) -> Notification | None:
    """The recipient's check-in digest for `due`'s local day, unless it has been sent."""
    day = due.astimezone(ZoneInfo(recipient.timezone)).date().isoformat()
    key = _idempotency_key(recipient.key, NotificationReason.CHECK_IN, [], f"day@{day}")
    existing = p.session.exec(select(Notification).where(Notification.idempotency_key == key)).first()
    if existing is not None and existing.status != NotificationStatus.PENDING:
        return None
    return existing or _insert_row(p, recipient=recipient, reason=NotificationReason.CHECK_IN, key=key, parent_id=None)


def _recipient_for_level(p: _Planner, conflict: Conflict, level: int) -> tuple[Recipient | None, str]:
    last = len(p.directory.levels_for(conflict.deliverable_key)) - 1
    key, why = p.directory.target_of(conflict.deliverable_key, min(level, last))
    if key is None:
        return None, why
    recipient = p.directory.recipient(key)
    if recipient is None:
        return None, f"unknown person {key!r}"
    return recipient, why


def _plan_escalations(p: _Planner, conflict: Conflict, levels: Sequence[EscalationLevel]) -> set[str]:
    assert conflict.alert_started_at is not None
    told: set[str] = set()
    for index in range(conflict.escalation_level + 1, len(levels)):
        level = levels[index]
        if conflict.alert_started_at + level.delay > p.now or not level_applies(level, conflict.state):
            continue
        recipient, why = _recipient_for_level(p, conflict, index)
        in_the_loop = _reminded(p, conflict)
        conflict.escalation_level = index
        if recipient is None:
            log.warning("conflict %s: escalation level %d has no recipient (%s)", conflict.id, index, why)
            continue
        if recipient.key in in_the_loop:
            continue  # escalating to someone already being reminded adds nothing
        _add_follow_up(p, recipient, NotificationReason.ESCALATION, conflict, level=index)
        told.add(recipient.key)
    return told


def _reminded(p: _Planner, conflict: Conflict) -> dict[str, Recipient]:
    """Who reminders about `conflict` go to: the level-0 recipient and the current level's."""
    found: dict[str, Recipient] = {}
    for level in dict.fromkeys((0, conflict.escalation_level)):
        recipient, _ = _recipient_for_level(p, conflict, level)
        if recipient is not None:
            found[recipient.key] = recipient
    return found


def _plan_reminder(p: _Planner, conflict: Conflict, already_told: set[str], *, force: bool) -> None:
    if conflict.state != ConflictState.OPEN:
        return
    last = conflict.last_notified_at
    # Reminders due within group_interval ride along, so a grouped DM stays one reminder.
    if not force and last is not None and last + p.timing.repeat_interval > p.now + p.timing.group_interval:
        return
    for recipient in _reminded(p, conflict).values():
        if recipient.key in already_told:
            continue
        _add_follow_up(p, recipient, NotificationReason.REMINDER, conflict, level=conflict.escalation_level)
    conflict.last_notified_at = p.now


def _next_due(
    conflict: Conflict, levels: Sequence[EscalationLevel], timing: AlertTiming, *, now: datetime
) -> datetime | None:
    """The next instant the planner has something to decide about this conflict."""
    start = conflict.alert_started_at
    assert start is not None
    candidates: list[datetime] = []
    if conflict.notified_at is None:
        candidates.append(start + levels[0].delay)
    else:
        candidates += [start + lv.delay for lv in levels[conflict.escalation_level + 1 :] if start + lv.delay > now]
        if conflict.state == ConflictState.OPEN and conflict.last_notified_at is not None:
            candidates.append(conflict.last_notified_at + timing.repeat_interval)
    if conflict.state == ConflictState.ACKNOWLEDGED and conflict.acknowledged_at is not None:
        candidates.append(conflict.acknowledged_at + timing.ack_timeout)
    return min(candidates, default=None)


def _plan_closed(p: _Planner, conflict: Conflict) -> None:
    """A resolved or dismissed conflict: withdraw what was not sent, tell who was told, once."""
    _withdraw(p, conflict)
    conflict.resolution_notified_at = p.now
    conflict.next_escalation_at = None
    snooze = silences.active_snooze_for(
        conflict, p.directory.deliverable(conflict.deliverable_key), p.snoozes, p.now
    )
    if snooze is not None:
        _suppress(p, conflict, f"snooze:{snooze.id}")
        return
    conflict.suppressed_by = None
    for recipient_key, parent_id in _told_about(p.session, conflict, DELIVERED_STATUSES):
        if recipient_key == conflict.resolved_by:
            continue
        recipient = p.directory.recipient(recipient_key)
        if recipient is not None:
            _add_follow_up(
                p, recipient, NotificationReason.RESOLVED, conflict, level=conflict.escalation_level, parent_id=parent_id
            )


def _told_about(session: Session, conflict: Conflict, statuses: Iterable[str]) -> list[tuple[str, int]]:
    """(recipient, the first DM about this conflict to them) for this episode, oldest first."""
    stmt = (
        select(Notification)
        .join(NotificationConflict, col(NotificationConflict.notification_id) == col(Notification.id))
        .where(NotificationConflict.conflict_id == conflict.id, col(Notification.status).in_(list(statuses)))
        .order_by(Notification.id)
    )
    if conflict.alert_started_at is not None:
        stmt = stmt.where(NotificationConflict.created_at >= conflict.alert_started_at)
    first: dict[str, int] = {}
    for row in session.exec(stmt):
        assert row.id is not None
        first.setdefault(row.recipient_key, row.parent_id or row.id)
    return list(first.items())


def _withdraw(p: _Planner, conflict: Conflict) -> None:
    """Take a closed conflict out of DMs that have not gone out yet."""
    stmt = (
        select(Notification)
        .join(NotificationConflict, col(NotificationConflict.notification_id) == col(Notification.id))
        .where(NotificationConflict.conflict_id == conflict.id, Notification.status == NotificationStatus.PENDING)
        .with_for_update()
    )
    for row in list(p.session.exec(stmt)):
        assert row.id is not None and conflict.id is not None
        link = p.session.exec(
            select(NotificationConflict).where(
                NotificationConflict.notification_id == row.id, NotificationConflict.conflict_id == conflict.id
            )
        ).one()
        p.session.delete(link)
        p.touched[row.id] = row
        if conflict.id not in p.report.withdrawn:
            p.report.withdrawn.append(conflict.id)
    p.session.flush()


# -- windows and follow-ups -----------------------------------------------------------------


def _add_to_window(p: _Planner, recipient: Recipient, conflict: Conflict) -> None:
    """Group a first notice into the recipient's waiting `new` DM, opening a window if needed."""
    row = p.windows.get(recipient.key) or _open_window(p, recipient)
    p.windows[recipient.key] = row
    assert row.id is not None and conflict.id is not None
    _link(p.session, row.id, conflict.id, level=0, now=p.now)
    p.touched[row.id] = row


def _open_window(p: _Planner, recipient: Recipient) -> Notification:
    waiting = p.session.exec(
        select(Notification)
        .where(
            Notification.recipient_key == recipient.key,
            Notification.reason == NotificationReason.NEW,
            Notification.status == NotificationStatus.PENDING,
        )
        .order_by(col(Notification.id).desc())
        .limit(1)
        .with_for_update()
    ).first()
    if waiting is not None:
        return waiting
    row = _insert_row(
        p,
        recipient=recipient,
        reason=NotificationReason.NEW,
        key=_idempotency_key(recipient.key, NotificationReason.NEW, [], f"window@{p.now.isoformat()}"),
        parent_id=None,
    )
    assert row.id is not None
    p.window_created.add(row.id)
    return row


def _window_opens(p: _Planner, row: Notification) -> datetime:
    """group_wait after the window opened, and group_interval after the recipient's last one."""
    opens = row.created_at + p.timing.group_wait
    previous = p.session.exec(
        select(Notification)
        .where(
            Notification.recipient_key == row.recipient_key,
            Notification.reason == NotificationReason.NEW,
            col(Notification.id) < row.id,
            Notification.status != NotificationStatus.SKIPPED,
        )
        .order_by(col(Notification.id).desc())
        .limit(1)
    ).first()
    if previous is not None:
        last = previous.sent_at or previous.not_before or previous.created_at
        opens = max(opens, last + p.timing.group_interval)
    return opens


def _add_follow_up(
    p: _Planner, recipient: Recipient, reason: str, conflict: Conflict, *, level: int, parent_id: int | None = None
) -> None:
    assert conflict.id is not None
    if parent_id is None:
        parent_id = dict(_told_about(p.session, conflict, TOLD_STATUSES)).get(recipient.key)
    bucket = p.follow_ups.setdefault(_FollowUp(recipient, reason, parent_id), {})
    bucket[conflict.id] = level


def _write_follow_ups(p: _Planner) -> None:
    for follow_up, levels in p.follow_ups.items():
        ids = sorted(levels)
        conflicts = [p.session.get(Conflict, i) for i in ids]
        episode = min((c.alert_started_at for c in conflicts if c and c.alert_started_at), default=p.now)
        if follow_up.reason == NotificationReason.REMINDER:
            stamp = p.now.isoformat()
        elif follow_up.reason == NotificationReason.ESCALATION:
            stamp = "L" + ",".join(str(levels[i]) for i in ids) + "@" + episode.isoformat()
        else:
            stamp = episode.isoformat()
        key = _idempotency_key(follow_up.recipient.key, follow_up.reason, ids, stamp)
        row = _insert_row(p, recipient=follow_up.recipient, reason=follow_up.reason, key=key, parent_id=follow_up.parent_id)
        assert row.id is not None
        for conflict_id in ids:
            _link(p.session, row.id, conflict_id, level=levels[conflict_id], now=p.now)
        p.touched[row.id] = row


def _idempotency_key(recipient: str, reason: str, conflict_ids: Sequence[int], window: str) -> str:
    key = f"{recipient}|{reason}|{','.join(map(str, conflict_ids))}|{window}"
    if len(key) > 200:
        digest = hashlib.sha256(key.encode()).hexdigest()[:32]
        key = f"{recipient}|{reason}|sha256:{digest}"
    return key


def _insert_row(p: _Planner, *, recipient: Recipient, reason: str, key: str, parent_id: int | None) -> Notification:
    existing = p.session.exec(select(Notification).where(Notification.idempotency_key == key)).first()
    if existing is not None:
        return existing
    row = Notification(
        idempotency_key=key,
        recipient_key=recipient.key,
        recipient_slack_id=recipient.slack_id,
        group_key=f"{recipient.key}:{reason}",
        reason=reason,
        created_at=p.now,
        not_before=p.now,
        parent_id=parent_id,
    )
    p.session.add(row)
    p.session.flush()
    return row


def _link(session: Session, notification_id: int, conflict_id: int, *, level: int, now: datetime) -> None:
    exists = session.exec(
        select(NotificationConflict).where(
            NotificationConflict.notification_id == notification_id, NotificationConflict.conflict_id == conflict_id
        )
    ).first()
    if exists is None:
        session.add(
            NotificationConflict(notification_id=notification_id, conflict_id=conflict_id, level=level, created_at=now)
        )
        session.flush()


def _finish_rows(p: _Planner) -> None:
    """Re-render every row this sweep touched, set its timing, and report it."""
    for row_id, row in sorted(p.touched.items()):
        links = _links_of(p.session, row_id)
        if not links:
            row.status = NotificationStatus.SKIPPED
            row.conflict_ids = []
            row.last_error = "nothing left to tell: its conflicts closed before it was sent"
            p.session.add(row)
            continue
        conflicts = _conflicts_by_id(p.session, [link.conflict_id for link in links])
        row.conflict_ids = sorted(conflicts)
        row.severity = max((c.severity for c in conflicts.values()), key=lambda s: _SEVERITY_RANK.get(s, 1))
        recipient = p.directory.recipient(row.recipient_key)
        tz = recipient.timezone if recipient else p.directory.config.timezone
        if row.attempts == 0:  # a row in retry backoff keeps its not_before
            due = _window_opens(p, row) if row.reason == NotificationReason.NEW else row.created_at
            row.not_before = deliver_at(due, severity=row.severity, tz=tz, spec=p.timing.quiet_hours)
        row.text, row.blocks = messages.render(_message_view(p.session, p.directory, row, links, conflicts))
        p.session.add(row)
        p.report.notices.append(
            PlannedNotice(
                notification_id=row_id,
                recipient=row.recipient_key,
                reason=row.reason,
                conflict_ids=tuple(row.conflict_ids),
                not_before=row.not_before,
                appended=row.reason == NotificationReason.NEW and row_id not in p.window_created,
            )
        )


def _links_of(session: Session, notification_id: int) -> list[NotificationConflict]:
    stmt = (
        select(NotificationConflict)
        .where(NotificationConflict.notification_id == notification_id)
        .order_by(NotificationConflict.conflict_id)
    )
    return list(session.exec(stmt))


def _conflicts_by_id(session: Session, ids: Iterable[int]) -> dict[int, Conflict]:
    wanted = sorted(set(ids))
    found: dict[int, Conflict] = {}
    for start in range(0, len(wanted), 500):
        for c in session.exec(select(Conflict).where(col(Conflict.id).in_(wanted[start : start + 500]))):
            assert c.id is not None
            found[c.id] = c
    return found


# -- rendering ------------------------------------------------------------------------------


def _message_view(
    session: Session,
    directory: Directory,
    row: Notification,
    links: Sequence[NotificationConflict],
    conflicts: dict[int, Conflict],
) -> messages.MessageView:
    directory_keys = {c.deliverable_key for c in conflicts.values()} - set(directory.deliverables)
    if directory_keys:
        directory.deliverables.update(Directory.load(session, directory.config, directory_keys).deliverables)
    evidence_ids = [i for c in conflicts.values() for i in c.evidence]
    observations = store.observations_by_id(session, evidence_ids)
    recipient = directory.recipient(row.recipient_key)
    views = []
    for link in links:
        conflict = conflicts.get(link.conflict_id)
        if conflict is not None:
            views.append(_conflict_view(session, directory, row, conflict, link.level, observations))
    return messages.MessageView(
        reason=row.reason,
        recipient_name=recipient.name if recipient else row.recipient_key,
        timezone=recipient.timezone if recipient else directory.config.timezone,
        conflicts=tuple(views),
    )


def _conflict_view(
    session: Session,
    directory: Directory,
    row: Notification,
    conflict: Conflict,
    level: int,
    observations: dict[int, Any],
) -> messages.ConflictView:
    assert conflict.id is not None
    evidence = tuple(
        messages.EvidenceView(
            source=o.source,
            author=directory.author_name(o.author),
            stated_at=o.stated_at,
            value=o.value,
            excerpt=o.excerpt,
            permalink=o.permalink,
        )
        for o in (observations.get(i) for i in conflict.evidence)
        if o is not None
    )
    levels = directory.levels_for(conflict.deliverable_key)
    told_before: tuple[str, ...] = ()
    if row.reason == NotificationReason.ESCALATION:
        told_before = tuple(
            directory.display_name(key)
            for key, _ in _told_about(session, conflict, TOLD_STATUSES)
            if key != row.recipient_key
        )
    deliverable = directory.deliverable(conflict.deliverable_key)
    return messages.ConflictView(
        id=conflict.id,
        deliverable_key=conflict.deliverable_key,
        deliverable_title=directory.title_of(conflict.deliverable_key),
        deliverable_permalink=deliverable.permalink if deliverable else None,
        kind=conflict.kind,
        severity=conflict.severity,
        summary=conflict.summary,
        sources=tuple(conflict.sources),
        evidence=evidence,
        opened_at=conflict.opened_at,
        level=level,
        level_target=levels[level].to if level < len(levels) else None,
        told_before=told_before,
        resolution=_resolution_text(directory, conflict) if row.reason == NotificationReason.RESOLVED else None,
    )


def _resolution_text(directory: Directory, conflict: Conflict) -> str:
    if conflict.resolved_by in (None, AUTO_RESOLVER) and conflict.state == ConflictState.RESOLVED:
        return conflict.resolution_comment or "sources agree again"
    if conflict.state == ConflictState.DISMISSED:
        text_ = f"dismissed by {directory.display_name(conflict.resolved_by)}"
    else:
        text_ = f"resolved by {directory.display_name(conflict.resolved_by)}"
        accepted = conflict.resolution_source or conflict.resolution_value
        if accepted:
            text_ += f", accepting {accepted}"
    if conflict.resolution_comment:
        text_ += f" ({conflict.resolution_comment})"
    return text_


# -- delivery -------------------------------------------------------------------------------


class LookupUnavailable(Exception):
    """Slack cannot be asked for a user by email with this token."""


_NO_EMAIL_SCOPE = "the Slack token lacks the users:read.email scope to look people up"


@dataclass
class _Sender:
    """Slack calls for one delivery pass: DM channels cached, posts to one channel spaced out."""

    client: WebClient
    min_interval: float
    channels: dict[str, str] = field(default_factory=dict)
    last_call: dict[str, float] = field(default_factory=dict)
    ids_by_email: dict[str, str | None] = field(default_factory=dict)
    history_unavailable: bool = False  # the token may not read DM history (no im:history)

    def look_up(self, email: str) -> str | None:
        """The Slack user id with this email (users.lookupByEmail), None when nobody has it."""
        if email not in self.ids_by_email:
            try:
                response = self.client.users_lookupByEmail(email=email)
                self.ids_by_email[email] = str(response["user"]["id"])
            except SlackApiError as exc:
                code = exc.response.get("error") if exc.response is not None else None
                if code == "missing_scope":  # only this lookup needs users:read.email: DMs go on
                    raise LookupUnavailable(_NO_EMAIL_SCOPE) from None
                if code != "users_not_found":
                    raise
                self.ids_by_email[email] = None
        return self.ids_by_email[email]

    def open_dm(self, slack_id: str) -> str:
        if slack_id not in self.channels:
            response = self.client.conversations_open(users=slack_id)
            self.channels[slack_id] = str(response["channel"]["id"])
        return self.channels[slack_id]

    def _pace(self, channel: str) -> None:
        last = self.last_call.get(channel)
        if last is not None and self.min_interval > 0:
            wait = self.min_interval - (time.monotonic() - last)
            if wait > 0:
                time.sleep(wait)
        self.last_call[channel] = time.monotonic()

    def post(
        self, channel: str, text_: str, blocks: list[dict[str, Any]], thread_ts: str | None,
        *, metadata: dict[str, Any] | None = None,
    ) -> str:
        self._pace(channel)
        # the plain-text fallback is mrkdwn too: source text in it must not ping or link
        kwargs: dict[str, Any] = {"channel": channel, "text": untrusted.for_slack(text_), "blocks": blocks or None}
        if thread_ts:
            kwargs["thread_ts"] = thread_ts
        if metadata:
            kwargs["metadata"] = metadata
        response = self.client.chat_postMessage(**kwargs)
        return str(response["ts"])

    def find_posted(self, channel: str, key: str, thread_ts: str | None) -> str | None:
        """The ts of the message whose metadata carries notification mark `key`, searched in the DM
        channel's recent history (a thread reply: in the thread), or None."""
        cursor: str | None = None
        for _ in range(HISTORY_PAGES):
            if thread_ts:
                page = self.client.conversations_replies(
                    channel=channel, ts=thread_ts, cursor=cursor, limit=200, include_all_metadata=True
                )
            else:
                page = self.client.conversations_history(
                    channel=channel, cursor=cursor, limit=100, include_all_metadata=True
                )
            for message in page.get("messages") or []:
                if _notification_key(message) == key:
                    return str(message["ts"])
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                return None
        return None

    def update(self, channel: str, ts: str, text_: str, blocks: list[dict[str, Any]]) -> None:
        self._pace(channel)
        self.client.chat_update(channel=channel, ts=ts, text=untrusted.for_slack(text_), blocks=blocks or None)


def deliver_pending(
    engine: Engine,
    *,
    client: WebClient | None,
    now: datetime,
    dry_run: bool = False,
    limit: int = 100,
    min_interval_per_channel: float = 1.0,
) -> DeliverReport:
    """Send up to `limit` due outbox rows as Slack DMs, one at a time: claim it under a lock
    and commit, send it while renewing the claim, mark it sent. A sender that dies holds one
    row, for at most SENDING_LEASE."""
    if dry_run:
        return _dry_run(engine, limit=limit)
    if client is None:
        raise ValueError("a Slack client is needed to deliver notifications (or use dry_run)")
    report = DeliverReport(reclaimed=_reclaim_stale(engine, now=now))
    sender = _Sender(client, min_interval_per_channel)
    started = time.monotonic()

    def renewed_at() -> datetime:  # `now`, moved on by the time this pass has taken
        return now + timedelta(seconds=time.monotonic() - started)

    for _ in range(limit):
        token = uuid.uuid4().hex
        claimed = _claim(engine, now=now, limit=1, token=token)
        if not claimed:
            break
        with _RenewedClaim(engine, claimed[0], token, claimed_at=renewed_at):
            message, abort = _deliver_one(engine, sender, claimed[0], now=now, token=token)
        if message is not None:
            report.messages.append(message)
        if abort:
            report.aborted = message.error if message else "aborted"
            break
    return report


class _RenewedClaim:
    """Keeps one claimed row's `claimed_at` fresh from a background thread while it is sent, so
    the lease can be seconds long; a dead process stops renewing and its row comes back."""

    def __init__(self, engine: Engine, row_id: int, token: str, *, claimed_at: Callable[[], datetime]) -> None:
        self.engine, self.row_id, self.token, self.claimed_at = engine, row_id, token, claimed_at
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease:{row_id}", daemon=True)

    def __enter__(self) -> _RenewedClaim:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(LEASE_RENEW_EVERY):
            try:
                with session_scope(self.engine) as session:
                    session.execute(
                        update(Notification)
                        .where(Notification.id == self.row_id, Notification.claim_token == self.token)
                        .values(claimed_at=self.claimed_at())
                    )
            except Exception as exc:  # noqa: BLE001 - the store may blink; the next beat retries
                log.warning("could not renew the claim on notification %s: %s", self.row_id, _one_line(str(exc)))


def _dry_run(engine: Engine, *, limit: int) -> DeliverReport:
    report = DeliverReport(dry_run=True)
    with session_scope(engine) as session:
        stmt = (
            select(Notification)
            .where(Notification.status == NotificationStatus.PENDING)
            .order_by(col(Notification.not_before), col(Notification.id))
            .limit(limit)
        )
        for row in session.exec(stmt):
            report.messages.append(_message_of(row, sent=False))
    return report


def _message_of(row: Notification, *, sent: bool, error: str | None = None) -> DeliveredMessage:
    assert row.id is not None
    return DeliveredMessage(
        notification_id=row.id,
        recipient=row.recipient_key,
        reason=row.reason,
        conflict_ids=tuple(row.conflict_ids),
        text=row.text,
        sent=sent,
        status=row.status,
        not_before=row.not_before,
        channel=row.slack_channel,
        ts=row.slack_ts,
        thread_ts=row.slack_thread_ts,
        error=error,
    )


def _due(now: datetime) -> Any:
    return (Notification.status == NotificationStatus.PENDING) & or_(
        col(Notification.not_before).is_(None), col(Notification.not_before) <= now
    )


def _reclaim_stale(engine: Engine, *, now: datetime) -> int:
    """Rows left in `sending` past the lease (a sender died between claim and mark) go back."""
    with session_scope(engine) as session:
        result = session.execute(
            update(Notification)
            .where(Notification.status == NotificationStatus.SENDING, col(Notification.claimed_at) < now - SENDING_LEASE)
            .values(
                status=NotificationStatus.PENDING,
                claim_token=None,
                attempts=Notification.attempts + 1,
                last_error="claim expired: the sender stopped before marking it sent (Slack is checked before re-sending)",
            )
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _claim(engine: Engine, *, now: datetime, limit: int, token: str) -> list[int]:
    """Mark up to `limit` due rows `sending` with our token and commit; returns their ids."""
    values = {"status": NotificationStatus.SENDING, "claimed_at": now, "claim_token": token}
    order = (col(Notification.not_before), col(Notification.id))
    with session_scope(engine) as session:
        if engine.dialect.name == "postgresql":
            ids = list(
                session.exec(
                    select(Notification.id).where(_due(now)).order_by(*order).limit(limit).with_for_update(skip_locked=True)
                )
            )
            if ids:
                session.execute(update(Notification).where(col(Notification.id).in_(ids)).values(**values))
            return [i for i in ids if i is not None]
        claimed: list[int] = []
        for row_id in list(session.exec(select(Notification.id).where(_due(now)).order_by(*order).limit(limit))):
            result = session.execute(
                update(Notification)
                .where(Notification.id == row_id, Notification.status == NotificationStatus.PENDING)
                .values(**values)
            )
            if result.rowcount and row_id is not None:  # type: ignore[attr-defined]
                claimed.append(row_id)
        return claimed


@dataclass(frozen=True, slots=True)
class _Outgoing:
    row: Notification
    slack_id: str | None
    email: str | None  # of a recipient without a Slack user id, to look one up
    parent: Notification | None
    closed: bool  # every conflict it tells about is closed
    parent_closed: bool  # every conflict of the parent DM is closed


def _load_outgoing(engine: Engine, row_id: int) -> _Outgoing:
    with session_scope(engine) as session:
        row = session.get(Notification, row_id)
        assert row is not None
        slack_id, email = row.recipient_slack_id, None
        if not slack_id:
            person = session.exec(select(Person).where(Person.key == row.recipient_key)).first()
            slack_id = person.slack_id if person else None
            email = person.email if person else None
        parent = session.get(Notification, row.parent_id) if row.parent_id else None
        states = {c.state for c in _conflicts_by_id(session, row.conflict_ids).values()}
        parent_states = (
            {c.state for c in _conflicts_by_id(session, parent.conflict_ids).values()} if parent else set()
        )
        closed = bool(states) and states <= set(CLOSED_CONFLICT_STATES)
        parent_closed = bool(parent_states) and parent_states <= set(CLOSED_CONFLICT_STATES)
        return _Outgoing(row, slack_id, email, parent, closed, parent_closed)


def _deliver_one(
    engine: Engine, sender: _Sender, row_id: int, *, now: datetime, token: str
) -> tuple[DeliveredMessage | None, bool]:
    """Send one claimed row; returns what happened and whether the whole pass must stop."""
    out = _load_outgoing(engine, row_id)
    row = out.row
    if out.closed and row.reason != NotificationReason.RESOLVED:
        _finish(engine, row_id, token, status=NotificationStatus.SKIPPED, last_error="its conflicts closed before it was sent")
        return _message_of(row, sent=False), False
    thread_ts = _thread_of(out.parent)
    try:
        slack_id = out.slack_id or _look_up(engine, sender, row.recipient_key, out.email)
        if not slack_id:
            why = f"and no Slack user has the email {out.email}" if out.email else "or email to look one up by"
            error = f"DM to {row.recipient_key}: the person has no Slack user id {why}"
            return _failed(engine, row, token, now=now, error=error, permanent=True), False
        channel = sender.open_dm(slack_id)
        ts = _already_posted(sender, channel, row, thread_ts) if row.attempts > 0 else None
        found = ts is not None
        if ts is None:
            ts, found = _post_or_find(sender, channel, row, thread_ts)
    except SlackApiError as exc:
        code = str(exc.response.get("error", "")) if exc.response is not None else ""
        error = str(describe_slack_error(exc, where=f"DM to {row.recipient_key}"))
        message = _failed(engine, row, token, now=now, error=error, permanent=code in _PERMANENT_ERRORS)
        return message, code in _ABORT_ERRORS
    except LookupUnavailable as exc:  # retried with backoff: the scope may be granted
        error = f"DM to {row.recipient_key}: no Slack user id, and {exc}"
        return _failed(engine, row, token, now=now, error=error, permanent=False), False
    except (SlackClientError, OSError, HTTPException, ValueError) as exc:  # connection errors after
        # the client's own retries, timeouts, unreadable answers; anything else leaves the row
        # `sending` for the lease to reclaim
        error = f"DM to {row.recipient_key}: {type(exc).__name__}: {_one_line(str(exc))}"
        # no answer at all (after the client's retries): the next DM would wait as long for
        # nothing, so the pass stops here and the rest wait for the next one
        no_answer = isinstance(exc, (OSError, HTTPException))
        return _failed(engine, row, token, now=now, error=error, permanent=False), no_answer
    marked = _finish(
        engine, row_id, token, status=NotificationStatus.SENT, slack_channel=channel, slack_ts=ts,
        slack_thread_ts=thread_ts, sent_at=now, last_error=None,
    )
    if not marked:
        log.warning("notification %s was sent after its claim expired; the next sender finds it in Slack", row_id)
    if found:
        log.info("notification %s was already in Slack; recorded as sent, not sent again", row_id)
    if row.reason == NotificationReason.RESOLVED and out.parent is not None and out.parent_closed:
        _close_parent(engine, sender, out.parent, row.text.splitlines()[0] if row.text else "Resolved")
    sent = DeliveredMessage(
        notification_id=row_id, recipient=row.recipient_key, reason=row.reason, conflict_ids=tuple(row.conflict_ids),
        text=row.text, sent=True, status=NotificationStatus.SENT, not_before=row.not_before, channel=channel, ts=ts,
        thread_ts=thread_ts, found_in_slack=found,
    )
    return sent, False


def _post_mark(row: Notification) -> str:
    """Names this outbox row among every DM the bot ever sent: the idempotency key alone repeats
    after a store is reset (conflict ids start over), the row's creation time does not."""
    created = row.created_at.isoformat() if row.created_at else ""
    return f"{row.idempotency_key}/{row.id}/{created}"


def _metadata(row: Notification) -> dict[str, Any]:
    """What marks a DM as this notification's, so a post whose answer was lost can be found."""
    return {"event_type": NOTIFICATION_EVENT, "event_payload": {"notification": _post_mark(row)}}


def _notification_key(message: dict[str, Any]) -> str | None:
    meta = message.get("metadata") or {}
    if meta.get("event_type") != NOTIFICATION_EVENT:
        return None
    mark = (meta.get("event_payload") or {}).get("notification")
    return str(mark) if mark is not None else None


def _post_or_find(sender: _Sender, channel: str, row: Notification, thread_ts: str | None) -> tuple[str, bool]:
    """Post the row (with its metadata); when the answer is lost, look for the post before
    calling it failed. Returns (ts, whether it was found rather than answered)."""
    try:
        return sender.post(channel, row.text, row.blocks, thread_ts, metadata=_metadata(row)), False
    except Exception as exc:
        if not outcome_unknown(exc):
            raise
        try:
            ts = sender.find_posted(channel, _post_mark(row), thread_ts)
        except Exception:  # noqa: BLE001 - the lookup failing too: report the post's own error
            raise exc from None
        if ts is None:
            raise
        return ts, True


def _already_posted(sender: _Sender, channel: str, row: Notification, thread_ts: str | None) -> str | None:
    """An earlier attempt's outcome may be unknown: its ts if Slack has it, else None. Without
    the `im:history` scope Slack cannot be asked, and the row is sent again (at least once)."""
    if sender.history_unavailable:
        return None
    try:
        return sender.find_posted(channel, _post_mark(row), thread_ts)
    except SlackApiError as exc:
        if exc.response is None or exc.response.get("error") != "missing_scope":
            raise
        sender.history_unavailable = True
        log.warning("the Slack token lacks im:history: a DM whose answer was lost may be sent twice")
        return None


def _look_up(engine: Engine, sender: _Sender, person_key: str, email: str | None) -> str | None:
    """A person known by email only (never seen in Slack, no id in the config file): ask Slack,
    and keep the id so the next DM needs no lookup."""
    if not email:
        return None
    slack_id = sender.look_up(email)
    if slack_id:
        with session_scope(engine) as session:
            session.execute(
                update(Person).where(Person.key == person_key, col(Person.slack_id).is_(None)).values(slack_id=slack_id)
            )
        log.info("found the Slack user of %s by email", person_key)
    return slack_id


def _thread_of(parent: Notification | None) -> str | None:
    if parent is None or parent.status != NotificationStatus.SENT:
        return None
    return parent.slack_thread_ts or parent.slack_ts


def _close_parent(engine: Engine, sender: _Sender, parent: Notification, note: str) -> None:
    """Rewrite the earlier DM to say its conflicts are closed (best effort: the reply went out)."""
    if not parent.slack_channel or not parent.slack_ts:
        return
    new_text, new_blocks = messages.mark_closed(parent.text, parent.blocks, note)
    try:
        sender.update(parent.slack_channel, parent.slack_ts, new_text, new_blocks)
    except Exception as exc:  # noqa: BLE001 - the thread reply already told them
        log.warning("could not update DM %s: %s", parent.id, _one_line(str(exc)))
        return
    with session_scope(engine) as session:
        session.execute(
            update(Notification).where(Notification.id == parent.id).values(text=new_text, blocks=new_blocks)
        )


def _backoff(attempts: int) -> timedelta:
    return min(BACKOFF_BASE * (2 ** max(attempts - 1, 0)), BACKOFF_CAP)


def _failed(
    engine: Engine, row: Notification, token: str, *, now: datetime, error: str, permanent: bool
) -> DeliveredMessage:
    attempts = row.attempts + 1
    give_up = permanent or attempts >= MAX_ATTEMPTS
    status = NotificationStatus.FAILED if give_up else NotificationStatus.PENDING
    _finish(
        engine, row.id, token, status=status, attempts=attempts, last_error=_one_line(error)[:500],
        not_before=row.not_before if give_up else now + _backoff(attempts),
    )
    log.warning("notification %s failed (attempt %d%s): %s", row.id, attempts, ", giving up" if give_up else "", error)
    return dataclasses.replace(_message_of(row, sent=False, error=_one_line(error)), status=status)


def _finish(engine: Engine, row_id: int | None, token: str, *, status: str, **values: Any) -> bool:
    """Move a claimed row out of `sending`, only if our claim still holds."""
    with session_scope(engine) as session:
        result = session.execute(
            update(Notification)
            .where(Notification.id == row_id, Notification.claim_token == token)
            .values(status=status, claim_token=None, **values)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


def _one_line(text_: str) -> str:
    return " ".join(text_.split())


# -- status ---------------------------------------------------------------------------------


def notification_status(session: Session) -> dict[str, Any]:
    """Outbox counts, the oldest pending row and the latest errors (JSON-ready)."""
    counts = {s.value: 0 for s in NotificationStatus}
    for status, count in session.exec(select(Notification.status, func.count()).group_by(Notification.status)):
        counts[status] = int(count)
    oldest = session.exec(
        select(Notification)
        .where(Notification.status == NotificationStatus.PENDING)
        .order_by(col(Notification.created_at), col(Notification.id))
        .limit(1)
    ).first()
    errors = session.exec(
        select(Notification)
        .where(col(Notification.last_error).is_not(None), Notification.status != NotificationStatus.SENT)
        .order_by(col(Notification.id).desc())
        .limit(5)
    ).all()
    suppressed = session.exec(
        select(func.count())
        .select_from(Conflict)
        .where(col(Conflict.suppressed_by).is_not(None), col(Conflict.state).in_(ACTIVE_CONFLICT_STATES))
    ).one()
    return {
        **counts,
        "oldest_pending": _row_summary(oldest) if oldest else None,
        "last_errors": [{**_row_summary(r), "error": r.last_error} for r in errors],
        "suppressed_conflicts": int(suppressed),
    }


def _row_summary(row: Notification) -> dict[str, Any]:
    return {
        "id": row.id,
        "recipient": row.recipient_key,
        "reason": row.reason,
        "status": row.status,
        "attempts": row.attempts,
        "created_at": row.created_at.isoformat(),
        "not_before": row.not_before.isoformat() if row.not_before else None,
    }
