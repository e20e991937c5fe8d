from __future__ import annotations

import json
from datetime import datetime, timezone

from reconciler import messages
from reconciler.messages import ConflictView, EvidenceView, MessageView

AT = datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)


def conflict(cid: int = 42, **kwargs) -> ConflictView:  # type: ignore[no-untyped-def]
    base = {
        "id": cid,
        "deliverable_key": "checkout-v2",
        "deliverable_title": "Checkout v2",
        "deliverable_permalink": "https://app.asana.test/0/3001",
        "kind": "status_contradiction",
        "severity": "high",
        "summary": "Asana says done, Slack says blocked",
        "sources": ("asana", "slack"),
        "evidence": (
            EvidenceView("asana", "Alice Ng", AT, "done", "Status: Done", "https://app.asana.test/0/3001"),
            EvidenceView("slack", "Bob Okafor", AT, "blocked", "blocked on <payments> & auth", "https://acme.slack.test/p1"),
        ),
        "opened_at": AT,
    }
    base.update(kwargs)
    return ConflictView(**base)  # type: ignore[arg-type]


def test_new_dm_carries_every_fact_in_text_and_blocks() -> None:
    view = MessageView(reason="new", recipient_name="Alice Ng", timezone="Europe/Berlin", conflicts=(conflict(),))
    text, blocks = messages.render(view)
    assert text.splitlines()[0] == "1 new conflict on Checkout v2 needs your decision"
    for fact in (
        "#42 Checkout v2 (checkout-v2)", "asana, Alice Ng, Tue 24 Nov 10:00 CET", '"Status: Done"',
        "slack, Bob Okafor", "https://acme.slack.test/p1", "New: opened Tue 24 Nov 10:00 CET.",
        "Decide with the buttons under it in this DM: [Accept asana: done] [Accept slack: blocked] "
        "[Set the value…] [Acknowledge] [Snooze…]; or on the team board.",
    ):
        assert fact in text, fact
    assert "reconciler " not in text  # owners decide in Slack, not at the CLI
    flat = json.dumps(blocks)
    assert blocks[0]["type"] == "header"
    assert "&lt;payments&gt; &amp; auth" in flat and "<payments>" not in flat  # mrkdwn escaped
    assert "<https://acme.slack.test/p1|open>" in flat and "<https://app.asana.test/0/3001|Checkout v2>" in flat
    assert "reconciler conflicts resolve" not in flat  # owners decide with the buttons
    (actions,) = [b for b in blocks if b["type"] == "actions"]
    assert actions["block_id"] == "reconciler-actions:42"
    assert [e["text"]["text"] for e in actions["elements"]] == [
        "Accept asana: done", "Accept slack: blocked", "Set the value…", "Acknowledge", "Snooze…"]
    assert json.loads(actions["elements"][1]["value"]) == {"conflict_id": 42, "action": "accept", "source": "slack"}


def test_reasons_say_why() -> None:
    escalated = conflict(level=1, level_target="lead", told_before=("Alice Ng",))
    text = messages.render_text(MessageView("escalation", "Bob", "UTC", (escalated,)))
    assert "Escalation level 1 (lead)" in text and "told before: Alice Ng" in text
    auto = messages.render_text(MessageView("resolved", "Bob", "UTC", (conflict(resolution="sources agree again"),)))
    assert auto.startswith("Resolved: 1 conflict on Checkout v2") and "Resolved: sources agree again." in auto
    assert "conflicts resolve" not in auto  # nothing left to do
    reminder = messages.render_text(MessageView("reminder", "Bob", "UTC", (conflict(), conflict(43))))
    assert reminder.startswith("Reminder: 2 conflicts on Checkout v2 still open")


def test_many_conflicts_stay_within_slack_limits() -> None:
    many = tuple(conflict(i) for i in range(1, 31))
    view = MessageView("new", "Alice", "UTC", many)
    blocks = messages.render_blocks(view)
    assert len(blocks) <= 50
    assert "20 more" in json.dumps(blocks[-1])
    assert all(len(b["text"]["text"]) <= 3000 for b in blocks if b.get("type") == "section")
    assert len(blocks[0]["text"]["text"]) <= 150
    assert "#30 " in messages.render_text(view)  # the fallback lists them all


def test_long_excerpts_are_cut() -> None:
    long = conflict(evidence=(EvidenceView("slack", "Bob", AT, None, "word " * 500, None),))
    text = messages.render_text(MessageView("new", "Alice", "UTC", (long,)))
    assert len(text) < 2000 and "…" in text


def test_mark_closed_rewrites_the_earlier_dm_once() -> None:
    text, blocks = messages.render(MessageView("new", "Alice", "UTC", (conflict(),)))
    closed_text, closed_blocks = messages.mark_closed(text, blocks, "Resolved: 1 conflict")
    again_text, again_blocks = messages.mark_closed(closed_text, closed_blocks, "Resolved: 1 conflict")
    assert closed_text.startswith("Resolved: 1 conflict\n")
    assert closed_blocks[0]["type"] == "header" and "white_check_mark" in json.dumps(closed_blocks[1])
    assert not [b for b in closed_blocks if b["type"] == "actions"]  # nothing left to decide
    assert again_text == closed_text and again_blocks == closed_blocks


def test_the_fallback_names_the_buttons_each_kind_gets() -> None:
    no_owner = conflict(7, kind="no_owner", sources=(), evidence=())
    assert messages.decide_line(no_owner) == (
        "Decide with the buttons under it in this DM: [Pick the owner] [Acknowledge] [Snooze…]; or on the team board."
    )
    overdue = messages.render_text(MessageView("reminder", "Bob", "UTC", (conflict(8, kind="overdue"),)))
    assert "[Resolve…] [Acknowledge] [Snooze…]" in overdue and "reconciler " not in overdue
