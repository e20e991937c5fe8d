"""The connector toolkit: the call loop (classification, Retry-After, backoff, counting,
unreachable, exactly-once confirm), the paginators (pages, resume position) and CursorModel."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, ClassVar

import pytest

from connectors.base import (
    CanonicalStatus,
    ConnectorError,
    DeliverableIndex,
    DeliverableRef,
    TransientError,
    UnreachableError,
)
from connectors.toolkit import (
    Backoff,
    CallPolicy,
    CursorModel,
    CursorPaginator,
    Fatal,
    Ok,
    OffsetPaginator,
    RequestCount,
    Retry,
    RetryAfter,
    Verdict,
    call,
)
from tests.fake_source.source import Answer, TrackerConfig, TrackerConnector, TrackerCursor, TrackerItem, item_api


class Limiter:
    def __init__(self) -> None:
        self.events: list[str] = []

    def acquire(self, key: str) -> None:
        self.events.append(f"acquire {key}")

    def release(self, key: str) -> None:
        self.events.append(f"release {key}")


def scripted(*outcomes: Any) -> Iterator[Any]:
    """A send function's successive outcomes: a value is answered, an exception raised."""
    return iter(outcomes)


def sender(outcomes: Iterator[Any]) -> Any:
    def send() -> Any:
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    return send


def by_status(answer: Any) -> Verdict[str]:
    """A classifier for answers shaped (status, body, retry_after)."""
    if isinstance(answer, ConnectionError):
        return Retry("connection failed", answered=False, outcome_unknown=True)
    if isinstance(answer, Exception):
        return Fatal(answer)
    status, body, retry_after = answer
    if status == 200:
        return Ok(body)
    if status == 429:
        return RetryAfter(retry_after)
    if status >= 500:
        return Retry(f"server error ({status})", outcome_unknown=True)
    return Fatal(ConnectorError(f"refused ({status})"))


def policy(sleeps: list[float], *, max_retries: int = 3, limiter: Limiter | None = None) -> CallPolicy:
    return CallPolicy(limiter=limiter or Limiter(), limiter_key="src", max_retries=max_retries,
                      backoff=Backoff(1.0, 8.0), sleep=sleeps.append, name="src")


def test_ok_returns_the_classified_value_after_one_counted_request() -> None:
    count, sleeps, limiter = RequestCount(), [], Limiter()
    body = call(sender(scripted((200, "hello", None))), by_status, policy=policy(sleeps, limiter=limiter),
                count=count, where="src thing")
    assert body == "hello" and count.total == 1 and sleeps == []
    assert limiter.events == ["acquire src", "release src"]


def test_retry_after_is_waited_exactly_and_counted_as_throttled() -> None:
    count, sleeps = RequestCount(), []
    outcomes = scripted((429, None, 7.5), (429, None, None), (200, "ok", None))
    assert call(sender(outcomes), by_status, policy=policy(sleeps), count=count, where="w") == "ok"
    assert sleeps[0] == 7.5  # the server's Retry-After, not the backoff
    assert 1.0 <= sleeps[1] <= 2.0  # no Retry-After given: the second attempt's backoff
    assert (count.take(), count.take_throttled()) == (3, 2)
    assert (count.take(), count.take_throttled()) == (0, 0)  # takes give what is new


def test_backoff_doubles_up_to_its_cap_with_jitter() -> None:
    backoff = Backoff(0.5, 4.0)
    assert [backoff.ceiling(n) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert backoff.ceiling(10_000) == 4.0
    assert backoff.delay(9, uniform=lambda low, high: high) == 4.0
    assert backoff.delay(9, uniform=lambda low, high: low) == 2.0


def test_spent_retries_after_an_answer_are_transient_and_say_why() -> None:
    count, sleeps = RequestCount(), []
    outcomes = scripted(ConnectionError(), (503, None, None), (502, None, None))
    with pytest.raises(TransientError) as raised:
        call(sender(outcomes), by_status, policy=policy(sleeps, max_retries=2), count=count, where="src board")
    assert not isinstance(raised.value, UnreachableError)
    assert str(raised.value) == "src board: server error (502); gave up after 3 attempts"
    assert count.total == 3 and len(sleeps) == 2


def test_no_answer_in_any_attempt_is_unreachable() -> None:
    count = RequestCount()
    with pytest.raises(UnreachableError, match="src board: connection failed; gave up after 2 attempts"):
        call(sender(scripted(ConnectionError(), ConnectionError())), by_status,
             policy=policy([], max_retries=1), count=count, where="src board")
    assert count.total == 2


def test_fatal_raises_its_error_at_once_and_an_unclassified_exception_as_it_was() -> None:
    count, limiter = RequestCount(), Limiter()
    with pytest.raises(ConnectorError, match=r"^refused \(404\)$"):
        call(sender(scripted((404, None, None))), by_status, policy=policy([], limiter=limiter), count=count, where="w")
    with pytest.raises(KeyError):
        call(sender(scripted(KeyError("bug"))), by_status, policy=policy([], limiter=limiter), count=count, where="w")
    assert count.total == 2 and limiter.events.count("release src") == 2  # released on every path


def test_confirm_is_asked_after_an_unknown_outcome_instead_of_sending_again() -> None:
    count, asked = RequestCount(), []

    def confirm() -> str | None:
        asked.append("confirm")
        return "the comment, found"

    outcomes = scripted((500, None, None), (200, "sent twice", None))
    found = call(sender(outcomes), by_status, policy=policy([]), count=count, where="w", confirm=confirm)
    assert found == "the comment, found" and asked == ["confirm"] and count.total == 1


def offset_api(pages: dict[str | None, tuple[list[int], str | None]]) -> tuple[list[str | None], Any]:
    asked: list[str | None] = []

    def fetch(offset: str | None) -> dict[str, Any]:
        asked.append(offset)
        items, following = pages[offset]
        return {"data": items, "next_page": {"offset": following} if following else None}

    return asked, fetch


def test_offset_paginator_yields_each_page_once_and_keeps_the_resume_position() -> None:
    asked, fetch = offset_api({None: ([1, 2], "b"), "b": ([3, 4], "c"), "c": ([5], None)})
    pages = OffsetPaginator(fetch)
    positions = []
    for page in pages:
        positions.append((page.items, page.next, pages.position, pages.done))
    assert positions == [([1, 2], "b", "b", False), ([3, 4], "c", "c", False), ([5], None, None, True)]
    assert asked == [None, "b", "c"]  # one request per page

    asked, fetch = offset_api({None: ([1, 2], "b"), "b": ([3, 4], "c"), "c": ([5], None)})
    stopped = OffsetPaginator(fetch)
    next(iter(stopped))  # a run that stopped after its first page stored `position`...
    resumed = OffsetPaginator(fetch, start=stopped.position)  # ...and the next run goes on there
    assert [page.items for page in resumed] == [[3, 4], [5]] and asked == [None, "b", "c"]


def test_cursor_paginator_follows_next_cursor_and_reports_a_missing_list() -> None:
    answers = {None: {"messages": ["a"], "response_metadata": {"next_cursor": "x"}},
               "x": {"messages": ["b"], "response_metadata": {"next_cursor": ""}}}
    assert [page.items for page in CursorPaginator(answers.__getitem__, items_key="messages")] == [["a"], ["b"]]
    gone = CursorPaginator(lambda cursor: None, items_key="messages")
    assert list(gone) == [] and gone.missing and gone.done


class Bookmark(CursorModel):
    VERSION: ClassVar[int] = 2
    OMIT_WHEN_NONE: ClassVar[frozenset[str]] = frozenset({"note"})

    page: str
    seen: list[str] = []
    note: str | None = None

    @classmethod
    def upgrade(cls, data: dict[str, Any], version: Any) -> dict[str, Any] | None:
        if version == 1:  # version 1 called the page "offset"
            return {"page": data.get("offset"), "seen": data.get("seen", [])}
        return super().upgrade(data, version)

    def usable(self) -> bool:
        return bool(self.page)


def test_cursor_model_dumps_its_version_and_loads_what_it_can_use() -> None:
    bookmark = Bookmark(page="p2", seen=["a"])
    assert bookmark.dump() == '{"page":"p2","seen":["a"],"v":2}'  # None fields it omits stay out
    assert Bookmark.load(bookmark.dump()) == bookmark
    assert Bookmark.load('{"v":1,"offset":"p9"}') == Bookmark(page="p9")  # an older version, upgraded
    assert Bookmark.load('{"v":3,"page":"p2"}') is None  # a version it does not read
    assert Bookmark.load('{"v":2,"page":""}') is None  # not usable
    assert Bookmark.load('{"v":2,"page":"p2","colour":"red"}') is None  # not one of ours
    assert Bookmark.load('{"v":2,"page":7}') is None  # does not validate
    assert Bookmark.load("[1]") is None and Bookmark.load("{") is None and Bookmark.load(None) is None
    with pytest.raises(ValueError, match="version 3"):
        Bookmark.parse('{"v":3,"page":"p2"}')
    assert bookmark.replace(page="p3") == Bookmark(page="p3", seen=["a"])


ITEMS = [TrackerItem(id=f"F-{n}", status=CanonicalStatus.ON_TRACK) for n in range(3)]


def tracker(transport: Any = None, sleeps: list[float] | None = None) -> TrackerConnector:
    """The test tracker with three items, one a page; F-0 is linked to a deliverable."""
    index = DeliverableIndex.build([DeliverableRef("billing", {"tracker": "F-0"})])
    return TrackerConnector(TrackerConfig(items=ITEMS, page_size=1), index, lambda: datetime(2026, 2, 2, tzinfo=UTC),
                            transport=transport, sleep=(sleeps if sleeps is not None else []).append)


def test_a_third_source_gets_counting_retries_and_resume_from_the_toolkit() -> None:
    api = item_api(ITEMS, 1)
    throttled = [Answer(429, headers={"Retry-After": "2"})]  # the second page's first answer

    def transport(cursor: str | None) -> Answer:
        return throttled.pop() if cursor == "1" and throttled else api(cursor)

    sleeps: list[float] = []
    batches = list(tracker(transport, sleeps).pull("board", None))
    assert [(b.requests, b.throttled) for b in batches] == [(1, 0), (2, 1), (1, 0)] and sleeps == [2.0]
    assert [len(b.observations) for b in batches] == [2, 0, 0]
    assert batches[-1].live_refs == frozenset({"F-0", "F-1", "F-2"})

    # a read interrupted after its first page goes on from its cursor, and still knows F-0
    resumed = list(tracker().pull("board", batches[0].cursor))
    assert len(resumed) == 2 and resumed[-1].live_refs == frozenset({"F-0", "F-1", "F-2"})
    assert TrackerCursor.load(resumed[-1].cursor) == TrackerCursor()  # finished: the next pull reads it all
