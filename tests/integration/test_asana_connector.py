"""The Asana connector over real HTTP: the official SDK against the sandbox, batches applied to a
real SQLite store through `reconciler.pipeline.sync_partition`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import col, select

from connectors.asana.connector import AsanaConnector, AsanaCursor, CrawlProgress
from connectors.base import CanonicalStatus, DeliverableIndex, Source
from connectors.sandbox import Sandbox
from reconciler import store
from reconciler.db import make_engine, migrate, session_scope
from reconciler.models import Observation, Person, SyncCursor
from reconciler.pipeline import Runtime, SyncReport, apply_config, sync_partition
from reconciler.protocol import Config, load_config
from reconciler.settings import Settings
from tests.conftest import demo_scenario

DEMO = Path(__file__).resolve().parents[2] / "reconciler" / "examples" / "demo.toml"
PROJECT = "2001"
TOKEN = "asana-test-token-do-not-log"
AT = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)

Claim = tuple[str, str, str, str | None, str, str | None]  # ref, field, key, value, stated_at, author


@pytest.fixture
def sandbox(sandbox_as_written: Sandbox) -> Sandbox:
    """The demo with its literal dates: these tests compare claims, not what the clock makes of them."""
    return sandbox_as_written


@pytest.fixture
def config() -> Config:
    return load_config(DEMO)


class Sleeps(list[float]):
    """A `sleep` that records instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


class CountingLimiter:
    def __init__(self, on_acquire: Any = None) -> None:
        self.acquired = 0
        self.released = 0
        self.on_acquire = on_acquire

    def acquire(self, key: str) -> None:
        assert key == "asana"
        self.acquired += 1
        if self.on_acquire is not None:
            self.on_acquire(self.acquired)

    def release(self, key: str) -> None:
        self.released += 1


def runtime(engine: Engine, config: Config, sb: Sandbox, token: str = TOKEN) -> Runtime:
    settings = Settings(asana_token=SecretStr(token), asana_base_url=sb.asana_base_url)
    rt = Runtime(settings=settings, config=config, engine=engine)
    apply_config(rt)
    return rt


def connector(config: Config, sb: Sandbox, **kwargs: Any) -> AsanaConnector:
    kwargs.setdefault("sleep", Sleeps())
    kwargs.setdefault("backoff", 0.001)
    return AsanaConnector(
        token=kwargs.pop("token", TOKEN),
        base_url=sb.asana_base_url,
        config=config.source("asana"),
        index=config.deliverable_index(),
        timezone=config.timezone,
        **kwargs,
    )


def sync(rt: Runtime, conn: AsanaConnector | None = None) -> SyncReport:
    return sync_partition(rt, Source.ASANA, PROJECT, connector=conn)


def claims(engine: Engine) -> set[Claim]:
    with session_scope(engine) as session:
        rows = session.exec(
            select(Observation).where(Observation.source == "asana", col(Observation.deleted_at).is_(None))
        ).all()
        return {
            (r.source_ref, r.field, r.deliverable_key, r.value, r.stated_at.isoformat(), r.author) for r in rows
        }


def row_count(engine: Engine) -> int:
    with session_scope(engine) as session:
        return len(session.exec(select(Observation)).all())


def cursor_of(engine: Engine) -> str | None:
    with session_scope(engine) as session:
        return store.get_cursor(session, Source.ASANA, PROJECT)


def fresh_engine(tmp_path: Path, name: str) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / name}")
    migrate(engine)
    return engine


SU = "2026-11-20T16:00:00+00:00"
DEMO_CLAIMS: set[Claim] = {
    ("3001", "status", "checkout-v2", "on_track", "2026-11-17T09:00:00+00:00", "alice@acme.test"),
    ("3001", "target_date", "checkout-v2", "2026-12-01", "2026-11-02T09:00:00+00:00", None),
    ("3001", "owner", "checkout-v2", "alice@acme.test", "2026-11-02T09:00:00+00:00", None),
    ("3001", "depends_on", "checkout-v2", "payments-api", "2026-11-02T09:00:00+00:00", None),
    ("3002", "status", "payments-api", "at_risk", "2026-11-20T11:02:00+00:00", "bob@acme.test"),
    ("3002", "target_date", "payments-api", "2026-11-27", "2026-11-20T11:05:00+00:00", "bob@acme.test"),
    ("3002", "owner", "payments-api", "bob@acme.test", "2026-11-02T09:05:00+00:00", None),
    ("3003", "status", "search", "on_track", "2026-11-20T14:00:00+00:00", "carol@acme.test"),
    ("3003", "target_date", "search", "2026-12-04", "2026-11-02T09:10:00+00:00", None),
    ("3003", "owner", "search", "carol@acme.test", "2026-11-02T09:10:00+00:00", None),
    ("3004", "status", "onboarding", "done", "2026-11-20T17:30:00+00:00", "alice@acme.test"),
    ("3004", "target_date", "onboarding", "2026-11-20", "2026-11-02T09:15:00+00:00", None),
    ("3004", "owner", "onboarding", "alice@acme.test", "2026-11-02T09:15:00+00:00", None),
    ("3005", "status", "launch-campaign", "on_track", "2026-11-02T09:20:00+00:00", None),
    ("3005", "target_date", "launch-campaign", "2026-12-03", "2026-11-02T09:20:00+00:00", None),
    ("3005", "owner", "launch-campaign", "dan@acme.test", "2026-11-16T10:00:00+00:00", "dan@acme.test"),
    ("3005", "depends_on", "launch-campaign", "checkout-v2", "2026-11-02T09:20:00+00:00", None),
    ("3006", "status", "search-post", "on_track", "2026-11-23T13:45:00+00:00", "fay@acme.test"),
    ("3006", "target_date", "search-post", "2026-12-01", "2026-11-23T13:50:00+00:00", "fay@acme.test"),
    ("3006", "owner", "search-post", "fay@acme.test", "2026-11-02T09:25:00+00:00", None),
    ("3006", "depends_on", "search-post", "search", "2026-11-02T09:25:00+00:00", None),
    # the newest project status update speaks for every open linked task (3004 is completed)
    ("status_update:2001", "status", "checkout-v2", "on_track", SU, "erin@acme.test"),
    ("status_update:2001", "status", "payments-api", "on_track", SU, "erin@acme.test"),
    ("status_update:2001", "status", "search", "on_track", SU, "erin@acme.test"),
    ("status_update:2001", "status", "launch-campaign", "on_track", SU, "erin@acme.test"),
    ("status_update:2001", "status", "search-post", "on_track", SU, "erin@acme.test"),
}

SEARCH_POST_NEEDS_SEARCH = ("3006", "depends_on", "search-post", "search", "2026-11-02T09:25:00+00:00", None)


# -- full sync --------------------------------------------------------------------------------


def test_full_sync_claims_people_stories_and_status_update(
    sqlite_engine: Engine, config: Config, sandbox: Sandbox
) -> None:
    rt = runtime(sqlite_engine, config, sandbox)
    limiter = CountingLimiter()
    report = sync(rt, connector(config, sandbox, rate_limiter=limiter))

    assert report.ok, report.error
    assert claims(sqlite_engine) == DEMO_CLAIMS
    # task pages, stories for the five linked tasks only, one status update page, one /events (412),
    # and (config `workspace`) the workspace's users once per connector
    assert sandbox.request_counts() == {
        "asana GET /events": 1,
        "asana GET /workspaces/{gid}/users": 1,
        "asana GET /projects/{gid}/tasks": 1,
        "asana GET /tasks/{gid}/stories": 6,
        "asana GET /status_updates": 1,
    }
    assert report.requests == 10 == limiter.acquired == limiter.released

    with session_scope(sqlite_engine) as session:
        people = {p.email: p.identity("asana") for p in session.exec(select(Person))}
        row = session.exec(select(Observation).where(Observation.source_ref == "3001")).first()
        assert row is not None and row.permalink == "https://app.asana.com/0/2001/3001"
        assert row.kind == "state" and row.partition == PROJECT
    assert people["alice@acme.test"] == "501" and people["erin@acme.test"] == "505"

    cursor = json.loads(cursor_of(sqlite_engine) or "{}")
    assert cursor["mode"] == "events" and cursor["sync"]
    assert cursor["open"] == ["3001", "3002", "3003", "3005", "3006"]


def test_unlinked_tasks_cost_no_stories(sqlite_engine: Engine, config: Config, sandbox: Sandbox) -> None:
    for n in range(7):
        sandbox.asana.add_task({"gid": f"39{n:02d}", "name": f"chore {n}", "projects": [PROJECT], "assignee": "503"})
    rt = runtime(sqlite_engine, config, sandbox)
    report = sync(rt, connector(config, sandbox, page_size=5))

    assert report.ok, report.error
    assert claims(sqlite_engine) == DEMO_CLAIMS
    counts = sandbox.request_counts()
    assert counts["asana GET /projects/{gid}/tasks"] == 3  # 12 tasks in pages of 5
    assert counts["asana GET /tasks/{gid}/stories"] == 6
    assert report.batches == 5  # the workspace's people, one per page, then the final one with the cursor


# -- incremental ------------------------------------------------------------------------------


def test_idle_incremental_sync_costs_one_request(sqlite_engine: Engine, config: Config, sandbox: Sandbox) -> None:
    rt = runtime(sqlite_engine, config, sandbox)
    conn = connector(config, sandbox)
    assert sync(rt, conn).ok
    sandbox.reset_counts()

    report = sync(rt, conn)

    assert report.ok, report.error
    assert sandbox.request_counts() == {"asana GET /events": 1}
    assert (report.requests, report.inserted, report.updated, report.retracted) == (1, 0, 0, 0)
    assert claims(sqlite_engine) == DEMO_CLAIMS


def test_incremental_sync_picks_up_exactly_the_edits(sqlite_engine: Engine, config: Config, sandbox: Sandbox) -> None:
    rt = runtime(sqlite_engine, config, sandbox)
    conn = connector(config, sandbox)
    assert sync(rt, conn).ok
    sandbox.asana.add_task({"gid": "3999", "name": "unlinked chore", "projects": [PROJECT]})
    sandbox.reset_counts()

    asana = sandbox.asana
    asana.update_task("3003", custom_fields={"700": "Blocked"}, actor="503", at=AT)
    asana.update_task("3002", due_on="2026-12-02", actor="502", at=AT)
    asana.update_task("3001", assignee="502", actor="505", at=AT)
    asana.update_task("3005", dependencies=["3001", "3002"], at=AT)
    asana.update_task("3999", name="still unlinked", at=AT)
    report = sync(rt, conn)

    assert report.ok, report.error
    at = AT.isoformat()
    expected = (
        DEMO_CLAIMS
        - {
            ("3003", "status", "search", "on_track", "2026-11-20T14:00:00+00:00", "carol@acme.test"),
            ("3002", "target_date", "payments-api", "2026-11-27", "2026-11-20T11:05:00+00:00", "bob@acme.test"),
            ("3001", "owner", "checkout-v2", "alice@acme.test", "2026-11-02T09:00:00+00:00", None),
            ("3005", "depends_on", "launch-campaign", "checkout-v2", "2026-11-02T09:20:00+00:00", None),
        }
        | {
            ("3003", "status", "search", "blocked", at, "carol@acme.test"),
            ("3002", "target_date", "payments-api", "2026-12-02", at, "bob@acme.test"),
            ("3001", "owner", "checkout-v2", "bob@acme.test", at, "erin@acme.test"),
            # dated by the dependency_added story, not by the task's creation
            ("3005", "depends_on", "launch-campaign", "checkout-v2,payments-api", at, "dan@acme.test"),
        }
    )
    assert claims(sqlite_engine) == expected
    assert report.updated == 4 and report.inserted == 0 and report.retracted == 0
    # one events page, the tasks modified since its oldest event in one listing (no GET per
    # task), then the four linked tasks' stories; no stories for 3999
    assert sandbox.request_counts() == {
        "asana GET /events": 1,
        "asana GET /projects/{gid}/tasks": 1,
        "asana GET /tasks/{gid}/stories": 4,
    }


def test_completing_a_task_takes_it_out_of_the_status_update(
    sqlite_engine: Engine, config: Config, sandbox: Sandbox
) -> None:
    rt = runtime(sqlite_engine, config, sandbox)
    conn = connector(config, sandbox)
    assert sync(rt, conn).ok
    sandbox.asana.update_task("3002", completed=True, at=AT)
    sandbox.asana.update_task("3004", completed=False, actor="501", at=AT)

    assert sync(rt, conn).ok

    now = claims(sqlite_engine)
    assert ("3002", "status", "payments-api", "done", AT.isoformat(), "bob@acme.test") in now
    # reopened: back to its Status field ("Done" option), dated by the reopening
    assert ("3004", "status", "onboarding", "done", AT.isoformat(), "alice@acme.test") in now
    update_keys = {c[2] for c in now if c[0] == "status_update:2001"}
    assert update_keys == {"checkout-v2", "search", "launch-campaign", "onboarding", "search-post"}


def test_expired_sync_token_recrawls_to_the_same_claims(
    sqlite_engine: Engine, config: Config, sandbox: Sandbox, tmp_path: Path
) -> None:
    rt = runtime(sqlite_engine, config, sandbox)
    conn = connector(config, sandbox)
    assert sync(rt, conn).ok
    sandbox.asana.update_task("3003", custom_fields={"700": "Blocked"}, actor="503", at=AT)
    sandbox.asana.expire_sync_tokens()
    sandbox.reset_counts()

    report = sync(rt, conn)

    assert report.ok, report.error
    counts = sandbox.request_counts()
    assert counts["asana GET /events"] == 1  # the 412 carries the fresh token: no second call
    assert counts["asana GET /projects/{gid}/tasks"] == 1 and counts["asana GET /tasks/{gid}/stories"] == 6
    fresh = fresh_engine(tmp_path, "fresh.db")
    assert sync(runtime(fresh, config, sandbox), connector(config, sandbox)).ok
    assert claims(sqlite_engine) == claims(fresh)
    assert ("3003", "status", "search", "blocked", AT.isoformat(), "carol@acme.test") in claims(sqlite_engine)
    # and the new token works: the next run is incremental again
    sandbox.reset_counts()
    assert sync(rt, conn).ok and sandbox.request_counts() == {"asana GET /events": 1}


def test_deleted_task_is_retracted_by_its_event(sqlite_engine: Engine, config: Config, sandbox: Sandbox) -> None:
    rt = runtime(sqlite_engine, config, sandbox)
    conn = connector(config, sandbox)
    assert sync(rt, conn).ok
    sandbox.asana.delete_task("3003")
    sandbox.reset_counts()

    report = sync(rt, conn)

    assert report.ok, report.error
    # 3006 was not touched: its dependency on the deleted task stays until 3006 is read again
    assert claims(sqlite_engine) == {c for c in DEMO_CLAIMS if c[0] != "3003" and c[2] != "search"}
    assert report.retracted == 4  # status, target_date, owner of 3003 and the status update's claim
    assert sandbox.request_counts() == {"asana GET /events": 1}  # a deletion needs no fetch


def test_deleted_task_is_retracted_by_a_full_crawl(sqlite_engine: Engine, config: Config, sandbox: Sandbox) -> None:
    rt = runtime(sqlite_engine, config, sandbox)
    conn = connector(config, sandbox)
    assert sync(rt, conn).ok
    sandbox.asana.delete_task("3003")
    sandbox.asana.expire_sync_tokens()  # the event is lost with the token: only the crawl can tell

    assert sync(rt, conn).ok
    assert claims(sqlite_engine) == {c for c in DEMO_CLAIMS if c[0] != "3003" and c[2] != "search"} - {SEARCH_POST_NEEDS_SEARCH}


def test_periodic_full_crawl_catches_what_events_missed(
    sqlite_engine: Engine, config: Config, sandbox: Sandbox
) -> None:
    rt = runtime(sqlite_engine, config, sandbox)
    assert sync(rt, connector(config, sandbox, full_crawl_every=timedelta(hours=6))).ok
    sandbox.asana.tasks.pop("3005")  # gone without an event, as when Asana drops one

    sandbox.reset_counts()
    assert sync(rt, connector(config, sandbox, full_crawl_every=timedelta(hours=6))).ok
    assert sandbox.request_counts() == {"asana GET /events": 1}  # not due yet: nothing seen
    assert any(c[0] == "3005" for c in claims(sqlite_engine))

    later = datetime.now(UTC) + timedelta(hours=7)
    assert sync(rt, connector(config, sandbox, full_crawl_every=timedelta(hours=6), clock=lambda: later)).ok
    assert not any(c[0] == "3005" or c[2] == "launch-campaign" for c in claims(sqlite_engine))


def test_changed_mapping_config_forces_a_recrawl(sqlite_engine: Engine, config: Config, sandbox: Sandbox) -> None:
    rt = runtime(sqlite_engine, config, sandbox)
    assert sync(rt, connector(config, sandbox)).ok
    asana = config.source("asana")
    changed = config.with_source(
        "asana", asana.model_copy(update={"status_map": {**asana.status_map, "on track": CanonicalStatus.AT_RISK}})
    )
    sandbox.reset_counts()

    assert sync(rt, connector(changed, sandbox)).ok

    assert sandbox.request_counts()["asana GET /projects/{gid}/tasks"] == 1
    assert ("3001", "status", "checkout-v2", "at_risk", "2026-11-17T09:00:00+00:00", "alice@acme.test") in claims(
        sqlite_engine
    )


def relinked(config: Config, sb: Sandbox, asana_links: dict[str, str], **kwargs: Any) -> AsanaConnector:
    """A connector whose deliverable index links these Asana tasks (as changed `[[deliverable_rules]]` do)."""
    index = config.deliverable_index()
    links = {**index.links, "asana": asana_links}
    return AsanaConnector(
        token=TOKEN,
        base_url=sb.asana_base_url,
        config=config.source("asana"),
        index=DeliverableIndex(links, index.by_alias, index.channel_defaults),
        timezone=config.timezone,
        sleep=Sleeps(),
        backoff=0.001,
        **kwargs,
    )


def test_a_newly_linked_task_is_read_alone_not_by_a_crawl(
    sqlite_engine: Engine, config: Config, sandbox: Sandbox
) -> None:
    sandbox.asana.add_task({"gid": "3999", "name": "new thing", "projects": [PROJECT], "assignee": "503"})
    rt = runtime(sqlite_engine, config, sandbox)
    assert sync(rt, connector(config, sandbox)).ok
    assert not any(c[0] == "3999" for c in claims(sqlite_engine))
    sandbox.reset_counts()
    conn = relinked(config, sandbox, {**config.deliverable_index().linked("asana"), "3999": "new-thing"})

    report = sync(rt, conn)

    assert report.ok, report.error
    # the project's gids in one listing, then the one newly linked task; no crawl of the project
    assert sandbox.request_counts() == {
        "asana GET /projects/{gid}/tasks": 1,
        "asana GET /tasks/{gid}": 1,
        "asana GET /tasks/{gid}/stories": 1,
        "asana GET /events": 1,
    }
    now = claims(sqlite_engine)
    assert DEMO_CLAIMS <= now
    assert {c[:3] for c in now - DEMO_CLAIMS} >= {
        ("3999", "owner", "new-thing"),
        ("status_update:2001", "status", "new-thing"),  # open, so the status update speaks for it
    }
    sandbox.reset_counts()
    assert sync(rt, conn).ok
    assert sandbox.request_counts() == {"asana GET /events": 1}


def test_an_unlinked_task_is_withdrawn_without_a_crawl(
    sqlite_engine: Engine, config: Config, sandbox: Sandbox
) -> None:
    rt = runtime(sqlite_engine, config, sandbox)
    assert sync(rt, connector(config, sandbox)).ok
    sandbox.reset_counts()
    links = {g: key for g, key in config.deliverable_index().linked("asana").items() if g != "3006"}

    report = sync(rt, relinked(config, sandbox, links))

    assert report.ok, report.error
    assert sandbox.request_counts() == {"asana GET /projects/{gid}/tasks": 1, "asana GET /events": 1}
    assert claims(sqlite_engine) == {c for c in DEMO_CLAIMS if c[0] != "3006" and c[2] != "search-post"}


def test_a_task_linked_to_another_deliverable_is_read_again_alone(
    sqlite_engine: Engine, config: Config, sandbox: Sandbox
) -> None:
    rt = runtime(sqlite_engine, config, sandbox)
    assert sync(rt, connector(config, sandbox)).ok
    sandbox.reset_counts()
    links = {**config.deliverable_index().linked("asana"), "3006": "search-post-v2"}

    assert sync(rt, relinked(config, sandbox, links)).ok

    assert sandbox.request_counts() == {
        "asana GET /projects/{gid}/tasks": 1,
        "asana GET /tasks/{gid}": 1,
        "asana GET /tasks/{gid}/stories": 1,
        "asana GET /events": 1,
    }
    renamed = {(c[0], c[1], "search-post-v2" if c[2] == "search-post" else c[2], *c[3:]) for c in DEMO_CLAIMS}
    assert claims(sqlite_engine) == renamed


def test_links_changed_during_an_unfinished_crawl_start_it_over(
    sqlite_engine: Engine, config: Config, sandbox: Sandbox
) -> None:
    rt = runtime(sqlite_engine, config, sandbox)
    conn = connector(config, sandbox, page_size=2, max_retries=1, rate_limiter=_break_second_page(sandbox))
    assert not sync(rt, conn).ok
    assert {c[0] for c in claims(sqlite_engine)} == {"3001", "3002"}  # the first page committed
    sandbox.clear_faults()
    links = {**config.deliverable_index().linked("asana"), "3001": "renamed"}
    sandbox.reset_counts()

    assert sync(rt, relinked(config, sandbox, links, page_size=2)).ok

    keys = {c[2] for c in claims(sqlite_engine) if c[0] == "3001"}
    assert keys == {"renamed"}  # the page read under the old links was read again
    assert "asana GET /events" in sandbox.request_counts()  # started over: a fresh sync token


def test_events_unavailable_falls_back_to_polling(sqlite_engine: Engine, config: Config, sandbox: Sandbox) -> None:
    sandbox.fail("GET /events", status=501)
    rt = runtime(sqlite_engine, config, sandbox)
    conn = connector(config, sandbox)
    assert sync(rt, conn).ok
    assert claims(sqlite_engine) == DEMO_CLAIMS
    assert json.loads(cursor_of(sqlite_engine) or "{}")["mode"] == "poll"

    sandbox.reset_counts()
    assert sync(rt, conn).ok
    # idle poll: one (empty) modified_since page and the status update; no /events any more
    assert sandbox.request_counts() == {"asana GET /projects/{gid}/tasks": 1, "asana GET /status_updates": 1}

    sandbox.asana.update_task("3003", custom_fields={"700": "Blocked"}, actor="503", at=datetime.now(UTC))
    sandbox.reset_counts()
    assert sync(rt, conn).ok
    assert sandbox.request_counts() == {
        "asana GET /projects/{gid}/tasks": 1,
        "asana GET /tasks/{gid}/stories": 1,
        "asana GET /status_updates": 1,
    }
    assert any(c[:4] == ("3003", "status", "search", "blocked") for c in claims(sqlite_engine))


# -- rate limits and failures -----------------------------------------------------------------


def test_429_storm_ends_in_the_same_claims_as_a_calm_run(
    sqlite_engine: Engine, config: Config, sandbox: Sandbox, tmp_path: Path
) -> None:
    calm = fresh_engine(tmp_path, "calm.db")
    with Sandbox(demo_scenario(as_written=True), port=0) as quiet:
        assert sync(runtime(calm, config, quiet), connector(config, quiet)).ok

    sandbox.fail("asana *", status=429, retry_after=2, times=3)
    sleeps = Sleeps()
    limiter = CountingLimiter()
    rt = runtime(sqlite_engine, config, sandbox)
    storm = connector(config, sandbox, sleep=sleeps, rate_limiter=limiter, max_retries=12)
    report = sync(rt, storm)
    assert report.ok, report.error
    with session_scope(sqlite_engine) as session:
        (cursor,) = store.sync_cursors(session)
        assert cursor.throttled == 3  # the 429s, counted for /metrics
    assert sleeps[:3] == [2.0, 2.0, 2.0]  # Retry-After honoured

    sandbox.fault_rate(0.4, kinds=("429", "500", "502", "503", "reset", "bad_json"), seed=11)
    sandbox.asana.expire_sync_tokens()  # a second full crawl, through the storm
    report = sync(rt, storm)
    sandbox.clear_faults()

    assert report.ok, report.error
    assert claims(sqlite_engine) == claims(calm) == DEMO_CLAIMS
    assert sum(sandbox.request_counts().values()) == limiter.acquired == limiter.released
    assert len(sleeps) > 3  # it did retry through the random faults


def test_timeouts_and_resets_are_retried(sqlite_engine: Engine, config: Config, sandbox: Sandbox) -> None:
    sandbox.fault_rate(0.5, kinds=("slow", "reset"), seed=3)  # "slow" answers after 0.2 s
    rt = runtime(sqlite_engine, config, sandbox)
    sleeps = Sleeps()
    report = sync(rt, connector(config, sandbox, timeout=(2.0, 0.05), max_retries=10, sleep=sleeps))
    sandbox.clear_faults()
    assert report.ok, report.error
    assert len(sleeps) >= 3 and report.requests == sum(sandbox.request_counts().values())
    assert claims(sqlite_engine) == DEMO_CLAIMS


@pytest.mark.parametrize("kind", ["html", "bad_json"])
def test_a_gateway_page_and_a_cut_off_answer_are_retried(
    sqlite_engine: Engine, config: Config, sandbox: Sandbox, kind: str
) -> None:
    """A proxy's 502 page in HTML, or JSON cut off half way, on a task page and on stories: a
    backoff and another attempt each, and the claims are the calm ones."""
    sandbox.fail("GET /projects/{gid}/tasks", kind=kind, times=2)
    sandbox.fail("GET /tasks/{gid}/stories", kind=kind, times=1)
    rt = runtime(sqlite_engine, config, sandbox)
    sleeps = Sleeps()
    report = sync(rt, connector(config, sandbox, sleep=sleeps))
    assert report.ok, report.error
    assert len(sleeps) == 3 and all(s > 0 for s in sleeps)
    assert claims(sqlite_engine) == DEMO_CLAIMS


def test_no_answer_at_all_is_unreachable(sqlite_engine: Engine, config: Config, sandbox: Sandbox) -> None:
    sandbox.fail("asana *", kind="reset")
    report = sync(runtime(sqlite_engine, config, sandbox), connector(config, sandbox, max_retries=2))
    sandbox.clear_faults()
    assert not report.ok and report.transient and report.unreachable
    assert report.error and report.error.endswith("connection failed (ProtocolError); gave up after 3 attempts")


def test_exhausted_retries_are_transient_and_keep_the_cursor(
    sqlite_engine: Engine, config: Config, sandbox: Sandbox
) -> None:
    rt = runtime(sqlite_engine, config, sandbox)
    sandbox.fail("GET /tasks/{gid}/stories", status=503)
    report = sync(rt, connector(config, sandbox, max_retries=2))

    assert not report.ok and report.transient and not report.unreachable  # Asana answered
    assert report.error == "Asana task 3001 (project 2001): server error (503); gave up after 3 attempts"
    assert cursor_of(sqlite_engine) is None
    sandbox.clear_faults()
    assert sync(rt, connector(config, sandbox)).ok
    assert claims(sqlite_engine) == DEMO_CLAIMS


def _break_second_page(sandbox: Sandbox) -> CountingLimiter:
    def on_acquire(n: int) -> None:
        # request 1 is /events, 2 the workspace's users, 3 the first task page, 4-5 its stories, 6 the second page
        if n == 6:
            sandbox.fail("GET /projects/{gid}/tasks", status=500, times=10)

    return CountingLimiter(on_acquire)


def test_crawl_that_dies_midway_resumes_at_the_failed_page(
    sqlite_engine: Engine, config: Config, sandbox: Sandbox, tmp_path: Path
) -> None:
    rt = runtime(sqlite_engine, config, sandbox)
    report = sync(rt, connector(config, sandbox, page_size=2, max_retries=1, rate_limiter=_break_second_page(sandbox)))
    first = sandbox.request_counts()
    assert not report.ok and report.transient and report.batches == 2  # the people, the first page
    assert {c[0] for c in claims(sqlite_engine)} == {"3001", "3002"}  # the first page committed
    checkpoint = AsanaCursor.load(cursor_of(sqlite_engine))  # ...with where to go on
    assert checkpoint is not None and checkpoint.mode == "crawl" and checkpoint.crawl is not None
    assert checkpoint.crawl.offset and not checkpoint.crawl.tasks_done
    assert checkpoint.crawl.seen == ["3001", "3002"] and checkpoint.crawl.sync

    sandbox.clear_faults()
    sandbox.reset_counts()
    assert sync(rt, connector(config, sandbox, page_size=2)).ok
    assert claims(sqlite_engine) == DEMO_CLAIMS
    assert row_count(sqlite_engine) == len(DEMO_CLAIMS)
    counts = sandbox.request_counts()
    assert counts["asana GET /projects/{gid}/tasks"] == 2 + 1  # the two pages left, then every gid in one page
    sandbox.reset_counts()
    assert sync(runtime(fresh_engine(tmp_path, "calm.db"), config, sandbox), connector(config, sandbox, page_size=2)).ok
    calm = sandbox.request_counts()
    stories = "asana GET /tasks/{gid}/stories"
    assert first[stories] + counts[stories] == calm[stories]  # no task's stories read twice
    assert "asana GET /events" not in counts and "asana GET /workspaces/{gid}/users" not in counts
    done = AsanaCursor.load(cursor_of(sqlite_engine))
    assert done is not None and done.mode == "events" and done.crawl is None and done.sync == checkpoint.crawl.sync


def test_a_task_deleted_between_runs_of_a_crawl_shifts_no_task_out(
    sqlite_engine: Engine, config: Config, sandbox: Sandbox, tmp_path: Path
) -> None:
    """Offsets are positions: a seen task deleted before the crawl goes on shifts the next page
    past a task the crawl never read. The gid listing at the end finds it, and the store ends as
    a crawl of the new state in one go."""
    rt = runtime(sqlite_engine, config, sandbox)
    assert not sync(rt, connector(config, sandbox, page_size=2, max_retries=1, rate_limiter=_break_second_page(sandbox))).ok
    sandbox.clear_faults()
    sandbox.asana.delete_task("3001")
    assert sync(rt, connector(config, sandbox, page_size=2)).ok

    fresh = fresh_engine(tmp_path, "fresh.db")
    assert sync(runtime(fresh, config, sandbox), connector(config, sandbox)).ok
    assert claims(sqlite_engine) == claims(fresh)
    assert {c[0] for c in claims(fresh)} >= {"3002", "3003"} and "3001" not in {c[0] for c in claims(fresh)}


def test_a_refused_offset_starts_the_crawl_over(sqlite_engine: Engine, config: Config, sandbox: Sandbox) -> None:
    rt = runtime(sqlite_engine, config, sandbox)
    assert not sync(rt, connector(config, sandbox, page_size=2, max_retries=1, rate_limiter=_break_second_page(sandbox))).ok
    sandbox.clear_faults()
    checkpoint = AsanaCursor.load(cursor_of(sqlite_engine))
    assert checkpoint is not None and checkpoint.crawl is not None
    checkpoint.crawl.offset = "expired-offset"
    with session_scope(sqlite_engine) as session:
        row = session.exec(select(SyncCursor).where(SyncCursor.partition == PROJECT)).one()
        row.cursor = checkpoint.dump()
        session.add(row)
    assert sync(rt, connector(config, sandbox, page_size=2)).ok
    assert claims(sqlite_engine) == DEMO_CLAIMS
    assert row_count(sqlite_engine) == len(DEMO_CLAIMS)


def test_a_crawl_with_one_request_in_ten_failing_completes(
    sqlite_engine: Engine, config: Config, sandbox: Sandbox
) -> None:
    """Answers that are 5xx (JSON or a gateway's HTML page), dropped or cut off, 1 request in 10,
    and no retries (each fault ends
    its run): every run keeps its pages, and the runs after it end in the calm crawl's claims."""
    for n in range(40):  # pages of unlinked tasks: a crawl redone from the start would rarely finish
        sandbox.asana.add_task({"name": f"chore {n}", "projects": [PROJECT]})
    assert len(sandbox.asana._project_tasks[PROJECT]) == 46
    sandbox.hang_seconds = 0.5
    sandbox.fault_rate(0.1, kinds=("500", "502", "503", "html", "reset", "bad_json", "timeout"), seed=5)
    rt = runtime(sqlite_engine, config, sandbox)
    runs = 0
    while True:  # what the next scheduled sync does: go on from the stored cursor
        runs += 1
        report = sync(rt, connector(config, sandbox, page_size=1, max_retries=0, timeout=0.3))
        if report.ok or runs == 20:
            break
    sandbox.clear_faults()
    assert report.ok, report.error
    assert runs > 1, "no run failed: raise the fault rate or change the seed"
    assert claims(sqlite_engine) == DEMO_CLAIMS
    assert row_count(sqlite_engine) == len(DEMO_CLAIMS)


def test_401_is_one_clear_line_and_leaves_the_cursor(sqlite_engine: Engine, config: Config, sandbox: Sandbox) -> None:
    assert sync(runtime(sqlite_engine, config, sandbox)).ok  # built by the pipeline, as in production
    before = cursor_of(sqlite_engine)
    assert before is not None

    revoked = runtime(sqlite_engine, config, sandbox, token="asana-revoked")
    report = sync(revoked)

    assert report.error == "Asana project 2001: not authorised (401) — check ASANA_TOKEN"
    assert not report.transient and report.requests == 0
    assert cursor_of(sqlite_engine) == before
    with session_scope(sqlite_engine) as session:
        (row,) = [c for c in store.sync_cursors(session) if c.partition == PROJECT]
        assert row.last_error == report.error
    assert claims(sqlite_engine) == DEMO_CLAIMS
    assert sandbox.request_counts()["asana GET /events"] == 2  # one request, no retries


def test_unknown_project_names_it(sqlite_engine: Engine, config: Config, sandbox: Sandbox) -> None:
    rt = runtime(sqlite_engine, config, sandbox)
    report = sync_partition(rt, Source.ASANA, "2999", connector=connector(config, sandbox))
    assert report.error == "Asana project 2999: not found (404) — check the gid in the config"
    assert TOKEN not in (report.error or "")


def test_cursor_is_ours_or_ignored() -> None:
    assert AsanaCursor.load(None) is None
    assert AsanaCursor.load("not json") is None
    assert AsanaCursor.load(json.dumps({"v": 99, "mode": "events"})) is None
    cursor = AsanaCursor(mode="events", crawled_at="2026-11-25T10:00:00.000Z", config="abc", sync="tok")
    assert AsanaCursor.load(cursor.dump()) == cursor
    assert "crawl" not in json.loads(cursor.dump())
    crawl = CrawlProgress(mode="events", sync="tok", offset="next-page", tasks_done=False, seen=["3001"], open=["3001"])
    unfinished = AsanaCursor(mode="crawl", crawled_at="2026-11-25T10:00:00.000Z", config="abc", crawl=crawl)
    assert AsanaCursor.load(unfinished.dump()) == unfinished
    broken_ones = ({"offset": None}, {"mode": "events", "sync": None}, {"mode": "x"})
    for broken in (crawl.model_copy(update=changes) for changes in broken_ones):
        assert AsanaCursor.load(unfinished.replace(crawl=broken).dump()) is None
    done = crawl.model_copy(update={"offset": None, "tasks_done": True})
    assert AsanaCursor.load(unfinished.replace(crawl=done).dump()) is not None


def test_a_changed_task_the_listing_lacks_is_read_on_its_own(
    sqlite_engine: Engine, config: Config, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Real Asana leaves some changes out of `modified_at` (comments, project membership), so a
    changed task can be missing from the `modified_since` listing: it is then read by its gid."""
    rt = runtime(sqlite_engine, config, sandbox)
    conn = connector(config, sandbox)
    assert sync(rt, conn).ok
    listing = conn._tasks_modified_since

    def without_3002(*args: Any, **kwargs: Any) -> dict[str, dict[str, Any]]:
        found = listing(*args, **kwargs)
        assert "3002" in found and "3003" in found
        return {gid: task for gid, task in found.items() if gid != "3002"}

    monkeypatch.setattr(conn, "_tasks_modified_since", without_3002)
    sandbox.reset_counts()
    sandbox.asana.update_task("3003", custom_fields={"700": "Blocked"}, actor="503", at=AT)
    sandbox.asana.update_task("3002", due_on="2026-12-02", actor="502", at=AT)
    report = sync(rt, conn)

    assert report.ok, report.error
    assert report.updated == 2
    assert ("3002", "target_date", "payments-api", "2026-12-02", AT.isoformat(), "bob@acme.test") in claims(sqlite_engine)
    assert ("3003", "status", "search", "blocked", AT.isoformat(), "carol@acme.test") in claims(sqlite_engine)
    assert sandbox.request_counts() == {
        "asana GET /events": 1,
        "asana GET /projects/{gid}/tasks": 1,
        "asana GET /tasks/{gid}": 1,
        "asana GET /tasks/{gid}/stories": 2,
    }
