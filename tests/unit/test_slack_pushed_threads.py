"""What a watched thread should show after replies came by event (`pushed` in the Slack cursor):
each reply newer than the poller's last read counted once, deletions uncounted, and nothing
guessed where Slack's answer is not known."""

from __future__ import annotations

from connectors.slack import ChannelCursor, WatchedThread

PARENT = "1795500000.000100"
SEEN = "1795500100.000100"  # the newest reply the poller read


def cursor() -> ChannelCursor:
    return ChannelCursor("C01", newest=PARENT, threads={PARENT: WatchedThread(SEEN, 2, ["checkout-v2"], 1795500200)})


def test_replies_by_event_in_any_order_are_counted_once() -> None:
    c = cursor()
    assert c.note_pushed_reply(PARENT, "1795500300.000100", deleted=False)
    assert c.note_pushed_reply(PARENT, "1795500200.000100", deleted=False)  # arrived after a newer one
    assert not c.note_pushed_reply(PARENT, "1795500300.000100", deleted=False)  # a repeat, or an edit
    assert not c.note_pushed_reply(PARENT, SEEN, deleted=False)  # the poller read it already
    assert c.pushed_matches(PARENT, "1795500300.000100", 4)
    assert not c.pushed_matches(PARENT, "1795500300.000100", 5)  # one more than the events delivered


def test_deletions_uncount_and_the_cursor_keeps_it() -> None:
    c = cursor()
    c.note_pushed_reply(PARENT, "1795500300.000100", deleted=False)
    c.note_pushed_reply(PARENT, "1795500400.000100", deleted=False)
    assert c.note_pushed_reply(PARENT, "1795500400.000100", deleted=True)  # the newest: the one before is latest
    assert c.note_pushed_reply(PARENT, "1795500050.000100", deleted=True)  # an older reply the poller had read
    assert c.pushed_matches(PARENT, "1795500300.000100", 2)
    again = ChannelCursor.loads(c.dumps(), "C01")
    assert again.pushed_matches(PARENT, "1795500300.000100", 2) and again.pushed[PARENT].seen == ["1795500300.000100"]


def test_nothing_is_noted_where_slacks_answer_is_not_known() -> None:
    c = cursor()
    assert not c.note_pushed_reply(PARENT, SEEN, deleted=True)  # latest_reply after it: unknown, so read
    assert not c.note_pushed_reply("1795400000.000100", "1795500300.000100", deleted=False)  # not watched
    assert c.pushed == {} and "pushed" not in c.dumps()
