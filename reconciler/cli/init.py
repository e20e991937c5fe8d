"""`reconciler init`: from two tokens to a commented reconciler.toml."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.markup import escape

from reconciler.cli.common import UserError, console, err_console, handle_errors
from reconciler.cli.context import config_path_for
from reconciler.protocol import config_problems
from reconciler.settings import get_settings

if TYPE_CHECKING:  # reconciler.onboarding brings the API clients: loaded by `init` alone
    from reconciler.onboarding import Choices, Discovery

T = TypeVar("T")


def _pick(
    what: str,
    items: list[T],
    names: list[str],
    wanted: list[str] | None,
    default: list[int],
    ask: bool,
    labels: list[str] | None = None,
) -> list[T]:
    """Items named by flags (name or id), else asked for by number, else the defaults."""
    if wanted:
        picked = []
        for name in wanted:
            index = next((i for i, n in enumerate(names) if name in (n, n.split(" ")[0], n.lstrip("#"))), None)
            if index is None:
                from reconciler.choices import unknown_message

                raise UserError(unknown_message(what, name, names))
            picked.append(items[index])
        return picked
    if not ask:
        return [items[i] for i in default]
    console.print(f"[bold]{what.capitalize()}s[/]")
    for i, label in enumerate(labels or names, start=1):
        console.print(f"  {i}. {escape(label)}")
    answer = typer.prompt(
        f"Which {what}s (numbers, comma-separated)",
        default=",".join(str(i + 1) for i in default) or "none",
    )
    if answer.strip().lower() == "none":
        return []
    try:
        return [items[int(part) - 1] for part in answer.replace(" ", "").split(",") if part]
    except (ValueError, IndexError):
        raise UserError(f"not a list of numbers between 1 and {len(items)}: {answer!r}") from None


def _interactive() -> bool:
    """Questions only on a terminal: a script without --yes gets the proposals."""
    return sys.stdin.isatty()


@handle_errors
def init(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Where to write (default: $RECONCILER_CONFIG or ./reconciler.toml).")
    ] = None,
    workspace: Annotated[str | None, typer.Option("--workspace", help="Asana workspace gid or name (default: the first).")] = None,
    projects: Annotated[
        list[str] | None, typer.Option("--project", "-p", help="Asana project gid or name to sync (repeatable; default: all).")
    ] = None,
    status_field: Annotated[
        str | None, typer.Option("--status-field", help="The enum custom field carrying status (default: proposed).")
    ] = None,
    channels: Annotated[
        list[str] | None, typer.Option("--channel", "-c", help="Slack channel name or id (repeatable; default: those the bot is in).")
    ] = None,
    lead: Annotated[str | None, typer.Option("--lead", help="Person key (or email) who gets escalations.")] = None,
    rules: Annotated[
        bool, typer.Option("--rules/--no-rules", help="Every open task of the projects is a deliverable, owned by its assignee.")
    ] = True,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Ask nothing: take the flags and the proposed defaults.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file without asking.")] = False,
) -> None:
    """Discover the workspace with ASANA_TOKEN and SLACK_BOT_TOKEN, choose what to sync, and
    write a commented reconciler.toml (never over an existing file without asking)."""
    _init(output, workspace, projects, status_field, channels, lead, rules, yes, force)


def _init(
    output: Path | None,
    workspace: str | None,
    projects: list[str] | None,
    status_field: str | None,
    channels: list[str] | None,
    lead: str | None,
    rules: bool,
    yes: bool,
    force: bool,
) -> None:
    from connectors.workspace import AsanaWorkspaceReader, SlackWorkspaceReader
    from reconciler.onboarding import discover, render_config

    settings = get_settings()
    path = output or config_path_for(settings, None)
    ask = not yes and _interactive()
    if path.exists() and not force:
        if not ask:
            raise UserError(f"{path} exists; pass --force to overwrite it, or -o to write elsewhere")
        if not typer.confirm(f"{path} exists. Overwrite it?", default=False):
            raise typer.Exit(1)
    missing = [v for v, t in (("ASANA_TOKEN", settings.asana_token), ("SLACK_BOT_TOKEN", settings.slack_bot_token)) if t is None]
    if missing:
        raise UserError(f"set {' and '.join(missing)} first (README: Connect your workspace)")
    assert settings.asana_token is not None and settings.slack_bot_token is not None
    asana = AsanaWorkspaceReader(
        token=settings.asana_token.get_secret_value(), base_url=settings.asana_base_url, timeout=settings.http_timeout
    )
    slack = SlackWorkspaceReader(
        token=settings.slack_bot_token.get_secret_value(), base_url=settings.slack_base_url, timeout=settings.http_timeout
    )
    try:
        found = discover(asana, slack, workspace=workspace)
        choices = _choose(found, asana, projects, status_field, channels, lead, rules, ask)
    finally:
        asana.close()
    text = render_config(choices)
    import tomllib

    problems = config_problems(tomllib.loads(text))
    if problems:  # a bug here, not the user's: say what it is rather than write a broken file
        raise UserError(f"the proposed config is not valid ({problems[0].text}); nothing written")
    path.write_text(text + "\n")
    console.print(
        f"Wrote {escape(str(path))}: {len(choices.projects)} Asana project(s), {len(choices.channels)} Slack "
        f"channel(s), {len(choices.people)} people. Next: reconciler config check --online"
    )
    unmapped = [o for o, s in choices.status_map.items() if s is None]
    if unmapped:
        err_console.print(f"set a status for {', '.join(map(repr, unmapped))} in [asana.status_map]", markup=False)


def _choose(
    found: Discovery,
    asana: object,
    projects: list[str] | None,
    status_field: str | None,
    channels: list[str] | None,
    lead: str | None,
    rules: bool,
    ask: bool,
) -> Choices:
    from connectors.workspace import AsanaWorkspaceReader
    from reconciler.onboarding import Choices, field_options, most_common_timezone, propose_status, status_fields

    assert isinstance(asana, AsanaWorkspaceReader)
    if not found.projects:
        raise UserError(f"the Asana token sees no project in {found.workspace[1]}")
    chosen = _pick(
        "project",
        found.projects,
        [p.name for p in found.projects],
        [_by_gid(p, found) for p in projects] if projects else None,
        list(range(len(found.projects))),
        ask,
    )
    detailed = [asana.project(p.gid) for p in chosen]
    if ask and (found.teams or found.portfolios):
        listing = [f"team {n} ({g})" for g, n in found.teams] + [f"portfolio {n} ({g})" for g, n in found.portfolios]
        console.print(f"Also there (see the comments in the file to sync them whole): {escape(', '.join(listing))}")
    if ask:
        for project in detailed:
            fields = "; ".join(f"{f.name} ({', '.join(f.options)})" for f in project.enum_fields) or "none"
            console.print(
                f"{escape(project.name)} ({project.gid}): enum fields: {escape(fields)}; "
                f"sections: {escape(', '.join(project.sections) or 'none')}"
            )
    candidates = status_fields(detailed)
    if status_field is not None and status_field not in candidates:
        from reconciler.choices import unknown_message

        raise UserError(unknown_message("status field", status_field, candidates or ["(none: no enum custom field)"]))
    field = status_field or (candidates[0] if candidates else None)
    if ask and candidates and status_field is None:
        field = typer.prompt(f"Status field ({', '.join(candidates)})", default=field)
        if field not in candidates:
            raise UserError(f"no enum custom field {field!r} (use {', '.join(candidates)})")
    member = [i for i, c in enumerate(found.channels) if c.is_member]
    picked_channels = _pick(
        "channel",
        found.channels,
        [c.name for c in found.channels],
        [next((c.name for c in found.channels if c.id == wanted), wanted) for wanted in channels] if channels else None,
        member,
        ask,
        labels=[f"#{c.name}" + ("" if c.is_member else " (the bot is not in it: /invite it first)") for c in found.channels],
    )
    people = found.people
    keys = [p.key for p in people]
    if lead is not None:
        match = next((p.key for p in people if lead in (p.key, p.email)), None)
        if match is None:
            from reconciler.choices import unknown_message

            raise UserError(unknown_message("person", lead, keys))
        lead = match
    elif ask and people:
        console.print(f"{len(people)} people (Slack and Asana users joined by email)")
        lead = typer.prompt(f"Who leads the team (gets escalations)? ({', '.join(keys)})", default=keys[0])
        if lead not in keys:
            raise UserError(f"unknown person {lead!r} (use {', '.join(keys)})")
    status_map = {o: propose_status(o) for o in field_options(detailed, field)} if field else {}
    return Choices(
        workspace=found.workspace[0],
        projects=detailed,
        status_field=field,
        channels=picked_channels,
        people=people,
        timezone=most_common_timezone(people),
        lead=lead,
        rules=rules,
        status_map=status_map,
        teams=found.teams,
        portfolios=found.portfolios,
    )


def _by_gid(name_or_gid: str, found: Discovery) -> str:
    """Flags may name a project by gid; `_pick` matches names."""
    return next((p.name for p in found.projects if p.gid == name_or_gid), name_or_gid)
