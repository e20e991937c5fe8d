"""`reconciler slack-app`: run the Slack app (buttons, modals, Home tab, /reconciler)."""

from __future__ import annotations

import threading
from typing import Annotated

import typer

from reconciler.cli.common import ConfigOption, UserError, err_console, handle_errors
from reconciler.cli.context import runtime
from reconciler.settings import get_settings


FOLLOW_EVERY = 30.0  # seconds between looks at decisions taken elsewhere


@handle_errors
def slack_app(
    http: Annotated[
        bool,
        typer.Option(
            "--http",
            envvar="SLACK_APP_HTTP",
            help="Serve Slack's request URLs over HTTP (needs SLACK_SIGNING_SECRET) instead of Socket Mode.",
        ),
    ] = False,
    host: Annotated[str, typer.Option("--host", help="With --http: the address to listen on.")] = "0.0.0.0",
    port: Annotated[int, typer.Option("--port", help="With --http: the port (requests go to /slack/events).")] = 3000,
    asana_webhook_url: Annotated[
        str | None,
        typer.Option(
            "--asana-webhook-url",
            envvar="ASANA_WEBHOOK_URL",
            help="With --http: this server's public base URL; Asana webhooks for the synced projects "
            "deliver to it (/asana/webhooks/PROJECT).",
        ),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Owners decide from Slack: Socket Mode by default (SLACK_APP_TOKEN, no public URL), or
    HTTP with --http. Shares the store with the workers."""
    from slack_bolt.error import BoltError
    from slack_sdk.errors import SlackApiError
    from reconciler.compose import configure_logging

    from reconciler import pipeline
    from reconciler.slackapp.app import build_app, follow_changes, http_server, socket_mode_handler
    from reconciler.push import all_pushes
    from reconciler.slackapp.events import SlackEventIntake, keep_alive

    settings = get_settings()
    configure_logging(settings, level="INFO")
    if settings.slack_bot_token is None:
        raise UserError("the Slack app needs SLACK_BOT_TOKEN (the bot token, xoxb-…)")
    if http and settings.slack_signing_secret is None:
        raise UserError("--http needs SLACK_SIGNING_SECRET (Basic Information → App Credentials in the app's settings)")
    if asana_webhook_url and not http:
        raise UserError("--asana-webhook-url needs --http: Asana delivers webhooks to this server's public URL")
    if not http and settings.slack_app_token is None:
        raise UserError("Socket Mode needs SLACK_APP_TOKEN (an app-level token, xapp-…, with connections:write); "
                        "or run with --http")
    with runtime(config) as rt:
        client = pipeline.slack_client(rt)
        secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None
        intake = SlackEventIntake(rt)
        try:
            app, _service = build_app(rt, client, signing_secret=secret, events=intake)
        except BoltError:  # auth.test failed; its message would quote Slack's whole answer
            raise UserError("Slack refused SLACK_BOT_TOKEN (auth.test failed): check the bot token") from None
        follow_changes(_service, every=FOLLOW_EVERY, stop=threading.Event())
        if http:
            pushes = all_pushes(rt, public_url=asana_webhook_url, alarm=intake.alarm) if asana_webhook_url else []
            server = http_server(app, host=host, port=port, pushes=[p.receiver for p in pushes])
            err_console.print(f"Slack app listening on http://{host}:{port}/slack/events", markup=False)
            for pushed in pushes:
                pushed.receiver.watch(threading.Event())  # the handshake needs the server up
            try:
                server.serve_forever()
            except KeyboardInterrupt:
                server.shutdown()
            return
        assert settings.slack_app_token is not None
        err_console.print("Slack app connecting in Socket Mode", markup=False)
        handler = socket_mode_handler(app, app_token=settings.slack_app_token.get_secret_value(), client=client)
        try:
            handler.connect()
        except SlackApiError as exc:
            code = exc.response.get("error") if exc.response is not None else "no answer"
            raise UserError(f"Slack refused SLACK_APP_TOKEN for Socket Mode ({code}): it must be an app-level "
                            "token (xapp-…) with connections:write") from None
        err_console.print("Slack app connected (Socket Mode); Ctrl-C stops it", markup=False)
        keep_alive(intake, connected=handler.client.is_connected, stop=threading.Event())
        try:
            threading.Event().wait()  # the client's threads serve and reconnect when Slack says so
        except KeyboardInterrupt:
            handler.close()
