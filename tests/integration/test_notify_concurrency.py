"""Two notifier processes drain one outbox on PostgreSQL against one sandbox: every DM is sent
exactly once (rows are claimed with SELECT ... FOR UPDATE SKIP LOCKED and marked with a token)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from connectors.sandbox import Sandbox
from reconciler.db import session_scope
from reconciler.models import Notification

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ROWS = 30
USERS = ["U01", "U02", "U03", "U04", "U05"]

WORKER = textwrap.dedent(
    """
    import json, sys, time
    from datetime import datetime, timezone
    from connectors.slack.client import make_web_client
    from reconciler.db import make_engine
    from reconciler.notify import deliver_pending

    url, base_url, start_at = sys.argv[1], sys.argv[2], float(sys.argv[3])
    engine = make_engine(url)
    client = make_web_client("xoxb-concurrency-test", base_url, timeout=10)
    time.sleep(max(0.0, start_at - time.time()))
    sent = []
    while True:
        report = deliver_pending(engine, client=client, now=datetime.now(timezone.utc), limit=2,
                                 min_interval_per_channel=0)
        if not report.messages:
            break
        sent += [m.notification_id for m in report.messages if m.sent]
    print(json.dumps(sent))
    """
)


def fill_outbox(engine: Engine) -> None:
    now = datetime.now(timezone.utc) - timedelta(minutes=1)
    with session_scope(engine) as session:
        for i in range(ROWS):
            user = USERS[i % len(USERS)]
            session.add(
                Notification(
                    idempotency_key=f"concurrency-{i}",
                    recipient_key=f"person-{user}",
                    recipient_slack_id=user,
                    group_key=f"person-{user}:new",
                    reason="new",
                    conflict_ids=[],
                    text=f"notification number {i}",
                    not_before=now,
                    created_at=now,
                )
            )


def test_two_processes_send_every_dm_exactly_once(postgres_engine: Engine, postgres_url: str, sandbox: Sandbox) -> None:
    fill_outbox(postgres_engine)
    start_at = time.time() + 2.0  # both processes have imported everything by then
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, postgres_url, sandbox.slack_base_url, str(start_at)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = []
    for worker in workers:
        out, err = worker.communicate(timeout=60)
        assert worker.returncode == 0, err[-2000:]
        results.append(json.loads(out.strip().splitlines()[-1]))

    first, second = (set(r) for r in results)
    assert not first & second, "a row was sent by both processes"
    assert first | second == set(range(1, ROWS + 1))
    assert first and second, "both processes should have taken part"

    posted = [m for m in sandbox.posted_messages() if m["method"] == "chat.postMessage"]
    counts = Counter(m["text"] for m in posted)
    assert len(posted) == ROWS and set(counts.values()) == {1}
    assert {m["user"] for m in posted} == set(USERS)
    with session_scope(postgres_engine) as session:
        rows = list(session.exec(select(Notification)))
    assert {r.status for r in rows} == {"sent"} and all(r.slack_ts for r in rows)
