"""Write a resolved conflict's decision back where its evidence lives, so the sources stop
contradicting each other: one reply in each Slack thread that carried evidence, one comment on
each Asana task that did. Task fields are never changed (the status custom field stays as it is).

Where and how is each source's to say (`SourcePlugin.writeback`: connectors/<name>/writeback.py);
this module plans, runs and records for every source alike. `plan` is pure reading (what would be
written where, the text); `execute` writes through the same clients the connectors use and never
raises for a target: each ends in an `Outcome`; `record` keeps every outcome as an audit event
(`writeback`, `writeback_failed`). Error lines name the channel or task and pass through `scrub`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from connectors.base import CanonicalStatus, ConnectorError, RateLimiter, SourceName
from connectors.plugin import SourcePlugin, SourceRegistry, Writer
from connectors.plugin import WriteTarget as Target
from connectors.registry import current_sources
from reconciler import store, untrusted
from reconciler.models import AuditEvent, Conflict, Deliverable, Person
from reconciler.settings import Settings

UNCHANGED_NOTE = "Asana task fields are not changed (the status field stays as it is; update it in Asana if needed)."
_ESCAPES: dict[str, Callable[[str], str]] = {"plain": str, "slack_mrkdwn": untrusted.for_slack}


@dataclass(frozen=True)
class Plan:
    conflict_id: int
    deliverable_key: str
    text: str
    targets: tuple[Target, ...]
    skipped: tuple[str, ...] = ()

    def needs(self, source: SourceName) -> bool:
        return any(t.source == source for t in self.targets)


@dataclass(frozen=True)
class Outcome:
    target: Target
    ok: bool
    detail: str  # what the source calls what was written (a Slack ts, an Asana story gid); the one-line error when not ok


@dataclass
class Clients:
    """A writer per source, built on first use, so a plan with no Asana target needs no Asana
    token."""

    settings: Settings
    rate_limiter: RateLimiter
    sources: SourceRegistry
    _writers: dict[str, Writer] = field(default_factory=dict, init=False)

    def writer(self, source: SourceName) -> Writer:
        if source not in self._writers:
            plugin = self.sources.get(source)
            assert plugin.writeback is not None, f"{source} takes no write-back"
            credentials = plugin.credentials(self.settings)
            self._writers[source] = plugin.writeback.writer(credentials, self.rate_limiter, self.settings.http_timeout)
        return self._writers[source]

    def close(self) -> None:
        for writer in self._writers.values():
            writer.close()


# -- planning -------------------------------------------------------------------------------


def plan(session: Session, conflict: Conflict, *, sources: SourceRegistry | None = None) -> Plan:
    """What `--apply` writes for a decided conflict, read from its evidence (no API calls):
    each source that takes write-backs names its places."""
    assert conflict.id is not None
    found = store.observations_by_id(session, conflict.evidence)
    evidence = [found[i] for i in conflict.evidence if i in found]
    targets: list[Target] = []
    skipped: list[str] = []
    for plugin in _writing_sources(sources):
        assert plugin.writeback is not None
        more, notes = plugin.writeback.targets(evidence)
        targets += more
        skipped += notes
    return Plan(
        conflict_id=conflict.id,
        deliverable_key=conflict.deliverable_key,
        text=decision_text(
            conflict,
            decider=_person_name(session, conflict.resolved_by),
            deliverable=_deliverable_title(session, conflict.deliverable_key),
        ),
        targets=tuple(targets),
        skipped=tuple(skipped),
    )


def _writing_sources(sources: SourceRegistry | None) -> list[SourcePlugin]:
    """The sources that take write-backs, in the registry's order."""
    return [p for p in (sources or current_sources()) if p.writeback is not None]


def decision_text(conflict: Conflict, *, decider: str, deliverable: str) -> str:
    """"Decision by Erin Park: Checkout v2 is blocked (keys missing). Recorded as conflict #4."."""
    why = (conflict.resolution_comment or "").strip()
    value = conflict.resolution_value
    if value:
        said = f"{deliverable} is {_say(value)}" + (f" ({why})" if why else "")
    else:
        said = f"{deliverable}: {why}" if why else deliverable
    return f"Decision by {decider}: {said}. Recorded as conflict #{conflict.id}."


def _say(value: str) -> str:
    if value in CanonicalStatus._value2member_map_:
        return value.replace("_", " ")
    return f"due {value}"  # the only other decided value is a target date


def _person_name(session: Session, key: str | None) -> str:
    if not key:
        return "someone"
    person = session.exec(select(Person).where(Person.key == key)).first()
    return person.name if person is not None else key


def _deliverable_title(session: Session, key: str) -> str:
    deliverable = session.exec(select(Deliverable).where(Deliverable.key == key)).first()
    return deliverable.title if deliverable is not None and deliverable.title else key


Place = tuple[str, str, str | None]  # (source, channel or task gid, thread ts)


def written(session: Session, conflict_id: int, *, sources: SourceRegistry | None = None) -> set[Place]:
    """Where a write-back of this conflict already went (its `writeback` audit events)."""
    events = session.exec(
        select(AuditEvent).where(AuditEvent.conflict_id == conflict_id, AuditEvent.action == "writeback")
    )
    registry = sources or current_sources()
    places: set[Place] = set()
    for event in events:
        details = event.details or {}
        plugin = registry.audit_target(details)
        if plugin is not None and plugin.writeback is not None:
            ref, thread = plugin.writeback.place(details)
            places.add((plugin.name, ref, thread))
    return places


def without(plan: Plan, reached: set[Place]) -> Plan:
    """`plan` minus the targets already reached, so a retry never writes anything twice."""
    return replace(plan, targets=tuple(t for t in plan.targets if (t.source, t.ref, t.thread_ts) not in reached))


# -- clients --------------------------------------------------------------------------------


def required_tokens(settings: Settings, plans: Iterable[Plan], *, sources: SourceRegistry | None = None) -> None:
    """Raise the one-line ConnectorError for a token the plans need and do not have."""
    plans = list(plans)
    for plugin in _writing_sources(sources):
        credentials = plugin.credentials(settings)
        if any(p.needs(plugin.name) for p in plans) and not credentials.token:
            raise ConnectorError(f"{plugin.name}: no token configured (set {credentials.variable}); nothing recorded")


def clients(settings: Settings, rate_limiter: RateLimiter, *, sources: SourceRegistry | None = None) -> Clients:
    """A writer per source, configured as the connectors configure their clients."""
    return Clients(settings, rate_limiter, sources or current_sources())


# -- writing --------------------------------------------------------------------------------


def execute(plan: Plan, clients: Clients, *, scrub: Callable[[str], str]) -> list[Outcome]:
    """Write the plan's text to every target; a failed target does not stop the others."""
    outcomes: list[Outcome] = []
    for target in plan.targets:
        try:
            writeback = clients.sources.get(target.source).writeback
            assert writeback is not None
            text = _ESCAPES[writeback.markup](plan.text)
            detail = clients.writer(target.source).write(target, text, mark=_reply_mark(plan))
            outcomes.append(Outcome(target, True, detail))
        except ConnectorError as exc:
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            outcomes.append(Outcome(target, False, scrub(message)))
    return outcomes


def _reply_mark(plan: Plan) -> str:
    """Names this decision's reply: the conflict and a digest of the text (conflict ids alone
    repeat after a store is reset)."""
    return f"{plan.conflict_id}/{hashlib.sha256(plan.text.encode()).hexdigest()[:16]}"


def record(session: Session, plan: Plan, outcomes: Iterable[Outcome], *, actor: str, now: datetime) -> None:
    """One audit event per target: `writeback` (with the Slack ts or story gid) or `writeback_failed`."""
    for outcome in outcomes:
        store.audit(
            session,
            actor=actor,
            action="writeback" if outcome.ok else "writeback_failed",
            now=now,
            conflict_id=plan.conflict_id,
            deliverable_key=plan.deliverable_key,
            comment=None if outcome.ok else outcome.detail,
            details=audit_details(outcome),
        )


def audit_details(outcome: Outcome, *, sources: SourceRegistry | None = None) -> dict[str, Any]:
    target = outcome.target
    writeback = (sources or current_sources()).get(target.source).writeback
    assert writeback is not None
    where = {**writeback.audit(target), "permalink": target.permalink}
    return {**where, writeback.result_key: outcome.detail} if outcome.ok else {**where, "error": outcome.detail}
