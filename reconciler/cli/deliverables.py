"""`reconciler deliverables list | show`: the shared state board."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table
from sqlmodel import select

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
    relative_time,
    wants_json,
)
from reconciler.cli.context import runtime
from reconciler.cli.views import claim_cells, claim_view
from reconciler.db import session_scope
from reconciler.models import Deliverable
from reconciler.untrusted import for_rich as lit

app = typer.Typer(help="The shared state: one row per deliverable.", no_args_is_help=True)


def deliverable_view(d: Deliverable) -> dict[str, Any]:
    return {
        "key": d.key,
        "title": d.title,
        "owner": d.owner_key,
        "role": d.role,
        "status": d.canonical_status,
        "status_source": d.canonical_status_source,
        "target_date": d.target_date,
        "target_date_source": d.target_date_source,
        "depends_on": d.depends_on,
        "conditions": d.conditions,
        "reconciled_at": d.reconciled_at,
    }


def _agreement(conditions: dict[str, Any]) -> str:
    """'✓' per condition that holds, the failing ones by name."""
    failing = [name for name, c in sorted(conditions.items()) if not c.get("status")]
    if not conditions:
        return "-"
    return "all agree" if not failing else ", ".join(failing)


@app.command("list")
@handle_errors
def list_deliverables(
    output: OutputOption = OutputFormat.TABLE,
    json_flag: JsonFlag = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Keys only.")] = False,
    config: ConfigOption = None,
) -> None:
    """Every deliverable with its canonical status and date, owner, and what disagrees."""
    with runtime(config) as rt, session_scope(rt.engine) as session:
        rows = list(session.exec(select(Deliverable).order_by(Deliverable.key)))
    if quiet:
        for row in rows:
            print(row.key)
        return
    if wants_json(output, json_flag):
        print_json([deliverable_view(r) for r in rows])
        return
    table = Table(box=None, pad_edge=False)
    for name in ("KEY", "STATUS", "DATE", "OWNER", "DISAGREES"):
        table.add_column(name, overflow="fold")
    for row in rows:
        status = f"{row.canonical_status or '-'}" + (f" ({row.canonical_status_source})" if row.canonical_status_source else "")
        day = row.target_date.isoformat() if row.target_date else "-"
        owner = lit(row.owner_key) if row.owner_key else "[red]none[/]"
        table.add_row(lit(row.key), lit(status), day, owner, lit(_agreement(row.conditions)))
    console.print(table)


@app.command("show")
@handle_errors
def show_deliverable(
    key: Annotated[str, typer.Argument(help="Deliverable key.")],
    output: OutputOption = OutputFormat.TABLE,
    json_flag: JsonFlag = False,
    config: ConfigOption = None,
) -> None:
    """Everything said about one deliverable over time, with sources and permalinks."""
    with runtime(config) as rt, session_scope(rt.engine) as session:
        found = store.deliverables_by_key(session, [key]).get(key)
        if found is None:
            raise UserError(f"deliverable {key!r} does not exist")
        names = store.author_names(session)
        claims = [claim_view(o, names) for o in store.claims_history(session, key)]
        now = rt.now()
    if wants_json(output, json_flag):
        print_json({**deliverable_view(found), "claims": claims})
        return
    console.print(f"[bold]{lit(found.key)}[/]  {lit(found.title)}")
    console.print(f"Owner: {found.owner_key or 'none'}   Role: {found.role or '-'}", markup=False)
    console.print(
        f"Status: {found.canonical_status or '-'} ({found.canonical_status_source or '-'})   "
        f"Target: {found.target_date or '-'} ({found.target_date_source or '-'})",
        markup=False,
    )
    for name, condition in sorted(found.conditions.items()):
        mark = "[green]yes[/]" if condition.get("status") else "[red]no[/]"
        console.print(f"  {lit(name)}: {mark} — {lit(condition.get('message', ''))}")
    table = Table(title="Claims", box=None, pad_edge=False, show_lines=True)
    for name in ("WHEN", "SOURCE", "SAYS", "AUTHOR", "TEXT"):
        table.add_column(name, overflow="fold")
    for c in claims:
        says, who, text = claim_cells(c)
        when = f"{relative_time(c['stated_at'], now=now)}\n{local_time(c['stated_at'])}"
        table.add_row(when, lit(c["source"]), says, who, text)
    console.print(table)
