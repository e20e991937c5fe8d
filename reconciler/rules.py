"""Contradiction rules: pure functions from one deliverable's facts to findings and canonical state.

Nothing here reads the database or the clock; the engine builds `DeliverableFacts` and writes the
results. Semantics (see DESIGN.md, "Semantics that decide whether people trust it"):

- **Voices.** A state claim (an Asana field, a project's status) speaks for its `source_ref`; an
  event claim (a Slack message) speaks for its author within its source (its ref when it has no
  author). Within a voice only the newest claim counts: a person correcting themselves, a field
  changed again. Connectors therefore give a thing that holds state one stable ref (the task gid
  for task fields, one ref per project for its status updates) so a newer update replaces the
  older one. A claim's time is its last edit, else when it was stated.
- **Superseding.** An event claim older than a newer, different value of a current state claim
  of the same field has been answered by that change: it is no longer current. A newer event
  that disagrees with an unchanged state claim is current and can contradict it.
- **Specificity.** A project-level claim (a project's newest status update: its
  `scope` is "project", as the source's plugin says of its ref) speaks for every deliverable in the project but is less specific than what is
  said about the deliverable itself: its task's own field (a task-level state claim) or a message
  about it (an event claim).
  - It supersedes an event claim only when the deliverable has no current task-level state claim
    for that field; otherwise only the task's own field changes answer messages.
  - It is the canonical value only when nothing more specific is current: any current task-level
    state claim or event claim wins over it (the newest of those, as always; when a state claim
    states that same value, it is credited as the source: a message agreeing with the task's
    field does not take it over). Likewise a newer project update does not end a person's
    decision while something more specific is current.
  - It contradicts a more specific claim only for the strong pairs in `PROJECT_CONTRADICTIONS`
    (the project done while the deliverable is blocked or not started; the project cancelled
    while the deliverable is active), never e.g. on track against at risk: a project can be on
    track while one of its tasks is at risk. Severity still comes from the config table.
- **State against state.** Two current state claims of the same specificity from different refs
  (say, two projects' status updates) are separate sources of truth: both count, and they
  contradict each other when their values do.
- A claim whose value is empty or unknown replaces older claims of its voice but takes part in
  nothing else.
- **Fingerprints** hash (deliverable, rule, involved sources), never values. A contradiction's
  involved sources are those of the pair that disagrees (`["slack"]` for two people in Slack);
  the other rules involve no source, so each holds at most one finding per deliverable.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from enum import StrEnum
from functools import lru_cache
from itertools import combinations
from typing import TYPE_CHECKING, Any

from connectors.base import CanonicalStatus, ClaimKind
from connectors.base import Field as ClaimField
from connectors.registry import current_sources

if TYPE_CHECKING:  # a reconcile helper process evaluates without loading the configuration's models
    from reconciler.protocol import RulesConfig

STATUS = ClaimField.STATUS.value
TARGET_DATE = ClaimField.TARGET_DATE.value
DEPENDS_ON = ClaimField.DEPENDS_ON.value

_STATE = ClaimKind.STATE.value
_STATUSES = frozenset(s.value for s in CanonicalStatus)
_CLOSED = frozenset({CanonicalStatus.DONE.value, CanonicalStatus.CANCELLED.value})
_SEVERITY_RANK = {"low": 0, "medium": 1, "high": 2}
_MANUAL_LABEL = "A manual entry"


def source_label(source: str) -> str:
    """How a finding names a source: its plugin's label (`SourcePlugin.label`)."""
    plugin = current_sources().find(source)
    return plugin.label if plugin is not None else _MANUAL_LABEL if source == "manual" else source.title()


def _item_noun(source: str) -> str:
    plugin = current_sources().find(source)
    return plugin.item_noun if plugin is not None else "record"


class Rule(StrEnum):
    STATUS_CONTRADICTION = "status_contradiction"
    DATE_CONTRADICTION = "date_contradiction"
    DEPENDENCY_CASCADE = "dependency_cascade"
    SCHEDULED_BEFORE_READY = "scheduled_before_ready"
    DEPENDENCY_VIOLATION = "dependency_violation"
    DEPENDENCY_CYCLE = "dependency_cycle"
    OVERDUE = "overdue"
    NO_OWNER = "no_owner"
    STALE = "stale"
    SOURCE_DELETED = "source_deleted"


DEPENDENCY_RULES = frozenset(
    {Rule.DEPENDENCY_CASCADE, Rule.SCHEDULED_BEFORE_READY, Rule.DEPENDENCY_VIOLATION, Rule.DEPENDENCY_CYCLE}
)
# Raise it when a rule finds something else for the same facts: the next sweep then reconciles
# every deliverable once (see `engine.rules_fingerprint`).
RULES_VERSION = 1
MAX_DEPENDENCY_DEPTH = 8  # how far down a chain the cascade looks; deeper chains are cut there


# -- inputs ---------------------------------------------------------------------------------


@dataclass(slots=True, eq=False)
class ClaimView:
    """One live claim as the rules see it, compared by identity.

    The values here are treated as immutable but not frozen: a frozen dataclass costs five
    times as much to build, and the reconciler builds one of these per stored claim (and the
    others per deliverable)."""

    id: int
    source: str
    source_ref: str
    field: str
    value: str | None
    kind: str
    author: str | None
    stated_at: datetime
    excerpt: str = ""
    permalink: str | None = None
    edited_at: datetime | None = None
    author_name: str | None = None
    recorded_at: datetime | None = None  # when the store last learned of this version
    scope: str = "item"  # what the claim's ref names, as its source says (`SourcePlugin.ref_kind`)

    @property
    def at(self) -> datetime:
        """When the source last said it: an edit restates the claim."""
        return self.edited_at or self.stated_at

    @property
    def who(self) -> str:
        return self.author_name or self.author or "someone"


@dataclass(frozen=True, slots=True)
class Resolution:
    """A person's decision on one field (from `conflicts.resolve`): canonical until a newer claim."""

    field: str
    value: str
    at: datetime
    by: str
    source: str | None = None  # the source whose value was accepted, if any


@dataclass(slots=True)
class CanonicalState:
    status: str | None = None
    status_source: str | None = None
    status_claim: ClaimView | None = None
    status_resolution: Resolution | None = None
    target_date: date | None = None
    target_date_source: str | None = None
    date_claim: ClaimView | None = None
    date_resolution: Resolution | None = None


@dataclass(slots=True)
class DependencyFacts:
    """What a dependent's rules read of a deliverable it depends on, directly or further down."""

    key: str
    title: str
    canonical: CanonicalState
    depends_on: tuple[str, ...] = ()
    owner: str | None = None
    reopened: bool = False  # someone said it was done, and it is not any more


@dataclass(frozen=True, slots=True)
class GoneLink:
    """A source record the deliverable is declared to be (its task) whose every claim was
    retracted: deleted, or moved out of what is synced."""

    source: str
    ref: str
    since: datetime


@dataclass(slots=True)
class DeliverableFacts:
    key: str
    title: str = ""
    owner: str | None = None
    owner_changed_at: datetime | None = None
    role: str | None = None
    depends_on: tuple[str, ...] = ()  # see `depends_on()`: configuration plus current claims
    claims: tuple[ClaimView, ...] = ()
    # every deliverable reachable through `depends_on` (and theirs), as far as the caller knows
    dependencies: Mapping[str, DependencyFacts] = field(default_factory=dict)
    resolutions: tuple[Resolution, ...] = ()
    previous_conditions: Mapping[str, Any] = field(default_factory=dict)
    gone: tuple[GoneLink, ...] = ()
    now: datetime = datetime(1970, 1, 1, tzinfo=timezone.utc)

    @property
    def label(self) -> str:
        return self.title or self.key


# -- outputs --------------------------------------------------------------------------------


@dataclass(slots=True)
class Finding:
    kind: str
    fingerprint: str
    severity: str
    summary: str
    evidence: tuple[int, ...]
    sources: tuple[str, ...]
    newest_evidence_at: datetime | None
    details: dict[str, Any]
    evidence_recorded_at: datetime | None = None


@dataclass(slots=True)
class Evaluation:
    findings: list[Finding]
    canonical: CanonicalState
    conditions: dict[str, dict[str, Any]]
    # when a time-driven finding (overdue, stale, a dependency's date passing, the cascade's
    # horizon) may change without any new claim: the deliverable must be evaluated again then
    next_check: datetime | None = None


def fingerprint(key: str, rule: str, sources: Iterable[str]) -> str:
    text = "\x1f".join([key, rule, *sorted(set(sources))])
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Policy:
    """`RulesConfig` prepared for evaluation: built once per reconcile, used per deliverable."""

    severities: Mapping[frozenset[str], str]
    date_tolerance: timedelta
    stale_after: timedelta | None
    stale_due_within_days: int
    dependency_horizon_days: int = 14
    overdue_severity_days: tuple[int, int] = (3, 7)

    @classmethod
    def of(cls, config: RulesConfig) -> Policy:
        return cls(
            severities={
                frozenset((a.value, b.value)): severity
                for a, b in combinations(CanonicalStatus, 2)
                if (severity := config.severity_of(a, b)) is not None
            },
            date_tolerance=timedelta(days=config.date_tolerance_days),
            stale_after=timedelta(days=config.stale_after_days) if config.stale_after_days else None,
            stale_due_within_days=config.stale_due_within_days,
            dependency_horizon_days=config.dependency_horizon_days,
            overdue_severity_days=config.overdue_severity_days,
        )


CurrentClaims = Mapping[str, list[ClaimView]]  # field -> claims that still count, oldest first

PROJECT_SCOPE = "project"  # a claim's `scope` when it speaks for a whole project (connectors.plugin.PROJECT_REF)

_DONE, _CANCELLED = CanonicalStatus.DONE.value, CanonicalStatus.CANCELLED.value
_ACTIVE = frozenset(s.value for s in CanonicalStatus) - {_DONE, _CANCELLED}
PROJECT_CONTRADICTIONS: frozenset[tuple[str, str]] = frozenset(
    {(_DONE, CanonicalStatus.BLOCKED.value), (_DONE, CanonicalStatus.NOT_STARTED.value)}
    | {(_CANCELLED, active) for active in _ACTIVE}
)
"""(project-level value, deliverable-level value) pairs that contradict each other.

A project's status update summarises many deliverables, so it only contradicts what is said about
one of them when the two cannot both be true: the project is done while this deliverable is
blocked or has not started, or the project is cancelled while this deliverable is still active.
Everything else (project on track, deliverable at risk or blocked; project at risk, deliverable
done) is a project and one of its parts each telling the truth. Direction matters: the first value
is the project's. Which of these pairs actually fire, and how severely, is still the config
table's call (`RulesConfig.status_conflicts`)."""


def is_project_level(claim: ClaimView) -> bool:
    """A claim about the whole project (its newest status update), not about the deliverable."""
    return claim.kind == _STATE and claim.scope == PROJECT_SCOPE


def _specific(claims: list[ClaimView]) -> list[ClaimView]:
    """The claims that speak for the deliverable itself; all of them when none does."""
    specific = [c for c in claims if c.kind != _STATE or c.scope != PROJECT_SCOPE]
    return specific or claims

# -- current claims -------------------------------------------------------------------------


def _order(claim: ClaimView) -> tuple[Any, ...]:
    """Recency, then a content tie-break so the result never depends on arrival order (ids)."""
    return (claim.at, claim.kind == _STATE, claim.source, claim.source_ref, claim.value or "")


def _usable(claim: ClaimView) -> bool:
    value = claim.value
    if not value:
        return False
    if claim.field == STATUS:
        return value in _STATUSES
    if claim.field == TARGET_DATE:
        return _parse_date(value) is not None
    return True


def _parse_date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def current_by_field(claims: Iterable[ClaimView]) -> dict[str, list[ClaimView]]:
    """The claims that still count, per field, oldest first (see the module docstring)."""
    newest: dict[tuple[str, str, str, str | None], ClaimView] = {}
    for claim in claims:
        # the voice, inlined: this loop runs once per stored claim
        if claim.kind == _STATE or not claim.author:
            voice = (claim.field, claim.source, "ref", claim.source_ref)
        else:
            voice = (claim.field, claim.source, "author", claim.author)
        held = newest.get(voice)
        if held is None or _later(claim, held):
            newest[voice] = claim
    current: dict[str, list[ClaimView]] = {}
    for claim in newest.values():
        if _usable(claim):
            live = current.get(claim.field)
            if live is None:
                current[claim.field] = [claim]
            else:
                live.append(claim)
    for field_name, live in current.items():
        states = [c for c in live if c.kind == _STATE]
        if states and len(states) < len(live):
            # only the task's own field answers messages when it has one (see Specificity)
            changes = [(s.at, s.value) for s in _specific(states)]
            live = [c for c in live if c.kind == _STATE or not _answered(c.at, c.value, changes)]
        if len(live) > 1:
            live.sort(key=_order)
        current[field_name] = live
    return current


def _later(claim: ClaimView, other: ClaimView) -> bool:
    if claim.at != other.at:
        return claim.at > other.at
    return _order(claim) > _order(other)


def current_claims(claims: Iterable[ClaimView], field_name: str) -> list[ClaimView]:
    return current_by_field(claims).get(field_name, [])


def _answered(said_at: datetime, value: str | None, changes: list[tuple[datetime, str | None]]) -> bool:
    """Whether a state claim changed to another value after an event claim said `value`."""
    for changed_at, changed_to in changes:
        if changed_at > said_at and changed_to != value:
            return True
    return False


def was_reopened(claims: Iterable[ClaimView], state: CanonicalState) -> bool:
    """Someone said it was done, and its status now is an active one: it was re-opened."""
    if state.status is None or state.status in _CLOSED:
        return False
    return any(c.field == STATUS and c.value == _DONE for c in claims)


def depends_on(key: str, configured: Iterable[str], current: CurrentClaims) -> tuple[str, ...]:
    """Configured dependencies plus those the current `depends_on` claims name."""
    keys = set(configured)
    for claim in current.get(DEPENDS_ON, ()):
        keys.update(k.strip() for k in (claim.value or "").split(",") if k.strip())
    keys.discard(key)
    return tuple(sorted(keys))


def canonical_state(current: CurrentClaims, resolutions: Iterable[Resolution] = ()) -> CanonicalState:
    """Per field: a resolution in force (no current claim newer than it), else the newest
    current claim, a state claim winning a tie. Project-level claims count only when no more
    specific claim is current (see Specificity in the module docstring)."""
    by_field = {r.field: r for r in sorted(resolutions, key=lambda r: r.at)}
    status, status_claim, status_res = _canonical_field(current.get(STATUS, []), by_field.get(STATUS))
    when, date_claim, date_res = _canonical_field(current.get(TARGET_DATE, []), by_field.get(TARGET_DATE))
    return CanonicalState(
        status=status,
        status_source=_source_of(status_claim, status_res),
        status_claim=status_claim,
        status_resolution=status_res,
        target_date=_parse_date(when),
        target_date_source=_source_of(date_claim, date_res),
        date_claim=date_claim,
        date_resolution=date_res,
    )


def _canonical_field(
    current: list[ClaimView], resolution: Resolution | None
) -> tuple[str | None, ClaimView | None, Resolution | None]:
    if not current:
        return (resolution.value, None, resolution) if resolution is not None else (None, None, None)
    current = _specific(current)
    if resolution is not None and not any(_newer_than(c, resolution.at) for c in current):
        return resolution.value, None, resolution
    newest = current[-1]
    if newest.kind != _STATE:
        # a message agreeing with the deliverable's own field does not take the value over
        for claim in reversed(current):
            if claim.kind == _STATE and claim.value == newest.value:
                return claim.value, claim, None
    return newest.value, newest, None


def _newer_than(claim: ClaimView, moment: datetime) -> bool:
    return claim.at > moment or (claim.recorded_at is not None and claim.recorded_at > moment)


def _source_of(claim: ClaimView | None, resolution: Resolution | None) -> str | None:
    if resolution is not None:
        return resolution.source or "manual"
    return claim.source if claim else None


# -- rules ----------------------------------------------------------------------------------


def evaluate(
    facts: DeliverableFacts,
    config: RulesConfig | Policy,
    *,
    tz: tzinfo = timezone.utc,
    current: CurrentClaims | None = None,
    canonical: CanonicalState | None = None,
) -> Evaluation:
    """Every rule over one deliverable at `facts.now`, and when to evaluate it again. `current`
    and `canonical` may be passed when the caller already computed them from the same facts."""
    policy = config if isinstance(config, Policy) else Policy.of(config)
    if current is None:
        current = current_by_field(facts.claims)
    if canonical is None:
        canonical = canonical_state(current, facts.resolutions)
    context = RuleContext(facts, current, canonical, policy, tz)
    now = facts.now
    findings: list[Finding] = []
    for rule in _WHEN_GONE if facts.gone else RULES:
        findings += rule.evaluate(context, now)
    next_check: datetime | None = None
    for rule in _TIMED_WHEN_GONE if facts.gone else _TIMED:
        when = rule.next_check(context, now)
        if when is not None and (next_check is None or when < next_check):
            next_check = when
    return Evaluation(
        findings=findings, canonical=canonical, conditions=conditions(facts, current, canonical, findings),
        next_check=next_check,
    )


def status_contradictions(
    facts: DeliverableFacts, current: CurrentClaims, policy: Policy, *, tz: tzinfo = timezone.utc
) -> list[Finding]:
    def severity(a: str, b: str) -> str | None:
        return policy.severities.get(frozenset((a, b)))

    return _contradictions(
        facts.key, current.get(STATUS, []), Rule.STATUS_CONTRADICTION, severity, tz, _project_pair_contradicts
    )


def _project_pair_contradicts(a: ClaimView, b: ClaimView) -> bool:
    """Whether two disagreeing status claims count as a contradiction by their specificity: a
    project-level claim against a deliverable-level one only for `PROJECT_CONTRADICTIONS`."""
    a_project, b_project = is_project_level(a), is_project_level(b)
    if a_project == b_project:
        return True
    project, specific = (a, b) if a_project else (b, a)
    return (project.value, specific.value) in PROJECT_CONTRADICTIONS


def date_contradictions(
    facts: DeliverableFacts, current: CurrentClaims, policy: Policy, *, tz: tzinfo = timezone.utc
) -> list[Finding]:
    def severity(a: str, b: str) -> str | None:
        apart = abs(date.fromisoformat(a) - date.fromisoformat(b))
        return "medium" if apart > policy.date_tolerance else None

    return _contradictions(facts.key, current.get(TARGET_DATE, []), Rule.DATE_CONTRADICTION, severity, tz)


Pair = tuple[ClaimView, ClaimView, str]


def _contradictions(
    key: str,
    current: list[ClaimView],
    rule: Rule,
    severity_of: Callable[[str, str], str | None],
    tz: tzinfo,
    pair_counts: Callable[[ClaimView, ClaimView], bool] | None = None,
) -> list[Finding]:
    """Every disagreeing pair of current claims (for which `pair_counts` holds, if given), one
    finding per set of sources involved."""
    by_value: dict[str, list[ClaimView]] = {}
    for claim in current:
        by_value.setdefault(claim.value or "", []).append(claim)
    if len(by_value) < 2:
        return []
    groups: dict[tuple[str, ...], list[Pair]] = {}
    for x, y in combinations(sorted(by_value), 2):
        severity = severity_of(x, y)
        if severity is None:
            continue
        for a in by_value[x]:
            for b in by_value[y]:
                if pair_counts is not None and not pair_counts(a, b):
                    continue
                groups.setdefault(tuple(sorted({a.source, b.source})), []).append((a, b, severity))
    return [_contradiction(key, rule, sources, pairs, tz) for sources, pairs in groups.items()]


def _contradiction(key: str, rule: Rule, sources: tuple[str, ...], pairs: list[Pair], tz: tzinfo) -> Finding:
    claims = sorted({c.id: c for a, b, _ in pairs for c in (a, b)}.values(), key=_order)
    worst = max(pairs, key=lambda p: (_SEVERITY_RANK[p[2]], max(_order(p[0]), _order(p[1]))))
    first, second = sorted(worst[:2], key=_order)
    summary = f"{_says(first, tz)} but {_says(second, tz)}"
    if len(claims) > 2:
        summary += f" ({len(claims) - 2} more claim{'s' if len(claims) > 3 else ''} involved)"
    return Finding(
        kind=rule.value,
        fingerprint=fingerprint(key, rule.value, sources),
        severity=worst[2],
        summary=summary,
        evidence=tuple(sorted(c.id for c in claims)),
        sources=sources,
        newest_evidence_at=max(c.at for c in claims),
        evidence_recorded_at=_latest(c.recorded_at for c in claims),
        details={"field": claims[0].field, "values": _values_by_source(claims)},
    )


@dataclass(frozen=True, slots=True)
class _DependencyProblem:
    dependency: DependencyFacts
    reason: str
    severity: str
    sentence: str
    fields: tuple[str, ...]  # which of (own, dependency's) canonical values are the evidence
    chain: tuple[str, ...] = ()  # keys from the direct dependency down to `dependency`


def _unknown(key: str) -> DependencyFacts:
    return DependencyFacts(key, key, CanonicalState())


def _breakage(dep: DependencyFacts, today: date) -> tuple[str, str, str] | None:
    """How a dependency is broken, if it is: (reason, words, the field that shows it)."""
    state = dep.canonical
    if state.status in _CLOSED:
        return None
    if state.status == CanonicalStatus.BLOCKED:
        return "DependencyBlocked", "is blocked", STATUS
    if dep.reopened:
        return "DependencyReopened", f"was done and is {_status_words(state.status)} again", STATUS
    if state.target_date is not None and state.target_date < today:
        return "DependencyOverdue", f"was due {state.target_date} and is not done", TARGET_DATE
    if state.status == CanonicalStatus.AT_RISK:
        return "DependencyAtRisk", "is at risk", STATUS
    return None


def _exposed(canonical: CanonicalState, policy: Policy, today: date) -> bool:
    """Whether a deliverable stands to be hurt by a broken dependency: it says it is fine (on
    track, not started, or nothing) and is due within the horizon, or it is already done."""
    if canonical.status == _DONE:
        return True
    if canonical.status not in (None, CanonicalStatus.ON_TRACK, CanonicalStatus.NOT_STARTED):
        return False
    due = canonical.target_date
    return due is not None and (due - today).days <= policy.dependency_horizon_days


def _walk(facts: DeliverableFacts) -> Iterator[tuple[tuple[str, ...], DependencyFacts]]:
    """Every dependency reachable from `facts`, breadth first, once each, with the shortest
    chain of keys leading to it (the direct dependency first). Cycles end where they close."""
    seen = {facts.key}
    frontier: list[tuple[tuple[str, ...], str]] = [((), key) for key in facts.depends_on]
    while frontier:
        following: list[tuple[tuple[str, ...], str]] = []
        for path, key in frontier:
            if key in seen:
                continue
            seen.add(key)
            dep = facts.dependencies.get(key) or _unknown(key)
            chain = (*path, key)
            yield chain, dep
            if len(chain) < MAX_DEPENDENCY_DEPTH:
                following += [(chain, k) for k in dep.depends_on]
        frontier = following


def dependency_cascade(
    facts: DeliverableFacts, canonical: CanonicalState, policy: Policy, *, today: date, tz: tzinfo = timezone.utc
) -> list[Finding]:
    """On track (or done) while something it needs, directly or further down, is blocked, at
    risk, overdue or re-opened. A chain stops at the first broken link: that is the one to fix,
    and the links under it are its owner's business."""
    if not facts.depends_on or not _exposed(canonical, policy, today):
        return []
    problems: list[_DependencyProblem] = []
    broken_links: set[str] = set()
    for chain, dep in _walk(facts):
        if any(link in broken_links for link in chain[:-1]) or _closed_on_the_way(facts, chain):
            continue
        broken = _breakage(dep, today)
        if broken is None:
            continue
        broken_links.add(dep.key)
        reason, words, shown_by = broken
        problems.append(_DependencyProblem(
            dep, reason, _cascade_severity(canonical, reason),
            _cascade_sentence(facts, canonical, chain, dep, words), (STATUS, shown_by), chain,
        ))
    return _dependency_finding(facts, canonical, Rule.DEPENDENCY_CASCADE, problems)


def _closed_on_the_way(facts: DeliverableFacts, chain: tuple[str, ...]) -> bool:
    """A done or cancelled link shields what lies under it."""
    for key in chain[:-1]:
        link = facts.dependencies.get(key)
        if link is not None and link.canonical.status in _CLOSED:
            return True
    return False


def _cascade_severity(canonical: CanonicalState, reason: str) -> str:
    if canonical.status == _DONE or reason in ("DependencyBlocked", "DependencyReopened"):
        return "high"
    return "medium"


def _cascade_sentence(
    facts: DeliverableFacts, canonical: CanonicalState, chain: tuple[str, ...], dep: DependencyFacts, words: str
) -> str:
    if canonical.status == _DONE:
        claim = f"{facts.label} is done"
    elif canonical.status:
        claim = f"{facts.label} is {_status_words(canonical.status)} and due {canonical.target_date}"
    else:
        claim = f"{facts.label} is due {canonical.target_date}"
    owner = f" (owner {dep.owner})" if dep.owner else ""
    if len(chain) == 1:
        return f"{claim}, but {dep.title}{owner}, which it depends on, {words}"
    through = " → ".join(_title(facts, key) for key in chain[:-1])
    return f"{claim}, but it depends on {through}, which depends on {dep.title}{owner}, which {words}"


def _title(facts: DeliverableFacts, key: str) -> str:
    dep = facts.dependencies.get(key)
    return dep.title if dep is not None else key


def scheduled_before_ready(facts: DeliverableFacts, canonical: CanonicalState) -> list[Finding]:
    """Dated before what it depends on is done or even dated: the campaign scheduled before the
    thing it announces is ready."""
    own = canonical.target_date
    if own is None or canonical.status in _CLOSED:
        return []
    problems = []
    for key in facts.depends_on:
        dep = facts.dependencies.get(key) or _unknown(key)
        theirs = dep.canonical
        if theirs.status in _CLOSED:
            continue
        if theirs.target_date is None:
            problems.append(_DependencyProblem(
                dep, "DependencyUndated", "low",
                f"{facts.label} is due {own} but {dep.title}, which it depends on, is not done and has no date",
                (TARGET_DATE, STATUS)))
        elif theirs.target_date > own:
            problems.append(_DependencyProblem(
                dep, "DependencyDatedLater", "high",
                f"{facts.label} is due {own} but {dep.title}, which it depends on, is due {theirs.target_date}",
                (TARGET_DATE, TARGET_DATE)))
    return _dependency_finding(facts, canonical, Rule.SCHEDULED_BEFORE_READY, problems)


def dependency_violations(facts: DeliverableFacts, canonical: CanonicalState, *, today: date) -> list[Finding]:
    """Done while something it depends on is not (and is not broken either: that is a cascade),
    or depending on something cancelled. A cancelled deliverable depends on nothing."""
    if canonical.status == CanonicalStatus.CANCELLED:
        return []
    problems = []
    for key in facts.depends_on:
        dep = facts.dependencies.get(key) or _unknown(key)
        theirs = dep.canonical
        if theirs.status == CanonicalStatus.CANCELLED:
            if canonical.status != _DONE:
                problems.append(_DependencyProblem(
                    dep, "DependencyCancelled", "medium", f"{facts.label} depends on {dep.title}, which is cancelled",
                    (STATUS, STATUS)))
        elif canonical.status == _DONE and theirs.status != _DONE and _breakage(dep, today) is None:
            said = _status_words(theirs.status) if theirs.status else "has no status"
            problems.append(_DependencyProblem(
                dep, "DependencyNotDone", "high",
                f"{facts.label} is done but {dep.title}, which it depends on, {_is(said)}", (STATUS, STATUS)))
    return _dependency_finding(facts, canonical, Rule.DEPENDENCY_VIOLATION, problems)


def dependency_cycle(facts: DeliverableFacts) -> list[Finding]:
    """It depends on itself through others. Every member of the cycle sees it; the one whose
    key sorts first reports it, so a cycle is one finding."""
    for chain, dep in _walk(facts):
        if facts.key not in dep.depends_on:
            continue
        keys = (facts.key, *chain)
        if min(keys) != facts.key:
            return []
        loop = " → ".join([facts.label, *(_title(facts, k) for k in chain), facts.label])
        return [Finding(
            kind=Rule.DEPENDENCY_CYCLE.value,
            fingerprint=fingerprint(facts.key, Rule.DEPENDENCY_CYCLE.value, ()),
            severity="medium",
            summary=f"{facts.label} depends on itself: {loop}",
            evidence=(),
            sources=(),
            newest_evidence_at=None,
            details={"cycle": list(keys)},
        )]
    return []


def _dependency_finding(
    facts: DeliverableFacts, canonical: CanonicalState, rule: Rule, problems: list[_DependencyProblem]
) -> list[Finding]:
    if not problems:
        return []
    evidence: dict[int, ClaimView] = {}
    resolutions: list[Resolution] = []
    for p in problems:
        for state, field_name in ((canonical, p.fields[0]), (p.dependency.canonical, p.fields[1])):
            claim, resolution = _canonical_evidence(state, field_name)
            if claim is not None:
                evidence[claim.id] = claim
            if resolution is not None:
                resolutions.append(resolution)
    times = [c.at for c in evidence.values()] + [r.at for r in resolutions]
    worst = max(problems, key=lambda p: _SEVERITY_RANK[p.severity])
    return [
        Finding(
            kind=rule.value,
            fingerprint=fingerprint(facts.key, rule.value, ()),
            severity=worst.severity,
            summary="; ".join(p.sentence for p in problems),
            evidence=tuple(sorted(evidence)),
            sources=(),
            newest_evidence_at=max(times) if times else None,
            evidence_recorded_at=_latest(c.recorded_at for c in evidence.values()),
            details={
                "dependencies": {
                    p.dependency.key: {
                        "reason": p.reason,
                        "status": p.dependency.canonical.status,
                        "target_date": _iso(p.dependency.canonical.target_date),
                        "owner": p.dependency.owner,
                        **({"chain": list(p.chain)} if len(p.chain) > 1 else {}),
                    }
                    for p in problems
                },
                "status": canonical.status,
                "target_date": _iso(canonical.target_date),
                "sources": sorted({c.source for c in evidence.values()}),
            },
        )
    ]


def _canonical_evidence(state: CanonicalState, field_name: str) -> tuple[ClaimView | None, Resolution | None]:
    if field_name == STATUS:
        return state.status_claim, state.status_resolution
    return state.date_claim, state.date_resolution


def overdue(
    facts: DeliverableFacts, canonical: CanonicalState, policy: Policy, *, today: date, tz: tzinfo = timezone.utc
) -> list[Finding]:
    """Its date has passed and it is not done. Severity rises with the days late; the finding
    names the date, not the count, so it does not change every day."""
    due = canonical.target_date
    if due is None or due >= today or canonical.status in _CLOSED:
        return []
    late = (today - due).days
    medium_from, high_from = policy.overdue_severity_days
    severity = "high" if late >= high_from else "medium" if late >= medium_from else "low"
    state = _status_words(canonical.status) if canonical.status else "has no status"
    claim = canonical.date_claim
    return [
        Finding(
            kind=Rule.OVERDUE.value,
            fingerprint=fingerprint(facts.key, Rule.OVERDUE.value, ()),
            severity=severity,
            summary=f"{facts.label} was due {due} and {_is(state)}",
            evidence=(claim.id,) if claim is not None else (),
            sources=(),
            newest_evidence_at=claim.at if claim is not None else None,
            evidence_recorded_at=claim.recorded_at if claim is not None else None,
            details={"target_date": due.isoformat(), "status": canonical.status},
        )
    ]


def source_deleted(facts: DeliverableFacts, *, tz: tzinfo = timezone.utc) -> list[Finding]:
    """The record it is declared to be (its Asana task) is gone: its owner should know, and
    decide whether the deliverable goes too or lives on elsewhere."""
    return [
        Finding(
            kind=Rule.SOURCE_DELETED.value,
            fingerprint=fingerprint(facts.key, Rule.SOURCE_DELETED.value, (link.source,)),
            severity="medium",
            summary=(
                f"The {source_label(link.source)} {_item_noun(link.source)} behind {facts.label} "
                f"({link.ref}) is gone since {_when(link.since, tz)}: deleted, or moved out of the synced projects"
            ),
            evidence=(),
            sources=(link.source,),
            newest_evidence_at=link.since,
            details={"source": link.source, "ref": link.ref, "gone_since": link.since.isoformat()},
        )
        for link in facts.gone
    ]


def gone_reason(gone: Sequence[GoneLink]) -> str | None:
    """Why a deliverable's other findings closed when its source record went away."""
    if not gone:
        return None
    names = " and ".join(f"the {source_label(g.source)} {_item_noun(g.source)} {g.ref}" for g in gone)
    return f"{names} behind it is gone (deleted, or moved out of the synced projects)"


def no_owner(facts: DeliverableFacts) -> list[Finding]:
    if facts.owner:
        return []
    return [
        Finding(
            kind=Rule.NO_OWNER.value,
            fingerprint=fingerprint(facts.key, Rule.NO_OWNER.value, ()),
            severity="medium",
            summary=f"{facts.label} has no decision owner",
            evidence=(),
            sources=(),
            newest_evidence_at=facts.owner_changed_at,
            details={"role": facts.role},
        )
    ]


def stale(
    facts: DeliverableFacts, canonical: CanonicalState, policy: Policy, *, tz: tzinfo = timezone.utc
) -> list[Finding]:
    """Due soon, not closed, and no source has said anything for a while: a check-in."""
    if policy.stale_after is None or canonical.target_date is None:
        return []
    if canonical.status in _CLOSED:
        return []
    today = facts.now.astimezone(tz).date()
    days_left = (canonical.target_date - today).days
    if days_left < 0 or days_left > policy.stale_due_within_days:
        return []  # past its date it is overdue, a finding of its own
    last, last_heard = _last_heard(facts, canonical)
    if last_heard is None or facts.now - last_heard < policy.stale_after:
        return []
    return [
        Finding(
            kind=Rule.STALE.value,
            fingerprint=fingerprint(facts.key, Rule.STALE.value, ()),
            severity="low",
            summary=f"{facts.label} is due {canonical.target_date} and no source has said anything "
            f"about it since {_when(last_heard, tz)}",
            evidence=(last.id,) if last else (),
            sources=(),
            newest_evidence_at=last_heard,
            evidence_recorded_at=last.recorded_at if last else None,
            details={"target_date": _iso(canonical.target_date), "last_heard_at": last_heard.isoformat()},
        )
    ]


def _last_heard(facts: DeliverableFacts, canonical: CanonicalState) -> tuple[ClaimView | None, datetime | None]:
    """The newest claim, and when anyone last said something about it (a claim or a decision)."""
    last = max(facts.claims, key=_order, default=None)
    decided = [r.at for r in (canonical.status_resolution, canonical.date_resolution) if r is not None]
    return last, _latest([last.at if last else None, *decided])


# -- rules as objects -----------------------------------------------------------------------
# What the rest of the system knows about each kind of finding lives on its rule: the fields it
# concerns (what a resolution may set), whether it can be settled by accepting a source, which
# kinds it inhibits, what the reconciler says when it closes one by itself, and when a
# deliverable must be looked at again because time alone can change the finding.


@dataclass(slots=True, eq=False)
class RuleContext:
    """What every rule reads of one deliverable: its facts, the claims that still count, its
    canonical state, the policy and the team's time zone. Treated as immutable, not frozen
    (built once per deliverable; see `ClaimView`)."""

    facts: DeliverableFacts
    current: CurrentClaims
    canonical: CanonicalState
    policy: Policy
    tz: tzinfo = timezone.utc
    _today: date | None = None  # of `facts.now`, worked out once

    def today(self, now: datetime) -> date:
        if now is self.facts.now:
            if self._today is None:
                self._today = now.astimezone(self.tz).date()
            return self._today
        return now.astimezone(self.tz).date()

    def start_of(self, day: date) -> datetime:
        """Midnight at the start of `day` in the team's time zone, in UTC."""
        return _start_of(day, self.tz)


@lru_cache(maxsize=4096)
def _start_of(day: date, tz: tzinfo) -> datetime:
    return datetime.combine(day, time(), tzinfo=tz).astimezone(timezone.utc)


class Settlement(StrEnum):
    """How a person settles a finding (what its DM suggests)."""

    ACCEPT_SOURCE = "accept_source"  # accept what one source says (or give the value)
    GIVE_VALUE = "give_value"  # give the status or date that holds now
    NAME_OWNER = "name_owner"
    CHECK_IN = "check_in"  # say where it stands (a claim), or snooze the check-in
    COMMENT = "comment"  # close it with a comment


class FindingRule:
    """One rule: the kind of finding it raises and what is known about that kind.

    `evaluate` is pure; `next_check` says when time alone may change what `evaluate` finds (a
    date passing, a check-in falling due), or None when only a new claim or decision can. An
    early answer only costs an evaluation; a late one would miss a finding."""

    kind: Rule
    fields: frozenset[str] = frozenset()  # the deliverable fields it concerns (what a resolution may set)
    accepts_source: bool = False  # settled by accepting one source's value
    value_optional: bool = False  # a resolution may be just a comment
    inhibits: frozenset[str] = frozenset()  # kinds of finding it mutes while active (see snoozes)
    settled_by: Settlement = Settlement.COMMENT
    silent_when_gone: bool = False  # says nothing once the deliverable's source record is gone
    auto_resolved_because: str = "its finding no longer holds"

    def evaluate(self, context: RuleContext, now: datetime) -> list[Finding]:
        raise NotImplementedError

    def next_check(self, context: RuleContext, now: datetime) -> datetime | None:
        return None

    def __repr__(self) -> str:
        return f"<rule {self.kind.value}>"


_STATUS_AND_DATE = frozenset({STATUS, TARGET_DATE})
_ONE_DAY = timedelta(days=1)
_CONTRADICTION_KINDS = frozenset({Rule.STATUS_CONTRADICTION.value, Rule.DATE_CONTRADICTION.value})


class StatusContradictionRule(FindingRule):
    kind = Rule.STATUS_CONTRADICTION
    fields = frozenset({STATUS})
    accepts_source = True
    settled_by = Settlement.ACCEPT_SOURCE
    auto_resolved_because = "the sources agree again"

    def evaluate(self, context: RuleContext, now: datetime) -> list[Finding]:
        return status_contradictions(context.facts, context.current, context.policy, tz=context.tz)


class DateContradictionRule(FindingRule):
    kind = Rule.DATE_CONTRADICTION
    fields = frozenset({TARGET_DATE})
    accepts_source = True
    settled_by = Settlement.ACCEPT_SOURCE
    auto_resolved_because = "the dates agree again"

    def evaluate(self, context: RuleContext, now: datetime) -> list[Finding]:
        return date_contradictions(context.facts, context.current, context.policy, tz=context.tz)


class DependencyCascadeRule(FindingRule):
    kind = Rule.DEPENDENCY_CASCADE
    fields = _STATUS_AND_DATE
    value_optional = True
    inhibits = _CONTRADICTION_KINDS
    settled_by = Settlement.GIVE_VALUE
    auto_resolved_because = "what it depends on is no longer broken, or it is no longer due soon"

    def evaluate(self, context: RuleContext, now: datetime) -> list[Finding]:
        return dependency_cascade(context.facts, context.canonical, context.policy, today=context.today(now), tz=context.tz)

    def next_check(self, context: RuleContext, now: datetime) -> datetime | None:
        """When it comes within the horizon; once within it (or done), when a dependency down
        the chain becomes overdue."""
        facts, canonical = context.facts, context.canonical
        if not facts.depends_on:
            return None
        today = context.today(now)
        if not _exposed(canonical, context.policy, today):
            if canonical.status not in (None, CanonicalStatus.ON_TRACK, CanonicalStatus.NOT_STARTED):
                return None  # at risk, blocked or cancelled: only a new claim changes that
            if canonical.target_date is None:
                return None  # never exposed until it has a date
            return _first_after(context, today, [canonical.target_date - timedelta(days=context.policy.dependency_horizon_days)])
        return _first_after(context, today, _dependency_due_days([dep for _, dep in _walk(facts)]))


class ScheduledBeforeReadyRule(FindingRule):
    kind = Rule.SCHEDULED_BEFORE_READY
    fields = _STATUS_AND_DATE
    inhibits = _CONTRADICTION_KINDS
    settled_by = Settlement.GIVE_VALUE
    auto_resolved_because = "its date no longer comes before what it depends on"

    def evaluate(self, context: RuleContext, now: datetime) -> list[Finding]:
        return scheduled_before_ready(context.facts, context.canonical)


class DependencyViolationRule(FindingRule):
    kind = Rule.DEPENDENCY_VIOLATION
    fields = _STATUS_AND_DATE
    inhibits = _CONTRADICTION_KINDS
    settled_by = Settlement.GIVE_VALUE
    auto_resolved_because = "the dependencies no longer contradict it"

    def evaluate(self, context: RuleContext, now: datetime) -> list[Finding]:
        return dependency_violations(context.facts, context.canonical, today=context.today(now))

    def next_check(self, context: RuleContext, now: datetime) -> datetime | None:
        """Done while a dependency is not: when that dependency becomes overdue it is a cascade."""
        facts = context.facts
        if context.canonical.status != _DONE or not facts.depends_on:
            return None
        direct = [facts.dependencies.get(key) or _unknown(key) for key in facts.depends_on]
        return _first_after(context, context.today(now), _dependency_due_days(direct))


class DependencyCycleRule(FindingRule):
    kind = Rule.DEPENDENCY_CYCLE
    value_optional = True
    auto_resolved_because = "the dependency cycle is broken"

    def evaluate(self, context: RuleContext, now: datetime) -> list[Finding]:
        return dependency_cycle(context.facts)


class NoOwnerRule(FindingRule):
    kind = Rule.NO_OWNER
    value_optional = True  # settled by naming an owner (`conflicts.resolve(owner=...)`)
    settled_by = Settlement.NAME_OWNER
    auto_resolved_because = "it has a decision owner now"

    def evaluate(self, context: RuleContext, now: datetime) -> list[Finding]:
        return no_owner(context.facts)


class SourceDeletedRule(FindingRule):
    kind = Rule.SOURCE_DELETED
    fields = frozenset({STATUS})
    value_optional = True
    auto_resolved_because = "its source record is back"

    def evaluate(self, context: RuleContext, now: datetime) -> list[Finding]:
        return source_deleted(context.facts, tz=context.tz)


class OverdueRule(FindingRule):
    kind = Rule.OVERDUE
    fields = _STATUS_AND_DATE
    settled_by = Settlement.GIVE_VALUE
    silent_when_gone = True  # with its task gone, leftover claims say nothing about time running out
    auto_resolved_because = "it is done, or has a new date"

    def evaluate(self, context: RuleContext, now: datetime) -> list[Finding]:
        return overdue(context.facts, context.canonical, context.policy, today=context.today(now), tz=context.tz)

    def next_check(self, context: RuleContext, now: datetime) -> datetime | None:
        """The day after its date, then the days its severity rises."""
        due, status = context.canonical.target_date, context.canonical.status
        if due is None or status in _CLOSED:
            return None
        today = context.today(now)
        if due >= today:
            return context.start_of(due + _ONE_DAY)
        medium_from, high_from = context.policy.overdue_severity_days
        return _first_after(context, today, [due + timedelta(days=medium_from), due + timedelta(days=high_from)])


class StaleRule(FindingRule):
    kind = Rule.STALE
    fields = _STATUS_AND_DATE
    value_optional = True
    settled_by = Settlement.CHECK_IN
    silent_when_gone = True
    auto_resolved_because = "a source has said something about it again"

    def evaluate(self, context: RuleContext, now: datetime) -> list[Finding]:
        facts = context.facts if now is context.facts.now else dataclasses.replace(context.facts, now=now)
        return stale(facts, context.canonical, context.policy, tz=context.tz)

    def next_check(self, context: RuleContext, now: datetime) -> datetime | None:
        """When it becomes a check-in (due within `stale_due_within_days` and silent for
        `stale_after`, whichever comes later) and the day after its date (past it, it is overdue
        instead)."""
        policy, canonical = context.policy, context.canonical
        due = canonical.target_date
        if policy.stale_after is None or due is None or canonical.status in _CLOSED:
            return None
        if due < context.today(now):
            return None
        window = context.start_of(due - timedelta(days=policy.stale_due_within_days))
        if window > now:
            return window  # looked at again then, when the silence is known
        _, last_heard = _last_heard(context.facts, canonical)
        if last_heard is None:
            return None
        starts = max(window, last_heard + policy.stale_after)
        ends = context.start_of(due + timedelta(days=1))
        return min((m for m in (starts, ends) if m > now), default=None)


def _dependency_due_days(dependencies: Iterable[DependencyFacts]) -> list[date]:
    """The days after which each open dependency with a date is overdue (a broken link)."""
    return [
        dep.canonical.target_date + timedelta(days=1)
        for dep in dependencies
        if dep.canonical.target_date is not None and dep.canonical.status not in _CLOSED
    ]


def _first_after(context: RuleContext, today: date, days: Iterable[date]) -> datetime | None:
    """The start of the earliest of `days` after today, if any."""
    later = [day for day in days if day > today]
    return context.start_of(min(later)) if later else None


# Evaluated in this order (it is the order findings are opened in).
RULES: tuple[FindingRule, ...] = (
    StatusContradictionRule(),
    DateContradictionRule(),
    DependencyCascadeRule(),
    ScheduledBeforeReadyRule(),
    DependencyViolationRule(),
    DependencyCycleRule(),
    NoOwnerRule(),
    SourceDeletedRule(),
    OverdueRule(),
    StaleRule(),
)
_WHEN_GONE = tuple(rule for rule in RULES if not rule.silent_when_gone)
_TIMED = tuple(rule for rule in RULES if type(rule).next_check is not FindingRule.next_check)  # evaluate's hot loop
_TIMED_WHEN_GONE = tuple(rule for rule in _TIMED if not rule.silent_when_gone)
_BY_KIND: dict[str, FindingRule] = {rule.kind.value: rule for rule in RULES}
INHIBITED_KINDS: frozenset[str] = frozenset(kind for rule in RULES for kind in rule.inhibits)
INHIBITING_KINDS: frozenset[str] = frozenset(rule.kind.value for rule in RULES if rule.inhibits)


def rule_for(kind: str) -> FindingRule | None:
    """The rule that raises findings of `kind` (None for a kind no rule raises any more)."""
    return _BY_KIND.get(kind)


# -- conditions -----------------------------------------------------------------------------


def conditions(
    facts: DeliverableFacts, current: CurrentClaims, canonical: CanonicalState, findings: Sequence[Finding]
) -> dict[str, dict[str, Any]]:
    """Kubernetes-style conditions; a condition keeps its transition time while its status holds."""
    by_kind = {f.kind: f for f in findings}
    wanted = {
        "StatusAgrees": _agreement(bool(current.get(STATUS)), by_kind.get(Rule.STATUS_CONTRADICTION),
                                   canonical.status_resolution, "status"),
        "DatesAgree": _agreement(bool(current.get(TARGET_DATE)), by_kind.get(Rule.DATE_CONTRADICTION),
                                 canonical.date_resolution, "target date"),
        "DependenciesSatisfied": _dependencies_condition(facts, [by_kind[r] for r in Rule if r in DEPENDENCY_RULES and r in by_kind]),
        "HasOwner": (True, "OwnerAssigned", f"decision owner is {facts.owner}") if facts.owner
        else (False, "NoOwner", "no decision owner"),
    }
    now = facts.now.isoformat()
    return {name: _condition(facts.previous_conditions.get(name), now, *value) for name, value in wanted.items()}


def _agreement(
    claimed: bool, finding: Finding | None, resolution: Resolution | None, noun: str
) -> tuple[bool, str, str]:
    if finding is None:
        if not claimed:
            return True, "NoClaims", f"no source states a {noun}"
        return True, "Agree", f"current {noun} claims agree"
    if resolution is not None:
        return False, "ContradictionResolved", (
            f"sources disagree; {resolution.by} decided {resolution.value} on {resolution.at.date()}"
        )
    return False, "Contradiction", finding.summary


def _dependencies_condition(facts: DeliverableFacts, findings: list[Finding]) -> tuple[bool, str, str]:
    if findings:
        first = findings[0]
        reasons = [d["reason"] for d in first.details.get("dependencies", {}).values()] or ["DependencyCycle"]
        return False, reasons[0], "; ".join(f.summary for f in findings)
    if not facts.depends_on:
        return True, "NoDependencies", "depends on nothing"
    return True, "Satisfied", "depends on " + ", ".join(facts.depends_on)


def _condition(previous: dict[str, Any] | None, now: str, status: bool, reason: str, message: str) -> dict[str, Any]:
    previous = previous or {}
    since = previous.get("last_transition_time")
    if not since or previous.get("status") != status:
        since = now
    return {"status": status, "reason": reason, "message": message, "last_transition_time": since}


# -- wording --------------------------------------------------------------------------------


def _says(claim: ClaimView, tz: tzinfo) -> str:
    value = claim.value or ""
    what = _status_words(value) if claim.field == STATUS else f"due {value}"
    return f"{source_label(claim.source)} says {what} ({claim.who}, {_when(claim.at, tz)})"


def _status_words(value: str | None) -> str:
    return (value or "unknown").replace("_", " ")


def _is(said: str) -> str:
    return said if said.startswith("has ") else f"is {said}"


def _when(moment: datetime, tz: tzinfo) -> str:
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z").strip()


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _latest(times: Iterable[datetime | None]) -> datetime | None:
    return max((t for t in times if t is not None), default=None)


def _values_by_source(claims: Sequence[ClaimView]) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for claim in claims:
        bucket = values.setdefault(claim.source, [])
        if claim.value not in bucket:
            bucket.append(claim.value or "")
    return values
