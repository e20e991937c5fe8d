"""The store over its DB-API driver alone (sqlite3 or psycopg), for code that must not load
SQLAlchemy: a helper process of a parallel reconcile pass (`reconciler.planning`)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

# set on every SQLite connection (`reconciler.db.make_engine` and `Connect.open`)
SQLITE_PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA foreign_keys=ON",
                  "PRAGMA busy_timeout=30000")


@dataclass(frozen=True)
class Connect:
    """How a helper process opens its own connection to the store: the driver's connect
    arguments as SQLAlchemy derives them from the URL (never shown: they hold the password)."""

    dialect: str  # "sqlite" or "postgresql"
    args: tuple[Any, ...] = field(repr=False)
    kwargs: Mapping[str, Any] = field(repr=False)

    def open(self) -> Any:
        if self.dialect == "sqlite":
            import sqlite3

            connection = sqlite3.connect(*self.args, **{**self.kwargs, "timeout": 30})
            for pragma in SQLITE_PRAGMAS:
                connection.execute(pragma)
            return connection
        import psycopg

        # no server-side prepared statements, as `reconciler.db.make_engine` (generic plans)
        return psycopg.connect(*self.args, **{**self.kwargs, "prepare_threshold": None})


@dataclass(frozen=True)
class Reader:
    """The store's DB-API connection, in the caller's transaction, and its dialect."""

    connection: Any
    dialect: str  # "sqlite" or "postgresql"

    @property
    def mark(self) -> str:
        return "?" if self.dialect == "sqlite" else "%s"

    def fetch(self, sql: str, keys: Sequence[str], *, first: str | None = None) -> list[tuple[Any, ...]]:
        """Run `sql` with `IN ({keys})` bound to `keys` (and `{first}`, when given, to
        `first`). PostgreSQL gets the keys as one array (`= ANY(...)`): psycopg caches the
        parsing of a query of at most 50 parameters and parses one of 250 every time, which
        cost a 100,000 deliverable pass more than a second."""
        cursor = self.connection.cursor()
        try:
            if self.dialect == "postgresql":
                _json_as_text(cursor)
                query = _as_array_query(sql)
                cursor.execute(query, (list(keys),) if first is None else (first, list(keys)))
            else:
                marks = ",".join("?" * len(keys))
                values = tuple(keys) if first is None else (first, *keys)
                cursor.execute(sql.format(first="?", keys=marks), values)
            return list(cursor.fetchall())
        finally:
            cursor.close()

    def scan(self, sql: str, *, batch: int = 1000) -> Iterator[tuple[Any, ...]]:
        """The rows of `sql` (no parameters), read `batch` at a time: for a scan of a whole
        table, which as one list would be most of what a helper process holds."""
        cursor = self.connection.cursor()
        try:
            if self.dialect == "postgresql":
                _json_as_text(cursor)
            cursor.execute(sql)
            while rows := cursor.fetchmany(batch):
                yield from rows
        finally:
            cursor.close()


@lru_cache(maxsize=64)
def _as_array_query(sql: str) -> str:
    """`sql` for PostgreSQL: `IN ({keys})` as `= ANY(<one text array>)`, sent binary (psycopg
    would quote each element of a text-format array with a regex)."""
    if "IN ({keys})" not in sql:
        raise ValueError("a keyed query names its keys as IN ({keys})")
    return sql.replace("IN ({keys})", "= ANY(%b::text[])").replace("{first}", "%s")


def _json_as_text(cursor: Any) -> None:
    """JSON columns as their text, as SQLite hands them back, for orjson to decode where
    needed: psycopg would decode every one with `json` (this cursor only; the connection is
    the ORM's too, which wants them decoded)."""
    from psycopg.types.string import TextLoader

    cursor.adapters.register_loader("json", TextLoader)
