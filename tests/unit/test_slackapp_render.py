"""Block Kit of the Slack app: a DM rewritten after a decision, and the modal forms."""

from __future__ import annotations

from datetime import date

from reconciler import message_actions, messages
from reconciler.messages import MessageView
from reconciler.slackapp import render
from tests.unit.test_notify_messages import conflict


def two_finding_dm() -> list[dict[str, object]]:
    return messages.render_blocks(MessageView("new", "Alice", "UTC", (conflict(42), conflict(43))))


def ids(blocks: list[dict[str, object]]) -> list[object]:
    return [b.get("block_id") for b in blocks if b.get("block_id")]


def test_deciding_one_finding_of_a_dm_leaves_the_others_controls() -> None:
    blocks = two_finding_dm()
    closed = render.refreshed_blocks(blocks, 42, outcome="Resolved by Alice", actions=None)
    assert ids(closed) == ["reconciler-outcome:42", "reconciler-actions:43"]
    assert len(closed) == len(blocks)
    assert render.refreshed_blocks(closed, 42, outcome="Resolved by Alice", actions=None) == closed  # idempotent


def test_an_acknowledgement_that_lapses_gives_the_button_back() -> None:
    blocks = two_finding_dm()
    fresh = message_actions.actions_block(conflict(42))
    acked = render.refreshed_blocks(blocks, 42, outcome="Acknowledged by Alice",
                                    actions=render.without_actions(fresh, {message_actions.ACK}))
    (controls,) = [b for b in acked if b.get("block_id") == "reconciler-actions:42"]
    assert "reconciler.ack" not in [e["action_id"] for e in controls["elements"]]
    lapsed = render.refreshed_blocks(acked, 42, outcome=None, actions=fresh)
    assert ids(lapsed) == ["reconciler-actions:42", "reconciler-actions:43"]
    assert lapsed == blocks


def test_a_dm_already_marked_closed_gets_the_outcome_at_the_end() -> None:
    text, blocks = messages.render(MessageView("new", "Alice", "UTC", (conflict(42),)))
    _, closed = messages.mark_closed(text, blocks, "Resolved: 1 conflict")
    assert ids(render.refreshed_blocks(closed, 42, outcome="Resolved by Bob", actions=None)) == ["reconciler-outcome:42"]


def test_the_set_value_form_says_what_is_missing() -> None:
    def values(status: str | None, day: str | None, comment: str) -> dict[str, object]:
        return {
            "status": {"status": {"selected_option": {"value": status} if status else None}},
            "target_date": {"target_date": {"selected_date": day}},
            "comment": {"comment": {"value": comment}},
        }

    form, errors = render.read_set_value(values("blocked", None, " keys missing "), optional=False)
    assert (form, errors) == (render.SetValueForm("blocked", None, "keys missing"), {})
    form, errors = render.read_set_value(values(None, "2026-12-01", "moved"), optional=False)
    assert form == render.SetValueForm(None, date(2026, 12, 1), "moved")
    assert render.read_set_value(values("done", "2026-12-01", ""), optional=True)[1] == {
        "comment": "Say why: it is kept in the audit log.", "target_date": "Give a status or a date, not both."}
    assert render.read_set_value(values(None, None, "x"), optional=False)[1] == {"status": "Give the value you decide on."}
    assert render.read_set_value(values(None, None, "x"), optional=True) == (render.SetValueForm(None, None, "x"), {})


def test_modal_context_survives_private_metadata() -> None:
    context = render.ModalContext(7, "D01", "1.000100", optional=False)
    view = render.set_value_modal(context=context, title="Checkout <v2>", kind="status_contradiction",
                                  summary="a & b", fields=frozenset({"status"}), optional=False)
    assert render.ModalContext.load(view["private_metadata"]) == context
    assert "Checkout &lt;v2&gt;" in view["blocks"][0]["text"]["text"]
