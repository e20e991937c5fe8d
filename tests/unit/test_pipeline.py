from __future__ import annotations

import functools
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import select

from connectors.slack import client as slack_client
from connectors.slack import source as slack_source
from connectors.sandbox import Sandbox
from reconciler import compose, pipeline, store
from reconciler.db import session_scope
from reconciler.models import SyncCursor
from reconciler.pipeline import Runtime
from reconciler.protocol import load_config
from reconciler.settings import Settings

pytestmark = pytest.mark.demo  # runs again with the clock moved ahead (test_demo.py)

DEMO = Path(__file__).resolve().parents[2] / "reconciler" / "examples" / "demo.toml"
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)


def runtime_at(engine: Engine, clock: list[datetime]) -> Runtime:
    return Runtime(settings=Settings(), config=load_config(DEMO), engine=engine, clock=lambda: clock[0])


def test_a_full_pass_runs_once_and_again_only_when_the_rules_configuration_changes(sqlite_engine: Engine) -> None:
    """Time-driven findings come back through each deliverable's next check, so the sweep
    passes over everything only on a new store and after the rules' configuration changed."""
    clock = [T0]
    rt = runtime_at(sqlite_engine, clock)
    pipeline.apply_config(rt)
    assert pipeline.reconcile_dirty(rt).reconciled == 6  # first pass: everything
    with session_scope(sqlite_engine) as session:
        (full,) = store.periodic_runs(session)
        assert full.name == store.FULL_RECONCILE and full.seconds is not None and full.seconds >= 0
        assert full.fingerprint

    clock[0] = T0 + timedelta(days=3)
    assert pipeline.reconcile_dirty(rt).reconciled == 0  # nothing changed, nothing due

    stricter = rt.config.rules.model_copy(update={"stale_after_days": 3})
    rt.config = rt.config.model_copy(update={"rules": stricter})
    assert pipeline.reconcile_dirty(rt).reconciled == 6  # the rules read other settings now
    assert pipeline.reconcile_dirty(rt).reconciled == 0


def test_a_source_that_gives_no_answer_is_given_up_on_for_the_run(
    tmp_path: Path, config_path: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Slack does not answer: its first channel spends its retries, the second is skipped with
    the reason, and Asana syncs as usual."""
    monkeypatch.setattr(slack_client, "make_web_client", functools.partial(slack_client.make_web_client, max_retries=0))
    settings = Settings(
        asana_token=SecretStr("asana-secret"), slack_bot_token=SecretStr("xoxb-secret"),
        asana_base_url=sandbox.asana_base_url, slack_base_url="http://127.0.0.1:9/api/",
        database_url=f"sqlite:///{tmp_path / 'store.db'}",
    )
    rt = pipeline.load_runtime(settings=settings, config_path=config_path)
    reports = {(r.source.value, r.partition): r for r in pipeline.sync_all(rt)}

    assert reports[("asana", "2001")].ok and reports[("asana", "2001")].observations
    first, second = reports[("slack", "launches")], reports[("slack", "eng")]
    assert first.unreachable and first.error and "temporary failure" in first.error
    assert second.error == f"skipped: slack gave no answer this run (for launches: {first.error})"
    assert (second.requests, second.batches) == (0, 0)
    with session_scope(rt.engine) as session:
        recorded = session.exec(select(SyncCursor).where(SyncCursor.partition == "eng")).one()
    assert recorded.last_error == second.error


class MeetingLimiter:
    """A rate limiter at which chosen requests wait for each other (a barrier of two): they only
    get through if they are in flight at the same time, so a sequential sync breaks it."""

    def __init__(self, channel_reads: tuple[int, int] = (2, 3)) -> None:
        self.sources = threading.Barrier(2, timeout=10)  # Asana's first request and Slack's
        self.channels = threading.Barrier(2, timeout=10)  # these two history reads (1st is 1)
        self.channel_reads = channel_reads
        self.firsts: set[str] = set()
        self.history = 0
        self.lock = threading.Lock()

    def acquire(self, key: str) -> None:
        service = key.partition(":")[0]
        with self.lock:
            first = service not in self.firsts
            self.firsts.add(service)
            self.history += key == "slack:conversations.history"
            channel_meets = key == "slack:conversations.history" and self.history in self.channel_reads
        if first:
            self.sources.wait()
        if channel_meets:
            self.channels.wait()

    def release(self, key: str) -> None:
        return None


def test_sources_and_partitions_are_synced_at_the_same_time(tmp_path: Path, sandbox: Sandbox) -> None:
    config = tmp_path / "reconciler.toml"
    config.write_text(DEMO.read_text().replace('channels = ["launches", "eng"]', 'channels = ["launches", "eng", "random"]'))
    settings = compose.pointed_at_sandbox(Settings(), sandbox, database_url=f"sqlite:///{tmp_path / 'store.db'}")
    limiter = MeetingLimiter()
    rt = pipeline.load_runtime(settings=settings, config_path=config, rate_limiter=limiter)

    reports = pipeline.sync_all(rt)

    assert [(r.source.value, r.partition) for r in reports] == [
        ("asana", "2001"), ("slack", "launches"), ("slack", "eng"), ("slack", "random"),
    ]  # in the configured order
    assert all(r.ok for r in reports[:3]) and limiter.history == 3
    assert not limiter.sources.broken and not limiter.channels.broken
    # The first channel went alone until Slack answered (a first sync: nothing is known of it).
    # Once every partition synced, the next pass starts them all together: the first two meet.
    rt.rate_limiter = limiter = MeetingLimiter(channel_reads=(1, 2))
    pipeline.sync_all(rt, partitions=["2001", "launches", "eng"])
    assert not limiter.sources.broken and not limiter.channels.broken


def test_in_flight_cap_holds_requests_of_a_service_to_its_cap() -> None:
    from connectors.base import NoRateLimit

    cap = pipeline.InFlightCap(NoRateLimit(), {"asana": 2})
    cap.acquire("asana")
    cap.acquire("asana")
    cap.acquire("slack:users.list")  # another service: not held
    third = threading.Event()
    waiter = threading.Thread(target=lambda: (cap.acquire("asana"), third.set()))
    waiter.start()
    assert not third.wait(0.2)  # a third asana request waits for a slot
    cap.release("asana")
    assert third.wait(5)
    waiter.join()


def test_first_reads_of_slack_channels_go_together(
    tmp_path: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four channels never synced (a name and an id for two of them: separate partitions): after
    the first, all read their whole history at the same time (newest first, so the last days of
    every channel come before any older history; only Asana's first reads wait for a turn)."""
    config = tmp_path / "reconciler.toml"
    config.write_text(DEMO.read_text().replace(
        'channels = ["launches", "eng"]', 'channels = ["launches", "eng", "random", "C01", "C02"]'
    ))
    settings = compose.pointed_at_sandbox(Settings(), sandbox, database_url=f"sqlite:///{tmp_path / 'store.db'}")
    rt = pipeline.load_runtime(settings=settings, config_path=config)
    lock = threading.Lock()
    inside = {"now": 0, "most": 0, "entered": 0}
    pair = threading.Barrier(4, timeout=10)  # the four after the first meet: they overlap
    real = pipeline.sync_partition

    def counted(rt: Runtime, source: object, partition: str, **kwargs: object) -> pipeline.SyncReport:
        with lock:
            inside["entered"] += 1
            inside["now"] += 1
            inside["most"] = max(inside["most"], inside["now"])
            meet = inside["entered"] in (2, 3, 4, 5)  # all after the first, launches
        try:
            if meet:
                pair.wait()
            return real(rt, source, partition, **kwargs)  # type: ignore[arg-type]
        finally:
            with lock:
                inside["now"] -= 1

    monkeypatch.setattr(pipeline, "sync_partition", counted)
    monkeypatch.setattr(slack_source, "CHANNELS_AT_ONCE", 8)
    reports = pipeline.sync_all(rt, sources=[pipeline.Source.SLACK])

    assert len(reports) == 5 and not pair.broken
    assert inside["most"] >= 4  # the four after the first met at the barrier: no turns to wait for


def test_first_reads_are_reconciled_while_they_go_on(tmp_path: Path, sandbox: Sandbox) -> None:
    """`while_crawling` runs during the sync with the partitions reading their whole history;
    `reconcile_while_crawling` then reconciles what they stored (not held as a sync under way)."""
    settings = compose.pointed_at_sandbox(Settings(), sandbox, database_url=f"sqlite:///{tmp_path / 'store.db'}")
    rt = pipeline.load_runtime(settings=settings, config_path=DEMO)
    called = threading.Event()
    seen: list[frozenset[tuple[str, str]]] = []
    left_dirty: list[set[str]] = []

    def while_crawling(partitions: frozenset[tuple[str, str]]) -> None:
        seen.append(partitions)
        pipeline.reconcile_while_crawling(rt, partitions)
        with session_scope(rt.engine) as session:  # what launches stored so far was reconciled
            dirty = store.dirty_deliverable_keys(session)
            left_dirty.append(store.keys_claimed_in(session, dirty, [("slack", "launches")]))
        called.set()

    def on_batch(report: pipeline.SyncReport) -> None:
        if report.source is pipeline.Source.SLACK and report.partition == "launches" and report.first_read:
            assert called.wait(10)  # hold this first read until the reconcile ran once

    reports = pipeline.sync_all(
        rt, sources=[pipeline.Source.SLACK], partitions=["launches"], on_batch=on_batch,
        while_crawling=while_crawling, while_crawling_every=0.01,
    )
    assert [(r.ok, r.first_read, r.finished) for r in reports] == [(True, True, True)]
    assert seen[0] == {("slack", "launches")} and left_dirty[0] == set()
    with session_scope(rt.engine) as session:
        assert store.partitions_syncing(session, now=rt.now(), within=pipeline.WHOLE_SYNC_WAIT) == []


def test_a_first_read_in_project_order_is_held_until_it_ends(tmp_path: Path, sandbox: Sandbox) -> None:
    """An Asana first read goes in the project's order, not newest first: what it stored so far
    may lack a dependency, so its deliverables wait for the read to finish."""
    settings = compose.pointed_at_sandbox(Settings(), sandbox, database_url=f"sqlite:///{tmp_path / 'store.db'}")
    rt = pipeline.load_runtime(settings=settings, config_path=DEMO)
    called = threading.Event()
    held: list[set[str]] = []

    def claimed_and_dirty(partitions: frozenset[tuple[str, str]]) -> set[str]:
        with session_scope(rt.engine) as session:
            return store.keys_claimed_in(session, store.dirty_deliverable_keys(session), list(partitions))

    def while_crawling(partitions: frozenset[tuple[str, str]]) -> None:
        before = claimed_and_dirty(partitions)
        pipeline.reconcile_while_crawling(rt, partitions)
        if before:
            held.append(before - claimed_and_dirty(partitions))
            called.set()

    def on_batch(report: pipeline.SyncReport) -> None:
        if report.first_read and claimed_and_dirty(frozenset({(report.source.value, report.partition)})):
            assert called.wait(10)  # hold the read until a reconcile ran with its claims stored

    reports = pipeline.sync_all(rt, sources=[pipeline.Source.ASANA], on_batch=on_batch,
                                while_crawling=while_crawling, while_crawling_every=0.01)
    assert [(r.ok, r.first_read) for r in reports] == [(True, True)]
    assert held and held[0] == set(), "the Asana first read's deliverables were reconciled before it ended"


@pytest.mark.parametrize(("group_wait", "sent"), [("1s", 4), ("1h", 0)])
def test_run_once_sends_what_its_group_wait_lets_go_within_seconds(
    tmp_path: Path, sandbox: Sandbox, group_wait: str, sent: int
) -> None:
    """`run --once` waits out a short group_wait (not an hour's) and sends the DMs its pass planned."""
    from reconciler.cli.pipeline import _deliver_what_falls_due_shortly

    settings = compose.pointed_at_sandbox(Settings(), sandbox, database_url=f"sqlite:///{tmp_path / 'store.db'}")
    rt = pipeline.load_runtime(settings=settings, config_path=DEMO)
    alerts = rt.config.alerts.model_copy(update={"group_wait": group_wait, "quiet_hours": None})
    rt.config = rt.config.model_copy(update={"alerts": alerts})
    report = pipeline.run_once(rt)
    assert report.plan.written == 4 and report.delivery.sent == []
    late = _deliver_what_falls_due_shortly(rt)
    assert (len(late.sent) if late else 0) == sent
