"""The notifier's stages as functions on lists, without a store: the silence stage's decision,
the group stage's follow-up grouping, the episode update a kept candidate records, and the order
the pipeline runs them in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from reconciler.models import Conflict, NotificationReason
from reconciler.notify import group, pipeline, silence
from reconciler.notify.context import FollowUp
from reconciler.notify.model import Candidate, EpisodeUpdate, Notice, Silences
from reconciler.routing import Recipient

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ALICE = Recipient(key="alice", name="Alice", slack_id="U1", timezone="UTC")
BOB = Recipient(key="bob", name="Bob", slack_id="U2", timezone="UTC")


def conflict(conflict_id: int, key: str = "checkout-v2") -> Conflict:
    return Conflict(id=conflict_id, fingerprint=f"f{conflict_id}", deliverable_key=key, kind="status", opened_at=NOW, last_seen_at=NOW)


def candidate(conflict_id: int, *, silences: Silences = Silences.ALL, **fields: object) -> Candidate:
    notice = Notice(conflict_id, ALICE, NotificationReason.NEW, level=0)
    return Candidate(conflict=conflict(conflict_id), notices=(notice,), silences=silences, **fields)  # type: ignore[arg-type]


def snoozed(*keys: str) -> silence.SilenceRule:
    """A silence rule: a snooze on these deliverables, which holds back resolution notices too."""
    return lambda c, which: f"snooze:{c.deliverable_key}" if c.deliverable_key in keys else None


def inhibited(*keys: str) -> silence.SilenceRule:
    """A silence rule: an inhibiting dependency violation, which resolution notices ignore."""
    return lambda c, which: f"inhibited:{c.deliverable_key}" if which is Silences.ALL and c.deliverable_key in keys else None


def test_silence_keeps_what_no_silence_matches_and_gives_each_suppressed_its_reason() -> None:
    quiet = Candidate(conflict=conflict(2, "search"), silences=Silences.ALL)
    kept, suppressed = silence.sort_out([candidate(1), quiet, candidate(3)], snoozed("search"))
    assert [c.conflict_id for c in kept] == [1, 3]
    assert [(c.conflict_id, reason) for c, reason in suppressed] == [(2, "snooze:search")]


def test_resolution_notices_are_held_back_by_snoozes_but_not_by_inhibitions() -> None:
    resolved = candidate(1, silences=Silences.SNOOZES)
    assert silence.sort_out([resolved], inhibited("checkout-v2")) == ([resolved], [])
    assert silence.sort_out([resolved], snoozed("checkout-v2"))[1] == [(resolved, "snooze:checkout-v2")]


def test_a_candidate_with_nothing_to_decide_is_not_asked_about() -> None:
    waiting = candidate(1, silences=Silences.NONE)
    assert silence.sort_out([waiting], snoozed("checkout-v2")) == ([waiting], [])


def test_unroutable_suppresses_only_when_no_silence_does_and_blocked_always_does() -> None:
    unroutable = candidate(1, unroutable="unroutable:no owner")
    assert silence.suppression_of(unroutable, snoozed()) == "unroutable:no owner"
    assert silence.suppression_of(unroutable, snoozed("checkout-v2")) == "snooze:checkout-v2"
    blocked = candidate(2, silences=Silences.NONE, blocked_by="unroutable:unknown person 'zed'")
    assert silence.suppression_of(blocked, snoozed("checkout-v2")) == "unroutable:unknown person 'zed'"


def test_follow_ups_group_per_recipient_reason_and_thread_each_conflict_once() -> None:
    notices = [
        Notice(1, ALICE, NotificationReason.REMINDER, level=0, parent_id=10),
        Notice(2, ALICE, NotificationReason.REMINDER, level=1, parent_id=10),
        Notice(3, ALICE, NotificationReason.REMINDER, level=0, parent_id=11),
        Notice(2, BOB, NotificationReason.ESCALATION, level=1),
        Notice(1, ALICE, NotificationReason.REMINDER, level=0, parent_id=10),  # the same notice twice
        Notice(1, ALICE, NotificationReason.RESOLVED, level=0, parent_id=10),
    ]
    assert group.group_follow_ups(notices) == {
        FollowUp(ALICE, NotificationReason.REMINDER, 10): {1: 0, 2: 1},
        FollowUp(ALICE, NotificationReason.REMINDER, 11): {3: 0},
        FollowUp(BOB, NotificationReason.ESCALATION, None): {2: 1},
        FollowUp(ALICE, NotificationReason.RESOLVED, 10): {1: 0},
    }
    assert list(group.group_follow_ups(notices))[0] == FollowUp(ALICE, NotificationReason.REMINDER, 10)


def test_an_episode_update_sets_only_what_it_names() -> None:
    subject = conflict(1)
    subject.alert_started_at, subject.notified_at, subject.escalation_level = NOW - timedelta(days=1), NOW - timedelta(hours=5), 1
    EpisodeUpdate(last_notified_at=NOW, escalation_level=2).apply(subject)
    assert (subject.alert_started_at, subject.notified_at) == (NOW - timedelta(days=1), NOW - timedelta(hours=5))
    assert (subject.last_notified_at, subject.escalation_level) == (NOW, 2)


def test_the_pipeline_silences_before_it_groups() -> None:
    assert pipeline.STAGES == (silence.inhibit_and_silence, group.group_and_dedup)
