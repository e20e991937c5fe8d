"""Shared helpers for the notifier tests: a small team config, conflicts written straight into
the store (the engine is not needed), and a fake Slack client for DB-level delivery tests."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse
from sqlalchemy import Engine
from sqlmodel import select

from reconciler import notify, store
from reconciler.db import session_scope
from reconciler.models import (
    Conflict,
    Deliverable,
    Notification,
    NotificationConflict,
    Observation,
)
from reconciler.protocol import Config, parse_config

# Tuesday 2026-11-24 09:00 UTC (10:00 in Berlin): office hours everywhere in Europe.
T0 = datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)

PEOPLE = [
    {"key": "alice", "name": "Alice Ng", "slack_id": "U01", "asana_gid": "501", "timezone": "UTC"},
    {"key": "bob", "name": "Bob Okafor", "slack_id": "U02", "asana_gid": "502", "timezone": "UTC"},
    {"key": "carol", "name": "Carol Diaz", "slack_id": "U03", "asana_gid": "503", "timezone": "Europe/Berlin"},
    {"key": "dan", "name": "Dan Weber", "slack_id": "U04", "asana_gid": "504"},
    {"key": "erin", "name": "Erin Park", "slack_id": "U05", "asana_gid": "505", "timezone": "UTC"},
]


def make_config(**alerts: Any) -> Config:
    settings = {
        "group_wait": "30s",
        "group_interval": "5m",
        "repeat_interval": "20h",
        "ack_timeout": "48h",
        "quiet_hours": "off",
        **alerts,
    }
    return parse_config(
        {
            "timezone": "UTC",
            "default_role": "engineering",
            "people": PEOPLE,
            "roles": [
                {
                    "name": "engineering",
                    "lead": "bob",
                    "head": "erin",
                    "escalation": [
                        {"after": "0h", "to": "owner", "when": "always"},
                        {"after": "24h", "to": "lead", "when": "not_acknowledged"},
                        {"after": "72h", "to": "head", "when": "not_resolved"},
                    ],
                }
            ],
            "deliverables": [
                {"key": "payments-api", "title": "Payments API", "owner": "alice"},
                {"key": "checkout-v2", "title": "Checkout v2", "owner": "alice", "depends_on": ["payments-api"]},
                {"key": "launch", "title": "Launch campaign", "owner": "dan", "depends_on": ["checkout-v2"]},
                {"key": "search", "title": "Search relevance", "owner": "carol"},
                {"key": "onboarding", "title": "Onboarding flow"},
            ],
            "alerts": settings,
        }
    )


def seed(engine: Engine, config: Config) -> None:
    with session_scope(engine) as session:
        store.sync_config(session, config, now=T0 - timedelta(days=1))
        for d in session.exec(select(Deliverable)):
            d.dirty = False
            session.add(d)


_refs = itertools.count(1)


def open_conflict(
    engine: Engine,
    key: str,
    *,
    at: datetime = T0,
    kind: str = "status_contradiction",
    severity: str = "medium",
    shares_evidence_with: int | None = None,
) -> int:
    """An open conflict between an Asana field and a Slack message about `key` (new claims, or
    the claims of conflict `shares_evidence_with`)."""
    n = next(_refs)
    with session_scope(engine) as session:
        asana = Observation(
            deliverable_key=key, source="asana", source_ref=f"task-{n}", field="status", value="done",
            kind="state", author="501", excerpt="Status: Done", permalink=f"https://app.asana.test/0/{n}",
            stated_at=at - timedelta(hours=2), first_seen_at=at, updated_at=at,
        )
        slack = Observation(
            deliverable_key=key, source="slack", source_ref=f"C01:{n}.0001", field="status", value="blocked",
            kind="event", author="U02", excerpt=f"{key} is blocked on <payments> & more",
            permalink=f"https://acme.slack.test/archives/C01/p{n}", stated_at=at - timedelta(hours=1),
            first_seen_at=at, updated_at=at,
        )
        session.add(asana)
        session.add(slack)
        session.flush()
        evidence = [asana.id, slack.id]
        if shares_evidence_with is not None:
            other = session.get(Conflict, shares_evidence_with)
            assert other is not None
            evidence = list(other.evidence)
        conflict = Conflict(
            fingerprint=f"{key}:{kind}:{n}", deliverable_key=key, kind=kind, sources=["asana", "slack"],
            severity=severity, summary="Asana says done, Slack says blocked", evidence=evidence,
            opened_at=at, last_seen_at=at,
        )
        session.add(conflict)
        session.flush()
        assert conflict.id is not None
        return conflict.id


def set_state(engine: Engine, conflict_id: int, state: str, *, at: datetime, by: str | None = None) -> None:
    """What the engine and the CLI do to a conflict."""
    with session_scope(engine) as session:
        c = session.get(Conflict, conflict_id)
        assert c is not None
        c.state = state
        if state == "acknowledged":
            c.acknowledged_at, c.acknowledged_by = at, by
        elif state in ("resolved", "dismissed"):
            c.resolved_at, c.resolved_by = at, by or "auto"
        elif state == "open":
            c.resolved_at = c.resolved_by = None
        session.add(c)


def plan(engine: Engine, config: Config, now: datetime) -> notify.PlanReport:
    with session_scope(engine) as session:
        return notify.plan_notifications(session, config=config, now=now)


def conflict(engine: Engine, conflict_id: int) -> Conflict:
    with session_scope(engine) as session:
        c = session.get(Conflict, conflict_id)
        assert c is not None
        return c


def outbox(engine: Engine) -> list[Notification]:
    with session_scope(engine) as session:
        return list(session.exec(select(Notification).order_by(Notification.id)))


def summary(rows: list[Notification]) -> list[tuple[str, str, list[int]]]:
    return [(r.recipient_key, r.reason, sorted(r.conflict_ids)) for r in rows]


def links(engine: Engine) -> list[NotificationConflict]:
    with session_scope(engine) as session:
        return list(session.exec(select(NotificationConflict).order_by(NotificationConflict.id)))


# -- a Slack stand-in for DB-level delivery tests --------------------------------------------


@dataclass
class FakeSlack:
    """Duck-types the three WebClient methods the notifier calls."""

    calls: list[dict[str, Any]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # Slack error codes to raise, in order
    crash_after_post: bool = False
    unreachable: bool = False  # every call times out, as when Slack gives no answer at all
    _ts: itertools.count = field(default_factory=lambda: itertools.count(1))

    def _fail_maybe(self, method: str) -> None:
        if self.unreachable:
            self.calls.append({"method": method, "timed_out": True})
            raise TimeoutError(f"{method}: timed out")
        if self.failures:
            code = self.failures.pop(0)
            response = SlackResponse(
                client=None, http_verb="POST", api_url=f"https://slack.test/api/{method}", req_args={},
                data={"ok": False, "error": code}, headers={}, status_code=200,
            )
            raise SlackApiError(f"The request to the Slack API failed. (url: {method})", response)

    def conversations_open(self, *, users: str) -> dict[str, Any]:
        self._fail_maybe("conversations.open")
        return {"ok": True, "channel": {"id": "D" + users}}

    def chat_postMessage(self, **kwargs: Any) -> dict[str, Any]:
        self._fail_maybe("chat.postMessage")
        ts = f"1700000000.{next(self._ts):06d}"
        self.calls.append({"method": "chat.postMessage", "ts": ts, **kwargs})
        if self.crash_after_post:
            raise SystemExit("simulated crash between sending and marking sent")
        return {"ok": True, "channel": kwargs["channel"], "ts": ts}

    def chat_update(self, **kwargs: Any) -> dict[str, Any]:
        self._fail_maybe("chat.update")
        self.calls.append({"method": "chat.update", **kwargs})
        return {"ok": True, "channel": kwargs["channel"], "ts": kwargs["ts"]}

    def posts(self) -> list[dict[str, Any]]:
        return [c for c in self.calls if c["method"] == "chat.postMessage"]

    def _messages(self, channel: str, thread_ts: str | None) -> list[dict[str, Any]]:
        return [
            {"ts": c["ts"], "text": c.get("text"), **({"metadata": c["metadata"]} if c.get("metadata") else {})}
            for c in self.posts()
            if c["channel"] == channel and c.get("thread_ts") == thread_ts
        ]

    def conversations_history(self, *, channel: str, **_: Any) -> dict[str, Any]:
        """Top-level messages of the channel, newest first (one page)."""
        return {"ok": True, "messages": self._messages(channel, None)[::-1], "response_metadata": {"next_cursor": ""}}

    def conversations_replies(self, *, channel: str, ts: str, **_: Any) -> dict[str, Any]:
        return {"ok": True, "messages": self._messages(channel, ts), "response_metadata": {"next_cursor": ""}}


def deliver(engine: Engine, client: Any, now: datetime, **kwargs: Any) -> notify.DeliverReport:
    return notify.deliver_pending(engine, client=client, now=now, min_interval_per_channel=0, **kwargs)
