"""Shared fixtures: real SQLite files and a real PostgreSQL database per test session.

PostgreSQL and Redis are required services (see DEVELOPERS.md): a test that needs one fails when
it is down instead of skipping.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest
import redis
import time_machine
from sqlalchemy import Engine, text
from sqlmodel import SQLModel

from connectors.sandbox import Sandbox, Scenario, bundled_scenario_path, load_scenario
from connectors.sandbox.timeshift import moved_slack_ts
from reconciler.db import make_engine, migrate
from reconciler.pipeline import EXAMPLE_CONFIG

POSTGRES_ADMIN_DSN = os.environ.get("TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture(autouse=True)
def _clock_moved_ahead() -> Iterator[None]:
    """With RECONCILER_TEST_DAYS_AHEAD=N, every test runs N days in the future (the clock
    ticks on from there): how the suite checks that nothing depends on today's date."""
    days = os.environ.get("RECONCILER_TEST_DAYS_AHEAD")
    if not days:
        yield
        return
    with time_machine.travel(datetime.now(timezone.utc) + timedelta(days=int(days)), tick=True):
        yield


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests never pick up a developer's tokens, `.env` or database."""
    for name in (
        "ASANA_TOKEN",
        "SLACK_BOT_TOKEN",
        "ASANA_BASE_URL",
        "SLACK_BASE_URL",
        "DATABASE_URL",
        "RECONCILER_CONFIG",
        "REDIS_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    from reconciler.settings import get_settings

    get_settings.cache_clear()


# The demo team's config with DMs due at once (no group_wait, no quiet hours): tests that look at
# what is sent, not when (tests/unit/test_notify* cover the timing).
SEND_AT_ONCE = '\n[alerts]\ngroup_wait = "0s"\nquiet_hours = "off"\n'


def write_demo_config(directory: Path) -> Path:
    path = directory / "reconciler.toml"
    path.write_text(EXAMPLE_CONFIG.read_text() + SEND_AT_ONCE)
    return path


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    return write_demo_config(tmp_path)


DEMO_ANCHOR = date(2026, 11, 25)
"""The day the bundled demo's story is written for (its `anchor`); it is told today unless pinned."""


def demo_scenario(*, as_written: bool = False) -> Scenario:
    """The bundled demo, told today (as `reconciler demo` serves it), or `as_written`: on its anchor
    day, for tests of connectors and the sandbox that compare its literal dates and never ask the
    reconciler what the clock says about them."""
    return load_scenario(bundled_scenario_path("demo"), today=DEMO_ANCHOR if as_written else None)


def demo_ts(sandbox: Sandbox, ts: str) -> str:
    """Where a Slack ts written in demo.json is in the demo `sandbox` serves."""
    return moved_slack_ts(ts, timedelta(days=sandbox.scenario.days_shifted))


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """The local Asana + Slack stand-in serving the demo scenario, told today, on a free port."""
    with Sandbox(demo_scenario(), port=0) as running:
        yield running


@pytest.fixture
def sandbox_as_written() -> Iterator[Sandbox]:
    """The demo scenario with its literal dates (see `demo_scenario`)."""
    with Sandbox(demo_scenario(as_written=True), port=0) as running:
        yield running


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    """The shared Redis (db 15); a test keys everything it writes under its own prefix."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError as exc:
        pytest.fail(f"Redis is required at {REDIS_URL}: {exc}", pytrace=False)
    yield client
    client.close()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture
def sqlite_engine(sqlite_url: str) -> Iterator[Engine]:
    engine = make_engine(sqlite_url)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh database for this test session, dropped at the end."""
    name = f"reconciler_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg.connect(POSTGRES_ADMIN_DSN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is required at {POSTGRES_ADMIN_DSN}: {exc}", pytrace=False)
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_ADMIN_DSN.rsplit("/", 1)[0]
    yield f"{base.replace('postgresql://', 'postgresql+psycopg://', 1)}/{name}"
    with psycopg.connect(POSTGRES_ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def _migrated_postgres(postgres_url: str) -> Iterator[Engine]:
    engine = make_engine(postgres_url)
    migrate(engine)
    yield engine
    engine.dispose()


def _truncate_all(engine: Engine) -> None:
    tables = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture
def postgres_engine(_migrated_postgres: Engine) -> Iterator[Engine]:
    _truncate_all(_migrated_postgres)
    yield _migrated_postgres


@pytest.fixture(params=["sqlite", "postgres"])
def store_engine(request: pytest.FixtureRequest) -> Engine:
    """The same test on both supported stores."""
    return request.getfixturevalue(f"{request.param}_engine")
