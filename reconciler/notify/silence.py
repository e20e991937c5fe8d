"""Stage 2, inhibit and silence: a matching snooze or an inhibiting dependency violation stops
every notice about a conflict, and the reason is kept in `Conflict.suppressed_by`.

`sort_out` decides on a list of candidates (pure, given the silence rule); `inhibit_and_silence`
is the stage: it decides with the sweep's snoozes and inhibitors and records the outcome."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from reconciler import snoozes as silences
from reconciler import store
from reconciler.models import Conflict
from reconciler.notify.context import Planner
from reconciler.notify.model import ACTOR, Candidate, Silences

SilenceRule = Callable[[Conflict, Silences], "str | None"]
"""The silence (as a `suppressed_by` reason) that holds back notices about a conflict, or None."""


def sort_out(candidates: Sequence[Candidate], rule: SilenceRule) -> tuple[list[Candidate], list[tuple[Candidate, str]]]:
    """Split candidates into those that go on and those suppressed, each with its reason."""
    kept: list[Candidate] = []
    suppressed: list[tuple[Candidate, str]] = []
    for candidate in candidates:
        reason = suppression_of(candidate, rule)
        if reason is None:
            kept.append(candidate)
        else:
            suppressed.append((candidate, reason))
    return kept, suppressed


def suppression_of(candidate: Candidate, rule: SilenceRule) -> str | None:
    """Why nobody is told about this candidate: what blocks it, a silence, or its unroutable reason."""
    if candidate.blocked_by is not None:
        return candidate.blocked_by
    if candidate.silences is Silences.NONE:
        return None
    return rule(candidate.conflict, candidate.silences) or candidate.unroutable


def inhibit_and_silence(p: Planner, candidates: list[Candidate]) -> list[Candidate]:
    """The stage: drop suppressed candidates, record why in `suppressed_by`, clear it on the rest."""
    kept, suppressed = sort_out(candidates, lambda conflict, which: _silenced(p, conflict, which))
    for candidate in kept:
        if candidate.silences is not Silences.NONE:
            candidate.conflict.suppressed_by = None
    for candidate, reason in suppressed:
        suppress(p, candidate.conflict, reason)
    return kept


def _silenced(p: Planner, conflict: Conflict, which: Silences) -> str | None:
    if which is Silences.SNOOZES:
        return silenced_by_snooze(p, conflict)
    return silences.suppression_for(
        conflict, p.directory.deliverable(conflict.deliverable_key), p.snoozes, p.inhibitors, now=p.now
    )


def suppress(p: Planner, conflict: Conflict, reason: str) -> None:
    """Record why nobody is told about `conflict` (audited when the reason changes)."""
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


def silenced_by_snooze(p: Planner, conflict: Conflict) -> str | None:
    """The snooze that also holds back a closed conflict's resolution notice, as a reason."""
    snooze = silences.active_snooze_for(conflict, p.directory.deliverable(conflict.deliverable_key), p.snoozes, p.now)
    return f"snooze:{snooze.id}" if snooze is not None else None
