"""`reconciler conflicts ...`: list, show, acknowledge, resolve, dismiss, reopen."""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable
from fnmatch import fnmatchcase
from datetime import date, datetime
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlmodel import Session, col, select

from connectors.base import CanonicalStatus
from connectors.config import parse_duration
from reconciler import conflicts as lifecycle
from reconciler import decisions, store, writeback
from reconciler.cli.common import (
    ConfigOption,
    JsonFlag,
    OutputFormat,
    OutputOption,
    UserError,
    console,
    err_console,
    handle_errors,
    local_time,
    parse_matchers,
    print_json,
    wants_json,
)
from reconciler.choices import CONFLICT_STATES, FINDING_KINDS, SEVERITIES, check_choice, closest
from reconciler.cli.context import runtime
from reconciler.cli.read_views import print_conflict_list
from reconciler.cli.views import claim_cells, claim_view
from reconciler.db import session_scope
from reconciler.models import ACTIVE_CONFLICT_STATES, Conflict, ConflictState, Deliverable
from reconciler.pipeline import Runtime
from reconciler.quick_read import CONFLICT_SUMMARY_COLUMNS
from reconciler.untrusted import for_rich as lit

app = typer.Typer(help="List, explain and decide conflicts.", no_args_is_help=True)

IdsArgument = Annotated[list[int], typer.Argument(help="Conflict id(s).", show_default=False)]
CommentOption = Annotated[str | None, typer.Option("--comment", "-c", help="Why (kept in the audit log).")]
ByOption = Annotated[
    str | None,
    typer.Option("--by", help="The person (key) deciding; default: recorded as cli:<your login name>.", show_default=False),
]


def _actor(session: Session, by: str | None) -> decisions.Actor:
    return decisions.cli_actor(session, by=by, os_user=getpass.getuser())


def conflict_summary(conflict: Conflict) -> dict[str, Any]:
    """A conflict's JSON in `conflicts list` and `show`: the fields the quick read selects too."""
    return {name: getattr(conflict, column) for name, column in CONFLICT_SUMMARY_COLUMNS}


MATCHER_KEYS = ("deliverable", "kind", "state", "severity", "owner", "role")


def _select_conflicts(
    session: Session,
    *,
    states: list[str],
    kind: str | None,
    deliverable: str | None,
    owner: str | None = None,
    role: str | None = None,
    since: datetime | None = None,
) -> list[Conflict]:
    stmt = select(Conflict).order_by(col(Conflict.opened_at).desc(), col(Conflict.id).desc())
    if states:
        stmt = stmt.where(col(Conflict.state).in_(states))
    if kind:
        stmt = stmt.where(Conflict.kind == kind)
    if deliverable:
        stmt = stmt.where(Conflict.deliverable_key == deliverable)
    if since is not None:
        stmt = stmt.where(Conflict.opened_at >= since)
    if owner or role:
        stmt = stmt.join(Deliverable, col(Deliverable.key) == col(Conflict.deliverable_key))
        if owner:
            stmt = stmt.where(Deliverable.owner_key == owner)
        if role:
            stmt = stmt.where(Deliverable.role == role)
    return list(session.exec(stmt))


def _check_matchers(matchers: dict[str, str]) -> None:
    """Unknown keys, and kinds, states or severities that match nothing, are typos: say so."""
    closed = {"kind": FINDING_KINDS, "state": CONFLICT_STATES, "severity": SEVERITIES}
    for key, value in matchers.items():
        if key not in MATCHER_KEYS:
            raise UserError(f"unknown matcher {key!r} (use {', '.join(MATCHER_KEYS)})")
        if key in closed:
            check_choice(key, value, closed[key], globs=True)


def _matching(rows: list[Conflict], matchers: dict[str, str], deliverables: dict[str, Deliverable]) -> list[Conflict]:
    """amtool-style KEY=VALUE filters; values may use shell globs (`kind=status*`)."""

    def fields(c: Conflict) -> dict[str, str]:
        d = deliverables.get(c.deliverable_key)
        return {
            "deliverable": c.deliverable_key,
            "kind": c.kind,
            "state": c.state,
            "severity": c.severity,
            "owner": (d.owner_key if d else None) or "",
            "role": (d.role if d else None) or "",
        }

    return [c for c in rows if all(fnmatchcase(fields(c)[k], v) for k, v in matchers.items())]


@app.command("list")
@handle_errors
def list_conflicts(
    state: Annotated[
        list[str] | None,
        typer.Option("--state", "-s", help="open, acknowledged, resolved, dismissed or all (default: open and acknowledged)."),
    ] = None,
    kind: Annotated[str | None, typer.Option("--kind", "-k", help="Rule, e.g. status_contradiction.")] = None,
    deliverable: Annotated[str | None, typer.Option("--deliverable", "-d")] = None,
    owner: Annotated[str | None, typer.Option("--owner", help="Decision owner (person key).")] = None,
    role: Annotated[str | None, typer.Option("--role")] = None,
    since: Annotated[str | None, typer.Option("--since", help="Opened within, e.g. 24h, 7d.")] = None,
    matchers: Annotated[
        list[str] | None,
        typer.Argument(help="KEY=VALUE filters (deliverable, kind, state, severity, owner, role); globs allowed.", show_default=False),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print ids only.")] = False,
    output: OutputOption = OutputFormat.TABLE,
    json_flag: JsonFlag = False,
    config: ConfigOption = None,
) -> None:
    """Conflicts, newest first (open and acknowledged unless --state says otherwise)."""
    states = _states(state)
    if kind is not None:
        check_choice("kind", kind, FINDING_KINDS)
    wanted = parse_matchers(matchers or [])
    _check_matchers(wanted)
    window = parse_duration(since) if since else None
    if "state" in wanted and not state:
        states = []
    with runtime(config) as rt, session_scope(rt.engine) as session:
        rows = _select_conflicts(
            session,
            states=states,
            kind=kind,
            deliverable=deliverable,
            owner=owner,
            role=role,
            since=rt.now() - window if window else None,
        )
        if wanted:
            rows = _matching(rows, wanted, store.deliverables_by_key(session, {r.deliverable_key for r in rows}))
        print_conflict_list(
            [conflict_summary(r) for r in rows], quiet=quiet, as_json=wants_json(output, json_flag), now=rt.now()
        )


def _states(values: list[str] | None) -> list[str]:
    if not values:
        return [s.value for s in ACTIVE_CONFLICT_STATES]
    if "all" in values:
        return []
    known = sorted(CONFLICT_STATES)
    for value in values:
        if value not in known:
            guess = closest(value, known)
            hint = f"did you mean {guess!r}? " if guess else ""
            raise UserError(f"unknown state {value!r} ({hint}use {', '.join(known)} or all)")
    return values


@app.command("show")
@handle_errors
def show_conflict(
    conflict_id: Annotated[int, typer.Argument(help="Conflict id.")],
    output: OutputOption = OutputFormat.TABLE,
    json_flag: JsonFlag = False,
    config: ConfigOption = None,
) -> None:
    """One conflict with its evidence side by side and its timeline."""
    with runtime(config) as rt, session_scope(rt.engine) as session:
        conflict = lifecycle.get_conflict(session, conflict_id)
        evidence = store.observations_by_id(session, conflict.evidence)
        names = store.author_names(session)
        views = [claim_view(evidence[i], names) for i in conflict.evidence if i in evidence]
        timeline = _timeline(session, conflict_id)
        if wants_json(output, json_flag):
            print_json({**conflict_summary(conflict), "evidence": views, "timeline": timeline})
            return
        _print_conflict(conflict, views, timeline)


def _timeline(session: Session, conflict_id: int) -> list[dict[str, Any]]:
    from reconciler.models import AuditEvent

    stmt = select(AuditEvent).where(AuditEvent.conflict_id == conflict_id).order_by(AuditEvent.at, AuditEvent.id)
    return [
        {"at": e.at, "actor": e.actor, "action": e.action, "comment": e.comment, "details": e.details}
        for e in session.exec(stmt)
    ]


def _print_conflict(conflict: Conflict, evidence: list[dict[str, Any]], timeline: list[dict[str, Any]]) -> None:
    console.print(
        f"[bold]Conflict {conflict.id}[/]  {lit(conflict.kind)}  {lit(f'[{conflict.state}]')}  severity {lit(conflict.severity)}"
    )
    console.print(f"Deliverable: {lit(conflict.deliverable_key)}")
    console.print(lit(conflict.summary))
    if conflict.suppressed_by:
        console.print(f"Muted: {lit(conflict.suppressed_by)}")
    console.print(f"Opened {local_time(conflict.opened_at)}, last seen {local_time(conflict.last_seen_at)}")
    if conflict.resolved_at:
        console.print(
            f"Closed {local_time(conflict.resolved_at)} by {lit(conflict.resolved_by)}"
            + (f": {lit(conflict.resolution_comment)}" if conflict.resolution_comment else "")
        )
    if evidence:
        table = Table(title="Evidence", box=None, pad_edge=False, show_lines=True)
        for name in ("SOURCE", "SAYS", "AUTHOR", "WHEN", "TEXT"):
            table.add_column(name, overflow="fold")
        for e in evidence:
            says, who, text = claim_cells(e)
            table.add_row(lit(e["source"]), says, who, local_time(e["stated_at"]), text)
        console.print(table)
    if timeline:
        console.print("[bold]Timeline[/]")
        for event in timeline:
            comment = f" — {event['comment']}" if event["comment"] else ""
            console.print(f"  {local_time(event['at'])}  {event['actor']}  {event['action']}{comment}", markup=False)
    from reconciler.messages import resolve_commands

    sources = tuple(dict.fromkeys(str(e["source"]) for e in evidence))
    commands = resolve_commands(conflict.id or 0, conflict.deliverable_key, conflict.kind, sources)
    console.print("\nDecide:\n" + "\n".join(f"  {command}" for command in commands), markup=False)


def _apply_to_each(ids: list[int], action: str, apply: Any, config: Any) -> None:
    with runtime(config) as rt:
        done: list[Conflict] = []
        for conflict_id in ids:
            with session_scope(rt.engine) as session:
                done.append(apply(session, conflict_id, rt.now(), rt.config))
        for conflict in done:
            console.print(f"conflict {conflict.id} {action} ({conflict.deliverable_key}, {conflict.kind})", markup=False)


ApplyOption = Annotated[
    bool,
    typer.Option(
        "--apply",
        help="Then post the decision where the evidence lives: a reply in each Slack thread, a comment on each "
        "Asana task (shows what and where, asks first). Task fields are not changed.",
    ),
]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="With --apply: do not ask.")]
DryRunOption = Annotated[
    bool, typer.Option("--dry-run", help="With --apply: print what would be written; record and write nothing.")
]
Decide = Callable[[Session, int, datetime, Any], Conflict]


@app.command("resolve")
@handle_errors
def resolve(
    ids: IdsArgument,
    accept: Annotated[str | None, typer.Option("--accept", "-a", help="Accept what this source says (asana, slack, manual).")] = None,
    status: Annotated[CanonicalStatus | None, typer.Option("--status", help="Set the canonical status.")] = None,
    target_date: Annotated[datetime | None, typer.Option("--date", formats=["%Y-%m-%d"], help="Set the target date.")] = None,
    owner: Annotated[str | None, typer.Option("--owner", help="Name the decision owner (a missing-owner finding).")] = None,
    comment: CommentOption = None,
    by: ByOption = None,
    apply: ApplyOption = False,
    yes: YesOption = False,
    dry_run: DryRunOption = False,
    config: ConfigOption = None,
) -> None:
    """Make the final call: accept one source, or set the value, or name the owner of a
    deliverable that has none (a stale one takes just the comment); --apply also tells the sources."""
    if not comment:
        raise UserError("a comment is required: -c \"why this is the answer\"")
    if accept is not None and (status is not None or target_date is not None):
        raise UserError("give either --accept SOURCE or --status/--date, not both")
    if owner is not None and (accept is not None or status is not None or target_date is not None):
        raise UserError("--owner names the owner of a deliverable that has none; it goes alone")
    if (yes or dry_run) and not apply:
        raise UserError("--yes and --dry-run go with --apply")
    if apply and not (dry_run or yes or _interactive()):
        raise UserError("--apply writes to Slack and Asana and asks first: run it on a terminal, or add --yes (or --dry-run)")
    day: date | None = target_date.date() if target_date else None

    def decide(session: Session, cid: int, now: datetime, config: Any) -> Conflict:
        if owner is not None:
            return decisions.assign_owner(
                session, cid, owner, actor=_actor(session, by), config=config, comment=comment, now=now
            )
        return decisions.resolve(
            session,
            cid,
            actor=_actor(session, by),
            config=config,
            comment=comment,
            now=now,
            accept_source=accept,
            status=status.value if status else None,
            target_date=day,
        )

    if not apply:
        _apply_to_each(ids, "resolved", decide, config)
        return
    with runtime(config, talks_to_apis=not dry_run) as rt:
        failures = _resolve_and_write_back(rt, ids, decide, dry_run=dry_run, yes=yes)
    if failures:
        raise typer.Exit(1)


def _interactive() -> bool:
    return sys.stdin.isatty()


def _resolve_and_write_back(rt: Runtime, ids: list[int], decide: Decide, *, dry_run: bool, yes: bool) -> int:
    """Show the plan, ask, record the decisions (committed), then write back; the failures."""
    plans = _preview(rt, ids, decide)
    for plan in plans:
        _print_plan(plan)
    _say(writeback.UNCHANGED_NOTE)
    if dry_run:
        _say("Dry run: nothing recorded, nothing written.")
        return 0
    writeback.required_tokens(rt.settings, plans)
    if not yes and not typer.confirm("Record the decision and write this back?", default=False):
        _say("Not confirmed: nothing recorded, nothing written.")
        raise typer.Exit(1)
    done: list[Conflict] = []
    for conflict_id in ids:
        with session_scope(rt.engine) as session:
            done.append(decide(session, conflict_id, rt.now(), rt.config))
    return _write_back(rt, done, {p.conflict_id: p for p in plans})


def _preview(rt: Runtime, ids: list[int], decide: Decide) -> list[writeback.Plan]:
    """The write-back plans of the decisions, decided in a transaction that is rolled back."""
    with Session(rt.engine, expire_on_commit=False) as session:
        try:
            return [writeback.plan(session, decide(session, cid, rt.now(), rt.config)) for cid in ids]
        finally:
            session.rollback()


def _write_back(rt: Runtime, done: list[Conflict], previews: dict[int, writeback.Plan]) -> int:
    work = []
    failures = 0
    for conflict in done:
        _say(f"conflict {conflict.id} resolved ({conflict.deliverable_key}, {conflict.kind})")
        with session_scope(rt.engine) as session:
            plan = writeback.plan(session, conflict)
        if plan != previews.get(plan.conflict_id):
            err_console.print(f"error: conflict {conflict.id}: changed since the preview; nothing written back",
                              markup=False, soft_wrap=True)
            failures += 1
            continue
        work.append((conflict, plan))
    failures += _execute(rt, work)
    if failures:
        ids = " ".join(str(c.id) for c in done)
        _say(f"The decision is recorded; {failures} write-back(s) failed (see the audit log). "
             f"Retry what failed with: reconciler conflicts writeback {ids}")
    return failures


@app.command("writeback")
@handle_errors
def write_back_again(
    ids: IdsArgument, yes: YesOption = False, dry_run: DryRunOption = False, config: ConfigOption = None
) -> None:
    """Post a decided conflict's decision where it has not been posted yet: the targets an
    earlier --apply failed on or never reached. A target already written is never written again."""
    if not (dry_run or yes or _interactive()):
        raise UserError("writeback writes to Slack and Asana and asks first: run it on a terminal, or add --yes (or --dry-run)")
    with runtime(config, talks_to_apis=not dry_run) as rt:
        with session_scope(rt.engine) as session:
            decided = [_decided(session, cid) for cid in ids]
            plans = [writeback.without(writeback.plan(session, c), writeback.written(session, c.id or 0)) for c in decided]
        for plan in plans:
            _print_plan(plan)
        if not any(plan.targets for plan in plans):
            _say("Nothing left to write back.")
            return
        if dry_run:
            _say("Dry run: nothing written.")
            return
        writeback.required_tokens(rt.settings, plans)
        if not yes and not typer.confirm("Write this back?", default=False):
            _say("Not confirmed: nothing written.")
            raise typer.Exit(1)
        failures = _execute(rt, [(c, p) for c, p in zip(decided, plans, strict=True) if p.targets])
    if failures:
        raise typer.Exit(1)


def _decided(session: Session, conflict_id: int) -> Conflict:
    conflict = session.get(Conflict, conflict_id)
    if conflict is None:
        raise UserError(f"no conflict {conflict_id}")
    if conflict.state != ConflictState.RESOLVED or conflict.resolved_by in (None, "auto"):
        raise UserError(f"conflict {conflict_id} has no decision to write back ({conflict.state}"
                        f"{', closed by the reconciler' if conflict.resolved_by == 'auto' else ''}): "
                        "conflicts resolve ID ... --apply records one and writes it back")
    return conflict


def _execute(rt: Runtime, work: list[tuple[Conflict, writeback.Plan]]) -> int:
    failures = 0
    clients = writeback.clients(rt.settings, rt.rate_limiter)
    try:
        for conflict, plan in work:
            outcomes = writeback.execute(plan, clients, scrub=rt.scrub)
            with session_scope(rt.engine) as session:
                writeback.record(session, plan, outcomes, actor=conflict.resolved_by or "cli", now=rt.now())
            failures += _print_outcomes(outcomes)
    finally:
        clients.close()
    return failures


def _print_plan(plan: writeback.Plan) -> None:
    _say(f"Conflict {plan.conflict_id} ({plan.deliverable_key}): write-back")
    _say(f"  text: {plan.text}")
    for target in plan.targets:
        _say(f"  {target.describe()}")
    for note in plan.skipped:
        _say(f"  skipped: {note}")
    if not plan.targets:
        _say("  nothing to write: no Slack message or Asana task among its evidence")


def _print_outcomes(outcomes: list[writeback.Outcome]) -> int:
    for outcome in outcomes:
        if outcome.ok:
            what = "reply" if outcome.target.source == "slack" else "comment"
            _say(f"  wrote {outcome.target.label}: {what} {outcome.detail}")
        else:
            err_console.print(f"error: {outcome.detail}", markup=False, soft_wrap=True)
    return sum(not o.ok for o in outcomes)


def _say(line: str) -> None:
    console.print(line, markup=False, soft_wrap=True)


@app.command("ack")
@handle_errors
def acknowledge(ids: IdsArgument, comment: CommentOption = None, by: ByOption = None, config: ConfigOption = None) -> None:
    """Acknowledge: you are on it; escalation stops."""
    _apply_to_each(
        ids,
        "acknowledged",
        lambda session, cid, now, cfg: decisions.acknowledge(
            session, cid, actor=_actor(session, by), config=cfg, comment=comment, now=now
        ),
        config,
    )


@app.command("dismiss")
@handle_errors
def dismiss(ids: IdsArgument, comment: CommentOption = None, by: ByOption = None, config: ConfigOption = None) -> None:
    """Not a real contradiction; stays closed unless new evidence arrives."""
    if not comment:
        raise UserError("a comment is required: -c \"why this is not a conflict\"")
    _apply_to_each(
        ids,
        "dismissed",
        lambda session, cid, now, cfg: decisions.dismiss(
            session, cid, actor=_actor(session, by), config=cfg, comment=comment, now=now
        ),
        config,
    )


@app.command("reopen")
@handle_errors
def reopen(ids: IdsArgument, comment: CommentOption = None, by: ByOption = None, config: ConfigOption = None) -> None:
    """Open a resolved or dismissed conflict again."""
    _apply_to_each(
        ids,
        "reopened",
        lambda session, cid, now, cfg: decisions.reopen(
            session, cid, actor=_actor(session, by), config=cfg, comment=comment, now=now
        ),
        config,
    )
