"""`reconciler people list`: who the store knows and their id in each source."""

from __future__ import annotations

import typer
from rich.table import Table

from reconciler import store
from reconciler.cli.common import (
    ConfigOption,
    JsonFlag,
    OutputFormat,
    OutputOption,
    console,
    handle_errors,
    print_json,
    wants_json,
)
from reconciler.cli.context import runtime
from reconciler.db import session_scope
from reconciler.pipeline import apply_config
from reconciler.untrusted import for_rich as lit

app = typer.Typer(help="The people of the config file and the sources, joined.", no_args_is_help=True)


@app.command("list")
@handle_errors
def list_people(
    output: OutputOption = OutputFormat.TABLE, json_flag: JsonFlag = False, config: ConfigOption = None
) -> None:
    """Every person: key, name, email, their id in each source (set in the file as `ids`, or
    learned from a source), and whether the config file names them."""
    with runtime(config) as rt:
        apply_config(rt)
        with session_scope(rt.engine) as session:
            rows = [
                {"key": p.key, "name": p.name, "email": p.email, "ids": dict(sorted(p.external_ids().items())),
                 "timezone": p.timezone, "from_config": p.from_config}
                for p in sorted(store.people_by_key(session).values(), key=lambda p: p.key)
            ]
    if wants_json(output, json_flag):
        print_json(rows)
        return
    table = Table(box=None, pad_edge=False)
    for name in ("KEY", "NAME", "EMAIL", "IDS", "FROM"):
        table.add_column(name)
    for r in rows:
        ids = ", ".join(f"{source}:{external_id}" for source, external_id in r["ids"].items())
        table.add_row(lit(r["key"]), lit(r["name"]), lit(r["email"] or "-"), lit(ids or "-"),
                      "config" if r["from_config"] else "source")
    console.print(table)
