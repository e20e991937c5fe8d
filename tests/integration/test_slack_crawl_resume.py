"""A first crawl of a Slack channel keeps its progress page by page and thread by thread: a run
that fails on one page resumes where it stopped, and the store ends as a fault-free crawl's.
Real store (SQLite), real slack-sdk over HTTP against the sandbox."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlmodel import select

from connectors.base import Source
from connectors.sandbox import Sandbox, bundled_scenario_path, load_scenario
from connectors.slack.connector import SlackConnector
from connectors.slack.client import make_web_client
from reconciler import compose, pipeline, store
from reconciler.db import session_scope
from reconciler.models import Observation
from reconciler.settings import Settings

PAGE = 5
MESSAGES = 32  # with the demo's own: 8 pages of history
THREADS = 4
STATUS = ("is blocked", "is at risk", "is on track", "is done")


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    with Sandbox(load_scenario(bundled_scenario_path("demo")), port=0) as sandbox:
        parents = []
        for i in range(MESSAGES):
            ts = sandbox.slack.post("C01", "U01" if i % 2 else "U02", f"checkout {STATUS[i % 4]} (update {i})")
            if i % 8 == 0:
                parents.append(ts)
        for n, parent in enumerate(parents[:THREADS]):
            for j in range(3):
                sandbox.slack.post("C01", "U03", f"payments {STATUS[(n + j) % 4]} (reply {n}.{j})", thread_ts=parent)
        sandbox.hang_seconds = 0.5
        yield sandbox


class FailsOnce:
    """A rate limiter that arms one sandbox fault just before the `nth` call of `method`."""

    def __init__(self, sb: Sandbox, method: str | None = None, nth: int = 0) -> None:
        self.sb, self.method, self.nth = sb, method, nth
        self.calls: dict[str, int] = {}
        self.order: list[str] = []  # the methods called, in order

    def acquire(self, key: str) -> None:
        method = key.removeprefix("slack:")
        self.calls[method] = self.calls.get(method, 0) + 1
        self.order.append(method)
        if method == self.method and self.calls[method] == self.nth:
            self.sb.fail(method, slack_error="internal_error", times=1)

    def release(self, key: str) -> None:
        pass


def runtime(sb: Sandbox, tmp_path: Path, name: str) -> pipeline.Runtime:
    settings = compose.pointed_at_sandbox(Settings(), sb, database_url=f"sqlite:///{tmp_path / name}")
    rt = pipeline.load_runtime(settings=settings, config_path=pipeline.EXAMPLE_CONFIG)
    pipeline.apply_config(rt)
    return rt


def crawl(
    rt: pipeline.Runtime, sb: Sandbox, limiter: FailsOnce, *, timeout: float = 5,
    on_batch: Callable[[pipeline.SyncReport], None] | None = None,
) -> pipeline.SyncReport:
    connector = SlackConnector(
        token="xoxb-sandbox-token", base_url=sb.slack_base_url, config=rt.config.source("slack"),
        index=rt.config.deliverable_index(), rate_limiter=limiter, timezone=rt.config.timezone, page_size=PAGE,
        client=make_web_client("xoxb-sandbox-token", sb.slack_base_url, timeout=timeout, backoff_factor=0.01),
    )
    return pipeline.sync_partition(rt, Source.SLACK, "launches", connector=connector, on_batch=on_batch)


def claims(rt: pipeline.Runtime) -> set[tuple[str, str, str, str | None]]:
    with session_scope(rt.engine) as session:
        return {
            (o.source_ref, o.deliverable_key, o.field, o.value)
            for o in session.exec(select(Observation).where(Observation.deleted_at.is_(None)))  # type: ignore[union-attr]
        }


def stored_crawl(rt: pipeline.Runtime) -> dict | None:  # type: ignore[type-arg]
    with session_scope(rt.engine) as session:
        raw = store.get_cursor(session, Source.SLACK, "launches")
    return json.loads(raw).get("crawl") if raw else None


def test_a_crawl_failing_on_a_history_page_resumes_there(sb: Sandbox, tmp_path: Path) -> None:
    calm_rt = runtime(sb, tmp_path, "calm.db")
    calm_limiter = FailsOnce(sb)
    assert crawl(calm_rt, sb, calm_limiter).ok
    pages = calm_limiter.calls["conversations.history"]
    assert pages >= 7 and stored_crawl(calm_rt) is None

    rt = runtime(sb, tmp_path, "resumed.db")
    first = FailsOnce(sb, "conversations.history", nth=4)
    failed = crawl(rt, sb, first)
    assert not failed.ok and "internal_error" in (failed.error or "")
    checkpoint = stored_crawl(rt)
    assert checkpoint is not None and checkpoint["before"] and not checkpoint["history_done"]
    assert 0 < len(claims(rt)) < len(claims(calm_rt))  # three pages are kept

    second = FailsOnce(sb)
    assert crawl(rt, sb, second).ok
    assert second.calls["conversations.history"] == pages - 3  # from the failed page on
    # the threads of the three pages kept were read with them; the rest now
    assert 0 < first.calls["conversations.replies"] < calm_limiter.calls["conversations.replies"]
    assert first.calls["conversations.replies"] + second.calls["conversations.replies"] == (
        calm_limiter.calls["conversations.replies"]
    )
    assert claims(rt) == claims(calm_rt) and stored_crawl(rt) is None


def test_a_crawl_failing_on_a_thread_resumes_with_the_threads_left(sb: Sandbox, tmp_path: Path) -> None:
    calm_rt = runtime(sb, tmp_path, "calm.db")
    calm_limiter = FailsOnce(sb)
    assert crawl(calm_rt, sb, calm_limiter).ok
    threads = calm_limiter.calls["conversations.replies"]
    assert threads >= THREADS

    rt = runtime(sb, tmp_path, "resumed.db")
    first = FailsOnce(sb, "conversations.replies", nth=3)
    assert not crawl(rt, sb, first).ok
    checkpoint = stored_crawl(rt)
    assert checkpoint is not None and checkpoint["threads"]  # the failed thread (and its page's others)

    second = FailsOnce(sb)
    assert crawl(rt, sb, second).ok
    assert second.order[0] == "conversations.replies"  # the page's threads left, before more history
    # no history page is read twice, no thread read before the failure is read again
    assert first.calls["conversations.history"] + second.calls["conversations.history"] == (
        calm_limiter.calls["conversations.history"]
    )
    assert second.calls["conversations.replies"] == threads - 2
    assert claims(rt) == claims(calm_rt)


def test_a_first_read_goes_newest_first_with_threads_and_says_how_far_it_is(sb: Sandbox, tmp_path: Path) -> None:
    """Each history page's threads are read right after it (not after the whole history), and
    every batch of the crawl says the share of the channel's life read, ending at 1."""
    oldest = min(float(ts) for ts in sb.slack.messages["C01"])
    sb.slack.channels["C01"].created = int(oldest) - 60  # its life: from just before its first message
    rt = runtime(sb, tmp_path, "order.db")
    limiter = FailsOnce(sb)
    seen: list[float | None] = []
    assert crawl(rt, sb, limiter, on_batch=lambda r: seen.append(r.progress)).ok
    history = [i for i, m in enumerate(limiter.order) if m == "conversations.history"]
    replies = [i for i, m in enumerate(limiter.order) if m == "conversations.replies"]
    assert len(history) >= 7 and len(replies) >= THREADS
    assert replies[0] < history[-1]  # threads came before the oldest history page
    # the channel's creation: from the directory read to resolve the name, no conversations.info
    assert "conversations.info" not in limiter.calls and limiter.calls["conversations.list"] == 1
    known = [p for p in seen if p is not None]
    # the fixture's messages are seconds old, the demo's days: the share grows as those are read
    assert known == sorted(known) and known[-1] == 1.0 and any(0 < p < 1 for p in known)


def test_a_channel_with_one_request_in_ten_failing_completes_its_crawl(sb: Sandbox, tmp_path: Path) -> None:
    calm_rt = runtime(sb, tmp_path, "calm.db")
    sb.reset_counts()
    assert crawl(calm_rt, sb, FailsOnce(sb)).ok
    calm_requests = sum(sb.request_counts().values())

    rt = runtime(sb, tmp_path, "stormy.db")
    sb.reset_counts()
    sb.fault_rate(0.1, kinds=("500", "502", "503", "reset", "timeout"), seed=3)
    runs = 0
    while True:  # what the next scheduled sync does: run again from the stored cursor
        runs += 1
        report = crawl(rt, sb, FailsOnce(sb), timeout=0.3)
        if report.ok or runs == 5:
            break
    sb.clear_faults()
    assert report.ok, report.error
    assert sum(sb.request_counts().values()) > calm_requests, "no fault was injected"
    assert len(claims(calm_rt)) > MESSAGES and claims(rt) == claims(calm_rt)


def test_a_cut_off_or_gateway_answer_on_a_read_is_retried_within_the_run(sb: Sandbox, tmp_path: Path) -> None:
    rt = runtime(sb, tmp_path, "retried.db")
    sb.fail("conversations.history", kind="bad_json", times=1)
    sb.fail("conversations.replies", status=504, times=1)
    sb.reset_counts()
    assert crawl(rt, sb, FailsOnce(sb)).ok  # one run: nothing needed a second one
    calm_rt = runtime(sb, tmp_path, "calm.db")
    assert crawl(calm_rt, sb, FailsOnce(sb)).ok
    assert claims(rt) == claims(calm_rt)
