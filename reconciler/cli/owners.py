"""`reconciler owners list | set | import`: edit the gatekeeper map, audited."""

from __future__ import annotations

import csv
import getpass
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from sqlmodel import Session, select

from reconciler import decisions, store
from reconciler.cli.common import (
    ConfigOption,
    JsonFlag,
    OutputFormat,
    OutputOption,
    UserError,
    console,
    handle_errors,
    print_json,
    wants_json,
)
from reconciler.cli.context import runtime
from reconciler.db import session_scope
from reconciler.models import Deliverable
from reconciler.pipeline import apply_config
from reconciler.untrusted import for_rich as lit

app = typer.Typer(help="Who makes the final call on each deliverable.", no_args_is_help=True)


@app.command("list")
@handle_errors
def list_owners(
    output: OutputOption = OutputFormat.TABLE, json_flag: JsonFlag = False, config: ConfigOption = None
) -> None:
    """The gatekeeper map: deliverable, decision owner, where the assignment came from."""
    with runtime(config) as rt:
        apply_config(rt)  # reads deliverable_rules (the Asana assignees) when there are any
        with session_scope(rt.engine) as session:
            rows = [
                {"deliverable": d.key, "owner": d.owner_key, "role": d.role, "set_by": d.owner_set_by}
                for d in session.exec(select(Deliverable).order_by(Deliverable.key))
            ]
    if wants_json(output, json_flag):
        print_json(rows)
        return
    table = Table(box=None, pad_edge=False)
    for name in ("DELIVERABLE", "OWNER", "ROLE", "SET BY"):
        table.add_column(name)
    for r in rows:
        owner = lit(r["owner"]) if r["owner"] else "[red]none[/]"
        table.add_row(lit(r["deliverable"]), owner, lit(r["role"] or "-"), lit(r["set_by"] or "-"))
    console.print(table)


def _cli_actor(session: Session, by: str | None) -> decisions.Actor:
    return decisions.cli_actor(session, by=by, os_user=getpass.getuser())


@app.command("set")
@handle_errors
def set_command(
    deliverable: Annotated[str, typer.Argument(help="Deliverable key.")],
    person: Annotated[str, typer.Argument(help="Person key.")],
    comment: Annotated[str | None, typer.Option("--comment", "-c")] = None,
    by: Annotated[str | None, typer.Option("--by", help="The person (key) deciding; default: cli:<login name>.")] = None,
    config: ConfigOption = None,
) -> None:
    """Make PERSON the decision owner of DELIVERABLE."""
    with runtime(config) as rt, session_scope(rt.engine) as session:
        store.sync_config(session, rt.config, now=rt.now())
        old, new = decisions.set_owner(
            session, deliverable, person, actor=_cli_actor(session, by), config=rt.config, comment=comment, now=rt.now()
        )
    console.print(f"{deliverable}: owner {old or 'none'} -> {new}" if old != new else f"{deliverable}: owner already {new}")


@app.command("import")
@handle_errors
def import_command(
    file: Annotated[Path, typer.Argument(help="CSV with columns deliverable,owner.", exists=False)],
    comment: Annotated[str | None, typer.Option("--comment", "-c")] = None,
    by: Annotated[str | None, typer.Option("--by", help="The person (key) deciding; default: cli:<login name>.")] = None,
    config: ConfigOption = None,
) -> None:
    """Set many owners from a CSV file; all rows or none."""
    rows = _read_owner_csv(file)
    changed = 0
    with runtime(config) as rt, session_scope(rt.engine) as session:
        store.sync_config(session, rt.config, now=rt.now())
        actor = _cli_actor(session, by)
        for line, (key, person) in rows:
            try:
                old, new = decisions.set_owner(
                    session, key, person, actor=actor, config=rt.config, comment=comment, now=rt.now()
                )
            except LookupError as exc:
                raise UserError(f"{file}:{line}: {exc}") from None
            changed += old != new
    console.print(f"{file}: {len(rows)} row(s), {changed} owner(s) changed")


def _read_owner_csv(path: Path) -> list[tuple[int, tuple[str, str]]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror})") from None
    reader = csv.DictReader(text.splitlines())
    if reader.fieldnames is None or not {"deliverable", "owner"} <= set(reader.fieldnames):
        raise UserError(f"{path}: needs a header row with the columns deliverable,owner")
    rows: list[tuple[int, tuple[str, str]]] = []
    for line, row in enumerate(reader, start=2):
        key, owner = (row.get("deliverable") or "").strip(), (row.get("owner") or "").strip()
        if not key or not owner:
            raise UserError(f"{path}:{line}: both deliverable and owner are required")
        rows.append((line, (key, owner)))
    return rows
