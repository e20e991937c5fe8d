"""The states a conflict and a notification go through, as stored. Apart from the models so the
CLI's quick reads (reconciler/quick_read.py) know them without loading the ORM."""

from __future__ import annotations

from enum import StrEnum


class ConflictState(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    DISMISSED = "dismissed"


ACTIVE_CONFLICT_STATES = (ConflictState.OPEN, ConflictState.ACKNOWLEDGED)


class NotificationStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"


FULL_RECONCILE_RUN = "full_reconcile"
"""The `periodic_run` row of the last full reconcile (store.last_full_pass)."""
