"""Running the board: on a socket bound before the server starts (so the URL is known, even
for port 0), in the foreground or in a background thread (the demo, the browser tests)."""

from __future__ import annotations

import gc
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.applications import Starlette


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ValueError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def _server(app: Starlette) -> uvicorn.Server:
    # proxy_headers off: the peer address must stay the proxy's, for RECONCILER_WEB_TRUSTED_PROXIES
    config = uvicorn.Config(app, log_level="warning", proxy_headers=False, server_header=False, access_log=False)
    return uvicorn.Server(config)


def tune_gc_for_serving() -> None:
    """For a process that only serves the board. Rendering the board of 2,000 deliverables
    allocates some 100,000 short-lived objects; with the default thresholds that sets off
    full collections that walk every long-lived object of the app (SQLAlchemy, pydantic,
    templates) in the middle of a request. Freezing what exists at start and collecting the
    youngest generation less often took the board from ~175 to ~125 ms median (bench/README.md)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)


def serve_forever(app: Starlette, sock: socket.socket) -> None:
    """Serve until Ctrl-C / SIGTERM."""
    tune_gc_for_serving()
    try:
        _server(app).run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn re-raises the Ctrl-C it shut down on: a normal end here
        pass


@contextmanager
def board_in_background(app: Starlette, *, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve `app` in a thread while the block runs; yields its URL."""
    sock = bind(host, port)
    server = _server(app)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="board", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    if not server.started:
        server.should_exit = True
        sock.close()
        raise RuntimeError("the board did not start within 10 s")
    try:
        yield url_of(sock)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
