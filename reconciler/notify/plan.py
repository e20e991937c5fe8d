"""Stage 1, plan: decide, per due conflict, who is to be told what now (first notice, escalation,
reminder, check-in, resolution), passing each notice through the silence stage and handing it to
the group stage. `plan_notifications` runs the planning stages in one transaction."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import or_, text
from sqlmodel import Session, col, select

from reconciler import snoozes as silences
from reconciler import store
from reconciler.conflicts import apply_transition
from reconciler.models import (
    ACTIVE_CONFLICT_STATES,
    Conflict,
    ConflictState,
    Notification,
    NotificationConflict,
    NotificationReason,
    NotificationStatus,
)
from reconciler.notify import group
from reconciler.notify.context import Planner, telling_history
from reconciler.notify.model import (
    ACTOR,
    CHECK_IN_KIND,
    CLOSED_CONFLICT_STATES,
    DELIVERED_STATUSES,
    AlertTiming,
    PlanReport,
)
from reconciler.notify.silence import silenced_by_snooze, suppress
from reconciler.protocol import Config, EscalationLevel
from reconciler.routing import Directory, Recipient, check_in_slot, level_applies

log = logging.getLogger(__name__)

PLANNER_LOCK_ID = 0x5EC0_0001  # pg_advisory_xact_lock key: one planner at a time


def plan_notifications(session: Session, *, config: Config, now: datetime) -> PlanReport:
    """Write the outbox rows that are due at `now`; idempotent, sends nothing. The caller commits."""
    _lock_planner(session)
    timing = AlertTiming.from_config(config.alerts)
    conflicts = _due_conflicts(session, now=now, timing=timing)
    planner = Planner(
        session=session,
        directory=Directory.load(session, config, {c.deliverable_key for c in conflicts}),
        timing=timing,
        now=now,
        snoozes=silences.active_snoozes(session, now=now),
        inhibitors=silences.inhibition_map(session) if conflicts else {},
        told=telling_history(session, [c.id for c in conflicts if c.id is not None]) if conflicts else {},
        unsent=_unsent_links(session, conflicts),
    )
    for conflict in conflicts:
        if conflict.state in CLOSED_CONFLICT_STATES:
            _plan_closed(planner, conflict)
        else:
            _plan_active(planner, conflict)
        session.add(conflict)
    session.flush()
    group.write_follow_ups(planner)
    group.finish_rows(planner)
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


def _plan_active(p: Planner, conflict: Conflict) -> None:
    if conflict.alert_started_at is None or conflict.resolution_notified_at is not None:
        _start_episode(conflict, p.now)  # first sight, or reopened after its resolution was told
    forced = _expire_acknowledgement(p, conflict)
    if conflict.kind == CHECK_IN_KIND:
        conflict.next_escalation_at = _plan_check_in(p, conflict)
        return
    levels = p.directory.levels_for(conflict.deliverable_key)
    if conflict.notified_at is None:
        _plan_first_notice(p, conflict, levels)
    elif not suppress(p, conflict):
        told = _plan_escalations(p, conflict, levels)
        _plan_reminder(p, conflict, told, force=forced)
    conflict.next_escalation_at = _next_due(conflict, levels, p.timing, now=p.now)


def _expire_acknowledgement(p: Planner, conflict: Conflict) -> bool:
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


def _plan_first_notice(p: Planner, conflict: Conflict, levels: Sequence[EscalationLevel]) -> None:
    assert conflict.alert_started_at is not None
    if conflict.alert_started_at + levels[0].delay > p.now or suppress(p, conflict):
        return
    recipient, why = p.recipient_for_level(conflict, 0)
    if recipient is None:
        suppress(p, conflict, f"unroutable:{why}")
        return
    group.add_to_window(p, recipient, conflict)
    # Escalation counts from the first notice (a snooze or a late sweep does not shorten it).
    conflict.alert_started_at = max(conflict.alert_started_at, p.now - levels[0].delay)
    conflict.notified_at = p.now
    conflict.last_notified_at = p.now
    conflict.escalation_level = 0


def _plan_check_in(p: Planner, conflict: Conflict) -> datetime | None:
    """A stale deliverable is a check-in, not a contradiction: it joins its owner's daily
    digest (one a working day at `check_in_at`, weekends and their holidays skipped) and never
    escalates. Returns when to look at it again."""
    recipient, why = p.recipient_for_level(conflict, 0)
    if recipient is None:
        suppress(p, conflict, f"unroutable:{why}")
        return None
    if conflict.state != ConflictState.OPEN:  # acknowledged: quiet until the acknowledgement lapses
        return conflict.acknowledged_at + p.timing.ack_timeout if conflict.acknowledged_at else None
    if suppress(p, conflict):
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
    row = group.digest_row(p, recipient, due)
    if row is None:  # today's digest has gone already: tomorrow's, then
        return slot(p.now)
    assert row.id is not None and conflict.id is not None
    group.link(p, row.id, conflict.id, level=0)
    p.touched[row.id] = row
    conflict.notified_at = conflict.notified_at or p.now
    conflict.last_notified_at = p.now
    conflict.escalation_level = 0
    return slot(p.now)


def _plan_escalations(p: Planner, conflict: Conflict, levels: Sequence[EscalationLevel]) -> set[str]:
    assert conflict.alert_started_at is not None
    told: set[str] = set()
    for index in range(conflict.escalation_level + 1, len(levels)):
        level = levels[index]
        if conflict.alert_started_at + level.delay > p.now or not level_applies(level, conflict.state):
            continue
        recipient, why = p.recipient_for_level(conflict, index)
        in_the_loop = _reminded(p, conflict)
        conflict.escalation_level = index
        if recipient is None:
            log.warning("conflict %s: escalation level %d has no recipient (%s)", conflict.id, index, why)
            continue
        if recipient.key in in_the_loop:
            continue  # escalating to someone already being reminded adds nothing
        group.add_follow_up(p, recipient, NotificationReason.ESCALATION, conflict, level=index)
        told.add(recipient.key)
    return told


def _reminded(p: Planner, conflict: Conflict) -> dict[str, Recipient]:
    """Who reminders about `conflict` go to: the level-0 recipient and the current level's."""
    found: dict[str, Recipient] = {}
    for level in dict.fromkeys((0, conflict.escalation_level)):
        recipient, _ = p.recipient_for_level(conflict, level)
        if recipient is not None:
            found[recipient.key] = recipient
    return found


def _plan_reminder(p: Planner, conflict: Conflict, already_told: set[str], *, force: bool) -> None:
    if conflict.state != ConflictState.OPEN:
        return
    last = conflict.last_notified_at
    # Reminders due within group_interval ride along, so a grouped DM stays one reminder.
    if not force and last is not None and last + p.timing.repeat_interval > p.now + p.timing.group_interval:
        return
    for recipient in _reminded(p, conflict).values():
        if recipient.key in already_told:
            continue
        group.add_follow_up(p, recipient, NotificationReason.REMINDER, conflict, level=conflict.escalation_level)
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


def _plan_closed(p: Planner, conflict: Conflict) -> None:
    """A resolved or dismissed conflict: withdraw what was not sent, tell who was told, once."""
    _withdraw(p, conflict)
    conflict.resolution_notified_at = p.now
    conflict.next_escalation_at = None
    snoozed = silenced_by_snooze(p, conflict)
    if snoozed is not None:
        suppress(p, conflict, snoozed)
        return
    conflict.suppressed_by = None
    for recipient_key, parent_id in p.told_about(conflict, DELIVERED_STATUSES):
        if recipient_key == conflict.resolved_by:
            continue
        recipient = p.directory.recipient(recipient_key)
        if recipient is not None:
            group.add_follow_up(
                p, recipient, NotificationReason.RESOLVED, conflict, level=conflict.escalation_level, parent_id=parent_id
            )


def _withdraw(p: Planner, conflict: Conflict) -> None:
    """Take a closed conflict out of DMs that have not gone out yet."""
    assert conflict.id is not None
    for link, row in p.unsent.get(conflict.id, []):
        assert row.id is not None
        p.session.delete(link)
        p.linked.get(row.id, set()).discard(conflict.id)
        p.touched[row.id] = row
        if conflict.id not in p.report.withdrawn:
            p.report.withdrawn.append(conflict.id)


def _unsent_links(session: Session, conflicts: Sequence[Conflict]) -> dict[int, list[tuple[NotificationConflict, Notification]]]:
    """The links of closed conflicts to rows still pending (locked), read once for the sweep."""
    closed = sorted(c.id for c in conflicts if c.id is not None and c.state in CLOSED_CONFLICT_STATES)
    found: dict[int, list[tuple[NotificationConflict, Notification]]] = {}
    for start in range(0, len(closed), 500):
        stmt = (
            select(NotificationConflict, Notification)
            .join(Notification, col(NotificationConflict.notification_id) == col(Notification.id))
            .where(
                col(NotificationConflict.conflict_id).in_(closed[start : start + 500]),
                Notification.status == NotificationStatus.PENDING,
            )
            .order_by(col(NotificationConflict.id))
            .with_for_update(of=Notification)
        )
        for link, row in session.exec(stmt):
            found.setdefault(link.conflict_id, []).append((link, row))
    return found
