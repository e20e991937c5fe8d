"""The shared state board: a read-only, server-rendered Starlette app over the store.

Pages read through `reconciler.board` and render Jinja templates with autoescaping on, so every
text that came from Slack or Asana reaches the browser as text. The only script is the bundled
`static/refresh.js` (a Content-Security-Policy forbids any other), which re-fetches the part of
a page marked `data-refresh` and swaps it in.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from reconciler import board
from reconciler.db import session_scope
from reconciler.pipeline import Runtime
from reconciler.web import graph, health
from reconciler.web.auth import AccessMiddleware, AccessSettings

STATIC_DIR = Path(__file__).parent / "static"
FRAGMENT_HEADER = "x-fragment"
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
MAX_DUE_DAYS = 3650


def safe_url(url: str | None) -> str | None:
    """Only http(s) links from a source become links (never `javascript:` and friends)."""
    if not url:
        return None
    return url if urlsplit(url.strip()).scheme.lower() in ("http", "https") else None


def relative(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "never"
    seconds = (now - moment).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            amount = f"{int(seconds // size)} {unit}"
            return f"in {amount}" if future else f"{amount} ago"
    return "just now"


def span(delta: timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {rest // 60} min"
    return f"{rest // 60} min"


def make_environment(timezone: str) -> Environment:
    env = Environment(
        loader=PackageLoader("reconciler.web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    zone = ZoneInfo(timezone)

    def local(moment: datetime | None, fmt: str = "%b %d, %H:%M") -> str:
        return moment.astimezone(zone).strftime(fmt) if moment else "–"

    def day(value: date | None) -> str:
        return value.strftime("%a %b %d") if value else "–"

    def label(value: str | None) -> str:
        return (value or "unknown").replace("_", " ")

    env.filters.update(local=local, day=day, label=label, safe_url=safe_url, span=span)
    env.globals.update(relative=relative, statuses=board.STATUSES, tz_name=timezone)
    return env


def _int_param(value: str | None, *, low: int, high: int) -> int | None:
    if value is None or not value.strip():
        return None
    try:
        number = int(value)
    except ValueError:
        return None
    return min(max(number, low), high)


def board_filter(request: Request) -> board.BoardFilter:
    q = request.query_params
    return board.BoardFilter(
        role=q.get("role") or None,
        owner=q.get("owner") or None,
        status=q.get("status") or None,
        has_findings=q.get("findings") in ("1", "on", "yes", "true"),
        due_within_days=_int_param(q.get("due"), low=0, high=MAX_DUE_DAYS),
    )


def filter_query(wanted: board.BoardFilter) -> str:
    """The query string for a filter, as shared in a link."""
    params = {
        "role": wanted.role,
        "owner": wanted.owner,
        "status": wanted.status,
        "findings": "1" if wanted.has_findings else None,
        "due": str(wanted.due_within_days) if wanted.due_within_days is not None else None,
    }
    return urlencode({k: v for k, v in params.items() if v})


class BoardApp:
    """The handlers, holding the runtime, templates and metrics they share."""

    def __init__(self, rt: Runtime, *, refresh_seconds: int) -> None:
        self.rt = rt
        self.refresh_seconds = refresh_seconds
        self.env = make_environment(rt.config.timezone)
        self.metrics = health.WebMetrics(rt)

    def render(self, request: Request, page: str, fragment: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
        """The whole page, or only its refreshable part when the refresh script asks for it."""
        wanted = request.headers.get(FRAGMENT_HEADER)
        name = fragment if wanted else page
        body = self.env.get_template(name).render(
            **context, refresh_seconds=self.refresh_seconds, user=request.scope.get("state", {}).get("user")
        )
        return HTMLResponse(body, status_code=status, headers={"Vary": "X-Fragment", "Cache-Control": "no-store"})

    def board_page(self, request: Request) -> Response:
        wanted = board_filter(request)
        clean = filter_query(wanted)
        if request.url.query != clean:  # a form sent without the script: give it the short link to share
            return RedirectResponse(f"/?{clean}" if clean else "/", status_code=303)
        now = self.rt.now()
        with session_scope(self.rt.engine) as session:
            shown = board.board(session, config=self.rt.config, now=now, wanted=wanted)
        context = {"board": shown, "wanted": wanted, "now": now, "title": "Board"}
        return self.render(request, "board.html", "_board.html", context)

    def deliverable_page(self, request: Request) -> Response:
        key = request.path_params["key"]
        now = self.rt.now()
        with session_scope(self.rt.engine) as session:
            page = board.deliverable_page(session, key)
        if page is None:
            context = {"now": now, "title": "Not found", "key": key}
            return self.render(request, "missing.html", "missing.html", context, status=404)
        drawing = graph.layout(page.graph)
        context = {"page": page, "drawing": drawing, "now": now, "title": page.title}
        return self.render(request, "deliverable.html", "_deliverable.html", context)

    def findings_page(self, request: Request) -> Response:
        view = request.query_params.get("view") or "open"
        if view not in board.FINDING_VIEWS:
            view = "open"
        kind = request.query_params.get("kind") or None
        now = self.rt.now()
        with session_scope(self.rt.engine) as session:
            rows = board.findings(session, config=self.rt.config, now=now, view=view, kind=kind)
            counts = board.finding_counts(session)
        context = {"rows": rows, "view": view, "kind": kind, "counts": counts, "now": now, "title": "Findings"}
        return self.render(request, "findings.html", "_findings.html", context)

    def healthz(self, request: Request) -> Response:
        status, body = health.health(self.rt)
        return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store"})

    def metrics_page(self, request: Request) -> Response:
        return Response(generate_latest(self.metrics.registry), media_type=CONTENT_TYPE_LATEST)


def _timed(app: BoardApp, route: str, handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
    """Count and time each answer; `Server-Timing` tells the browser (and the bench) too."""

    def wrapped(request: Request) -> Response:
        started = time.perf_counter()
        response = handler(request)
        elapsed = time.perf_counter() - started
        app.metrics.requests.labels(route, str(response.status_code)).inc()
        app.metrics.render_seconds.labels(route).observe(elapsed)
        response.headers["Server-Timing"] = f"app;dur={elapsed * 1000:.1f}"
        return response

    return wrapped


class SecurityHeaders:
    def __init__(self, app: Callable[..., Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [
                    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"same-origin"),
                    (b"x-frame-options", b"DENY"),
                ]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


def create_app(rt: Runtime, *, access: AccessSettings | None = None, refresh_seconds: int = 15) -> Starlette:
    """The board over `rt`'s store; every route is GET-only and behind `access`."""
    access = access or AccessSettings()
    access.check()
    handlers = BoardApp(rt, refresh_seconds=refresh_seconds)
    routes = [
        Route("/", _timed(handlers, "board", handlers.board_page), name="board"),
        Route("/d/{key:path}", _timed(handlers, "deliverable", handlers.deliverable_page), name="deliverable"),
        Route("/findings", _timed(handlers, "findings", handlers.findings_page), name="findings"),
        Route("/healthz", _timed(handlers, "healthz", handlers.healthz), name="healthz"),
        Route("/metrics", _timed(handlers, "metrics", handlers.metrics_page), name="metrics"),
        Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    middleware = [Middleware(SecurityHeaders), Middleware(AccessMiddleware, access=access)]
    app = Starlette(routes=routes, middleware=middleware)
    app.state.board = handlers
    return app
