"""What the Slack app does after it has acknowledged a request: decide through the domain API
(`reconciler.decisions`), then tell people: the DMs about the finding rewritten in place, an
ephemeral line to whoever clicked when nothing changed, the Home tabs concerned re-published, and
(opt-in) the decision written back where its evidence lives.

Nothing here decides who may do what or how a finding's state moves: that is `decisions`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import func
from sqlmodel import Session, col, select

from connectors.base import Source
from connectors.config import parse_duration
from reconciler import conflicts as lifecycle
from reconciler import decisions, message_actions, messages, store, writeback
from reconciler import snoozes as silences
from reconciler.db import session_scope
from reconciler.message_actions import ActionRef
from reconciler.models import (
    ACTIVE_CONFLICT_STATES,
    AuditEvent,
    Conflict,
    Deliverable,
    Notification,
    NotificationConflict,
    NotificationReason,
    NotificationStatus,
    Observation,
)
from reconciler.pipeline import Runtime
from reconciler.routing import Directory
from reconciler.slackapp import render
from reconciler.slackapp.render import FindingLine, ModalContext, SetValueForm

log = logging.getLogger(__name__)

# Audit actions after which a finding's DMs may show something new, and the Home tabs concerned.
DM_CHANGES = frozenset({"resolved", "dismissed", "auto_resolved", "acknowledged", "ack_timeout", "snooze_added"})
HOME_CHANGES = DM_CHANGES | {"opened", "reopened", "owner_changed"}
MAX_HOMES_PER_PASS = 50  # views.publish is Tier 4 (about 100 a minute)

Decide = Callable[[Session, decisions.Actor], Any]


@dataclass
class SlackDecisions:
    rt: Runtime
    client: WebClient

    # -- clicks and submissions -------------------------------------------------------------

    def click(
        self,
        *,
        user: str,
        ref: ActionRef,
        channel: str | None,
        message_ts: str | None,
        trigger_id: str | None,
        selected_user: str | None = None,
    ) -> None:
        """One click on a DM's controls (already acknowledged)."""
        cid = ref.conflict_id
        if ref.action == message_actions.ACCEPT and ref.source:
            source = ref.source
            self._decide(user, cid, channel, lambda s, a: decisions.resolve(
                s, cid, actor=a, config=self.rt.config, comment=f"accepted what {source} says (from Slack)",
                now=self.rt.now(), accept_source=source))
        elif ref.action == message_actions.ACK:
            self._decide(user, cid, channel, lambda s, a: decisions.acknowledge(
                s, cid, actor=a, config=self.rt.config, now=self.rt.now(), comment="acknowledged in Slack"))
        elif ref.action == message_actions.PICK_OWNER and selected_user:
            self._pick_owner(user, cid, channel, selected_user)
        elif ref.action in (message_actions.SET_VALUE, message_actions.SNOOZE) and trigger_id:
            self._open_modal(user, ref, ModalContext(cid, channel, message_ts), trigger_id)

    def submit_set_value(self, *, user: str, context: ModalContext, form: SetValueForm) -> None:
        cid = context.conflict_id
        self._decide(user, cid, context.channel, lambda s, a: decisions.resolve(
            s, cid, actor=a, config=self.rt.config, comment=form.comment, now=self.rt.now(),
            status=form.status, target_date=form.target_date))

    def submit_snooze(self, *, user: str, context: ModalContext, duration: str, comment: str) -> None:
        cid = context.conflict_id
        length = parse_duration(duration)
        self._decide(user, cid, context.channel, lambda s, a: decisions.snooze(
            s, cid, actor=a, config=self.rt.config, duration=length, comment=comment, now=self.rt.now()))

    def _pick_owner(self, user: str, cid: int, channel: str | None, selected_user: str) -> None:
        with session_scope(self.rt.engine) as session:
            person = decisions.person_for_slack_user(session, self.rt.config, selected_user)
        if person is None:
            self._tell(channel, user, f"<@{selected_user}> is not one of the reconciler's people; pick someone else "
                                      "or ask an admin to add them.")
            return
        self._decide(user, cid, channel, lambda s, a: decisions.assign_owner(
            s, cid, person, actor=a, config=self.rt.config, comment=None, now=self.rt.now()))

    def _open_modal(self, user: str, ref: ActionRef, context: ModalContext, trigger_id: str) -> None:
        try:
            with session_scope(self.rt.engine) as session:
                actor = decisions.slack_actor(session, self.rt.config, user)
                conflict = lifecycle.get_conflict(session, ref.conflict_id)
                decisions.check_allowed(session, self.rt.config, actor, conflict.deliverable_key)
                title = Directory.load(session, self.rt.config, [conflict.deliverable_key]).title_of(conflict.deliverable_key)
                kind, summary, state = conflict.kind, conflict.summary, conflict.state
        except (decisions.NotAllowed, LookupError) as exc:
            self._tell(context.channel, user, _one_line(exc))
            return
        if state not in ACTIVE_CONFLICT_STATES:
            self._tell(context.channel, user, f"conflict {ref.conflict_id} is already {state}; nothing to decide.")
            self.refresh_dms(ref.conflict_id)
            return
        if ref.action == message_actions.SNOOZE:
            view = render.snooze_modal(context=context, title=title)
        else:
            view = render.set_value_modal(
                context=context, title=title, kind=kind, summary=summary,
                fields=lifecycle.value_fields(kind), optional=lifecycle.value_optional(kind),
            )
        self.client.views_open(trigger_id=trigger_id, view=view)

    def _decide(self, user: str, conflict_id: int, channel: str | None, decide: Decide) -> None:
        try:
            with session_scope(self.rt.engine) as session:
                actor = decisions.slack_actor(session, self.rt.config, user)
            with session_scope(self.rt.engine) as session:
                decide(session, actor)
        except decisions.AlreadyDecided as exc:
            if exc.by != actor.person_key:  # a repeat of one's own click needs no answer
                self._tell(channel, user, self._already_decided(exc, user))
            self.refresh_dms(conflict_id)
            return
        except (decisions.NotAllowed, LookupError, ValueError) as exc:
            self._tell(channel, user, _one_line(exc))
            return
        self.refresh_dms(conflict_id)
        self._after_decision(conflict_id, user)

    def _already_decided(self, exc: decisions.AlreadyDecided, user: str) -> str:
        """"Already decided: Bob Okafor resolved #4 at Fri 20 Nov 10:00 CET." in the clicker's time zone."""
        with session_scope(self.rt.engine) as session:
            directory = Directory.load(session, self.rt.config)
            key = decisions.person_for_slack_user(session, self.rt.config, user)
        when = f" at {render.when(exc.at, _tz(directory, key))}" if exc.at else ""
        return f"Already decided: {exc.by_name} {exc.state} #{exc.conflict_id}{when}; nothing changed."

    def _after_decision(self, conflict_id: int, user: str) -> None:
        with session_scope(self.rt.engine) as session:
            conflict = lifecycle.get_conflict(session, conflict_id)
            decider = decisions.deciders(session, self.rt.config, conflict.deliverable_key).decider
            decided = conflict.state == "resolved"
            decider_ids = store.identities_of_keys(session, [decider] if decider else [], Source.SLACK)
        for slack_id in {user, *decider_ids.values()}:
            self.publish_home(str(slack_id))
        if decided and self.rt.config.slack_app.writeback:
            self._write_back(conflict_id)

    def _write_back(self, conflict_id: int) -> None:
        """The same plan, writes and audit events as `conflicts resolve --apply`."""
        with session_scope(self.rt.engine) as session:
            conflict = lifecycle.get_conflict(session, conflict_id)
            plan = writeback.without(writeback.plan(session, conflict), writeback.written(session, conflict_id))
            actor = conflict.resolved_by or "slack"
        if not plan.targets:
            return
        clients = writeback.clients(self.rt.settings, self.rt.rate_limiter)
        try:
            outcomes = writeback.execute(plan, clients, scrub=self.rt.scrub)
        finally:
            clients.close()
        with session_scope(self.rt.engine) as session:
            writeback.record(session, plan, outcomes, actor=actor, now=self.rt.now())

    def _tell(self, channel: str | None, user: str, text: str) -> None:
        try:
            if channel is None:
                channel = str(self.client.conversations_open(users=user)["channel"]["id"])
            self.client.chat_postEphemeral(channel=channel, user=user, text=text)
        except SlackApiError as exc:
            log.warning("could not tell %s: %s", user, exc.response.get("error") if exc.response else exc)

    # -- the DMs about a finding --------------------------------------------------------------

    def refresh_dms(self, conflict_id: int) -> int:
        """Rewrite every sent DM about this finding to show its outcome; returns how many changed."""
        now = self.rt.now()
        with session_scope(self.rt.engine) as session:
            conflict = session.get(Conflict, conflict_id)
            if conflict is None:
                return 0
            directory = Directory.load(session, self.rt.config, [conflict.deliverable_key])
            snooze = silences.active_snooze_for(
                conflict, directory.deliverable(conflict.deliverable_key), silences.active_snoozes(session, now=now), now
            )
            closed = conflict.state not in ACTIVE_CONFLICT_STATES
            done = {message_actions.ACK} if conflict.state == "acknowledged" else set()
            if snooze is not None:
                done.add(message_actions.SNOOZE)
            actions = None if closed else render.without_actions(
                message_actions.actions_block(_conflict_view(session, directory, conflict)), done
            )
            changes = []
            for row in _sent_dms(session, conflict_id):
                recipient = directory.recipient(row.recipient_key)
                tz = recipient.timezone if recipient else self.rt.config.timezone
                note = outcome_text(conflict, directory, tz, snooze_until=snooze.ends_at if snooze else None,
                                    snoozed_by=snooze.author if snooze else None)
                blocks = render.refreshed_blocks(row.blocks, conflict_id, outcome=note, actions=actions)
                if blocks != row.blocks and row.slack_channel and row.slack_ts:
                    changes.append((row.id, row.slack_channel, row.slack_ts, row.text, blocks))
        changed = 0
        for row_id, channel, ts, text, blocks in changes:
            try:
                self.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
            except SlackApiError as exc:
                log.warning("could not update DM %s: %s", row_id, exc.response.get("error") if exc.response else exc)
                continue
            with session_scope(self.rt.engine) as session:
                stored = session.get(Notification, row_id)
                if stored is not None:
                    stored.blocks = blocks
                    session.add(stored)
            changed += 1
        return changed

    # -- changes made elsewhere (the CLI, the reconciler, the notifier) --------------------------

    def latest_change(self) -> int:
        with session_scope(self.rt.engine) as session:
            return int(session.exec(select(func.max(AuditEvent.id))).one() or 0)

    def catch_up(self, after: int, *, limit: int = 500) -> int:
        """Follow the audit log past event `after`: DMs about findings decided elsewhere show the
        outcome, and the Home tabs of the deciders concerned are re-published. Returns the last
        event seen (pass it next time). Idempotent: a DM already showing the outcome is left alone."""
        with session_scope(self.rt.engine) as session:
            events = list(session.exec(
                select(AuditEvent).where(col(AuditEvent.id) > after).order_by(col(AuditEvent.id)).limit(limit)
            ))
            if not events:
                return after
            changed = list(dict.fromkeys(
                e.conflict_id for e in events if e.action in DM_CHANGES and e.conflict_id is not None
            ))
            keys = {e.deliverable_key for e in events if e.action in HOME_CHANGES and e.deliverable_key}
            deciders = {decisions.deciders(session, self.rt.config, key).decider for key in sorted(keys)}
            slack_ids = set(store.identities_of_keys(session, [d for d in deciders if d], Source.SLACK).values())
            last = events[-1].id or after
        for conflict_id in changed:
            self.refresh_dms(conflict_id)
        for slack_id in sorted(slack_ids)[:MAX_HOMES_PER_PASS]:
            try:
                self.publish_home(slack_id)
            except SlackApiError as exc:
                log.warning("could not publish the Home tab of %s: %s", slack_id,
                            exc.response.get("error") if exc.response else exc)
        return last

    # -- Home tab and slash command -----------------------------------------------------------

    def publish_home(self, user: str) -> None:
        with session_scope(self.rt.engine) as session:
            try:
                actor = decisions.slack_actor(session, self.rt.config, user)
            except decisions.UnknownActor:
                view = {"type": "home", "blocks": [{"type": "section", "text": {
                    "type": "mrkdwn", "text": "You are not one of the reconciler's people yet; ask an admin to add you."}}]}
            else:
                assert actor.person_key is not None
                directory = Directory.load(session, self.rt.config)
                waiting, asked = findings_of(session, self.rt.config, actor.person_key)
                view = render.home_view(
                    name=directory.display_name(actor.person_key), waiting=waiting, asked=asked,
                    board_url=self.rt.settings.board_url, tz=_tz(directory, actor.person_key),
                )
        self.client.views_publish(user_id=user, view=view)

    def answer_command(self, user: str, text: str) -> list[dict[str, Any]]:
        words = text.split()
        with session_scope(self.rt.engine) as session:
            try:
                actor = decisions.slack_actor(session, self.rt.config, user)
            except decisions.UnknownActor as exc:
                return [_plain_section(str(exc))]
            directory = Directory.load(session, self.rt.config)
            tz = _tz(directory, actor.person_key)
            if words[:1] == ["mine"]:
                waiting, _ = findings_of(session, self.rt.config, actor.person_key or "")
                return render.findings_answer("Waiting on you", waiting, tz, empty="Nothing waits on you.")
            if words[:1] == ["status"] and len(words) == 2:
                return _status(session, self.rt.config, words[1], tz)
        return [_plain_section(render.USAGE)]


def _plain_section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _tz(directory: Directory, person_key: str | None) -> str:
    recipient = directory.recipient(person_key) if person_key else None
    return recipient.timezone if recipient else directory.config.timezone


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:1].upper() + text[1:] if text else type(exc).__name__


def _conflict_view(session: Session, directory: Directory, conflict: Conflict) -> messages.ConflictView:
    """What the finding's controls are built from (its sources and what each says now)."""
    assert conflict.id is not None
    found = store.observations_by_id(session, conflict.evidence)
    evidence = tuple(
        messages.EvidenceView(source=o.source, author=directory.author_name(o.author), stated_at=o.stated_at,
                              value=o.value, excerpt=o.excerpt, permalink=o.permalink)
        for o in (found.get(i) for i in conflict.evidence) if o is not None
    )
    return messages.ConflictView(
        id=conflict.id, deliverable_key=conflict.deliverable_key, deliverable_title=directory.title_of(conflict.deliverable_key),
        kind=conflict.kind, severity=conflict.severity, summary=conflict.summary, sources=tuple(conflict.sources),
        evidence=evidence, opened_at=conflict.opened_at,
    )


def _sent_dms(session: Session, conflict_id: int) -> list[Notification]:
    stmt = (
        select(Notification)
        .join(NotificationConflict, col(NotificationConflict.notification_id) == col(Notification.id))
        .where(
            NotificationConflict.conflict_id == conflict_id,
            Notification.status == NotificationStatus.SENT,
            Notification.reason != NotificationReason.RESOLVED,  # a notice that it closed: nothing to add
            col(Notification.slack_ts).is_not(None),
        )
        .order_by(col(Notification.id))
    )
    return list(session.exec(stmt))


def outcome_text(
    conflict: Conflict, directory: Directory, tz: str, *, snooze_until: Any = None, snoozed_by: str | None = None
) -> str | None:
    """One line: who decided what and when (or who acknowledged / snoozed it)."""
    if conflict.state in ("resolved", "dismissed"):
        if conflict.resolved_by == "auto":
            return f":white_check_mark: Closed by the reconciler {render.when(conflict.resolved_at, tz)}: the sources agree again."
        verb = "Resolved" if conflict.state == "resolved" else "Dismissed"
        what = ""
        if conflict.resolution_source:
            what = f": accepted {conflict.resolution_source} ({conflict.resolution_value})"
        elif conflict.resolution_value:
            what = f": set to {conflict.resolution_value}"
        comment = f" — “{conflict.resolution_comment}”" if conflict.resolution_comment else ""
        who = directory.display_name(conflict.resolved_by)
        return render.escape_text(f":white_check_mark: {verb} by {who}, {render.when(conflict.resolved_at, tz)}{what}{comment}")
    lines = []
    if conflict.state == "acknowledged":
        lines.append(f":eyes: Acknowledged by {directory.display_name(conflict.acknowledged_by)}, "
                     f"{render.when(conflict.acknowledged_at, tz)}")
    if snooze_until is not None:
        lines.append(f":zzz: Snoozed by {directory.display_name(snoozed_by)} until {render.when(snooze_until, tz)}")
    return render.escape_text(" · ".join(lines)) if lines else None


def _line(conflict: Conflict, directory: Directory, decider: str | None) -> FindingLine:
    assert conflict.id is not None
    return FindingLine(
        conflict_id=conflict.id, deliverable_key=conflict.deliverable_key, title=directory.title_of(conflict.deliverable_key),
        kind=conflict.kind, state=conflict.state, summary=conflict.summary, opened_at=conflict.opened_at,
        decider=directory.display_name(decider),
    )


def findings_of(session: Session, config: Any, person_key: str) -> tuple[list[FindingLine], list[FindingLine]]:
    """(open findings this person decides, open findings opened by what they said that someone
    else decides), oldest first."""
    active = list(session.exec(
        select(Conflict).where(col(Conflict.state).in_(list(ACTIVE_CONFLICT_STATES))).order_by(col(Conflict.opened_at), col(Conflict.id))
    ))
    directory = Directory.load(session, config, {c.deliverable_key for c in active})
    person = directory.people.get(person_key)
    mine_as_author = {a for a in (person_key, *(
        (*person.external_ids().values(), person.email) if person else ())) if a}
    evidence_ids = [i for c in active for i in c.evidence]
    authored: set[int] = set()
    for start in range(0, len(evidence_ids), 500):
        chunk = evidence_ids[start:start + 500]
        authored.update(
            i for i, author in session.exec(
                select(Observation.id, Observation.author).where(col(Observation.id).in_(chunk))
            ) if author in mine_as_author and i is not None
        )
    waiting, asked = [], []
    deciders: dict[str, str | None] = {}
    for conflict in active:
        key = conflict.deliverable_key
        if key not in deciders:
            deciders[key] = decisions.deciders(session, config, key).decider
        if deciders[key] == person_key:
            waiting.append(_line(conflict, directory, deciders[key]))
        elif authored.intersection(conflict.evidence):
            asked.append(_line(conflict, directory, deciders[key]))
    return waiting, asked


def _status(session: Session, config: Any, key: str, tz: str) -> list[dict[str, Any]]:
    deliverable = session.exec(select(Deliverable).where(Deliverable.key == key)).first()
    if deliverable is None:
        return [_plain_section(f"No deliverable `{render.escape_text(key)}`. {render.USAGE}")]
    directory = Directory.load(session, config, [key])
    active = session.exec(
        select(Conflict).where(Conflict.deliverable_key == key, col(Conflict.state).in_(list(ACTIVE_CONFLICT_STATES)))
        .order_by(col(Conflict.opened_at), col(Conflict.id))
    ).all()
    decider = decisions.deciders(session, config, key).decider
    return render.status_answer(
        title=directory.title_of(key), key=key, status=deliverable.canonical_status, target_date=deliverable.target_date,
        owner=directory.display_name(deliverable.owner_key) if deliverable.owner_key else "none",
        findings=[_line(c, directory, decider) for c in active], tz=tz,
    )

