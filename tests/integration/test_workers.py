"""Real Celery workers (separate processes, Redis broker on db 15) syncing the sandbox over HTTP
into PostgreSQL: the fan-out, two workers racing, a worker killed mid-sync. Every run gets its
own queue and key prefix, so nothing here sees another test's messages or locks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import Celery
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import select

from connectors.sandbox import Sandbox
from reconciler import pipeline
from reconciler.db import make_engine, session_scope
from reconciler.models import Conflict, Deliverable, Observation, SyncCursor
from reconciler.settings import Settings
from tests.conftest import REDIS_URL
from workers.celery_app import celery_config
from workers.settings import WorkerSettings

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
ASANA = "asana-worker-secret-1c9e4f"
SLACK = "xoxb-worker-secret-8d2b7a"
# An Asana sync token and crawl time differ per run; Slack's people map holds refresh dates.
VOLATILE_CURSOR_KEYS = {"sync", "crawled_at", "people", "auth", "checked"}


# -- processes --------------------------------------------------------------------------------


@dataclass
class Proc:
    proc: subprocess.Popen[bytes]
    log: Path

    def lines(self) -> list[dict[str, Any]]:
        out = []
        for raw in self.log.read_text(errors="replace").splitlines():
            if raw.startswith("{"):
                try:
                    out.append(json.loads(raw))
                except json.JSONDecodeError:
                    pass
        return out

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class Deployment:
    env: dict[str, str]
    tmp: Path
    sandbox: Sandbox
    engine: Engine
    queue: str
    prefix: str
    redis_url: str
    procs: list[Proc] = field(default_factory=list)
    _client: Celery | None = None

    def start(self, kind: str, name: str, *args: str, queues: str | None = None) -> Proc:
        log = self.tmp / f"{name}.log"
        if kind == "worker":
            queues = queues or f"{self.queue},{self.queue}.sync"  # a plain worker takes both
            command = ["worker", "-n", f"{name}-{self.queue}@%h", "-Q", queues, "--without-gossip",
                       "--without-mingle", "--without-heartbeat", "--loglevel=INFO", *args]
        else:
            command = ["beat", "--loglevel=INFO", f"--schedule={self.tmp / (name + '.schedule')}", *args]
        handle = log.open("ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "workers.celery_app", *command],
            cwd=self.tmp, env=self.env, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
        handle.close()
        started = Proc(proc, log)
        self.procs.append(started)
        return started

    def worker(self, name: str, *args: str, queues: str | None = None) -> Proc:
        return self.start("worker", name, "--pool=solo", *args, queues=queues)

    @property
    def client(self) -> Celery:
        if self._client is None:
            ws = WorkerSettings(celery_queue=self.queue, redis_key_prefix=self.prefix)
            self._client = Celery("test-client")
            self._client.conf.update(celery_config(self.redis_url, ws))
        return self._client

    def send(self, task: str, *args: str) -> None:
        self.client.send_task(task, args=list(args))  # routed as the app routes it

    def logs(self) -> list[dict[str, Any]]:
        return [line for p in self.procs for line in p.lines()]

    def all_text(self) -> str:
        return "\n".join(f"--- {p.log.name}\n{p.text()}" for p in self.procs)


def wait_until(check: Callable[[], bool], *, timeout: float, what: str, deployment: Deployment) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    tail = deployment.all_text()[-6000:]
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}\n{tail}", pytrace=False)


# -- store views ------------------------------------------------------------------------------


def cursor_view(source: str, cursor: str | None) -> Any:
    if cursor is None or not cursor.startswith("{"):
        return cursor
    data = json.loads(cursor)
    return {k: v for k, v in data.items() if k not in VOLATILE_CURSOR_KEYS}


def snapshot(engine: Engine) -> dict[str, Any]:
    with session_scope(engine) as session:
        claims = {
            (o.deliverable_key, o.source, o.source_ref, o.field, o.value, o.deleted_at is None)
            for o in session.exec(select(Observation))
        }
        conflicts = {(c.deliverable_key, c.kind, c.state) for c in session.exec(select(Conflict))}
        cursors = {(c.source, c.partition): cursor_view(c.source, c.cursor) for c in session.exec(select(SyncCursor))}
    return {"claims": claims, "conflicts": conflicts, "cursors": cursors}


def open_findings(view: dict[str, Any]) -> set[tuple[str, str, str]]:
    """The findings still open. Partitions synced one by one, with sweeps in between, may open
    and close a finding that one pass over everything never sees (Asana read before Slack says
    checkout is blocked: a cascade under it, for as long as that took), so history may differ."""
    return {c for c in view["conflicts"] if c[2] in ("open", "acknowledged")}


def synced_since(engine: Engine, when: datetime | None = None) -> set[tuple[str, str]]:
    with session_scope(engine) as session:
        return {
            (c.source, c.partition)
            for c in session.exec(select(SyncCursor))
            if c.last_success_at and (when is None or c.last_success_at >= when) and not c.last_error
        }


def dirty_count(engine: Engine) -> int:
    with session_scope(engine) as session:
        return len(list(session.exec(select(Deliverable.key).where(Deliverable.dirty == True))))  # noqa: E712


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def reference(sandbox: Sandbox, config_path: Path, tmp_path: Path) -> dict[str, Any]:
    """What the embedded `run_once` leaves in a store, read from the same sandbox first."""
    settings = Settings(
        asana_token=SecretStr(ASANA), slack_bot_token=SecretStr(SLACK),
        asana_base_url=sandbox.asana_base_url, slack_base_url=sandbox.slack_base_url,
        database_url=f"sqlite:///{tmp_path / 'reference.db'}",
    )
    rt = pipeline.load_runtime(settings=settings, config_path=config_path)
    report = pipeline.run_once(rt, dry_run=True)
    assert report.ok
    view = snapshot(rt.engine)
    view["partitions"] = {(s.value, p) for s, p in pipeline.configured_partitions(rt)}
    rt.engine.dispose()
    sandbox.reset_counts()
    return view


def make_deployment(
    sandbox: Sandbox, postgres_url: str, config_path: Path, tmp_path: Path, redis_url: str, **env: str
) -> Iterator[Deployment]:
    queue = f"test-q-{uuid.uuid4().hex[:8]}"
    prefix = f"test-w-{uuid.uuid4().hex[:8]}"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("ASANA_", "SLACK_", "DATABASE_", "REDIS_"))}
    base.update({
        "PYTHONPATH": str(REPO),
        "ASANA_TOKEN": ASANA, "SLACK_BOT_TOKEN": SLACK,
        "ASANA_BASE_URL": sandbox.asana_base_url, "SLACK_BASE_URL": sandbox.slack_base_url,
        "DATABASE_URL": postgres_url, "REDIS_URL": redis_url, "RECONCILER_CONFIG": str(config_path),
        "CELERY_QUEUE": queue, "REDIS_KEY_PREFIX": prefix, "LOG_FORMAT": "json",
        "PARTITION_LOCK_TTL": "3", "CELERY_VISIBILITY_TIMEOUT": "8", "TASK_TIME_LIMIT": "7",
        "CELERY_RESTORE_INTERVAL": "1", "CELERY_RESTORE_THROTTLE": "1",
        "RETRY_BACKOFF_MAX": "2", "SYNC_INTERVAL": "300", "SWEEP_INTERVAL": "300",
    })
    base.update(env)
    engine = make_engine(postgres_url)
    deployment = Deployment(base, tmp_path, sandbox, engine, queue, prefix, redis_url)
    yield deployment
    for proc in deployment.procs:
        proc.stop()
    engine.dispose()
    try:
        client = redis.Redis.from_url(redis_url, socket_connect_timeout=1)
        for pattern in (f"{prefix}:*", f"{queue}*", f"_kombu.binding.{queue}*"):
            for key in client.scan_iter(match=pattern):
                client.delete(key)
        client.close()
    except redis.ConnectionError:
        pass


@pytest.fixture
def deployment(
    sandbox: Sandbox, postgres_engine: Engine, postgres_url: str, config_path: Path, tmp_path: Path
) -> Iterator[Deployment]:
    yield from make_deployment(sandbox, postgres_url, config_path, tmp_path, REDIS_URL)


def sync_lines(deployment: Deployment, msg: str) -> list[dict[str, Any]]:
    return [line for line in deployment.logs() if line.get("msg") == msg]


# -- tests ------------------------------------------------------------------------------------


def test_fan_out_syncs_every_partition_like_run_once(deployment: Deployment, reference: dict[str, Any]) -> None:
    worker = deployment.worker("w1")
    deployment.send("reconciler.fan_out")
    deployment.send("reconciler.fan_out")  # a second beat in the same interval: a no-op

    wait_until(lambda: synced_since(deployment.engine) == reference["partitions"], timeout=30,
               what="every partition synced", deployment=deployment)
    wait_until(lambda: dirty_count(deployment.engine) == 0 and snapshot(deployment.engine)["conflicts"]
               == reference["conflicts"], timeout=20, what="the sweep after the syncs", deployment=deployment)
    # the worker logs its deliver step after the DMs are out: wait for both
    wait_until(lambda: bool(deployment.sandbox.posted_messages()) and any(
        line.get("step") == "deliver" for line in deployment.logs()
    ), timeout=10, what="the DMs and the deliver step's log line", deployment=deployment)

    ours = snapshot(deployment.engine)
    assert ours["claims"] == reference["claims"]
    assert ours["cursors"] == reference["cursors"]
    assert len(sync_lines(deployment, "fanned out")) == 1
    assert len(sync_lines(deployment, "fan-out skipped: another fan-out ran in this interval (is a second beat running?)")) == 1
    done = sync_lines(deployment, "sync done")
    assert {(d["source"], d["partition"]) for d in done} == reference["partitions"]
    assert all(d.get("task_id") for d in done), "sync lines carry the Celery task id"
    assert {d["step"] for d in deployment.logs() if d.get("step")} >= {"sync", "reconcile", "plan", "deliver"}
    text = worker.text()
    assert ASANA not in text and SLACK not in text


def test_two_workers_never_sync_one_partition_at_once(deployment: Deployment, reference: dict[str, Any]) -> None:
    deployment.sandbox.fault_rate(1.0, kinds=["slow"])  # every request takes 0.2 s: syncs overlap
    deployment.worker("w1")
    deployment.worker("w2")
    time.sleep(1.5)  # both consuming before the race starts
    partitions = sorted(reference["partitions"])
    for source, partition in partitions:
        for _ in range(2):
            deployment.send("reconciler.sync_partition", source, partition)

    def accounted() -> bool:
        done = sync_lines(deployment, "sync done")
        skipped = sync_lines(deployment, "sync skipped: another worker holds the partition lock")
        return len(done) + len(skipped) == 2 * len(partitions)

    wait_until(accounted, timeout=60, what="every sync task done or skipped", deployment=deployment)
    done = sync_lines(deployment, "sync done")
    skipped = sync_lines(deployment, "sync skipped: another worker holds the partition lock")
    assert skipped, "the race never happened"
    for source, partition in partitions:
        spans = sorted(
            (datetime.fromisoformat(d["ts"]).timestamp() - d["duration_ms"] / 1000, datetime.fromisoformat(d["ts"]).timestamp())
            for d in done if (d["source"], d["partition"]) == (source, partition)
        )
        assert spans, f"{source}:{partition} never synced"
        for (_, end), (start, _) in zip(spans, spans[1:]):
            assert start >= end - 0.01, f"{source}:{partition} was synced by two workers at once"
    assert {d.get("hostname") or d.get("task_id") for d in done}  # lines came from the workers
    assert snapshot(deployment.engine)["claims"] == reference["claims"]


def test_a_worker_killed_mid_sync_is_recovered_by_the_next(deployment: Deployment, reference: dict[str, Any]) -> None:
    deployment.sandbox.fault_rate(1.0, kinds=["slow"])
    first = deployment.worker("w1")
    for source, partition in sorted(reference["partitions"], key=lambda p: p[1] != "launches"):
        deployment.send("reconciler.sync_partition", source, partition)  # the longest sync first

    wait_until(lambda: '"Task reconciler.sync_partition[' in first.text(), timeout=20,
               what="the first sync to start", deployment=deployment)
    time.sleep(0.8)
    first.kill()
    assert ("slack", "launches") not in synced_since(deployment.engine), "the kill came too late"

    deployment.worker("w2")
    wait_until(lambda: synced_since(deployment.engine) == reference["partitions"], timeout=45,
               what="every partition synced after the restart", deployment=deployment)
    ours = snapshot(deployment.engine)
    assert ours["claims"] == reference["claims"]
    assert ours["cursors"] == reference["cursors"]
    client = redis.Redis.from_url(deployment.redis_url)
    assert not list(client.scan_iter(match=f"{deployment.prefix}:lock:sync:*"))  # nothing left held
    client.close()


def test_a_transient_failure_is_retried_with_a_short_backoff(deployment: Deployment) -> None:
    deployment.sandbox.fail("slack conversations.history", slack_error="ratelimited", times=1)
    deployment.worker("w1")
    deployment.send("reconciler.sync_partition", "slack", "eng")

    wait_until(lambda: ("slack", "eng") in synced_since(deployment.engine), timeout=30,
               what="the retried sync to succeed", deployment=deployment)
    retries = [line for line in deployment.logs() if " retry: Retry in " in line.get("msg", "")]
    assert len(retries) == 1
    assert float(retries[0]["msg"].rsplit("Retry in ", 1)[1].split("s", 1)[0]) <= 2  # RETRY_BACKOFF_MAX
    failed = [line for line in deployment.logs() if line.get("msg") == "sync done" and line.get("error")]
    assert failed and failed[0]["transient"] is True


def test_status_shows_partitions_queue_depth_and_outbox(
    deployment: Deployment, reference: dict[str, Any], config_path: Path
) -> None:
    from workers.status import collect_status

    settings = Settings(database_url=deployment.env["DATABASE_URL"], redis_url=deployment.redis_url)
    rt = pipeline.load_runtime(settings=settings, config_path=config_path)
    ws = WorkerSettings(celery_queue=deployment.queue, redis_key_prefix=deployment.prefix)
    for source, partition in sorted(reference["partitions"]):
        deployment.send("reconciler.sync_partition", source, partition)

    waiting = collect_status(rt, ws=ws)
    assert waiting["queue_depth"] == len(reference["partitions"])
    assert {(p["source"], p["partition"]) for p in waiting["partitions"]} == reference["partitions"]
    assert all(p["last_success_at"] is None and p["lag_seconds"] is None for p in waiting["partitions"])

    deployment.worker("w1")
    wait_until(lambda: synced_since(deployment.engine) == reference["partitions"], timeout=30,
               what="every partition synced", deployment=deployment)
    # the outbox row is marked sent in a commit after Slack's answer: wait for that, not the post
    wait_until(lambda: collect_status(rt, ws=ws)["notifications"]["sent"] >= 1, timeout=15,
               what="a DM recorded as sent", deployment=deployment)
    done = collect_status(rt, ws=ws)
    assert done["queue_depth"] == 0 and done["queue"]["queue"] == deployment.queue
    for p in done["partitions"]:
        assert p["configured"] and p["cursor"] and p["last_error"] is None
        assert 0 <= p["lag_seconds"] < 60
    assert done["notifications"]["sent"] >= 1

    down = Settings(database_url=deployment.env["DATABASE_URL"], redis_url="redis://127.0.0.1:1/0")
    offline = collect_status(pipeline.load_runtime(settings=down, config_path=config_path), ws=ws)
    assert offline["queue"] == offline["queue_depth"] == "unavailable"
    rt.engine.dispose()


def test_a_backlog_of_syncs_never_holds_up_the_sweep(
    deployment: Deployment, reference: dict[str, Any], config_path: Path
) -> None:
    """Syncs wait on their own queue: a worker that takes only sweeps (the compose `sweeper`)
    reconciles and notifies while every sync is still queued."""
    from workers.status import collect_status

    settings = Settings(database_url=deployment.env["DATABASE_URL"], redis_url=deployment.redis_url)
    rt = pipeline.load_runtime(settings=settings, config_path=config_path)
    ws = WorkerSettings(celery_queue=deployment.queue, redis_key_prefix=deployment.prefix)
    for source, partition in sorted(reference["partitions"]):
        deployment.send("reconciler.sync_partition", source, partition)
    deployment.worker("sweeper", queues=deployment.queue)
    deployment.send("reconciler.sweep")
    wait_until(lambda: bool(sync_lines(deployment, "reconcile done")), timeout=30, what="a sweep", deployment=deployment)
    queued = collect_status(rt, ws=ws)["queue"]
    assert queued["waiting_syncs"] == len(reference["partitions"]) and queued["waiting_sweeps"] == 0
    assert not sync_lines(deployment, "sync done")
    rt.engine.dispose()


def test_a_sync_that_reaches_its_time_limit_goes_on_in_a_new_task(deployment: Deployment) -> None:
    """TASK_TIME_LIMIT is 7 s here (soft: 6 s); the first history read hangs for 10 s."""
    deployment.sandbox.hang_seconds = 10.0
    deployment.sandbox.fail("slack conversations.history", kind="timeout", times=1)
    deployment.start("worker", "worker", "--pool=prefork", "--concurrency=1")
    deployment.send("reconciler.sync_partition", "slack", "launches")
    wait_until(lambda: ("slack", "launches") in synced_since(deployment.engine), timeout=45,
               what="the partition synced by the task that went on", deployment=deployment)
    assert [line for line in deployment.logs() if "reached its time limit" in line.get("msg", "")]
    with session_scope(deployment.engine) as session:
        cursor = session.exec(select(SyncCursor).where(SyncCursor.partition == "launches")).one()
        assert cursor.sync_started_at is None and cursor.last_error is None
