"""Block Kit for the Slack app: the modals, a DM rewritten after a decision, the Home tab and
the slash command's answers. Pure functions over plain values."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from connectors.base import CanonicalStatus
from reconciler import message_actions
from reconciler.messages import escape, format_time

Block = dict[str, Any]

SET_VALUE_CALLBACK = "reconciler.set_value"
SNOOZE_CALLBACK = "reconciler.snooze"
OUTCOME_PREFIX = "reconciler-outcome:"
SNOOZE_CHOICES = (("4h", "4 hours"), ("1d", "1 day"), ("3d", "3 days"), ("7d", "1 week"))
MAX_HOME_FINDINGS = 40  # two blocks each, within the Home tab's 100


@dataclass(frozen=True, slots=True)
class ModalContext:
    """Where a modal came from, carried in its private_metadata."""

    conflict_id: int
    channel: str | None = None
    message_ts: str | None = None
    optional: bool = True  # the finding may be resolved with a comment only

    def dump(self) -> str:
        data = {"c": self.conflict_id, "ch": self.channel, "ts": self.message_ts, "o": self.optional}
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def load(cls, raw: str | None) -> ModalContext:
        data = json.loads(raw or "{}")
        return cls(int(data["c"]), data.get("ch"), data.get("ts"), bool(data.get("o", True)))


def _plain(text: str) -> Block:
    return {"type": "plain_text", "text": text[:150], "emoji": True}


def _comment_input(label: str) -> Block:
    return {
        "type": "input",
        "block_id": "comment",
        "label": _plain(label),
        "element": {"type": "plain_text_input", "action_id": "comment", "multiline": True, "max_length": 2000},
    }


def set_value_modal(
    *, context: ModalContext, title: str, kind: str, summary: str, fields: frozenset[str], optional: bool
) -> Block:
    """Status and/or date inputs (the ones this kind of finding takes) and a required comment."""
    blocks: list[Block] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*#{context.conflict_id} {escape(title)}* · {escape(kind)}\n{escape(summary)}"}}
    ]
    if "status" in fields:
        options = [{"text": _plain(s.value.replace("_", " ")), "value": s.value} for s in CanonicalStatus]
        blocks.append({
            "type": "input", "block_id": "status", "optional": True, "label": _plain("Status"),
            "element": {"type": "static_select", "action_id": "status", "options": options,
                        "placeholder": _plain("The canonical status")},
        })
    if "target_date" in fields:
        blocks.append({
            "type": "input", "block_id": "target_date", "optional": True, "label": _plain("Target date"),
            "element": {"type": "datepicker", "action_id": "target_date"},
        })
    if fields and not optional:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": "Give one value."}]})
    blocks.append(_comment_input("Why (kept in the audit log)"))
    return {
        "type": "modal",
        "callback_id": SET_VALUE_CALLBACK,
        "private_metadata": replace(context, optional=optional or not fields).dump(),
        "title": _plain("Decide"),
        "submit": _plain("Record decision"),
        "close": _plain("Cancel"),
        "blocks": blocks,
    }


def snooze_modal(*, context: ModalContext, title: str) -> Block:
    options = [{"text": _plain(label), "value": value} for value, label in SNOOZE_CHOICES]
    return {
        "type": "modal",
        "callback_id": SNOOZE_CALLBACK,
        "private_metadata": context.dump(),
        "title": _plain("Snooze"),
        "submit": _plain("Snooze"),
        "close": _plain("Cancel"),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"No reminders about *#{context.conflict_id} {escape(title)}* for:"}},
            {"type": "input", "block_id": "duration", "label": _plain("Duration"),
             "element": {"type": "static_select", "action_id": "duration", "options": options, "initial_option": options[1]}},
            _comment_input("Why"),
        ],
    }


@dataclass(frozen=True, slots=True)
class SetValueForm:
    status: str | None
    target_date: date | None
    comment: str


def _value(values: dict[str, Any], block: str) -> dict[str, Any]:
    return dict(values.get(block, {}).get(block) or {})


def read_set_value(values: dict[str, Any], *, optional: bool) -> tuple[SetValueForm | None, dict[str, str]]:
    """The submitted form, or the errors to show next to its inputs (Slack's response_action)."""
    status = (_value(values, "status").get("selected_option") or {}).get("value")
    raw_date = _value(values, "target_date").get("selected_date")
    comment = (_value(values, "comment").get("value") or "").strip()
    errors: dict[str, str] = {}
    if not comment:
        errors["comment"] = "Say why: it is kept in the audit log."
    if status and raw_date:
        errors["target_date"] = "Give a status or a date, not both."
    present = [b for b in ("status", "target_date") if b in values]
    if not status and not raw_date and present and not optional:
        errors[present[0]] = "Give the value you decide on."
    if errors:
        return None, errors
    return SetValueForm(status, date.fromisoformat(raw_date) if raw_date else None, comment), {}


def read_snooze(values: dict[str, Any]) -> tuple[tuple[str, str] | None, dict[str, str]]:
    duration = (_value(values, "duration").get("selected_option") or {}).get("value")
    comment = (_value(values, "comment").get("value") or "").strip()
    errors: dict[str, str] = {}
    if duration not in {v for v, _ in SNOOZE_CHOICES}:
        errors["duration"] = "Pick how long."
    if not comment:
        errors["comment"] = "Say why."
    return (None, errors) if errors else ((str(duration), comment), {})


# -- a DM after a decision ------------------------------------------------------------------


def outcome_block(conflict_id: int, text: str) -> Block:
    return {
        "type": "context",
        "block_id": f"{OUTCOME_PREFIX}{conflict_id}",
        "elements": [{"type": "mrkdwn", "text": text[:2900]}],
    }


def refreshed_blocks(blocks: list[Block], conflict_id: int, *, outcome: str | None, actions: Block | None) -> list[Block]:
    """The DM's blocks with this finding's outcome line and controls replaced, where its controls
    (or an earlier outcome line) were: `actions` None when it is closed."""
    ids = {message_actions.block_id(conflict_id), f"{OUTCOME_PREFIX}{conflict_id}"}
    replacement = ([outcome_block(conflict_id, outcome)] if outcome else []) + ([actions] if actions else [])
    out: list[Block] = []
    placed = False
    for block in blocks:
        if block.get("block_id") not in ids:
            out.append(block)
        elif not placed:
            out.extend(replacement)
            placed = True
    if not placed and outcome:  # its controls were removed earlier (the DM was marked closed)
        out.append(outcome_block(conflict_id, outcome))
    return out


def without_actions(block: Block, done: set[str]) -> Block | None:
    """An actions block without the controls already used (ack, snooze); None if none is left."""
    kept = [e for e in block.get("elements", []) if _action_of(e, str(block.get("block_id"))) not in done]
    return {**block, "elements": kept} if kept else None


def _action_of(element: Block, block_id_: str) -> str | None:
    ref = message_actions.parse_action({**element, "block_id": block_id_})
    return ref.action if ref else None


def escape_text(text: str) -> str:
    return escape(text)


def when(at: datetime | None, tz: str) -> str:
    return format_time(at, tz) if at else "just now"


# -- Home tab and slash command -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FindingLine:
    conflict_id: int
    deliverable_key: str
    title: str
    kind: str
    state: str
    summary: str
    opened_at: datetime
    decider: str


def finding_text(f: FindingLine, tz: str, *, show_decider: bool) -> str:
    who = f" · decides: {escape(f.decider)}" if show_decider else ""
    state = " · _acknowledged_" if f.state == "acknowledged" else ""
    return (
        f"*#{f.conflict_id} {escape(f.title)}* `{escape(f.deliverable_key)}` · {escape(f.kind)}{state}{who}\n"
        f"{escape(f.summary)}\n_open since {escape(format_time(f.opened_at, tz))}_"
    )


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:2900]}}


def home_view(*, name: str, waiting: list[FindingLine], asked: list[FindingLine], board_url: str | None, tz: str) -> Block:
    blocks: list[Block] = [{"type": "header", "text": _plain(f"Waiting on you ({len(waiting)})")}]
    if not waiting:
        blocks.append(_section(f"Nothing waits on you, {escape(name)}."))
    for f in waiting[:MAX_HOME_FINDINGS // 2]:
        blocks.append(_section(finding_text(f, tz, show_decider=False)))
    blocks.append({"type": "divider"})
    blocks.append({"type": "header", "text": _plain(f"You asked others ({len(asked)})")})
    if not asked:
        blocks.append(_section("Nothing you said is waiting on someone else's decision."))
    for f in asked[:MAX_HOME_FINDINGS // 2]:
        blocks.append(_section(finding_text(f, tz, show_decider=True)))
    if board_url:
        blocks.append({"type": "divider"})
        blocks.append(_section(f"<{board_url}|Open the team board>"))
    return {"type": "home", "blocks": blocks[:100]}


def findings_answer(title: str, findings: list[FindingLine], tz: str, *, empty: str) -> list[Block]:
    blocks = [_section(f"*{escape(title)}*")]
    if not findings:
        blocks.append(_section(escape(empty)))
    blocks.extend(_section(finding_text(f, tz, show_decider=True)) for f in findings[:MAX_HOME_FINDINGS])
    return blocks


def status_answer(
    *, title: str, key: str, status: str | None, target_date: date | None, owner: str, findings: list[FindingLine], tz: str
) -> list[Block]:
    facts = (
        f"*{escape(title)}* `{escape(key)}`\n"
        f"Status: *{escape((status or 'unknown').replace('_', ' '))}* · "
        f"target date: *{target_date.isoformat() if target_date else 'none'}* · decision owner: *{escape(owner)}*"
    )
    return [_section(facts), *findings_answer("Open findings", findings, tz, empty="No open findings.")[1:]]


USAGE = "Use `/reconciler mine` (what waits on you) or `/reconciler status DELIVERABLE`."
