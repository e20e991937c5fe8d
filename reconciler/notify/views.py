"""Channel-neutral views of outbox rows: built when a row is planned, stored on the row as JSON
(`Notification.message_view`), rendered by a channel when the row is sent.

Everything a view needs is read for all rows of a sweep at once: the links, the conflicts, their
evidence, the deliverables, and who was told before (for escalations)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from reconciler import store
from reconciler.messages import ConflictView, EvidenceView, MessageView
from reconciler.models import Conflict, ConflictState, Notification, NotificationConflict, NotificationReason
from reconciler.notify.context import first_per_recipient, telling_history
from reconciler.notify.model import AUTO_RESOLVER, TOLD_STATUSES
from reconciler.routing import Directory

_CHUNK = 500


def links_of(session: Session, notification_ids: Iterable[int]) -> dict[int, list[NotificationConflict]]:
    """Each row's links, in conflict id order."""
    wanted = sorted(set(notification_ids))
    found: dict[int, list[NotificationConflict]] = {i: [] for i in wanted}
    for start in range(0, len(wanted), _CHUNK):
        stmt = (
            select(NotificationConflict)
            .where(col(NotificationConflict.notification_id).in_(wanted[start : start + _CHUNK]))
            .order_by(col(NotificationConflict.notification_id), col(NotificationConflict.conflict_id))
        )
        for link in session.exec(stmt):
            found[link.notification_id].append(link)
    return found


def conflicts_by_id(session: Session, ids: Iterable[int]) -> dict[int, Conflict]:
    wanted = sorted(set(ids))
    found: dict[int, Conflict] = {}
    for start in range(0, len(wanted), _CHUNK):
        for c in session.exec(select(Conflict).where(col(Conflict.id).in_(wanted[start : start + _CHUNK]))):
            assert c.id is not None
            found[c.id] = c
    return found


def build_views(
    session: Session,
    directory: Directory,
    rows: Sequence[Notification],
    links: dict[int, list[NotificationConflict]],
    conflicts: dict[int, Conflict],
) -> dict[int, MessageView]:
    """The view of each row (by id), from its links; a handful of queries for all of them."""
    missing = {c.deliverable_key for c in conflicts.values()} - set(directory.deliverables)
    if missing:
        directory.deliverables.update(Directory.load(session, directory.config, missing).deliverables)
    observations = store.observations_by_id(session, [i for c in conflicts.values() for i in c.evidence])
    escalated = {
        link.conflict_id
        for row in rows
        if row.reason == NotificationReason.ESCALATION
        for link in links.get(row.id or 0, [])
    }
    history = telling_history(session, escalated) if escalated else {}
    views: dict[int, MessageView] = {}
    for row in rows:
        assert row.id is not None
        recipient = directory.recipient(row.recipient_key)
        conflict_views = []
        for link in links.get(row.id, []):
            conflict = conflicts.get(link.conflict_id)
            if conflict is None:
                continue
            told_before: tuple[str, ...] = ()
            if row.reason == NotificationReason.ESCALATION:
                told = first_per_recipient(history.get(link.conflict_id, []), conflict, TOLD_STATUSES)
                told_before = tuple(directory.display_name(key) for key, _ in told if key != row.recipient_key)
            conflict_views.append(_conflict_view(directory, row, conflict, link.level, observations, told_before))
        views[row.id] = MessageView(
            reason=row.reason,
            recipient_name=recipient.name if recipient else row.recipient_key,
            timezone=recipient.timezone if recipient else directory.config.timezone,
            conflicts=tuple(conflict_views),
        )
    return views


def _conflict_view(
    directory: Directory,
    row: Notification,
    conflict: Conflict,
    level: int,
    observations: dict[int, Any],
    told_before: tuple[str, ...],
) -> ConflictView:
    assert conflict.id is not None
    evidence = tuple(
        EvidenceView(
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
    deliverable = directory.deliverable(conflict.deliverable_key)
    return ConflictView(
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
        resolution=resolution_text(directory, conflict) if row.reason == NotificationReason.RESOLVED else None,
    )


def resolution_text(directory: Directory, conflict: Conflict) -> str:
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


# -- stored form ----------------------------------------------------------------------------


def encode(view: MessageView) -> dict[str, Any]:
    """`view` as JSON-ready data (datetimes as ISO 8601), for the outbox row."""
    return {
        "reason": view.reason,
        "recipient_name": view.recipient_name,
        "timezone": view.timezone,
        "note": view.note,
        "conflicts": [_encode_conflict(c) for c in view.conflicts],
    }


def decode(data: dict[str, Any]) -> MessageView:
    return MessageView(
        reason=data["reason"],
        recipient_name=data["recipient_name"],
        timezone=data["timezone"],
        note=data.get("note"),
        conflicts=tuple(_decode_conflict(c) for c in data["conflicts"]),
    )


def _encode_conflict(c: ConflictView) -> dict[str, Any]:
    return {
        "id": c.id,
        "deliverable_key": c.deliverable_key,
        "deliverable_title": c.deliverable_title,
        "deliverable_permalink": c.deliverable_permalink,
        "kind": c.kind,
        "severity": c.severity,
        "summary": c.summary,
        "sources": list(c.sources),
        "evidence": [
            {"source": e.source, "author": e.author, "stated_at": e.stated_at.isoformat(), "value": e.value,
             "excerpt": e.excerpt, "permalink": e.permalink}
            for e in c.evidence
        ],
        "opened_at": c.opened_at.isoformat(),
        "level": c.level,
        "level_target": c.level_target,
        "told_before": list(c.told_before),
        "resolution": c.resolution,
    }


def _decode_conflict(data: dict[str, Any]) -> ConflictView:
    return ConflictView(
        id=int(data["id"]),
        deliverable_key=data["deliverable_key"],
        deliverable_title=data["deliverable_title"],
        deliverable_permalink=data.get("deliverable_permalink"),
        kind=data["kind"],
        severity=data["severity"],
        summary=data["summary"],
        sources=tuple(data["sources"]),
        evidence=tuple(
            EvidenceView(
                source=e["source"], author=e["author"], stated_at=datetime.fromisoformat(e["stated_at"]),
                value=e.get("value"), excerpt=e["excerpt"], permalink=e.get("permalink"),
            )
            for e in data["evidence"]
        ),
        opened_at=datetime.fromisoformat(data["opened_at"]),
        level=int(data.get("level", 0)),
        level_target=data.get("level_target"),
        told_before=tuple(data.get("told_before", ())),
        resolution=data.get("resolution"),
    )
