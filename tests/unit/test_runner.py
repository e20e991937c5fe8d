"""The embedded loop behind `reconciler run`: the real pipeline over the sandbox (HTTP), on SQLite,
no broker. Stops between steps on SIGTERM/Ctrl-C, one structured line per step, no token in logs."""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import select

from connectors.base import NoRateLimit
from connectors.sandbox import Sandbox
from reconciler import pipeline
from reconciler.db import session_scope
from reconciler.models import Conflict, Observation, SyncCursor
from reconciler.pipeline import RunReport, Runtime
from reconciler.settings import Settings
from tests.conftest import REDIS_URL
from workers.logging import HANDLER_NAME, configure_logging
from workers.ratelimit import RedisRateLimiter, token_hash
from workers.runner import run_loop, with_shared_limiter
from workers.settings import get_worker_settings

ASANA = "asana-runner-secret-7f3a9c"
SLACK = "xoxb-runner-secret-5b1d2e"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = [h for h in handlers if h.get_name() != HANDLER_NAME]
    root.setLevel(level)
    get_worker_settings.cache_clear()


def make_runtime(sandbox: Sandbox, database: Path, config_path: Path, **extra: Any) -> Runtime:
    settings = Settings(
        asana_token=SecretStr(ASANA),
        slack_bot_token=SecretStr(SLACK),
        asana_base_url=sandbox.asana_base_url,
        slack_base_url=sandbox.slack_base_url,
        database_url=f"sqlite:///{database}",
        **extra,
    )
    return pipeline.load_runtime(settings=settings, config_path=config_path)


def snapshot(engine: Engine) -> dict[str, Any]:
    """What a run leaves in the store, without ids and times."""
    with session_scope(engine) as session:
        claims = {
            (o.deliverable_key, o.source, o.source_ref, o.field, o.value, o.deleted_at is None)
            for o in session.exec(select(Observation))
        }
        conflicts = {(c.deliverable_key, c.kind, c.state) for c in session.exec(select(Conflict))}
        cursors = {(c.source, c.partition): c.last_error for c in session.exec(select(SyncCursor))}
    return {"claims": claims, "conflicts": conflicts, "cursors": cursors}


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_once_leaves_the_store_as_run_once_does(sandbox: Sandbox, config_path: Path, tmp_path: Path) -> None:
    ours = make_runtime(sandbox, tmp_path / "loop.db", config_path)
    reports = run_loop(ours, once=True, interval=60, dry_run=True)
    reference = make_runtime(sandbox, tmp_path / "reference.db", config_path)
    expected = pipeline.run_once(reference, dry_run=True)

    assert len(reports) == 1 and reports[0].ok
    assert [(s.source, s.partition) for s in reports[0].syncs] == [(s.source, s.partition) for s in expected.syncs]
    assert snapshot(ours.engine) == snapshot(reference.engine)
    assert snapshot(ours.engine)["conflicts"], "the demo scenario has contradictions"
    assert isinstance(ours.rate_limiter, NoRateLimit)  # no REDIS_URL: nothing shared, nothing needed


def test_one_json_line_per_step_and_never_a_token(sandbox: Sandbox, config_path: Path, tmp_path: Path) -> None:
    rt = make_runtime(sandbox, tmp_path / "store.db", config_path)
    out = io.StringIO()
    configure_logging(rt.settings, stream=out, level=logging.DEBUG)
    for name in ("urllib3", "slack_sdk", "asana", "connectors", "reconciler"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    sandbox.fail("slack conversations.history", slack_error="not_in_channel", times=1)  # an error path
    careless = logging.getLogger("connectors.careless")

    def on_batch(report: pipeline.SyncReport) -> None:
        careless.info("batch for token %s", ASANA, extra={"auth": f"Bearer {SLACK}"})

    run_loop(rt, once=True, interval=60, dry_run=True, on_batch=on_batch)
    text = out.getvalue()

    assert ASANA not in text and SLACK not in text
    assert "Bearer ***" in text
    lines = json_lines(text)
    steps = [line["step"] for line in lines if line.get("msg", "").endswith(" done")]
    partitions = pipeline.configured_partitions(rt)
    assert steps == ["sync"] * len(partitions) + ["reconcile", "plan", "deliver", "iteration"]
    syncs = [line for line in lines if line.get("step") == "sync"]
    assert {(s["source"], s["partition"]) for s in syncs} == {(s.value, p) for s, p in partitions}
    assert all("duration_ms" in s and "observations" in s for s in syncs)
    assert any(s.get("error") for s in syncs)  # the failing partition is reported


def test_sigterm_stops_between_steps_and_restores_the_handler(
    sandbox: Sandbox, config_path: Path, tmp_path: Path
) -> None:
    rt = make_runtime(sandbox, tmp_path / "store.db", config_path)
    before = signal.getsignal(signal.SIGTERM)
    sent: list[str] = []
    stop = threading.Event()

    first = threading.Lock()

    def on_batch(report: pipeline.SyncReport) -> None:
        with first:
            if not sent:
                sent.append(report.partition)
                os.kill(os.getpid(), signal.SIGTERM)
        # every batch waits until the handler (main thread) has seen the signal: a source whose
        # first batch comes while the signal is on its way must not release its other partitions
        # before the stop is known (the interleaving that made this test flaky)
        assert stop.wait(5)

    reports = run_loop(rt, once=False, interval=60, dry_run=True, on_batch=on_batch, stop=stop)

    assert reports == []  # stopped before an iteration completed
    assert signal.getsignal(signal.SIGTERM) is before
    with session_scope(rt.engine) as session:
        synced = [c.partition for c in session.exec(select(SyncCursor)) if c.last_success_at]
    # the partitions in progress finished (at most the first of each source: the others of a
    # source start once its first has stored a batch); nothing started after the stop
    assert set(sent) <= set(synced) and len(synced) <= 2 < len(pipeline.configured_partitions(rt))


def test_the_loop_repeats_until_stopped(sandbox: Sandbox, config_path: Path, tmp_path: Path) -> None:
    rt = make_runtime(sandbox, tmp_path / "store.db", config_path)
    stop = threading.Event()
    seen: list[RunReport] = []

    def on_report(report: RunReport) -> None:
        seen.append(report)
        if len(seen) == 2:
            stop.set()

    reports = run_loop(rt, once=False, interval=0.05, dry_run=True, on_report=on_report, stop=stop)

    assert len(reports) == 2 and reports == seen
    assert sum(s.inserted for s in reports[0].syncs) > 0
    assert sum(s.inserted + s.updated for s in reports[1].syncs) == 0  # idempotent second pass


def test_redis_when_configured_shares_the_budget_under_a_token_hash(
    sandbox: Sandbox, config_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = f"test-runner-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("REDIS_KEY_PREFIX", prefix)
    get_worker_settings.cache_clear()
    rt = make_runtime(sandbox, tmp_path / "store.db", config_path, redis_url=REDIS_URL)
    client = redis.Redis.from_url(REDIS_URL)
    try:
        shared = with_shared_limiter(rt)
        assert isinstance(shared.rate_limiter, RedisRateLimiter)
        run_loop(rt, once=True, interval=60, dry_run=True)
        keys = {k.decode() for k in client.scan_iter(match=f"{prefix}:*")}
        assert any(token_hash(SLACK) in k for k in keys)
        assert not any(SLACK in k or ASANA in k for k in keys)
    finally:
        for key in client.scan_iter(match=f"{prefix}:*"):
            client.delete(key)
        client.close()

    unreachable = make_runtime(sandbox, tmp_path / "other.db", config_path, redis_url="redis://127.0.0.1:1/0")
    assert isinstance(with_shared_limiter(unreachable).rate_limiter, NoRateLimit)


def test_ctrl_c_ends_a_waiting_loop_cleanly(tmp_path: Path) -> None:
    """A real process: the loop waits out its interval, Ctrl-C ends it at once with exit 0."""
    config = tmp_path / "empty.toml"
    config.write_text("[slack]\nchannels = []\n")
    script = textwrap.dedent(f"""
        from pathlib import Path
        from reconciler import pipeline
        from reconciler.settings import Settings
        from workers.logging import configure_logging
        from workers.runner import run_loop
        settings = Settings(database_url="sqlite:///{tmp_path / 'store.db'}", log_format="json")
        configure_logging(settings)
        rt = pipeline.load_runtime(settings=settings, config_path=Path({str(config)!r}))
        run_loop(rt, once=False, interval=300, dry_run=True)
    """)
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, env=env, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    try:
        deadline = time.monotonic() + 30
        for line in proc.stderr:
            if '"step": "iteration"' in line or time.monotonic() > deadline:
                break
        proc.send_signal(signal.SIGINT)
        rest = proc.communicate(timeout=10)[1]
    finally:
        proc.kill()
    assert proc.returncode == 0, rest
    assert any(line.get("msg") == "runner stopped" for line in json_lines(rest))
