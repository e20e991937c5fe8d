"""Read models of the shared state board: what the web board (and anything else that only looks)
shows, read from the store in a few set-wise queries. Nothing here writes.

Finding kinds are plain strings: a kind a newer rule introduces shows up as it is.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, true
from sqlmodel import Session, col

from reconciler import store
from reconciler.models import (
    ACTIVE_CONFLICT_STATES,
    AuditEvent,
    Conflict,
    ConflictState,
    Deliverable,
    DeliverableDependency,
    Notification,
    Observation,
    Person,
)
from reconciler.protocol import Config
from reconciler.routing import Directory

STATUSES = ("not_started", "on_track", "at_risk", "blocked", "done", "cancelled")
FINISHED = frozenset({"done", "cancelled"})
SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2}
# What the findings page lists: the lifecycle states (an active finding a snooze keeps quiet
# counts as "snoozed", not as open or acknowledged), and all of them.
FINDING_VIEWS = ("open", "acknowledged", "snoozed", "resolved", "dismissed", "all")


# -- the board ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BoardFilter:
    role: str | None = None
    owner: str | None = None
    status: str | None = None
    has_findings: bool = False
    due_within_days: int | None = None

    def is_empty(self) -> bool:
        return self == BoardFilter()


@dataclass(frozen=True, slots=True)
class FindingBrief:
    id: int
    kind: str
    severity: str
    state: str
    summary: str
    muted: bool


@dataclass(frozen=True, slots=True)
class DependencyLink:
    key: str
    status: str | None
    holds_up: bool  # not finished and blocked, at risk, or itself held up


@dataclass(frozen=True, slots=True)
class LastWord:
    at: datetime
    source: str
    author: str


@dataclass(slots=True)
class BoardRow:
    key: str
    title: str
    role: str | None
    owner_key: str | None
    owner_name: str | None
    status: str | None
    status_source: str | None
    target_date: date | None
    target_date_source: str | None
    overdue: bool
    findings: list[FindingBrief] = field(default_factory=list)
    depends_on: list[DependencyLink] = field(default_factory=list)
    dependents: int = 0
    # The way to the nearest blocked deliverable upstream: [dependency, its dependency, ...].
    blocked_via: list[str] = field(default_factory=list)
    last_word: LastWord | None = None

    @property
    def worst_severity(self) -> str | None:
        active = [f.severity for f in self.findings]
        return min(active, key=lambda s: SEVERITY_ORDER.get(s, 9)) if active else None


@dataclass(slots=True)
class RoleGroup:
    role: str
    rows: list[BoardRow]


@dataclass(slots=True)
class Board:
    groups: list[RoleGroup]
    total: int
    shown: int
    roles: list[str]
    owners: list[tuple[str, str]]  # (key, name)
    open_findings: int
    today: date


def local_today(now: datetime, timezone: str) -> date:
    return now.astimezone(ZoneInfo(timezone)).date()


def _deliverable_rows(session: Session) -> list[Any]:
    d = Deliverable.__table__.c  # type: ignore[attr-defined]
    stmt = select(
        d.key, d.title, d.role, d.owner_key, d.canonical_status, d.canonical_status_source,
        d.target_date, d.target_date_source, d.depends_on,
    )
    return list(session.execute(stmt))


def dependency_edges(session: Session, configured: Iterable[tuple[str, list[str] | None]] | None = None) -> dict[str, set[str]]:
    """dependent -> its dependencies: the reconciler's table (configuration and Asana claims)
    together with the configured lists (`configured`, read here when not given), so a store
    never reconciled still shows them."""
    edges: dict[str, set[str]] = defaultdict(set)
    e = DeliverableDependency.__table__.c  # type: ignore[attr-defined]
    for dependent, dependency in session.execute(select(e.dependent_key, e.dependency_key)):
        edges[dependent].add(dependency)
    if configured is None:
        d = Deliverable.__table__.c  # type: ignore[attr-defined]
        configured = [(key, depends_on) for key, depends_on in session.execute(select(d.key, d.depends_on))]
    for key, depends_on in configured:
        if depends_on:
            edges[key].update(depends_on)
    return edges


def active_findings(session: Session, keys: Iterable[str] | None = None) -> dict[str, list[FindingBrief]]:
    c = Conflict.__table__.c  # type: ignore[attr-defined]
    stmt = select(c.id, c.deliverable_key, c.kind, c.severity, c.state, c.summary, c.suppressed_by).where(
        c.state.in_([s.value for s in ACTIVE_CONFLICT_STATES])
    )
    if keys is not None:
        stmt = stmt.where(c.deliverable_key.in_(sorted(set(keys))))
    found: dict[str, list[FindingBrief]] = defaultdict(list)
    for row in session.execute(stmt.order_by(c.id)):
        found[row.deliverable_key].append(
            FindingBrief(row.id, row.kind, row.severity, row.state, row.summary, row.suppressed_by is not None)
        )
    for briefs in found.values():
        briefs.sort(key=lambda f: (SEVERITY_ORDER.get(f.severity, 9), f.id))
    return found


def _last_words_query(dialect: str) -> Any:
    """Per deliverable, its newest live claim, by one indexed lookup each (a window over every
    claim costs four times as much). PostgreSQL gets it as a LATERAL join: as a join condition
    it would hash the whole claim table instead. SQLite has no LATERAL and plans the correlated
    join condition well."""
    d = Deliverable.__table__  # type: ignore[attr-defined]
    o = Observation.__table__  # type: ignore[attr-defined]
    newest_first = (o.c.stated_at.desc(), o.c.id.desc())
    if dialect == "postgresql":
        newest = (
            select(o.c.source, o.c.author, o.c.stated_at)
            .where(o.c.deliverable_key == d.c.key, o.c.deleted_at.is_(None))
            .order_by(*newest_first)
            .limit(1)
            .lateral("newest")
        )
        return select(d.c.key, newest.c.source, newest.c.author, newest.c.stated_at).select_from(
            d.join(newest, true())
        )
    x = o.alias("newer")
    newest_id = (
        select(x.c.id)
        .where(x.c.deliverable_key == d.c.key, x.c.deleted_at.is_(None))
        .order_by(x.c.stated_at.desc(), x.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    return select(o.c.deliverable_key, o.c.source, o.c.author, o.c.stated_at).select_from(
        d.join(o, o.c.id == newest_id)
    )


_LAST_WORDS = {dialect: _last_words_query(dialect) for dialect in ("postgresql", "sqlite")}


def last_words(session: Session, names: Mapping[tuple[str, str], str]) -> dict[str, LastWord]:
    """The newest live claim of every deliverable: when, from where, and who said it."""
    dialect = session.get_bind().dialect.name
    query = _LAST_WORDS[dialect] if dialect in _LAST_WORDS else _last_words_query(dialect)
    found: dict[str, LastWord] = {}
    for key, source, author, stated_at in session.execute(query):
        who = names.get((source, author), author) if author else "unknown"
        found[key] = LastWord(at=stated_at, source=source, author=who)
    return found


def _blocked_via(key: str, edges: Mapping[str, set[str]], status: Mapping[str, str | None]) -> list[str]:
    """Breadth-first upstream: the shortest path to a deliverable that is blocked now."""
    seen = {key}
    queue: deque[list[str]] = deque([[key]])
    while queue:
        path = queue.popleft()
        for upstream in sorted(edges.get(path[-1], ())):
            if upstream in seen:
                continue
            seen.add(upstream)
            if status.get(upstream) == "blocked":
                return path[1:] + [upstream]
            if status.get(upstream) not in FINISHED:
                queue.append(path + [upstream])
    return []


def _matches(row: BoardRow, wanted: BoardFilter, today: date) -> bool:
    if wanted.role and row.role != wanted.role:
        return False
    if wanted.owner and (row.owner_key or "") != ("" if wanted.owner == "-" else wanted.owner):
        return False
    if wanted.status and (row.status or "unknown") != wanted.status:
        return False
    if wanted.has_findings and not row.findings:
        return False
    if wanted.due_within_days is not None:
        if row.target_date is None or row.status in FINISHED:
            return False
        if row.target_date > today + timedelta(days=wanted.due_within_days):
            return False
    return True


def board(session: Session, *, config: Config, now: datetime, wanted: BoardFilter = BoardFilter()) -> Board:
    """Every deliverable (or those `wanted` lets through) grouped by role, soonest due first."""
    today = local_today(now, config.timezone)
    names = store.author_names(session)
    people = {key: name for key, name in session.execute(select(Person.key, Person.name))}
    findings = active_findings(session)
    words = last_words(session, names)
    deliverables = _deliverable_rows(session)
    edges = dependency_edges(session, ((d.key, d.depends_on) for d in deliverables))
    status = {d.key: d.canonical_status for d in deliverables}
    dependents: dict[str, int] = defaultdict(int)
    for dependent, upstream in edges.items():
        for key in upstream:
            dependents[key] += 1

    rows: list[BoardRow] = []
    for d in deliverables:
        blocked_via = _blocked_via(d.key, edges, status) if edges.get(d.key) else []
        held_up = set(blocked_via)
        row = BoardRow(
            key=d.key,
            title=d.title,
            role=d.role,
            owner_key=d.owner_key,
            owner_name=people.get(d.owner_key) if d.owner_key else None,
            status=d.canonical_status,
            status_source=d.canonical_status_source,
            target_date=d.target_date,
            target_date_source=d.target_date_source,
            overdue=d.target_date is not None and d.target_date < today and d.canonical_status not in FINISHED,
            findings=findings.get(d.key, []),
            depends_on=[
                DependencyLink(k, status.get(k), k in held_up or status.get(k) in ("blocked", "at_risk"))
                for k in sorted(edges.get(d.key, ()))
            ],
            dependents=dependents.get(d.key, 0),
            blocked_via=blocked_via,
            last_word=words.get(d.key),
        )
        rows.append(row)

    shown = [r for r in rows if _matches(r, wanted, today)]
    by_role: dict[str, list[BoardRow]] = defaultdict(list)
    for row in shown:
        by_role[row.role or "no role"].append(row)
    for members in by_role.values():
        members.sort(key=lambda r: (r.target_date is None, r.target_date or today, r.key))
    owners = sorted({(r.owner_key, r.owner_name or r.owner_key) for r in rows if r.owner_key}, key=lambda o: o[1])
    return Board(
        groups=[RoleGroup(role, by_role[role]) for role in sorted(by_role)],
        total=len(rows),
        shown=len(shown),
        roles=sorted({r.role for r in rows if r.role}),
        owners=owners,
        open_findings=sum(len(f) for f in findings.values()),
        today=today,
    )


# -- one deliverable ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    id: int
    at: datetime
    source: str
    field: str
    value: str | None
    author: str
    excerpt: str
    permalink: str | None
    edited_at: datetime | None
    retracted_at: datetime | None


@dataclass(frozen=True, slots=True)
class FindingDetail:
    id: int
    kind: str
    severity: str
    state: str
    summary: str
    sources: list[str]
    opened_at: datetime
    last_seen_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    resolution_value: str | None
    resolution_source: str | None
    resolution_comment: str | None
    escalation_level: int
    next_escalation_at: datetime | None
    suppressed_by: str | None


@dataclass(frozen=True, slots=True)
class Decision:
    field: str
    value: str
    by: str | None
    at: str | None
    source: str | None
    conflict_id: int | None


@dataclass(frozen=True, slots=True)
class AuditLine:
    at: datetime
    actor: str
    action: str
    conflict_id: int | None
    comment: str | None


@dataclass(frozen=True, slots=True)
class GraphNode:
    key: str
    title: str
    status: str | None
    depth: int  # < 0 upstream (what it needs), 0 itself, > 0 downstream (what needs it)
    open_findings: int


@dataclass(frozen=True, slots=True)
class Neighbourhood:
    nodes: list[GraphNode]
    edges: list[tuple[str, str]]  # (dependency, dependent)


@dataclass(slots=True)
class DeliverablePage:
    key: str
    title: str
    role: str | None
    owner_key: str | None
    owner_name: str | None
    owner_set_by: str | None
    status: str | None
    status_source: str | None
    target_date: date | None
    target_date_source: str | None
    asana_permalink: str | None
    conditions: dict[str, Any]
    reconciled_at: datetime | None
    timeline: list[TimelineEntry]
    findings: list[FindingDetail]
    decisions: list[Decision]
    audit: list[AuditLine]
    graph: Neighbourhood


def _finding_detail(c: Conflict) -> FindingDetail:
    assert c.id is not None
    return FindingDetail(
        id=c.id, kind=c.kind, severity=c.severity, state=c.state, summary=c.summary, sources=list(c.sources),
        opened_at=c.opened_at, last_seen_at=c.last_seen_at, acknowledged_at=c.acknowledged_at,
        acknowledged_by=c.acknowledged_by, resolved_at=c.resolved_at, resolved_by=c.resolved_by,
        resolution_value=c.resolution_value, resolution_source=c.resolution_source,
        resolution_comment=c.resolution_comment, escalation_level=c.escalation_level,
        next_escalation_at=c.next_escalation_at, suppressed_by=c.suppressed_by,
    )


def neighbourhood(session: Session, key: str, *, max_depth: int = 4, max_nodes: int = 60) -> Neighbourhood:
    """What `key` depends on and what depends on it, transitively up to `max_depth` steps."""
    needs = dependency_edges(session)
    needed_by: dict[str, set[str]] = defaultdict(set)
    for dependent, upstream in needs.items():
        for dependency in upstream:
            needed_by[dependency].add(dependent)
    depth: dict[str, int] = {key: 0}
    edges: set[tuple[str, str]] = set()
    for direction, step in ((needs, -1), (needed_by, 1)):
        frontier = [key]
        for level in range(1, max_depth + 1):
            following: list[str] = []
            for current in frontier:
                for other in sorted(direction.get(current, ())):
                    edges.add((other, current) if step < 0 else (current, other))
                    if other not in depth and len(depth) < max_nodes:
                        depth[other] = step * level
                        following.append(other)
            frontier = following
    edges = {(a, b) for a, b in edges if a in depth and b in depth}
    found = store.deliverables_by_key(session, depth)
    counts = {k: len(v) for k, v in active_findings(session, depth).items()}
    nodes = [
        GraphNode(
            key=k,
            title=found[k].title if k in found else k,
            status=found[k].canonical_status if k in found else None,
            depth=d,
            open_findings=counts.get(k, 0),
        )
        for k, d in sorted(depth.items(), key=lambda item: (item[1], item[0]))
    ]
    return Neighbourhood(nodes=nodes, edges=sorted(edges))


def deliverable_page(session: Session, key: str) -> DeliverablePage | None:
    found = store.deliverables_by_key(session, [key]).get(key)
    if found is None:
        return None
    names = store.author_names(session)
    people = store.people_by_key(session)
    timeline = [
        TimelineEntry(
            id=o.id or 0, at=o.stated_at, source=o.source, field=o.field, value=o.value,
            author=names.get((o.source, o.author), o.author) if o.author else "unknown",
            excerpt=o.excerpt, permalink=o.permalink, edited_at=o.edited_at, retracted_at=o.deleted_at,
        )
        for o in reversed(store.claims_history(session, key))
    ]
    conflicts = list(session.execute(
        select(Conflict).where(Conflict.deliverable_key == key).order_by(col(Conflict.opened_at).desc(), col(Conflict.id).desc())
    ).scalars())
    conflict_ids = [c.id for c in conflicts if c.id is not None]
    audit_filter = AuditEvent.deliverable_key == key
    if conflict_ids:
        audit_filter = audit_filter | col(AuditEvent.conflict_id).in_(conflict_ids)
    audit = [
        AuditLine(at=e.at, actor=e.actor, action=e.action, conflict_id=e.conflict_id, comment=e.comment)
        for e in session.execute(
            select(AuditEvent).where(audit_filter).order_by(col(AuditEvent.at).desc(), col(AuditEvent.id).desc()).limit(200)
        ).scalars()
    ]
    decisions = [
        Decision(field=name, value=str(d.get("value")), by=d.get("by"), at=d.get("at"), source=d.get("source"),
                 conflict_id=d.get("conflict_id"))
        for name, d in sorted((found.decisions or {}).items())
        if isinstance(d, dict)
    ]
    owner = people.get(found.owner_key) if found.owner_key else None
    return DeliverablePage(
        key=found.key, title=found.title, role=found.role, owner_key=found.owner_key,
        owner_name=owner.name if owner else None, owner_set_by=found.owner_set_by,
        status=found.canonical_status, status_source=found.canonical_status_source,
        target_date=found.target_date, target_date_source=found.target_date_source,
        asana_permalink=found.permalink or _asana_link(timeline), conditions=dict(found.conditions or {}),
        reconciled_at=found.reconciled_at, timeline=timeline, findings=[_finding_detail(c) for c in conflicts],
        decisions=decisions, audit=audit, graph=neighbourhood(session, key),
    )


def _asana_link(timeline: list[TimelineEntry]) -> str | None:
    """The task's link as its newest Asana claim gives it (a story link points into the task)."""
    for entry in timeline:
        if entry.source == "asana" and entry.permalink:
            return entry.permalink
    return None


# -- findings -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FindingRow:
    detail: FindingDetail
    deliverable_key: str
    deliverable_title: str
    owner_name: str | None
    waiting_on: str | None  # who has to act now (the current escalation level's person)
    waiting_why: str
    age: timedelta
    escalation_step: str  # e.g. "1 of 3: lead (Bob Okafor)"
    snoozed: bool


def _view_filter(view: str) -> Any:
    c = Conflict.__table__.c  # type: ignore[attr-defined]
    active = c.state.in_([s.value for s in ACTIVE_CONFLICT_STATES])
    snoozed = c.suppressed_by.like("snooze:%")
    return {
        "open": (c.state == ConflictState.OPEN.value) & ~func.coalesce(snoozed, False),
        "acknowledged": (c.state == ConflictState.ACKNOWLEDGED.value) & ~func.coalesce(snoozed, False),
        "snoozed": active & snoozed,
        "resolved": c.state == ConflictState.RESOLVED.value,
        "dismissed": c.state == ConflictState.DISMISSED.value,
        "all": None,
    }[view]


def finding_counts(session: Session) -> dict[str, int]:
    counts = {}
    for view in FINDING_VIEWS:
        where = _view_filter(view)
        stmt = select(func.count()).select_from(Conflict)
        counts[view] = int(session.execute(stmt.where(where) if where is not None else stmt).scalar_one())
    return counts


def findings(
    session: Session, *, config: Config, now: datetime, view: str = "open", kind: str | None = None, limit: int = 500
) -> list[FindingRow]:
    """Findings of one view, oldest first (the longest wait on top), with whom each waits on."""
    if view not in FINDING_VIEWS:
        raise ValueError(f"unknown findings view {view!r}")
    stmt = select(Conflict)
    where = _view_filter(view)
    if where is not None:
        stmt = stmt.where(where)
    if kind:
        stmt = stmt.where(Conflict.kind == kind)
    newest_first = view in ("resolved", "dismissed", "all")
    order = col(Conflict.opened_at).desc() if newest_first else col(Conflict.opened_at)
    rows = list(session.execute(stmt.order_by(order, col(Conflict.id)).limit(limit)).scalars())
    directory = Directory.load(session, config, {c.deliverable_key for c in rows})
    return [_finding_row(c, directory, now) for c in rows]


def _finding_row(c: Conflict, directory: Directory, now: datetime) -> FindingRow:
    levels = directory.levels_for(c.deliverable_key)
    level = min(c.escalation_level, len(levels) - 1)
    active = c.state in {s.value for s in ACTIVE_CONFLICT_STATES}
    waiting_key, why = directory.target_of(c.deliverable_key, level) if active else (None, "")
    owner = directory.owner_of(c.deliverable_key)
    target = levels[level].to
    step = f"{level + 1} of {len(levels)}: {target}"
    if waiting_key:
        step += f" ({directory.display_name(waiting_key)})"
    end = c.resolved_at if c.resolved_at is not None else now
    return FindingRow(
        detail=_finding_detail(c),
        deliverable_key=c.deliverable_key,
        deliverable_title=directory.title_of(c.deliverable_key),
        owner_name=directory.display_name(owner) if owner else None,
        waiting_on=directory.display_name(waiting_key) if waiting_key else None,
        waiting_why=why,
        age=end - c.opened_at,
        escalation_step=step,
        snoozed=bool(c.suppressed_by and c.suppressed_by.startswith("snooze:")),
    )


# -- health and metrics ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoreFigures:
    findings: dict[tuple[str, str], int]  # (kind, state) -> count
    notifications: dict[str, int]  # status -> count
    requests: dict[str, int]  # source -> requests made by syncs, all time
    throttled: dict[str, int]  # source -> of those, answers that were 429, all time
    deliverables: int
    last_full_pass: datetime | None
    reconcile_seconds: dict[str, float]  # "full" | "dirty" -> how long the last such pass took


def store_figures(session: Session) -> StoreFigures:
    c = Conflict.__table__.c  # type: ignore[attr-defined]
    by_kind = {
        (kind, state): int(n)
        for kind, state, n in session.execute(select(c.kind, c.state, func.count()).group_by(c.kind, c.state))
    }
    n = Notification.__table__.c  # type: ignore[attr-defined]
    notifications = {status: int(k) for status, k in session.execute(select(n.status, func.count()).group_by(n.status))}
    requests: dict[str, int] = defaultdict(int)
    throttled: dict[str, int] = defaultdict(int)
    for cursor in store.sync_cursors(session):
        requests[cursor.source] += cursor.requests_made
        throttled[cursor.source] += cursor.throttled
    deliverables = int(session.execute(select(func.count()).select_from(Deliverable)).scalar_one())
    passes = {store.FULL_RECONCILE: "full", store.DIRTY_RECONCILE: "dirty"}
    reconcile_seconds = {
        passes[run.name]: run.seconds for run in store.periodic_runs(session)
        if run.name in passes and run.seconds is not None
    }
    return StoreFigures(
        findings=by_kind, notifications=notifications, requests=dict(requests), throttled=dict(throttled),
        deliverables=deliverables, last_full_pass=store.last_full_pass(session), reconcile_seconds=reconcile_seconds,
    )
