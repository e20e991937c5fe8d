"""Stage 1, plan: decide, per due conflict, who is to be told what now (first notice, escalation,
reminder, check-in, resolution), as a `Candidate` of `Notice`s for the next stages (pipeline.py).
`open_sweep` reads what a sweep plans over; `schedule` sets each conflict's next look afterwards."""

from __future__ import annotations

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
from reconciler.notify.context import Planner, telling_history
from reconciler.notify.model import (
    ACTOR,
    CHECK_IN_KIND,
    CLOSED_CONFLICT_STATES,
    DELIVERED_STATUSES,
    TOLD_STATUSES,
    AlertTiming,
    Candidate,
    EpisodeUpdate,
    Notice,
    Silences,
)
from reconciler.protocol import Config, EscalationLevel
from reconciler.routing import Directory, Recipient, check_in_slot, level_applies

PLANNER_LOCK_ID = 0x5EC0_0001  # pg_advisory_xact_lock key: one planner at a time


def open_sweep(session: Session, *, config: Config, now: datetime) -> tuple[Planner, list[Conflict]]:
    """Take the planner lock and read, once, what this sweep plans over: the due conflicts, the
    directory, the silences, and who has been told about each due conflict."""
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
    return planner, conflicts


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


def plan_candidates(p: Planner, conflicts: Sequence[Conflict]) -> list[Candidate]:
    """Stage 1: one candidate per due conflict, in conflict order. Episode bookkeeping that does
    not wait on the silences (a new episode, an ack timeout, withdrawing a closed conflict's
    pending notices) happens here; the rest travels in the candidate's `update`."""
    return [_plan_closed(p, c) if c.state in CLOSED_CONFLICT_STATES else _plan_active(p, c) for c in conflicts]


def _plan_active(p: Planner, conflict: Conflict) -> Candidate:
    if conflict.alert_started_at is None or conflict.resolution_notified_at is not None:
        _start_episode(conflict, p.now)  # first sight, or reopened after its resolution was told
    forced = _expire_acknowledgement(p, conflict)
    if conflict.kind == CHECK_IN_KIND:
        return _plan_check_in(p, conflict)
    levels = p.directory.levels_for(conflict.deliverable_key)
    if conflict.notified_at is None:
        return _plan_first_notice(p, conflict, levels)
    level, escalations, unroutable = _plan_escalations(p, conflict, levels)
    reminders, reminded = _plan_reminder(p, conflict, level, {n.recipient.key for n in escalations}, force=forced)
    return Candidate(
        conflict=conflict,
        notices=(*escalations, *reminders),
        silences=Silences.ALL,
        update=EpisodeUpdate(escalation_level=level, last_notified_at=p.now if reminded else None),
        warnings=tuple(unroutable),
    )


def schedule(p: Planner, planned: Sequence[Candidate]) -> None:
    """After the stages: when each planned conflict is next looked at (its `next_escalation_at`)."""
    for candidate in planned:
        conflict = candidate.conflict
        if conflict.state in CLOSED_CONFLICT_STATES:
            conflict.next_escalation_at = None
        elif conflict.kind == CHECK_IN_KIND:
            suppressed = candidate.conflict_id in p.report.suppressed
            conflict.next_escalation_at = None if suppressed else candidate.next_check
        else:
            levels = p.directory.levels_for(conflict.deliverable_key)
            conflict.next_escalation_at = _next_due(conflict, levels, p.timing, now=p.now)
        p.session.add(conflict)


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


def _plan_first_notice(p: Planner, conflict: Conflict, levels: Sequence[EscalationLevel]) -> Candidate:
    assert conflict.alert_started_at is not None and conflict.id is not None
    if conflict.alert_started_at + levels[0].delay > p.now:
        return Candidate(conflict=conflict)  # not due yet: nothing to decide
    recipient, why = p.recipient_for_level(conflict, 0)
    if recipient is None:
        return Candidate(conflict=conflict, silences=Silences.ALL, unroutable=f"unroutable:{why}")
    return Candidate(
        conflict=conflict,
        notices=(Notice(conflict.id, recipient, NotificationReason.NEW, level=0),),
        silences=Silences.ALL,
        # Escalation counts from the first notice (a snooze or a late sweep does not shorten it).
        update=EpisodeUpdate(
            alert_started_at=max(conflict.alert_started_at, p.now - levels[0].delay),
            notified_at=p.now,
            last_notified_at=p.now,
            escalation_level=0,
        ),
    )


def _plan_check_in(p: Planner, conflict: Conflict) -> Candidate:
    """A stale deliverable is a check-in, not a contradiction: it joins its owner's daily
    digest (one a working day at `check_in_at`, weekends and their holidays skipped) and never
    escalates. `next_check` is when to look at it again."""
    assert conflict.id is not None
    recipient, why = p.recipient_for_level(conflict, 0)
    if recipient is None:
        return Candidate(conflict=conflict, blocked_by=f"unroutable:{why}")
    if conflict.state != ConflictState.OPEN:  # acknowledged: quiet until the acknowledgement lapses
        lapses = conflict.acknowledged_at + p.timing.ack_timeout if conflict.acknowledged_at else None
        return Candidate(conflict=conflict, next_check=lapses)

    def slot(last_sent: datetime | None) -> datetime:
        return check_in_slot(
            p.now, tz=recipient.timezone, at=p.directory.config.alerts.check_in_at,
            working_days=p.directory.config.alerts.working_days,
            is_off=lambda day: p.directory.is_off(recipient.key, day), last_sent=last_sent,
        )

    due = slot(conflict.last_notified_at)
    if due > p.now:
        return Candidate(conflict=conflict, silences=Silences.ALL, next_check=due)
    # If today's digest has gone already, the group stage drops the notice: tomorrow's, then.
    return Candidate(
        conflict=conflict,
        notices=(Notice(conflict.id, recipient, NotificationReason.CHECK_IN, level=0, digest_due=due),),
        silences=Silences.ALL,
        update=EpisodeUpdate(notified_at=conflict.notified_at or p.now, last_notified_at=p.now, escalation_level=0),
        next_check=slot(p.now),
    )


def _plan_escalations(
    p: Planner, conflict: Conflict, levels: Sequence[EscalationLevel]
) -> tuple[int, list[Notice], list[str]]:
    """The escalation level the conflict reaches now, the escalation notices that go with it,
    and the levels reached that nobody can receive (warned about once they are recorded)."""
    assert conflict.alert_started_at is not None and conflict.id is not None
    reached = conflict.escalation_level
    notices: list[Notice] = []
    unroutable: list[str] = []
    for index in range(conflict.escalation_level + 1, len(levels)):
        level = levels[index]
        if conflict.alert_started_at + level.delay > p.now or not level_applies(level, conflict.state):
            continue
        recipient, why = p.recipient_for_level(conflict, index)
        in_the_loop = _reminded(p, conflict, reached)
        reached = index
        if recipient is None:
            unroutable.append(f"escalation level {index} has no recipient ({why})")
            continue
        if recipient.key in in_the_loop:
            continue  # escalating to someone already being reminded adds nothing
        notices.append(_follow_up(p, conflict, recipient, NotificationReason.ESCALATION, level=index))
    return reached, notices, unroutable


def _reminded(p: Planner, conflict: Conflict, level: int) -> dict[str, Recipient]:
    """Who reminders about `conflict` at escalation `level` go to: the level-0 recipient and the level's."""
    found: dict[str, Recipient] = {}
    for each in dict.fromkeys((0, level)):
        recipient, _ = p.recipient_for_level(conflict, each)
        if recipient is not None:
            found[recipient.key] = recipient
    return found


def _plan_reminder(
    p: Planner, conflict: Conflict, level: int, already_told: set[str], *, force: bool
) -> tuple[list[Notice], bool]:
    """The reminders due now, and whether a reminder was due at all (it counts as sent)."""
    if conflict.state != ConflictState.OPEN:
        return [], False
    last = conflict.last_notified_at
    # Reminders due within group_interval ride along, so a grouped DM stays one reminder.
    if not force and last is not None and last + p.timing.repeat_interval > p.now + p.timing.group_interval:
        return [], False
    notices = [
        _follow_up(p, conflict, recipient, NotificationReason.REMINDER, level=level)
        for recipient in _reminded(p, conflict, level).values()
        if recipient.key not in already_told
    ]
    return notices, True


def _follow_up(p: Planner, conflict: Conflict, recipient: Recipient, reason: str, *, level: int) -> Notice:
    """A follow-up threads under the first DM about the conflict to the same recipient."""
    assert conflict.id is not None
    parent_id = dict(p.told_about(conflict, TOLD_STATUSES)).get(recipient.key)
    return Notice(conflict.id, recipient, reason, level=level, parent_id=parent_id)


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


def _plan_closed(p: Planner, conflict: Conflict) -> Candidate:
    """A resolved or dismissed conflict: withdraw what was not sent, tell who was told, once."""
    assert conflict.id is not None
    _withdraw(p, conflict)
    conflict.resolution_notified_at = p.now
    notices: list[Notice] = []
    for recipient_key, parent_id in p.told_about(conflict, DELIVERED_STATUSES):
        if recipient_key == conflict.resolved_by:
            continue
        recipient = p.directory.recipient(recipient_key)
        if recipient is not None:
            notices.append(
                Notice(conflict.id, recipient, NotificationReason.RESOLVED, level=conflict.escalation_level, parent_id=parent_id)
            )
    return Candidate(conflict=conflict, notices=tuple(notices), silences=Silences.SNOOZES)


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
