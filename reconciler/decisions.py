"""The one domain API every surface decides through: resolve, acknowledge, snooze, dismiss,
reopen and set an owner, each with the identity of who decides and a permission check.

Who may decide a finding: the deliverable's decision owner, the people on its escalation path
(the role's lead and head, or whoever the path names) and the configured `admins`. The admin CLI
is trusted (whoever reaches the store can write it anyway) and is recorded as `cli:<os user>`,
or as the person `--by` names. A decision from Slack is recorded as the person the Slack user
maps to, with the Slack user id in the audit event.

Each operation locks the conflict row before it reads its state, so two people clicking at once
(or Slack retrying a click) record one decision; the others get `AlreadyDecided`, which names the
winner. Committing is the caller's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from connectors.base import Source
from reconciler import conflicts as lifecycle
from reconciler import snoozes, store
from reconciler.models import Conflict, ConflictState, Deliverable, Person, Snooze
from reconciler.protocol import Config
from reconciler.routing import Directory, resolve_target

NO_OWNER_KIND = "no_owner"
MAX_SNOOZE = timedelta(days=30)


class NotAllowed(Exception):
    """The actor may not decide this finding; the message names who may."""

    def __init__(self, message: str, *, decider: str | None) -> None:
        super().__init__(message)
        self.decider = decider


class UnknownActor(LookupError):
    """A Slack user or a `--by` name that is none of the configured people."""


class AlreadyDecided(lifecycle.InvalidTransition):
    """Someone decided first (or this is a repeat of the same click); names who and when."""

    def __init__(
        self, message: str, *, conflict_id: int, state: str, by: str | None, by_name: str, at: datetime | None
    ) -> None:
        super().__init__(message)
        self.conflict_id = conflict_id
        self.state = state
        self.by = by  # who closed or acknowledged it (a person key, cli:<user> or "auto")
        self.by_name = by_name
        self.at = at


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is deciding. `name` is what the store records (a person key, or `cli:<os user>`)."""

    name: str
    person_key: str | None
    via: str  # "cli" or "slack"
    trusted: bool = False  # the admin CLI: no permission check
    slack_user: str | None = None
    os_user: str | None = None

    def context(self) -> dict[str, Any]:
        """What the audit event keeps about where the decision came from."""
        found = {"via": self.via, "slack_user": self.slack_user, "os_user": self.os_user}
        return {k: v for k, v in found.items() if v}


def cli_actor(session: Session, *, by: str | None, os_user: str) -> Actor:
    """The admin at the CLI: `cli:<os user>`, or the known person `--by` names."""
    if by is None or not by.strip():
        return Actor(name=f"cli:{os_user}", person_key=None, via="cli", trusted=True, os_user=os_user)
    key = by.strip()
    if session.exec(select(Person.key).where(Person.key == key)).first() is None:
        raise UnknownActor(
            f"--by {key!r} is not a known person (see [[people]] in the config file); "
            f"leave --by out to be recorded as cli:{os_user}"
        )
    return Actor(name=key, person_key=key, via="cli", trusted=True, os_user=os_user)


def slack_actor(session: Session, config: Config, slack_user: str) -> Actor:
    """The person behind a Slack user id (the store first, the config file as fallback)."""
    person = store.person_by_identity(session, Source.SLACK, slack_user)
    key = person.key if person else next((p.key for p in config.people if p.identity(Source.SLACK) == slack_user), None)
    if key is None:
        raise UnknownActor("your Slack user is not one of the reconciler's people; ask an admin to add you")
    return Actor(name=key, person_key=key, via="slack", slack_user=slack_user)


# -- who may decide -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Deciders:
    """Who may decide the findings of one deliverable."""

    deliverable_key: str
    title: str
    decider: str | None  # the first in line: the owner, else the path's fallback
    owner: str | None
    path: tuple[str, ...]
    admins: tuple[str, ...] = field(default=())

    def allows(self, person_key: str | None) -> bool:
        if person_key is None:
            return False
        return person_key == self.owner or person_key in self.path or person_key in self.admins


def deciders(session: Session, config: Config, deliverable_key: str) -> Deciders:
    directory = Directory.load(session, config, [deliverable_key])
    owner = directory.owner_of(deliverable_key)
    role = directory.role_of(deliverable_key)
    path: list[str] = []
    for level in directory.levels_for(deliverable_key):
        person, _why = resolve_target(level.to, owner=owner, role=role)
        if person and person not in path:
            path.append(person)
    return Deciders(
        deliverable_key=deliverable_key,
        title=directory.title_of(deliverable_key),
        decider=owner or (path[0] if path else None),
        owner=owner,
        path=tuple(path),
        admins=tuple(config.admins),
    )


def check_allowed(session: Session, config: Config, actor: Actor, deliverable_key: str) -> None:
    if actor.trusted:
        return
    allowed = deciders(session, config, deliverable_key)
    if allowed.allows(actor.person_key):
        return
    directory = Directory.load(session, config)
    who = directory.display_name(allowed.decider) if allowed.decider else "nobody (ask an admin)"
    raise NotAllowed(
        f"you are not the decision owner of {allowed.title}; {who} is", decider=allowed.decider
    )


# -- decisions ------------------------------------------------------------------------------


def _locked(session: Session, conflict_id: int) -> Conflict:
    """The conflict, read after taking its row's write lock (PostgreSQL: the row; SQLite: the
    database), so a concurrent decision on it waits for this one and then sees its outcome."""
    session.execute(update(Conflict).where(col(Conflict.id) == conflict_id).values(id=Conflict.id))
    found = session.exec(
        select(Conflict).where(Conflict.id == conflict_id).execution_options(populate_existing=True)
    ).first()
    if found is None:
        raise lifecycle.ConflictNotFound(f"conflict {conflict_id} does not exist")
    return found


def _require_active(session: Session, config: Config, conflict: Conflict, *, also_not: str | None = None) -> None:
    if conflict.state in lifecycle.ACTIVE and conflict.state != also_not:
        return
    directory = Directory.load(session, config)
    if conflict.state == ConflictState.ACKNOWLEDGED:
        who, at = conflict.acknowledged_by, conflict.acknowledged_at
    else:
        who, at = conflict.resolved_by, conflict.resolved_at
    name = "the reconciler (the sources agree again)" if who == "auto" else directory.display_name(who)
    when = f" at {at.isoformat(timespec='minutes')}" if at else ""
    assert conflict.id is not None
    raise AlreadyDecided(
        f"conflict {conflict.id} was already {conflict.state} by {name}{when}",
        conflict_id=conflict.id, state=conflict.state, by=who, by_name=name, at=at,
    )


def _begin(session: Session, config: Config, conflict_id: int, actor: Actor) -> Conflict:
    conflict = _locked(session, conflict_id)
    check_allowed(session, config, actor, conflict.deliverable_key)
    return conflict


def resolve(
    session: Session,
    conflict_id: int,
    *,
    actor: Actor,
    config: Config,
    comment: str,
    now: datetime,
    accept_source: str | None = None,
    status: str | None = None,
    target_date: date | None = None,
) -> Conflict:
    """Close with a decision: accept one source's value, or set the status or date."""
    conflict = _begin(session, config, conflict_id, actor)
    _require_active(session, config, conflict)
    return lifecycle.resolve(
        session, conflict_id, actor=actor.name, comment=comment, now=now, accept_source=accept_source,
        status=status, target_date=target_date, context=actor.context(),
    )


def acknowledge(
    session: Session, conflict_id: int, *, actor: Actor, config: Config, now: datetime, comment: str | None = None
) -> Conflict:
    """You are on it: escalation stops."""
    conflict = _begin(session, config, conflict_id, actor)
    _require_active(session, config, conflict, also_not=ConflictState.ACKNOWLEDGED)
    return lifecycle.acknowledge(session, conflict_id, actor=actor.name, comment=comment, now=now, context=actor.context())


def dismiss(session: Session, conflict_id: int, *, actor: Actor, config: Config, comment: str, now: datetime) -> Conflict:
    conflict = _begin(session, config, conflict_id, actor)
    _require_active(session, config, conflict)
    return lifecycle.dismiss(session, conflict_id, actor=actor.name, comment=comment, now=now, context=actor.context())


def reopen(
    session: Session, conflict_id: int, *, actor: Actor, config: Config, now: datetime, comment: str | None = None
) -> Conflict:
    _begin(session, config, conflict_id, actor)
    return lifecycle.reopen(session, conflict_id, actor=actor.name, comment=comment, now=now, context=actor.context())


def snooze(
    session: Session,
    conflict_id: int,
    *,
    actor: Actor,
    config: Config,
    duration: timedelta,
    comment: str,
    now: datetime,
) -> Snooze:
    """Silence this finding (its deliverable and kind) for `duration`."""
    conflict = _begin(session, config, conflict_id, actor)
    _require_active(session, config, conflict)
    if duration > MAX_SNOOZE:
        raise ValueError(f"snooze for at most {MAX_SNOOZE.days} days")
    return snoozes.add_snooze(
        session,
        matchers={"deliverable": conflict.deliverable_key, "kind": conflict.kind},
        duration=duration,
        author=actor.name,
        comment=comment,
        now=now,
        conflict_id=conflict.id,
        context=actor.context(),
    )


class DeliverableNotFound(LookupError):
    pass


def set_owner(
    session: Session,
    deliverable_key: str,
    person: str,
    *,
    actor: Actor,
    config: Config,
    comment: str | None,
    now: datetime,
) -> tuple[str | None, str]:
    """Make `person` the decision owner of the deliverable; (old, new). Audited."""
    deliverable = session.exec(select(Deliverable).where(Deliverable.key == deliverable_key)).first()
    if deliverable is None:
        raise DeliverableNotFound(f"deliverable {deliverable_key!r} does not exist")
    check_allowed(session, config, actor, deliverable_key)
    if session.exec(select(Person.key).where(Person.key == person)).first() is None:
        raise UnknownActor(f"person {person!r} does not exist (see [[people]] in the config file)")
    old = deliverable.owner_key
    if old == person:
        return old, person
    deliverable.owner_key = person
    deliverable.owner_set_by = actor.name if actor.name.startswith("cli:") else f"{actor.via}:{actor.name}"
    deliverable.dirty = True
    deliverable.updated_at = now
    session.add(deliverable)
    store.audit(
        session,
        actor=actor.name,
        action="owner_changed",
        now=now,
        deliverable_key=deliverable_key,
        comment=comment,
        details={"from": old, "to": person, **actor.context()},
    )
    return old, person


def assign_owner(
    session: Session,
    conflict_id: int,
    person: str,
    *,
    actor: Actor,
    config: Config,
    comment: str | None,
    now: datetime,
) -> Conflict:
    """Answer a missing-owner finding: set the owner and resolve the finding with it."""
    conflict = _begin(session, config, conflict_id, actor)
    if conflict.kind != NO_OWNER_KIND:
        raise lifecycle.InvalidTransition(f"conflict {conflict_id} ({conflict.kind}) is not about a missing owner")
    _require_active(session, config, conflict)
    set_owner(session, conflict.deliverable_key, person, actor=actor, config=config, comment=comment, now=now)
    name = Directory.load(session, config).display_name(person)
    why = f"owner: {name}" + (f" ({comment.strip()})" if comment and comment.strip() else "")
    return lifecycle.resolve(
        session, conflict_id, actor=actor.name, comment=why, now=now, owner=person, context=actor.context()
    )


def person_for_slack_user(session: Session, config: Config, slack_user: str) -> str | None:
    """The person key of a Slack user, or None (for a users select: who was picked)."""
    try:
        return slack_actor(session, config, slack_user).person_key
    except UnknownActor:
        return None
