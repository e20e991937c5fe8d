"""What a watched thread should show after replies came by event (`pushed` in the Slack cursor):
each reply newer than the poller's last read counted once, deletions uncounted, and nothing
guessed where Slack's answer is not known."""

from __future__ import annotations

from connectors.slack.connector import ChannelCursor, WatchedThread

PARENT = "1795500000.000100"
SEEN = "1795500100.000100"  # the newest reply the poller read
WINDOW = "1795300000.000000"  # where the next run's history starts


def cursor() -> ChannelCursor:
    return ChannelCursor("C01", newest=PARENT, threads={PARENT: WatchedThread(SEEN, 2, ["checkout-v2"], 1795500200)})


def test_replies_by_event_in_any_order_are_counted_once() -> None:
    c = cursor()
    assert c.note_pushed_reply(PARENT, "1795500300.000100", deleted=False, window_start=WINDOW)
    assert c.note_pushed_reply(PARENT, "1795500200.000100", deleted=False, window_start=WINDOW)  # arrived after a newer one
    assert not c.note_pushed_reply(PARENT, "1795500300.000100", deleted=False, window_start=WINDOW)  # a repeat, or an edit
    assert not c.note_pushed_reply(PARENT, SEEN, deleted=False, window_start=WINDOW)  # the poller read it already
    assert c.pushed_matches(PARENT, "1795500300.000100", 4)
    assert not c.pushed_matches(PARENT, "1795500300.000100", 5)  # one more than the events delivered


def test_deletions_uncount_and_the_cursor_keeps_it() -> None:
    c = cursor()
    c.note_pushed_reply(PARENT, "1795500300.000100", deleted=False, window_start=WINDOW)
    c.note_pushed_reply(PARENT, "1795500400.000100", deleted=False, window_start=WINDOW)
    assert c.note_pushed_reply(PARENT, "1795500400.000100", deleted=True, window_start=WINDOW)  # the newest: the one before is latest
    assert c.note_pushed_reply(PARENT, "1795500050.000100", deleted=True, window_start=WINDOW)  # an older reply the poller had read
    assert c.pushed_matches(PARENT, "1795500300.000100", 2)
    again = ChannelCursor.loads(c.dumps(), "C01")
    assert again.pushed_matches(PARENT, "1795500300.000100", 2) and again.pushed[PARENT].seen == ["1795500300.000100"]


def test_a_thread_not_watched_counts_from_a_parent_without_replies_if_the_next_run_sees_it() -> None:
    c = cursor()
    fresh = "1795400000.000100"
    assert c.note_pushed_reply(fresh, "1795500300.000100", deleted=False, window_start=WINDOW)
    assert c.pushed_matches(fresh, "1795500300.000100", 1)
    old = "1795200000.000100"  # older than the window: history will not show its parent
    assert not c.note_pushed_reply(old, "1795500300.000100", deleted=False, window_start=WINDOW)


def test_nothing_is_noted_where_slacks_answer_is_not_known() -> None:
    c = cursor()
    assert not c.note_pushed_reply(PARENT, SEEN, deleted=True, window_start=WINDOW)  # latest_reply after it: unknown
    assert c.pushed == {} and "pushed" not in c.dumps()
