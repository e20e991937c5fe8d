"""`/healthz` with a real broker: Redis reachable and a real Celery worker answering its ping, or
not. Runs on Redis db 13, where no other test starts workers (a ping is a broadcast to every
worker on the broker's database)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient

from connectors.sandbox import Sandbox
from reconciler.pipeline import Runtime, load_runtime
from reconciler.settings import Settings
from reconciler.web import create_app
from tests.integration.test_workers import Deployment, make_deployment

pytestmark = pytest.mark.integration

HEALTH_REDIS_URL = "redis://127.0.0.1:6379/13"


@pytest.fixture
def rt(postgres_engine: Engine, postgres_url: str, config_path: Path) -> Runtime:
    settings = Settings(database_url=postgres_url, redis_url=HEALTH_REDIS_URL)
    return load_runtime(settings=settings, config_path=config_path)


@pytest.fixture
def deployment(sandbox: Sandbox, postgres_engine: Engine, postgres_url: str, config_path: Path,
               tmp_path: Path) -> Iterator[Deployment]:
    yield from make_deployment(sandbox, postgres_url, config_path, tmp_path, HEALTH_REDIS_URL)


def healthz(rt: Runtime) -> tuple[int, dict]:  # type: ignore[type-arg]
    with TestClient(create_app(rt)) as client:
        answer = client.get("/healthz")
    return answer.status_code, answer.json()


def test_no_worker_answering_is_degraded(rt: Runtime) -> None:
    status, body = healthz(rt)
    assert status == 200
    assert body["broker"] == {"configured": True, "ok": True}
    assert body["workers"] == {"configured": True, "ok": False, "workers": 0}
    assert body["status"] == "degraded" and body["store"] == {"ok": True}


def test_a_running_worker_answers(rt: Runtime, deployment: Deployment) -> None:
    worker = deployment.worker("health")
    deadline = time.monotonic() + 60
    body: dict = {}  # type: ignore[type-arg]
    while time.monotonic() < deadline and worker.alive():
        status, body = healthz(rt)
        if body["workers"].get("ok"):
            break
        time.sleep(0.5)
    assert body["workers"] == {"configured": True, "ok": True, "workers": 1}, worker.text()
    assert body["status"] == "ok" and status == 200
