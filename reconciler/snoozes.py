"""Silences: snoozes (matchers plus a time window, never deleted) and inhibition (an open
dependency violation mutes the status and date conflicts it causes).

What a dependency violation on deliverable X causes: every status/date conflict of the
deliverables that depend on X (transitively), and those status/date conflicts of X itself that
share evidence with it (a date contradiction about the very date that violates the dependency).
A contradiction on X about something else is still told.

A suppressed conflict is not told about; the notifier records why in `Conflict.suppressed_by`
(`snooze:<id>` or `inhibited_by:<conflict id>`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from fnmatch import fnmatchcase
from typing import Any

from sqlmodel import Session, col, select

from reconciler import rules, store
from reconciler.choices import FINDING_KINDS, check_choice
from reconciler.models import ACTIVE_CONFLICT_STATES, Conflict, Deliverable, Snooze

SNOOZE_MATCHER_KEYS = ("deliverable", "kind", "owner")

# Inhibition: each rule names the kinds it mutes (`FindingRule.inhibits`): the dependency rules
# mute the status and date contradictions they cause.
INHIBITING_KINDS = rules.INHIBITING_KINDS


class SnoozeState(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class SnoozeView:
    id: int
    matchers: dict[str, str]
    starts_at: datetime
    ends_at: datetime
    author: str
    comment: str
    created_at: datetime
    state: SnoozeState


def snooze_state(snooze: Snooze, now: datetime) -> SnoozeState:
    if now >= snooze.ends_at:
        return SnoozeState.EXPIRED
    if now < snooze.starts_at:
        return SnoozeState.PENDING
    return SnoozeState.ACTIVE


def validate_matchers(matchers: Mapping[str, str]) -> dict[str, str]:
    """Keys must be deliverable, kind or owner; values non-empty (shell-style `*` allowed)."""
    if not matchers:
        raise ValueError("a snooze needs at least one matcher (deliverable, kind or owner)")
    clean: dict[str, str] = {}
    for key, value in matchers.items():
        if key not in SNOOZE_MATCHER_KEYS:
            raise ValueError(f"unknown snooze matcher {key!r} (use {', '.join(SNOOZE_MATCHER_KEYS)})")
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"snooze matcher {key!r} needs a value")
        if key == "kind":
            check_choice("kind", value.strip(), FINDING_KINDS, globs=True)
        clean[key] = value.strip()
    return clean


def add_snooze(
    session: Session,
    *,
    matchers: dict[str, str],
    duration: timedelta,
    author: str,
    comment: str,
    now: datetime,
    starts_at: datetime | None = None,
    conflict_id: int | None = None,
    context: dict[str, Any] | None = None,
) -> Snooze:
    """Silence matching conflicts from `starts_at` (default now) for `duration`. `conflict_id`
    and `context` only enrich the audit event (a snooze taken from one finding's DM)."""
    clean = validate_matchers(matchers)
    if duration <= timedelta(0):
        raise ValueError("a snooze needs a positive duration")
    if not author.strip():
        raise ValueError("a snooze needs an author")
    if not comment.strip():
        raise ValueError("a snooze needs a comment saying why")
    start = starts_at or now
    snooze = Snooze(
        matchers=clean,
        starts_at=start,
        ends_at=start + duration,
        author=author,
        comment=comment,
        created_at=now,
    )
    session.add(snooze)
    session.flush()
    store.audit(
        session,
        actor=author,
        action="snooze_added",
        now=now,
        conflict_id=conflict_id,
        deliverable_key=clean.get("deliverable") if conflict_id is not None else None,
        comment=comment,
        details={"snooze_id": snooze.id, "matchers": clean, "ends_at": snooze.ends_at.isoformat(), **(context or {})},
    )
    return snooze


def _view(snooze: Snooze, now: datetime) -> SnoozeView:
    assert snooze.id is not None
    return SnoozeView(
        id=snooze.id,
        matchers=dict(snooze.matchers),
        starts_at=snooze.starts_at,
        ends_at=snooze.ends_at,
        author=snooze.author,
        comment=snooze.comment,
        created_at=snooze.created_at,
        state=snooze_state(snooze, now),
    )


def list_snoozes(session: Session, *, now: datetime, include_expired: bool = False) -> list[SnoozeView]:
    stmt = select(Snooze).order_by(Snooze.id)
    if not include_expired:
        stmt = stmt.where(Snooze.ends_at > now)
    return [_view(s, now) for s in session.exec(stmt)]


def expire_snooze(session: Session, snooze_id: int, *, actor: str, now: datetime) -> Snooze:
    """End a snooze now (the row stays, with `ends_at=now`)."""
    snooze = session.get(Snooze, snooze_id)
    if snooze is None:
        raise ValueError(f"no snooze with id {snooze_id}")
    if snooze_state(snooze, now) is SnoozeState.EXPIRED:
        raise ValueError(f"snooze {snooze_id} already expired at {snooze.ends_at.isoformat()}")
    previous_end = snooze.ends_at
    snooze.ends_at = now
    session.add(snooze)
    store.audit(
        session,
        actor=actor,
        action="snooze_expired",
        now=now,
        details={"snooze_id": snooze_id, "was_ending_at": previous_end.isoformat()},
    )
    session.flush()
    return snooze


def active_snoozes(session: Session, *, now: datetime) -> list[Snooze]:
    stmt = select(Snooze).where(Snooze.starts_at <= now, Snooze.ends_at > now).order_by(Snooze.id)
    return list(session.exec(stmt))


def snooze_matches(snooze: Snooze, conflict: Conflict, deliverable: Deliverable | None) -> bool:
    values = {
        "deliverable": conflict.deliverable_key,
        "kind": conflict.kind,
        "owner": deliverable.owner_key if deliverable is not None else None,
    }
    for key, pattern in snooze.matchers.items():
        value = values.get(key)
        if value is None or not fnmatchcase(value, pattern):
            return False
    return True


def active_snooze_for(
    conflict: Conflict, deliverable: Deliverable | None, snoozes: Sequence[Snooze], now: datetime
) -> Snooze | None:
    """The active snooze silencing `conflict` (the one ending last), if any. Pure."""
    matching = [
        s
        for s in snoozes
        if snooze_state(s, now) is SnoozeState.ACTIVE and snooze_matches(s, conflict, deliverable)
    ]
    return max(matching, key=lambda s: (s.ends_at, s.id or 0), default=None)


# -- inhibition -----------------------------------------------------------------------------


def is_inhibitable(kind: str) -> bool:
    return kind in rules.INHIBITED_KINDS


@dataclass(frozen=True, slots=True)
class Inhibitor:
    """An active dependency violation and what it mutes."""

    conflict_id: int
    deliverable_key: str
    evidence: frozenset[int]
    downstream: frozenset[str]  # deliverables depending on it, transitively (not itself)

    def mutes(self, conflict: Conflict) -> bool:
        if conflict.id == self.conflict_id or not is_inhibitable(conflict.kind):
            return False
        if conflict.deliverable_key in self.downstream:
            return True
        return conflict.deliverable_key == self.deliverable_key and bool(self.evidence.intersection(conflict.evidence))


def inhibition_map(session: Session) -> dict[int, Inhibitor]:
    """Every active inhibiting conflict, by id."""
    stmt = select(Conflict).where(
        col(Conflict.kind).in_(INHIBITING_KINDS), col(Conflict.state).in_(ACTIVE_CONFLICT_STATES)
    )
    found: dict[int, Inhibitor] = {}
    closure_cache: dict[str, frozenset[str]] = {}
    for violation in session.exec(stmt):
        assert violation.id is not None
        key = violation.deliverable_key
        if key not in closure_cache:
            closure_cache[key] = _downstream(session, key)
        found[violation.id] = Inhibitor(violation.id, key, frozenset(violation.evidence), closure_cache[key])
    return found


def _downstream(session: Session, key: str) -> frozenset[str]:
    seen = {key}
    frontier = {key}
    while frontier:
        frontier = store.dependents_of(session, frontier) - seen
        seen |= frontier
    return frozenset(seen - {key})


def inhibitor_for(conflict: Conflict, inhibitors: Mapping[int, Inhibitor]) -> int | None:
    """The id of the active dependency violation muting `conflict`, if any. Pure."""
    for violation_id in sorted(inhibitors):
        if inhibitors[violation_id].mutes(conflict):
            return violation_id
    return None


def suppression_for(
    conflict: Conflict,
    deliverable: Deliverable | None,
    snoozes: Sequence[Snooze],
    inhibitors: Mapping[int, Inhibitor],
    *,
    now: datetime,
) -> str | None:
    """Why nobody should be told about `conflict` now: `snooze:<id>`, `inhibited_by:<id>` or None."""
    snooze = active_snooze_for(conflict, deliverable, snoozes, now)
    if snooze is not None:
        return f"snooze:{snooze.id}"
    violation = inhibitor_for(conflict, inhibitors)
    if violation is not None:
        return f"inhibited_by:{violation}"
    return None
