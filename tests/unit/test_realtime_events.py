"""Slack's message events as changes to one message, and polling as the safety net while they flow."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import Engine

from connectors.base import Source
from connectors.plugin import PollPlan
from connectors.registry import load_sources
from connectors.slack.events import message_change
from reconciler import pipeline, store
from reconciler.db import session_scope
from reconciler.pipeline import PUSHES_ALIVE_FOR, PollPace, Runtime
from reconciler.protocol import load_config
from reconciler.settings import Settings

DEMO = Path(__file__).resolve().parents[2] / "reconciler" / "examples" / "demo.toml"
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)


def test_a_post_a_reply_an_edit_and_a_deletion_each_name_one_message_and_its_version() -> None:
    post = message_change({"type": "message", "channel": "C1", "user": "U1", "text": "x", "ts": "100.000100",
                           "event_ts": "100.000100", "channel_type": "channel", "client_msg_id": "abc"})
    assert post is not None
    assert (post.source_ref, post.version, post.thread, post.deleted) == ("C1:100.000100", "100.000100", None, False)
    assert post.message == {"type": "message", "user": "U1", "text": "x", "ts": "100.000100"}  # as history shows it

    reply = message_change({"type": "message", "channel": "C1", "user": "U1", "text": "y", "ts": "200.000100",
                            "thread_ts": "100.000100"})
    assert reply is not None and reply.thread == "100.000100"

    edit = message_change({"type": "message", "subtype": "message_changed", "channel": "C1", "ts": "300.0",
                           "message": {"type": "message", "user": "U1", "text": "z", "ts": "200.000100",
                                       "thread_ts": "100.000100", "edited": {"user": "U1", "ts": "250.000000"}}})
    assert edit is not None
    assert (edit.ts, edit.version, edit.thread, edit.message["text"]) == ("200.000100", "250.000000", "100.000100", "z")

    gone = message_change({"type": "message", "subtype": "message_deleted", "channel": "C1", "ts": "400.000000",
                           "deleted_ts": "100.000100", "previous_message": {"ts": "100.000100"}})
    assert gone is not None and (gone.ts, gone.version, gone.deleted) == ("100.000100", "400.000000", True)


def test_the_slack_plugins_push_mapping_names_the_channel_the_message_and_its_version_order() -> None:
    pushed = load_sources([]).get(Source.SLACK).pushed
    assert pushed is not None
    edit = pushed.change({"type": "message", "subtype": "message_changed", "channel": "C1", "ts": "300.0",
                          "message": {"type": "message", "user": "U1", "text": "z", "ts": "100.000100",
                                      "edited": {"user": "U1", "ts": "300.000000"}}})
    assert edit is not None
    assert (edit.place, edit.source_ref, edit.version, edit.deleted) == ("C1", "C1:100.000100", "300.000000", False)
    assert pushed.version_key("99.000001") < pushed.version_key("100.000000")  # not string order
    assert pushed.version_time("100.000100") == datetime(1970, 1, 1, 0, 1, 40, 100, tzinfo=timezone.utc)
    assert pushed.change({"type": "app_home_opened", "user": "U1"}) is None
    assert load_sources([]).get(Source.ASANA).pushed is None  # Asana pushes by webhook, to its receiver


def test_events_that_state_no_message_are_ignored() -> None:
    assert message_change({"type": "app_home_opened", "user": "U1"}) is None
    assert message_change({"type": "message", "subtype": "message_replied", "channel": "C1", "ts": "1.0"}) is None
    assert message_change({"type": "message", "subtype": "message_changed", "channel": "C1"}) is None
    assert message_change({"type": "message", "text": "no channel", "ts": "1.0"}) is None


def test_while_events_flow_slack_channels_are_polled_only_once_per_the_longer_interval(sqlite_engine: Engine) -> None:
    clock = [T0]
    rt = Runtime(settings=Settings(), config=load_config(DEMO), engine=sqlite_engine, clock=lambda: clock[0])
    pace = PollPace.for_sources(300, load_sources([]), WorkerPace(slack_events_sync_interval=1800))
    every = pipeline.configured_partitions(rt)
    assert (Source.SLACK, "launches") in every and (Source.ASANA, "2001") in every
    synced(sqlite_engine, [p for p in every if p[0] is Source.SLACK], at=T0)
    clock[0] = T0 + timedelta(minutes=5)
    assert pipeline.partitions_due(rt, every, pace) == every  # no heartbeat: the usual pace

    pipeline.note_pushes_alive(rt, Source.SLACK)
    clock[0] = T0 + timedelta(minutes=6)
    assert pipeline.partitions_due(rt, every, pace) == [(Source.ASANA, "2001")]  # Asana stays on its pace

    clock[0] += PUSHES_ALIVE_FOR  # the app went away: poll as usual, and so catch up from the cursors
    assert pipeline.partitions_due(rt, every, pace) == every

    clock[0] = T0 + timedelta(minutes=31)
    pipeline.note_pushes_alive(rt, Source.SLACK)
    assert pipeline.partitions_due(rt, every, pace) == every  # events flow, and the safety net's 30 min are up


def test_a_shorter_asana_interval_polls_projects_on_every_tick_and_channels_at_their_pace(sqlite_engine: Engine) -> None:
    clock = [T0]
    rt = Runtime(settings=Settings(), config=load_config(DEMO), engine=sqlite_engine, clock=lambda: clock[0])
    pace = PollPace.for_sources(300, load_sources([]), WorkerPace(asana_sync_interval=30))
    assert pace.tick == 30
    every = pipeline.configured_partitions(rt)
    synced(sqlite_engine, every, at=T0)
    clock[0] = T0 + timedelta(seconds=29)  # a tick, a little early
    assert pipeline.partitions_due(rt, every, pace) == [(Source.ASANA, "2001")]
    synced(sqlite_engine, [(Source.ASANA, "2001")], at=clock[0])
    clock[0] = T0 + timedelta(seconds=295)
    assert pipeline.partitions_due(rt, every, pace) == every


@dataclass(frozen=True)
class WorkerPace:
    """The worker settings the built-in plugins read their poll plans from."""

    slack_events_sync_interval: float = 1800.0
    asana_sync_interval: float | None = None


def test_a_source_is_paced_by_its_plugins_plan_and_others_by_the_usual_interval() -> None:
    pace = PollPace(every=300, plans={"tracker": PollPlan(interval=60), "feed": PollPlan(while_pushed=3600)})
    assert pace.tick == 60
    assert pace.interval("tracker", pushed=False) == pace.interval("tracker", pushed=True) == 60
    assert (pace.interval("feed", pushed=False), pace.interval("feed", pushed=True)) == (300, 3600)
    assert pace.interval("other", pushed=True) == 300
    assert (pace.push_paced("feed"), pace.push_paced("tracker"), pace.push_paced("other")) == (True, False, False)
    built_in = PollPace.for_sources(300, load_sources([]), WorkerPace(asana_sync_interval=30))
    assert built_in.plans == {Source.ASANA: PollPlan(interval=30), Source.SLACK: PollPlan(while_pushed=1800)}


def synced(engine: Engine, partitions: list[tuple[Source, str]], *, at: datetime) -> None:
    with session_scope(engine) as session:
        for source, partition in partitions:
            store.record_sync_success(session, source, partition, now=at)


def test_event_ids_and_message_versions_are_forgotten_once_no_repeat_is_expected(sqlite_engine: Engine) -> None:
    clock = [T0]
    rt = Runtime(settings=Settings(), config=load_config(DEMO), engine=sqlite_engine, clock=lambda: clock[0])
    with session_scope(sqlite_engine) as session:
        store.take_event(session, "Ev1", now=T0)
        store.record_message_version(session, Source.SLACK, "C1:1.000100", "1.000100", deleted=False, now=T0)
    clock[0] = T0 + pipeline.PUSHED_EVENTS_KEPT + timedelta(seconds=1)
    pipeline.prune_pushed_events(rt)
    with session_scope(sqlite_engine) as session:
        assert not store.event_taken(session, "Ev1")
        assert store.message_version(session, Source.SLACK, "C1:1.000100") is not None  # kept longer
    clock[0] = T0 + pipeline.MESSAGE_VERSIONS_KEPT + timedelta(seconds=1)
    pipeline.prune_pushed_events(rt)
    with session_scope(sqlite_engine) as session:
        assert store.message_version(session, Source.SLACK, "C1:1.000100") is None
