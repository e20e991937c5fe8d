"""Stage 2, inhibit and silence: a matching snooze or an inhibiting dependency violation stops
every notice about a conflict, and the reason is kept in `Conflict.suppressed_by`."""

from __future__ import annotations

from reconciler import snoozes as silences
from reconciler import store
from reconciler.models import Conflict
from reconciler.notify.context import Planner
from reconciler.notify.model import ACTOR


def suppress(p: Planner, conflict: Conflict, reason: str | None = None) -> bool:
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


def silenced_by_snooze(p: Planner, conflict: Conflict) -> str | None:
    """The snooze that also holds back a closed conflict's resolution notice, as a reason."""
    snooze = silences.active_snooze_for(conflict, p.directory.deliverable(conflict.deliverable_key), p.snoozes, p.now)
    return f"snooze:{snooze.id}" if snooze is not None else None
