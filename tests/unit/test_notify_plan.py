"""Planning and delivery against a real store, with the clock passed in and a fake Slack client:
three days of one conflict's life, grouping, silences, quiet hours and exactly-once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from reconciler import notify, snoozes
from reconciler.db import session_scope
from reconciler.models import AuditEvent
from tests.unit.test_notify_support import (
    T0,
    FakeSlack,
    conflict,
    deliver,
    make_config,
    open_conflict,
    outbox,
    plan,
    seed,
    set_state,
    summary,
)

H = timedelta(hours=1)
S = timedelta(seconds=1)


@pytest.fixture
def config():  # type: ignore[no-untyped-def]
    return make_config()


@pytest.fixture
def engine(sqlite_engine: Engine, config) -> Engine:  # type: ignore[no-untyped-def]
    seed(sqlite_engine, config)
    return sqlite_engine


def test_three_days_of_two_conflicts(engine: Engine, config) -> None:  # type: ignore[no-untyped-def]
    slack = FakeSlack()
    a = open_conflict(engine, "checkout-v2", at=T0)
    first = plan(engine, config, T0)
    assert [(n.recipient, n.reason, n.conflict_ids, n.not_before) for n in first.notices] == [
        ("alice", "new", (a,), T0 + 30 * S)
    ]

    # A second conflict for the same owner joins the window's DM instead of opening another.
    b = open_conflict(engine, "payments-api", at=T0 + 10 * S)
    second = plan(engine, config, T0 + 10 * S)
    assert [(n.conflict_ids, n.appended) for n in second.notices] == [((a, b), True)]
    assert summary(outbox(engine)) == [("alice", "new", [a, b])]

    assert deliver(engine, slack, T0 + 20 * S).messages == []  # group_wait not over
    sent = deliver(engine, slack, T0 + 30 * S)
    assert [(m.recipient, m.reason, m.conflict_ids) for m in sent.sent] == [("alice", "new", (a, b))]
    (dm,) = slack.posts()
    assert dm["channel"] == "DU01" and "thread_ts" not in dm
    assert f"#{a} Checkout v2" in dm["text"] and f"#{b} Payments API" in dm["text"]
    assert dm["text"].count("[Accept slack: blocked] [Set the value…] [Acknowledge]") == 2
    assert "reconciler conflicts" not in dm["text"]
    assert plan(engine, config, T0 + 31 * S).notices == []

    # Reminder after repeat_interval (20h), in the thread of the first DM.
    reminder = plan(engine, config, T0 + 20 * H)
    assert [(n.recipient, n.reason, n.conflict_ids) for n in reminder.notices] == [("alice", "reminder", (a, b))]
    deliver(engine, slack, T0 + 20 * H)
    assert slack.posts()[-1]["thread_ts"] == dm["ts"]

    # Alice acknowledges B; at 24h only A escalates to the lead.
    set_state(engine, b, "acknowledged", at=T0 + 21 * H, by="alice")
    escalation = plan(engine, config, T0 + 24 * H + 10 * S)
    assert [(n.recipient, n.reason, n.conflict_ids) for n in escalation.notices] == [("bob", "escalation", (a,))]
    assert conflict(engine, a).escalation_level == 1
    assert conflict(engine, b).escalation_level == 0
    assert plan(engine, config, T0 + 24 * H + 11 * S).notices == []
    deliver(engine, slack, T0 + 24 * H + 10 * S)
    to_bob = slack.posts()[-1]
    assert to_bob["channel"] == "DU02" and "thread_ts" not in to_bob
    assert "Escalation level 1 (lead)" in to_bob["text"] and "told before: Alice Ng" in to_bob["text"]

    # Reminders go to the owner and the current level's recipient, each in their own thread.
    plan(engine, config, T0 + 40 * H)
    assert summary(outbox(engine)[-2:]) == [("alice", "reminder", [a]), ("bob", "reminder", [a])]
    deliver(engine, slack, T0 + 40 * H)
    assert [p["thread_ts"] for p in slack.posts()[-2:]] == [dm["ts"], to_bob["ts"]]

    # Sources agree again: A resolves itself; both who were told hear it once.
    set_state(engine, a, "resolved", at=T0 + 50 * H)
    resolved = plan(engine, config, T0 + 50 * H)
    assert sorted((n.recipient, n.reason, n.conflict_ids) for n in resolved.notices) == [
        ("alice", "resolved", (a,)), ("bob", "resolved", (a,)),
    ]
    assert plan(engine, config, T0 + 51 * H).notices == []
    deliver(engine, slack, T0 + 50 * H)
    replies = slack.posts()[-2:]
    assert all("sources agree again" in p["text"] for p in replies)
    assert {p["thread_ts"] for p in replies} == {dm["ts"], to_bob["ts"]}
    # Bob's DM was only about A: it is rewritten to say so. Alice's still lists the acknowledged B.
    updates = [c for c in slack.calls if c["method"] == "chat.update"]
    assert [(u["channel"], u["ts"]) for u in updates] == [("DU02", to_bob["ts"])]

    # B's acknowledgement lapses after 48h: open again, audited, reminded and escalated.
    lapsed = plan(engine, config, T0 + 69 * H)
    assert lapsed.ack_timeouts == [b]
    assert conflict(engine, b).state == "open"
    assert sorted((n.recipient, n.reason, n.conflict_ids) for n in lapsed.notices) == [
        ("alice", "reminder", (b,)), ("bob", "escalation", (b,)),
    ]
    with session_scope(engine) as session:
        events = list(session.exec(select(AuditEvent).where(AuditEvent.action == "ack_timeout")))
    assert [(e.conflict_id, e.actor, e.details["acknowledged_by"]) for e in events] == [(b, "notifier", "alice")]

    # 72h after B was first told: the head (not_resolved), told who heard before.
    head = plan(engine, config, T0 + 72 * H + 10 * S)
    assert [(n.recipient, n.reason, n.conflict_ids) for n in head.notices] == [("erin", "escalation", (b,))]
    deliver(engine, slack, T0 + 72 * H + 10 * S)
    assert "told before: Alice Ng, Bob Okafor" in slack.posts()[-1]["text"]
    assert conflict(engine, b).next_escalation_at == T0 + 89 * H  # the next reminder


def test_planning_twice_writes_nothing_and_delivering_twice_sends_once(engine: Engine, config) -> None:  # type: ignore[no-untyped-def]
    slack = FakeSlack()
    for key in ("checkout-v2", "search", "onboarding"):
        open_conflict(engine, key)
    assert len(plan(engine, config, T0).notices) == 3
    assert plan(engine, config, T0).notices == []
    assert plan(engine, config, T0 + 5 * S).notices == []
    before = [(r.id, r.idempotency_key, r.message_view) for r in outbox(engine)]
    assert len(deliver(engine, slack, T0 + H).sent) == 3
    assert deliver(engine, slack, T0 + H).messages == []
    assert plan(engine, config, T0 + H).notices == []
    assert [(r.id, r.idempotency_key, r.message_view) for r in outbox(engine)] == before
    assert len(slack.posts()) == 3
    # no owner: the role's lead hears about onboarding
    assert sorted(r.recipient_key for r in outbox(engine)) == ["alice", "bob", "carol"]


def test_crash_between_send_and_mark_is_found_in_slack_not_sent_again(engine: Engine, config) -> None:  # type: ignore[no-untyped-def]
    open_conflict(engine, "checkout-v2")
    plan(engine, config, T0)
    slack = FakeSlack(crash_after_post=True)
    with pytest.raises(SystemExit):
        deliver(engine, slack, T0 + H)
    (row,) = outbox(engine)
    assert row.status == "sending"
    (posted,) = slack.posts()
    assert posted["metadata"]["event_payload"]["notification"].startswith(f"{row.idempotency_key}/{row.id}/")

    slack.crash_after_post = False
    assert deliver(engine, slack, T0 + H + notify.SENDING_LEASE - S).messages == []  # lease still held
    again = deliver(engine, slack, T0 + H + notify.SENDING_LEASE + S)
    assert again.reclaimed == 1 and len(again.sent) == 1 and again.sent[0].found_in_slack
    assert again.sent[0].ts == posted["ts"]
    assert deliver(engine, slack, T0 + 2 * H).messages == []
    assert len(slack.posts()) == 1  # exactly one DM
    assert outbox(engine)[0].status == "sent"


def test_without_im_history_a_reclaimed_row_is_sent_again_with_a_warning(
    engine: Engine, config, caplog: pytest.LogCaptureFixture  # type: ignore[no-untyped-def]
) -> None:
    from slack_sdk.errors import SlackApiError
    from slack_sdk.web import SlackResponse

    class NoHistoryScope(FakeSlack):
        def conversations_history(self, **_: object):  # type: ignore[no-untyped-def]
            response = SlackResponse(
                client=None, http_verb="POST", api_url="https://slack.test/api/conversations.history", req_args={},
                data={"ok": False, "error": "missing_scope", "needed": "im:history"}, headers={}, status_code=200,
            )
            raise SlackApiError("missing_scope", response)

    open_conflict(engine, "checkout-v2")
    plan(engine, config, T0)
    slack = NoHistoryScope(crash_after_post=True)
    with pytest.raises(SystemExit):
        deliver(engine, slack, T0 + H)
    slack.crash_after_post = False
    again = deliver(engine, slack, T0 + H + notify.SENDING_LEASE + S)
    assert len(again.sent) == 1 and not again.sent[0].found_in_slack and again.aborted is None
    assert len(slack.posts()) == 2  # at least once: the lookup was impossible
    assert "lacks im:history" in caplog.text


def test_a_reclaimed_row_that_never_reached_slack_is_sent(engine: Engine, config) -> None:  # type: ignore[no-untyped-def]
    """A sender that died before posting: the lookup finds nothing, so the row is sent once."""
    open_conflict(engine, "checkout-v2")
    plan(engine, config, T0)

    class DiesBeforePosting(FakeSlack):
        def chat_postMessage(self, **kwargs):  # type: ignore[no-untyped-def]
            raise SystemExit("killed before posting")

    with pytest.raises(SystemExit):
        deliver(engine, DiesBeforePosting(), T0 + H)
    slack = FakeSlack()
    again = deliver(engine, slack, T0 + H + notify.SENDING_LEASE + S)
    assert len(again.sent) == 1 and not again.sent[0].found_in_slack
    assert len(slack.posts()) == 1


def test_failed_send_backs_off_then_gives_up_and_shows_in_status(engine: Engine, config) -> None:  # type: ignore[no-untyped-def]
    open_conflict(engine, "checkout-v2")
    plan(engine, config, T0)
    slack = FakeSlack(failures=["internal_error"] * notify.MAX_ATTEMPTS)
    now = T0 + H
    waits = []
    for attempt in range(1, notify.MAX_ATTEMPTS + 1):
        report = deliver(engine, slack, now)
        assert [m.error is not None for m in report.messages] == [True]
        (row,) = outbox(engine)
        assert row.attempts == attempt and "internal_error" in (row.last_error or "")
        assert "\n" not in (row.last_error or "")
        if row.status == "failed":
            break
        assert deliver(engine, slack, row.not_before - S).messages == []  # not before the backoff
        waits.append(row.not_before - now)
        now = row.not_before
    assert waits == [timedelta(minutes=m) for m in (1, 2, 4, 8)]
    assert outbox(engine)[0].status == "failed"
    with session_scope(engine) as session:
        status = notify.notification_status(session)
    assert status["failed"] == 1 and status["pending"] == 0
    assert "internal_error" in status["last_errors"][0]["error"]
    assert slack.posts() == []


def test_invalid_token_stops_the_pass_without_losing_rows(engine: Engine, config) -> None:  # type: ignore[no-untyped-def]
    for key in ("checkout-v2", "search"):
        open_conflict(engine, key)
    plan(engine, config, T0)
    report = deliver(engine, FakeSlack(failures=["invalid_auth"]), T0 + H)
    assert report.aborted and "invalid" in report.aborted
    assert [r.status for r in outbox(engine)] == ["pending", "pending"]
    assert len(deliver(engine, FakeSlack(), T0 + 2 * H).sent) == 2


def test_resolved_before_it_was_sent_is_withdrawn_and_never_told(engine: Engine, config) -> None:  # type: ignore[no-untyped-def]
    a = open_conflict(engine, "checkout-v2")
    b = open_conflict(engine, "payments-api")
    plan(engine, config, T0)
    set_state(engine, a, "resolved", at=T0 + 10 * S)
    report = plan(engine, config, T0 + 10 * S)
    assert report.withdrawn == [a] and report.notices[0].conflict_ids == (b,)
    slack = FakeSlack()
    deliver(engine, slack, T0 + H)
    assert f"#{a} " not in slack.posts()[0]["text"] and f"#{b} " in slack.posts()[0]["text"]
    set_state(engine, b, "resolved", at=T0 + 2 * H, by="alice")
    assert plan(engine, config, T0 + 2 * H).notices == []  # the resolver is not told her own news


def test_reopened_conflict_starts_a_new_episode(engine: Engine, config) -> None:  # type: ignore[no-untyped-def]
    a = open_conflict(engine, "checkout-v2")
    plan(engine, config, T0)
    deliver(engine, FakeSlack(), T0 + H)
    set_state(engine, a, "resolved", at=T0 + 2 * H)
    assert [n.reason for n in plan(engine, config, T0 + 2 * H).notices] == ["resolved"]
    set_state(engine, a, "open", at=T0 + 30 * H)
    again = plan(engine, config, T0 + 30 * H)
    assert [(n.recipient, n.reason, n.conflict_ids) for n in again.notices] == [("alice", "new", (a,))]
    # the lead is told 24h after the reopening, not at once
    assert plan(engine, config, T0 + 31 * H).notices == []
    assert conflict(engine, a).next_escalation_at == T0 + 50 * H  # reminder (20h) before the lead (24h)


def test_no_owner_goes_to_the_lead_who_is_not_escalated_to_again(engine: Engine, config) -> None:  # type: ignore[no-untyped-def]
    c = open_conflict(engine, "onboarding")
    assert [(n.recipient, n.reason) for n in plan(engine, config, T0).notices] == [("bob", "new")]
    deliver(engine, FakeSlack(), T0 + H)
    day = plan(engine, config, T0 + 24 * H)  # level 1 is the lead again: a reminder, no escalation
    assert [(n.recipient, n.reason) for n in day.notices] == [("bob", "reminder")]
    assert conflict(engine, c).escalation_level == 1
    head = plan(engine, config, T0 + 72 * H)
    assert sorted((n.recipient, n.reason) for n in head.notices) == [("bob", "reminder"), ("erin", "escalation")]


def test_snooze_silences_exactly_the_matching_conflicts_until_it_expires(engine: Engine, config) -> None:  # type: ignore[no-untyped-def]
    with session_scope(engine) as session:
        snooze = snoozes.add_snooze(
            session, matchers={"deliverable": "checkout-*", "kind": "status_contradiction"},
            duration=6 * H, author="bob", comment="release freeze", now=T0,
        )
    muted = open_conflict(engine, "checkout-v2")
    other_kind = open_conflict(engine, "checkout-v2", kind="date_mismatch")
    other_deliverable = open_conflict(engine, "search")
    report = plan(engine, config, T0)
    assert sorted(c for n in report.notices for c in n.conflict_ids) == [other_kind, other_deliverable]
    assert report.suppressed == {muted: f"snooze:{snooze.id}"}
    assert conflict(engine, muted).suppressed_by == f"snooze:{snooze.id}"
    assert plan(engine, config, T0 + 5 * H).notices == []
    slack = FakeSlack()
    deliver(engine, slack, T0 + 5 * H)
    assert all(f"#{muted} " not in p["text"] for p in slack.posts())
    # expired: the muted conflict is told now
    after = plan(engine, config, T0 + 6 * H)
    assert [(n.recipient, n.reason, n.conflict_ids) for n in after.notices] == [("alice", "new", (muted,))]
    assert conflict(engine, muted).suppressed_by is None


def test_expiring_a_snooze_early_lets_notices_through(engine: Engine, config) -> None:  # type: ignore[no-untyped-def]
    with session_scope(engine) as session:
        snooze = snoozes.add_snooze(
            session, matchers={"owner": "alice"}, duration=48 * H, author="alice", comment="on leave", now=T0
        )
    a = open_conflict(engine, "checkout-v2")
    assert plan(engine, config, T0).notices == []
    with session_scope(engine) as session:
        snoozes.expire_snooze(session, snooze.id, actor="alice", now=T0 + H)
    assert [n.conflict_ids for n in plan(engine, config, T0 + H).notices] == [(a,)]


def test_dependency_violation_inhibits_exactly_what_it_causes(engine: Engine, config) -> None:  # type: ignore[no-untyped-def]
    violation = open_conflict(engine, "checkout-v2", kind="dependency_violation")
    same_date = open_conflict(engine, "checkout-v2", kind="date_contradiction", shares_evidence_with=violation)
    same_other = open_conflict(engine, "checkout-v2", kind="status_contradiction")  # unrelated claims
    downstream = open_conflict(engine, "launch", kind="date_contradiction")
    upstream = open_conflict(engine, "payments-api", kind="status_contradiction")
    unrelated_kind = open_conflict(engine, "launch", kind="no_owner")
    report = plan(engine, config, T0)
    told = sorted(c for n in report.notices for c in n.conflict_ids)
    assert told == sorted([violation, same_other, upstream, unrelated_kind])
    assert report.suppressed == {same_date: f"inhibited_by:{violation}", downstream: f"inhibited_by:{violation}"}
    assert conflict(engine, downstream).suppressed_by == f"inhibited_by:{violation}"
    deliver(engine, FakeSlack(), T0 + 30 * S)
    # the violation resolves: what it muted is told
    set_state(engine, violation, "resolved", at=T0 + H)
    later = plan(engine, config, T0 + H)
    assert sorted(c for n in later.notices if n.reason == "new" for c in n.conflict_ids) == [same_date, downstream]


def test_quiet_hours_hold_non_urgent_dms_until_eight_local(engine: Engine) -> None:
    config = make_config(quiet_hours="22:00-08:00")
    # 23:00 in Berlin (22:00 UTC): carol is asleep.
    night = T0.replace(hour=22)
    calm = open_conflict(engine, "search", at=night)
    report = plan(engine, config, night)
    assert [(n.recipient, n.not_before) for n in report.notices] == [("carol", T0.replace(day=25, hour=7))]
    assert deliver(engine, FakeSlack(), T0.replace(day=25, hour=6, minute=59)).messages == []
    assert [m.conflict_ids for m in deliver(engine, FakeSlack(), T0.replace(day=25, hour=7)).sent] == [(calm,)]


def test_urgent_conflicts_ignore_quiet_hours_and_pull_the_window_forward(engine: Engine) -> None:
    config = make_config(quiet_hours="22:00-08:00")
    night = T0.replace(hour=22)
    calm = open_conflict(engine, "search", at=night)
    plan(engine, config, night)
    urgent = open_conflict(engine, "search", at=night + 10 * S, severity="high", kind="date_mismatch")
    (notice,) = plan(engine, config, night + 10 * S).notices
    assert notice.conflict_ids == (calm, urgent) and notice.not_before == night + 30 * S


def test_unroutable_conflict_is_recorded_not_told(sqlite_engine: Engine) -> None:
    config = make_config()
    config = config.model_copy(update={"roles": [], "default_role": None})
    seed(sqlite_engine, config)
    with session_scope(sqlite_engine) as session:
        from reconciler.models import Deliverable

        for d in session.exec(select(Deliverable)):
            d.role = None
            session.add(d)
    c = open_conflict(sqlite_engine, "onboarding")
    report = plan(sqlite_engine, config, T0)
    assert report.notices == []
    assert report.suppressed[c].startswith("unroutable:")


def test_dry_run_renders_without_sending_or_marking(engine: Engine, config) -> None:  # type: ignore[no-untyped-def]
    a = open_conflict(engine, "checkout-v2")
    plan(engine, config, T0)
    report = notify.deliver_pending(engine, client=None, now=T0, dry_run=True)
    assert report.dry_run and [(m.recipient, m.reason, m.sent) for m in report.messages] == [("alice", "new", False)]
    assert f"#{a} Checkout v2" in report.messages[0].text and "[Acknowledge]" in report.messages[0].text
    assert outbox(engine)[0].status == "pending"
    with pytest.raises(ValueError, match="Slack client"):
        notify.deliver_pending(engine, client=None, now=T0)


def test_notification_status_counts_and_oldest(engine: Engine, config) -> None:  # type: ignore[no-untyped-def]
    open_conflict(engine, "checkout-v2")
    open_conflict(engine, "search")
    plan(engine, config, T0)
    deliver(engine, FakeSlack(), T0 + H, limit=1)
    with session_scope(engine) as session:
        status = notify.notification_status(session)
    assert (status["pending"], status["sent"], status["failed"]) == (1, 1, 0)
    assert status["oldest_pending"]["recipient"] == "carol"
    assert status["last_errors"] == []


def test_postgres_plans_and_claims_the_same_way(postgres_engine: Engine, config) -> None:  # type: ignore[no-untyped-def]
    seed(postgres_engine, config)
    a = open_conflict(postgres_engine, "checkout-v2")
    b = open_conflict(postgres_engine, "payments-api")
    assert [n.conflict_ids for n in plan(postgres_engine, config, T0).notices] == [(a, b)]
    assert plan(postgres_engine, config, T0).notices == []
    slack = FakeSlack()
    assert len(deliver(postgres_engine, slack, T0 + H).sent) == 1
    assert deliver(postgres_engine, slack, T0 + H).messages == []
    set_state(postgres_engine, a, "resolved", at=T0 + 2 * H)
    assert [n.reason for n in plan(postgres_engine, config, T0 + 2 * H).notices] == ["resolved"]


def test_concurrent_planners_write_each_notice_once(
    postgres_engine: Engine, config, monkeypatch: pytest.MonkeyPatch  # type: ignore[no-untyped-def]
) -> None:
    import threading

    seed(postgres_engine, config)
    for key in ("checkout-v2", "payments-api", "search", "onboarding", "launch"):
        open_conflict(postgres_engine, key)
    # Both planners would read the same due conflicts before either writes, were they not
    # serialised; with the lock the second waits (the barrier times out) and finds nothing due.
    meet = threading.Barrier(2)
    read_due = notify.plan._due_conflicts

    def slow_read(*args, **kwargs):  # type: ignore[no-untyped-def]
        found = read_due(*args, **kwargs)
        try:
            meet.wait(timeout=0.5)
        except threading.BrokenBarrierError:
            pass
        return found

    monkeypatch.setattr(notify.plan, "_due_conflicts", slow_read)
    errors: list[BaseException] = []

    def planner(now) -> None:  # type: ignore[no-untyped-def]
        try:
            plan(postgres_engine, config, now)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=planner, args=(T0 + i * S,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(summary(outbox(postgres_engine))) == [
        ("alice", "new", [1, 2]), ("bob", "new", [4]), ("carol", "new", [3]), ("dan", "new", [5]),
    ]


def test_posts_to_one_channel_are_spaced(engine: Engine, config) -> None:  # type: ignore[no-untyped-def]
    import time

    a = open_conflict(engine, "checkout-v2")
    plan(engine, config, T0)
    deliver(engine, FakeSlack(), T0 + H)
    set_state(engine, a, "resolved", at=T0 + 2 * H)
    open_conflict(engine, "payments-api", at=T0 + 2 * H)
    plan(engine, config, T0 + 2 * H)  # a resolved notice and a new DM, both for alice
    slack = FakeSlack()
    started = time.monotonic()
    report = notify.deliver_pending(engine, client=slack, now=T0 + 3 * H, min_interval_per_channel=0.3)  # type: ignore[arg-type]
    assert len(report.sent) == 2 and time.monotonic() - started >= 0.3


def test_stale_check_ins_are_one_daily_digest_on_working_days_without_escalation(sqlite_engine: Engine) -> None:
    """T0 is Tuesday 09:00 UTC. Alice is off on Thursday; the weekend is no working day."""
    base = make_config(check_in_at="09:00")
    alice = base.people[0].model_copy(update={"holidays": ["2026-11-26"]})
    config = base.model_copy(update={"people": [alice, *base.people[1:]]})
    seed(sqlite_engine, config)
    slack = FakeSlack()
    a = open_conflict(sqlite_engine, "checkout-v2", at=T0 + H, kind="stale", severity="low")
    first = plan(sqlite_engine, config, T0 + H)  # today's 09:00 has passed without one: now, late
    assert [(n.recipient, n.reason, n.conflict_ids) for n in first.notices] == [("alice", "check_in", (a,))]
    b = open_conflict(sqlite_engine, "payments-api", at=T0 + H + S, kind="stale", severity="low")
    joined = plan(sqlite_engine, config, T0 + H + S)  # joins the digest not sent yet
    assert [(n.reason, n.conflict_ids, n.appended) for n in joined.notices] == [("check_in", (a, b), False)]
    deliver(sqlite_engine, slack, T0 + H + S)
    (digest,) = slack.posts()
    assert digest["text"].startswith("Check-in: 2 deliverables due soon have gone quiet")
    assert digest["text"].count("Where does it stand? Post an update, set a new date, or snooze the check-in.") == 2
    assert digest["text"].count("[Resolve…] [Acknowledge] [Snooze…]") == 2

    def check_ins_between(start: timedelta, end: timedelta) -> list[tuple[str, int]]:
        told = []
        at = start
        while at <= end:
            for n in plan(sqlite_engine, config, T0 + at).notices:
                told.append((n.reason, (T0 + at).weekday()))
            deliver(sqlite_engine, slack, T0 + at)
            at += H
        return told

    # The rest of the week and the weekend, sweeping every hour: Wednesday once, no Thursday
    # (holiday), Friday once, nothing on Saturday or Sunday, Monday once; never an escalation.
    told = check_ins_between(2 * H, 6 * 24 * H + 2 * H)
    assert told == [("check_in", 2), ("check_in", 4), ("check_in", 0)]
    assert conflict(sqlite_engine, a).escalation_level == 0
    assert [p["text"].splitlines()[0] for p in slack.posts()][1:] == ["Check-in: 2 deliverables due soon have gone quiet"] * 3


def test_check_in_slot_skips_weekends_holidays_and_the_day_already_told() -> None:
    from datetime import date, datetime, timezone

    from reconciler.routing import check_in_slot

    week = ["mon", "tue", "wed", "thu", "fri"]
    friday_evening = datetime(2026, 11, 27, 18, 0, tzinfo=timezone.utc)
    monday_nine_berlin = datetime(2026, 11, 30, 8, 0, tzinfo=timezone.utc)
    assert check_in_slot(friday_evening, tz="Europe/Berlin", at="09:00", working_days=week,
                         last_sent=friday_evening - H) == monday_nine_berlin
    assert check_in_slot(friday_evening, tz="Europe/Berlin", at="09:00", working_days=week) == friday_evening
    off = {date(2026, 11, 30)}
    assert check_in_slot(friday_evening, tz="Europe/Berlin", at="09:00", working_days=week,
                         is_off=off.__contains__, last_sent=friday_evening) == monday_nine_berlin + 24 * H


def test_slack_giving_no_answer_stops_the_pass_after_one_dm(engine: Engine, config) -> None:  # type: ignore[no-untyped-def]
    for key in ("checkout-v2", "search", "launch"):  # three owners: three DMs due
        open_conflict(engine, key)
    plan(engine, config, T0)
    slack = FakeSlack(unreachable=True)
    report = deliver(engine, slack, T0 + H)
    assert len(report.messages) == 1 and report.aborted and "TimeoutError" in report.aborted
    assert len([c for c in slack.calls if c.get("timed_out")]) == 1  # one wait, not three
    assert sorted(r.attempts for r in outbox(engine)) == [0, 0, 1]  # the others wait, untouched
    slack.unreachable = False
    later = deliver(engine, slack, T0 + 2 * H)
    assert len(later.sent) == 3
