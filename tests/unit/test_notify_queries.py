"""The planner reads in batches: the statements one sweep runs do not grow with the number of
follow-ups it writes (reminders, escalations, resolutions), nor with the conflicts in one DM."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event

from reconciler.db import make_engine, migrate
from tests.unit.test_notify_support import T0, FakeSlack, deliver, make_config, open_conflict, plan, seed, set_state

H = timedelta(hours=1)


@contextmanager
def counted(engine: Engine) -> Iterator[list[str]]:
    """The SELECT statements run on `engine` meanwhile (writes are one per row changed)."""
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def _sweeps(tmp_path: Path, conflicts: int) -> dict[str, int]:
    """Reads per planning sweep of `conflicts` conflicts of one owner: the first notice,
    then reminders and escalations a day later, then the resolution notices."""
    config = make_config()
    engine = make_engine(f"sqlite:///{tmp_path / f'store-{conflicts}.db'}")
    migrate(engine)
    try:
        seed(engine, config)
        ids = [open_conflict(engine, "checkout-v2" if i % 2 else "payments-api") for i in range(conflicts)]
        found: dict[str, int] = {}
        with counted(engine) as statements:
            notices = plan(engine, config, T0).notices
        assert [len(n.conflict_ids) for n in notices] == [conflicts]
        found["new"] = len(statements)
        deliver(engine, FakeSlack(), T0 + H)
        with counted(engine) as statements:
            notices = plan(engine, config, T0 + 25 * H).notices
        assert sorted((n.recipient, n.reason, len(n.conflict_ids)) for n in notices) == [
            ("alice", "reminder", conflicts), ("bob", "escalation", conflicts)
        ]
        found["follow_ups"] = len(statements)
        deliver(engine, FakeSlack(), T0 + 26 * H)
        for conflict_id in ids:
            set_state(engine, conflict_id, "resolved", at=T0 + 27 * H)
        with counted(engine) as statements:
            notices = plan(engine, config, T0 + 27 * H).notices
        assert sorted((n.recipient, n.reason) for n in notices) == [("alice", "resolved"), ("bob", "resolved")]
        found["resolved"] = len(statements)
        return found
    finally:
        engine.dispose()


def test_statements_per_sweep_do_not_grow_with_the_follow_ups(tmp_path: Path) -> None:
    few, many = _sweeps(tmp_path, 2), _sweeps(tmp_path, 12)
    assert many == few
