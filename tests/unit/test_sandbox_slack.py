"""The sandbox's Slack Web API, driven by the real slack_sdk WebClient over HTTP."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import Iterator

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from tests.conftest import demo_scenario
from connectors.sandbox import Sandbox, bundled_scenario_path, load_scenario

# demo.json, #launches (C01): 12 top-level messages + 1 thread_broadcast (and 3 more thread replies)
LAUNCHES_TOP_LEVEL = 13


@pytest.fixture()
def sb() -> Iterator[Sandbox]:
    with Sandbox(demo_scenario(as_written=True)) as s:
        yield s


def _client(sb: Sandbox, token: str = "xoxb-ok") -> WebClient:
    return WebClient(token=token, base_url=sb.slack_base_url, timeout=5)


def _history(client: WebClient, channel: str, **kw: object) -> list[dict]:
    out: list[dict] = []
    cursor = None
    while True:
        r = client.conversations_history(channel=channel, cursor=cursor, **kw)
        out += r["messages"]
        cursor = r["response_metadata"]["next_cursor"]
        assert r["has_more"] is bool(cursor)
        if not cursor:
            return out


def test_identity_methods(sb: Sandbox) -> None:
    c = _client(sb)
    me = c.auth_test()
    assert me["ok"] and me["user_id"] == "U0BOT" and me["bot_id"] == "B0BOT" and me["team_id"] == "T1"
    members = c.users_list()["members"]
    humans = [m for m in members if not m["is_bot"] and m["id"] != "USLACKBOT"]
    names = ("alice", "bob", "carol", "dan", "erin", "fay")
    assert [m["profile"]["email"] for m in humans] == [f"{n}@acme.test" for n in names]
    assert humans[0]["tz"] == "Europe/Berlin" and humans[0]["real_name"] == "Alice Ng"
    page1 = c.users_list(limit=3)
    page2 = c.users_list(limit=3, cursor=page1["response_metadata"]["next_cursor"])
    assert len(page1["members"]) == 3 and page2["members"][0]["id"] == "U04"
    assert c.users_lookupByEmail(email="carol@acme.test")["user"]["id"] == "U03"
    assert c.users_info(user="U02")["user"]["name"] == "bob"
    with pytest.raises(SlackApiError) as e:
        c.users_lookupByEmail(email="nobody@acme.test")
    assert e.value.response["error"] == "users_not_found"
    chans = c.conversations_list()["channels"]
    assert [(x["id"], x["name"], x["is_member"]) for x in chans] == [
        ("C01", "launches", True), ("C02", "eng", True), ("C03", "random", False)]
    assert c.conversations_info(channel="C01")["channel"]["name"] == "launches"


def test_history_pagination_newest_first_top_level_only(sb: Sandbox) -> None:
    c = _client(sb)
    msgs = _history(c, "C01", limit=5)
    assert len(msgs) == LAUNCHES_TOP_LEVEL
    ts = [float(m["ts"]) for m in msgs]
    assert ts == sorted(ts, reverse=True)
    assert sb.request_counts()["slack conversations.history"] == 3  # 5 + 5 + 3, has_more false on the last
    assert all(m.get("thread_ts") in (None, m["ts"]) or m.get("subtype") == "thread_broadcast" for m in msgs)
    broadcast = [m for m in msgs if m.get("subtype") == "thread_broadcast"]
    assert len(broadcast) == 1 and broadcast[0]["thread_ts"] != broadcast[0]["ts"]
    parent = next(m for m in msgs if "checkout-v2 is blocked" in m["text"])
    assert parent["thread_ts"] == parent["ts"] and parent["reply_count"] == 2
    assert parent["reply_users"] == ["U02", "U05"] and parent["latest_reply"] == broadcast[0]["ts"]
    bot = next(m for m in msgs if m.get("subtype") == "bot_message")
    assert bot["bot_id"] == "B0DEPLOY" and "user" not in bot
    edited = next(m for m in msgs if m.get("edited"))
    assert edited["edited"]["user"] == "U03"
    # oldest / latest / inclusive
    oldest = parent["ts"]
    newer = [m["ts"] for m in msgs if float(m["ts"]) > float(oldest)]
    assert [m["ts"] for m in _history(c, "C01", oldest=oldest)] == newer
    assert _history(c, "C01", oldest=oldest, inclusive=True)[-1]["ts"] == oldest
    assert all(float(m["ts"]) < float(oldest) for m in _history(c, "C01", latest=oldest))


def test_replies_parent_first(sb: Sandbox) -> None:
    c = _client(sb)
    parent = next(m for m in _history(c, "C01") if m["text"].startswith("is onboarding done?"))
    r = c.conversations_replies(channel="C01", ts=parent["ts"])
    assert [m["ts"] for m in r["messages"]][0] == parent["ts"]
    assert [m["user"] for m in r["messages"]] == ["U04", "U01", "U04"]
    assert all(m["thread_ts"] == parent["ts"] for m in r["messages"])
    p1 = c.conversations_replies(channel="C01", ts=parent["ts"], limit=2)
    p2 = c.conversations_replies(channel="C01", ts=parent["ts"], limit=2, cursor=p1["response_metadata"]["next_cursor"])
    assert len(p1["messages"]) == 2 and len(p2["messages"]) == 1 and p2["response_metadata"]["next_cursor"] == ""
    with pytest.raises(SlackApiError) as e:
        c.conversations_replies(channel="C01", ts="1000000000.000000")
    assert e.value.response["error"] == "thread_not_found"


def test_live_post_edit_delete_and_tombstone(sb: Sandbox) -> None:
    c = _client(sb)
    ts = sb.slack.post("C02", "U03", "search is at risk again")
    top = c.conversations_history(channel="C02", limit=1)["messages"][0]
    assert top["ts"] == ts and top["text"] == "search is at risk again" and "edited" not in top
    sb.slack.edit("C02", ts, "search is fine, false alarm")
    top = c.conversations_history(channel="C02", limit=1)["messages"][0]
    assert top["ts"] == ts and top["text"] == "search is fine, false alarm"
    assert top["edited"]["user"] == "U03" and float(top["edited"]["ts"]) > float(ts)
    sb.slack.delete("C02", ts)
    assert ts not in [m["ts"] for m in _history(c, "C02")]

    parent = sb.slack.post("C02", "U01", "thread start")
    reply = sb.slack.post("C02", "U02", "a reply", thread_ts=parent)
    sb.slack.delete("C02", parent)
    top = c.conversations_history(channel="C02", limit=1)["messages"][0]
    assert top["ts"] == parent and top["subtype"] == "tombstone" and top["reply_count"] == 1
    replies = c.conversations_replies(channel="C02", ts=parent)["messages"]
    assert [m["ts"] for m in replies] == [parent, reply]
    sb.slack.delete("C02", reply)
    assert parent not in [m["ts"] for m in _history(c, "C02")]


def test_errors_not_in_channel_not_found_invalid_auth(sb: Sandbox) -> None:
    c = _client(sb)
    for channel, error in (("C03", "not_in_channel"), ("C99", "channel_not_found")):
        with pytest.raises(SlackApiError) as e:
            c.conversations_history(channel=channel)
        assert e.value.response.status_code == 200 and e.value.response["error"] == error
    with pytest.raises(SlackApiError) as e:
        _client(sb, token="xoxb-revoked").conversations_history(channel="C01")
    assert e.value.response["error"] == "invalid_auth"
    sb.fail("conversations.history", slack_error="missing_scope", times=1)
    with pytest.raises(SlackApiError) as e:
        c.conversations_history(channel="C01")
    assert e.value.response["error"] == "missing_scope"
    assert c.conversations_history(channel="C01")["ok"]


def test_429_retry_after(sb: Sandbox) -> None:
    sb.fail("conversations.history", status=429, retry_after=3, times=1)
    with pytest.raises(SlackApiError) as e:
        _client(sb).conversations_history(channel="C01")
    assert e.value.response.status_code == 429
    assert e.value.response.headers["Retry-After"] == "3" and e.value.response["error"] == "ratelimited"
    sb.fail("conversations.history", status=429, retry_after=0, times=1)
    c = _client(sb)
    c.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=1))
    assert c.conversations_history(channel="C01")["ok"]


def test_post_update_open_permalink(sb: Sandbox) -> None:
    c = _client(sb)
    d1 = c.conversations_open(users="U01")["channel"]["id"]
    d2 = c.conversations_open(users="U01")["channel"]["id"]
    assert d1 == d2 and d1.startswith("D") and c.conversations_open(users="U02")["channel"]["id"] != d1
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Conflict* on checkout-v2"}}]
    r = c.chat_postMessage(channel=d1, text="Conflict on checkout-v2", blocks=blocks)
    assert r["channel"] == d1 and r["message"]["text"] == "Conflict on checkout-v2"
    u = c.chat_update(channel=d1, ts=r["ts"], text="Resolved: checkout-v2", blocks=blocks)
    assert u["ts"] == r["ts"]
    posted = sb.posted_messages()
    assert [(p["method"], p["channel"], p["user"], p["text"], p["ts"]) for p in posted] == [
        ("chat.postMessage", d1, "U01", "Conflict on checkout-v2", r["ts"]),
        ("chat.update", d1, "U01", "Resolved: checkout-v2", r["ts"])]
    assert posted[0]["blocks"] == blocks and posted[0]["thread_ts"] is None
    dm = c.conversations_history(channel=d1)["messages"]
    assert dm[0]["text"] == "Resolved: checkout-v2" and dm[0]["edited"]["user"] == "U0BOT"

    r = c.chat_postMessage(channel="C01", text="reconciler says hi")
    top = c.conversations_history(channel="C01", limit=1)["messages"][0]
    assert top["ts"] == r["ts"] and top["bot_id"] == "B0BOT" and top["subtype"] == "bot_message"
    assert sb.posted_messages()[-1]["user"] is None
    reply = c.chat_postMessage(channel="C01", text="in thread", thread_ts=r["ts"])
    assert sb.posted_messages()[-1]["thread_ts"] == r["ts"]
    assert c.chat_getPermalink(channel="C01", message_ts=r["ts"])["permalink"] == \
        f"https://acme.slack.com/archives/C01/p{r['ts'].replace('.', '')}"
    assert "thread_ts=" in c.chat_getPermalink(channel="C01", message_ts=reply["ts"])["permalink"]
    with pytest.raises(SlackApiError) as e:
        c.chat_postMessage(channel="C03", text="nope")
    assert e.value.response["error"] == "not_in_channel"
    with pytest.raises(SlackApiError) as e:
        c.chat_update(channel="C01", ts=_history(c, "C01")[-1]["ts"], text="x")  # a human's message
    assert e.value.response["error"] == "cant_update_message"


def test_plain_get_and_form_token(sb: Sandbox) -> None:
    q = urllib.parse.urlencode({"token": "xoxb-ok", "channel": "C01", "limit": 1})
    with urllib.request.urlopen(f"{sb.slack_base_url}conversations.history?{q}", timeout=5) as resp:
        body = json.loads(resp.read())
    assert body["ok"] and len(body["messages"]) == 1
    data = urllib.parse.urlencode({"token": "xoxb-revoked"}).encode()
    with urllib.request.urlopen(urllib.request.Request(f"{sb.slack_base_url}auth.test", data=data), timeout=5) as resp:
        assert json.loads(resp.read()) == {"ok": False, "error": "invalid_auth"}
    with urllib.request.urlopen(f"{sb.slack_base_url}auth.test", timeout=5) as resp:
        assert json.loads(resp.read()) == {"ok": False, "error": "not_authed"}
    with urllib.request.urlopen(f"{sb.slack_base_url}nope.method?token=x", timeout=5) as resp:
        assert json.loads(resp.read())["error"] == "unknown_method"


def test_history_order_and_windows_after_out_of_order_posts(sb: Sandbox) -> None:
    c = _client(sb)
    late = sb.slack.post("C02", "U01", "posted late, dated early", ts="1700000000.500000")
    reply = sb.slack.post("C02", "U02", "reply to the early one", thread_ts=late, ts="1700000001.000000")
    shown = _history(c, "C02")
    assert shown[-1]["ts"] == late and shown[-1]["reply_count"] == 1 and shown[-1]["latest_reply"] == reply
    assert reply not in [m["ts"] for m in shown]
    # a short fraction means tenths of a second, as in Slack: .5 is .500000
    assert [m["ts"] for m in _history(c, "C02", oldest="1700000000.4", latest="1700000000.6")] == [late]
    assert _history(c, "C02", oldest="1700000000.5", latest="1700000000.6") == []
    assert [m["ts"] for m in _history(c, "C02", oldest="1700000000.5", latest="1700000000.6", inclusive=True)] == [late]
    bot = c.chat_postMessage(channel="C02", text="bot reply", thread_ts=reply)  # a reply's ts: filed under the parent
    assert c.conversations_replies(channel="C02", ts=late)["messages"][-1]["ts"] == bot["ts"]
    assert _history(c, "C02")[-1]["reply_count"] == 2
