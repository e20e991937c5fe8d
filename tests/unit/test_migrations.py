from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine
from sqlmodel import SQLModel

DEMO = Path(__file__).resolve().parents[2] / "reconciler" / "examples" / "demo.toml"


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


def test_head_revisions_are_the_ones_alembic_finds(store_engine: Engine) -> None:
    from alembic.script import ScriptDirectory

    from reconciler.db import alembic_config, head_revisions, schema_is_current

    assert head_revisions() == frozenset(ScriptDirectory.from_config(alembic_config(store_engine)).get_heads())
    assert schema_is_current(store_engine)


def test_a_store_is_current_only_at_the_newest_migration(tmp_path: Path) -> None:
    from alembic import command

    from reconciler.db import alembic_config, make_engine, migrate, schema_is_current

    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    assert not schema_is_current(engine)  # no schema at all
    migrate(engine)
    assert schema_is_current(engine)
    with engine.begin() as connection:
        config = alembic_config(engine)
        config.attributes["connection"] = connection
        command.downgrade(config, "0001")
    assert not schema_is_current(engine)
    migrate(engine)
    assert schema_is_current(engine)


def test_read_commands_load_neither_alembic_nor_the_api_clients(tmp_path: Path) -> None:
    """`reconciler conflicts list` on a migrated store: no alembic (it only migrates), no SDK
    (it talks to no API), no web or Slack app stack."""
    store = f"sqlite:///{tmp_path / 'store.db'}"
    env = {**os.environ, "DATABASE_URL": store, "RECONCILER_CONFIG": str(DEMO)}
    for name in ("ASANA_TOKEN", "SLACK_BOT_TOKEN", "REDIS_URL"):
        env.pop(name, None)
    probe = (
        "import sys\n"
        "from reconciler.cli import main\n"
        "sys.argv = ['reconciler', 'conflicts', 'list', '--json']\n"
        "try:\n    main()\nexcept SystemExit as exit:\n    assert not exit.code, exit.code\n"
        "heavy = {'alembic', 'asana', 'slack_sdk', 'slack_bolt', 'dateparser', 'starlette', 'uvicorn', 'celery'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}), file=sys.stderr)\n"
    )
    subprocess.run([sys.executable, "-c", "from reconciler.cli import main; main()", "reconcile", "--all"],
                   env=env, check=True, capture_output=True)  # creates and migrates the store
    ran = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr
    assert ran.stderr.strip().splitlines()[-1] == "[]"


def test_0006_moves_deliverable_asana_gids_into_link_rows_and_back(tmp_path: Path) -> None:
    from alembic import command
    from sqlalchemy import text

    from reconciler.db import alembic_config, make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")

    def to(revision: str, *, down: bool = False) -> None:
        with engine.begin() as connection:
            config = alembic_config(engine)
            config.attributes["connection"] = connection
            (command.downgrade if down else command.upgrade)(config, revision)

    to("0005")
    with engine.begin() as connection:
        for key, gid in (("checkout", "3001"), ("docs", None)):
            connection.execute(text(
                "INSERT INTO deliverable (key, title, asana_gid, aliases, depends_on, conditions, decisions, dirty)"
                " VALUES (:key, :key, :gid, '[]', '[]', '{}', '{}', 0)"), {"key": key, "gid": gid})
    to("0006")
    with engine.connect() as connection:
        assert connection.execute(text("SELECT deliverable_key, kind, ref FROM deliverable_link")).all() == [
            ("checkout", "asana", "3001")]
    to("0005", down=True)
    with engine.connect() as connection:
        assert dict(connection.execute(text("SELECT key, asana_gid FROM deliverable")).all()) == {
            "checkout": "3001", "docs": None}


def test_0010_moves_person_ids_into_identity_rows_and_back(store_engine: Engine) -> None:
    from alembic import command
    from sqlalchemy import text

    from reconciler.db import alembic_config

    def to(revision: str, *, down: bool = False) -> None:
        with store_engine.begin() as connection:
            config = alembic_config(store_engine)
            config.attributes["connection"] = connection
            (command.downgrade if down else command.upgrade)(config, revision)

    to("0009", down=True)
    with store_engine.begin() as connection:
        for key, slack_id, asana_gid in (("alice", "U01", "501"), ("bob", "U02", None), ("cat", None, None),
                                         ("alice2", "U01", None)):  # an id two rows shared: the older keeps it
            connection.execute(text(
                "INSERT INTO person (key, name, slack_id, asana_gid, from_config)"
                " VALUES (:key, :key, :slack_id, :asana_gid, true)"), {"key": key, "slack_id": slack_id, "asana_gid": asana_gid})
    try:
        to("0010")
        with store_engine.connect() as connection:
            rows = connection.execute(text(
                "SELECT p.key, i.source, i.external_id FROM person_identity i JOIN person p ON p.id = i.person_id"
            )).all()
        assert sorted(rows) == [("alice", "asana", "501"), ("alice", "slack", "U01"), ("bob", "slack", "U02")]
        to("0009", down=True)
        with store_engine.connect() as connection:
            back = connection.execute(text("SELECT key, slack_id, asana_gid FROM person ORDER BY key")).all()
        assert back == [("alice", "U01", "501"), ("alice2", None, None), ("bob", "U02", None), ("cat", None, None)]
    finally:
        to("head")
    test_migrations_match_models(store_engine)
