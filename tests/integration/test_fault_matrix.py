"""The fault matrix: the whole embedded pipeline (sync, reconcile, plan, deliver) against the
sandbox over real HTTP, disturbed in every way a deployment is, then left to run its next turns.
Each case ends with the store a fault-free run leaves (claims, people, open findings, outbox)
and the same DMs, none of them twice:

* 20 % of requests failing in mixed ways (429, 5xx, a gateway's HTML page, resets, cut-off JSON,
  slow answers, answers that never come), on reads and on posts;
* a process SIGKILLed in the middle of a sync page, of a reconcile, of a DM before Slack
  answers and after Slack answered (real processes, real SIGKILL);
* the Redis that shares the API budget restarted in the middle of a sync;
* PostgreSQL terminating the store's connections (`pg_terminate_backend`) mid sync and just
  after Slack took a DM.

The clock is pinned (noon UTC today, ten minutes more per turn) so every run judges the same
moment; nothing here is timed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from slack_sdk import WebClient
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import select

from connectors.base import NoRateLimit, RateLimiter
from connectors.sandbox import Sandbox
from reconciler import compose, pipeline
from reconciler.db import session_scope
from reconciler.models import Conflict, Notification, Observation, Person
from reconciler.notify import NOTIFICATION_EVENT
from reconciler.settings import Settings
from tests.conftest import demo_scenario, write_demo_config
from tests.integration.test_redis_restart import PrivateRedis, free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
TURN = timedelta(minutes=10)  # past every notification backoff and the sending lease
TURNS = 10
HTTP_TIMEOUT = 0.5


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


def start_of_run() -> datetime:
    """Noon UTC today: far from any local midnight, so ten turns never cross a day."""
    return datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    with Sandbox(demo_scenario(), port=0) as sandbox:
        sandbox.hang_seconds = HTTP_TIMEOUT + 0.3
        yield sandbox


def settings_for(sb: Sandbox, database_url: str, **overrides: Any) -> Settings:
    return compose.pointed_at_sandbox(Settings(), sb, database_url=database_url, http_timeout=HTTP_TIMEOUT, **overrides)


def runtime(sb: Sandbox, database_url: str, config: Path, clock: Clock, *,
            rate_limiter: RateLimiter | None = None, **overrides: Any) -> pipeline.Runtime:
    return pipeline.load_runtime(settings=settings_for(sb, database_url, **overrides), config_path=config,
                                 clock=clock, rate_limiter=rate_limiter)


def settle(rt: pipeline.Runtime, clock: Clock, *, store_errors: list[str] | None = None) -> int:
    """What the runner's loop does: run once, ten minutes later again, until every partition
    synced and no DM waits (a store error fails the turn, as `run_loop` logs it and goes on).
    Returns the turns it took."""
    problem = ""
    for turn in range(1, TURNS + 1):
        try:
            report = pipeline.run_once(rt)
        except DBAPIError as exc:
            if store_errors is None:
                raise
            store_errors.append(type(exc.orig).__name__)
            problem = f"store error {type(exc.orig).__name__}"
        else:
            problem = str([s.error for s in report.syncs if not s.ok])
            if report.ok and not waiting(rt.engine):
                return turn
        clock.now += TURN
    pytest.fail(f"not settled after {TURNS} turns: {problem}, {waiting(rt.engine)} notifications waiting",
                pytrace=False)


def waiting(engine: Engine) -> int:
    with session_scope(engine) as session:
        return len([n for n in session.exec(select(Notification)) if n.status in ("pending", "sending")])


def store_view(engine: Engine) -> dict[str, Any]:
    with session_scope(engine) as session:
        claims = sorted(
            (o.source, o.source_ref, o.field, o.deliverable_key, o.value, o.stated_at.isoformat(), o.deleted_at is None)
            for o in session.exec(select(Observation))
        )
        people = sorted((p.key, p.identity("slack"), p.identity("asana")) for p in session.exec(select(Person)))
        findings = sorted((c.deliverable_key, c.kind, c.state) for c in session.exec(select(Conflict)))
        outbox = sorted((n.recipient_key, n.reason, n.status) for n in session.exec(select(Notification)))
    return {"claims": claims, "people": people, "findings": findings, "outbox": outbox}


def dms(sb: Sandbox) -> list[dict[str, Any]]:
    return [m for m in sb.posted_messages() if m["method"] == "chat.postMessage"
            and (m.get("metadata") or {}).get("event_type") == NOTIFICATION_EVENT]


def dm_summary(sb: Sandbox) -> Counter[tuple[str | None, bool]]:
    """Who got a DM, and whether it was a reply in an earlier DM's thread."""
    return Counter((m["user"], m["thread_ts"] is not None) for m in dms(sb))


def duplicates(sb: Sandbox) -> list[str]:
    marks = Counter(str(m["metadata"]["event_payload"]["notification"]) for m in dms(sb))
    return [mark for mark, n in marks.items() if n > 1]


@pytest.fixture(scope="module")
def calm(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The fault-free run everything is compared with."""
    tmp = tmp_path_factory.mktemp("calm")
    with Sandbox(demo_scenario(), port=0) as sandbox:
        clock = Clock(start_of_run())
        rt = runtime(sandbox, f"sqlite:///{tmp / 'calm.db'}", write_demo_config(tmp), clock)
        assert settle(rt, clock) == 1
        view = store_view(rt.engine)
        summary = dm_summary(sandbox)
        requests = sum(sandbox.request_counts().values())
        rt.engine.dispose()
    assert view["claims"] and len(list(summary.elements())) >= 2, "the calm run sent fewer than two DMs"
    return {"store": view, "dms": summary, "requests": requests}


def assert_like_calm(rt: pipeline.Runtime, sb: Sandbox, calm: dict[str, Any]) -> None:
    assert duplicates(sb) == [], "a notification was posted twice"
    view = store_view(rt.engine)
    for part in ("claims", "people", "findings", "outbox"):
        assert view[part] == calm["store"][part], part
    assert dm_summary(sb) == calm["dms"]


# -- 20 % mixed faults --------------------------------------------------------------------------


def test_twenty_percent_mixed_faults(sb: Sandbox, tmp_path: Path, calm: dict[str, Any]) -> None:
    sb.fault_rate(0.2, kinds=("429", "500", "502", "503", "html", "reset", "bad_json", "slow", "timeout"), seed=11)
    sb.fail("chat.postMessage", kind="bad_json", times=1)  # and surely one DM Slack took, its answer cut off
    clock = Clock(start_of_run())
    rt = runtime(sb, f"sqlite:///{tmp_path / 'stormy.db'}", write_demo_config(tmp_path), clock)
    settle(rt, clock)
    sb.clear_faults()
    assert sum(sb.request_counts().values()) > calm["requests"], "no fault was injected"
    assert_like_calm(rt, sb, calm)


# -- SIGKILL at each step -----------------------------------------------------------------------

KILLED_RUN = textwrap.dedent(
    """
    import os, signal, sys
    from datetime import datetime
    from pathlib import Path
    from reconciler import pipeline
    from reconciler.settings import Settings
    from connectors.sandbox.server import Sandbox

    database_url, config, asana_url, slack_url, now, point, nth = sys.argv[1:8]
    now, nth, seen = datetime.fromisoformat(now), int(nth), [0]

    def die_at_nth() -> None:
        seen[0] += 1
        if seen[0] == nth:
            os.kill(os.getpid(), signal.SIGKILL)

    class KillsMidRequest:  # the nth API request of the sync: a page in flight
        def acquire(self, key):
            if point == "sync_page":
                die_at_nth()

        def release(self, key):
            pass

    if point == "reconcile":
        from reconciler import engine
        flush = engine._flush

        def flush_then_die(reader, writes):
            flush(reader, writes)  # findings written, the transaction not committed
            die_at_nth()

        engine._flush = flush_then_die
    if point.startswith("notify"):
        from slack_sdk import WebClient
        post = WebClient.chat_postMessage

        def post_and_die(self, **kwargs):
            if point == "notify_before_slack_answers":
                die_at_nth()
            answer = post(self, **kwargs)
            if point == "notify_after_slack_answered":
                die_at_nth()  # Slack has the DM; the outbox row still says sending
            return answer

        WebClient.chat_postMessage = post_and_die

    from pydantic import SecretStr
    settings = Settings(
        asana_token=SecretStr("sandbox-asana-token"), slack_bot_token=SecretStr("xoxb-sandbox-token"),
        asana_base_url=asana_url, slack_base_url=slack_url, database_url=database_url, http_timeout=0.5,
    )
    rt = pipeline.load_runtime(settings=settings, config_path=Path(config), clock=lambda: now,
                               rate_limiter=KillsMidRequest())
    pipeline.run_once(rt)
    sys.exit(3)  # the kill point was never reached
    """
)

KILL_POINTS = {
    "sync_page": 8,  # the eighth request of the sync
    "reconcile": 1,  # after the first chunk of findings is written
    "notify_before_slack_answers": 2,  # one DM out, the next one killed before Slack sees it
    "notify_after_slack_answered": 1,  # the first DM out, killed before it is recorded
}


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_a_sigkill_at_each_step(sb: Sandbox, tmp_path: Path, calm: dict[str, Any], point: str) -> None:
    clock = Clock(start_of_run())
    config = write_demo_config(tmp_path)
    database_url = f"sqlite:///{tmp_path / 'killed.db'}"
    rt = runtime(sb, database_url, config, clock)  # migrates the store before the child uses it
    child = subprocess.run(
        [sys.executable, "-c", KILLED_RUN, database_url, str(config), sb.asana_base_url, sb.slack_base_url,
         clock.now.isoformat(), point, str(KILL_POINTS[point])],
        cwd=ROOT, capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert child.returncode == -signal.SIGKILL, child.stderr[-3000:]
    if point == "notify_after_slack_answered":
        assert len(dms(sb)) == 1 and waiting(rt.engine) >= 1  # Slack has it; the store does not know
    clock.now += TURN
    settle(rt, clock)
    assert_like_calm(rt, sb, calm)


# -- Redis restarted mid sync -------------------------------------------------------------------


class Disturbing:
    """The runtime's rate limiter, doing `disturb` once just before the `nth` request."""

    def __init__(self, inner: RateLimiter, nth: int, disturb: Callable[[], None]) -> None:
        self.inner, self.nth, self.disturb = inner, nth, disturb
        self.seen = 0
        self.lock = threading.Lock()

    def acquire(self, key: str) -> None:
        with self.lock:
            self.seen += 1
            now = self.seen == self.nth
        if now:
            self.disturb()
        self.inner.acquire(key)

    def release(self, key: str) -> None:
        self.inner.release(key)


def test_a_redis_restart_mid_sync(sb: Sandbox, tmp_path: Path, calm: dict[str, Any]) -> None:
    from workers.ratelimit import rate_limiter_for

    redis_server = PrivateRedis(free_port(), tmp_path)
    redis_server.start()
    try:
        clock = Clock(start_of_run())
        config = write_demo_config(tmp_path)
        database_url = f"sqlite:///{tmp_path / 'redis.db'}"
        plain = runtime(sb, database_url, config, clock, redis_url=redis_server.url)
        shared = rate_limiter_for(plain.settings, sources=plain.sources, config=plain.config,
                                  prefix=f"faults-{redis_server.port}")
        assert not isinstance(shared, NoRateLimit), "the budget is not shared through Redis"

        def restart() -> None:
            redis_server.crash()
            threading.Timer(0.3, redis_server.start).start()  # empty: no bucket survived

        rt = runtime(sb, database_url, config, clock, redis_url=redis_server.url,
                     rate_limiter=Disturbing(shared, 6, restart))
        settle(rt, clock)
        assert_like_calm(rt, sb, calm)
    finally:
        redis_server.crash()


# -- PostgreSQL terminating the store's connections -----------------------------------------------


def terminate_store_connections(database_url: str) -> int:
    """What an administrator's (or a failover's) `pg_terminate_backend` does to our pool."""
    dsn = database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(dsn, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return len(rows)


def test_postgres_connections_terminated(
    sb: Sandbox, tmp_path: Path, calm: dict[str, Any], postgres_engine: Engine, postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = Clock(start_of_run())
    config = write_demo_config(tmp_path)
    terminated: list[int] = []
    rt = runtime(sb, postgres_url, config, clock,
                 rate_limiter=Disturbing(NoRateLimit(), 6, lambda: terminated.append(terminate_store_connections(postgres_url))))
    post = WebClient.chat_postMessage

    def post_then_terminate(self: WebClient, **kwargs: Any) -> Any:
        answer = post(self, **kwargs)
        if len(terminated) == 1:  # Slack took the first DM; the store's connections go
            terminated.append(terminate_store_connections(postgres_url))
        return answer

    monkeypatch.setattr(WebClient, "chat_postMessage", post_then_terminate)
    store_errors: list[str] = []
    settle(rt, clock, store_errors=store_errors)
    assert len(terminated) == 2 and all(n >= 1 for n in terminated), terminated
    assert_like_calm(rt, sb, calm)
    rt.engine.dispose()
