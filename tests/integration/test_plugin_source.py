"""A source added as a package alone (tests/fake_source/, registered with one
RECONCILER_SOURCES entry) goes the whole way: synced by the one pipeline, reconciled, and its
finding DMed to the deliverable's owner over the Slack sandbox."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from reconciler import compose, pipeline, store
from reconciler.db import session_scope
from reconciler.models import Conflict, Observation
from reconciler.protocol import ConfigError, config_problems, parse_config
from reconciler.settings import Settings

NOW = datetime(2026, 2, 2, 12, 0, tzinfo=UTC)  # a Monday, midday

CONFIG = """
timezone = "UTC"

[alerts]
group_wait = "0s"
quiet_hours = "off"

[[people]]
key = "alice"
name = "Alice Ng"
email = "alice@acme.test"
slack_id = "U01"
timezone = "UTC"

[[deliverables]]
key = "billing-export"
title = "Billing export"
owner = "alice"
links = { tracker = "F-1" }

[sources.tracker]
items = [
  { id = "F-1", status = "on_track", due = "2026-01-10", author = "alice@acme.test" },
  { id = "F-2", status = "blocked" },
]
members = [
  { id = "T-ALICE", name = "Alice", email = "Alice@acme.test" },
  { id = "T-ZED", name = "Zed Ode", email = "zed@acme.test" },
]
"""


@pytest.fixture
def tracker_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECONCILER_SOURCES", "tests.fake_source:plugin")
    monkeypatch.setenv("TRACKER_TOKEN", "tracker-test-token")


def test_a_source_package_goes_from_sync_to_a_dm(tmp_path: Path, tracker_registered: None) -> None:
    config = tmp_path / "reconciler.toml"
    config.write_text(CONFIG)
    with compose.sandbox() as sandbox:
        settings = compose.pointed_at_sandbox(Settings(), sandbox, database_url=f"sqlite:///{tmp_path / 'store.db'}")
        rt = pipeline.load_runtime(settings=settings, config_path=config, clock=lambda: NOW)
        assert rt.sources.names() == ["asana", "slack", "tracker"]

        report = pipeline.run_once(rt)

        tracker = [r for r in report.syncs if r.source == "tracker"]
        assert [(r.partition, r.ok, r.observations) for r in tracker] == [("board", True, 2)]
        with session_scope(rt.engine) as session:
            claims = session.exec(select(Observation).where(Observation.source == "tracker")).all()
            assert {(c.deliverable_key, c.field, c.value) for c in claims} == {
                ("billing-export", "status", "on_track"), ("billing-export", "target_date", "2026-01-10")}
            found = session.exec(select(Conflict).where(Conflict.deliverable_key == "billing-export")).all()
            assert [(c.kind, c.state) for c in found] == [("overdue", "open")]
        to_alice = [m for m in sandbox.posted_messages() if m.get("user") == "U01"]
        assert len(to_alice) == 1
        assert "Billing export" in to_alice[0]["text"] and "2026-01-10" in to_alice[0]["text"]

        with session_scope(rt.engine) as session:
            # its members joined to [[people]] by email, their tracker id an identity row
            alice = store.person_by_identity(session, "tracker", "T-ALICE")
            assert alice is not None and alice.key == "alice" and alice.identity("slack") == "U01"
            zed = store.person_by_identity(session, "tracker", "T-ZED")
            assert zed is not None and (zed.key, zed.name, zed.from_config) == ("zed@acme.test", "Zed Ode", False)
            assert store.author_names(session)[("tracker", "T-ALICE")] == "Alice Ng"

        again = pipeline.run_once(rt)  # nothing new: no second DM
        assert [r.observations for r in again.syncs if r.source == "tracker"] == [2]
        assert len([m for m in sandbox.posted_messages() if m.get("user") == "U01"]) == 1

        # the item the deliverable is linked to goes away in the tracker: its owner hears of it
        config.write_text(CONFIG.replace('  { id = "F-1", status = "on_track", due = "2026-01-10", author = "alice@acme.test" },\n', ""))
        later = pipeline.load_runtime(settings=settings, config_path=config, clock=lambda: NOW + timedelta(hours=1))
        pipeline.run_once(later)
        with session_scope(rt.engine) as session:
            found = session.exec(select(Conflict).where(Conflict.deliverable_key == "billing-export")).all()
            states = {c.kind: (c.state, c.summary) for c in found}
        assert states["source_deleted"] == (
            "open", "The Tracker item behind Billing export (F-1) is gone since 2026-02-02 13:00 UTC: deleted, or "
            "moved out of the synced projects")
        assert states["overdue"][0] == "resolved"


def test_a_bad_section_of_a_registered_source_is_one_line(tmp_path: Path, tracker_registered: None) -> None:
    config = tmp_path / "reconciler.toml"
    config.write_text(CONFIG.replace('status = "blocked"', 'status = "sideways"'))
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'store.db'}")
    with pytest.raises(ConfigError, match=r"reconciler.toml: sources\.tracker\.items\[1\]\.status: Input should be "):
        pipeline.load_runtime(settings=settings, config_path=config)


def test_a_registered_sources_section_is_checked_with_the_rest_of_the_file(tracker_registered: None) -> None:
    """Its plugin's model validates `[sources.tracker]` with the file (no code outside its
    package names it): every problem at once, a misspelt field with the closest valid one."""
    data = tomllib.loads(CONFIG.replace("[sources.tracker]", "[sources.tracker]\npage_sise = 5"))
    data["timezone"] = "Europe/Berln"
    problems = {p.field: (p.message, p.suggestion) for p in config_problems(data)}
    assert problems["sources.tracker.page_sise"] == ("unknown field", "page_size")
    assert "timezone" in problems
    valid = tomllib.loads(CONFIG.replace("[sources.tracker]", "[sources.tracker]\npage_size = 1"))
    section = parse_config(valid).source("tracker")
    assert (type(section).__name__, section.page_size, [i.id for i in section.items]) == ("TrackerConfig", 1, ["F-1", "F-2"])


def test_a_link_to_a_source_not_registered_is_one_line(tmp_path: Path, tracker_registered: None) -> None:
    config = tmp_path / "reconciler.toml"
    config.write_text(CONFIG.replace('links = { tracker = "F-1" }', 'links = { jira = "F-1" }'))
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'store.db'}")
    with pytest.raises(ConfigError, match=r"deliverables\[0\]\.links\.jira: no source links deliverables by 'jira' "
                                          r"\(known: asana, tracker\)"):
        pipeline.load_runtime(settings=settings, config_path=config)


def test_a_section_of_a_source_not_registered_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "reconciler.toml"
    config.write_text(CONFIG)
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'store.db'}")
    with pytest.raises(ConfigError, match="sources.tracker: no source named 'tracker' is registered"):
        pipeline.load_runtime(settings=settings, config_path=config)


def test_a_registered_sources_token_is_scrubbed_like_the_others(tmp_path: Path, tracker_registered: None) -> None:
    config = tmp_path / "reconciler.toml"
    config.write_text(CONFIG)
    rt = pipeline.load_runtime(settings=Settings(database_url=f"sqlite:///{tmp_path / 'store.db'}"), config_path=config)
    token = rt.sources.get("tracker").credentials(rt.settings).token
    assert token and rt.scrub(f"tracker said 401 for {token}") == "tracker said 401 for ***"


def test_a_registered_source_without_its_token_fails_its_sync_in_one_line(
    tmp_path: Path, tracker_registered: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TRACKER_TOKEN")
    config = tmp_path / "reconciler.toml"
    config.write_text(CONFIG)
    rt = pipeline.load_runtime(settings=Settings(database_url=f"sqlite:///{tmp_path / 'store.db'}"), config_path=config)
    [report] = pipeline.sync_all(rt, sources=["tracker"])
    assert (report.ok, report.error) == (False, "tracker: no token configured (set TRACKER_TOKEN)")


def test_people_may_name_their_id_in_a_registered_source(tmp_path: Path, tracker_registered: None) -> None:
    config = tmp_path / "reconciler.toml"
    config.write_text(CONFIG.replace('slack_id = "U01"', 'ids = { slack = "U01", tracker = "T-ALICE" }'))
    rt = pipeline.load_runtime(settings=Settings(database_url=f"sqlite:///{tmp_path / 'store.db'}"),
                               config_path=config, clock=lambda: NOW)
    assert rt.config.people[0].ids == {"slack": "U01", "tracker": "T-ALICE"}
    pipeline.apply_config(rt)
    with session_scope(rt.engine) as session:
        assert store.identities_of_keys(session, ["alice"], "tracker") == {"alice": "T-ALICE"}


def test_an_id_in_a_source_not_registered_is_one_line(tmp_path: Path, tracker_registered: None) -> None:
    config = tmp_path / "reconciler.toml"
    config.write_text(CONFIG.replace('slack_id = "U01"', 'ids = { jira = "J-1" }'))
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'store.db'}")
    with pytest.raises(ConfigError, match=r"people\[0\]\.ids\.jira: no source named 'jira' is registered "
                                          r"\(known: asana, slack, tracker\)"):
        pipeline.load_runtime(settings=settings, config_path=config)
