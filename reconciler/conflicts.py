"""The transitions people make on conflicts: acknowledge, resolve, dismiss, reopen. The
surfaces reach them through `reconciler.decisions` (identity and permission first).

Each operation checks the transition, records who did it and why in an audit event, and leaves
committing to the caller. A resolution with a value (an accepted source's value, or one given) is
also a decision on the deliverable (`Deliverable.decisions`): its canonical value from the next
reconcile on, until a source says something newer. It outlives the conflict (the reconciler may
reopen the conflict on new evidence); reopening the conflict by hand withdraws it. Resolving and
reopening mark the deliverable dirty so the next reconcile applies this.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlmodel import Session, select

from connectors.base import CanonicalStatus
from connectors.registry import ref_scope
from reconciler import lifecycle, rules, store
from reconciler.models import Conflict, Deliverable, Observation

# The lifecycle's vocabulary and its one transition function, as this module's callers know them.
OPEN, ACKNOWLEDGED, RESOLVED, DISMISSED = lifecycle.OPEN, lifecycle.ACKNOWLEDGED, lifecycle.RESOLVED, lifecycle.DISMISSED
ACTIVE, CLOSED = lifecycle.ACTIVE, lifecycle.CLOSED
CLOSED_RESET, REOPEN_RESET = lifecycle.CLOSED_RESET, lifecycle.REOPEN_RESET
InvalidTransition = lifecycle.InvalidTransition
transition = lifecycle.transition
apply_transition = lifecycle.apply_transition


def value_fields(kind: str) -> frozenset[str]:
    """The fields (status, target_date) a resolution of this kind of conflict may set."""
    rule = rules.rule_for(kind)
    return rule.fields if rule is not None else frozenset()


def value_optional(kind: str) -> bool:
    """Whether a resolution of this kind may be just a comment."""
    rule = rules.rule_for(kind)
    return rule is not None and rule.value_optional


class ConflictNotFound(LookupError):
    pass


def get_conflict(session: Session, conflict_id: int) -> Conflict:
    conflict = session.get(Conflict, conflict_id)
    if conflict is None:
        raise ConflictNotFound(f"conflict {conflict_id} does not exist")
    return conflict


def acknowledge(
    session: Session,
    conflict_id: int,
    *,
    actor: str,
    comment: str | None,
    now: datetime,
    context: dict[str, Any] | None = None,
) -> Conflict:
    conflict = get_conflict(session, conflict_id)
    _require(conflict, {OPEN}, ACKNOWLEDGED)
    apply_transition(conflict, ACKNOWLEDGED, now=now, by=_actor(actor))
    return _record(session, conflict, "acknowledged", actor=actor, comment=comment, now=now, details=context)


def resolve(
    session: Session,
    conflict_id: int,
    *,
    actor: str,
    comment: str,
    now: datetime,
    accept_source: str | None = None,
    status: str | None = None,
    target_date: date | None = None,
    owner: str | None = None,
    context: dict[str, Any] | None = None,
) -> Conflict:
    """Close with a decision: accept what one source says, or set the status or date. A missing
    owner is resolved only by naming one (`owner`, which the caller has put in the gatekeeper
    map: `decisions.assign_owner`)."""
    conflict = get_conflict(session, conflict_id)
    _require(conflict, ACTIVE, RESOLVED)
    comment = _comment(comment, "resolve", conflict_id)
    if (conflict.kind == rules.Rule.NO_OWNER) != (owner is not None):
        if owner is None:
            raise InvalidTransition(f"conflict {conflict_id} is a missing owner: name one (--owner PERSON)")
        raise InvalidTransition(f"conflict {conflict_id} ({conflict.kind}) is not about the owner")
    if owner is not None:
        _close(conflict, RESOLVED, actor=actor, comment=comment, now=now, value=owner)
        return _record(session, conflict, "resolved", actor=actor, comment=comment, now=now,
                       details={"field": "owner", "value": owner, **(context or {})})
    field_name, value = _decided_value(session, conflict, accept_source, status, target_date)
    _close(conflict, RESOLVED, actor=actor, comment=comment, now=now, value=value, source=accept_source)
    if field_name and value:
        decision = {"value": value, "source": accept_source, "at": now.isoformat(), "by": conflict.resolved_by,
                    "conflict_id": conflict.id}
        _set_decision(session, conflict.deliverable_key, field_name, decision)
    store.mark_dirty(session, [conflict.deliverable_key])
    details = {"field": field_name, "value": value, "accepted_source": accept_source} if value else {}
    return _record(
        session, conflict, "resolved", actor=actor, comment=comment, now=now, details={**details, **(context or {})}
    )


def dismiss(
    session: Session,
    conflict_id: int,
    *,
    actor: str,
    comment: str,
    now: datetime,
    context: dict[str, Any] | None = None,
) -> Conflict:
    """Close as not a real contradiction; it reopens only on evidence newer than this."""
    conflict = get_conflict(session, conflict_id)
    _require(conflict, ACTIVE, DISMISSED)
    comment = _comment(comment, "dismiss", conflict_id)
    _close(conflict, DISMISSED, actor=actor, comment=comment, now=now)
    return _record(session, conflict, "dismissed", actor=actor, comment=comment, now=now, details=context)


def reopen(
    session: Session,
    conflict_id: int,
    *,
    actor: str,
    comment: str | None,
    now: datetime,
    context: dict[str, Any] | None = None,
) -> Conflict:
    conflict = get_conflict(session, conflict_id)
    if conflict.state not in CLOSED:
        raise InvalidTransition(f"conflict {conflict_id} is {conflict.state}, not resolved or dismissed")
    details = {
        "previous_state": conflict.state,
        "closed_by": conflict.resolved_by,
        **({"resolution_value": conflict.resolution_value} if conflict.resolution_value else {}),
    }
    apply_transition(conflict, OPEN, now=now)
    _withdraw_decisions(session, conflict)
    store.mark_dirty(session, [conflict.deliverable_key])
    return _record(
        session, conflict, "reopened", actor=actor, comment=comment, now=now, details={**details, **(context or {})}
    )


# -- helpers --------------------------------------------------------------------------------


def _require(conflict: Conflict, allowed: set[str] | frozenset[str], target: str) -> None:
    if conflict.state in allowed:
        return
    if conflict.state == target:
        raise InvalidTransition(f"conflict {conflict.id} is already {target}")
    if conflict.state in CLOSED:
        raise InvalidTransition(f"conflict {conflict.id} is {conflict.state}; reopen it first")
    raise InvalidTransition(f"conflict {conflict.id} is {conflict.state}; it cannot become {target}")


def _actor(actor: str) -> str:
    if not actor or not actor.strip():
        raise ValueError("say who is acting (a person key)")
    return actor.strip()


def _comment(comment: str | None, verb: str, conflict_id: int) -> str:
    if not comment or not comment.strip():
        raise ValueError(f"a comment is required to {verb} conflict {conflict_id}")
    return comment.strip()


def _close(
    conflict: Conflict, state: str, *, actor: str, comment: str, now: datetime,
    value: str | None = None, source: str | None = None,
) -> None:
    apply_transition(conflict, state, now=now, by=_actor(actor), comment=comment, value=value, source=source)


def _decided_value(
    session: Session,
    conflict: Conflict,
    accept_source: str | None,
    status: str | None,
    target_date: date | None,
) -> tuple[str | None, str | None]:
    """(field, value) the resolution decides, validated against the conflict's kind."""
    given = [name for name, v in (("source", accept_source), ("status", status), ("date", target_date)) if v]
    allowed = value_fields(conflict.kind)
    if len(given) > 1:
        raise ValueError("give one of: a source to accept, a status, a date")
    if not given:
        if value_optional(conflict.kind):
            return None, None
        raise ValueError(f"conflict {conflict.id}: say which source to accept, or give the {_nouns(allowed)}")
    if accept_source is not None:
        return _accepted_value(session, conflict, accept_source)
    if status is not None:
        if status not in CanonicalStatus._value2member_map_:
            choices = ", ".join(s.value for s in CanonicalStatus)
            raise ValueError(f"unknown status {status!r} (use one of: {choices})")
        return _checked(conflict, rules.STATUS, allowed), status
    assert target_date is not None
    return _checked(conflict, rules.TARGET_DATE, allowed), target_date.isoformat()


def _checked(conflict: Conflict, field_name: str, allowed: frozenset[str]) -> str:
    if field_name not in allowed:
        if not allowed:
            raise InvalidTransition(f"conflict {conflict.id} ({conflict.kind}) takes no value; resolve it with a comment")
        raise InvalidTransition(f"conflict {conflict.id} ({conflict.kind}) is about the {_nouns(allowed)}, not the {_noun(field_name)}")
    return field_name


def _accepted_value(session: Session, conflict: Conflict, source: str) -> tuple[str, str]:
    rule = rules.rule_for(conflict.kind)
    if rule is None or not rule.accepts_source or len(rule.fields) != 1:
        raise InvalidTransition(f"conflict {conflict.id} ({conflict.kind}) has no sources to accept; give the value")
    (field_name,) = rule.fields
    if source not in conflict.sources:
        known = ", ".join(conflict.sources)
        raise InvalidTransition(f"conflict {conflict.id} has no claim from {source!r} (its sources: {known})")
    rows = store.live_claims(session, [conflict.deliverable_key]).get(conflict.deliverable_key, [])
    current = rules.current_claims([claim_view(r) for r in rows], field_name)
    values = sorted({c.value for c in current if c.source == source and c.value})
    if len(values) != 1:
        says = "no longer states one" if not values else "says " + " and ".join(values)
        raise InvalidTransition(f"{source} {says} for conflict {conflict.id}; give the {_noun(field_name)} instead")
    return field_name, values[0]


def _deliverable(session: Session, key: str) -> Deliverable | None:
    return session.exec(select(Deliverable).where(Deliverable.key == key)).first()


def _set_decision(session: Session, key: str, field_name: str, decision: dict[str, Any]) -> None:
    deliverable = _deliverable(session, key)
    if deliverable is not None:
        deliverable.decisions = {**deliverable.decisions, field_name: decision}
        session.add(deliverable)


def _withdraw_decisions(session: Session, conflict: Conflict) -> None:
    deliverable = _deliverable(session, conflict.deliverable_key)
    if deliverable is None:
        return
    kept = {f: d for f, d in deliverable.decisions.items() if d.get("conflict_id") != conflict.id}
    if kept != deliverable.decisions:
        deliverable.decisions = kept
        session.add(deliverable)


def claim_view(row: Observation) -> rules.ClaimView:
    assert row.id is not None
    return rules.ClaimView(
        id=row.id, source=row.source, source_ref=row.source_ref, field=row.field, value=row.value,
        kind=row.kind, author=row.author, stated_at=row.stated_at, excerpt=row.excerpt,
        permalink=row.permalink, edited_at=row.edited_at, recorded_at=row.updated_at,
        scope=ref_scope(row.source, row.source_ref),
    )


def _noun(field_name: str) -> str:
    return "date" if field_name == rules.TARGET_DATE else "status"


def _nouns(fields: frozenset[str]) -> str:
    return " or ".join(sorted(_noun(f) for f in fields)) or "nothing"


def _record(
    session: Session,
    conflict: Conflict,
    action: str,
    *,
    actor: str,
    comment: str | None,
    now: datetime,
    details: dict[str, Any] | None = None,
) -> Conflict:
    session.add(conflict)
    store.audit(
        session,
        actor=_actor(actor),
        action=action,
        now=now,
        conflict_id=conflict.id,
        deliverable_key=conflict.deliverable_key,
        comment=comment.strip() if comment and comment.strip() else None,
        details=details,
    )
    session.flush()
    return conflict
