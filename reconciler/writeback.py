"""Write a resolved conflict's decision back where its evidence lives, so the sources stop
contradicting each other: one reply in each Slack thread that carried evidence, one comment on
each Asana task that did. Task fields are never changed (the status custom field stays as it is).

`plan` is pure reading (what would be written where, the text); `execute` writes through the
same clients the connectors use (`make_web_client`, `AsanaHttp`) and never raises for a target:
each ends in an `Outcome`; `record` keeps every outcome as an audit event (`writeback`,
`writeback_failed`). Error lines name the channel or task and pass through `scrub`.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from sqlmodel import Session, select

from connectors.base import CanonicalStatus, ConnectorError, RateLimiter, Source
from reconciler import store, untrusted
from reconciler.models import AuditEvent, Conflict, Deliverable, Observation, Person
from reconciler.settings import Settings

if TYPE_CHECKING:
    from slack_sdk import WebClient

    from connectors.asana.connector import AsanaHttp

STATUS_UPDATE_PREFIX = "status_update:"
WRITEBACK_EVENT = "reconciler_writeback"  # the metadata event type that marks our thread replies
REPLY_PAGES = 5  # pages of a thread searched for a reply whose answer was lost
UNCHANGED_NOTE = "Asana task fields are not changed (the status field stays as it is; update it in Asana if needed)."


@dataclass(frozen=True)
class Target:
    """One place to write: a Slack thread (`ref` = channel id, `thread_ts`) or an Asana task."""

    source: str
    ref: str
    label: str
    permalink: str | None = None
    thread_ts: str | None = None

    def describe(self) -> str:
        link = self.permalink or "(no permalink)"
        if self.source == Source.SLACK:
            return f"{self.label}: reply in thread {link}"
        return f"{self.label}: comment on {link}"


@dataclass(frozen=True)
class Plan:
    conflict_id: int
    deliverable_key: str
    text: str
    targets: tuple[Target, ...]
    skipped: tuple[str, ...] = ()

    def needs(self, source: Source) -> bool:
        return any(t.source == source for t in self.targets)


@dataclass(frozen=True)
class Outcome:
    target: Target
    ok: bool
    detail: str  # the Slack ts or the Asana story gid; the one-line error when not ok


@dataclass
class Clients:
    """Built on first use, so a plan with no Asana target needs no Asana token."""

    slack_factory: Callable[[], WebClient]
    asana_factory: Callable[[], AsanaHttp]
    _slack: WebClient | None = field(default=None, init=False)
    _asana: AsanaHttp | None = field(default=None, init=False)

    def slack(self) -> WebClient:
        if self._slack is None:
            self._slack = self.slack_factory()
        return self._slack

    def asana(self) -> AsanaHttp:
        if self._asana is None:
            self._asana = self.asana_factory()
        return self._asana

    def close(self) -> None:
        if self._asana is not None:
            self._asana.close()


# -- planning -------------------------------------------------------------------------------


def plan(session: Session, conflict: Conflict) -> Plan:
    """What `--apply` writes for a decided conflict, read from its evidence (no API calls)."""
    assert conflict.id is not None
    found = store.observations_by_id(session, conflict.evidence)
    evidence = [found[i] for i in conflict.evidence if i in found]
    slack = slack_targets(evidence)
    asana, skipped = asana_targets(evidence)
    return Plan(
        conflict_id=conflict.id,
        deliverable_key=conflict.deliverable_key,
        text=decision_text(
            conflict,
            decider=_person_name(session, conflict.resolved_by),
            deliverable=_deliverable_title(session, conflict.deliverable_key),
        ),
        targets=tuple(slack + asana),
        skipped=tuple(skipped),
    )


def decision_text(conflict: Conflict, *, decider: str, deliverable: str) -> str:
    """"Decision by Erin Park: Checkout v2 is blocked (keys missing). Recorded as conflict #4."."""
    why = (conflict.resolution_comment or "").strip()
    value = conflict.resolution_value
    if value:
        said = f"{deliverable} is {_say(value)}" + (f" ({why})" if why else "")
    else:
        said = f"{deliverable}: {why}" if why else deliverable
    return f"Decision by {decider}: {said}. Recorded as conflict #{conflict.id}."


def _say(value: str) -> str:
    if value in CanonicalStatus._value2member_map_:
        return value.replace("_", " ")
    return f"due {value}"  # the only other decided value is a target date


def slack_targets(evidence: Iterable[Observation]) -> list[Target]:
    """One target per thread: a reply's thread is its parent's (from the permalink's thread_ts)."""
    targets: dict[tuple[str, str], Target] = {}
    for obs in evidence:
        if obs.source != Source.SLACK:
            continue
        channel, _, ts = obs.source_ref.partition(":")
        if not channel or not ts:
            continue
        thread = _thread_ts(obs.permalink) or ts
        if (channel, thread) not in targets:
            targets[(channel, thread)] = Target(
                source=Source.SLACK.value,
                ref=channel,
                label=_channel_label(channel, obs.partition),
                permalink=_thread_permalink(obs.permalink, thread, ts),
                thread_ts=thread,
            )
    return list(targets.values())


def asana_targets(evidence: Iterable[Observation]) -> tuple[list[Target], list[str]]:
    """One target per task; project status updates take no comments and are skipped (said)."""
    targets: dict[str, Target] = {}
    skipped: list[str] = []
    for obs in evidence:
        if obs.source != Source.ASANA:
            continue
        ref = obs.source_ref
        if ref.startswith(STATUS_UPDATE_PREFIX):
            note = f"Asana project {ref[len(STATUS_UPDATE_PREFIX):]} status update (status updates take no comments)"
            if note not in skipped:
                skipped.append(note)
            continue
        if ref not in targets:
            targets[ref] = Target(source=Source.ASANA.value, ref=ref, label=f"Asana task {ref}", permalink=obs.permalink)
    return list(targets.values()), skipped


def _thread_ts(permalink: str | None) -> str | None:
    """A reply's permalink carries `?thread_ts=<parent ts>`; a top-level message's does not."""
    if not permalink:
        return None
    values = parse_qs(urlsplit(permalink).query).get("thread_ts")
    return values[0] if values else None


def _thread_permalink(permalink: str | None, thread: str, ts: str) -> str | None:
    """The thread's link: the parent's permalink (built from a reply's, same workspace)."""
    if not permalink or thread == ts:
        return permalink
    parts = urlsplit(permalink)
    base = parts.path.rsplit("/", 1)[0]
    return f"{parts.scheme}://{parts.netloc}{base}/p{thread.replace('.', '')}"


def _channel_label(channel: str, partition: str | None) -> str:
    if partition and partition not in (channel, f"#{channel}"):
        return f"Slack #{partition.lstrip('#')} ({channel})"
    return f"Slack channel {channel}"


def _person_name(session: Session, key: str | None) -> str:
    if not key:
        return "someone"
    person = session.exec(select(Person).where(Person.key == key)).first()
    return person.name if person is not None else key


def _deliverable_title(session: Session, key: str) -> str:
    deliverable = session.exec(select(Deliverable).where(Deliverable.key == key)).first()
    return deliverable.title if deliverable is not None and deliverable.title else key


Place = tuple[str, str, str | None]  # (source, channel or task gid, thread ts)


def written(session: Session, conflict_id: int) -> set[Place]:
    """Where a write-back of this conflict already went (its `writeback` audit events)."""
    events = session.exec(
        select(AuditEvent).where(AuditEvent.conflict_id == conflict_id, AuditEvent.action == "writeback")
    )
    places: set[Place] = set()
    for event in events:
        details = event.details or {}
        if details.get("target") == Source.SLACK:
            places.add((Source.SLACK.value, str(details.get("channel")), details.get("thread_ts")))
        else:
            places.add((Source.ASANA.value, str(details.get("task")), None))
    return places


def without(plan: Plan, reached: set[Place]) -> Plan:
    """`plan` minus the targets already reached, so a retry never writes anything twice."""
    return replace(plan, targets=tuple(t for t in plan.targets if (t.source, t.ref, t.thread_ts) not in reached))


# -- clients --------------------------------------------------------------------------------


def required_tokens(settings: Settings, plans: Iterable[Plan]) -> None:
    """Raise the one-line ConnectorError for a token the plans need and do not have."""
    plans = list(plans)
    if any(p.needs(Source.SLACK) for p in plans) and not _secret(settings.slack_bot_token):
        raise ConnectorError("slack: no token configured (set SLACK_BOT_TOKEN); nothing recorded")
    if any(p.needs(Source.ASANA) for p in plans) and not _secret(settings.asana_token):
        raise ConnectorError("asana: no token configured (set ASANA_TOKEN); nothing recorded")


def _secret(value: Any) -> str:
    return value.get_secret_value() if value is not None else ""


def clients(settings: Settings, rate_limiter: RateLimiter) -> Clients:
    """Slack and Asana clients configured as the connectors configure theirs."""

    def slack() -> WebClient:
        from connectors.slack.client import make_web_client

        return make_web_client(_secret(settings.slack_bot_token), settings.slack_base_url)

    def asana() -> AsanaHttp:
        from connectors.asana.connector import DEFAULT_TIMEOUT, AsanaHttp

        return AsanaHttp(
            token=_secret(settings.asana_token),
            base_url=settings.asana_base_url,
            rate_limiter=rate_limiter,
            max_retries=5,
            backoff=0.5,
            max_backoff=60.0,
            sleep=time.sleep,
            timeout=DEFAULT_TIMEOUT,
            pool_size=1,
            page_size=100,
        )

    return Clients(slack_factory=slack, asana_factory=asana)


# -- writing --------------------------------------------------------------------------------


def execute(plan: Plan, clients: Clients, *, scrub: Callable[[str], str]) -> list[Outcome]:
    """Write the plan's text to every target; a failed target does not stop the others."""
    outcomes: list[Outcome] = []
    for target in plan.targets:
        try:
            if target.source == Source.SLACK:
                detail = _post_slack(clients, target, plan.text, mark=_reply_mark(plan))
            else:
                detail = _post_asana(clients, target, plan.text)
            outcomes.append(Outcome(target, True, detail))
        except ConnectorError as exc:
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            outcomes.append(Outcome(target, False, scrub(message)))
    return outcomes


def _reply_mark(plan: Plan) -> str:
    """Names this decision's reply: the conflict and a digest of the text (conflict ids alone
    repeat after a store is reset)."""
    return f"{plan.conflict_id}/{hashlib.sha256(plan.text.encode()).hexdigest()[:16]}"


def _post_slack(clients: Clients, target: Target, text: str, *, mark: str) -> str:
    """Reply in the thread once: a reply already there (an earlier run whose answer was lost, or
    that died before recording it) is reused; a post whose answer is lost is looked for."""
    from connectors.slack.client import describe_transport_error, outcome_unknown

    client = clients.slack()
    found = _find_reply(client, target, mark)
    if found is not None:
        return found
    try:
        answer = client.chat_postMessage(
            channel=target.ref, thread_ts=target.thread_ts, text=_slack_escape(text),
            metadata={"event_type": WRITEBACK_EVENT, "event_payload": {"writeback": mark}},
        )
    except Exception as exc:  # one line below, or re-raised when it is no API failure
        found = _find_reply(client, target, mark) if outcome_unknown(exc) else None
        if found is not None:
            return found
        described = describe_transport_error(exc, where=target.label.removeprefix("Slack "))
        if described is None:
            raise
        raise described from None
    return str(answer.get("ts") or "")


def _find_reply(client: WebClient, target: Target, mark: str) -> str | None:
    """The ts of our reply carrying `mark` in the target's thread, or None (also when the thread
    cannot be read: the post then says why, or goes out)."""
    if not target.thread_ts:
        return None
    cursor: str | None = None
    try:
        for _ in range(REPLY_PAGES):
            page = client.conversations_replies(
                channel=target.ref, ts=target.thread_ts, cursor=cursor, limit=200, include_all_metadata=True
            )
            for message in page.get("messages") or []:
                meta = message.get("metadata") or {}
                if meta.get("event_type") == WRITEBACK_EVENT and (meta.get("event_payload") or {}).get("writeback") == mark:
                    return str(message["ts"])
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                return None
    except Exception:  # noqa: BLE001 - a thread we cannot read: the post decides
        return None
    return None


def _post_asana(clients: Clients, target: Target, text: str) -> str:
    story = clients.asana().add_comment(target.ref, text)
    return str(story["gid"])


def _slack_escape(text: str) -> str:
    """Slack's mrkdwn control characters, so a comment like `<2 days` shows as typed."""
    return untrusted.for_slack(text)


def record(session: Session, plan: Plan, outcomes: Iterable[Outcome], *, actor: str, now: datetime) -> None:
    """One audit event per target: `writeback` (with the Slack ts or story gid) or `writeback_failed`."""
    for outcome in outcomes:
        store.audit(
            session,
            actor=actor,
            action="writeback" if outcome.ok else "writeback_failed",
            now=now,
            conflict_id=plan.conflict_id,
            deliverable_key=plan.deliverable_key,
            comment=None if outcome.ok else outcome.detail,
            details=audit_details(outcome),
        )


def audit_details(outcome: Outcome) -> dict[str, Any]:
    target = outcome.target
    if target.source == Source.SLACK:
        where: dict[str, Any] = {"target": "slack", "channel": target.ref, "thread_ts": target.thread_ts}
        result = "ts"
    else:
        where = {"target": "asana", "task": target.ref}
        result = "story_gid"
    where["permalink"] = target.permalink
    return {**where, result: outcome.detail} if outcome.ok else {**where, "error": outcome.detail}
