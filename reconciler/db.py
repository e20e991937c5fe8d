"""Engine, sessions and schema migrations for the canonical store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import TYPE_CHECKING

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError, ProgrammingError
from sqlmodel import Session

from reconciler.dbapi import SQLITE_PRAGMAS
from reconciler.migration_heads import MIGRATIONS_DIR, head_revisions  # noqa: F401  (db.head_revisions too)

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

SUPPORTED_BACKENDS = ("sqlite", "postgresql")


class DatabaseError(Exception):
    """The store cannot be reached or opened; one line, no credentials."""


def _enable_sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    for pragma in SQLITE_PRAGMAS:
        cursor.execute(pragma)
    cursor.close()


def make_engine(url: str, *, pool_size: int = 5) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseError("DATABASE_URL is not a valid SQLAlchemy URL") from None
    if parsed.get_backend_name() not in SUPPORTED_BACKENDS:
        raise DatabaseError(
            f"DATABASE_URL: unsupported database {parsed.get_backend_name()!r} "
            "(use sqlite:///path/to/file.db or postgresql://user@host/db)"
        )
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(parsed, connect_args={"timeout": 30})
        event.listen(engine, "connect", _enable_sqlite_pragmas)
        return engine
    # No server-side prepared statements: their generic plans scan the whole claim table for
    # `source_ref = ANY(...)` until autovacuum has analysed it (measured 45 ms vs 6 ms a lookup).
    return create_engine(
        parsed,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        connect_args={"prepare_threshold": None},
    )


@lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    return make_engine(url)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One transaction: committed on success, rolled back on any error."""
    session = Session(engine, expire_on_commit=False)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def alembic_config(engine: Engine) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def schema_is_current(engine: Engine) -> bool:
    """The store is at the newest migration (False too when it has no schema yet)."""
    try:
        with engine.connect() as connection:
            stamped = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    except (OperationalError, ProgrammingError):  # no alembic_version table: a new store
        return False
    return frozenset(stamped) == head_revisions()


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration (idempotent). A store already there costs one
    query; alembic is loaded only when there is something to do (it takes a read command's
    start-up time several times over)."""
    if schema_is_current(engine):
        return
    from alembic import command

    with engine.begin() as connection:
        config = alembic_config(engine)
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def describe_url(engine: Engine) -> str:
    """The database URL without its password, for messages."""
    return engine.url.render_as_string(hide_password=True)
