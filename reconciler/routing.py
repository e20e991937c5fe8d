"""Who hears about a deliverable's conflicts, when, and why.

The role-based protocol as functions: a deliverable's role gives its escalation levels; each
level names a target (`owner`, `lead`, `head` or a person key) that resolves to one person, with
a fallback when the decision owner is missing (the role's lead, else its head). Quiet hours are
evaluated in the recipient's time zone. `route_for` explains all of it without sending anything
(`reconciler route test`); the notifier uses the same functions to decide.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from connectors.base import Source
from reconciler import snoozes as snooze_rules
from reconciler import store
from reconciler.models import ACTIVE_CONFLICT_STATES, Conflict, Deliverable, Person
from reconciler.protocol import Config, EscalationLevel, RoleConfig

URGENT_SEVERITIES = frozenset({"high"})


# -- people and roles -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Recipient:
    key: str
    name: str
    slack_id: str | None
    timezone: str


@dataclass
class Directory:
    """People, deliverables and roles as the notifier sees them: the store first (owners set
    from the CLI, people found in Slack), the config file as the fallback."""

    config: Config
    people: dict[str, Person] = field(default_factory=dict)
    deliverables: dict[str, Deliverable] = field(default_factory=dict)
    partitions: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # see store.partitions_of

    @classmethod
    def load(cls, session: Session, config: Config, deliverable_keys: Iterable[str] = ()) -> Directory:
        people = {p.key: p for p in session.exec(select(Person))}
        keys = sorted(set(deliverable_keys))
        found: dict[str, Deliverable] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            for d in session.exec(select(Deliverable).where(col(Deliverable.key).in_(chunk))):
                found[d.key] = d
        return cls(config=config, people=people, deliverables=found, partitions=store.partitions_of(session, keys))

    def recipient(self, key: str) -> Recipient | None:
        row = self.people.get(key)
        conf = self.config.person(key)
        if row is None and conf is None:
            return None
        name = (row.name if row else None) or (conf.name if conf else key)
        slack_id = (row.identity(Source.SLACK) if row else None) or (conf.identity(Source.SLACK) if conf else None)
        tz = (row.timezone if row else None) or (conf.timezone if conf else None) or self.config.timezone
        return Recipient(key=key, name=name, slack_id=slack_id, timezone=_valid_tz(tz, self.config.timezone))

    def display_name(self, key: str | None) -> str:
        if not key:
            return "nobody"
        found = self.recipient(key)
        return found.name if found else key

    def author_name(self, author: str | None) -> str:
        """A source's author id (a person's id in any source, their key or email) as their name."""
        if not author:
            return "unknown"
        for person in self.people.values():
            if author in (person.key, person.email) or author in person.external_ids().values():
                return person.name
        for conf in self.config.people:
            if author in (conf.key, conf.email) or author in conf.ids.values():
                return conf.name
        return author

    def deliverable(self, key: str) -> Deliverable | None:
        return self.deliverables.get(key)

    def title_of(self, key: str) -> str:
        row = self.deliverables.get(key)
        conf = self.config.deliverable(key)
        return (row.title if row else None) or (conf.title if conf and conf.title else key)

    def owner_of(self, key: str) -> str | None:
        row = self.deliverables.get(key)
        if row is not None:
            return row.owner_key
        conf = self.config.deliverable(key)
        return conf.owner if conf else None

    def role_of(self, key: str) -> RoleConfig | None:
        return self.role_choice(key)[0]

    def role_choice(self, key: str) -> tuple[RoleConfig | None, str]:
        """The deliverable's role and why (see `Config.role_choice`): the zones are matched
        against the Asana projects and Slack channels its claims come from."""
        row = self.deliverables.get(key)
        if row is not None and row.role and self.config.deliverable(key) is None:
            found = self.config.role(row.role)
            if found is not None:
                return found, f"stored on the deliverable ({row.role})"
        where = self.partitions.get(key, {})
        return self.config.role_choice(
            key, asana_projects=where.get("asana", ()), slack_channels=where.get("slack", ())
        )

    def is_off(self, person_key: str, day: date) -> bool:
        conf = self.config.person(person_key)
        return conf is not None and conf.is_off(day)

    def levels_for(self, key: str) -> list[EscalationLevel]:
        return escalation_levels(self.role_of(key))

    def target_of(self, key: str, level: int) -> tuple[str | None, str]:
        """The person key level `level` of the deliverable's path resolves to, and why."""
        levels = self.levels_for(key)
        return resolve_target(levels[level].to, owner=self.owner_of(key), role=self.role_of(key))


def _valid_tz(name: str, fallback: str) -> str:
    try:
        ZoneInfo(name)
    except (ValueError, KeyError, OSError):
        return fallback
    return name


def escalation_levels(role: RoleConfig | None) -> list[EscalationLevel]:
    """The role's levels, or the default path (owner, lead after 24h, head after 72h)."""
    if role is not None and role.escalation:
        return list(role.escalation)
    return list(RoleConfig(name="-").escalation)


def resolve_target(target: str, *, owner: str | None, role: RoleConfig | None) -> tuple[str | None, str]:
    """`owner` | `lead` | `head` | a person key -> (person key or None, why)."""
    lead = role.lead if role else None
    head = role.head if role else None
    if target == "owner":
        if owner:
            return owner, "decision owner"
        if role is not None and role.escalation_contact:
            return role.escalation_contact, "no decision owner: the role's escalation contact"
        if lead:
            return lead, "no decision owner: the role's lead"
        if head:
            return head, "no decision owner and no lead: the role's head"
        return None, "no decision owner, and the role has no lead or head"
    if target == "lead":
        if lead:
            return lead, "the role's lead"
        if head:
            return head, "the role has no lead: its head"
        return None, "the role has no lead or head"
    if target == "head":
        if head:
            return head, "the role's head"
        return None, "the role has no head"
    return target, "named in the escalation path"


def level_applies(level: EscalationLevel, state: str) -> bool:
    """Whether a level's `when` holds for a conflict in `state` (only active conflicts escalate)."""
    if state not in ACTIVE_CONFLICT_STATES:
        return False
    if level.when == "not_acknowledged":
        return state == "open"
    return True


# -- quiet hours ----------------------------------------------------------------------------


def parse_quiet_hours(spec: str | None) -> tuple[time, time] | None:
    if not spec:
        return None
    start, end = spec.split("-")
    parsed = (time.fromisoformat(start), time.fromisoformat(end))
    return None if parsed[0] == parsed[1] else parsed


def quiet_hours_end(at: datetime, *, tz: str, spec: str | None) -> datetime | None:
    """When `at` falls inside quiet hours in `tz`, the UTC instant they end; else None."""
    window = parse_quiet_hours(spec)
    if window is None:
        return None
    start, end = window
    zone = ZoneInfo(tz)
    local = at.astimezone(zone)
    now_t = local.time().replace(tzinfo=None)
    if start < end:
        inside, end_day = start <= now_t < end, local.date()
    elif now_t >= start:
        inside, end_day = True, local.date() + timedelta(days=1)
    else:
        inside, end_day = now_t < end, local.date()
    if not inside:
        return None
    return datetime.combine(end_day, end, tzinfo=zone).astimezone(at.tzinfo)


# -- check-ins ------------------------------------------------------------------------------

_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def check_in_slot(
    now: datetime,
    *,
    tz: str,
    at: str,
    working_days: Iterable[str],
    is_off: Callable[[date], bool] = lambda _: False,
    last_sent: datetime | None = None,
) -> datetime:
    """When a person's next daily check-in goes out: `at` o'clock local on the next working
    day that is not one of their days off and has not had one yet (`last_sent`); today, late,
    when today's time has passed without one. Never more than one a working day."""
    zone = ZoneInfo(tz)
    today = now.astimezone(zone).date()
    sent_day = last_sent.astimezone(zone).date() if last_sent is not None else None
    working = set(working_days)
    for offset in range(0, 400):
        day = today + timedelta(days=offset)
        if _WEEKDAYS[day.weekday()] not in working or is_off(day) or (sent_day is not None and day <= sent_day):
            continue
        slot = datetime.combine(day, time.fromisoformat(at), tzinfo=zone).astimezone(now.tzinfo)
        return max(slot, now)
    return now + timedelta(days=1)  # a person off for a year: ask again tomorrow


def deliver_at(due: datetime, *, severity: str, tz: str, spec: str | None) -> datetime:
    """A notice due at `due` waits for the end of quiet hours unless it is urgent."""
    if severity in URGENT_SEVERITIES:
        return due
    return quiet_hours_end(due, tz=tz, spec=spec) or due


# -- route test -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RouteStep:
    level: int
    after: str  # as configured: "0h", "24h"
    target: str  # as configured: owner, lead, head or a person key
    when: str
    recipient: str | None  # person key
    recipient_name: str | None
    slack_id: str | None
    why: str
    due_at: datetime  # for a conflict opened now
    deliver_at: datetime  # after group_wait and (for non-urgent conflicts) quiet hours
    delayed_by_quiet_hours: bool


@dataclass(frozen=True, slots=True)
class ConflictRoute:
    conflict_id: int
    kind: str
    state: str
    severity: str
    escalation_level: int
    notified_at: datetime | None
    next_escalation_at: datetime | None
    suppressed_by: str | None  # what would silence it now: snooze:<id>, inhibited_by:<id>


@dataclass(frozen=True, slots=True)
class RoutePlan:
    deliverable_key: str
    title: str
    owner: str | None
    role: str | None
    role_reason: str
    steps: list[RouteStep]
    conflicts: list[ConflictRoute]
    problems: list[str]


def route_for(session: Session, deliverable_key: str, *, config: Config, now: datetime) -> RoutePlan:
    """Who would be told about a conflict on this deliverable opened now, when and why, and
    what currently silences its open conflicts. Sends nothing, writes nothing."""
    directory = Directory.load(session, config, [deliverable_key])
    if directory.deliverable(deliverable_key) is None and config.deliverable(deliverable_key) is None:
        raise ValueError(f"unknown deliverable {deliverable_key!r}")
    role, role_reason = directory.role_choice(deliverable_key)
    steps, problems = _route_steps(directory, deliverable_key, config=config, now=now)
    return RoutePlan(
        deliverable_key=deliverable_key,
        title=directory.title_of(deliverable_key),
        owner=directory.owner_of(deliverable_key),
        role=role.name if role else None,
        role_reason=role_reason,
        steps=steps,
        conflicts=_conflict_routes(session, directory, deliverable_key, now=now),
        problems=problems,
    )


def _route_steps(
    directory: Directory, key: str, *, config: Config, now: datetime
) -> tuple[list[RouteStep], list[str]]:
    from reconciler.protocol import parse_duration

    group_wait = parse_duration(config.alerts.group_wait)
    problems: list[str] = []
    if directory.owner_of(key) is None:
        problems.append(f"{key} has no decision owner")
    if directory.role_of(key) is None:
        problems.append(f"{key} has no role: the default escalation path has no lead or head")
    steps: list[RouteStep] = []
    first, _ = directory.target_of(key, 0)
    for index, level in enumerate(directory.levels_for(key)):
        person_key, why = directory.target_of(key, index)
        if index > 0 and person_key is not None and person_key == first:
            why += " (already told at level 0: reminded, not escalated to)"
        who = directory.recipient(person_key) if person_key else None
        due = now + level.delay + (group_wait if index == 0 else timedelta(0))
        tz = who.timezone if who else config.timezone
        at = deliver_at(due, severity="medium", tz=tz, spec=config.alerts.quiet_hours)
        if person_key is None:
            problems.append(f"level {index} ({level.to}): {why}")
        elif who is None:
            problems.append(f"level {index}: unknown person {person_key!r}")
        elif not who.slack_id:
            problems.append(f"level {index}: {person_key} has no Slack user id")
        steps.append(
            RouteStep(
                level=index,
                after=level.after,
                target=level.to,
                when=level.when,
                recipient=person_key,
                recipient_name=who.name if who else None,
                slack_id=who.slack_id if who else None,
                why=why,
                due_at=due,
                deliver_at=at,
                delayed_by_quiet_hours=at != due,
            )
        )
    return steps, problems


def _conflict_routes(session: Session, directory: Directory, key: str, *, now: datetime) -> list[ConflictRoute]:
    stmt = (
        select(Conflict)
        .where(Conflict.deliverable_key == key, col(Conflict.state).in_(ACTIVE_CONFLICT_STATES))
        .order_by(Conflict.id)
    )
    conflicts = list(session.exec(stmt))
    if not conflicts:
        return []
    silences = snooze_rules.active_snoozes(session, now=now)
    inhibitors = snooze_rules.inhibition_map(session)
    routes = []
    for c in conflicts:
        assert c.id is not None
        routes.append(
            ConflictRoute(
                conflict_id=c.id,
                kind=c.kind,
                state=c.state,
                severity=c.severity,
                escalation_level=c.escalation_level,
                notified_at=c.notified_at,
                next_escalation_at=c.next_escalation_at,
                suppressed_by=snooze_rules.suppression_for(
                    c, directory.deliverable(key), silences, inhibitors, now=now
                ),
            )
        )
    return routes
