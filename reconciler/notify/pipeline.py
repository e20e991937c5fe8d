"""The planning sweep as a pipeline: the plan stage turns due conflicts into candidates, and
each stage in STAGES takes the list and returns the list to pass on (as Alertmanager's notify
stages do with alerts). A new stage is one function with the `Stage` signature, added to STAGES.

    plan (plan.py) -> inhibit/silence (silence.py) -> group/dedup into the outbox (group.py)

Sending (send.py over outbox.py) is a separate pass over the outbox: `deliver_pending`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlmodel import Session

from reconciler.notify import group, plan, silence
from reconciler.notify.context import Planner
from reconciler.notify.model import Candidate, PlanReport
from reconciler.protocol import Config

Stage = Callable[[Planner, list[Candidate]], list[Candidate]]
"""Takes the sweep's candidates (in conflict order) and returns those that go on."""

STAGES: tuple[Stage, ...] = (
    silence.inhibit_and_silence,  # drop silenced candidates; record Conflict.suppressed_by
    group.group_and_dedup,  # write them into the outbox, grouped per recipient, idempotently
)


def plan_notifications(session: Session, *, config: Config, now: datetime) -> PlanReport:
    """Write the outbox rows that are due at `now`; idempotent, sends nothing. The caller commits."""
    planner, conflicts = plan.open_sweep(session, config=config, now=now)
    planned = plan.plan_candidates(planner, conflicts)
    passed = planned
    for stage in STAGES:
        passed = stage(planner, passed)
    plan.schedule(planner, planned)
    session.flush()
    return planner.report
