"""The Slack app: slack-bolt listeners and the two ways to connect them.

Every listener acknowledges first (Slack wants an answer within 3 seconds) and does the work
after the ack in Bolt's listener threads; only a modal's form checks, which need no database,
run before its ack so that Slack can show the errors next to the inputs. The same `App` serves
Socket Mode (an app-level token, no public URL) and HTTP (a signed request URL), and is the place
where more listeners (the message events of real-time sync) can be added on the same connection.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Sequence
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from slack_bolt import Ack, App, BoltContext, BoltRequest, Respond
from slack_sdk import WebClient

from connectors.plugin import PushReceiver
from reconciler import message_actions
from reconciler.pipeline import Runtime
from reconciler.slackapp import render
from reconciler.slackapp.events import SlackEventIntake
from reconciler.slackapp.render import ModalContext
from reconciler.slackapp.service import SlackDecisions

log = logging.getLogger(__name__)

ACTIONS = re.compile("^" + re.escape(message_actions.ACTION_PREFIX))
COMMAND = "/reconciler"
HOME_OPENED = "app_home_opened"
MESSAGE_EVENTS = ("message.channels", "message.groups")  # real-time sync: messages in public/private channels
MEMBERSHIP_EVENTS = ("channel_rename", "member_joined_channel")
EVENTS = (HOME_OPENED, *MESSAGE_EVENTS, *MEMBERSHIP_EVENTS)  # the bot events slack/manifest.yaml subscribes to
EVENTS_PATH = "/slack/events"


class _ClientTokenNotice(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN itself and warns that the given client's token wins: it is the same token."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


class _NoRequestBodies(logging.Filter):
    """Bolt logs a refused request's raw body at INFO (its signature check) and request bodies in
    some warnings (a middleware that did not call next, an unhandled request). A body carries
    what people wrote and, in form posts, a verification token: the message keeps what happened
    and drops the body. Bolt's own debug lines (DEBUG only) are left as they are."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.INFO:
            return True
        message = record.getMessage()
        cut = _body_start(message)
        if cut is not None:
            record.msg, record.args = message[:cut].rstrip(" ,(:") + " (request body not logged)", ()
        return True


def _body_start(message: str) -> int | None:
    """Where a request body starts in one of Bolt's messages (None: the message has none)."""
    if message.startswith("Invalid request signature detected"):
        return message.find("(") if "(" in message else len(message)
    found = [i for i in (message.find("{'"), message.find('{"')) if i >= 0]
    return min(found) if found else None


def _guard_bolt_loggers() -> None:
    """Every logger Bolt has made so far (the app's and one per middleware) gets the filter;
    logger filters do not apply to a child's records, so each needs its own."""
    names = [n for n in logging.Logger.manager.loggerDict if n == "slack_bolt" or n.startswith("slack_bolt.")]
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _NoRequestBodies) for f in logger.filters):
            logger.addFilter(_NoRequestBodies())


def build_app(
    rt: Runtime, client: WebClient, *, signing_secret: str | None = None, events: SlackEventIntake | None = None
) -> tuple[App, SlackDecisions]:
    """The Bolt app with every listener registered, and the service they delegate to; message
    events of the synced channels go to `events` (by default an intake over `rt`)."""
    bolt_log = logging.getLogger("slack_bolt.App")
    if not any(isinstance(f, _ClientTokenNotice) for f in bolt_log.filters):
        bolt_log.addFilter(_ClientTokenNotice())
    app = App(client=client, signing_secret=signing_secret or "", process_before_response=False, name="reconciler")
    _guard_bolt_loggers()
    service = SlackDecisions(rt=rt, client=client)
    register(app, service, events or SlackEventIntake(rt))
    return app, service


def register(app: App, service: SlackDecisions, events: SlackEventIntake) -> None:
    @app.action(ACTIONS)
    def on_click(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        action = (body.get("actions") or [{}])[0]
        ref = message_actions.parse_action(action)
        if ref is None:
            return
        container = body.get("container") or {}
        service.click(
            user=body["user"]["id"],
            ref=ref,
            channel=container.get("channel_id"),
            message_ts=container.get("message_ts"),
            trigger_id=body.get("trigger_id"),
            selected_user=action.get("selected_user"),
        )

    @app.view(render.SET_VALUE_CALLBACK)
    def on_set_value(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        context = ModalContext.load(view.get("private_metadata"))
        form, errors = render.read_set_value(view["state"]["values"], optional=context.optional)
        if form is None:
            ack(response_action="errors", errors=errors)
            return
        ack()
        service.submit_set_value(user=body["user"]["id"], context=context, form=form)

    @app.view(render.SNOOZE_CALLBACK)
    def on_snooze(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        choice, errors = render.read_snooze(view["state"]["values"])
        if choice is None:
            ack(response_action="errors", errors=errors)
            return
        ack()
        duration, comment = choice
        service.submit_snooze(
            user=body["user"]["id"], context=ModalContext.load(view.get("private_metadata")), duration=duration, comment=comment
        )

    @app.event(HOME_OPENED)
    def on_home_opened(event: dict[str, Any]) -> None:  # Bolt acknowledges events itself
        if event.get("tab", "home") == "home":
            service.publish_home(event["user"])

    @app.event("message")
    def on_message(body: dict[str, Any], event: dict[str, Any], request: BoltRequest) -> None:
        events.on_message(event, event_id=body.get("event_id"), retry_num=_retry_num(request))

    @app.event("channel_rename")
    def on_channel_rename(event: dict[str, Any]) -> None:
        events.on_channel_rename(event)

    @app.event("member_joined_channel")
    def on_member_joined(event: dict[str, Any], context: BoltContext) -> None:
        events.on_member_joined(event, bot_user_id=context.bot_user_id)

    @app.command(COMMAND)
    def on_command(ack: Ack, command: dict[str, Any], respond: Respond) -> None:
        ack()
        blocks = service.answer_command(command["user_id"], command.get("text") or "")
        respond(text="reconciler", blocks=blocks, response_type="ephemeral")

    @app.error
    def on_error(error: Exception) -> None:
        log.warning("Slack app listener failed: %s: %s", type(error).__name__, service.rt.scrub(str(error)))


def _retry_num(request: BoltRequest) -> int:
    """X-Slack-Retry-Num (HTTP), or the envelope's retry_attempt (Socket Mode, mirrored by Bolt)."""
    values = request.headers.get("x-slack-retry-num") or []
    try:
        return int(values[0]) if values else 0
    except ValueError:
        return 0


def follow_changes(service: SlackDecisions, *, every: float, stop: threading.Event) -> threading.Thread:
    """A thread that keeps DMs and Home tabs in step with decisions taken elsewhere (the CLI,
    the reconciler closing a finding by itself) by following the audit log every `every` s."""

    def loop() -> None:
        seen = service.latest_change()
        while not stop.wait(every):
            try:
                seen = service.catch_up(seen)
            except Exception as exc:  # noqa: BLE001 - keep following; the next pass retries
                log.warning("following changes failed: %s: %s", type(exc).__name__, service.rt.scrub(str(exc)))

    thread = threading.Thread(target=loop, name="slack-app:follow-changes", daemon=True)
    thread.start()
    return thread


# -- connecting -----------------------------------------------------------------------------


def socket_mode_handler(app: App, *, app_token: str, client: WebClient) -> Any:
    """Socket Mode: the app opens the WebSocket (apps.connections.open) with its xapp- token."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    return SocketModeHandler(app, app_token=app_token, web_client=client, ping_interval=10)


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - request lines go to our own log
        log.debug("http %s", args[0] if args else "")


def http_server(app: App, *, host: str, port: int, pushes: Sequence[PushReceiver] = ()) -> WSGIServer:
    """HTTP mode: Events API, interactivity and the slash command all POST to /slack/events,
    each request's signature checked against the signing secret by Bolt; each of `pushes` (a
    source's push receiver, Asana's webhooks) gets the requests under its `path_prefix`."""
    from slack_bolt.adapter.wsgi import SlackRequestHandler

    bolt = SlackRequestHandler(app, path=EVENTS_PATH)

    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("PATH_INFO") == "/healthz":
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok\n"]
        path = str(environ.get("PATH_INFO") or "")
        receiver = next((r for r in pushes if path.startswith(r.path_prefix)), None)
        if receiver is not None:
            return receiver.wsgi(environ, start_response)
        return bolt(environ, start_response)

    return make_server(host, port, wsgi, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler)
