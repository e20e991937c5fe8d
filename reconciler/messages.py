"""What a DM says: Block Kit blocks plus a plain-text fallback carrying the same facts.

Pure functions over small views, so the notifier, `notify --dry-run` and the tests render the
same thing. Each conflict shows its deliverable, what each source says (source, author, time,
excerpt, permalink), the reason it is being sent, and the buttons that decide it; the plain-text
fallback (what a notification or a client without blocks shows) names those buttons and the team
board instead of CLI commands.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from reconciler import message_actions, rules, untrusted

MAX_CONFLICTS_IN_BLOCKS = 10  # 50 blocks per message: header, note, 4 per conflict, "more"
MAX_EXCERPT = 200
MAX_SECTION = 2900  # Slack's limit is 3000 characters per section text
MAX_HEADER = 150

Block = dict[str, Any]

_REASON_EMOJI = {"new": ":warning:", "reminder": ":alarm_clock:", "escalation": ":rotating_light:",
                 "resolved": ":white_check_mark:", "check_in": ":wave:"}


@dataclass(frozen=True, slots=True)
class EvidenceView:
    source: str
    author: str
    stated_at: datetime
    value: str | None
    excerpt: str
    permalink: str | None = None


@dataclass(frozen=True, slots=True)
class ConflictView:
    id: int
    deliverable_key: str
    deliverable_title: str
    kind: str
    severity: str
    summary: str
    sources: tuple[str, ...]
    evidence: tuple[EvidenceView, ...]
    opened_at: datetime
    deliverable_permalink: str | None = None
    level: int = 0
    level_target: str | None = None  # how the level names the recipient: owner, lead, head, ...
    told_before: tuple[str, ...] = ()
    resolution: str | None = None  # set for a resolved notice: "sources agree again", "resolved by ..."


@dataclass(frozen=True, slots=True)
class MessageView:
    reason: str  # new | reminder | escalation | resolved
    recipient_name: str
    timezone: str
    conflicts: tuple[ConflictView, ...]
    note: str | None = None


# -- shared wording -------------------------------------------------------------------------


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def headline(view: MessageView) -> str:
    n = len(view.conflicts)
    first = view.conflicts[0].deliverable_title if view.conflicts else ""
    where = f" on {first}" if len({c.deliverable_key for c in view.conflicts}) == 1 else ""
    if view.reason == "new":
        return f"{_plural(n, 'new conflict')}{where} need{'s' if n == 1 else ''} your decision"
    if view.reason == "reminder":
        return f"Reminder: {_plural(n, 'conflict')}{where} still open"
    if view.reason == "escalation":
        return f"Escalated to you: {_plural(n, 'conflict')}{where} without a decision"
    if view.reason == "resolved":
        return f"Resolved: {_plural(n, 'conflict')}{where}"
    if view.reason == "check_in":
        return f"Check-in: {_plural(n, 'deliverable')} due soon {'has' if n == 1 else 'have'} gone quiet"
    return f"{_plural(n, 'conflict')}{where}"


def format_time(at: datetime, tz: str) -> str:
    return at.astimezone(ZoneInfo(tz)).strftime("%a %d %b %H:%M %Z")


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= MAX_EXCERPT else flat[: MAX_EXCERPT - 1] + "…"


def reason_line(conflict: ConflictView, reason: str, tz: str) -> str:
    if reason == "new":
        return f"New: opened {format_time(conflict.opened_at, tz)}."
    if reason == "reminder":
        return f"Reminder: open since {format_time(conflict.opened_at, tz)}, no decision yet."
    if reason == "escalation":
        target = f" ({conflict.level_target})" if conflict.level_target else ""
        before = ", ".join(conflict.told_before) if conflict.told_before else "nobody"
        return (
            f"Escalation level {conflict.level}{target}: open since "
            f"{format_time(conflict.opened_at, tz)}; told before: {before}."
        )
    if reason == "resolved":
        return f"Resolved: {conflict.resolution or 'closed'}."
    if reason == "check_in":
        return "Where does it stand? Post an update, set a new date, or snooze the check-in."
    return reason


def decide_line(conflict: ConflictView) -> str:
    """Where the finding is decided: the buttons under it in the DM, named as they read, or the
    team board."""
    labels = [_label(element) for element in message_actions.actions_block(conflict)["elements"]]
    buttons = " ".join(f"[{label}]" for label in labels if label)
    return f"Decide with the buttons under it in this DM: {buttons}; or on the team board."


def _label(element: dict[str, Any]) -> str:
    text = element.get("text") or element.get("placeholder") or {}
    return str(text.get("text", ""))


def resolve_commands(cid: int, key: str, kind: str, sources: tuple[str, ...]) -> list[str]:
    """The CLI commands that settle a finding, the way that makes sense for its kind (for
    `conflicts show`); the last one acknowledges it."""
    rule = rules.rule_for(kind)
    settled_by = rule.settled_by if rule is not None else rules.Settlement.ACCEPT_SOURCE
    lines: list[str] = []
    if settled_by is rules.Settlement.NAME_OWNER:  # naming an owner resolves it by itself on the next pass
        lines = [f'reconciler conflicts resolve {cid} --owner PERSON -c "..."']
    elif settled_by is rules.Settlement.CHECK_IN:  # say where it stands, or not now
        lines = [
            f'reconciler claim {key} --status STATUS [--date YYYY-MM-DD] --by YOU -c "..."',
            f'reconciler snooze add deliverable={key} kind={kind} -d 3d -c "..."',
        ]
    elif settled_by is rules.Settlement.GIVE_VALUE:
        lines = [f'reconciler conflicts resolve {cid} --status STATUS | --date YYYY-MM-DD -c "..."']
    elif settled_by is rules.Settlement.ACCEPT_SOURCE:
        lines = [f'reconciler conflicts resolve {cid} --accept {s} -c "..."' for s in sources]
    if not lines:
        lines = [f'reconciler conflicts resolve {cid} -c "..."']
    lines.append(f"reconciler conflicts ack {cid}")
    return lines


# -- plain text -----------------------------------------------------------------------------


def _evidence_text(e: EvidenceView, tz: str) -> str:
    said = f" ({e.value})" if e.value else ""
    link = f" {e.permalink}" if e.permalink else ""
    return f"  - {e.source}, {e.author}, {format_time(e.stated_at, tz)}: \"{_excerpt(e.excerpt)}\"{said}{link}"


def _conflict_text(c: ConflictView, reason: str, tz: str) -> list[str]:
    lines = [f"#{c.id} {c.deliverable_title} ({c.deliverable_key}): {c.kind}, severity {c.severity}"]
    if c.summary:
        lines.append(f"  {c.summary}")
    lines.extend(_evidence_text(e, tz) for e in c.evidence)
    lines.append(f"  {reason_line(c, reason, tz)}")
    if reason != "resolved":
        lines.append(f"  {decide_line(c)}")
    return lines


def render_text(view: MessageView) -> str:
    lines = [headline(view)]
    if view.note:
        lines.append(view.note)
    for c in view.conflicts:
        lines.append("")
        lines.extend(_conflict_text(c, view.reason, view.timezone))
    return "\n".join(lines)


# -- Block Kit ------------------------------------------------------------------------------


def escape(text: str) -> str:
    """Slack mrkdwn control characters, and `@here`-style broadcasts (see reconciler.untrusted)."""
    return untrusted.for_slack(text)


def _link(url: str | None, label: str) -> str:
    return untrusted.slack_link(url, label)


def _section(text: str) -> Block:
    if len(text) > MAX_SECTION:
        text = text[: MAX_SECTION - 1] + "…"
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _evidence_mrkdwn(e: EvidenceView, tz: str) -> str:
    said = f" → `{escape(e.value)}`" if e.value else ""
    link = f" ({_link(e.permalink, 'open')})" if e.permalink else ""
    return (
        f"• *{escape(e.source)}* · {escape(e.author)} · {escape(format_time(e.stated_at, tz))}: "
        f"“{escape(_excerpt(e.excerpt))}”{said}{link}"
    )


def _conflict_blocks(c: ConflictView, reason: str, tz: str) -> list[Block]:
    title = f"*#{c.id} {_link(c.deliverable_permalink, c.deliverable_title)}* `{escape(c.deliverable_key)}` · {escape(c.kind)} · severity *{escape(c.severity)}*"
    if c.summary:
        title += f"\n{escape(c.summary)}"
    evidence = "\n".join(_evidence_mrkdwn(e, tz) for e in c.evidence) or "_no evidence recorded_"
    blocks = [
        _section(f"{title}\n{evidence}"),
        {"type": "context", "elements": [{"type": "mrkdwn", "text": escape(reason_line(c, reason, tz))}]},
    ]
    if reason != "resolved":
        blocks.append(message_actions.actions_block(c))
    return blocks


def render_blocks(view: MessageView) -> list[Block]:
    emoji = _REASON_EMOJI.get(view.reason, "")
    header = headline(view)
    if len(header) > MAX_HEADER:
        header = header[: MAX_HEADER - 1] + "…"
    blocks: list[Block] = [{"type": "header", "text": {"type": "plain_text", "text": header, "emoji": True}}]
    if view.note:
        blocks.append(_section(f"{emoji} {escape(view.note)}".strip()))
    shown = view.conflicts[:MAX_CONFLICTS_IN_BLOCKS]
    for c in shown:
        blocks.append({"type": "divider"})
        blocks.extend(_conflict_blocks(c, view.reason, view.timezone))
    hidden = len(view.conflicts) - len(shown)
    if hidden > 0:
        blocks.append(
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": f"…and {hidden} more on the team board"}
                ],
            }
        )
    return blocks


def render(view: MessageView) -> tuple[str, list[Block]]:
    return render_text(view), render_blocks(view)


def mark_closed(text: str, blocks: list[Block], note: str) -> tuple[str, list[Block]]:
    """An earlier DM rewritten to say its conflicts are closed (for chat.update)."""
    banner = _section(f":white_check_mark: *{escape(note)}*")
    rest = [b for b in blocks if not _is_banner(b) and not message_actions.is_actions_block(b)]
    new_text = text if text.startswith(f"{note}\n") else f"{note}\n{text}"
    if rest and rest[0].get("type") == "header":
        return new_text, [rest[0], banner, *rest[1:]][:50]
    return new_text, [banner, *rest][:50]


def _is_banner(block: Block) -> bool:
    text = block.get("text")
    return isinstance(text, dict) and str(text.get("text", "")).startswith(":white_check_mark: *")
