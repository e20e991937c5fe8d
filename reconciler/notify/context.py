"""What the planning stages share in one sweep: the directory, the silences, the rows touched,
and who has been told about each due conflict (read once for all of them)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, col, select

from reconciler import snoozes as silences
from reconciler.models import Conflict, Notification, NotificationConflict, Snooze
from reconciler.notify.model import AlertTiming, PlanReport
from reconciler.routing import Directory, Recipient

_CHUNK = 500  # ids per IN (...) list


@dataclass(frozen=True, slots=True)
class TellingRecord:
    """One DM about one conflict: who it went (or goes) to, and the DM a follow-up threads under."""

    conflict_id: int
    notification_id: int
    recipient_key: str
    first_id: int  # the DM's parent, or the DM itself
    status: str
    linked_at: datetime


@dataclass(frozen=True, slots=True)
class FollowUp:
    recipient: Recipient
    reason: str
    parent_id: int | None


@dataclass
class Planner:
    session: Session
    directory: Directory
    timing: AlertTiming
    now: datetime
    snoozes: list[Snooze]
    inhibitors: dict[int, silences.Inhibitor]
    told: dict[int, list[TellingRecord]] = field(default_factory=dict)  # conflict id -> DMs, oldest first
    unsent: dict[int, list[tuple[NotificationConflict, Notification]]] = field(default_factory=dict)  # closed ones
    report: PlanReport = field(default_factory=PlanReport)
    windows: dict[str, Notification] = field(default_factory=dict)
    window_created: set[int] = field(default_factory=set)
    follow_ups: dict[FollowUp, dict[int, int]] = field(default_factory=dict)  # -> conflict id: level
    touched: dict[int, Notification] = field(default_factory=dict)
    linked: dict[int, set[int]] = field(default_factory=dict)  # row id -> conflict ids, read once a row

    def told_about(self, conflict: Conflict, statuses: Iterable[str]) -> list[tuple[str, int]]:
        """(recipient, the first DM about `conflict` to them) in this episode, oldest first, as
        read when the sweep began (a conflict's follow-ups are planned before any are written)."""
        assert conflict.id is not None
        return first_per_recipient(self.told.get(conflict.id, []), conflict, statuses)

    def recipient_for_level(self, conflict: Conflict, level: int) -> tuple[Recipient | None, str]:
        last = len(self.directory.levels_for(conflict.deliverable_key)) - 1
        key, why = self.directory.target_of(conflict.deliverable_key, min(level, last))
        if key is None:
            return None, why
        recipient = self.directory.recipient(key)
        if recipient is None:
            return None, f"unknown person {key!r}"
        return recipient, why


def telling_history(session: Session, conflict_ids: Iterable[int]) -> dict[int, list[TellingRecord]]:
    """Every DM about these conflicts, per conflict and oldest first, in one query per chunk."""
    wanted = sorted(set(conflict_ids))
    found: dict[int, list[TellingRecord]] = {}
    for start in range(0, len(wanted), _CHUNK):
        stmt = (
            select(
                NotificationConflict.conflict_id,
                NotificationConflict.created_at,
                Notification.id,
                Notification.recipient_key,
                Notification.parent_id,
                Notification.status,
            )
            .join(Notification, col(NotificationConflict.notification_id) == col(Notification.id))
            .where(col(NotificationConflict.conflict_id).in_(wanted[start : start + _CHUNK]))
            .order_by(col(Notification.id))
        )
        # columns, not rows: a row's stored view can be large, and only these are needed
        for conflict_id, linked_at, row_id, recipient_key, parent_id, status in session.exec(stmt):
            found.setdefault(conflict_id, []).append(
                TellingRecord(
                    conflict_id=conflict_id, notification_id=row_id, recipient_key=recipient_key,
                    first_id=parent_id or row_id, status=status, linked_at=linked_at,
                )
            )
    return found


def first_per_recipient(
    records: Sequence[TellingRecord], conflict: Conflict, statuses: Iterable[str]
) -> list[tuple[str, int]]:
    """The episode's records (linked since the conflict's alert started) in `statuses`, reduced
    to each recipient's first DM."""
    wanted = set(statuses)
    started = conflict.alert_started_at
    first: dict[str, int] = {}
    for record in records:
        if record.status in wanted and (started is None or record.linked_at >= started):
            first.setdefault(record.recipient_key, record.first_id)
    return list(first.items())
