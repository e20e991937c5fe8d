from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine

from reconciler import routing, snoozes
from reconciler.db import session_scope
from reconciler.protocol import RoleConfig
from tests.unit.test_notify_support import T0, make_config, open_conflict, seed

H = timedelta(hours=1)
BERLIN_NIGHT = datetime(2026, 11, 24, 22, 0, tzinfo=timezone.utc)  # 23:00 in Berlin


@pytest.mark.parametrize(
    ("at", "spec", "expected"),
    [
        (datetime(2026, 11, 24, 22, 0, tzinfo=timezone.utc), "22:00-08:00", datetime(2026, 11, 25, 7, 0, tzinfo=timezone.utc)),
        (datetime(2026, 11, 25, 5, 0, tzinfo=timezone.utc), "22:00-08:00", datetime(2026, 11, 25, 7, 0, tzinfo=timezone.utc)),
        (datetime(2026, 11, 25, 7, 0, tzinfo=timezone.utc), "22:00-08:00", None),
        (datetime(2026, 11, 24, 20, 59, tzinfo=timezone.utc), "22:00-08:00", None),
        (datetime(2026, 11, 24, 12, 30, tzinfo=timezone.utc), "13:00-14:00", datetime(2026, 11, 24, 13, 0, tzinfo=timezone.utc)),
        (datetime(2026, 11, 24, 12, 30, tzinfo=timezone.utc), None, None),
        # the night the clocks go back in Berlin: 08:00 CET is 07:00 UTC
        (datetime(2026, 10, 24, 23, 0, tzinfo=timezone.utc), "22:00-08:00", datetime(2026, 10, 25, 7, 0, tzinfo=timezone.utc)),
    ],
)
def test_quiet_hours_end_in_the_recipients_zone(at: datetime, spec: str | None, expected: datetime | None) -> None:
    assert routing.quiet_hours_end(at, tz="Europe/Berlin", spec=spec) == expected


def test_urgent_notices_ignore_quiet_hours() -> None:
    assert routing.deliver_at(BERLIN_NIGHT, severity="high", tz="Europe/Berlin", spec="22:00-08:00") == BERLIN_NIGHT
    assert routing.deliver_at(BERLIN_NIGHT, severity="low", tz="Europe/Berlin", spec="22:00-08:00") == BERLIN_NIGHT + 9 * H


def test_targets_fall_back_from_owner_to_lead_to_head() -> None:
    role = RoleConfig(name="eng", lead="bob", head="erin")
    headless = RoleConfig(name="eng", head="erin")
    assert routing.resolve_target("owner", owner="alice", role=role) == ("alice", "decision owner")
    assert routing.resolve_target("owner", owner=None, role=role)[0] == "bob"
    assert routing.resolve_target("owner", owner=None, role=headless)[0] == "erin"
    assert routing.resolve_target("lead", owner="alice", role=headless)[0] == "erin"
    assert routing.resolve_target("head", owner="alice", role=None) == (None, "the role has no head")
    assert routing.resolve_target("dan", owner="alice", role=role) == ("dan", "named in the escalation path")


def test_route_for_explains_levels_fallbacks_and_silences(sqlite_engine: Engine) -> None:
    config = make_config(quiet_hours="22:00-08:00")
    seed(sqlite_engine, config)
    with session_scope(sqlite_engine) as session:
        plan = routing.route_for(session, "checkout-v2", config=config, now=T0)
    assert (plan.owner, plan.role, plan.problems) == ("alice", "engineering", [])
    assert [(s.level, s.recipient, s.when, s.after) for s in plan.steps] == [
        (0, "alice", "always", "0h"), (1, "bob", "not_acknowledged", "24h"), (2, "erin", "not_resolved", "72h"),
    ]
    assert plan.steps[0].deliver_at == T0 + timedelta(seconds=30) and plan.conflicts == []

    with session_scope(sqlite_engine) as session:
        orphan = routing.route_for(session, "onboarding", config=config, now=T0)
    assert orphan.steps[0].recipient == "bob" and "no decision owner" in orphan.steps[0].why
    assert "onboarding has no decision owner" in orphan.problems

    with session_scope(sqlite_engine) as session:
        night = routing.route_for(session, "search", config=config, now=BERLIN_NIGHT)
    assert night.steps[0].recipient == "carol" and night.steps[0].delayed_by_quiet_hours
    assert night.steps[0].deliver_at == datetime(2026, 11, 25, 7, 0, tzinfo=timezone.utc)

    cid = open_conflict(sqlite_engine, "checkout-v2")
    with session_scope(sqlite_engine) as session:
        snooze = snoozes.add_snooze(session, matchers={"owner": "alice"}, duration=H, author="a", comment="c", now=T0)
    with session_scope(sqlite_engine) as session:
        plan = routing.route_for(session, "checkout-v2", config=config, now=T0)
    assert [(c.conflict_id, c.suppressed_by) for c in plan.conflicts] == [(cid, f"snooze:{snooze.id}")]

    with session_scope(sqlite_engine) as session, pytest.raises(ValueError, match="unknown deliverable 'nope'"):
        routing.route_for(session, "nope", config=config, now=T0)


def test_an_ownerless_deliverable_goes_to_the_roles_escalation_contact_first() -> None:
    role = RoleConfig(name="eng", lead="bob", head="erin", escalation_contact="carol")
    assert routing.resolve_target("owner", owner=None, role=role) == (
        "carol", "no decision owner: the role's escalation contact")
    assert routing.resolve_target("owner", owner="alice", role=role) == ("alice", "decision owner")
    assert routing.resolve_target("lead", owner=None, role=role) == ("bob", "the role's lead")


ZONED = {
    "timezone": "UTC",
    "default_role": "eng",
    "people": [{"key": "ann", "name": "Ann"}],
    "roles": [
        {"name": "eng", "lead": "ann"},
        {"name": "mkt", "lead": "ann", "zones": {"asana_projects": ["2002"], "slack_channels": ["#campaigns"],
                                                "deliverables": ["brochure"]}},
    ],
    "deliverables": [
        {"key": "api", "role": "eng"}, {"key": "brochure"}, {"key": "site"}, {"key": "ads"}, {"key": "misc"},
    ],
}


@pytest.mark.parametrize(
    ("key", "projects", "channels", "role", "why"),
    [
        ("api", ["2002"], [], "eng", "named on the deliverable (eng)"),
        ("brochure", [], [], "mkt", "the mkt zone lists it"),
        ("site", ["2001", "2002"], [], "mkt", "the mkt zone holds its Asana project 2002"),
        ("ads", [], ["campaigns"], "mkt", "the mkt zone holds its Slack channel campaigns"),
        ("misc", ["2001"], ["eng"], "eng", "default_role (eng)"),
    ],
)
def test_a_role_comes_from_the_deliverable_then_its_zones_then_the_default(
    key: str, projects: list[str], channels: list[str], role: str, why: str
) -> None:
    from reconciler.protocol import parse_config

    config = parse_config(ZONED, origin="test")
    chosen, reason = config.role_choice(key, asana_projects=projects, slack_channels=channels)
    assert (chosen.name if chosen else None, reason) == (role, why)
