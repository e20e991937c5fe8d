"""Reads of the store through the DB-API driver alone (sqlite3, psycopg), for the CLI's read
commands: no SQLAlchemy, no models, no alembic (each costs a read command its start-up time
several times over). Table and column names are the models' (reconciler/models.py); the rows
come back as the ORM's reads make them: timestamps timezone-aware UTC, JSON columns decoded.

Anything these reads do not expect (a URL form, a missing file, a store not at the newest
migration, a driver error) is `StoreNotReady`: the caller then goes the ORM's way, which
migrates, or says what is wrong."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

from reconciler.migration_heads import head_revisions
from reconciler.states import ACTIVE_CONFLICT_STATES, FULL_RECONCILE_RUN, NotificationStatus

_SQLITE_PREFIX = "sqlite:///"
_POSTGRES_PREFIXES = ("postgresql://", "postgresql+psycopg://")

# A conflict's JSON fields in `conflicts list` (cli/conflicts.py: conflict_summary), each with the
# `conflict` column it comes from
CONFLICT_SUMMARY_COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "id"),
    ("deliverable", "deliverable_key"),
    ("kind", "kind"),
    ("state", "state"),
    ("severity", "severity"),
    ("sources", "sources"),
    ("summary", "summary"),
    ("opened_at", "opened_at"),
    ("last_seen_at", "last_seen_at"),
    ("resolved_at", "resolved_at"),
    ("resolved_by", "resolved_by"),
    ("resolution_value", "resolution_value"),
    ("resolution_source", "resolution_source"),
    ("resolution_comment", "resolution_comment"),
    ("escalation_level", "escalation_level"),
    ("suppressed_by", "suppressed_by"),
)
_JSON_COLUMNS = frozenset({"sources"})
_TIME_COLUMNS = frozenset({"opened_at", "last_seen_at", "resolved_at", "last_success_at", "last_error_at",
                           "created_at", "not_before", "last_run_at"})


class StoreNotReady(Exception):
    """The quick read cannot answer for this store; the ORM's way can (or says why not)."""


@dataclass
class QuickStore:
    """One read-only connection; `mark` is the driver's parameter placeholder."""

    connection: Any
    backend: str
    driver_error: type[Exception]  # sqlite3.Error or psycopg.Error

    @property
    def mark(self) -> str:
        return "?" if self.backend == "sqlite" else "%s"

    def rows(self, sql: str, params: Sequence[object] = ()) -> list[dict[str, Any]]:
        """`sql` with `{p}` for each placeholder; rows as dicts of decoded values."""
        try:
            cursor = self.connection.cursor()
            cursor.execute(sql.replace("{p}", self.mark), tuple(params))
            names = [d[0] for d in cursor.description]
            fetched = cursor.fetchall()
            cursor.close()
        except self.driver_error as exc:
            raise StoreNotReady(type(exc).__name__) from None
        return [{n: _decoded(n, v) for n, v in zip(names, row)} for row in fetched]


def _decoded(column: str, value: Any) -> Any:
    if value is None:
        return None
    if column in _TIME_COLUMNS:
        return _utc(value)
    if column in _JSON_COLUMNS and isinstance(value, str | bytes):
        return json.loads(value)
    return value


def _utc(value: datetime | str) -> datetime:
    """As models.UTCDateTime reads it: SQLite's naive text is UTC, PostgreSQL's value in UTC."""
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    return when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when.astimezone(timezone.utc)


@contextmanager
def quick_store(database_url: str) -> Iterator[QuickStore]:
    """A read-only connection to a store at the newest migration, or `StoreNotReady`."""
    store = _connect(database_url)
    try:
        stamped = {r["version_num"] for r in store.rows("SELECT version_num FROM alembic_version")}
        if frozenset(stamped) != head_revisions():
            raise StoreNotReady("the store is not at the newest migration")
        yield store
    finally:
        store.connection.close()


def _connect(database_url: str) -> QuickStore:
    if "?" in database_url or "#" in database_url:
        raise StoreNotReady("URL options are left to the ORM's engine")
    if database_url.startswith(_SQLITE_PREFIX):
        return _connect_sqlite(database_url.removeprefix(_SQLITE_PREFIX))
    for prefix in _POSTGRES_PREFIXES:
        if database_url.startswith(prefix):
            return _connect_postgres("postgresql://" + database_url.removeprefix(prefix))
    raise StoreNotReady("not a SQLite file or PostgreSQL URL")


def _connect_sqlite(path_text: str) -> QuickStore:
    if not path_text or path_text == ":memory:" or "%" in path_text:
        raise StoreNotReady("not a plain SQLite file path")
    path = Path(path_text).absolute()
    try:  # read-only: a missing file stays missing (the ORM's way creates and migrates it)
        connection = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error:
        raise StoreNotReady("cannot open the SQLite file read-only") from None
    return QuickStore(connection, "sqlite", sqlite3.Error)


def _connect_postgres(conninfo: str) -> QuickStore:
    import psycopg

    try:
        connection = psycopg.connect(conninfo, autocommit=True)
    except psycopg.Error:
        raise StoreNotReady("cannot connect to PostgreSQL") from None
    return QuickStore(connection, "postgresql", psycopg.Error)


# -- `conflicts list` ---------------------------------------------------------------------------


def conflict_summaries(
    store: QuickStore, *, states: Sequence[str], deliverable: str | None, owner: str | None, role: str | None
) -> list[dict[str, Any]]:
    """Conflicts as `conflict_summary` shows them, newest first: in `states` (all when empty),
    of one deliverable, or of deliverables with that decision owner or role."""
    columns = ", ".join(f"c.{column} AS {field}" for field, column in CONFLICT_SUMMARY_COLUMNS)
    sql = f"SELECT {columns} FROM conflict c"
    where: list[str] = []
    params: list[object] = []
    if owner or role:
        sql += " JOIN deliverable d ON d.key = c.deliverable_key"
    if states:
        where.append(f"c.state IN ({', '.join('{p}' for _ in states)})")
        params += list(states)
    for condition, value in (("c.deliverable_key", deliverable), ("d.owner_key", owner), ("d.role", role)):
        if value:
            where.append(f"{condition} = {{p}}")
            params.append(value)
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY c.opened_at DESC, c.id DESC"
    return store.rows(sql, params)


# -- `status` -----------------------------------------------------------------------------------


def sync_cursors(store: QuickStore) -> dict[tuple[str, str], dict[str, Any]]:
    """(source, partition) -> the cursor row's columns that `status` shows."""
    rows = store.rows(
        'SELECT source, "partition", "cursor", last_success_at, last_error, last_error_at'
        ' FROM sync_cursor ORDER BY source, "partition"'
    )
    return {(r["source"], r["partition"]): r for r in rows}


def partition_statuses(
    wanted: Sequence[tuple[str, str]], cursors: Mapping[tuple[str, str], Mapping[str, Any]], now: datetime
) -> list[dict[str, Any]]:
    """Every configured partition (`wanted`), then any other with a cursor, as `status` shows
    them (JSON-ready, lag in seconds); `cursors` holds `sync_cursor` rows by (source, partition)."""
    keys = [*wanted, *sorted(k for k in cursors if k not in set(wanted))]
    return [_partition_status(key, cursors.get(key), now, key in wanted) for key in keys]


def _partition_status(
    key: tuple[str, str], row: Mapping[str, Any] | None, now: datetime, configured: bool
) -> dict[str, Any]:
    success = row["last_success_at"] if row else None
    error = row["last_error"] if row else None
    error_at = row["last_error_at"] if row else None
    return {
        "source": key[0],
        "partition": key[1],
        "configured": configured,
        "cursor": row["cursor"] if row else None,
        "last_success_at": success.isoformat() if success else None,
        "last_error": error,
        # a success clears last_error: one that is set is the partition's latest outcome
        "failing": configured and error is not None,
        "last_error_at": error_at.isoformat() if error_at else None,
        "lag_seconds": round((now - success).total_seconds()) if success else None,
    }


def last_full_pass(store: QuickStore) -> datetime | None:
    rows = store.rows("SELECT last_run_at FROM periodic_run WHERE name = {p}", [FULL_RECONCILE_RUN])
    return rows[0]["last_run_at"] if rows else None


_NOTIFICATION_SUMMARY = "id, recipient_key, reason, status, attempts, created_at, not_before"


def notification_status(store: QuickStore) -> dict[str, Any]:
    """As reconciler.notify.notification_status: outbox counts, the oldest pending row, the
    latest errors, the muted active conflicts."""
    counts = {s.value: 0 for s in NotificationStatus}
    for row in store.rows("SELECT status, count(*) AS n FROM notification GROUP BY status"):
        counts[row["status"]] = int(row["n"])
    oldest = store.rows(
        f"SELECT {_NOTIFICATION_SUMMARY} FROM notification WHERE status = {{p}} ORDER BY created_at, id LIMIT 1",
        [NotificationStatus.PENDING.value],
    )
    errors = store.rows(
        f"SELECT {_NOTIFICATION_SUMMARY}, last_error FROM notification"
        " WHERE last_error IS NOT NULL AND status != {p} ORDER BY id DESC LIMIT 5",
        [NotificationStatus.SENT.value],
    )
    active = [s.value for s in ACTIVE_CONFLICT_STATES]
    suppressed = store.rows(
        f"SELECT count(*) AS n FROM conflict WHERE suppressed_by IS NOT NULL"
        f" AND state IN ({', '.join('{p}' for _ in active)})",
        active,
    )
    return {
        **counts,
        "oldest_pending": notification_summary(oldest[0]) if oldest else None,
        "last_errors": [{**notification_summary(r), "error": r["last_error"]} for r in errors],
        "suppressed_conflicts": int(suppressed[0]["n"]),
    }


def notification_summary(row: Mapping[str, Any]) -> dict[str, Any]:
    """A `notification` row as `status` shows it (JSON-ready)."""
    return {
        "id": row["id"],
        "recipient": row["recipient_key"],
        "reason": row["reason"],
        "status": row["status"],
        "attempts": row["attempts"],
        "created_at": row["created_at"].isoformat(),
        "not_before": row["not_before"].isoformat() if row["not_before"] else None,
    }
