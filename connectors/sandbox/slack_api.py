"""The fake Slack Web API: state, mutation helpers for tests, and the methods."""

from __future__ import annotations

import base64
import bisect
import copy
import json
import threading
import time
from datetime import datetime
from typing import Any

from .scenario import SLACK_TS_RE, SlackChannel, SlackMessage, SlackScenario, SlackUser

try:  # tz offsets for users.list; tzdata may be missing on slim images
    from zoneinfo import ZoneInfo
except ImportError:  # pragma: no cover
    ZoneInfo = None  # type: ignore[assignment,misc]

SLACKBOT = SlackUser(id="USLACKBOT", name="slackbot", real_name="Slackbot", tz="America/Los_Angeles",
                     is_bot=False, profile={"real_name": "Slackbot", "display_name": "Slackbot"})


class SlackError(Exception):
    def __init__(self, error: str, **extra: Any):
        super().__init__(error)
        self.error = error
        self.extra = extra


def _truthy(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    return str(v).lower() in ("1", "true", "yes")


def _int(params: dict[str, Any], key: str, default: int) -> int:
    v = params.get(key)
    if v in (None, ""):
        return default
    try:
        return int(v)
    except (TypeError, ValueError):
        raise SlackError("invalid_arguments") from None


def _tsf(ts: str) -> tuple[int, int]:
    """'1763900000.000100' -> (1763900000, 100); a short fraction is right-padded: '1763900000.1' is .100000."""
    a, _, b = ts.partition(".")
    return int(a), int((b or "0").ljust(6, "0")[:6])


class _Timeline:
    """Message timestamps of one channel (or thread) in order, for O(log n) windows and cursors."""

    __slots__ = ("keys", "tss")

    def __init__(self, tss: list[str] | None = None):
        pairs = sorted({_tsf(t): t for t in (tss or [])}.items())
        self.keys: list[tuple[int, int]] = [k for k, _ in pairs]
        self.tss: list[str] = [t for _, t in pairs]

    def __len__(self) -> int:
        return len(self.keys)

    def add(self, ts: str) -> None:
        k = _tsf(ts)
        i = bisect.bisect_left(self.keys, k)
        if i < len(self.keys) and self.keys[i] == k:
            return
        self.keys.insert(i, k)
        self.tss.insert(i, ts)

    def remove(self, ts: str) -> None:
        k = _tsf(ts)
        i = bisect.bisect_left(self.keys, k)
        if i < len(self.keys) and self.keys[i] == k:
            del self.keys[i]
            del self.tss[i]

    def window(self, oldest: tuple[int, int], latest: tuple[int, int], inclusive: bool) -> tuple[int, int]:
        """Index range [lo, hi) of the timestamps inside (oldest, latest), or [oldest, latest] if inclusive."""
        if inclusive:
            lo, hi = bisect.bisect_left(self.keys, oldest), bisect.bisect_right(self.keys, latest)
        else:
            lo, hi = bisect.bisect_right(self.keys, oldest), bisect.bisect_left(self.keys, latest)
        return lo, max(lo, hi)


def _encode_cursor(ts: str) -> str:
    return base64.b64encode(f"next_ts:{ts.replace('.', '')}".encode()).decode()


def _decode_cursor(cursor: str) -> str:
    try:
        raw = base64.b64decode(cursor.encode(), validate=True).decode()
        if not raw.startswith("next_ts:"):
            raise ValueError
        digits = raw[len("next_ts:"):]
        if not digits.isdigit() or len(digits) < 7:
            raise ValueError
        return f"{digits[:-6]}.{digits[-6:]}"
    except Exception:
        raise SlackError("invalid_cursor") from None


def _encode_index_cursor(kind: str, index: int) -> str:
    return base64.b64encode(f"{kind}:{index}".encode()).decode()


def _decode_index_cursor(kind: str, cursor: str) -> int:
    try:
        raw = base64.b64decode(cursor.encode(), validate=True).decode()
        k, _, i = raw.partition(":")
        if k != kind:
            raise ValueError
        return int(i)
    except Exception:
        raise SlackError("invalid_cursor") from None


BOT_SCOPES = ("channels:history", "channels:read", "groups:history", "groups:read", "users:read",
              "users:read.email", "chat:write", "im:write")


class SlackState:
    """The live Slack workspace. Every public method is thread-safe."""

    def __init__(self, scenario: SlackScenario):
        self._lock = threading.RLock()
        # Own copies of what the state mutates (messages are changed by attribute assignment only,
        # so a shallow copy each is enough; deepcopy of 100,000 messages takes seconds).
        s = SlackScenario(scenario.team, scenario.bot, list(scenario.users),
                          [copy.copy(c) for c in scenario.channels], [copy.copy(m) for m in scenario.messages])
        self.team = s.team
        self.bot = s.bot
        self.users: dict[str, SlackUser] = {u.id: u for u in s.users}
        self.channels: dict[str, SlackChannel] = {c.id: c for c in s.channels}
        self.dms: dict[str, str] = {}  # user id -> D channel id
        self.messages: dict[str, dict[str, SlackMessage]] = {c: {} for c in self.channels}
        self.posted: list[dict[str, Any]] = []
        # message metadata ({event_type, event_payload}) of the bot's posts, by (channel, ts); read
        # back by conversations.history/replies with include_all_metadata
        self.metadata: dict[tuple[str, str], dict[str, Any]] = {}
        # what X-OAuth-Scopes says; a test takes one away to see a missing scope reported
        self.scopes: list[str] = list(BOT_SCOPES)
        self._last_ts = (0, 0)
        for m in s.messages:
            self.messages[m.channel][m.ts] = m
            self._last_ts = max(self._last_ts, _tsf(m.ts))
        for m in s.messages:  # a parent with replies carries thread_ts == ts, as in the real API
            if m.thread_ts and m.thread_ts != m.ts:
                self.messages[m.channel][m.thread_ts].thread_ts = m.thread_ts
        # indexes: what conversations.history shows, and the replies of each thread, in ts order
        self._top: dict[str, _Timeline] = {}
        self._threads: dict[str, dict[str, _Timeline]] = {}
        for cid, msgs in self.messages.items():
            top, threads = [], {}
            for m in msgs.values():
                if self._in_history(m):
                    top.append(m.ts)
                if self._is_reply(m):
                    threads.setdefault(m.thread_ts, []).append(m.ts)
            self._top[cid] = _Timeline(top)
            self._threads[cid] = {p: _Timeline(r) for p, r in threads.items()}

    # ----------------------------------------------------------------- indexes
    @staticmethod
    def _is_reply(m: SlackMessage) -> bool:
        return m.thread_ts is not None and m.thread_ts != m.ts

    @classmethod
    def _in_history(cls, m: SlackMessage) -> bool:
        return not cls._is_reply(m) or m.subtype == "thread_broadcast"

    def _store(self, channel: str, m: SlackMessage) -> None:
        self.messages[channel][m.ts] = m
        if self._in_history(m):
            self._top.setdefault(channel, _Timeline()).add(m.ts)
        if self._is_reply(m):
            self._threads.setdefault(channel, {}).setdefault(m.thread_ts, _Timeline()).add(m.ts)  # type: ignore[arg-type]

    def _unstore(self, channel: str, m: SlackMessage) -> None:
        self.messages[channel].pop(m.ts, None)
        self._top.get(channel, _Timeline()).remove(m.ts)
        threads = self._threads.get(channel, {})
        if self._is_reply(m) and m.thread_ts in threads:
            threads[m.thread_ts].remove(m.ts)  # type: ignore[index]
            if not threads[m.thread_ts]:  # type: ignore[index]
                del threads[m.thread_ts]  # type: ignore[arg-type]
        elif not self._is_reply(m):
            threads.pop(m.ts, None)

    def _reply_timeline(self, channel: str, parent_ts: str) -> _Timeline:
        return self._threads.get(channel, {}).get(parent_ts) or _Timeline()

    # ----------------------------------------------------------------- helpers
    def _next_ts(self) -> str:
        now = time.time()
        cand = (int(now), int(round((now % 1) * 1_000_000)) % 1_000_000)
        if cand <= self._last_ts:
            sec, micro = self._last_ts
            micro += 100
            cand = (sec + micro // 1_000_000, micro % 1_000_000)
        self._last_ts = cand
        return f"{cand[0]}.{cand[1]:06d}"

    def _dm_id(self, user: str) -> str:
        return "D" + (user[1:] if user.startswith("U") else user)

    def _channel_id(self, raw: Any) -> str:
        """Resolve C..., D..., #name, name or a user id (DM) to a channel id; raise channel_not_found."""
        if not raw:
            raise SlackError("channel_not_found")
        raw = str(raw)
        if raw in self.channels or raw in self.messages:
            return raw
        name = raw.lstrip("#")
        for c in self.channels.values():
            if c.name == name:
                return c.id
        if raw in self.users:
            return self._open_dm(raw)
        raise SlackError("channel_not_found")

    def _open_dm(self, user: str) -> str:
        d = self._dm_id(user)
        if user not in self.dms:
            self.dms[user] = d
            self.messages.setdefault(d, {})
            self._top.setdefault(d, _Timeline())
            self._threads.setdefault(d, {})
        return d

    def _dm_user(self, channel: str) -> str | None:
        for u, d in self.dms.items():
            if d == channel:
                return u
        return None

    def _readable(self, channel: str) -> None:
        c = self.channels.get(channel)
        if c is not None and not c.is_member:
            raise SlackError("not_in_channel")

    def _tz_offset(self, tz: str) -> int:
        if ZoneInfo is None:
            return 0
        try:
            off = datetime.now(ZoneInfo(tz)).utcoffset()
            return int(off.total_seconds()) if off else 0
        except Exception:
            return 0

    def r_user(self, u: SlackUser) -> dict[str, Any]:
        profile = {"real_name": u.real_name, "display_name": u.name, "real_name_normalized": u.real_name,
                   "display_name_normalized": u.name, "title": "", "phone": "", "status_text": "",
                   "status_emoji": "", "image_48": "https://a.slack-edge.com/default-48.png", "team": self.team.id}
        profile.update(u.profile)
        return {"id": u.id, "team_id": self.team.id, "name": u.name, "deleted": u.deleted, "color": "9f69e7",
                "real_name": u.real_name, "tz": u.tz, "tz_label": u.tz, "tz_offset": self._tz_offset(u.tz),
                "profile": profile, "is_admin": False, "is_owner": False, "is_primary_owner": False,
                "is_restricted": False, "is_ultra_restricted": False, "is_bot": u.is_bot, "is_app_user": False,
                "updated": 1762000000}

    def r_bot_user(self) -> dict[str, Any]:
        u = SlackUser(id=self.bot.user_id, name=self.bot.name, real_name=self.bot.name, is_bot=True,
                      profile={"bot_id": self.bot.bot_id, "api_app_id": self.bot.app_id})
        return self.r_user(u)

    def _all_users(self) -> list[dict[str, Any]]:
        return [self.r_user(u) for u in self.users.values()] + [self.r_bot_user(), self.r_user(SLACKBOT)]

    def r_channel(self, cid: str) -> dict[str, Any]:
        if cid in self.channels:
            c = self.channels[cid]
            return {"id": c.id, "name": c.name, "name_normalized": c.name, "is_channel": not c.is_private,
                    "is_group": c.is_private, "is_im": False, "is_mpim": False, "is_private": c.is_private,
                    "is_archived": c.is_archived, "is_general": False, "is_shared": False, "is_ext_shared": False,
                    "is_org_shared": False, "is_member": c.is_member, "created": c.created,
                    "creator": next(iter(self.users), ""), "unlinked": 0,
                    "topic": {"value": c.topic, "creator": "", "last_set": 0},
                    "purpose": {"value": c.purpose, "creator": "", "last_set": 0},
                    "num_members": len(self.users) + (1 if c.is_member else 0), "context_team_id": self.team.id}
        user = self._dm_user(cid)
        return {"id": cid, "created": 1762000000, "is_im": True, "is_org_shared": False, "user": user,
                "is_user_deleted": False, "priority": 0, "is_archived": False, "context_team_id": self.team.id}

    def _replies(self, channel: str, parent_ts: str) -> list[SlackMessage]:
        msgs = self.messages[channel]
        return [msgs[ts] for ts in self._reply_timeline(channel, parent_ts).tss]

    def r_message(self, channel: str, m: SlackMessage, *, in_history: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "message"}
        if m.subtype:
            out["subtype"] = m.subtype
        if m.subtype == "tombstone":
            out.update({"text": "This message was deleted.", "user": "USLACKBOT", "hidden": True})
        else:
            if m.user:
                out["user"] = m.user
            if m.bot_id:
                out["bot_id"] = m.bot_id
                if m.bot_id == self.bot.bot_id:
                    out["app_id"] = self.bot.app_id
            if m.username:
                out["username"] = m.username
            out["text"] = m.text
            if m.blocks is not None:
                out["blocks"] = copy.deepcopy(m.blocks)
            if m.user and m.subtype is None:
                out["team"] = self.team.id
        out["ts"] = m.ts
        if m.edited:
            out["edited"] = dict(m.edited)
        if m.thread_ts:
            out["thread_ts"] = m.thread_ts
            if m.thread_ts == m.ts:
                replies = self._replies(channel, m.ts)  # O(replies), from the thread index
                users: list[str] = []
                for r in replies:
                    if r.user and r.user not in users:
                        users.append(r.user)
                out.update({"reply_count": len(replies), "reply_users_count": len(users),
                            "latest_reply": replies[-1].ts if replies else m.ts, "reply_users": users,
                            "is_locked": False, "subscribed": False})
            else:
                parent = self.messages[channel].get(m.thread_ts)
                if parent and parent.user:
                    out["parent_user_id"] = parent.user
                if m.subtype == "thread_broadcast":
                    out["root"] = self.r_message(channel, parent) if parent else None
        return out

    # ----------------------------------------------------------------- mutations (for tests)
    def post(self, channel: str, user: str, text: str, *, thread_ts: str | None = None, ts: str | None = None,
             broadcast: bool = False) -> str:
        """A human posts a message (a thread reply with thread_ts; broadcast=True sends it to the channel too)."""
        with self._lock:
            if channel not in self.messages:
                raise KeyError(f"unknown Slack channel {channel!r}")
            if user not in self.users and user != self.bot.user_id:
                raise KeyError(f"unknown Slack user {user!r}")
            if ts is None:
                ts = self._next_ts()
            elif not SLACK_TS_RE.match(ts) or ts in self.messages[channel]:
                raise ValueError(f"ts {ts!r} is malformed or already used in {channel}")
            else:
                self._last_ts = max(self._last_ts, _tsf(ts))
            if thread_ts is not None:
                parent = self.messages[channel].get(thread_ts)
                if parent is None:
                    raise KeyError(f"no message {thread_ts!r} in {channel}")
                if parent.thread_ts not in (None, parent.ts):
                    raise ValueError(f"{thread_ts!r} is a reply; pass the parent's ts")
                parent.thread_ts = parent.ts
            self._store(channel, SlackMessage(
                channel=channel, ts=ts, text=text, user=user, thread_ts=thread_ts,
                subtype="thread_broadcast" if (broadcast and thread_ts) else None))
            return ts

    def edit(self, channel: str, ts: str, text: str, *, user: str | None = None) -> None:
        with self._lock:
            m = self.messages.get(channel, {}).get(ts)
            if m is None or m.subtype == "tombstone":
                raise KeyError(f"no message {ts!r} in {channel}")
            m.text = text
            m.blocks = None if m.bot_id != self.bot.bot_id else m.blocks
            m.edited = {"user": user or m.user or self.bot.user_id, "ts": self._next_ts()}

    def delete(self, channel: str, ts: str) -> None:
        with self._lock:
            msgs = self.messages.get(channel, {})
            m = msgs.get(ts)
            if m is None:
                raise KeyError(f"no message {ts!r} in {channel}")
            if m.thread_ts == m.ts and len(self._reply_timeline(channel, ts)):
                m.subtype, m.text, m.user, m.edited, m.blocks, m.bot_id = "tombstone", "", None, None, None, None
                return
            self._unstore(channel, m)
            if m.thread_ts and m.thread_ts != ts:
                parent = msgs.get(m.thread_ts)
                if parent is not None and parent.subtype == "tombstone" and \
                        not len(self._reply_timeline(channel, parent.ts)):
                    self._unstore(channel, parent)

    # ----------------------------------------------------------------- methods
    def auth_test(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"url": f"https://{self.team.domain}.slack.com/", "team": self.team.name, "user": self.bot.name,
                "team_id": self.team.id, "user_id": self.bot.user_id, "bot_id": self.bot.bot_id,
                "is_enterprise_install": False}

    def _page(self, items: list[Any], p: dict[str, Any], kind: str, *, default_limit: int,
              max_limit: int) -> tuple[list[Any], str]:
        limit = _int(p, "limit", default_limit)
        if limit <= 0:
            limit = default_limit or len(items) or 1
        limit = min(limit, max_limit)
        start = _decode_index_cursor(kind, p["cursor"]) if p.get("cursor") else 0
        page = items[start:start + limit]
        nxt = _encode_index_cursor(kind, start + limit) if start + limit < len(items) else ""
        return page, nxt

    def users_list(self, p: dict[str, Any]) -> dict[str, Any]:
        users = self._all_users()
        page, nxt = self._page(users, p, "users", default_limit=0, max_limit=1000)
        return {"members": page, "cache_ts": int(time.time()), "response_metadata": {"next_cursor": nxt}}

    def _find_user(self, uid: Any) -> dict[str, Any]:
        if uid in self.users:
            return self.r_user(self.users[uid])
        if uid == self.bot.user_id:
            return self.r_bot_user()
        if uid == SLACKBOT.id:
            return self.r_user(SLACKBOT)
        raise SlackError("user_not_found")

    def users_info(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"user": self._find_user(p.get("user"))}

    def users_lookup_by_email(self, p: dict[str, Any]) -> dict[str, Any]:
        email = str(p.get("email") or "").lower()
        for u in self.users.values():
            if str(u.profile.get("email", "")).lower() == email and email:
                return {"user": self.r_user(u)}
        raise SlackError("users_not_found")

    def conversations_list(self, p: dict[str, Any]) -> dict[str, Any]:
        types = set(str(p.get("types") or "public_channel").split(","))
        exclude_archived = _truthy(p.get("exclude_archived", False))
        out = []
        for c in self.channels.values():
            if exclude_archived and c.is_archived:
                continue
            if ("private_channel" if c.is_private else "public_channel") in types:
                out.append(self.r_channel(c.id))
        if "im" in types:
            out += [self.r_channel(d) for d in self.dms.values()]
        page, nxt = self._page(out, p, "channels", default_limit=100, max_limit=1000)
        return {"channels": page, "response_metadata": {"next_cursor": nxt}}

    def conversations_info(self, p: dict[str, Any]) -> dict[str, Any]:
        cid = str(p.get("channel") or "")
        if cid not in self.channels and cid not in self.dms.values():
            raise SlackError("channel_not_found")
        return {"channel": self.r_channel(cid)}

    def _history_channel(self, p: dict[str, Any]) -> str:
        cid = str(p.get("channel") or "")
        if cid not in self.channels and cid not in self.dms.values():
            raise SlackError("channel_not_found")
        self._readable(cid)
        return cid

    @staticmethod
    def _bounds(p: dict[str, Any]) -> tuple[tuple[int, int], tuple[int, int], bool]:
        try:
            oldest = _tsf(str(p.get("oldest") or "0"))
            latest = _tsf(str(p["latest"])) if p.get("latest") else (10 ** 12, 0)
        except ValueError:
            raise SlackError("invalid_ts_oldest") from None
        return oldest, latest, _truthy(p.get("inclusive", False))

    def conversations_history(self, p: dict[str, Any]) -> dict[str, Any]:
        """Newest first. O(log n + page): the window and the cursor are bisected in the channel index."""
        cid = self._history_channel(p)
        limit = min(max(_int(p, "limit", 100), 1), 999)
        oldest, latest, inclusive = self._bounds(p)
        tl = self._top.get(cid) or _Timeline()
        lo, hi = tl.window(oldest, latest, inclusive)
        if p.get("cursor"):
            before = _tsf(_decode_cursor(str(p["cursor"])))
            hi = max(lo, min(hi, bisect.bisect_right(tl.keys, before)))
        first = max(lo, hi - limit)
        msgs = self.messages[cid]
        page = [msgs[tl.tss[i]] for i in range(hi - 1, first - 1, -1)]
        has_more = hi - lo > limit
        nxt = _encode_cursor(tl.tss[hi - 1 - limit]) if has_more else ""
        return {"messages": self._with_metadata(cid, [self.r_message(cid, m) for m in page], p),
                "has_more": has_more, "pin_count": 0,
                "channel_actions_ts": None, "channel_actions_count": 0,
                "response_metadata": {"next_cursor": nxt}}

    def conversations_replies(self, p: dict[str, Any]) -> dict[str, Any]:
        cid = self._history_channel(p)
        ts = str(p.get("ts") or "")
        m = self.messages[cid].get(ts)
        if m is None:
            raise SlackError("thread_not_found")
        limit = min(max(_int(p, "limit", 1000), 1), 1000)
        start = _decode_index_cursor(f"replies/{ts}", str(p["cursor"])) if p.get("cursor") else 0
        if m.thread_ts not in (None, m.ts):
            items = [m]  # a reply's ts gives just that reply, like the real API
        else:  # the parent, then the replies inside the window: only the page is looked up
            oldest, latest, inclusive = self._bounds(p)
            tl = self._reply_timeline(cid, ts)
            lo, hi = tl.window(oldest, latest, inclusive)
            msgs = self.messages[cid]
            total = 1 + hi - lo
            items = [m if i == 0 else msgs[tl.tss[lo + i - 1]] for i in range(start, min(total, start + limit))]
            has_more = start + limit < total
            nxt = _encode_index_cursor(f"replies/{ts}", start + limit) if has_more else ""
            return {"messages": self._with_metadata(cid, [self.r_message(cid, x) for x in items], p),
                    "has_more": has_more, "response_metadata": {"next_cursor": nxt}}
        page = items[start:start + limit]
        has_more = start + limit < len(items)
        nxt = _encode_index_cursor(f"replies/{ts}", start + limit) if has_more else ""
        return {"messages": self._with_metadata(cid, [self.r_message(cid, x) for x in page], p),
                "has_more": has_more, "response_metadata": {"next_cursor": nxt}}

    def _with_metadata(self, cid: str, messages: list[dict[str, Any]], p: dict[str, Any]) -> list[dict[str, Any]]:
        """Each message with its metadata, when the caller asked for it (include_all_metadata)."""
        if not _truthy(p.get("include_all_metadata", False)):
            return messages
        for out in messages:
            meta = self.metadata.get((cid, str(out.get("ts"))))
            if meta is not None:
                out["metadata"] = copy.deepcopy(meta)
        return messages

    @staticmethod
    def _metadata(p: dict[str, Any]) -> dict[str, Any] | None:
        """chat.postMessage's `metadata` (an object, or its JSON in a form body)."""
        raw = p.get("metadata")
        if raw in (None, ""):
            return None
        if isinstance(raw, str):
            try:
                raw = json.loads(raw)
            except json.JSONDecodeError:
                raise SlackError("invalid_metadata_format") from None
        if not (isinstance(raw, dict) and isinstance(raw.get("event_type"), str)
                and isinstance(raw.get("event_payload"), dict)):
            raise SlackError("invalid_metadata_format")
        return {"event_type": raw["event_type"], "event_payload": raw["event_payload"]}

    def chat_get_permalink(self, p: dict[str, Any]) -> dict[str, Any]:
        cid = str(p.get("channel") or "")
        if cid not in self.channels and cid not in self.dms.values():
            raise SlackError("channel_not_found")
        ts = str(p.get("message_ts") or "")
        m = self.messages[cid].get(ts)
        if m is None:
            raise SlackError("message_not_found")
        link = f"https://{self.team.domain}.slack.com/archives/{cid}/p{ts.replace('.', '')}"
        if m.thread_ts and m.thread_ts != m.ts:
            link += f"?thread_ts={m.thread_ts}&cid={cid}"
        return {"channel": cid, "permalink": link}

    def conversations_open(self, p: dict[str, Any]) -> dict[str, Any]:
        if p.get("channel"):
            cid = str(p["channel"])
            if cid not in self.dms.values():
                raise SlackError("channel_not_found")
            return {"no_op": True, "already_open": True, "channel": {"id": cid}}
        users = [u for u in str(p.get("users") or "").split(",") if u]
        if not users:
            raise SlackError("users_list_not_supplied")
        if len(users) > 1:
            raise SlackError("not_supported", detail="the sandbox only supports one-to-one DMs")
        uid = users[0]
        if uid not in self.users:
            raise SlackError("user_not_found")
        existed = uid in self.dms
        d = self._open_dm(uid)
        out: dict[str, Any] = {"channel": {"id": d}}
        if existed:
            out.update({"no_op": True, "already_open": True})
        if _truthy(p.get("return_im", False)):
            out["channel"] = self.r_channel(d)
        return out

    @staticmethod
    def _blocks(p: dict[str, Any]) -> list[Any] | None:
        b = p.get("blocks")
        if b in (None, ""):
            return None
        if isinstance(b, str):
            try:
                b = json.loads(b)
            except json.JSONDecodeError:
                raise SlackError("invalid_blocks") from None
        if not isinstance(b, list):
            raise SlackError("invalid_blocks")
        return b

    def _writable(self, p: dict[str, Any]) -> str:
        cid = self._channel_id(p.get("channel"))
        c = self.channels.get(cid)
        if c is not None:
            if c.is_archived:
                raise SlackError("is_archived")
            if not c.is_member:
                raise SlackError("not_in_channel")
        return cid

    def _record(self, method: str, cid: str, m: SlackMessage) -> None:
        self.posted.append({"method": method, "channel": cid, "text": m.text, "blocks": copy.deepcopy(m.blocks),
                            "ts": m.ts, "thread_ts": m.thread_ts if m.thread_ts != m.ts else None,
                            "user": self._dm_user(cid)})

    def chat_post_message(self, p: dict[str, Any]) -> dict[str, Any]:
        cid = self._writable(p)
        text = str(p.get("text") or "")
        blocks = self._blocks(p)
        metadata = self._metadata(p)
        if not text and not blocks and not p.get("attachments"):
            raise SlackError("no_text")
        thread_ts = str(p["thread_ts"]) if p.get("thread_ts") else None
        if thread_ts is not None:
            parent = self.messages[cid].get(thread_ts)
            if parent is not None:
                if parent.thread_ts not in (None, parent.ts):
                    thread_ts = parent.thread_ts  # a reply's ts: Slack files it under the parent
                else:
                    parent.thread_ts = parent.ts
        ts = self._next_ts()
        m = SlackMessage(channel=cid, ts=ts, text=text, user=self.bot.user_id, thread_ts=thread_ts,
                         subtype="bot_message", bot_id=self.bot.bot_id, username=self.bot.name, blocks=blocks)
        if thread_ts and _truthy(p.get("reply_broadcast", False)):
            m.subtype = "thread_broadcast"
        self._store(cid, m)
        if metadata is not None:
            self.metadata[(cid, ts)] = metadata
        self._record("chat.postMessage", cid, m)
        if metadata is not None:
            self.posted[-1]["metadata"] = copy.deepcopy(metadata)
        return {"channel": cid, "ts": ts, "message": self.r_message(cid, m)}

    def chat_update(self, p: dict[str, Any]) -> dict[str, Any]:
        cid = self._channel_id(p.get("channel"))
        ts = str(p.get("ts") or "")
        m = self.messages[cid].get(ts)
        if m is None:
            raise SlackError("message_not_found")
        if m.bot_id != self.bot.bot_id:
            raise SlackError("cant_update_message")
        text = p.get("text")
        blocks = self._blocks(p)
        if text is None and blocks is None:
            raise SlackError("no_text")
        if text is not None:
            m.text = str(text)
        if blocks is not None:
            m.blocks = blocks
        m.edited = {"user": self.bot.user_id, "ts": self._next_ts()}
        self._record("chat.update", cid, m)
        return {"channel": cid, "ts": ts, "text": m.text, "message": self.r_message(cid, m)}

    METHODS: dict[str, str] = {
        "auth.test": "auth_test",
        "users.list": "users_list",
        "users.info": "users_info",
        "users.lookupByEmail": "users_lookup_by_email",
        "conversations.list": "conversations_list",
        "conversations.info": "conversations_info",
        "conversations.history": "conversations_history",
        "conversations.replies": "conversations_replies",
        "conversations.open": "conversations_open",
        "chat.getPermalink": "chat_get_permalink",
        "chat.postMessage": "chat_post_message",
        "chat.update": "chat_update",
    }

    def call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        name = self.METHODS.get(method)
        if name is None:
            raise SlackError("unknown_method")
        with self._lock:
            return {"ok": True, **getattr(self, name)(params)}
