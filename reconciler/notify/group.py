"""Stage 3, group and dedup: kept candidates' notices become outbox rows. First notices for one recipient share
the waiting `new` DM of their window; follow-ups (reminders, escalations, resolutions) are grouped
per recipient, reason and thread; every row has an idempotency key, so a sweep run twice writes
nothing new. Finally each touched row gets its timing (group_wait, group_interval, quiet hours)
and its channel-neutral view."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from reconciler.models import Conflict, Notification, NotificationConflict, NotificationReason, NotificationStatus
from reconciler.notify import views
from reconciler.notify.context import FollowUp, Planner
from reconciler.notify.model import SEVERITY_RANK, Candidate, Notice, PlannedNotice
from reconciler.routing import Recipient, deliver_at

log = logging.getLogger(__name__)


IN_OWN_ROWS = (NotificationReason.NEW, NotificationReason.CHECK_IN)  # written as they come; the rest are follow-ups


def group_and_dedup(p: Planner, kept: list[Candidate]) -> list[Candidate]:
    """Stage 3: write the kept candidates into the outbox and return those written (a check-in
    whose day's digest has gone already is not). First notices join their recipient's window and
    check-ins their day's digest, in conflict order; follow-ups are grouped, then written with one
    key read; finally every touched row gets its timing and view. A candidate written records its
    episode update."""
    written: list[Candidate] = []
    for candidate in kept:
        if all(_write_own_row(p, notice, candidate.conflict) for notice in candidate.notices if notice.reason in IN_OWN_ROWS):
            if candidate.update is not None:
                candidate.update.apply(candidate.conflict)
            for warning in candidate.warnings:
                log.warning("conflict %s: %s", candidate.conflict_id, warning)
            written.append(candidate)
        p.session.add(candidate.conflict)
    p.session.flush()
    p.follow_ups = group_follow_ups(n for c in written for n in c.notices if n.reason not in IN_OWN_ROWS)
    write_follow_ups(p)
    finish_rows(p)
    return written


def _write_own_row(p: Planner, notice: Notice, conflict: Conflict) -> bool:
    """Put a first notice in its window, or a check-in in its digest; False if the digest has gone."""
    if notice.reason == NotificationReason.NEW:
        add_to_window(p, notice.recipient, conflict)
        return True
    assert notice.digest_due is not None
    row = digest_row(p, notice.recipient, notice.digest_due)
    if row is None:
        return False
    assert row.id is not None
    link(p, row.id, notice.conflict_id, level=notice.level)
    p.touched[row.id] = row
    return True


def add_to_window(p: Planner, recipient: Recipient, conflict: Conflict) -> None:
    """Group a first notice into the recipient's waiting `new` DM, opening a window if needed."""
    row = p.windows.get(recipient.key) or _open_window(p, recipient)
    p.windows[recipient.key] = row
    assert row.id is not None and conflict.id is not None
    link(p, row.id, conflict.id, level=0)
    p.touched[row.id] = row


def _open_window(p: Planner, recipient: Recipient) -> Notification:
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
    row = insert_row(
        p,
        recipient=recipient,
        reason=NotificationReason.NEW,
        key=idempotency_key(recipient.key, NotificationReason.NEW, [], f"window@{p.now.isoformat()}"),
        parent_id=None,
    )
    assert row.id is not None
    p.window_created.add(row.id)
    return row


def digest_row(p: Planner, recipient: Recipient, due: datetime) -> Notification | None:
    """The recipient's check-in digest for `due`'s local day, unless it has been sent."""
    day = due.astimezone(ZoneInfo(recipient.timezone)).date().isoformat()
    key = idempotency_key(recipient.key, NotificationReason.CHECK_IN, [], f"day@{day}")
    existing = p.session.exec(select(Notification).where(Notification.idempotency_key == key)).first()
    if existing is not None and existing.status != NotificationStatus.PENDING:
        return None
    return existing or insert_row(p, recipient=recipient, reason=NotificationReason.CHECK_IN, key=key, parent_id=None)


def _window_opens(p: Planner, row: Notification) -> datetime:
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


def group_follow_ups(notices: Iterable[Notice]) -> dict[FollowUp, dict[int, int]]:
    """Follow-ups (reminders, escalations, resolutions) grouped per recipient, reason and thread,
    in the order first seen: each group's conflict ids with their escalation level (dedup: a
    conflict is in a group once)."""
    groups: dict[FollowUp, dict[int, int]] = {}
    for notice in notices:
        groups.setdefault(FollowUp(notice.recipient, notice.reason, notice.parent_id), {})[notice.conflict_id] = notice.level
    return groups


def write_follow_ups(p: Planner) -> None:
    """One row per (recipient, reason, thread), its key read back in one query for all of them."""
    planned: list[tuple[FollowUp, str, list[int]]] = []
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
        planned.append((follow_up, idempotency_key(follow_up.recipient.key, follow_up.reason, ids, stamp), ids))
    existing = _rows_by_key(p, [key for _, key, _ in planned])
    new_rows: list[tuple[Notification, list[int], dict[int, int]]] = []
    for follow_up, key, ids in planned:
        levels = p.follow_ups[follow_up]
        row = existing.get(key)
        if row is not None:  # written by an earlier sweep: link what it lacks
            assert row.id is not None
            for conflict_id in ids:
                link(p, row.id, conflict_id, level=levels[conflict_id])
            p.touched[row.id] = row
            continue
        row = _new_row(p, recipient=follow_up.recipient, reason=follow_up.reason, key=key, parent_id=follow_up.parent_id)
        existing[key] = row
        new_rows.append((row, ids, levels))
    if not new_rows:
        return
    p.session.flush()
    for row, ids, levels in new_rows:
        assert row.id is not None
        for conflict_id in ids:
            p.session.add(
                NotificationConflict(notification_id=row.id, conflict_id=conflict_id, level=levels[conflict_id], created_at=p.now)
            )
        p.linked[row.id] = set(ids)
        p.touched[row.id] = row
    p.session.flush()


def _rows_by_key(p: Planner, keys: Sequence[str]) -> dict[str, Notification]:
    found: dict[str, Notification] = {}
    wanted = sorted(set(keys))
    for start in range(0, len(wanted), 500):
        stmt = select(Notification).where(col(Notification.idempotency_key).in_(wanted[start : start + 500]))
        for row in p.session.exec(stmt):
            found[row.idempotency_key] = row
    return found


def idempotency_key(recipient: str, reason: str, conflict_ids: Sequence[int], window: str) -> str:
    key = f"{recipient}|{reason}|{','.join(map(str, conflict_ids))}|{window}"
    if len(key) > 200:
        digest = hashlib.sha256(key.encode()).hexdigest()[:32]
        key = f"{recipient}|{reason}|sha256:{digest}"
    return key


def insert_row(p: Planner, *, recipient: Recipient, reason: str, key: str, parent_id: int | None) -> Notification:
    existing = p.session.exec(select(Notification).where(Notification.idempotency_key == key)).first()
    if existing is not None:
        return existing
    row = _new_row(p, recipient=recipient, reason=reason, key=key, parent_id=parent_id)
    p.session.flush()
    return row


def _new_row(p: Planner, *, recipient: Recipient, reason: str, key: str, parent_id: int | None) -> Notification:
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
    return row


def link(p: Planner, notification_id: int, conflict_id: int, *, level: int) -> None:
    """Put a conflict in a row (once); the row's links are read the first time it is linked to."""
    linked = p.linked.get(notification_id)
    if linked is None:
        linked = set(
            p.session.exec(
                select(NotificationConflict.conflict_id).where(NotificationConflict.notification_id == notification_id)
            )
        )
        p.linked[notification_id] = linked
    if conflict_id in linked:
        return
    p.session.add(NotificationConflict(notification_id=notification_id, conflict_id=conflict_id, level=level, created_at=p.now))
    linked.add(conflict_id)


def finish_rows(p: Planner) -> None:
    """Set the timing and the view of every row this sweep touched, and report it."""
    p.session.flush()
    ids = sorted(p.touched)
    links = views.links_of(p.session, ids)
    conflicts = views.conflicts_by_id(p.session, [link.conflict_id for row_links in links.values() for link in row_links])
    telling = [p.touched[i] for i in ids if links[i]]
    built = views.build_views(p.session, p.directory, telling, links, conflicts)
    for row_id in ids:
        row = p.touched[row_id]
        row_links = links[row_id]
        if not row_links:
            row.status = NotificationStatus.SKIPPED
            row.conflict_ids = []
            row.last_error = "nothing left to tell: its conflicts closed before it was sent"
            p.session.add(row)
            continue
        row_conflicts = [conflicts[link.conflict_id] for link in row_links if link.conflict_id in conflicts]
        row.conflict_ids = sorted(c.id for c in row_conflicts if c.id is not None)
        row.severity = max((c.severity for c in row_conflicts), key=lambda s: SEVERITY_RANK.get(s, 1))
        recipient = p.directory.recipient(row.recipient_key)
        tz = recipient.timezone if recipient else p.directory.config.timezone
        if row.attempts == 0:  # a row in retry backoff keeps its not_before
            due = _window_opens(p, row) if row.reason == NotificationReason.NEW else row.created_at
            row.not_before = deliver_at(due, severity=row.severity, tz=tz, spec=p.timing.quiet_hours)
        row.message_view = views.encode(built[row_id])
        row.text, row.blocks = "", []  # rendered by the channel when it is sent
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
