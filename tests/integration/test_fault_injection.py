"""A sync through 20 % injected faults (429 with Retry-After, 500/502/503, connection resets,
truncated JSON, slow answers, answers that never come) ends with exactly the store a fault-free sync produces: nothing
lost, nothing duplicated. Both connectors, through the one pipeline, over real HTTP."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select

from connectors.sandbox import Sandbox, bundled_scenario_path, load_scenario
from reconciler import compose, pipeline
from reconciler.db import session_scope
from reconciler.models import Observation, Person
from reconciler.settings import Settings

pytestmark = pytest.mark.demo  # runs again with the clock moved ahead (test_demo.py)

ClaimRow = tuple[str, str, str, str, str | None, str, str | None, bool]


def store_contents(rt: pipeline.Runtime) -> tuple[list[ClaimRow], list[tuple[str, str | None, str | None]]]:
    with session_scope(rt.engine) as session:
        claims = sorted(
            (o.source, o.source_ref, o.field, o.deliverable_key, o.value, o.stated_at.isoformat(), o.permalink, o.deleted_at is None)
            for o in session.exec(select(Observation))
        )
        people = sorted((p.key, p.identity("slack"), p.identity("asana")) for p in session.exec(select(Person)))
    return claims, people


def synced_store(tmp_path: Path, name: str, *, fault_rate: float) -> tuple[pipeline.Runtime, int]:
    with Sandbox(load_scenario(bundled_scenario_path("demo")), port=0) as sandbox:
        sandbox.fault_rate(fault_rate, seed=7)
        sandbox.hang_seconds = 1.5
        settings = compose.pointed_at_sandbox(
            Settings(), sandbox, database_url=f"sqlite:///{tmp_path / name}", http_timeout=0.5
        )
        rt = pipeline.load_runtime(settings=settings, config_path=pipeline.EXAMPLE_CONFIG)
        passes = 0
        while True:  # what a worker's retry does: run again from the stored cursor
            passes += 1
            reports = pipeline.sync_all(rt)
            if all(r.ok for r in reports) or passes == 5:
                break
        assert all(r.ok for r in reports), [r.error for r in reports if not r.ok]
        return rt, sum(sandbox.request_counts().values())


@pytest.mark.integration
def test_sync_under_injected_faults_matches_a_calm_sync(tmp_path: Path) -> None:
    calm, calm_requests = synced_store(tmp_path, "calm.db", fault_rate=0.0)
    stormy, stormy_requests = synced_store(tmp_path, "stormy.db", fault_rate=0.2)
    assert stormy_requests > calm_requests, "no fault was injected"
    calm_claims, calm_people = store_contents(calm)
    stormy_claims, stormy_people = store_contents(stormy)
    assert calm_claims, "the calm sync stored nothing"
    assert stormy_claims == calm_claims
    assert stormy_people == calm_people


def requests_of_a_sync(tmp_path: Path, name: str, *, hang: str | None) -> dict[str, int]:
    with Sandbox(load_scenario(bundled_scenario_path("demo")), port=0) as sandbox:
        sandbox.hang_seconds = 1.0
        if hang:
            sandbox.fail(hang, kind="timeout", times=1)
        settings = compose.pointed_at_sandbox(
            Settings(), sandbox, database_url=f"sqlite:///{tmp_path / name}", http_timeout=0.3
        )
        rt = pipeline.load_runtime(settings=settings, config_path=pipeline.EXAMPLE_CONFIG)
        reports = pipeline.sync_all(rt)
        assert all(r.ok for r in reports), [r.error for r in reports if not r.ok]
        return sandbox.request_counts()


@pytest.mark.integration
@pytest.mark.parametrize("endpoint", ["asana GET /projects/{gid}/tasks", "slack conversations.history"])
def test_an_answer_that_never_comes_is_retried(tmp_path: Path, endpoint: str) -> None:
    calm = requests_of_a_sync(tmp_path, "calm.db", hang=None)
    hung = requests_of_a_sync(tmp_path, "hung.db", hang=endpoint)
    assert hung[endpoint] == calm[endpoint] + 1  # the request that timed out, then its retry
