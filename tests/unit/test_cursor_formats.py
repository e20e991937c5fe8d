"""Cursors stored by the release before the toolkit (written by its code, copied here verbatim)
still load as the CursorModel versions, with every field, and dump back to the same JSON."""

from __future__ import annotations

import json

import pytest

from connectors.asana.connector import AsanaCursor, CrawlProgress
from connectors.slack.connector import ChannelCursor, ClaimedMessage, Crawl, Identity, PushedThread, WatchedThread
from tests.fake_source.source import TrackerCursor

ASANA_EVENTS = (
    '{"config":"0123456789abcdef","crawled_at":"2026-11-25T10:00:00.000Z","mode":"events","open":["3001"],'
    '"since":null,"status":{"created_at":"2026-11-24T09:00:00.000Z","gid":"9001","status_type":"on_track"},'
    '"sync":"tok-1","v":1}'
)
ASANA_POLL = (
    '{"config":"0123456789abcdef","crawled_at":"2026-11-25T10:00:00.000Z","mode":"poll","open":[],'
    '"since":"2026-11-25T09:59:30.000Z","status":null,"sync":null,"v":1}'
)
ASANA_CRAWL = (
    '{"config":"0123456789abcdef","crawl":{"gone":["3003"],"mode":"events","offset":"eyJvZmZzZXQiOjEwMH0",'
    '"open":["3001"],"seen":["3001","3002"],"sync":"tok-1","tasks_done":false},'
    '"crawled_at":"2026-11-25T10:00:00.000Z","mode":"crawl","open":[],"since":null,"status":null,"sync":null,"v":1}'
)
SLACK_WATCHING = (
    '{"v":1,"channel":"C01","newest":"1795509000.000100","threads":{"1795428900.000100":{"latest":'
    '"1795431720.000100","replies":2,"keys":["checkout-v2"]}},"claimed":{"1795430400.000100":{"thread":'
    '"1795428900.000100"},"1795430500.000100":{"permalink":"https://acme.slack.com/archives/C01/p1795430500000100",'
    '"thread":null}},"people":{"U01":"2026-11-25"},"checked":{"1795428900.000100":1795509000},"auth":{"user":'
    '"U0BOT","bot":"B0BOT","url":"https://acme.slack.com/","team":"Acme","team_id":"T1","at":1795509000,"key":'
    '"abc123"},"name":"launches","pushed":{"1795428900.000100":{"latest":"1795431800.000100","replies":3,"seen":'
    '["1795431800.000100"]}}}'
)
SLACK_CRAWLING = (
    '{"v":1,"channel":"C02","newest":null,"threads":{},"claimed":{},"people":{},"checked":{},"crawl":{"top":'
    '"1795509000.000100","before":"1795400000.000100","threads":["1795400100.000100"],"history_done":false,'
    '"created":1790000000}}'
)


@pytest.mark.parametrize("stored", [ASANA_EVENTS, ASANA_POLL, ASANA_CRAWL])
def test_stored_asana_cursors_load_and_dump_back_unchanged(stored: str) -> None:
    """Unchanged but for the two fields added since (the deliverable index the cursor was
    written under, and the project's linked tasks), which an old cursor does not know."""
    cursor = AsanaCursor.load(stored)
    assert cursor is not None
    dumped = json.loads(cursor.dump())
    assert (dumped.pop("index"), dumped.pop("linked")) == (None, {})
    assert dumped == json.loads(stored)


def test_a_stored_asana_cursor_keeps_every_field() -> None:
    events = AsanaCursor.load(ASANA_EVENTS)
    assert events is not None and (events.mode, events.sync, events.open) == ("events", "tok-1", ["3001"])
    assert events.status == {"created_at": "2026-11-24T09:00:00.000Z", "gid": "9001", "status_type": "on_track"}
    crawl = AsanaCursor.load(ASANA_CRAWL)
    assert crawl is not None and crawl.crawl == CrawlProgress(
        mode="events", sync="tok-1", offset="eyJvZmZzZXQiOjEwMH0", tasks_done=False,
        seen=["3001", "3002"], gone=["3003"], open=["3001"],
    )


def test_stored_slack_cursors_load_with_every_field_and_dump_back_to_the_same_json() -> None:
    watching = ChannelCursor.loads(SLACK_WATCHING, "C01")
    assert watching == ChannelCursor(
        "C01",
        "1795509000.000100",
        {"1795428900.000100": WatchedThread("1795431720.000100", 2, ["checkout-v2"], 1795509000)},
        {
            "1795430400.000100": ClaimedMessage(None, "1795428900.000100"),
            "1795430500.000100": ClaimedMessage("https://acme.slack.com/archives/C01/p1795430500000100", None),
        },
        {"U01": "2026-11-25"},
        Identity("U0BOT", "B0BOT", "https://acme.slack.com/", "Acme", "T1", 1795509000, "abc123"),
        "launches",
        None,
        {"1795428900.000100": PushedThread("1795431800.000100", 3, ["1795431800.000100"])},
    )
    assert json.loads(watching.dumps()) == json.loads(SLACK_WATCHING)
    crawling = ChannelCursor.loads(SLACK_CRAWLING, "C02")
    assert crawling.crawl == Crawl("1795509000.000100", "1795400000.000100", ["1795400100.000100"], False, 1790000000)
    assert json.loads(crawling.dumps()) == json.loads(SLACK_CRAWLING)


def test_the_trackers_old_cursor_means_a_full_read() -> None:
    assert TrackerCursor.load('["F-1","F-2"]') is None  # the id list it stored before
    cursor = TrackerCursor(page="1", seen=["F-1"])
    assert TrackerCursor.load(cursor.dump()) == cursor
