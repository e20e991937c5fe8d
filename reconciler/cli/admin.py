"""`reconciler config check | db upgrade | sandbox serve | status`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from connectors.base import Source
from reconciler.cli.common import (
    ConfigOption,
    JsonFlag,
    OutputFormat,
    OutputOption,
    console,
    err_console,
    handle_errors,
    print_json,
    wants_json,
)
from reconciler.cli.context import config_path_for, runtime
from reconciler.cli.read_views import print_status
from reconciler.pipeline import open_store
from reconciler.protocol import Config, ConfigProblem, config_problems, load_config, read_config_data
from reconciler.settings import Settings, get_settings, scrub

if TYPE_CHECKING:  # the API clients load only for `config check --online`
    from reconciler.online_check import OnlineReport

config_app = typer.Typer(help="Check the config file.", no_args_is_help=True)
db_app = typer.Typer(help="Manage the store's schema.", no_args_is_help=True)
sandbox_app = typer.Typer(help="The local Asana + Slack API stand-in.", no_args_is_help=True)


@config_app.command("check")
@handle_errors
def config_check(
    config: ConfigOption = None,
    online: Annotated[
        bool, typer.Option("--online", help="Also ask Asana and Slack whether everything named exists.")
    ] = False,
    json_flag: JsonFlag = False,
) -> None:
    """Validate the config file: every problem in one run (field, what is wrong, the closest
    valid value); with --online, then against the APIs (tokens and scopes, projects, the status
    field and its options, channels and the bot in them, people, each deliverable's task)."""
    settings = get_settings()
    path = config_path_for(settings, config)
    problems = config_problems(read_config_data(path))
    checked: list[str] = []
    if not problems and online:
        report = _check_online(settings, load_config(path))
        problems, checked = report.problems, report.checked
    if json_flag:
        print_json(
            {"file": str(path), "ok": not problems, "online": online, "checked": checked,
             "problems": [_problem_json(p) for p in problems]}
        )
        raise typer.Exit(1 if problems else 0)
    for line in checked:
        console.print(f"ok: {escape(line)}", soft_wrap=True)
    for problem in problems:
        err_console.print(f"[bold red]error:[/] {escape(f'{path}: {problem.text}')}", soft_wrap=True)
    if len(problems) > 1:
        err_console.print(f"{len(problems)} problems in {escape(str(path))}", soft_wrap=True)
    if problems:
        raise typer.Exit(1)
    loaded = load_config(path)
    unowned = [d.key for d in loaded.deliverables if d.owner is None]
    console.print(
        f"{path}: ok — {len(loaded.people)} people, {len(loaded.roles)} roles, "
        f"{len(loaded.deliverables)} deliverables"
        + (f" (+ {len(loaded.deliverable_rules)} deliverable rules)" if loaded.deliverable_rules else "")
        + f", {len(loaded.source(Source.ASANA).projects)} Asana projects, "
        f"{len(loaded.source(Source.SLACK).channels)} Slack channels"
    )
    if unowned:
        console.print(f"without a decision owner: {', '.join(unowned)}")


def _check_online(settings: Settings, loaded: Config) -> OnlineReport:
    from reconciler.online_check import check_online

    from connectors.workspace import AsanaWorkspaceReader, SlackWorkspaceReader

    asana_token, slack_token = settings.asana_token, settings.slack_bot_token
    asana = (
        AsanaWorkspaceReader(
            token=asana_token.get_secret_value(), base_url=settings.asana_base_url, timeout=settings.http_timeout
        )
        if asana_token is not None
        else None
    )
    slack = (
        SlackWorkspaceReader(
            token=slack_token.get_secret_value(), base_url=settings.slack_base_url, timeout=settings.http_timeout
        )
        if slack_token is not None
        else None
    )
    try:
        report = check_online(loaded, asana=asana, slack=slack)
    finally:
        if asana is not None:
            asana.close()
    secrets = settings.secrets()
    report.problems = [
        ConfigProblem(p.field, scrub(p.message, secrets), p.suggestion) for p in report.problems
    ]
    return report


def _problem_json(problem: ConfigProblem) -> dict[str, str | None]:
    return {"field": problem.field, "message": problem.message, "suggestion": problem.suggestion}


@db_app.command("upgrade")
@handle_errors
def db_upgrade() -> None:
    """Apply pending schema migrations to DATABASE_URL."""
    from reconciler.db import describe_url

    engine = open_store(get_settings().database_url)
    console.print(f"{describe_url(engine)}: schema up to date")


@sandbox_app.command("serve")
@handle_errors
def sandbox_serve(
    scenario: Annotated[Path | None, typer.Option("--scenario", help="Scenario JSON (default: the bundled demo).")] = None,
    port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1 (0 = any free port).")] = 8765,
) -> None:
    """Serve the sandbox until Ctrl-C; point ASANA_BASE_URL and SLACK_BASE_URL at it."""
    from reconciler.compose import sandbox as serve_sandbox

    with serve_sandbox(scenario, port=port) as sandbox:
        console.print(f"ASANA_BASE_URL={sandbox.asana_base_url}")
        console.print(f"SLACK_BASE_URL={sandbox.slack_base_url}")
        console.print("Serving; Ctrl-C to stop.")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


@handle_errors
def status(
    output: OutputOption = OutputFormat.TABLE,
    json_flag: JsonFlag = False,
    config: ConfigOption = None,
) -> None:
    """Health: each partition's last sync and error, queue depth, notifications pending/failed."""
    from reconciler.compose import collect_status

    with runtime(config) as rt:
        data = collect_status(rt)
        now = rt.now()
    code = print_status(data, as_json=wants_json(output, json_flag), now=now)
    if code:
        raise typer.Exit(code)
