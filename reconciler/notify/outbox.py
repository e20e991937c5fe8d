"""The outbox's delivery mechanics: claim one due row under a lock and commit, keep the claim
fresh while it is sent, move it out of `sending` only while the claim holds, back off and retry,
and take back rows whose sender died (after SENDING_LEASE)."""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, or_, update
from sqlmodel import col, select

from connectors.base import Source
from reconciler import store
from reconciler.db import session_scope
from reconciler.models import Notification, NotificationStatus, Person
from reconciler.notify.model import CLOSED_CONFLICT_STATES, DeliveredMessage
from reconciler.notify.views import conflicts_by_id

log = logging.getLogger(__name__)

SENDING_LEASE = timedelta(seconds=30)
"""How long a claimed row stays `sending` without renewal. A live sender renews its claim every
LEASE_RENEW_EVERY seconds while it talks to the channel, so only a dead sender's row comes back,
and within this time; before it is sent again, the channel is asked whether it went out."""
LEASE_RENEW_EVERY = 5.0
MAX_ATTEMPTS = 5
BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_CAP = timedelta(hours=1)


class RenewedClaim:
    """Keeps one claimed row's `claimed_at` fresh from a background thread while it is sent, so
    the lease can be seconds long; a dead process stops renewing and its row comes back."""

    def __init__(self, engine: Engine, row_id: int, token: str, *, claimed_at: Callable[[], datetime]) -> None:
        self.engine, self.row_id, self.token, self.claimed_at = engine, row_id, token, claimed_at
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease:{row_id}", daemon=True)

    def __enter__(self) -> RenewedClaim:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(LEASE_RENEW_EVERY):
            try:
                with session_scope(self.engine) as session:
                    session.execute(
                        update(Notification)
                        .where(Notification.id == self.row_id, Notification.claim_token == self.token)
                        .values(claimed_at=self.claimed_at())
                    )
            except Exception as exc:  # noqa: BLE001 - the store may blink; the next beat retries
                log.warning("could not renew the claim on notification %s: %s", self.row_id, one_line(str(exc)))


def _due(now: datetime) -> Any:
    return (Notification.status == NotificationStatus.PENDING) & or_(
        col(Notification.not_before).is_(None), col(Notification.not_before) <= now
    )


def reclaim_stale(engine: Engine, *, now: datetime) -> int:
    """Rows left in `sending` past the lease (a sender died between claim and mark) go back."""
    with session_scope(engine) as session:
        result = session.execute(
            update(Notification)
            .where(Notification.status == NotificationStatus.SENDING, col(Notification.claimed_at) < now - SENDING_LEASE)
            .values(
                status=NotificationStatus.PENDING,
                claim_token=None,
                attempts=Notification.attempts + 1,
                last_error="claim expired: the sender stopped before marking it sent (Slack is checked before re-sending)",
            )
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


def claim(engine: Engine, *, now: datetime, limit: int, token: str) -> list[int]:
    """Mark up to `limit` due rows `sending` with our token and commit; returns their ids."""
    values = {"status": NotificationStatus.SENDING, "claimed_at": now, "claim_token": token}
    order = (col(Notification.not_before), col(Notification.id))
    with session_scope(engine) as session:
        if engine.dialect.name == "postgresql":
            ids = list(
                session.exec(
                    select(Notification.id).where(_due(now)).order_by(*order).limit(limit).with_for_update(skip_locked=True)
                )
            )
            if ids:
                session.execute(update(Notification).where(col(Notification.id).in_(ids)).values(**values))
            return [i for i in ids if i is not None]
        claimed: list[int] = []
        for row_id in list(session.exec(select(Notification.id).where(_due(now)).order_by(*order).limit(limit))):
            result = session.execute(
                update(Notification)
                .where(Notification.id == row_id, Notification.status == NotificationStatus.PENDING)
                .values(**values)
            )
            if result.rowcount and row_id is not None:  # type: ignore[attr-defined]
                claimed.append(row_id)
        return claimed


@dataclass(frozen=True, slots=True)
class Outgoing:
    row: Notification
    user_id: str | None
    email: str | None  # of a recipient without a user id on the channel, to look one up
    parent: Notification | None
    closed: bool  # every conflict it tells about is closed
    parent_closed: bool  # every conflict of the parent DM is closed


def load_outgoing(engine: Engine, row_id: int) -> Outgoing:
    with session_scope(engine) as session:
        row = session.get(Notification, row_id)
        assert row is not None
        user_id, email = row.recipient_slack_id, None
        if not user_id:
            person = session.exec(select(Person).where(Person.key == row.recipient_key)).first()
            user_id = person.identity(Source.SLACK) if person else None
            email = person.email if person else None
        parent = session.get(Notification, row.parent_id) if row.parent_id else None
        found = conflicts_by_id(session, [*row.conflict_ids, *(parent.conflict_ids if parent else [])])
        states = {found[i].state for i in row.conflict_ids if i in found}
        parent_states = {found[i].state for i in parent.conflict_ids if i in found} if parent else set()
        closed = bool(states) and states <= set(CLOSED_CONFLICT_STATES)
        parent_closed = bool(parent_states) and parent_states <= set(CLOSED_CONFLICT_STATES)
        return Outgoing(row, user_id, email, parent, closed, parent_closed)


def remember_user_id(engine: Engine, person_key: str, user_id: str) -> None:
    """Keep an id found by email as the person's Slack identity, so the next DM needs no lookup."""
    with session_scope(engine) as session:
        store.add_identity_if_missing(session, person_key, Source.SLACK, user_id)


def save_payload(engine: Engine, row_id: int | None, text: str, blocks: list[dict[str, Any]]) -> None:
    with session_scope(engine) as session:
        session.execute(update(Notification).where(Notification.id == row_id).values(text=text, blocks=blocks))


def backoff(attempts: int) -> timedelta:
    return min(BACKOFF_BASE * (2 ** max(attempts - 1, 0)), BACKOFF_CAP)


def failed(
    engine: Engine, row: Notification, token: str, message: DeliveredMessage, *, now: datetime, error: str, permanent: bool
) -> DeliveredMessage:
    """Record a failed attempt: back off and retry, or give up (permanent, or MAX_ATTEMPTS)."""
    attempts = row.attempts + 1
    give_up = permanent or attempts >= MAX_ATTEMPTS
    status = NotificationStatus.FAILED if give_up else NotificationStatus.PENDING
    finish(
        engine, row.id, token, status=status, attempts=attempts, last_error=one_line(error)[:500],
        not_before=row.not_before if give_up else now + backoff(attempts),
    )
    log.warning("notification %s failed (attempt %d%s): %s", row.id, attempts, ", giving up" if give_up else "", error)
    return dataclasses.replace(message, status=status, error=one_line(error))


def finish(engine: Engine, row_id: int | None, token: str, *, status: str, **values: Any) -> bool:
    """Move a claimed row out of `sending`, only if our claim still holds."""
    with session_scope(engine) as session:
        result = session.execute(
            update(Notification)
            .where(Notification.id == row_id, Notification.claim_token == token)
            .values(status=status, claim_token=None, **values)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


def one_line(text_: str) -> str:
    return " ".join(text_.split())
