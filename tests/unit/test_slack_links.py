"""Linking Slack message text to deliverables, and the Slack connector's pure helpers."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse

from connectors.base import (
    ConnectorError,
    DeliverableIndex,
    DeliverableRef,
    Field,
    TransientError,
    UnreachableError,
)
from connectors.claims import ClaimParser
from connectors.slack.connector import (
    ChannelCursor,
    ClaimedMessage,
    Identity,
    WatchedThread,
    datetime_to_ts,
    evidence_of,
    message_claims,
    ts_key,
    ts_to_datetime,
)
from connectors.slack.client import (
    describe_slack_error,
    describe_transport_error,
    rate_limit_key,
)
from connectors.slack.links import DeliverableLinker, message_permalink, plain_text, subject_keys

INDEX = DeliverableIndex.build(
    [
        DeliverableRef("checkout-v2", {"asana": "3001"}, ("#checkout", "checkout")),
        DeliverableRef("payments-api", {"asana": "3002"}, ("payments",)),
        DeliverableRef("search", {"asana": "3003"}, ("#search",)),
        DeliverableRef("onboarding", {"asana": "3004"}, ("onboarding flow",)),
        DeliverableRef("onboarding-emails", {}, ("onboarding flow emails",)),
        DeliverableRef("launch-campaign", {"asana": "3005"}, ("#launch",)),
    ],
    channel_defaults={"eng": "search"},
)
LINKER = DeliverableLinker(INDEX)


@pytest.mark.parametrize(
    ("text", "keys"),
    [
        # every task URL form Asana produces
        ("see https://app.asana.com/0/2001/3001", ["checkout-v2"]),
        ("see https://app.asana.com/0/2001/3001/f", ["checkout-v2"]),
        ("see https://app.asana.com/0/0/3002", ["payments-api"]),
        ("see https://app.asana.com/1/1000/project/2001/task/3003", ["search"]),
        ("see https://app.asana.com/1/1000/project/2001/task/3003?focus=true", ["search"]),
        ("see https://app.asana.com/1/1000/task/3004", ["onboarding"]),
        ("see http://APP.asana.com/0/2001/3002.", ["payments-api"]),
        # Slack wraps links: <url> and <url|label>
        ("<https://app.asana.com/0/2001/3001>", ["checkout-v2"]),
        ("<https://app.asana.com/0/2001/3002/f|the task> slipped", ["payments-api"]),
        ("<https://app.asana.com/1/1000/task/3003|Search relevance>", ["search"]),
        # a longer gid is not a known one; a project link names no task
        ("https://app.asana.com/0/2001/30011", []),
        ("https://app.asana.com/0/2001/list", []),
        ("https://app.asana.com/0/9999/9999", []),
        # aliases: case-insensitive, whole words only
        ("Checkout is blocked", ["checkout-v2"]),
        ("CHECKOUT-V2 is blocked", ["checkout-v2"]),
        ("deployed checkout-web to staging", []),
        ("rechecking the checkouts", []),
        ("the payments team", ["payments-api"]),
        # hashtags are configured aliases; the bare word of a #-only alias is prose
        ("#search is blocked", ["search"]),
        ("launch is tomorrow", []),
        ("#launch is tomorrow", ["launch-campaign"]),
        ("#payments is done", ["payments-api"]),
        ("search is slow today", ["search"]),  # a deliverable's key is always an alias
        ("#checkout is done", ["checkout-v2"]),
        # longest alias first
        ("the onboarding flow emails are late", ["onboarding-emails"]),
        ("the onboarding flow is late", ["onboarding"]),
        # two deliverables, in order of first mention, once each
        ("checkout waits on payments; checkout is blocked", ["checkout-v2", "payments-api"]),
        ("<https://app.asana.com/0/2001/3001|Checkout> and #search", ["checkout-v2", "search"]),
        # URLs and user mentions are not prose; a channel named like a deliverable names it
        ("see https://wiki.acme.test/payments/runbook", []),
        ("<#C02|payments> anyone?", ["payments-api"]),
        ("<#C02|payments-web> anyone?", []),
        ("<@U01> said hi", []),
    ],
)
def test_linker_finds_the_deliverables_a_message_names(text: str, keys: list[str]) -> None:
    assert LINKER.keys(text) == keys


def test_mention_spans_index_the_original_text() -> None:
    text = "<https://app.asana.com/0/2001/3002|Payments> and #search"
    mentions = LINKER.mentions(text)
    assert [(m.key, text[m.start : m.end], m.how) for m in mentions] == [
        ("payments-api", "https://app.asana.com/0/2001/3002", "asana_url"),
        ("payments-api", "Payments", "alias"),
        ("search", "#search", "alias"),
    ]


@pytest.mark.parametrize(
    ("text", "claim", "keys"),
    [
        # one deliverable named: the claim is about it wherever it stands
        ("blocked on legal: checkout", "blocked", ["checkout-v2"]),
        # listed together before the claim: a claim for each
        ("checkout and payments are blocked", "blocked", ["checkout-v2", "payments-api"]),
        ("checkout, payments & #search all shipped", "shipped", ["checkout-v2", "payments-api", "search"]),
        ("<https://app.asana.com/0/2001/3001|Checkout> and the payments API are done", "done",
         ["checkout-v2", "payments-api"]),
        # named after the claim: a blocker, a condition, not the subject
        ("checkout-v2 is blocked waiting on the payments API", "blocked", ["checkout-v2"]),
        ("#launch on track: emails on Dec 3, assuming checkout ships Dec 1", "on track", ["launch-campaign"]),
        ("#launch on track: emails on Dec 3, assuming checkout ships Dec 1", "Dec 3", ["launch-campaign"]),
        ("checkout is done. payments is blocked", "blocked", ["payments-api"]),
        # the claim before every name: about all of them
        ("Blocked: checkout and payments", "Blocked", ["checkout-v2", "payments-api"]),
    ],
)
def test_a_claim_is_about_the_deliverables_named_before_it(text: str, claim: str, keys: list[str]) -> None:
    assert subject_keys(text, LINKER.mentions(text), text.index(claim)) == keys


def test_linker_without_aliases() -> None:
    linker = DeliverableLinker(DeliverableIndex.build([DeliverableRef("x", {"asana": "1"})]))
    assert linker.keys("https://app.asana.com/0/0/1 and x") == ["x"]
    assert DeliverableLinker(DeliverableIndex({}, {}, {})).keys("anything") == []


def test_slack_ts_helpers() -> None:
    assert ts_key("1795509000.000100") < ts_key("1795509000.0002")  # short fraction: still micros
    assert ts_key("999999999.000001") < ts_key("1000000000.000000")  # not string order
    moment = ts_to_datetime("1795509000.000100")
    assert moment == datetime(2026, 11, 24, 8, 30, 0, 100, tzinfo=UTC)
    assert datetime_to_ts(moment) == "1795509000.000100"


def test_cursor_round_trip_and_fallbacks() -> None:
    cursor = ChannelCursor(
        "C01",
        "1795509000.000100",
        {"1795428900.000100": WatchedThread("1795431720.000100", 2, ["checkout-v2"])},
        {"1795430400.000100": ClaimedMessage("https://acme.slack.com/x", "1795428900.000100")},
    )
    assert ChannelCursor.loads(cursor.dumps(), "C01") == cursor
    assert ChannelCursor.loads(cursor.dumps(), "C02") == ChannelCursor("C02")  # another channel
    assert ChannelCursor.loads("not json", "C01") == ChannelCursor("C01")
    assert ChannelCursor.loads('{"v": 1, "channel": "C01", "newest": "x"}', "C01") == ChannelCursor("C01")
    assert ChannelCursor.loads(None, "C01") == ChannelCursor("C01")


def test_cursor_keeps_auth_checks_and_name() -> None:
    auth = Identity("U0BOT", "B0BOT", "https://acme.slack.com/", "Acme", "T1", 1795509000, "abc123")
    cursor = ChannelCursor(
        "C01",
        "1795509000.000100",
        {"1795428900.000100": WatchedThread("1795431720.000100", 2, ["checkout-v2"], 1795509000)},
        {"1795430400.000100": ClaimedMessage(None, "1795428900.000100")},
        {"U01": "2026-11-25"},
        auth,
        "launches",
    )
    raw = cursor.dumps()
    assert ChannelCursor.loads(raw, "C01") == cursor
    assert ChannelCursor.auth_of(raw) == auth and ChannelCursor.auth_of("junk") is None
    assert '"permalink"' not in raw  # built permalinks are not stored
    # a cursor written before these fields: every thread is due, auth.test is asked
    old = '{"v":1,"channel":"C01","newest":null,"threads":{"1.000001":{"latest":"2.0","replies":1,"keys":[]}}}'
    loaded = ChannelCursor.loads(old, "C01")
    assert loaded.threads["1.000001"].checked is None and loaded.auth is None and loaded.name is None


def test_permalinks_are_built_like_slack_builds_them() -> None:
    url = "https://acme.slack.com/"
    assert message_permalink(url, "C01", "1795509000.000100") == "https://acme.slack.com/archives/C01/p1795509000000100"
    assert message_permalink(url, "C01", "1795509060.000200", "1795509000.000100") == (
        "https://acme.slack.com/archives/C01/p1795509060000200?thread_ts=1795509000.000100&cid=C01"
    )
    # a thread's parent is linked like a top-level message
    assert message_permalink(url.rstrip("/"), "C01", "1795509000.000100", "1795509000.000100") == (
        "https://acme.slack.com/archives/C01/p1795509000000100"
    )
    assert message_permalink(None, "C01", "1795509000.000100") is None
    assert message_permalink("acme", "C01", "1795509000.000100") is None


def _api_error(payload: dict, status: int = 200) -> SlackApiError:
    response = SlackResponse(
        client=None, http_verb="POST", api_url="https://slack.test/api/x", req_args={},
        data=payload, headers={}, status_code=status,
    )
    return SlackApiError("failed", response)


def test_slack_errors_name_the_place_and_what_to_do() -> None:
    missing = describe_slack_error(
        _api_error({"ok": False, "error": "missing_scope", "needed": "channels:history"}), where="channel #launches"
    )
    assert str(missing) == "Slack channel #launches: the app lacks the scope 'channels:history' (missing_scope)"
    limited = describe_slack_error(_api_error({"ok": False, "error": "ratelimited"}, 429), where="channel C01")
    assert isinstance(limited, TransientError)
    odd = describe_slack_error(
        _api_error({"ok": False, "error": "Received a response in a non-JSON format: <html"}), where="channel C01"
    )
    assert isinstance(odd, TransientError) and "<html" not in str(odd)
    reset = describe_transport_error(ConnectionResetError(), where="channel C01")
    assert isinstance(reset, UnreachableError) and "channel C01" in str(reset)
    truncated = describe_transport_error(json.JSONDecodeError("truncated", "{", 1), where="channel C01")
    assert isinstance(truncated, TransientError) and not isinstance(truncated, UnreachableError)
    assert isinstance(describe_transport_error(_api_error({"ok": False, "error": "x"}), where="w"), ConnectorError)
    assert describe_transport_error(KeyError("bug"), where="w") is None
    assert rate_limit_key("conversations.history") == "slack:conversations.history"


# -- alias matching: linear in the text, same answers as one regular expression of every alias ----

TRICKY_ALIASES = [
    "checkout", "checkout-web", "checkout web", "#checkout", "payments api", "payments", "sso", "v2.0",
    "+1", "c++", "q4 launch", "launch", "#launch", "ünïcode", "data_pipeline", "a", "a b", "a b c",
]


def _regex_reference(aliases: list[str], text: str) -> list[tuple[int, int, str]]:
    """What the linker did before the alias table: one alternation of every alias, longest first."""
    import re

    ordered = sorted({a.lower() for a in aliases}, key=lambda a: (-len(a), a))
    pattern = re.compile(r"(?<![\w-])(?:" + "|".join(re.escape(a) for a in ordered) + r")(?![\w-])", re.IGNORECASE)
    return [(m.start(), m.end(), m.group(0).lower()) for m in pattern.finditer(text)]


@pytest.mark.parametrize(
    "text",
    [
        "checkout-web is blocked, checkout is not",
        "CHECKOUT WEB and checkout web-app and rechecking #checkout.",
        "payments api payments apis payments-api payments",
        "+1 on v2.0, v2.01 and c++ / C++11 (+1)",
        "the Q4 launch #launch launch-party relaunch",
        "a b c a b a-b ab a",
        "Ünïcode and data_pipeline, data_pipeline_v2",
        "",
        "no alias here at all",
    ],
)
def test_alias_table_finds_what_the_regex_of_every_alias_finds(text: str) -> None:
    from connectors.slack.links import AliasTable

    found = [(s, e, a.lower()) for s, e, a in AliasTable(TRICKY_ALIASES).find(text)]
    assert found == _regex_reference(TRICKY_ALIASES, text)


def test_alias_table_agrees_with_the_regex_on_generated_text() -> None:
    import random

    from connectors.slack.links import AliasTable

    rng = random.Random(7)
    pieces = [*TRICKY_ALIASES, " ", "  ", "-", ",", ".", "x", "re", "#", "\n", "_", "B"]
    table = AliasTable(TRICKY_ALIASES)
    for _ in range(2000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 12)))
        found = [(s, e, a.lower()) for s, e, a in table.find(text)]
        assert found == _regex_reference(TRICKY_ALIASES, text), text


def test_linker_finds_a_mention_among_thousands_of_aliases() -> None:
    refs = [DeliverableRef(f"item-{i:05d}", {}, (f"#it{i}",)) for i in range(5000)]
    linker = DeliverableLinker(DeliverableIndex.build([*refs, DeliverableRef("checkout-v2", {"asana": "3001"}, ("checkout",))]))
    assert linker.keys("#it4999 is blocked, item-00007 and checkout ship Friday") == [
        "item-04999", "item-00007", "checkout-v2",
    ]


# -- excerpts as plain text ----------------------------------------------------------------


def test_plain_text_renders_slack_markup() -> None:
    names = {"U01": "Alice Ng"}.get
    raw = ("<@U01> &amp; <@U02> say <#C0AUDIT|audit-log> is done, see <https://x.test/a?b=1&amp;c=2|the doc> "
           "and <https://x.test/plain> <!here> <!subteam^S1|@web> <mailto:a@x.test|a@x.test> &lt;b&gt;")
    assert plain_text(raw, names) == (
        "@Alice Ng & @U02 say #audit-log is done, see the doc and https://x.test/plain @here @web "
        "a@x.test <b>")


def test_plain_text_keeps_escaped_markup_and_cut_links_as_text() -> None:
    assert plain_text("&lt;@U01&gt; is not a mention") == "<@U01> is not a mention"
    assert plain_text("see <https://x.test/a|the d") == "see <https://x.test/a|the d"
    assert plain_text("<@U01|alice> and <#C1>") == "@alice and #C1"


def test_stored_excerpt_is_plain_text() -> None:
    """What the connector stores as a claim's excerpt: the sentence it was read in, rendered."""
    linker = DeliverableLinker(DeliverableIndex.build([DeliverableRef("audit-log", {}, ("audit-log",))]))
    text = "fyi <@U01>, <#C0AUDIT|audit-log> is done &amp; shipped. Other news."
    chosen = message_claims(ClaimParser(), linker, text, datetime(2026, 12, 2, tzinfo=UTC), [])
    claim = chosen[("audit-log", Field.STATUS)]
    excerpt = plain_text(evidence_of(text, claim), {"U01": "Alice Ng"}.get)
    assert excerpt == "fyi @Alice Ng, #audit-log is done & shipped."
