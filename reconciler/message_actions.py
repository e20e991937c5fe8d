"""The buttons under each finding in a DM, and how the Slack app reads them back.

Each interactive element's `action_id` is `reconciler.<action>` (plus `.<source>` for an accept
button) and each button's `value` is JSON naming the conflict and the action, so a click carries
everything the handler needs even when the stored DM has changed since. The block's id names the
conflict too (a users select has no value), so a decision can replace exactly this block.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from reconciler import rules

if TYPE_CHECKING:
    from reconciler.messages import ConflictView

Block = dict[str, Any]

BLOCK_PREFIX = "reconciler-actions:"
ACTION_PREFIX = "reconciler."
ACCEPT, SET_VALUE, ACK, SNOOZE, PICK_OWNER = "accept", "set_value", "ack", "snooze", "pick_owner"
ACCEPTING_KINDS = frozenset(rule.kind.value for rule in rules.RULES if rule.accepts_source)
NO_OWNER = rules.Rule.NO_OWNER.value
MAX_BUTTON_TEXT = 75


@dataclass(frozen=True, slots=True)
class ActionRef:
    """What a click asks for: the conflict, the action, and for `accept` the source."""

    conflict_id: int
    action: str
    source: str | None = None


def block_id(conflict_id: int) -> str:
    return f"{BLOCK_PREFIX}{conflict_id}"


def conflict_of_block(block_id_: str | None) -> int | None:
    if not block_id_ or not block_id_.startswith(BLOCK_PREFIX):
        return None
    tail = block_id_[len(BLOCK_PREFIX):]
    return int(tail) if tail.isdigit() else None


def is_actions_block(block: Block) -> bool:
    return conflict_of_block(block.get("block_id")) is not None


def _button(conflict_id: int, action: str, label: str, *, source: str | None = None, style: str | None = None) -> Block:
    value: dict[str, Any] = {"conflict_id": conflict_id, "action": action}
    action_id = ACTION_PREFIX + action
    if source is not None:
        value["source"] = source
        action_id += f".{source}"
    if len(label) > MAX_BUTTON_TEXT:
        label = label[: MAX_BUTTON_TEXT - 1] + "…"
    button: Block = {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": label, "emoji": True},
        "value": json.dumps(value, separators=(",", ":")),
    }
    if style:
        button["style"] = style
    return button


def _accept_buttons(conflict: ConflictView) -> list[Block]:
    if conflict.kind not in ACCEPTING_KINDS:
        return []
    buttons = []
    for source in conflict.sources:
        values = sorted({e.value for e in conflict.evidence if e.source == source and e.value})
        said = f": {values[0]}" if len(values) == 1 else ""
        buttons.append(_button(conflict.id, ACCEPT, f"Accept {source}{said}", source=source))
    return buttons


def actions_block(conflict: ConflictView) -> Block:
    """The decision controls for one open finding."""
    elements: list[Block] = []
    if conflict.kind == NO_OWNER:
        elements.append(
            {
                "type": "users_select",
                "action_id": ACTION_PREFIX + PICK_OWNER,
                "placeholder": {"type": "plain_text", "text": "Pick the owner"},
            }
        )
    else:
        elements.extend(_accept_buttons(conflict))
        label = "Set the value…" if conflict.kind in ACCEPTING_KINDS else "Resolve…"
        elements.append(_button(conflict.id, SET_VALUE, label))
    elements.append(_button(conflict.id, ACK, "Acknowledge"))
    elements.append(_button(conflict.id, SNOOZE, "Snooze…"))
    return {"type": "actions", "block_id": block_id(conflict.id), "elements": elements[:25]}


def parse_action(action: dict[str, Any]) -> ActionRef | None:
    """The ActionRef of one element of a `block_actions` payload; None when it is not ours."""
    action_id = str(action.get("action_id") or "")
    if not action_id.startswith(ACTION_PREFIX):
        return None
    name = action_id[len(ACTION_PREFIX):].split(".", 1)[0]
    if name == PICK_OWNER:
        conflict_id = conflict_of_block(action.get("block_id"))
        return ActionRef(conflict_id, PICK_OWNER) if conflict_id is not None else None
    try:
        value = json.loads(action.get("value") or "")
        return ActionRef(int(value["conflict_id"]), str(value["action"]), value.get("source"))
    except (ValueError, KeyError, TypeError):
        return None
