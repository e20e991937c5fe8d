"""The outbox at a glance, for `reconciler notify` and the workers' status."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from reconciler.models import ACTIVE_CONFLICT_STATES, Conflict, Notification, NotificationStatus
from reconciler.quick_read import notification_summary


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


def next_pending_at(session: Session) -> datetime | None:
    """When the earliest pending DM may go out (its `not_before`; a row without one is due now
    and comes back as its creation time), or None when nothing waits."""
    earliest = session.exec(
        select(Notification.not_before, Notification.created_at)
        .where(Notification.status == NotificationStatus.PENDING)
        .order_by(func.coalesce(Notification.not_before, Notification.created_at))
        .limit(1)
    ).first()
    return None if earliest is None else earliest[0] or earliest[1]


def _row_summary(row: Notification) -> dict[str, Any]:
    return notification_summary(row.model_dump())
