from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine
from sqlmodel import SQLModel


def test_migrations_match_models(store_engine: Engine) -> None:
    """A model change without a migration fails here, on both stores."""
    with store_engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        diff = compare_metadata(context, SQLModel.metadata)
    assert diff == []


def test_migrations_downgrade_and_upgrade_again(store_engine: Engine) -> None:
    from alembic import command

    from reconciler.db import alembic_config

    with store_engine.begin() as connection:
        config = alembic_config(store_engine)
        config.attributes["connection"] = connection
        command.downgrade(config, "0001")
        command.upgrade(config, "head")
    test_migrations_match_models(store_engine)
