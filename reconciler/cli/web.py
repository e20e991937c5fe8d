"""`reconciler serve`: the shared state board in the browser (read-only)."""

from __future__ import annotations

from typing import Annotated

import typer

from reconciler.cli.common import ConfigOption, console, handle_errors
from reconciler.cli.context import runtime
from reconciler.pipeline import Runtime

DEMO_PORT = 8080

HostOption = Annotated[
    str, typer.Option("--host", help="Address to listen on; anything but loopback needs access control (see README).")
]
PortOption = Annotated[int, typer.Option("--port", "-p", min=0, max=65535, help="Port (0 = any free port).")]
RefreshOption = Annotated[int, typer.Option("--refresh", min=0, help="Seconds between live updates of a page (0 = off).")]


@handle_errors
def serve(
    host: HostOption = "127.0.0.1",
    port: PortOption = 8080,
    refresh: RefreshOption = 15,
    config: ConfigOption = None,
) -> None:
    """Serve the board (board, deliverables, findings, /healthz, /metrics) until Ctrl-C."""
    from reconciler.web import create_app
    from reconciler.web.auth import AccessSettings, require_access_for
    from reconciler.web.server import bind, serve_forever, url_of

    access = AccessSettings()
    access.check()
    require_access_for(host, access)
    with runtime(config) as rt:
        app = create_app(rt, access=access, refresh_seconds=refresh)
        sock = bind(host, port)
        console.print(f"Board: {url_of(sock)}  (read-only; Ctrl-C to stop)")
        serve_forever(app, sock)


def serve_demo_board(rt: Runtime, *, port: int = DEMO_PORT) -> None:
    """`reconciler demo --serve`: the demo store's board on 127.0.0.1 (port 8080, or any free
    one when that is taken) until Ctrl-C."""
    from reconciler.web import create_app
    from reconciler.web.auth import AccessSettings
    from reconciler.web.server import bind, serve_forever, url_of

    try:
        sock = bind("127.0.0.1", port)
    except ValueError:
        sock = bind("127.0.0.1", 0)
    console.print(f"\nThe board of this demo: {url_of(sock)}  (Ctrl-C to stop)")
    serve_forever(create_app(rt, access=AccessSettings()), sock)
