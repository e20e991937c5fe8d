"""The gatekeeper map's one writer: who owns which deliverable, audited."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from reconciler import store


class UnknownOwner(ValueError):
    pass


def assign_owner(
    session: Session, key: str, person: str, *, actor: str, comment: str | None, now: datetime
) -> tuple[str | None, str]:
    """Make `person` the decision owner of `key` (it wins over the config file); returns
    (old, new). Every change is an `owner_changed` audit event."""
    deliverable = store.deliverables_by_key(session, [key]).get(key)
    if deliverable is None:
        raise UnknownOwner(f"deliverable {key!r} does not exist")
    people = store.people_by_key(session)
    if person not in people:
        known = ", ".join(sorted(people)) or "none"
        raise UnknownOwner(f"person {person!r} does not exist (known: {known}; see [[people]] in the config file)")
    old = deliverable.owner_key
    if old == person:
        return old, person
    deliverable.owner_key = person
    deliverable.owner_set_by = f"cli:{actor}"
    deliverable.dirty = True
    deliverable.updated_at = now
    session.add(deliverable)
    store.audit(
        session,
        actor=actor,
        action="owner_changed",
        now=now,
        deliverable_key=key,
        comment=comment,
        details={"from": old, "to": person},
    )
    return old, person
