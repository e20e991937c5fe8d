"""The Slack connector over real HTTP: slack-sdk against the sandbox's Slack Web API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import time_machine
from slack_sdk.http_retry import builtin_handlers
from slack_sdk.http_retry import handler as retry_handler

from connectors.slack import connector as slack_module
from connectors.base import (
    ConnectorError,
    DeliverableIndex,
    DeliverableRef,
    Observation,
    PersonRecord,
    TransientError,
)
from connectors.config import SlackConfig
from connectors.sandbox import Sandbox, parse_scenario
from connectors.slack.connector import ChannelCursor, SlackConnector, ts_to_datetime

INDEX = DeliverableIndex.build(
    [
        DeliverableRef("checkout-v2", {"asana": "3001"}, ("#checkout", "checkout")),
        DeliverableRef("payments-api", {"asana": "3002"}, ("payments",)),
        DeliverableRef("search", {"asana": "3003"}, ("#search",)),
        DeliverableRef("onboarding", {"asana": "3004"}, ("onboarding flow",)),
    ],
    channel_defaults={"eng": "search"},
)
TOKEN = "xoxb-test-token"


def slack_ts(moment: datetime, seq: int = 0) -> str:
    return f"{int(moment.timestamp())}.{seq:06d}"


def user(uid: str, name: str, tz: str) -> dict[str, Any]:
    return {"id": uid, "name": name, "real_name": name.title(), "tz": tz,
            "profile": {"email": f"{name}@acme.test", "real_name": name.title()}}


@dataclass
class Ts:
    """The scenario's timestamps, relative to now: `old` ones are outside the 3d lookback."""

    now: datetime
    old_parent: str = ""
    old_reply: str = ""
    old_bot: str = ""
    trusted_bot: str = ""
    own_bot: str = ""
    join: str = ""
    recent: str = ""
    thread: str = ""
    reply: str = ""
    eng: str = ""

    @property
    def new_date(self) -> date:
        """The date the recent message moves payments to: three weeks after it was said."""
        return (self.now - timedelta(days=1) + timedelta(days=21)).date()

    def __post_init__(self) -> None:
        old, recent = self.now - timedelta(days=6), self.now - timedelta(days=1)
        self.join = slack_ts(old, 1)
        self.old_parent = slack_ts(old, 2)
        self.old_reply = slack_ts(old + timedelta(hours=1), 1)
        self.old_bot = slack_ts(old, 3)
        self.trusted_bot = slack_ts(old, 4)
        self.own_bot = slack_ts(old, 5)
        self.recent = slack_ts(recent, 1)
        self.thread = slack_ts(recent, 2)
        self.reply = slack_ts(recent + timedelta(minutes=5), 1)
        self.eng = slack_ts(recent, 3)


def scenario(ts: Ts) -> dict[str, Any]:
    return {
        "invalid_tokens": ["xoxb-revoked"],
        "slack": {
            "team": {"id": "T1", "domain": "acme"},
            "bot": {"user_id": "U0BOT", "bot_id": "B0BOT"},
            "users": [user("U01", "alice", "Europe/Berlin"), user("U02", "bob", "Europe/London")],
            "channels": [
                {"id": "C01", "name": "launches"},
                {"id": "C02", "name": "eng"},
                {"id": "C09", "name": "secret", "is_member": False},
            ],
            "messages": [
                {"channel": "C01", "ts": ts.join, "user": "U02", "subtype": "channel_join",
                 "text": "<@U02> has joined the channel, blocked"},
                {"channel": "C01", "ts": ts.old_parent, "user": "U01",
                 "text": "<https://app.asana.com/0/2001/3001|Checkout> is blocked on the card vendor"},
                {"channel": "C01", "ts": ts.old_reply, "user": "U02", "thread_ts": ts.old_parent,
                 "text": "chasing them"},
                {"channel": "C01", "ts": ts.old_bot, "subtype": "bot_message", "bot_id": "B0DEPLOY",
                 "username": "Deploy Bot", "text": "checkout is done"},
                {"channel": "C01", "ts": ts.trusted_bot, "subtype": "bot_message", "bot_id": "B0TRUST",
                 "username": "Status Bot", "text": "payments is at risk"},
                {"channel": "C01", "ts": ts.own_bot, "user": "U0BOT", "subtype": "bot_message",
                 "bot_id": "B0BOT", "text": "Reminder: checkout is blocked, who decides?"},
                {"channel": "C01", "ts": ts.recent, "user": "U02",
                 "text": f"payments is at risk, new date {ts.new_date:%b} {ts.new_date.day}",
                 "edited": {"user": "U02", "ts": ts.reply}},
                {"channel": "C01", "ts": ts.thread, "user": "U01", "text": "where are we with the onboarding flow?"},
                {"channel": "C01", "ts": ts.reply, "user": "U02", "thread_ts": ts.thread, "text": "it's done"},
                {"channel": "C02", "ts": ts.eng, "user": "U01", "text": "blocked on the index build"},
            ],
        }
    }


@dataclass
class Claims:
    """What the store would hold: apply_batch's semantics over the batches a run yields."""

    live: dict[tuple[str, str, str], Observation] = field(default_factory=dict)
    people: dict[str, PersonRecord] = field(default_factory=dict)
    cursor: str | None = None

    def apply(self, batches: list[Any]) -> None:
        for batch in batches:
            refs = {o.source_ref for o in batch.observations} | {r.source_ref for r in batch.retractions}
            self.live = {k: v for k, v in self.live.items() if k[0] not in refs}
            for o in batch.observations:
                self.live[(o.source_ref, o.deliverable_key, o.field.value)] = o
            self.people.update({p.source_id: p for p in batch.people})
            if batch.cursor is not None:
                self.cursor = batch.cursor

    def values(self) -> dict[tuple[str, str, str], str | None]:
        return {k: v.value for k, v in self.live.items()}


class RecordingLimiter:
    def __init__(self) -> None:
        self.held: list[str] = []
        self.acquired: list[str] = []

    def acquire(self, key: str) -> None:
        self.acquired.append(key)
        self.held.append(key)

    def release(self, key: str) -> None:
        self.held.remove(key)


@dataclass
class Harness:
    sandbox: Sandbox
    ts: Ts
    config: SlackConfig
    limiter: RecordingLimiter = field(default_factory=RecordingLimiter)
    claims: Claims = field(default_factory=Claims)
    shift: timedelta = timedelta()  # how far the connectors' clock is ahead of the real one

    def now(self) -> datetime:
        return datetime.now(UTC) + self.shift

    def connector(self, **kwargs: Any) -> SlackConnector:
        options: dict[str, Any] = {
            "token": TOKEN,
            "base_url": self.sandbox.slack_base_url,
            "config": self.config,
            "index": INDEX,
            "rate_limiter": self.limiter,
            "timezone": "Europe/Berlin",
            "clock": self.now,
        }
        options.update(kwargs)
        return SlackConnector(**options)

    def sync(self, partition: str = "launches", *, connector: SlackConnector | None = None) -> list[Any]:
        """One run from the stored cursor; the claims and cursor move only if it completes."""
        self.sandbox.reset_counts()
        batches = list((connector or self.connector()).pull(partition, self.claims.cursor))
        self.claims.apply(batches)
        return batches

    def counts(self) -> dict[str, int]:
        return {k.removeprefix("slack "): v for k, v in self.sandbox.request_counts().items()}


@pytest.fixture
def fast_retry_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """slack-sdk sleeps Retry-After plus up to a second of jitter: record it instead."""
    slept: list[float] = []

    class Clock:
        @staticmethod
        def sleep(seconds: float) -> None:
            slept.append(seconds)

    monkeypatch.setattr(builtin_handlers, "time", Clock)
    monkeypatch.setattr(retry_handler, "time", Clock)  # backoff on resets and 5xx
    return slept


@pytest.fixture
def harness() -> Iterator[Harness]:
    # The connector asks each claim author once a UTC day: the tests that move the clock by hours
    # start at 02:00 UTC (of whatever day it is), so the counts they expect do not depend on the
    # hour the suite runs at.
    early = datetime.now(UTC).replace(hour=2, minute=0, second=0, microsecond=0)
    with time_machine.travel(early, tick=True):
        ts = Ts(datetime.now(UTC))
        config = SlackConfig(channels=["launches", "C02"], trusted_bots=["B0TRUST"],
                             channel_defaults={"eng": "search"})
        with Sandbox(parse_scenario(scenario(ts)), port=0) as sandbox:
            yield Harness(sandbox, ts, config)


def ref(ts: str, channel: str = "C01") -> str:
    return f"{channel}:{ts}"


# -- reading and linking -------------------------------------------------------------------------


def test_first_run_reads_claims_with_provenance(harness: Harness) -> None:
    ts = harness.ts
    batches = harness.sync()
    assert harness.claims.values() == {
        (ref(ts.old_parent), "checkout-v2", "status"): "blocked",
        (ref(ts.trusted_bot), "payments-api", "status"): "at_risk",
        (ref(ts.recent), "payments-api", "status"): "at_risk",
        (ref(ts.recent), "payments-api", "target_date"): ts.new_date.isoformat(),
        (ref(ts.reply), "onboarding", "status"): "done",  # linked through its thread's parent
    }
    claim = harness.claims.live[(ref(ts.recent), "payments-api", "target_date")]
    # the evidence is the sentence the claim was read in, not the matched words (DESIGN)
    assert claim.excerpt == f"payments is at risk, new date {ts.new_date:%b} {ts.new_date.day}"
    assert claim.author == "U02"
    assert claim.stated_at == ts_to_datetime(ts.recent) and claim.edited_at == ts_to_datetime(ts.reply)
    # permalinks are built from auth.test's workspace URL, as Slack builds them
    assert claim.permalink == f"https://acme.slack.com/archives/C01/p{ts.recent.replace('.', '')}"
    reply = harness.claims.live[(ref(ts.reply), "onboarding", "status")]
    assert reply.permalink == (
        f"https://acme.slack.com/archives/C01/p{ts.reply.replace('.', '')}?thread_ts={ts.thread}&cid=C01"
    )
    assert reply.edited_at is None
    assert harness.claims.people == {
        "U01": PersonRecord(source=harness.claims.people["U01"].source, source_id="U01", name="Alice",
                            email="alice@acme.test", timezone="Europe/Berlin"),
        "U02": PersonRecord(source=harness.claims.people["U02"].source, source_id="U02", name="Bob",
                            email="bob@acme.test", timezone="Europe/London"),
    }
    # joins, untrusted bots and the service's own messages claim nothing: they are retracted
    retracted = {r.source_ref for b in batches for r in b.retractions}
    assert {ref(ts.join), ref(ts.old_bot), ref(ts.own_bot), ref(ts.thread)} <= retracted
    counts = harness.counts()
    assert counts == {
        "auth.test": 1,
        "conversations.list": 1,  # "launches" is a name
        "conversations.history": 1,
        "conversations.replies": 2,  # the two threads
        "users.list": 1,  # a first read: the directory, not users.info per author
    }
    assert sum(b.requests for b in batches) == sum(counts.values())
    # a first read checkpoints after every history page and thread; the last cursor is final
    assert all(b.cursor is not None for b in batches)
    assert "crawl" not in json.loads(batches[-1].cursor) and all("crawl" in json.loads(b.cursor) for b in batches[:-1])
    assert set(harness.limiter.acquired) == {f"slack:{m}" for m in counts} and harness.limiter.held == []


def test_channel_default_and_ids(harness: Harness) -> None:
    harness.sync("C02")  # an id: no conversations.list needed for reading, only for its default
    assert harness.claims.values() == {(ref(harness.ts.eng, "C02"), "search", "status"): "blocked"}
    assert harness.counts()["conversations.list"] == 1
    # the name the default is keyed by is kept in the cursor, looked up again with auth.test
    harness.sync("C02")
    assert harness.counts() == {"conversations.history": 1}
    assert ChannelCursor.loads(harness.claims.cursor, "C02").name == "eng"
    harness.shift = timedelta(days=1, minutes=1)
    harness.sync("C02")
    assert harness.counts() == {
        "auth.test": 1, "conversations.list": 1, "conversations.history": 1,
        "users.info": 1,  # another day: the author in the window once again
    }
    assert harness.claims.values() == {(ref(harness.ts.eng, "C02"), "search", "status"): "blocked"}


def test_a_few_authors_are_asked_one_by_one_and_more_from_the_directory(harness: Harness) -> None:
    from connectors.sandbox.scenario import SlackUser

    harness.sync()
    for n in range(3, 8):
        uid = f"U0{n}"
        harness.sandbox.slack.users[uid] = SlackUser(
            id=uid, name=f"user{n}", real_name=f"User {n}", profile={"email": f"user{n}@acme.test"}
        )
        harness.sandbox.slack.post("C01", uid, "checkout is at risk")
    harness.sync()  # the same day: only the five new authors are looked up
    counts = harness.counts()
    assert (counts["users.info"], counts["users.list"]) == (slack_module.PEOPLE_BY_INFO, 1)
    assert {f"U0{n}" for n in range(3, 8)} <= set(harness.claims.people)
    assert harness.claims.people["U07"].email == "user7@acme.test"
    harness.sandbox.slack.users["U0GONE"] = SlackUser(id="U0GONE", name="gone")
    harness.sandbox.slack.post("C01", "U0GONE", "payments is blocked")
    del harness.sandbox.slack.users["U0GONE"]  # in neither users.list nor users.info any more
    harness.shift = timedelta(days=1, minutes=1)
    harness.sync()  # another day: everyone in the window again, from one directory read
    counts = harness.counts()
    assert counts.get("users.list") == 1 and counts["users.info"] <= slack_module.PEOPLE_BY_INFO + 1
    assert "U0GONE" not in harness.claims.people


def test_built_permalinks_are_the_ones_slack_gives(harness: Harness) -> None:
    sb, ts = harness.sandbox, harness.ts
    sb.slack.post("C01", "U01", "checkout is at risk", thread_ts=ts.thread, broadcast=True)
    harness.sync()
    assert "chat.getPermalink" not in harness.counts()
    client = harness.connector()
    links = {o.source_ref: o.permalink for o in harness.claims.live.values()}
    assert len(links) >= 4
    for source_ref, link in links.items():
        channel, message_ts = source_ref.split(":")
        assert link == client.fetch_permalink(channel, message_ts, "test")


def test_without_a_workspace_url_permalinks_are_asked_once(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    sb, ts = harness.sandbox, harness.ts
    answer = sb.slack.auth_test({})
    monkeypatch.setattr(sb.slack, "auth_test", lambda p: {k: v for k, v in answer.items() if k != "url"})
    harness.sync()
    assert harness.counts()["chat.getPermalink"] == 4  # one per message with a claim
    reply = harness.claims.live[(ref(ts.reply), "onboarding", "status")]
    assert reply.permalink == (
        f"https://acme.slack.com/archives/C01/p{ts.reply.replace('.', '')}?thread_ts={ts.thread}&cid=C01"
    )
    sb.slack.edit("C01", ts.recent, "payments is blocked")
    harness.sync()
    assert harness.counts() == {"conversations.history": 1}  # kept in the cursor
    assert harness.claims.live[(ref(ts.recent), "payments-api", "status")].permalink == (
        f"https://acme.slack.com/archives/C01/p{ts.recent.replace('.', '')}"
    )


def test_auth_test_is_cached_in_the_cursor_for_a_day(harness: Harness) -> None:
    harness.sync()
    auth = ChannelCursor.loads(harness.claims.cursor, "C01").auth
    assert auth is not None and (auth.user_id, auth.bot_id, auth.team_url, auth.team_id) == (
        "U0BOT", "B0BOT", "https://acme.slack.com/", "T1"
    )
    assert TOKEN not in (harness.claims.cursor or "")
    harness.shift = timedelta(hours=23)
    harness.sync()
    assert "auth.test" not in harness.counts()
    harness.shift = timedelta(days=1, minutes=1)
    harness.sync()
    assert harness.counts()["auth.test"] == 1
    harness.sync()
    assert "auth.test" not in harness.counts()
    # another token (or API) is asked again: the cached answer may be another bot's
    harness.sync(connector=harness.connector(token="xoxb-another-token"))
    assert harness.counts()["auth.test"] == 1


def test_a_revoked_token_with_a_cached_identity_is_a_clear_error(harness: Harness) -> None:
    harness.sync()
    connector = harness.connector()
    harness.sandbox.fail("conversations.history", slack_error="invalid_auth")
    with pytest.raises(ConnectorError, match=r"channel launches \(C01\): the Slack token is invalid"):
        harness.sync(connector=connector)
    harness.sandbox.clear_faults()
    harness.sync(connector=connector)  # the connector forgot the identity: asked again
    assert harness.counts()["auth.test"] == 1


def test_a_message_naming_two_deliverables_claims_for_each(harness: Harness) -> None:
    sb = harness.sandbox
    both = sb.slack.post("C02", "U01", "<https://app.asana.com/1/1000/task/3001|Checkout> and payments are at risk")
    blocker = sb.slack.post("C02", "U02", "checkout is blocked waiting on payments")
    harness.sync("C02")
    assert harness.claims.values() == {
        (ref(harness.ts.eng, "C02"), "search", "status"): "blocked",  # the channel default
        (ref(both, "C02"), "checkout-v2", "status"): "at_risk",
        (ref(both, "C02"), "payments-api", "status"): "at_risk",
        (ref(blocker, "C02"), "checkout-v2", "status"): "blocked",
    }


def test_second_run_reads_only_new_messages_and_the_lookback(harness: Harness) -> None:
    ts, sb = harness.ts, harness.sandbox
    connector = harness.connector()
    harness.sync(connector=connector)
    first = harness.claims.values()

    idle = harness.sync(connector=connector)
    assert harness.claims.values() == first
    # the idle run: one history page from the lookback on, nothing else: no thread moved (their
    # parents' latest_reply and reply_count in that page), none is due by thread_recheck, and no
    # permalinks, people or channel list again
    assert harness.counts() == {"conversations.history": 1}
    stated = {o.source_ref for b in idle for o in b.observations} | {r.source_ref for b in idle for r in b.retractions}
    assert stated == {ref(ts.recent), ref(ts.thread)}  # nothing older than 3 days

    new = sb.slack.post("C01", "U01", "#search is back on track")
    harness.sync(connector=connector)
    assert harness.claims.values() == {**first, (ref(new), "search", "status"): "on_track"}
    assert harness.counts() == {"conversations.history": 1}
    state = ChannelCursor.loads(harness.claims.cursor, "C01")
    assert state.newest == new and set(state.claimed) == {ts.recent, ts.reply, new}

    # a fresh connector (the workers build one per sync): the name's id, auth.test's answer and
    # today's people come from the cursor
    harness.sync()
    assert harness.counts() == {"conversations.history": 1}


def test_short_pages_and_small_batches_give_the_same_claims(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(slack_module, "_FLUSH_REFS", 2)
    batches = harness.sync(connector=harness.connector(page_size=2))
    assert harness.counts()["conversations.history"] == 4  # 7 top-level messages, 2 a page
    assert len(batches) > 4 and all(b.cursor is not None for b in batches)  # a checkpoint per page and thread
    assert "crawl" not in json.loads(batches[-1].cursor)
    paged = harness.claims.values()
    monkeypatch.undo()
    harness.claims = Claims()
    harness.sync()
    assert harness.claims.values() == paged


def test_late_reply_to_an_old_parent_is_linked_to_the_parent(harness: Harness) -> None:
    """A parent older than the lookback window is not in the history page: its watched thread is
    read again once per thread_recheck (6h), which is when a late reply is seen."""
    ts, sb = harness.ts, harness.sandbox
    harness.sync()
    late = sb.slack.post("C01", "U02", "vendor fixed it, we're back on track", thread_ts=ts.old_parent)
    other = sb.slack.post("C01", "U01", "payments is blocked by this too", thread_ts=ts.old_parent)
    harness.sync()
    assert (ref(late), "checkout-v2", "status") not in harness.claims.live  # not due yet
    assert harness.counts() == {"conversations.history": 1}

    harness.shift = timedelta(hours=6, minutes=1)
    harness.sync()
    values = harness.claims.values()
    assert values[(ref(late), "checkout-v2", "status")] == "on_track"  # the parent's deliverable
    assert values[(ref(other), "payments-api", "status")] == "blocked"  # names another
    assert (ref(other), "checkout-v2", "status") not in values
    # both watched threads were due: the recent one and the old one
    assert harness.counts() == {"conversations.history": 1, "conversations.replies": 2}
    state = ChannelCursor.loads(harness.claims.cursor, "C01")
    assert state.threads[ts.old_parent].latest == other and state.threads[ts.old_parent].keys == ["checkout-v2"]

    # a later run, once due again, sees a further reply
    again = sb.slack.post("C01", "U01", "and checkout is done", thread_ts=ts.old_parent)
    harness.sync()
    assert (ref(again), "checkout-v2", "status") not in harness.claims.live
    harness.shift = timedelta(hours=12, minutes=2)
    harness.sync()
    assert harness.claims.values()[(ref(again), "checkout-v2", "status")] == "done"


def test_a_broadcast_reply_to_an_old_parent_is_seen_on_the_next_run(harness: Harness) -> None:
    """A reply also sent to the channel is in the history page: its thread is known to have moved."""
    ts, sb = harness.ts, harness.sandbox
    harness.sync()
    late = sb.slack.post("C01", "U02", "checkout is at risk again", thread_ts=ts.old_parent, broadcast=True)
    harness.sync()
    assert harness.claims.values()[(ref(late), "checkout-v2", "status")] == "at_risk"
    assert harness.counts() == {"conversations.history": 1, "conversations.replies": 1}


def test_a_new_reply_to_a_quiet_thread_is_seen_on_the_next_run(harness: Harness) -> None:
    """The parent is in the window: its latest_reply moves in the history page the run reads."""
    ts, sb = harness.ts, harness.sandbox
    harness.sync()
    harness.sync()  # quiet
    assert harness.counts() == {"conversations.history": 1}
    reply = sb.slack.post("C01", "U01", "onboarding flow slipped, at risk", thread_ts=ts.thread)
    harness.sync()
    assert harness.claims.values()[(ref(reply), "onboarding", "status")] == "at_risk"
    assert harness.counts() == {"conversations.history": 1, "conversations.replies": 1}
    assert ChannelCursor.loads(harness.claims.cursor, "C01").threads[ts.thread].latest == reply


def test_an_edit_to_a_reply_in_a_quiet_thread_is_seen_after_thread_recheck(harness: Harness) -> None:
    """An edit moves neither latest_reply nor reply_count: the documented trade-off is that it is
    seen when the thread is next due (thread_recheck), not before."""
    ts, sb = harness.ts, harness.sandbox
    harness.sync()
    sb.slack.edit("C01", ts.reply, "not done after all, onboarding flow is blocked")
    harness.shift = timedelta(hours=5, minutes=59)
    harness.sync()
    assert harness.claims.values()[(ref(ts.reply), "onboarding", "status")] == "done"
    assert harness.counts() == {"conversations.history": 1}

    harness.shift = timedelta(hours=6, minutes=1)
    harness.sync()
    claim = harness.claims.live[(ref(ts.reply), "onboarding", "status")]
    assert claim.value == "blocked" and claim.edited_at is not None
    assert harness.counts() == {"conversations.history": 1, "conversations.replies": 2}
    harness.sync()  # read again just now: not due
    assert harness.counts() == {"conversations.history": 1}


def test_thread_recheck_off_reads_only_threads_that_moved(harness: Harness) -> None:
    ts, sb = harness.ts, harness.sandbox
    harness.config = harness.config.model_copy(update={"thread_recheck": "off"})
    harness.sync()
    sb.slack.edit("C01", ts.reply, "onboarding flow is blocked")
    harness.shift = timedelta(days=2)
    harness.sync()
    # two days on (auth.test is asked again); the thread is quiet and never due
    assert harness.counts() == {"auth.test": 1, "conversations.history": 1}
    assert harness.claims.values()[(ref(ts.reply), "onboarding", "status")] == "done"


def test_first_reply_to_a_parent_in_the_lookback_window(harness: Harness) -> None:
    ts, sb = harness.ts, harness.sandbox
    harness.sync()
    reply = sb.slack.post("C01", "U01", "keys arrived, back on track", thread_ts=ts.recent)
    harness.sync()
    assert harness.claims.values()[(ref(reply), "payments-api", "status")] == "on_track"
    assert ChannelCursor.loads(harness.claims.cursor, "C01").threads[ts.recent].latest == reply


def test_a_reply_to_the_service_own_message_links_to_what_it_named(harness: Harness) -> None:
    sb = harness.sandbox
    notice = sb.slack.post("C01", "U0BOT", "Contradiction on checkout: Asana says on track, Slack says blocked")
    reply = sb.slack.post("C01", "U01", "it's blocked, Asana is stale", thread_ts=notice)
    harness.sync()
    assert not [k for k in harness.claims.live if k[0] == ref(notice)]  # the service's own words
    assert harness.claims.values()[(ref(reply), "checkout-v2", "status")] == "blocked"


def test_broadcast_reply_is_stated_once_with_its_thread(harness: Harness) -> None:
    ts, sb = harness.ts, harness.sandbox
    harness.sync()
    broadcast = sb.slack.post(
        "C01", "U01", "onboarding is at risk after all", thread_ts=ts.thread, broadcast=True
    )
    batches = harness.sync()
    assert harness.claims.values()[(ref(broadcast), "onboarding", "status")] == "at_risk"
    mentions = [o for b in batches for o in b.observations if o.source_ref == ref(broadcast)]
    assert len(mentions) == 1

    # known now: it no longer moves its thread; an edit to it shows in the history page
    harness.sync()
    assert harness.counts() == {"conversations.history": 1}
    sb.slack.edit("C01", broadcast, "onboarding is done after all")
    harness.sync()
    assert harness.counts() == {"conversations.history": 1}
    claim = harness.claims.live[(ref(broadcast), "onboarding", "status")]
    assert claim.value == "done" and claim.permalink and f"thread_ts={ts.thread}&cid=C01" in claim.permalink


# -- edits and deletions -------------------------------------------------------------------------


def test_an_edit_replaces_the_claim_and_one_that_removes_it_retracts(harness: Harness) -> None:
    sb = harness.sandbox
    msg = sb.slack.post("C01", "U01", "checkout is blocked on legal")
    harness.sync()
    assert harness.claims.values()[(ref(msg), "checkout-v2", "status")] == "blocked"

    sb.slack.edit("C01", msg, "checkout is back on track, legal signed off")
    harness.sync()
    claim = harness.claims.live[(ref(msg), "checkout-v2", "status")]
    assert claim.value == "on_track" and claim.excerpt == "checkout is back on track, legal signed off" and claim.edited_at is not None
    assert claim.stated_at == ts_to_datetime(msg)
    assert harness.counts().get("chat.getPermalink") is None  # cached in the cursor

    sb.slack.edit("C01", msg, "never mind, wrong channel")
    harness.sync()
    assert not [k for k in harness.claims.live if k[0] == ref(msg)]


def test_deleted_messages_and_replies_are_retracted(harness: Harness) -> None:
    ts, sb = harness.ts, harness.sandbox
    msg = sb.slack.post("C01", "U01", "checkout is blocked on legal")
    late = sb.slack.post("C01", "U02", "checkout is done", thread_ts=ts.old_parent)
    harness.sync()
    assert {(ref(msg), "checkout-v2", "status"), (ref(late), "checkout-v2", "status")} <= set(harness.claims.live)

    sb.slack.delete("C01", msg)
    sb.slack.delete("C01", late)
    sb.slack.delete("C01", ts.recent)
    batches = harness.sync()
    retracted = {r.source_ref for b in batches for r in b.retractions}
    assert {ref(msg), ref(ts.recent)} <= retracted  # top-level, in the window: the next run
    assert ref(late) not in retracted  # a reply to an old parent: when its thread is due
    harness.shift = timedelta(hours=6, minutes=1)
    batches = harness.sync()
    assert ref(late) in {r.source_ref for b in batches for r in b.retractions}
    assert {k[0] for k in harness.claims.live} == {ref(ts.old_parent), ref(ts.trusted_bot), ref(ts.reply)}
    assert ChannelCursor.loads(harness.claims.cursor, "C01").claimed.keys() == {ts.reply}


def test_a_deleted_parent_keeps_its_replies_linked(harness: Harness) -> None:
    ts, sb = harness.ts, harness.sandbox
    parent = sb.slack.post("C01", "U01", "checkout launch plan")
    reply = sb.slack.post("C01", "U02", "it is blocked", thread_ts=parent)
    harness.sync()
    sb.slack.delete("C01", parent)  # becomes a tombstone: its replies remain
    sb.slack.post("C01", "U02", "now done", thread_ts=parent)
    harness.sync()
    values = harness.claims.values()
    assert values[(ref(reply), "checkout-v2", "status")] == "blocked"
    assert [v for k, v in values.items() if k[1] == "checkout-v2" and k[0] not in (ref(reply), ref(ts.old_parent))] == [
        "done"
    ]
    sb.slack.delete("C01", reply)
    harness.sync()
    assert (ref(reply), "checkout-v2", "status") not in harness.claims.live


def test_a_thread_that_is_gone_retracts_its_claims(harness: Harness) -> None:
    ts, sb = harness.ts, harness.sandbox
    late = sb.slack.post("C01", "U02", "checkout is done", thread_ts=ts.old_parent)
    harness.sync()
    assert (ref(late), "checkout-v2", "status") in harness.claims.live
    sb.slack.delete("C01", ts.old_parent)  # a tombstone while replies remain
    sb.slack.delete("C01", ts.old_reply)
    sb.slack.delete("C01", late)  # the last reply: the thread is gone (thread_not_found)
    harness.shift = timedelta(hours=6, minutes=1)  # an old parent: seen when its thread is due
    harness.sync()
    assert {k[0] for k in harness.claims.live} == {ref(ts.trusted_bot), ref(ts.recent), ref(ts.reply)}
    assert ts.old_parent not in ChannelCursor.loads(harness.claims.cursor, "C01").threads


def test_an_edited_parent_relinks_its_replies(harness: Harness) -> None:
    """Even on the marketplace budget, and before the thread is due by thread_recheck."""
    ts, sb = harness.ts, harness.sandbox
    harness.config = harness.config.model_copy(update={"budget": "marketplace_limited"})
    harness.sync()
    assert harness.claims.values()[(ref(ts.reply), "onboarding", "status")] == "done"
    harness.sync()
    assert "conversations.replies" not in harness.counts()  # nothing moved
    sb.slack.edit("C01", ts.thread, "where are we with checkout?")
    harness.sync()
    assert harness.counts()["conversations.replies"] == 1
    assert harness.claims.values()[(ref(ts.reply), "checkout-v2", "status")] == "done"
    assert (ref(ts.reply), "onboarding", "status") not in harness.claims.live


# -- limits and errors ---------------------------------------------------------------------------


def test_a_429_storm_ends_in_the_same_claims_as_a_calm_run(harness: Harness, fast_retry_sleep: list[float]) -> None:
    harness.sync()
    calm = harness.claims.values()
    calm_cursor = harness.claims.cursor

    stormy = Claims()
    harness.claims = stormy
    harness.sandbox.fault_rate(0.4, kinds=["429"], seed=7)
    try:
        batches = harness.sync()
    finally:
        harness.sandbox.clear_faults()
    assert stormy.values() == calm
    assert sum(b.throttled for b in batches) == len(fast_retry_sleep)  # each 429 waited out is counted
    assert ChannelCursor.loads(stormy.cursor, "C01").claimed == ChannelCursor.loads(calm_cursor, "C01").claimed
    assert len(fast_retry_sleep) >= 3  # Retry-After was honoured, not turned into errors
    assert harness.limiter.held == []


def test_resets_and_server_errors_are_retried(harness: Harness, fast_retry_sleep: list[float]) -> None:
    harness.sync()
    calm = harness.claims.values()
    harness.claims = Claims()
    harness.sandbox.fault_rate(0.3, kinds=["reset", "500", "503"], seed=3)
    harness.sync()
    harness.sandbox.clear_faults()
    assert harness.claims.values() == calm and fast_retry_sleep


def test_a_bad_gateway_is_retried_and_a_lasting_one_is_transient(
    harness: Harness, fast_retry_sleep: list[float]
) -> None:
    harness.sandbox.fail("users.list", status=502)
    with pytest.raises(TransientError, match=r"channel launches \(C01\), people: temporary failure"):
        harness.sync()
    assert harness.claims.cursor is None
    assert len(fast_retry_sleep) == 5  # backed off and retried, like a 500
    harness.sandbox.clear_faults()
    harness.sandbox.fail("conversations.history", status=504, times=1)
    harness.sync()  # one gateway timeout costs a retry, not the run
    assert harness.claims.cursor is not None


def test_retries_spent_leave_the_cursor_and_the_next_run_completes(
    harness: Harness, fast_retry_sleep: list[float]
) -> None:
    sb = harness.sandbox
    harness.sync()
    before = harness.claims.cursor
    msg = sb.slack.post("C01", "U01", "checkout is at risk")
    sb.fail("conversations.history", status=429, retry_after=0)
    with pytest.raises(TransientError, match=r"channel launches \(C01\).*ratelimited"):
        harness.sync()
    assert harness.claims.cursor == before
    assert len(fast_retry_sleep) == 5
    sb.clear_faults()
    harness.sync()
    assert harness.claims.values()[(ref(msg), "checkout-v2", "status")] == "at_risk"
    assert harness.limiter.held == []


def test_marketplace_budget_pages_by_15_and_builds_permalinks(harness: Harness) -> None:
    sb = harness.sandbox
    for i in range(20):
        sb.slack.post("C01", "U01", f"checkout step {i} done")
    harness.config = harness.config.model_copy(update={"budget": "marketplace_limited"})
    connector = harness.connector()
    assert connector.page_size == 15
    harness.sync(connector=connector)
    counts = harness.counts()
    assert counts["conversations.history"] == 2 and "chat.getPermalink" not in counts
    claim = next(iter(harness.claims.live.values()))
    assert claim.permalink and claim.permalink.startswith("https://acme.slack.com/archives/C01/p")


@pytest.mark.parametrize(
    ("partition", "fault", "message"),
    [
        ("secret", None, r"channel secret \(C09\): the bot is not a member of the channel \(invite it"),
        ("launches", "channel_not_found", r"channel launches \(C01\): the channel does not exist"),
        ("C01", "missing_scope", r"channel C01: the app lacks the scope"),
        ("nowhere", None, r"Slack channel 'nowhere': no channel by that name"),
    ],
)
def test_channel_errors_are_one_clear_line(harness: Harness, partition: str, fault: str | None, message: str) -> None:
    if fault:
        harness.sandbox.fail("conversations.history", slack_error=fault)
    with pytest.raises(ConnectorError, match=message) as info:
        harness.sync(partition)
    assert not isinstance(info.value, TransientError) and TOKEN not in str(info.value)
    assert harness.claims.cursor is None


def test_invalid_token_is_a_clear_error(harness: Harness) -> None:
    connector = harness.connector(token="xoxb-revoked")
    with pytest.raises(ConnectorError, match=r"Slack channel launches: the Slack token is invalid .*invalid_auth"):
        list(connector.pull("launches", None))


def test_one_connector_serves_several_channels(harness: Harness) -> None:
    """A connector serves several channels: caches are shared, runs are not."""
    connector = harness.connector()
    harness.sync("launches", connector=connector)
    harness.claims.cursor = None
    harness.sync("C02", connector=connector)
    assert harness.counts() == {"conversations.history": 1}

