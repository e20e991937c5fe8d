"""Who the admin CLI records as the decider: `cli:<os user>`, or the known person `--by` names."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import select
from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.db import session_scope
from reconciler.models import AuditEvent, Deliverable
from reconciler.settings import get_settings
from tests.unit.test_engine import CHECKOUT_SPLIT, DEMO, apply, run, seed, the_conflict


@pytest.fixture
def store(sqlite_engine: Engine, sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Engine:
    seed(sqlite_engine)
    apply(sqlite_engine, *CHECKOUT_SPLIT)
    run(sqlite_engine, everything=True)
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    monkeypatch.setenv("RECONCILER_CONFIG", str(DEMO))
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        monkeypatch.setenv(name, "ops")
    get_settings.cache_clear()
    return sqlite_engine


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_the_cli_records_the_os_user_or_a_named_person_and_refuses_an_unknown_name(store: Engine) -> None:
    cid = str(the_conflict(store, "checkout-v2", "status_contradiction").id)
    code, _, err = invoke("conflicts", "ack", cid, "--by", "Mallory")
    assert (code, err.strip()) == (1, "error: --by 'Mallory' is not a known person (see [[people]] in the config "
                                      "file); leave --by out to be recorded as cli:ops")
    assert invoke("conflicts", "ack", cid)[0] == 0
    assert invoke("conflicts", "resolve", cid, "--status", "blocked", "-c", "keys missing", "--by", "erin")[0] == 0
    assert invoke("owners", "set", "onboarding", "carol", "-c", "she built it")[0] == 0
    with session_scope(store) as session:
        events = {e.action: e for e in session.exec(select(AuditEvent).where(AuditEvent.actor != "reconciler"))}
        onboarding = session.exec(select(Deliverable).where(Deliverable.key == "onboarding")).one()
    assert (events["acknowledged"].actor, events["acknowledged"].details) == ("cli:ops", {"via": "cli", "os_user": "ops"})
    assert (events["resolved"].actor, events["resolved"].details["os_user"]) == ("erin", "ops")
    assert (events["owner_changed"].actor, onboarding.owner_set_by) == ("cli:ops", "cli:ops")
