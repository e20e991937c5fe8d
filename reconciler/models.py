"""The canonical store's tables. The schema is managed by Alembic (reconciler/migrations);
`tests/unit/test_migrations.py` fails when these models and the migrations disagree."""

from __future__ import annotations

from datetime import date, datetime, timezone
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, DateTime, ForeignKey, Index, Integer, UniqueConstraint, text
from sqlalchemy.orm import relationship
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, Relationship, SQLModel

# their home is states.py (the CLI's quick reads know them without the ORM); imported from here too
from reconciler.states import ACTIVE_CONFLICT_STATES, ConflictState, NotificationStatus  # noqa: F401


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use timezone-aware UTC")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def _ts(*, nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


def _json(default: Any) -> Any:
    return Field(default_factory=default, sa_column=Column(JSON, nullable=False))


class NotificationReason(StrEnum):
    NEW = "new"
    REMINDER = "reminder"
    ESCALATION = "escalation"
    RESOLVED = "resolved"
    CHECK_IN = "check_in"  # the daily digest of stale deliverables, per person


class Person(SQLModel, table=True):
    """Someone the protocol names. Their ids in the sources (a Slack user id, an Asana gid) are
    `PersonIdentity` rows, loaded with every person in one query per batch (`identity`)."""

    __tablename__ = "person"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(index=True, unique=True)
    name: str
    email: str | None = Field(default=None, index=True, unique=True)
    timezone: str | None = None
    from_config: bool = True
    updated_at: datetime | None = _ts()
    identities: list["PersonIdentity"] = Relationship(
        sa_relationship=relationship(
            "PersonIdentity", lazy="selectin", cascade="all, delete-orphan", back_populates="person"
        )
    )

    def identity(self, source: str) -> str | None:
        """The person's id in `source` (a plugin name: `slack`, `asana`), if known."""
        return next((i.external_id for i in self.identities if i.source == str(source)), None)

    def external_ids(self) -> dict[str, str]:
        """Source -> the person's id there."""
        return {i.source: i.external_id for i in self.identities}

    def set_identity(self, source: str, external_id: str) -> bool:
        """Make `external_id` the person's id in `source`; whether anything changed."""
        found = next((i for i in self.identities if i.source == str(source)), None)
        if found is None:
            self.identities.append(PersonIdentity(source=str(source), external_id=external_id))
            return True
        if found.external_id == external_id:
            return False
        found.external_id = external_id
        return True


class PersonIdentity(SQLModel, table=True):
    """A person's id in one source: the source's plugin name and the id it gives them. A source
    whose people must be matched needs no column: its `PersonRecord`s become these rows."""

    __tablename__ = "person_identity"
    __table_args__ = (
        UniqueConstraint("source", "external_id", name="uq_person_identity_external_id"),
        UniqueConstraint("person_id", "source", name="uq_person_identity_person_source"),
    )

    id: int | None = Field(default=None, primary_key=True)
    person_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("person.id", ondelete="CASCADE"), nullable=False)
    )
    source: str
    external_id: str
    person: Person | None = Relationship(
        sa_relationship=relationship("Person", back_populates="identities")
    )


class DeliverableLink(SQLModel, table=True):
    """The item a deliverable is declared to be in a source: `kind` (the source plugin's link
    kind, e.g. `asana`) and its id there (`ref`). One row per deliverable and kind."""

    __tablename__ = "deliverable_link"
    __table_args__ = (Index("ix_deliverable_link_ref", "kind", "ref"),)

    deliverable_key: str = Field(primary_key=True)
    kind: str = Field(primary_key=True)
    ref: str


class Deliverable(SQLModel, table=True):
    __tablename__ = "deliverable"
    # The dirty ones, in key order: a few at a time in a large table whose statistics lag
    # behind the flag (a plain index on `dirty` was passed over for a scan). Queries say
    # `dirty == True` so that both databases match the predicate.
    __table_args__ = (
        Index("ix_deliverable_dirty_key", "key", sqlite_where=text("dirty = 1"), postgresql_where=text("dirty")),
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(index=True, unique=True)
    title: str
    owner_key: str | None = None
    owner_set_by: str | None = None
    role: str | None = None
    permalink: str | None = None
    aliases: list[str] = _json(list)
    depends_on: list[str] = _json(list)
    canonical_status: str | None = None
    canonical_status_source: str | None = None
    target_date: date | None = None
    target_date_source: str | None = None
    conditions: dict[str, Any] = _json(dict)
    # Decisions from resolved conflicts, per field: {"status": {"value", "source", "at", "by",
    # "conflict_id"}}. Canonical until a source says something newer; they outlive the conflict.
    decisions: dict[str, Any] = _json(dict)
    dirty: bool = True
    reconciled_at: datetime | None = _ts()
    updated_at: datetime | None = _ts()
    # When time alone may change its findings (a date passing, a check-in falling due): the
    # sweep reconciles it again then. None: only a new claim or decision can.
    next_check_at: datetime | None = _ts(index=True)


class Observation(SQLModel, table=True):
    """The current version of one claim; an edit updates it, a deletion marks it retracted."""

    __tablename__ = "observation"
    # Look-ups by (source, source_ref) use the unique constraint's index, which starts with them:
    # a separate index on the two was a fifth of every insert's index writes for nothing.
    __table_args__ = (
        UniqueConstraint("source", "source_ref", "field", "deliverable_key", name="uq_observation_claim"),
    )

    id: int | None = Field(default=None, primary_key=True)
    deliverable_key: str = Field(index=True)
    source: str
    source_ref: str
    field: str
    value: str | None = None
    kind: str
    author: str | None = None
    excerpt: str = ""
    permalink: str | None = None
    partition: str | None = None
    stated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    edited_at: datetime | None = _ts()
    deleted_at: datetime | None = _ts()
    first_seen_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class Conflict(SQLModel, table=True):
    __tablename__ = "conflict"

    id: int | None = Field(default=None, primary_key=True)
    fingerprint: str = Field(index=True, unique=True)
    deliverable_key: str = Field(index=True)
    kind: str = Field(index=True)
    sources: list[str] = _json(list)
    state: str = Field(default=ConflictState.OPEN, index=True)
    severity: str = "medium"
    summary: str = ""
    evidence: list[int] = _json(list)
    details: dict[str, Any] = _json(dict)
    newest_evidence_at: datetime | None = _ts()
    opened_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    last_seen_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    acknowledged_at: datetime | None = _ts()
    acknowledged_by: str | None = None
    resolved_at: datetime | None = _ts()
    resolved_by: str | None = None
    resolution_value: str | None = None
    resolution_source: str | None = None
    resolution_comment: str | None = None
    escalation_level: int = 0
    next_escalation_at: datetime | None = _ts(index=True)
    suppressed_by: str | None = None
    # The notifier's bookkeeping for the current episode (reset when a closed conflict reopens).
    alert_started_at: datetime | None = _ts()
    notified_at: datetime | None = _ts(index=True)
    last_notified_at: datetime | None = _ts()
    resolution_notified_at: datetime | None = _ts()


class Snooze(SQLModel, table=True):
    """A silence: matchers plus a time window. Never deleted; expiring sets `ends_at`."""

    __tablename__ = "snooze"

    id: int | None = Field(default=None, primary_key=True)
    matchers: dict[str, str] = _json(dict)
    starts_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    ends_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    author: str
    comment: str
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class Notification(SQLModel, table=True):
    """The outbox: written before anything is sent, claimed under a lock, then marked sent."""

    __tablename__ = "notification"

    id: int | None = Field(default=None, primary_key=True)
    idempotency_key: str = Field(index=True, unique=True)
    recipient_key: str = Field(index=True)
    recipient_slack_id: str | None = None
    group_key: str = Field(index=True)
    reason: str
    conflict_ids: list[int] = _json(list)
    status: str = Field(default=NotificationStatus.PENDING, index=True)
    attempts: int = 0
    last_error: str | None = None
    not_before: datetime | None = _ts(index=True)
    claimed_at: datetime | None = _ts()
    message_view: dict[str, Any] = _json(dict)  # channel-neutral, rendered when sent (reconciler.notify.views)
    text: str = ""  # the payload that went out (set when sent; the Slack app and close() rewrite it)
    blocks: list[dict[str, Any]] = _json(list)
    slack_channel: str | None = None
    slack_ts: str | None = None
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    sent_at: datetime | None = _ts()
    parent_id: int | None = Field(default=None, index=True)  # the earlier DM this follows up
    slack_thread_ts: str | None = None
    claim_token: str | None = None
    severity: str = "medium"


class NotificationConflict(SQLModel, table=True):
    """Which conflicts a notification tells about, and at which escalation level."""

    __tablename__ = "notification_conflict"
    __table_args__ = (
        UniqueConstraint("notification_id", "conflict_id", name="uq_notification_conflict"),
    )

    id: int | None = Field(default=None, primary_key=True)
    notification_id: int = Field(index=True)
    conflict_id: int = Field(index=True)
    level: int = 0
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    actor: str
    action: str = Field(index=True)
    conflict_id: int | None = Field(default=None, index=True)
    deliverable_key: str | None = Field(default=None, index=True)
    comment: str | None = None
    details: dict[str, Any] = _json(dict)


class SyncCursor(SQLModel, table=True):
    __tablename__ = "sync_cursor"
    __table_args__ = (UniqueConstraint("source", "partition", name="uq_sync_cursor_partition"),)

    id: int | None = Field(default=None, primary_key=True)
    source: str
    partition: str
    cursor: str | None = None
    last_attempt_at: datetime | None = _ts()
    last_success_at: datetime | None = _ts()
    last_error: str | None = None
    last_error_at: datetime | None = _ts()
    sync_started_at: datetime | None = _ts()  # a sync is under way (see store.partitions_syncing)
    items_synced: int = 0
    requests_made: int = 0
    throttled: int = 0  # of those, answers that were 429 (rate limited), all time


class DeliverableDependency(SQLModel, table=True):
    """Who depends on whom (configuration plus current Asana claims), written by the reconciler
    so that the dependents of a changed deliverable are one indexed lookup."""

    __tablename__ = "deliverable_dependency"

    dependent_key: str = Field(primary_key=True)
    dependency_key: str = Field(primary_key=True, index=True)


class PeriodicRun(SQLModel, table=True):
    """When a periodic job last ran (e.g. the full reconcile, and with which rule configuration)."""

    __tablename__ = "periodic_run"

    name: str = Field(primary_key=True)
    last_run_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    seconds: float | None = None  # how long it took
    fingerprint: str | None = None  # of what it ran with (the full reconcile: the rules' configuration)


class PushedEvent(SQLModel, table=True):
    """A pushed event already taken in (a Slack event_id), so a retry or a repeat changes nothing."""

    __tablename__ = "pushed_event"

    event_id: str = Field(primary_key=True)
    received_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))


class MessageVersion(SQLModel, table=True):
    """The newest version of a message that pushed events have stored (its edited ts, else its
    ts) and whether it was deleted: an older edit or the original arriving late never wins."""

    __tablename__ = "message_version"

    source: str = Field(primary_key=True)
    source_ref: str = Field(primary_key=True)
    version: str
    deleted: bool = False
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
