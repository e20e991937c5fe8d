"""Slack connector: status and date claims from channel messages and thread replies.

One partition is one channel (an id like C0123 or a name). A run reads the channel's history
from its cursor, re-reading a lookback window so edits and deletions of recent messages are
seen (Slack keeps an edited message's ts; a deleted one just disappears), and the threads that
moved. Every message it reads gets a complete statement: its claims, or a `Retraction` when it
has none (an edit that removed a claim, a join, a bot). A message that carried claims and is
gone from a window that was read again is retracted too.

Cursor (JSON, owned here)::

    {"v": 1, "channel": "C01",
     "newest": "1795509000.000100",                  # newest top-level message seen
     "threads": {"<parent ts>": {"latest": "<latest_reply>", "replies": 3,
                                 "keys": ["checkout-v2"]}},   # watched threads
     "checked": {"<parent ts>": 1795509000},        # when each was last read (epoch seconds)
     "pushed": {"<parent ts>": {"latest": "<ts>", "replies": 4,
                                "seen": ["<reply ts>"]}},  # a watched thread as events left it
     "claimed": {"<ts>": {"thread": "<parent ts>"|null,
                          "permalink": "https://…"}},       # permalink only if it was fetched
     "people": {"U01": "2026-11-25"},               # authors looked up, and on which day
     "auth": {"user": "U0BOT", "bot": "B0BOT", "url": "https://acme.slack.com/",
              "team": "Acme", "team_id": "T1", "at": 1795509000, "key": "<fingerprint>"},
     "name": "launches",                            # only for an id with a default keyed by name
     "crawl": {"top": "<ts>", "before": "<ts>",     # only while a first (full) read is unfinished
               "threads": ["<parent ts>"], "history_done": false,
               "created": 1790000000}}                # the channel's creation (for progress)

`threads` holds threads with replies whose last activity is within the watch horizon. A thread
is read again when its parent, in the history page the run reads anyway, shows another
`latest_reply` or `reply_count` (a new or deleted reply), was edited, or has a broadcast reply
in the window; a quiet one (`checked` older than `slack.thread_recheck`, default 6h) is read
again once per thread_recheck, which is what sees edits and deletions of its replies and new
replies to a parent older than the window (history shows only parents inside it). Trade-off:
those three are seen within thread_recheck, not on the next run. `pushed` is a thread as pushed events (the Slack app) left it: its
`latest_reply` and `reply_count` if every reply since the run last read it came by event (the
replies in `seen`, each counted once; a deleted one uncounted; a thread not watched yet counts
from its parent with none). A thread whose parent shows exactly that has nothing the events did
not deliver and is not read for it; any other count (a reply missed in a disconnect) reads it as
before. A reply with claims that came by event is listed in `claimed` too, so a read that finds
it gone retracts it. `claimed` holds the messages in
the window that carried claims: what may need a retraction when they vanish. `people` keeps
the author look-up to once a day per author; `channel` is the id a name resolved to.

`auth` is auth.test's answer (the service's own user and bot, whose messages are skipped, and
the workspace URL): asked at most once a day (`at`), and again when the token or API base URL
changes (`key`, a truncated SHA-256 of both, is not the token) or a call fails with an auth
error. Permalinks are built from the workspace URL the way Slack builds them
(`{url}archives/{channel}/p{ts without the dot}`, plus `?thread_ts={parent}&cid={channel}` for a
reply); only without a URL is chat.getPermalink asked, once per message, kept in `claimed`.

Linking: Asana task URLs, configured aliases/hashtags and channel links named like a deliverable
(`<#C1|audit-log>`) in the text; the parser reads the message clause by clause and gives each
deliverable named its own status and date (`message_claims`: "checkout is done, payments still
blocked" is a claim for each); a claim about nothing named goes to the thread parent's
deliverables, else the channel's default. One observation per (message, field, deliverable);
its excerpt is the sentence or roundup line the claim was read in (`evidence_of`).

Requests: auth.test at most once a day per cursor (and once per connector); conversations.list
once per connector when a channel given by name has no cursor yet, or (daily, with auth.test)
when one given by id has its default keyed by name; conversations.info once per first read of
a channel given by id (when it was created: the first read's progress); per run,
conversations.history per page from min(newest seen, now - lookback), conversations.replies per
thread that is new, moved (past what events delivered, see `pushed`) or is due by
thread_recheck, and each claim author once a day: users.info for the first
PEOPLE_BY_INFO of a connector, then (or at once on a first read) users.list pages of 200. An
idle run right after another costs one request: the history page of the window.

Batches: one per history page and per few threads (cursor None, safe to apply twice), then a
last one with the people, the retractions of vanished messages and the new cursor. A failed
request raises before that last batch, so the stored cursor never moves past a failure.

A first read of a channel (no cursor: its whole history) can outlast a run: it checkpoints, and
it goes newest first: each history page, then the threads found on it, then the next (older)
page, so what is current is stored (and can be reconciled) first, and only one page's threads
wait in memory. Each history page and each thread read ends in a batch with a cursor carrying
`crawl`: the newest top-level ts seen (`top`, the cursor's `newest` once done), the oldest one
read (`before`: history is read on below it), the last page's threads not read yet, whether the
history is done, and when the channel was created (from conversations.list for a channel given
by name, else conversations.info, once per first read; 0 if Slack does not say): each of those batches says the share read
(`SyncBatch.progress`, the time from now back to `before` against the channel's life). A run
that fails or is killed resumes there; messages newer than `top` are read by the first ordinary
run after the crawl, as its window starts at `top` at the latest. Nothing is retracted while
crawling (every message read is new to the store). Trade-off: a new reply to a thread started
long ago is read with its parent's (older) page, not with the newest.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from pydantic import ConfigDict
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from connectors.base import (
    ClaimKind,
    ConnectorError,
    DeliverableIndex,
    Field,
    NoRateLimit,
    Observation,
    PersonRecord,
    RateLimiter,
    Retraction,
    Source,
    SyncBatch,
)
from connectors.config import SlackConfig, parse_duration
from connectors.slack.client import (
    DEFAULT_SLACK_BASE_URL,
    describe_transport_error,
    make_web_client,
    take_throttled,
    rate_limit_key,
)
from connectors.slack.links import (
    DeliverableLinker,
    message_permalink,
    plain_text,
    subject_keys,
    unique_keys,
)
from connectors.toolkit import CursorModel, CursorPaginator, RequestCount

log = logging.getLogger(__name__)

CURSOR_VERSION = 1
INTERNAL_PAGE_SIZE = 200
MARKETPLACE_PAGE_SIZE = 15
DEFAULT_THREAD_WATCH = timedelta(days=14)
AUTH_TTL = timedelta(days=1)  # auth.test's answer, cached in each cursor, is asked again after this
_AUTH_ERRORS = frozenset({"invalid_auth", "not_authed", "token_revoked", "account_inactive"})
# Messages people write; every other subtype (joins, topic changes, tombstones…) is skipped.
HUMAN_SUBTYPES = frozenset({None, "thread_broadcast", "file_share", "me_message"})
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")
_FLUSH_REFS = 200  # refs per intermediate batch
# Authors asked one by one (users.info) before the whole directory (users.list) is cheaper.
PEOPLE_BY_INFO = 3
SLACKBOT = "USLACKBOT"  # reminders and system notices, not a person's claim
_GONE_USER = frozenset({"user_not_found", "users_not_found"})
THREAD_KEYS_KEPT = 10_000  # threads whose deliverables a pushed reply may need, per connector


def utcnow() -> datetime:
    return datetime.now(UTC)


# -- Slack timestamps ---------------------------------------------------------------------------


def ts_key(ts: str) -> tuple[int, int]:
    """A Slack ts ("1795509000.000100") as a sortable pair; string order is wrong across digits."""
    seconds, _, micros = ts.partition(".")
    return int(seconds), int((micros + "000000")[:6])


def ts_to_datetime(ts: str) -> datetime:
    seconds, micros = ts_key(ts)
    return datetime.fromtimestamp(seconds, UTC) + timedelta(microseconds=micros)


def datetime_to_ts(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return f"{int(moment.replace(microsecond=0).timestamp())}.{moment.microsecond:06d}"


def _older(a: str, b: str) -> str:
    return a if ts_key(a) <= ts_key(b) else b


def _newer(a: str | None, b: str) -> str:
    return b if a is None or ts_key(b) > ts_key(a) else a


# -- cursor ------------------------------------------------------------------------------------


@dataclass
class WatchedThread:
    latest: str
    replies: int
    keys: list[str] = field(default_factory=list)
    checked: int | None = None  # when (epoch seconds) the thread was last read; None: due now


@dataclass
class PushedThread:
    """A watched thread as events left it (see `pushed` in the module docstring)."""

    latest: str
    replies: int
    seen: list[str] = field(default_factory=list)  # replies counted, newer than the watched `latest`


PUSHED_SEEN_KEPT = 200  # replies remembered per thread; past that the thread is simply read again


@dataclass
class ClaimedMessage:
    permalink: str | None  # only one chat.getPermalink gave (no workspace URL); else built
    thread: str | None = None  # the parent's ts for a reply


@dataclass
class Crawl:
    """A first read of a channel's whole history that has not finished: where to go on."""

    top: str | None = None  # the newest top-level ts it saw
    before: str | None = None  # history is read on below this ts (exclusive); None: from the start
    threads: list[str] = field(default_factory=list)  # parents whose threads are still to read
    history_done: bool = False
    created: int | None = None  # when the channel was created (epoch seconds; 0 unknown): for progress

    def to_json(self) -> dict[str, Any]:
        return {"top": self.top, "before": self.before, "threads": list(self.threads),
                "history_done": self.history_done, "created": self.created}

    @classmethod
    def from_json(cls, data: Any) -> Crawl | None:
        if not isinstance(data, dict):
            return None
        top, before = data.get("top"), data.get("before")
        for ts in (top, before):
            if ts is not None:
                ts_key(str(ts))
        threads = [str(t) for t in data.get("threads") or []]
        for ts in threads:
            ts_key(ts)
        created = int(data["created"]) if data.get("created") is not None else None
        return cls(str(top) if top else None, str(before) if before else None, threads,
                   bool(data.get("history_done")), created)

    def progress(self, now_s: int) -> float | None:
        """The share of the channel's history read: the time from now back to `before` against
        the time since the channel was created (even activity assumed), 1.0 once done."""
        if self.history_done and not self.threads:
            return 1.0
        if not self.created or self.before is None or now_s <= self.created:
            return None if not self.created else 0.0
        covered = now_s - ts_key(self.before)[0]
        return max(0.0, min(0.99, covered / (now_s - self.created)))


@dataclass(frozen=True, slots=True)
class Identity:
    """What auth.test says about the token: the service's own user and bot (its messages are
    skipped), the workspace URL (permalinks are built from it) and team; `at` is when it was asked
    (epoch seconds) and `key` a fingerprint of the API base URL and token it was asked with."""

    user_id: str | None
    bot_id: str | None
    team_url: str | None
    team: str | None = None
    team_id: str | None = None
    at: int = 0
    key: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"user": self.user_id, "bot": self.bot_id, "url": self.team_url, "team": self.team,
                "team_id": self.team_id, "at": self.at, "key": self.key}

    @classmethod
    def from_json(cls, data: Any) -> Identity | None:
        """None for anything unreadable: auth.test is then asked again, the rest of the cursor kept."""
        if not isinstance(data, dict):
            return None
        text = lambda k: str(data[k]) if data.get(k) is not None else None
        try:
            at = int(data.get("at") or 0)
        except (TypeError, ValueError):
            return None
        return cls(text("user"), text("bot"), text("url"), text("team"), text("team_id"), at, str(data.get("key") or ""))


class ChannelCursor(CursorModel):
    """What the store keeps per channel (the JSON layout in the module docstring): `dumps()`,
    and `loads()`, which gives a fresh cursor (a full read) for one it cannot use."""

    model_config = ConfigDict(extra="ignore")  # the layout is read key by key (`upgrade`)
    VERSION: ClassVar[int] = CURSOR_VERSION

    channel: str
    newest: str | None = None
    threads: dict[str, WatchedThread] = {}
    claimed: dict[str, ClaimedMessage] = {}
    people: dict[str, str] = {}  # user id -> ISO day fetched
    auth: Identity | None = None
    name: str | None = None  # the channel's name ("" none found), looked up with `auth`
    crawl: Crawl | None = None  # a first read in progress (see the module docstring)
    pushed: dict[str, PushedThread] = {}  # watched threads as events left them

    def __init__(
        self,
        channel: str,
        newest: str | None = None,
        threads: dict[str, WatchedThread] | None = None,
        claimed: dict[str, ClaimedMessage] | None = None,
        people: dict[str, str] | None = None,
        auth: Identity | None = None,
        name: str | None = None,
        crawl: Crawl | None = None,
        pushed: dict[str, PushedThread] | None = None,
    ) -> None:
        super().__init__(
            channel=channel, newest=newest, threads=threads or {}, claimed=claimed or {}, people=people or {},
            auth=auth, name=name, crawl=crawl, pushed=pushed or {},
        )

    def wire(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "channel": self.channel,
            "newest": self.newest,
            "threads": {
                ts: {"latest": t.latest, "replies": t.replies, "keys": t.keys}
                for ts, t in sorted(self.threads.items(), key=lambda kv: ts_key(kv[0]))
            },
            "claimed": {
                ts: {"permalink": c.permalink, "thread": c.thread} if c.permalink else {"thread": c.thread}
                for ts, c in sorted(self.claimed.items(), key=lambda kv: ts_key(kv[0]))
            },
            "people": dict(sorted(self.people.items())),
        }
        # when each watched thread was last read: apart, as it is a time, not what Slack holds
        data["checked"] = {
            ts: t.checked
            for ts, t in sorted(self.threads.items(), key=lambda kv: ts_key(kv[0]))
            if t.checked is not None
        }
        if self.auth is not None:
            data["auth"] = self.auth.to_json()
        if self.name is not None:
            data["name"] = self.name
        if self.crawl is not None:
            data["crawl"] = self.crawl.to_json()
        if self.pushed:
            data["pushed"] = {ts: {"latest": p.latest, "replies": p.replies, "seen": p.seen}
                              for ts, p in sorted(self.pushed.items(), key=lambda kv: ts_key(kv[0]))}
        return data

    def dumps(self) -> str:
        return self.dump()

    @classmethod
    def upgrade(cls, data: dict[str, Any], version: Any) -> dict[str, Any] | None:
        """The stored layout as fields; ValueError, TypeError or KeyError for one that is broken."""
        if version != CURSOR_VERSION:
            return None
        newest = data.get("newest")
        if newest is not None:
            ts_key(newest)
        checked = {str(ts): int(at) for ts, at in (data.get("checked") or {}).items()}
        name = data.get("name")
        return {
            "channel": data.get("channel"),
            "newest": newest,
            "threads": {
                str(ts): WatchedThread(
                    str(t["latest"]), int(t["replies"]), [str(k) for k in t.get("keys", [])], checked.get(str(ts))
                )
                for ts, t in data.get("threads", {}).items()
            },
            "claimed": {
                str(ts): ClaimedMessage(c.get("permalink"), c.get("thread")) for ts, c in data.get("claimed", {}).items()
            },
            "people": {str(u): str(day) for u, day in data.get("people", {}).items()},
            "auth": Identity.from_json(data.get("auth")),
            "name": str(name) if name is not None else None,
            "crawl": Crawl.from_json(data.get("crawl")) if newest is None else None,
            "pushed": {
                str(ts): PushedThread(str(p["latest"]), int(p["replies"]), [str(r) for r in p.get("seen", [])])
                for ts, p in (data.get("pushed") or {}).items()
            },
        }

    @classmethod
    def loads(cls, raw: str | None, channel: str) -> ChannelCursor:
        """The stored cursor, or a fresh one (full read) when there is none, it is for another
        channel, or it cannot be read."""
        if not raw:
            return cls(channel)
        try:
            cursor = cls.parse(raw)
            if cursor.channel != channel:
                raise ValueError("cursor is for another channel or version")
        except ValueError as exc:
            log.warning("unreadable Slack cursor, reading the channel again", extra={"channel": channel, "error": str(exc)})
            return cls(channel)
        return cursor

    def note_pushed_reply(self, parent: str, reply: str, *, deleted: bool, window_start: str) -> bool:
        """A reply of thread `parent` came by event (posted, or `deleted`): what the thread's
        parent should now show if no other reply was missed. A thread not watched counts from
        its parent with no replies (a run that saw it saw none), if the parent is in the window
        the next run reads. False: nothing to note (a parent older than that window; an edit; a
        repeat; the deletion of the reply the run saw last, after which Slack's `latest_reply`
        is not known here)."""
        watched = self.threads.get(parent)
        if watched is None:
            if ts_key(parent) < ts_key(window_start):
                return False
            watched = WatchedThread(parent, 0)
        pushed = self.pushed.get(parent) or PushedThread(watched.latest, watched.replies)
        newer = ts_key(reply) > ts_key(watched.latest)
        if not deleted:
            if not newer or reply in pushed.seen or len(pushed.seen) >= PUSHED_SEEN_KEPT:
                return False
            pushed.seen.append(reply)
            pushed.replies += 1
            pushed.latest = _newer(pushed.latest, reply)
        elif reply in pushed.seen:
            pushed.seen.remove(reply)
            pushed.replies -= 1
            pushed.latest = max([watched.latest, *pushed.seen], key=ts_key)
        elif not newer and reply != watched.latest:
            pushed.replies -= 1
        else:
            return False
        self.pushed[parent] = pushed
        return True

    def pushed_matches(self, parent: str, latest: str, replies: int) -> bool:
        """Whether the parent's `latest_reply` and `reply_count` are what events delivered."""
        pushed = self.pushed.get(parent)
        return pushed is not None and (pushed.latest, pushed.replies) == (latest, replies)

    @staticmethod
    def auth_of(raw: str | None) -> Identity | None:
        """The auth.test answer a stored cursor keeps, if it can be read (whatever its channel)."""
        try:
            data = json.loads(raw) if raw else None
            return Identity.from_json(data.get("auth")) if isinstance(data, dict) else None
        except (ValueError, TypeError):
            return None

    @staticmethod
    def channel_of(raw: str | None) -> str | None:
        """The channel id a stored cursor is for, if it can be read."""
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            return None
        channel = data.get("channel") if isinstance(data, dict) else None
        return channel if isinstance(channel, str) and _CHANNEL_ID.match(channel) else None


# -- the connector -------------------------------------------------------------------------------


class SlackConnector:
    source = Source.SLACK

    def __init__(
        self,
        *,
        token: str,
        base_url: str = DEFAULT_SLACK_BASE_URL,
        config: SlackConfig,
        index: DeliverableIndex,
        rate_limiter: RateLimiter = NoRateLimit(),
        timezone: str = "UTC",
        clock: Callable[[], datetime] = utcnow,
        page_size: int | None = None,
        thread_watch: timedelta | None = None,
        thread_recheck: timedelta | None | str = "config",
        claim_parser: Any = None,
        client: WebClient | None = None,
    ):
        self.config = config
        self.index = index
        self.rate_limiter = rate_limiter
        self.timezone = timezone
        self.clock = clock
        self.limited = config.budget == "marketplace_limited"
        self.page_size = page_size or (MARKETPLACE_PAGE_SIZE if self.limited else INTERNAL_PAGE_SIZE)
        self.lookback = parse_duration(config.lookback)
        if thread_watch is None:
            # A limited app cannot afford polling two weeks of threads every run.
            thread_watch = self.lookback if self.limited else max(self.lookback, DEFAULT_THREAD_WATCH)
        self.thread_watch = thread_watch
        # a quiet watched thread is read again at most this often (None: only when it moves)
        self.thread_recheck = config.thread_recheck_interval() if thread_recheck == "config" else thread_recheck
        if claim_parser is None:
            from connectors.claims import ClaimParser

            claim_parser = ClaimParser(
                extra_phrases=dict(config.status_phrases), timezone=timezone, languages=tuple(config.status_languages)
            )
        self.parser = claim_parser
        self.linker = DeliverableLinker(index)
        self.trusted_bots = frozenset(config.trusted_bots)
        self._client = client or make_web_client(token, base_url)
        # requests per thread: the channels of a run may be read at the same time, each in its own
        self._counted = threading.local()
        self._lookup_lock = threading.RLock()  # auth.test and conversations.list, once for all
        self._identity: Identity | None = None
        self._auth_failed = False  # an auth error was seen: cached identities are not trusted
        # which token (and API) an identity cached in a cursor was asked with; a one-way hash
        self._auth_key = hashlib.sha256(f"{base_url}\n{token}".encode()).hexdigest()[:16]
        self._channel_ids: dict[str, str] | None = None  # name -> id
        self._channel_names: dict[str, str] = {}  # id -> name
        self._channel_created: dict[str, int] = {}  # id -> created (epoch seconds), from the directory
        self._people: dict[str, PersonRecord | None] = {}
        self._directory: dict[str, PersonRecord] | None = None  # users.list, once read
        self._people_asked = 0  # users.info calls so far
        self._people_lock = threading.Lock()
        self._thread_keys: dict[tuple[str, str], list[str]] = {}  # (channel, parent ts) -> its deliverables

    # -- protocol -------------------------------------------------------------------------------

    def partitions(self) -> list[str]:
        return list(self.config.channels)

    def pull(self, partition: str, cursor: str | None) -> Iterator[SyncBatch]:
        yield from _ChannelRun(self, partition).run(cursor)

    def message_batch(
        self, partition: str, cursor: str | None, message: dict[str, Any], *, thread: str | None
    ) -> tuple[str, SyncBatch]:
        """One message as a run would state it (a pushed event): the channel id and a batch
        with the message's claims, or its retraction, and its author (no cursor: the poller's
        stays where it is). A reply is about what its thread is about: the deliverables kept for
        a watched thread, else its parent's (one conversations.replies, remembered)."""
        self.take_requests()
        self.take_throttled()
        run = _ChannelRun(self, partition)
        run.prepare(cursor)
        ts = str(message["ts"])
        parent_keys = None
        if thread is not None:
            watched = run.state.threads.get(thread)
            parent_keys = list(watched.keys) if watched else self._parent_keys(run, thread)
        elif message.get("subtype") != "tombstone":  # what a thread under it will be about
            self._remember_thread(run.channel, ts, run.parent_keys(message, None))
        run.state_message(message, parent_keys=parent_keys, thread=thread)
        batch = run.pending
        batch.requests = self.take_requests()
        batch.throttled = self.take_throttled()
        return run.channel, batch

    def cursor_after_reply(self, raw_cursor: str | None, channel: str, *, parent: str, reply: str,
                           deleted: bool, claims: bool) -> str | None:
        """The stored cursor with a reply that came by event noted on its thread (see `pushed`),
        so the next run does not read the thread for it, and, when it carries `claims`, listed
        in `claimed` (a run that later finds it gone retracts it, as if it had read it); None:
        unchanged. Only those entries change: `newest`, the history window and the rest are the
        run's."""
        state = ChannelCursor.loads(raw_cursor, channel) if raw_cursor else None
        if state is None or state.channel != channel or state.newest is None:  # no cursor, or a first read under way
            return None
        window_start = datetime_to_ts(self.clock() - self.lookback)
        noted = state.note_pushed_reply(parent, reply, deleted=deleted, window_start=window_start)
        listed = state.claimed.get(reply)
        if claims and not deleted and listed is None:
            state.claimed[reply] = ClaimedMessage(None, parent)
        elif (deleted or not claims) and listed is not None and listed.thread == parent:
            del state.claimed[reply]  # a retraction stored by this event: nothing left to retract
        else:
            return state.dumps() if noted else None
        return state.dumps()

    def _parent_keys(self, run: _ChannelRun, thread: str) -> list[str]:
        key = (run.channel, thread)
        if key not in self._thread_keys:
            answer = self.call("conversations.replies", run.where, tolerate=frozenset({"thread_not_found"}),
                               channel=run.channel, ts=thread, limit=1)
            messages = (answer or {}).get("messages") or []
            parent = next((m for m in messages if str(m.get("ts")) == thread), None)
            self._remember_thread(run.channel, thread, run.parent_keys(parent, None))
        return list(self._thread_keys[key])

    def _remember_thread(self, channel: str, parent: str, keys: list[str]) -> None:
        self._thread_keys.pop((channel, parent), None)
        self._thread_keys[(channel, parent)] = keys
        while len(self._thread_keys) > THREAD_KEYS_KEPT:  # the least recently stated first
            del self._thread_keys[next(iter(self._thread_keys))]

    # -- API plumbing ---------------------------------------------------------------------------

    def call(self, method: str, where: str, *, tolerate: frozenset[str] = frozenset(), **params: Any) -> Any:
        """One Web API call under the rate limiter; failures become ConnectorErrors naming `where`.
        An `ok: false` answer whose error code is in `tolerate` returns None instead."""
        key = rate_limit_key(method)
        self.rate_limiter.acquire(key)
        self._requests().add()
        try:
            return getattr(self._client, method.replace(".", "_"))(**params)
        except SlackApiError as exc:
            code = exc.response.get("error") if exc.response is not None else None
            if code in tolerate:
                return None
            if code in _AUTH_ERRORS:
                self._identity = None  # ask auth.test again before trusting a cached identity
                self._auth_failed = True
            raise describe_transport_error(exc, where=where) or exc from exc
        except Exception as exc:
            error = describe_transport_error(exc, where=where)
            if error is None:
                raise
            raise error from exc
        finally:
            self.rate_limiter.release(key)

    def pages(
        self, method: str, where: str, items_key: str, *, tolerate: frozenset[str] = frozenset(), **params: Any
    ) -> CursorPaginator[Any]:
        """The pages of a list method (`call` per page), following `response_metadata.next_cursor`;
        a tolerated error ends the pages with `missing` set."""
        return CursorPaginator(
            lambda cursor: self.call(method, where, tolerate=tolerate, **params, cursor=cursor), items_key=items_key
        )

    def take_requests(self) -> int:
        """The requests this thread made since it last asked."""
        return self._requests().take()

    def _requests(self) -> RequestCount:
        """This thread's request count (channels of one run may be read at the same time)."""
        count: RequestCount | None = getattr(self._counted, "count", None)
        if count is None:
            count = self._counted.count = RequestCount()
        return count

    def take_throttled(self) -> int:
        """The 429 answers this thread waited out since it last asked."""
        return take_throttled(self._client)

    def identity(self, where: str, cached: Identity | None = None) -> Identity:
        """Who the service is and its workspace URL: auth.test at most once per AUTH_TTL. The
        answer a cursor keeps (`cached`) is used while it is younger than that and was asked with
        the same token and API; once asked (or adopted) it serves every channel of the connector.
        An auth error on any call forgets it, so the next run asks again."""
        now = int(self.clock().timestamp())

        def fresh(known: Identity | None) -> bool:
            return (
                known is not None
                and known.key == self._auth_key
                and 0 <= now - known.at < AUTH_TTL.total_seconds()
            )

        with self._lookup_lock:
            if not fresh(self._identity):
                self._identity = cached if fresh(cached) and not self._auth_failed else None
            if self._identity is None:
                answer = self.call("auth.test", where)
                self._auth_failed = False
                self._identity = Identity(
                    _text(answer.get("user_id")),
                    _text(answer.get("bot_id")),
                    _text(answer.get("url")),
                    _text(answer.get("team")),
                    _text(answer.get("team_id")),
                    now,
                    self._auth_key,
                )
            return self._identity

    def channel_id(self, partition: str) -> str:
        raw = partition.strip()
        if _CHANNEL_ID.match(raw):
            return raw
        name = raw.lstrip("#").lower()
        ids = self._channel_directory(f"channel {raw}")
        if name not in ids:
            raise ConnectorError(
                f"Slack channel {raw!r}: no channel by that name is visible to the bot "
                "(check the name, invite the bot, or configure the channel id)"
            )
        return ids[name]

    def channel_name(self, channel: str, where: str) -> str | None:
        if channel not in self._channel_names and self._channel_ids is None:
            self._channel_directory(where)
        return self._channel_names.get(channel)

    def _channel_directory(self, where: str) -> dict[str, str]:
        """Channel names to ids (conversations.list, once per connector)."""
        with self._lookup_lock:
            return self._read_channel_directory(where)

    def _read_channel_directory(self, where: str) -> dict[str, str]:
        if self._channel_ids is None:
            ids: dict[str, str] = {}
            listing = self.pages(
                "conversations.list", where, "channels",
                types="public_channel,private_channel", exclude_archived=False, limit=1000,
            )
            for page in listing:
                for channel in page.items:
                    if channel.get("name") and channel.get("id"):
                        ids[str(channel["name"]).lower()] = str(channel["id"])
                        self._channel_names[str(channel["id"])] = str(channel["name"])
                        if isinstance(channel.get("created"), int):
                            self._channel_created[str(channel["id"])] = int(channel["created"])
            self._channel_ids = ids
        return self._channel_ids

    def person(self, user_id: str, where: str, *, many: bool = False) -> PersonRecord | None:
        """The author as a PersonRecord, cached per connector. A handful of authors are asked
        one by one (users.info); from the PEOPLE_BY_INFO+1th on, or at once when `many` are
        coming (a first read of a channel), the workspace's directory is read in users.list
        pages of 200, which then answers for everyone in it. Someone not in it (a guest of a
        shared channel, a member who joined since) is asked by users.info."""
        with self._people_lock:
            if user_id in self._people:
                return self._people[user_id]
            if self._directory is None and (many or self._people_asked >= PEOPLE_BY_INFO):
                self._directory = self._read_directory(where)
            record = self._directory.get(user_id) if self._directory is not None else None
            if record is None:
                self._people_asked += 1
                answer = self.call("users.info", f"{where}, user {user_id}", tolerate=_GONE_USER, user=user_id)
                record = _person_record(answer.get("user") or {}) if answer is not None else None
            self._people[user_id] = record
            return record

    def known_name(self, user_id: str) -> str | None:
        """A person's name if it has been read already (never asks Slack): for excerpts."""
        with self._people_lock:
            record = self._people.get(user_id) or (self._directory or {}).get(user_id)
        return record.name if record is not None else None

    def _read_directory(self, where: str) -> dict[str, PersonRecord]:
        """Every member of the workspace by id (users.list, pages of INTERNAL_PAGE_SIZE)."""
        directory: dict[str, PersonRecord] = {}
        for page in self.pages("users.list", f"{where}, people", "members", limit=INTERNAL_PAGE_SIZE):
            for member in page.items:
                record = _person_record(member)
                if record is not None:
                    directory[record.source_id] = record
        return directory

    def fetch_permalink(self, channel: str, ts: str, where: str) -> str | None:
        """chat.getPermalink: only when auth.test gave no workspace URL to build links from."""
        answer = self.call(
            "chat.getPermalink", where, tolerate=frozenset({"message_not_found"}), channel=channel, message_ts=ts
        )
        return answer.get("permalink") if answer is not None else None


def _person_record(user: dict[str, Any]) -> PersonRecord | None:
    """users.info's `user` or a users.list member as a PersonRecord (None without an id)."""
    user_id = user.get("id")
    if not user_id:
        return None
    profile = user.get("profile") or {}
    return PersonRecord(
        source=Source.SLACK,
        source_id=str(user_id),
        name=user.get("real_name") or profile.get("real_name") or user.get("name") or None,
        email=profile.get("email") or None,
        timezone=user.get("tz") or None,
    )


def _text(value: Any) -> str | None:
    return str(value) if value else None


def _next_cursor(answer: Any) -> str | None:
    return ((answer.get("response_metadata") or {}).get("next_cursor")) or None


# -- one run over one channel ---------------------------------------------------------------------


@dataclass
class _ThreadRead:
    parent: str
    oldest: str | None  # exclusive; None reads the whole thread


class _ChannelRun:
    def __init__(self, connector: SlackConnector, partition: str):
        self.c = connector
        self.partition = partition
        self.where = f"channel {partition}"
        self.stated: set[str] = set()
        self.pending = SyncBatch()

    # -- the run ----------------------------------------------------------------------------------

    def prepare(self, raw_cursor: str | None) -> None:
        """Who the service is, the channel id, its cursor and default deliverable: what stating
        any message of the channel needs (a run, or one pushed event)."""
        c = self.c
        cached_auth = ChannelCursor.auth_of(raw_cursor)
        self.identity = c.identity(self.where, cached_auth)
        # the identity was asked (or taken from another channel's newer answer) in this run
        self.auth_renewed = cached_auth is None or cached_auth != self.identity
        # A name resolves once; its cursor then remembers the id (and so follows a rename).
        known = None if _CHANNEL_ID.match(self.partition.strip()) else ChannelCursor.channel_of(raw_cursor)
        self.channel = known or c.channel_id(self.partition)
        if self.channel != self.partition:
            self.where = f"channel {self.partition} ({self.channel})"
        state = ChannelCursor.loads(raw_cursor, self.channel)
        self.state = state
        state.auth = self.identity
        self.default_keys = self._channel_default()
        now = self.now = c.clock()
        self.now_s = int(now.timestamp())
        self.today = now.astimezone(UTC).date().isoformat()

    def run(self, raw_cursor: str | None) -> Iterator[SyncBatch]:
        c = self.c
        c.take_requests()
        c.take_throttled()
        self.prepare(raw_cursor)
        state, now = self.state, self.now
        window_start = datetime_to_ts(now - c.lookback)
        self.since: str | None = _older(state.newest, window_start) if state.newest else None
        watch_start = datetime_to_ts(now - c.thread_watch)

        if self.since is None:  # a first read: resumable, page by page and thread by thread
            yield from self.crawl(state.crawl or Crawl())
            return

        # 1. top-level messages from `since` on, newest first, page by page
        parents: dict[str, dict[str, Any]] = {}
        broadcasts: dict[str, list[dict[str, Any]]] = {}  # thread ts -> its replies sent to the channel
        seen_top: set[str] = set()
        newest = state.newest
        history = c.pages(
            "conversations.history",
            self.where,
            "messages",
            channel=self.channel,
            oldest=self.since,
            inclusive=True if self.since else None,
            limit=c.page_size,
        )
        for page in history:
            for message in page.items:
                ts = str(message.get("ts") or "")
                if not ts:
                    continue
                thread_ts = message.get("thread_ts")
                if message.get("subtype") == "thread_broadcast" and thread_ts and thread_ts != ts:
                    broadcasts.setdefault(str(thread_ts), []).append(message)  # stated with its thread
                    continue
                seen_top.add(ts)
                newest = _newer(newest, ts)
                if thread_ts == ts or ts in state.threads:
                    parents[ts] = message
                self.state_message(message, parent_keys=None, thread=None)
            yield from self.flush(force=False)

        # 2. threads: new ones, those that moved (their parent's latest_reply or reply_count in
        # the history page), were broadcast to or had their parent edited, and the watched ones
        # due for a re-read (once per thread_recheck: edits and deletions of replies, and new
        # replies to a parent older than the window, which history does not show)
        # A broadcast reply moves its thread when it is news: a thread not watched yet, or a reply
        # newer than the last one seen in it.
        # (A reply that came by event is no news: see `pushed`.)
        broadcast_moved = {
            ts
            for ts, messages in broadcasts.items()
            if ts not in state.threads
            or any(ts_key(str(m["ts"])) > ts_key(state.threads[ts].latest)
                   and str(m["ts"]) not in (state.pushed[ts].seen if ts in state.pushed else ())
                   for m in messages)
        }
        reads: dict[str, _ThreadRead] = {}
        settled: set[str] = set()  # threads whose history shows just what events delivered
        for ts, message in parents.items():
            prev = state.threads.get(ts)
            latest = str(message.get("latest_reply") or ts)
            replies = int(message.get("reply_count") or 0)
            moved = prev is not None and (prev.latest, prev.replies) != (latest, replies)
            if (moved or (prev is None and replies)) and state.pushed_matches(ts, latest, replies):
                # every reply since the last read (of a new thread: every reply) came by event and
                # is stored: nothing to read for it
                moved = False
                settled.add(ts)
                keys, checked = (prev.keys, prev.checked) if prev else (self.parent_keys(message, None), self.now_s)
                state.threads[ts] = prev = WatchedThread(latest, replies, keys, checked)
            if prev is None:
                if replies or ts in broadcast_moved:
                    reads[ts] = _ThreadRead(ts, None)
            elif (
                moved
                or ts in broadcast_moved
                or self.parent_keys(message, prev) != prev.keys  # the parent was edited
                or self.recheck_due(prev)
            ):
                reads[ts] = _ThreadRead(ts, _older(self.since, prev.latest) if self.since else None)
        for ts in sorted(broadcast_moved - set(parents), key=ts_key):
            prev = state.threads.get(ts)
            oldest = _older(self.since, prev.latest) if (prev and self.since) else None
            reads[ts] = _ThreadRead(ts, oldest)
        for ts, prev in list(state.threads.items()):
            if ts in parents or ts in reads:
                continue
            if self.since is None or ts_key(ts) >= ts_key(self.since):
                self.thread_gone(ts)  # its parent was in the window and is gone
            elif ts_key(_newer(prev.latest, ts)) < ts_key(watch_start):
                del state.threads[ts]  # quiet for longer than the watch horizon
            elif self.recheck_due(prev):
                reads[ts] = _ThreadRead(ts, _older(self.since, prev.latest))
        # A known broadcast reply of a thread not read now is stated from the history page (an
        # edit to it shows there), linked by what its watched thread is about.
        for ts, messages in broadcasts.items():
            watched = state.threads.get(ts)
            if ts not in reads and watched is not None:
                for message in messages:
                    self.state_message(message, parent_keys=watched.keys, thread=ts)
        for read in reads.values():
            self.read_thread(read, parents.get(read.parent))
            yield from self.flush(force=False)
        # what events delivered is kept only until history has shown it or the thread was read;
        # a thread not watched whose parent history did not show is gone or out of the window
        state.pushed = {ts: p for ts, p in state.pushed.items()
                        if ts not in reads and ts not in settled and (ts in state.threads or ts in seen_top)}

        # 3. top-level messages that carried claims, were in the window and are gone
        for ts, claimed in list(state.claimed.items()):
            in_window = self.since is None or ts_key(ts) >= ts_key(self.since)
            if claimed.thread is None and in_window and ts not in seen_top:
                self.retract(ts)
        # The next run reads from min(newest, its window start) on: older entries are never read
        # again, so there is no deletion to see and no permalink to reuse.
        keep_from = ts_key(_older(newest, window_start) if newest else window_start)
        for ts in [ts for ts in state.claimed if ts_key(ts) < keep_from]:
            del state.claimed[ts]
        state.newest = newest
        state.people = {u: day for u, day in state.people.items() if day == self.today}
        yield from self.flush(force=True)

    def crawl(self, crawl: Crawl) -> Iterator[SyncBatch]:
        """The whole history, newest first, page by page, each page's threads read right after
        it (so what is current is stored first, and the threads waiting are one page's); every
        step ends in a batch whose cursor says where to go on (`crawl`), so no failure or kill
        loses a page."""
        c, state = self.c, self.state
        state.crawl = crawl
        if crawl.created is None:
            crawl.created = self.channel_created()
        parents: dict[str, dict[str, Any]] = {}
        while True:
            for parent in list(crawl.threads):  # the last page's (or those a stopped run left)
                self.read_thread(_ThreadRead(parent, None), parents.pop(parent, None))
                crawl.threads.remove(parent)
                yield from self.flush(force=True)
            if crawl.history_done:
                break
            # each page asks for what is older than the oldest ts read (not Slack's cursor, which
            # belongs to one run's query): the same request goes on after a failure or a kill
            answer = c.call(
                "conversations.history",
                self.where,
                channel=self.channel,
                latest=crawl.before,
                inclusive=False if crawl.before else None,
                limit=c.page_size,
            )
            messages = answer.get("messages") or []
            found: list[str] = []
            for message in messages:
                ts = str(message.get("ts") or "")
                if not ts:
                    continue
                crawl.before = _older(crawl.before, ts) if crawl.before else ts
                thread_ts = message.get("thread_ts")
                if message.get("subtype") == "thread_broadcast" and thread_ts and thread_ts != ts:
                    found.append(str(thread_ts))  # stated with its thread
                    continue
                crawl.top = _newer(crawl.top, ts)
                if thread_ts == ts and int(message.get("reply_count") or 0):
                    parents[ts] = message
                    found.append(ts)
                self.state_message(message, parent_keys=None, thread=None)
            # a thread read already (from a broadcast reply on a newer page) is not read again
            crawl.threads = [t for t in dict.fromkeys(found) if t not in state.threads]
            crawl.history_done = not messages or not (answer.get("has_more") or _next_cursor(answer))
            yield from self.flush(force=True)
        state.newest = crawl.top
        state.crawl = None
        window_start = datetime_to_ts(c.clock() - c.lookback)
        keep_from = ts_key(_older(state.newest, window_start) if state.newest else window_start)
        for ts in [ts for ts in state.claimed if ts_key(ts) < keep_from]:
            del state.claimed[ts]
        state.people = {u: day for u, day in state.people.items() if day == self.today}
        self.pending.progress = 1.0
        yield from self.flush(force=True)

    def channel_created(self) -> int:
        """When the channel was created, for the crawl's progress: from the channel directory
        if it was read (a channel given by name), else conversations.info (once per first
        read); 0 when Slack does not say."""
        if self.channel in self.c._channel_created:
            return self.c._channel_created[self.channel]
        answer = self.c.call(
            "conversations.info", self.where, tolerate=frozenset({"missing_scope", "channel_not_found"}),
            channel=self.channel,
        )
        try:
            return int(((answer or {}).get("channel") or {}).get("created") or 0)
        except (TypeError, ValueError):
            return 0

    def recheck_due(self, prev: WatchedThread) -> bool:
        """A thread that did not move is read again once per thread_recheck (never when off)."""
        recheck = self.c.thread_recheck
        if recheck is None:
            return False
        return prev.checked is None or self.now_s - prev.checked >= recheck.total_seconds()

    def read_thread(self, read: _ThreadRead, parent_from_history: dict[str, Any] | None) -> None:
        c, state = self.c, self.state
        prev = state.threads.get(read.parent)
        parent = parent_from_history
        replies: list[dict[str, Any]] = []
        thread = c.pages(
            "conversations.replies",
            self.where,
            "messages",
            tolerate=frozenset({"thread_not_found"}),
            channel=self.channel,
            ts=read.parent,
            oldest=read.oldest,
            limit=c.page_size,
        )
        for page in thread:
            for message in page.items:
                ts = str(message.get("ts") or "")
                if ts == read.parent:
                    parent = message
                elif ts:
                    replies.append(message)
        if thread.missing:  # the parent was deleted and had no replies left
            self.thread_gone(read.parent)
            return
        keys = self.parent_keys(parent, prev)
        latest = read.parent
        seen: set[str] = set()
        for message in replies:
            ts = str(message["ts"])
            if read.oldest is not None and ts_key(ts) <= ts_key(read.oldest):
                continue
            seen.add(ts)
            latest = _newer(latest, ts)
            self.state_message(message, parent_keys=keys, thread=read.parent)
        for ts, claimed in list(state.claimed.items()):
            was_read = read.oldest is None or ts_key(ts) > ts_key(read.oldest)
            if claimed.thread == read.parent and was_read and ts not in seen:
                self.retract(ts)
        if parent is not None:
            latest = str(parent.get("latest_reply") or latest)
            count = int(parent.get("reply_count") or len(replies))
        else:
            latest = _newer(prev.latest if prev else None, latest)
            count = max(prev.replies if prev else 0, len(replies))
        if count == 0:
            state.threads.pop(read.parent, None)
        else:
            state.threads[read.parent] = WatchedThread(latest, count, keys, self.now_s)

    def thread_gone(self, parent: str) -> None:
        """The thread no longer exists: retract its parent, however old, and the replies in the
        window that carried claims."""
        self.state.threads.pop(parent, None)
        if parent not in self.stated:
            self.retract(parent)
        for ts, claimed in list(self.state.claimed.items()):
            if claimed.thread == parent:
                self.retract(ts)

    def parent_keys(self, parent: dict[str, Any] | None, prev: WatchedThread | None) -> list[str]:
        """What a thread is about: the deliverables its parent names (whoever wrote it: a reply to
        the service's own message is about what that message named), else (the parent deleted)
        what it named when last seen, else the channel default."""
        if parent is not None and parent.get("subtype") != "tombstone":
            text = str(parent.get("text") or "")
            return thread_keys(
                self.c.parser, self.c.linker, text, ts_to_datetime(str(parent["ts"])), self.default_keys
            )
        if prev is not None and prev.keys:
            return list(prev.keys)
        return list(self.default_keys)

    # -- statements -----------------------------------------------------------------------------

    def readable(self, message: dict[str, Any]) -> bool:
        """A message a person wrote (or a trusted bot), not the service's own."""
        subtype = message.get("subtype")
        bot_id = message.get("bot_id")
        if message.get("hidden"):
            return False
        user = message.get("user")
        if user and user in (self.identity.user_id, SLACKBOT):
            return False
        if bot_id and bot_id == self.identity.bot_id:
            return False
        if bot_id or subtype == "bot_message":
            return bool(
                (bot_id and bot_id in self.c.trusted_bots)
                or (message.get("app_id") and message.get("app_id") in self.c.trusted_bots)
            )
        return subtype in HUMAN_SUBTYPES

    def state_message(self, message: dict[str, Any], *, parent_keys: list[str] | None, thread: str | None) -> None:
        """Every claim the message makes now, or its retraction."""
        ts = str(message["ts"])
        if ts in self.stated:
            return
        self.stated.add(ts)
        if not self.readable(message):
            self.retract(ts)
            return
        text = str(message.get("text") or "")
        stated_at = ts_to_datetime(ts)
        chosen = message_claims(self.c.parser, self.c.linker, text, stated_at, list(parent_keys or self.default_keys))
        if not chosen:
            self.retract(ts)
            return
        # built from the workspace URL; asked of chat.getPermalink (and kept) only without one
        permalink = message_permalink(self.identity.team_url, self.channel, ts, thread)
        fetched: str | None = None
        if permalink is None:
            claimed = self.state.claimed.get(ts)
            fetched = claimed.permalink if claimed and claimed.permalink else None
            fetched = permalink = fetched or self.c.fetch_permalink(self.channel, ts, self.where)
        self.state.claimed[ts] = ClaimedMessage(fetched, thread)
        author = message.get("user") or message.get("bot_id")
        edited = (message.get("edited") or {}).get("ts")
        for (key, field_), claim in chosen.items():
            self.pending.observations.append(
                Observation(
                    deliverable_key=key,
                    source=Source.SLACK,
                    source_ref=f"{self.channel}:{ts}",
                    field=field_,
                    value=_value(claim.value),
                    stated_at=stated_at,
                    kind=ClaimKind.EVENT,
                    author=author,
                    excerpt=plain_text(evidence_of(text, claim), self.c.known_name),
                    permalink=permalink,
                    edited_at=ts_to_datetime(str(edited)) if edited else None,
                )
            )
        user = str(message.get("user") or "")
        if user[:1] in ("U", "W") and self.state.people.get(user) != self.today:
            self.state.people[user] = self.today
            person = self.c.person(user, self.where, many=self.state.crawl is not None)
            if person is not None:
                self.pending.people.append(person)

    def retract(self, ts: str) -> None:
        self.stated.add(ts)
        self.state.claimed.pop(ts, None)
        self.pending.retractions.append(Retraction(Source.SLACK, f"{self.channel}:{ts}"))

    def flush(self, *, force: bool) -> Iterator[SyncBatch]:
        batch = self.pending
        size = len(batch.observations) + len(batch.retractions) + len(batch.people)
        if not force and size < _FLUSH_REFS:
            return
        batch.requests = self.c.take_requests()
        batch.throttled = self.c.take_throttled()
        if force:
            batch.cursor = self.state.dumps()
            if self.state.crawl is not None:
                batch.progress = self.state.crawl.progress(int(self.c.clock().timestamp()))
        self.pending = SyncBatch()
        yield batch

    def _channel_default(self) -> list[str]:
        defaults = self.c.index.channel_defaults
        if not defaults:
            return []
        bare = self.partition.lstrip("#")
        for candidate in (self.partition, self.channel, bare, f"#{bare}"):
            if candidate in defaults:
                return [defaults[candidate]]
        # a channel given by id may have its default keyed by name: looked up with the identity
        # (conversations.list, at most once a day per channel) and kept in the cursor
        if _CHANNEL_ID.match(self.partition.strip()) and any(not _CHANNEL_ID.match(k) for k in defaults):
            if self.state.name is None or self.auth_renewed:
                self.state.name = self.c.channel_name(self.channel, self.where) or ""
            name = self.state.name
            if name:
                for candidate in (name, f"#{name}"):
                    if candidate in defaults:
                        return [defaults[candidate]]
        return []


def message_claims(
    parser: Any, linker: DeliverableLinker, text: str, stated_at: datetime, fallback: list[str]
) -> dict[tuple[str, Field], Any]:
    """What one message claims, per (deliverable, field): the connector's whole reading of a
    message's text (also what the labelled corpora are scored through).

    A claim is about the deliverables the message names (see `subject_keys` for a message naming
    several), else `fallback` (the thread's, else the channel's)."""
    mentions = linker.mentions(text)
    chosen: dict[tuple[str, Field], Any] = {}
    read = getattr(parser, "read", None)
    if read is None:  # a parser with `parse` only: the message's claims go to the names before them
        for claim in sorted(parser.parse(text, stated_at=stated_at), key=_start):
            for key in subject_keys(text, mentions, _start(claim)) if mentions else fallback:
                chosen[(key, _field(claim))] = claim  # should a field come twice, the later wins
        return chosen
    for key, claim in read(text, stated_at=stated_at, mentions=mentions):
        for k in [key] if key is not None else fallback:
            chosen[(k, _field(claim))] = claim
    return chosen


def thread_keys(parser: Any, linker: DeliverableLinker, text: str, stated_at: datetime, default: list[str]) -> list[str]:
    """What a thread whose parent says `text` is about: the deliverables its claims are about
    ("checkout is blocked waiting on payments" starts a thread about checkout), else every one
    it names, else `default`."""
    mentions = linker.mentions(text)
    if not mentions:
        return list(default)
    about = [key for (key, _), _claim in message_claims(parser, linker, text, stated_at, []).items()]
    return unique_keys_of(about) or unique_keys(mentions)


EVIDENCE_MAX = 280  # characters of a sentence kept as a claim's evidence, around the match


def evidence_of(text: str, claim: Any) -> str:
    """What was said: the sentence or roundup line the claim was read in (DESIGN: evidence is the
    text around the match, not the matched phrase), cut to EVIDENCE_MAX around the match."""
    span = getattr(claim, "evidence_span", None)
    if not span:
        return str(claim.excerpt)
    start, end = int(span[0]), int(span[1])
    if end - start > EVIDENCE_MAX:
        middle = _start(claim)
        start = max(start, middle - EVIDENCE_MAX // 2)
        end = min(end, start + EVIDENCE_MAX)
    return text[start:end].strip()


def unique_keys_of(keys: list[str]) -> list[str]:
    return list(dict.fromkeys(keys))


def _field(claim: Any) -> Field:
    return Field(getattr(claim.field, "value", claim.field))


def _start(claim: Any) -> int:
    span = getattr(claim, "span", None)
    if span is None:
        return 0
    return int(span[0]) if isinstance(span, (tuple, list)) else int(getattr(span, "start", 0))


def _value(value: Any) -> str | None:
    if value is None:
        return None
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(getattr(value, "value", value))
