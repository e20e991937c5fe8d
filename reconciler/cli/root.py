"""The `reconciler` command as a Typer app: nouns and verbs over the one pipeline and the one store."""

from __future__ import annotations

from typing import Annotated

import typer

from reconciler.cli import admin, alerts, conflicts, deliverables, init, owners, people, pipeline, records, slackapp, web
from reconciler.cli.common import handle_errors
from reconciler.settings import get_settings

app = typer.Typer(
    name="reconciler",
    help="Keep Asana and Slack telling the same story: sync, find contradictions, tell the owner.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

@app.callback()
@handle_errors
def _configure(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log every step to stderr.")] = False,
) -> None:
    """Structured logs (JSON when stderr is not a terminal), tokens scrubbed from every line."""
    from reconciler.compose import configure_logging

    configure_logging(get_settings(), level="INFO" if verbose else "WARNING")


app.command("init")(init.init)
app.command("sync")(pipeline.sync)
app.command("reconcile")(pipeline.reconcile)
app.command("notify")(pipeline.notify)
app.command("run")(pipeline.run)
app.command("demo")(pipeline.demo)
app.command("slack-app")(slackapp.slack_app)
app.command("claim")(records.claim)
app.command("audit")(records.audit)
app.command("status")(admin.status)
app.command("serve")(web.serve)
app.add_typer(conflicts.app, name="conflicts")
app.add_typer(deliverables.app, name="deliverables")
app.add_typer(owners.app, name="owners")
app.add_typer(people.app, name="people")
app.add_typer(alerts.snooze_app, name="snooze")
app.add_typer(alerts.route_app, name="route")
app.add_typer(admin.config_app, name="config")
app.add_typer(admin.db_app, name="db")
app.add_typer(admin.sandbox_app, name="sandbox")

