"""`reconciler demo` tells the same story today, in a month and in two years (issue: the demo
and the suite work on any date)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import time_machine
from sqlmodel import select
from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.db import make_engine, session_scope
from reconciler.models import Conflict
from tests.integration.test_cli import DEMO_FINDINGS

pytestmark = pytest.mark.demo

# who is told: the decision owner of each finding, the engineering lead for the ownerless one
DEMO_RECIPIENTS = {"U01", "U04", "U06", "U02"}


@pytest.mark.parametrize("days_ahead", [0, 31, 365, 730], ids=["today", "in a month", "in a year", "in two years"])
def test_the_demo_tells_the_same_story_on_any_day(days_ahead: int, tmp_path: Path) -> None:
    store = tmp_path / "demo.db"
    with time_machine.travel(datetime.now(timezone.utc) + timedelta(days=days_ahead), tick=True):
        result = CliRunner().invoke(app, ["demo", "--keep", str(store)])
    assert result.exit_code == 0, result.output
    engine = make_engine(f"sqlite:///{store}")
    with session_scope(engine) as session:
        found = {(c.deliverable_key, c.kind) for c in session.exec(select(Conflict))}
    engine.dispose()
    assert found == DEMO_FINDINGS
    told = {line.split()[1] for line in result.stdout.splitlines() if line.startswith("to U")}
    assert told == DEMO_RECIPIENTS
    assert "on Search relevance needs" not in result.stdout  # the false friend stays quiet


@pytest.mark.skipif(os.environ.get("RECONCILER_TEST_DAYS_AHEAD") is not None, reason="already the moved run")
@pytest.mark.parametrize("days_ahead", [31, 365])
def test_the_demo_based_tests_pass_with_the_clock_moved_ahead(days_ahead: int) -> None:
    """Every test marked `demo` again, in a process whose clock is `days_ahead` days on
    (tests/conftest.py moves it with time-machine when RECONCILER_TEST_DAYS_AHEAD is set)."""
    env = {**os.environ, "RECONCILER_TEST_DAYS_AHEAD": str(days_ahead)}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "demo", "-x",
         # an unreachable API costs half a minute of retries and reads no date
         "-k", "not the_demo_based_tests_pass and not unreachable"],
        cwd=Path(__file__).resolve().parents[2], env=env, capture_output=True, text=True, timeout=600,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert " passed" in run.stdout.splitlines()[-1]
