"""The default grouping (issue #16): a first notice waits seconds, not half a minute, and what
follows for the same person is still batched by group_interval; and the alarm that sends a DM
planned by an event when its window opens, instead of at the next sweep."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

from sqlalchemy import Engine

from reconciler.due_alarm import DueAlarm
from reconciler.notify import PlannedNotice, PlanReport
from reconciler.protocol import AlertsConfig
from tests.integration.test_slack_app import wait_for
from tests.unit.test_notify_support import T0, FakeSlack, deliver, make_config, open_conflict, plan, seed

S = timedelta(seconds=1)
M = timedelta(minutes=1)


def test_the_default_timing_sends_a_first_notice_in_seconds_and_batches_the_next_ones(sqlite_engine: Engine) -> None:
    base = make_config()
    config = base.model_copy(update={"alerts": AlertsConfig(quiet_hours="off")})  # every other default
    assert (config.alerts.group_wait, config.alerts.group_interval) == ("3s", "5m")
    seed(sqlite_engine, config)
    slack = FakeSlack()

    a = open_conflict(sqlite_engine, "checkout-v2", at=T0)
    (first,) = plan(sqlite_engine, config, T0).notices
    assert (first.recipient, first.conflict_ids, first.not_before) == ("alice", (a,), T0 + 3 * S)
    assert deliver(sqlite_engine, slack, T0 + 2 * S).messages == []
    assert [m.conflict_ids for m in deliver(sqlite_engine, slack, T0 + 3 * S).sent] == [(a,)]

    # what comes after the first DM is gathered for group_interval after it, then sent as one
    b = open_conflict(sqlite_engine, "payments-api", at=T0 + M)
    (second,) = plan(sqlite_engine, config, T0 + M).notices
    assert (second.conflict_ids, second.not_before) == ((b,), T0 + 3 * S + 5 * M)
    c = open_conflict(sqlite_engine, "checkout-v2", at=T0 + 2 * M, kind="date_contradiction")
    (third,) = plan(sqlite_engine, config, T0 + 2 * M).notices
    assert (third.notification_id, third.conflict_ids, third.appended) == (second.notification_id, (b, c), True)
    assert deliver(sqlite_engine, slack, T0 + 5 * M).messages == []
    assert [m.conflict_ids for m in deliver(sqlite_engine, slack, T0 + 3 * S + 5 * M).sent] == [(b, c)]
    assert len(slack.posts()) == 2


def _plan_due(*times: datetime) -> PlanReport:
    return PlanReport(notices=[PlannedNotice(i, "alice", "new", (i,), at) for i, at in enumerate(times, start=1)])


def test_the_alarm_delivers_when_a_planned_notice_falls_due_and_leaves_the_rest_to_the_sweep() -> None:
    delivered: list[datetime] = []
    lock = threading.Lock()
    alarm = DueAlarm(now=lambda: datetime.now(timezone.utc), deliver=lambda: delivered.append(datetime.now(timezone.utc)),
                     exclusive=lock)
    try:
        now = datetime.now(timezone.utc)
        soon = now + timedelta(milliseconds=200)
        alarm.expect(_plan_due(soon, soon, now - S, now + timedelta(hours=9), None))  # type: ignore[arg-type]
        assert alarm.waiting == [soon]  # once; not what was due already, nor past the horizon (quiet hours)
        wait_for(lambda: delivered, message="the delivery at the due time")
        assert delivered[0] >= soon and alarm.waiting == []
        alarm.expect(None)  # a step that planned nothing
        alarm.expect(_plan_due())
        assert alarm.waiting == [] and len(delivered) == 1
    finally:
        alarm.stop()


def test_the_alarm_takes_the_intake_lock_and_survives_a_failed_delivery() -> None:
    lock = threading.Lock()
    calls: list[bool] = []

    def deliver() -> None:
        calls.append(lock.locked())  # held by the alarm while it delivers: one writer at a time
        if len(calls) == 1:
            raise RuntimeError("store unavailable")

    alarm = DueAlarm(now=lambda: datetime.now(timezone.utc), deliver=deliver, exclusive=lock)
    try:
        alarm.expect(_plan_due(datetime.now(timezone.utc) + timedelta(milliseconds=50)))
        wait_for(lambda: calls, message="the first delivery")
        alarm.expect(_plan_due(datetime.now(timezone.utc) + timedelta(milliseconds=50)))
        wait_for(lambda: len(calls) == 2, message="the next one, after a failure")
        assert calls == [True, True]
    finally:
        alarm.stop()
