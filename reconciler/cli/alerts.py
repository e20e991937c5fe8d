"""`reconciler snooze add | list | expire` and `reconciler route test`."""

from __future__ import annotations

import getpass
from dataclasses import asdict
from typing import Annotated

import typer
from rich.table import Table

from connectors.config import parse_duration
from reconciler import decisions, routing, snoozes
from reconciler.cli.common import (
    ConfigOption,
    JsonFlag,
    OutputFormat,
    OutputOption,
    console,
    handle_errors,
    parse_matchers,
    local_time,
    print_json,
    relative_time,
    wants_json,
)
from reconciler.cli.context import runtime
from reconciler.db import session_scope
from reconciler.untrusted import for_rich as lit

snooze_app = typer.Typer(help="Silence matching conflicts for a while (never deleted, only expired).", no_args_is_help=True)
route_app = typer.Typer(help="Explain who would be told, when and why.", no_args_is_help=True)


@snooze_app.command("add")
@handle_errors
def snooze_add(
    matchers: Annotated[list[str], typer.Argument(help="KEY=VALUE: deliverable, kind, owner (`*` globs).")],
    duration: Annotated[str, typer.Option("--duration", "-d", help="How long, e.g. 4h, 2d.")],
    comment: Annotated[str, typer.Option("--comment", "-c", help="Why.")],
    by: Annotated[str | None, typer.Option("--by")] = None,
    config: ConfigOption = None,
) -> None:
    """Silence conflicts that match every matcher, for DURATION."""
    length = parse_duration(duration)
    with runtime(config) as rt, session_scope(rt.engine) as session:
        snooze = snoozes.add_snooze(
            session,
            matchers=parse_matchers(matchers),
            duration=length,
            author=decisions.cli_actor(session, by=by, os_user=getpass.getuser()).name,
            comment=comment,
            now=rt.now(),
        )
    console.print(f"snooze {snooze.id} until {local_time(snooze.ends_at)}")


@snooze_app.command("list")
@handle_errors
def snooze_list(
    include_expired: Annotated[bool, typer.Option("--all", "-a", help="Include expired snoozes.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Ids only.")] = False,
    output: OutputOption = OutputFormat.TABLE,
    json_flag: JsonFlag = False,
    config: ConfigOption = None,
) -> None:
    """Snoozes and their state (pending, active, expired), from the clock."""
    with runtime(config) as rt, session_scope(rt.engine) as session:
        views = snoozes.list_snoozes(session, now=rt.now(), include_expired=include_expired)
        now = rt.now()
    if quiet:
        for view in views:
            print(view.id)
        return
    if wants_json(output, json_flag):
        print_json([asdict(v) for v in views])
        return
    table = Table(box=None, pad_edge=False)
    for name in ("ID", "STATE", "MATCHERS", "ENDS", "BY", "COMMENT"):
        table.add_column(name, overflow="fold")
    for v in views:
        matchers = " ".join(f"{k}={val}" for k, val in v.matchers.items())
        table.add_row(
            str(v.id), v.state.value, lit(matchers), relative_time(v.ends_at, now=now), lit(v.author), lit(v.comment)
        )
    console.print(table)


@snooze_app.command("expire")
@handle_errors
def snooze_expire(
    ids: Annotated[list[int], typer.Argument(help="Snooze id(s).")],
    by: Annotated[str | None, typer.Option("--by")] = None,
    config: ConfigOption = None,
) -> None:
    """End snoozes now."""
    with runtime(config) as rt:
        for snooze_id in ids:
            with session_scope(rt.engine) as session:
                actor = decisions.cli_actor(session, by=by, os_user=getpass.getuser()).name
                snoozes.expire_snooze(session, snooze_id, actor=actor, now=rt.now())
            console.print(f"snooze {snooze_id} expired")


@route_app.command("test")
@handle_errors
def route_test(
    deliverable: Annotated[str, typer.Argument(help="Deliverable key.")],
    output: OutputOption = OutputFormat.TABLE,
    json_flag: JsonFlag = False,
    config: ConfigOption = None,
) -> None:
    """Who would be told about a conflict on DELIVERABLE, when and why. Sends nothing."""
    with runtime(config) as rt, session_scope(rt.engine) as session:
        plan = routing.route_for(session, deliverable, config=rt.config, now=rt.now())
        now = rt.now()
    if wants_json(output, json_flag):
        print_json(asdict(plan))
        return
    console.print(
        f"[bold]{lit(plan.deliverable_key)}[/] {lit(plan.title)} — owner {lit(plan.owner or 'none')}, "
        f"role {lit(plan.role or '-')} ({lit(plan.role_reason)})"
    )
    for problem in plan.problems:
        console.print(f"[yellow]! {lit(problem)}[/]")
    table = Table(box=None, pad_edge=False)
    for name in ("LEVEL", "AFTER", "WHO", "WHEN", "DELIVERED", "WHY"):
        table.add_column(name, overflow="fold")
    for step in plan.steps:
        who = lit(step.recipient_name or step.recipient) if (step.recipient_name or step.recipient) else "[red]nobody[/]"
        delivered = relative_time(step.deliver_at, now=now) + (" (quiet hours)" if step.delayed_by_quiet_hours else "")
        table.add_row(str(step.level), str(step.after), who, lit(step.when), delivered, lit(step.why))
    console.print(table)
    for c in plan.conflicts:
        muted = f", muted by {c.suppressed_by}" if c.suppressed_by else ""
        console.print(f"conflict {c.conflict_id} {c.kind} [{c.state}] level {c.escalation_level}{muted}", markup=False)
