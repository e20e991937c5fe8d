"""A finding's lifecycle: the one transition function every writer of a conflict's state goes
through, and how the reconciler brings stored conflicts in line with what the rules find.

States: open, acknowledged, resolved, dismissed; conflicts are keyed by fingerprint.
- a finding without a conflict opens one; an open or acknowledged conflict follows its finding
  (a moved date updates it) and resolves itself (`resolved_by="auto"`) when the finding is gone;
- a conflict a person resolved or dismissed reopens only on evidence newer than that decision
  (said after it, or first stored after it); one the reconciler closed itself reopens as soon as
  its finding holds again, because closing it was no judgement about the evidence;
- every state change, and every change of an active conflict's finding, is an audit event.

Writers: the reconciler (`follow_findings`, written in bulk by the engine), people through
`reconciler.conflicts` (acknowledge, resolve, dismiss, reopen) and the notifier when an
acknowledgement lapses. All of them take their column values from `transition`. The notifier's
alerting bookkeeping (escalation level, notified times, `suppressed_by`) is not lifecycle state.
Pure: nothing here reads or writes the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import orjson

from reconciler import rules
from reconciler.states import ConflictState

OPEN, ACKNOWLEDGED = ConflictState.OPEN.value, ConflictState.ACKNOWLEDGED.value
RESOLVED, DISMISSED = ConflictState.RESOLVED.value, ConflictState.DISMISSED.value
ACTIVE = frozenset({OPEN, ACKNOWLEDGED})
CLOSED = frozenset({RESOLVED, DISMISSED})

ACTOR = "reconciler"  # who the audit trail names for the reconciler's own changes
AUTO = "auto"  # `resolved_by` of a conflict the reconciler closed itself

CLOSED_RESET: dict[str, Any] = {
    "resolved_at": None,
    "resolved_by": None,
    "resolution_value": None,
    "resolution_source": None,
    "resolution_comment": None,
}
# A reopened conflict is open and undecided again. Alerting bookkeeping (escalation level,
# notified times, suppressed_by) is the notifier's: it starts a new episode on its own.
REOPEN_RESET: dict[str, Any] = {**CLOSED_RESET, "acknowledged_at": None, "acknowledged_by": None}

# Every state change a conflict can make: a finding opens one; acknowledge / an acknowledgement
# lapses, resolve or dismiss an active one, reopen a closed one.
_TRANSITIONS = frozenset({
    (None, OPEN),
    (OPEN, ACKNOWLEDGED), (ACKNOWLEDGED, OPEN),
    (OPEN, RESOLVED), (ACKNOWLEDGED, RESOLVED), (OPEN, DISMISSED), (ACKNOWLEDGED, DISMISSED),
    (RESOLVED, OPEN), (DISMISSED, OPEN),
})


class InvalidTransition(ValueError):
    pass


def transition(
    current: str | None,
    target: str,
    *,
    now: datetime,
    by: str | None = None,
    comment: str | None = None,
    value: str | None = None,
    source: str | None = None,
) -> dict[str, Any]:
    """The one definition of a conflict's state change: the column values that take a conflict
    from `current` (None: it does not exist yet) to `target`. `value` and `source` are what a
    resolution decided (the value set, the source whose value was accepted)."""
    if (current, target) not in _TRANSITIONS:
        raise InvalidTransition(f"a conflict cannot go from {current or 'nothing'} to {target}")
    if current is None:
        return {"state": OPEN, "opened_at": now, "last_seen_at": now, "escalation_level": 0}
    if target == ACKNOWLEDGED:
        return {"state": target, "acknowledged_at": now, "acknowledged_by": by}
    if target in CLOSED:
        return {
            **CLOSED_RESET, "state": target, "resolved_at": now, "resolved_by": by, "resolution_comment": comment,
            **({"resolution_value": value} if value is not None else {}),
            **({"resolution_source": source} if source is not None else {}),
        }
    if current == ACKNOWLEDGED:  # the acknowledgement lapsed: open, undecided, nobody on it
        return {"state": OPEN, "acknowledged_at": None, "acknowledged_by": None}
    return {**REOPEN_RESET, "state": OPEN}


class _Row(Protocol):
    """An object carrying a conflict's columns (an ORM `Conflict`)."""

    state: str


def apply_transition(
    conflict: _Row, target: str, *, now: datetime, by: str | None = None, comment: str | None = None,
    value: str | None = None, source: str | None = None,
) -> Any:
    """`transition` applied to an ORM conflict; returns it."""
    for name, column_value in transition(
        conflict.state, target, now=now, by=by, comment=comment, value=value, source=source
    ).items():
        setattr(conflict, name, column_value)
    return conflict


# -- following the rules' findings ----------------------------------------------------------


class StoredConflict(Protocol):
    """What the reconciler reads of a stored conflict. JSON columns may be text (the reconciler reads
    them so from either store) or decoded (an ORM object)."""

    id: int
    fingerprint: str
    deliverable_key: str
    kind: str
    state: str
    severity: str
    summary: str
    evidence: Any
    details: Any
    sources: Any
    newest_evidence_at: datetime | None
    resolved_at: datetime | None
    resolved_by: str | None
    resolution_value: str | None


@dataclass
class ConflictChanges:
    """Rows and audit events the lifecycle decided on, for the engine to write in bulk."""

    inserts: list[dict[str, Any]] = field(default_factory=list)
    insert_events: list[dict[str, Any]] = field(default_factory=list)  # one per insert, same order
    updates: list[dict[str, Any]] = field(default_factory=list)  # each with the conflict's "id"
    events: list[dict[str, Any]] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    reopened: list[int] = field(default_factory=list)
    auto_resolved: list[int] = field(default_factory=list)


_CONTENT = ("severity", "summary", "evidence", "details", "sources", "newest_evidence_at")


def follow_findings(
    changes: ConflictChanges, key: str, existing: list[StoredConflict], findings: list[rules.Finding],
    now: datetime, *, closing_reason: str | None = None,
) -> None:
    """Bring one deliverable's stored conflicts in line with its findings (see the module
    docstring). `closing_reason` replaces the rule's own words for what closes by itself."""
    by_fingerprint = {c.fingerprint: c for c in existing}
    for finding in findings:
        row = by_fingerprint.pop(finding.fingerprint, None)
        if row is None:
            _open(changes, key, finding, now)
        elif row.state in ACTIVE:
            _follow(changes, row, finding, now)
        elif reopens(row, finding):
            _reopen(changes, row, finding, now)
    for row in by_fingerprint.values():
        if row.state in ACTIVE:
            _auto_resolve(changes, row, now, reason=closing_reason)


def reopens(row: StoredConflict, finding: rules.Finding) -> bool:
    """Whether a closed conflict reopens for `finding`: always when the reconciler closed it,
    else only on evidence newer than the decision."""
    if row.resolved_by == AUTO or row.resolved_at is None:
        return True
    return any(t is not None and t > row.resolved_at for t in (finding.newest_evidence_at, finding.evidence_recorded_at))


def auto_resolved_because(kind: str) -> str:
    """What the reconciler says when it closes a finding of `kind` by itself."""
    rule = rules.rule_for(kind)
    return rule.auto_resolved_because if rule is not None else rules.FindingRule.auto_resolved_because


def _content(finding: rules.Finding) -> dict[str, Any]:
    return {
        "severity": finding.severity,
        "summary": finding.summary,
        "evidence": list(finding.evidence),
        "details": finding.details,
        "sources": list(finding.sources),
        "newest_evidence_at": finding.newest_evidence_at,
    }


def _open(changes: ConflictChanges, key: str, finding: rules.Finding, now: datetime) -> None:
    changes.inserts.append({
        **_content(finding),
        "fingerprint": finding.fingerprint,
        "deliverable_key": key,
        "kind": finding.kind,
        **transition(None, OPEN, now=now),
    })
    changes.insert_events.append(audit_row("opened", key, now, details={
        "kind": finding.kind, "severity": finding.severity, "summary": finding.summary,
    }))


def _follow(changes: ConflictChanges, row: StoredConflict, finding: rules.Finding, now: datetime) -> None:
    content = _content(finding)
    changed = [name for name in _CONTENT if _differs(getattr(row, name), content[name])]
    if not changed:
        return
    changes.updates.append({"id": row.id, **content, "last_seen_at": now})
    changes.events.append(audit_row("updated", row.deliverable_key, now, conflict_id=row.id, details={
        "changed": changed, "summary": finding.summary, "previous_summary": row.summary,
    }))
    changes.updated.append(row.id)


def _reopen(changes: ConflictChanges, row: StoredConflict, finding: rules.Finding, now: datetime) -> None:
    changes.updates.append({
        "id": row.id, **transition(row.state, OPEN, now=now), **_content(finding), "last_seen_at": now,
    })
    why = "its finding holds again" if row.resolved_by == AUTO else "newer evidence"
    changes.events.append(audit_row("reopened", row.deliverable_key, now, conflict_id=row.id, details={
        "previous_state": row.state, "closed_by": row.resolved_by, "why": why, "summary": finding.summary,
        **({"resolution_value": row.resolution_value} if row.resolution_value else {}),
    }))
    changes.reopened.append(row.id)


def _auto_resolve(changes: ConflictChanges, row: StoredConflict, now: datetime, *, reason: str | None = None) -> None:
    comment = reason or auto_resolved_because(row.kind)
    changes.updates.append({
        "id": row.id, **transition(row.state, RESOLVED, now=now, by=AUTO, comment=comment),
    })
    changes.events.append(audit_row("auto_resolved", row.deliverable_key, now, conflict_id=row.id,
                                    comment=comment, details={"previous_state": row.state}))
    changes.auto_resolved.append(row.id)


def _differs(stored: Any, wanted: Any) -> bool:
    if isinstance(wanted, (dict, list)):
        if isinstance(stored, str):  # JSON text, as the reconciler reads it (an ORM object: decoded)
            stored = orjson.loads(stored)
        return bool(stored != wanted)
    return bool(stored != wanted)


def audit_row(
    action: str, key: str, now: datetime, *, conflict_id: int | None = None,
    comment: str | None = None, details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One audit event by the reconciler, as the row the engine inserts."""
    return {
        "at": now, "actor": ACTOR, "action": action, "conflict_id": conflict_id,
        "deliverable_key": key, "comment": comment, "details": details or {},
    }
