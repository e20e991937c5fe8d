"""`reconciler claim` (what people say out loud is a source too) and `reconciler audit`."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlmodel import col, select

from connectors.base import CanonicalStatus, ClaimKind, Field, Observation, Source, SyncBatch
from connectors.config import parse_duration
from reconciler import store
from reconciler.cli.common import (
    ConfigOption,
    JsonFlag,
    OutputFormat,
    OutputOption,
    UserError,
    console,
    handle_errors,
    local_time,
    print_json,
    wants_json,
)
from reconciler.cli.context import runtime
from reconciler.db import session_scope
from reconciler.models import AuditEvent
from reconciler.untrusted import for_rich as lit

MANUAL_PARTITION = "manual"


def manual_claims(
    key: str, *, status: CanonicalStatus | None, target_date: datetime | None, by: str, text: str, now: datetime
) -> list[Observation]:
    ref = f"manual:{uuid.uuid4().hex[:12]}"
    values: list[tuple[Field, str]] = []
    if status is not None:
        values.append((Field.STATUS, status.value))
    if target_date is not None:
        values.append((Field.TARGET_DATE, target_date.date().isoformat()))
    return [
        Observation(
            deliverable_key=key,
            source=Source.MANUAL,
            source_ref=ref,
            field=field,
            value=value,
            stated_at=now,
            kind=ClaimKind.EVENT,
            author=by,
            excerpt=text,
        )
        for field, value in values
    ]


@handle_errors
def claim(
    deliverable: Annotated[str, typer.Argument(help="Deliverable key.")],
    by: Annotated[str, typer.Option("--by", help="Person key of who said it.")],
    comment: Annotated[str, typer.Option("--comment", "-c", help="What was said, as evidence.")],
    status: Annotated[CanonicalStatus | None, typer.Option("--status", help="What was said about its status.")] = None,
    target_date: Annotated[datetime | None, typer.Option("--date", formats=["%Y-%m-%d"], help="The date that was said.")] = None,
    config: ConfigOption = None,
) -> None:
    """Record what someone said in a meeting as a `manual` claim."""
    if status is None and target_date is None:
        raise UserError("say what was claimed: --status and/or --date")
    with runtime(config) as rt, session_scope(rt.engine) as session:
        now = rt.now()
        store.sync_config(session, rt.config, now=now)
        if deliverable not in store.deliverables_by_key(session, [deliverable]):
            raise UserError(f"deliverable {deliverable!r} does not exist")
        if by not in store.people_by_key(session):
            raise UserError(f"person {by!r} does not exist (see [[people]] in the config file)")
        claims = manual_claims(deliverable, status=status, target_date=target_date, by=by, text=comment, now=now)
        store.apply_batch(session, source=Source.MANUAL, partition=MANUAL_PARTITION, batch=SyncBatch(observations=claims), now=now)
        store.audit(session, actor=by, action="manual_claim", now=now, deliverable_key=deliverable, comment=comment,
                    details={c.field.value: c.value for c in claims})
    console.print(
        f"recorded: {by} says {deliverable} " + ", ".join(f"{c.field.value} {c.value}" for c in claims), markup=False
    )


def audit_view(e: AuditEvent) -> dict[str, Any]:
    return {
        "id": e.id,
        "at": e.at,
        "actor": e.actor,
        "action": e.action,
        "conflict_id": e.conflict_id,
        "deliverable": e.deliverable_key,
        "comment": e.comment,
        "details": e.details,
    }


@handle_errors
def audit(
    since: Annotated[str | None, typer.Option("--since", help="e.g. 24h, 7d.")] = None,
    conflict: Annotated[int | None, typer.Option("--conflict")] = None,
    deliverable: Annotated[str | None, typer.Option("--deliverable", "-d")] = None,
    actor: Annotated[str | None, typer.Option("--actor")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1)] = 200,
    output: OutputOption = OutputFormat.TABLE,
    json_flag: JsonFlag = False,
    config: ConfigOption = None,
) -> None:
    """Who did what, when and why; newest first."""
    window: timedelta | None = parse_duration(since) if since else None
    with runtime(config) as rt, session_scope(rt.engine) as session:
        stmt = select(AuditEvent).order_by(col(AuditEvent.at).desc(), col(AuditEvent.id).desc()).limit(limit)
        if window is not None:
            stmt = stmt.where(AuditEvent.at >= rt.now() - window)
        if conflict is not None:
            stmt = stmt.where(AuditEvent.conflict_id == conflict)
        if deliverable:
            stmt = stmt.where(AuditEvent.deliverable_key == deliverable)
        if actor:
            stmt = stmt.where(AuditEvent.actor == actor)
        events = [audit_view(e) for e in session.exec(stmt)]
    if wants_json(output, json_flag):
        print_json(events)
        return
    table = Table(box=None, pad_edge=False)
    for name in ("WHEN", "ACTOR", "ACTION", "ON", "COMMENT"):
        table.add_column(name, overflow="fold")
    for e in events:
        on = f"conflict {e['conflict_id']}" if e["conflict_id"] else (e["deliverable"] or "-")
        table.add_row(local_time(e["at"]), lit(e["actor"]), lit(e["action"]), lit(on), lit(e["comment"] or ""))
    console.print(table)
