"""Redis dies mid-run and comes back: a prefork worker and the beat recover on their own.

Uses a private redis-server on a free port (never the shared 6379 one), started and killed here.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import Engine

from connectors.sandbox import Sandbox
from tests.integration.test_workers import (  # noqa: F401 - fixtures used by name
    Deployment,
    make_deployment,
    open_findings,
    reference,
    snapshot,
    synced_since,
    wait_until,
)

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivateRedis:
    def __init__(self, port: int, directory: Path) -> None:
        self.port = port
        self.directory = directory
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.directory), "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        pytest.fail(f"private redis-server on port {self.port} did not start", pytrace=False)

    def crash(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(free_port(), tmp_path)
    server.start()
    yield server
    server.crash()


@pytest.fixture
def deployment(
    sandbox: Sandbox,  # noqa: F811
    postgres_engine: Engine,
    postgres_url: str,
    config_path: Path,  # noqa: F811
    tmp_path: Path,
    private_redis: PrivateRedis,
) -> Iterator[Deployment]:
    yield from make_deployment(
        sandbox, postgres_url, config_path, tmp_path, private_redis.url,
        SYNC_INTERVAL="3", SWEEP_INTERVAL="3",
    )


def test_worker_and_beat_recover_from_a_redis_restart(
    deployment: Deployment, private_redis: PrivateRedis, reference: dict[str, Any]  # noqa: F811
) -> None:
    deployment.sandbox.fault_rate(1.0, kinds=["slow"])  # syncs take seconds: Redis dies mid-run
    worker = deployment.start("worker", "worker", "--pool=prefork", "--concurrency=2")
    beat = deployment.start("beat", "beat")

    wait_until(lambda: any(line.get("msg") == "sync done" for line in worker.lines()), timeout=40,
               what="the first sync of the first fan-out", deployment=deployment)
    private_redis.crash()
    time.sleep(2)
    private_redis.start()  # empty: no queue, no locks, no fan-out claim survived
    restarted = datetime.now(timezone.utc)

    wait_until(lambda: synced_since(deployment.engine, restarted) == reference["partitions"], timeout=60,
               what="every partition synced again after the restart", deployment=deployment)
    wait_until(lambda: open_findings(snapshot(deployment.engine)) == open_findings(reference), timeout=30,
               what="a sweep after the restart", deployment=deployment)
    assert worker.alive() and beat.alive()
    assert snapshot(deployment.engine)["claims"] == reference["claims"]
    assert snapshot(deployment.engine)["cursors"] == reference["cursors"]
