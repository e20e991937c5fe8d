"""Asana partitions from portfolios and teams, and people from the workspace's users, over real
HTTP: the official SDK against the sandbox, through `reconciler.pipeline` with a SQLite store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import select

from connectors.asana.connector import AsanaConnector, clear_expansion_cache
from connectors.base import Source
from tests.conftest import DEMO_ANCHOR
from connectors.sandbox import Sandbox, bundled_scenario_path, parse_scenario
from reconciler import pipeline, store
from reconciler.db import session_scope
from reconciler.models import Person
from reconciler.protocol import Config, load_config
from reconciler.settings import Settings

from .test_asana_connector import DEMO, DEMO_CLAIMS, TOKEN, claims

PORTFOLIO, TEAM = "7001", "8001"


def scenario() -> dict[str, Any]:
    """The demo, plus projects 2002/2003 (and 2004, archived), a portfolio {2001, 2002}, a team
    {2002, 2003, 2004}, and frank: an Asana user nobody assigned who posts in #launches."""
    data = json.loads(bundled_scenario_path("demo").read_text())
    asana = data["asana"]
    asana["users"].append({"gid": "507", "name": "Frank Roy", "email": "frank@acme.test"})
    for gid, name, archived in (("2002", "Platform", False), ("2003", "Growth", False), ("2004", "Old launch", True)):
        asana["projects"].append({"gid": gid, "name": name, "archived": archived,
                                  "sections": [{"gid": f"{gid}1", "name": "Planned"}]})
        asana["tasks"].append({"gid": f"{gid}9", "name": f"chore in {name}", "projects": [gid]})
    asana["portfolios"] = [{"gid": PORTFOLIO, "name": "Q4 launches", "projects": ["2001", "2002"]}]
    asana["teams"] = [{"gid": TEAM, "name": "Platform team", "projects": ["2002", "2003", "2004"]}]
    slack = data["slack"]
    slack["users"].append({"id": "U07", "name": "frank", "real_name": "Frank Roy",
                           "profile": {"email": "Frank@acme.test", "real_name": "Frank Roy"}})
    slack["messages"].append({"channel": "C01", "ts": "1763990000.000100", "user": "U07",
                           "text": "onboarding is done"})  # authors of claims become people
    return data


@pytest.fixture(autouse=True)
def _no_shared_expansions() -> Iterator[None]:
    clear_expansion_cache()
    yield
    clear_expansion_cache()


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(parse_scenario(scenario(), today=DEMO_ANCHOR), port=0) as sb:
        yield sb


def with_asana(config: Config, **update: Any) -> Config:
    return config.with_source("asana", config.source("asana").model_copy(update=update))


def expanded_config(**update: Any) -> Config:
    return with_asana(load_config(DEMO), portfolios=[PORTFOLIO], teams=[TEAM], **update)


def runtime(engine: Engine, config: Config, sb: Sandbox, *, slack: bool = False) -> pipeline.Runtime:
    settings = Settings(
        asana_token=SecretStr(TOKEN),
        asana_base_url=sb.asana_base_url,
        slack_bot_token=SecretStr("xoxb-test") if slack else None,
        slack_base_url=sb.slack_base_url,
    )
    return pipeline.Runtime(settings=settings, config=config, engine=engine)


def asana_partitions(rt: pipeline.Runtime) -> list[str]:
    return [p for s, p in pipeline.configured_partitions(rt) if s is Source.ASANA]


def test_portfolio_and_team_expand_to_their_projects_each_synced_once(sqlite_engine: Engine, sandbox: Sandbox) -> None:
    rt = runtime(sqlite_engine, expanded_config(), sandbox)

    # 2002 is in the portfolio and in the team: once; 2004 is archived: not at all
    assert asana_partitions(rt) == ["2001", "2002", "2003"]
    assert sandbox.request_counts() == {"asana GET /portfolios/{gid}/items": 1, "asana GET /teams/{gid}/projects": 1}

    sandbox.reset_counts()
    reports = pipeline.sync_all(rt, sources=[Source.ASANA])

    assert [(r.partition, r.ok) for r in reports] == [("2001", True), ("2002", True), ("2003", True)]
    counts = sandbox.request_counts()
    assert "asana GET /portfolios/{gid}/items" not in counts  # the expansion is reused
    assert counts["asana GET /projects/{gid}/tasks"] == 3  # each project crawled once
    assert counts["asana GET /workspaces/{gid}/users"] == 1  # once per connector, not per project
    assert claims(sqlite_engine) == DEMO_CLAIMS  # the extra projects hold no linked task
    with session_scope(sqlite_engine) as session:
        assert {c.partition for c in store.sync_cursors(session) if c.cursor} == {"2001", "2002", "2003"}

    sandbox.reset_counts()
    idle = pipeline.sync_all(rt, sources=[Source.ASANA])
    assert all(r.ok for r in idle)
    assert sandbox.request_counts() == {"asana GET /events": 3}  # one per project, nothing else


def test_expansion_cost_and_reuse(sqlite_engine: Engine, sandbox: Sandbox) -> None:
    plain = runtime(sqlite_engine, load_config(DEMO), sandbox)
    assert asana_partitions(plain) == ["2001"]
    assert sandbox.request_counts() == {}  # a plain project list costs no request

    config = expanded_config()
    conn = AsanaConnector(token=TOKEN, base_url=sandbox.asana_base_url, config=config.source("asana"),
                          index=config.deliverable_index(), page_size=1)
    assert conn.partitions() == ["2001", "2002", "2003"]
    # one request per page (limit=1): 2 portfolio items, 2 live team projects (2004 is archived)
    assert conn.expansion().requests == 4
    assert sandbox.request_counts() == {"asana GET /portfolios/{gid}/items": 2, "asana GET /teams/{gid}/projects": 2}
    assert conn.partitions() == ["2001", "2002", "2003"]
    before = sum(sandbox.request_counts().values())

    rt = runtime(sqlite_engine, config, sandbox)
    for _ in range(3):  # same token and config: the process's expansion, no request
        assert asana_partitions(rt) == ["2001", "2002", "2003"]
    assert sum(sandbox.request_counts().values()) == before

    sandbox.reset_counts()
    uncached = runtime(sqlite_engine, expanded_config(expand_every="0s"), sandbox)
    asana_partitions(uncached)
    asana_partitions(uncached)
    assert sandbox.request_counts() == {"asana GET /portfolios/{gid}/items": 2, "asana GET /teams/{gid}/projects": 2}
    conn.close()


def test_new_project_in_a_portfolio_is_seen_after_expand_every(sqlite_engine: Engine, sandbox: Sandbox) -> None:
    rt = runtime(sqlite_engine, with_asana(load_config(DEMO), portfolios=[PORTFOLIO], expand_every="0s"), sandbox)
    assert asana_partitions(rt) == ["2001", "2002"]
    sandbox.asana.portfolios[PORTFOLIO].projects.append("2003")
    assert asana_partitions(rt) == ["2001", "2002", "2003"]


@pytest.mark.parametrize(
    ("fault", "portfolio", "error"),
    [
        (None, "7999", "Asana portfolio 7999: not found (404) — check the gid in the config"),
        (403, PORTFOLIO, "Asana portfolio 7001: forbidden (403) — the token's user cannot see it"),
    ],
)
def test_portfolio_error_is_one_line_naming_it_and_the_rest_syncs(
    sqlite_engine: Engine, sandbox: Sandbox, fault: int | None, portfolio: str, error: str
) -> None:
    if fault is not None:
        sandbox.fail("GET /portfolios/{gid}/items", status=fault)
    rt = runtime(sqlite_engine, with_asana(load_config(DEMO), portfolios=[portfolio], teams=[TEAM]), sandbox)

    assert asana_partitions(rt) == ["2001", "2002", "2003", f"portfolio:{portfolio}"]
    reports = {r.partition: r for r in pipeline.sync_all(rt, sources=[Source.ASANA])}

    failed = reports[f"portfolio:{portfolio}"]
    assert failed.error == error and not failed.transient and failed.requests == 0
    assert TOKEN not in error
    assert all(r.ok for p, r in reports.items() if p != f"portfolio:{portfolio}")
    assert sandbox.request_counts()["asana GET /portfolios/{gid}/items"] == 1  # the error is reused too
    with session_scope(sqlite_engine) as session:
        rows = {c.partition: c for c in store.sync_cursors(session)}
    assert rows[f"portfolio:{portfolio}"].last_error == error


def test_team_error_names_the_team(sqlite_engine: Engine, sandbox: Sandbox) -> None:
    sandbox.fail("GET /teams/{gid}/projects", status=401)
    rt = runtime(sqlite_engine, with_asana(load_config(DEMO), teams=[TEAM]), sandbox)
    (report,) = [r for r in pipeline.sync_all(rt, sources=[Source.ASANA]) if r.partition == f"team:{TEAM}"]
    assert report.error == "Asana team 8001: not authorised (401) — check ASANA_TOKEN"


def test_transient_expansion_failure_is_asked_again(sqlite_engine: Engine, sandbox: Sandbox) -> None:
    # every attempt of the first expansion (1 + 5 retries) is rate limited
    sandbox.fail("GET /teams/{gid}/projects", status=429, retry_after=0, times=6)
    rt = runtime(sqlite_engine, with_asana(load_config(DEMO), teams=[TEAM]), sandbox)
    assert asana_partitions(rt) == ["2001", f"team:{TEAM}"]  # retried, then given up: not cached
    assert asana_partitions(rt) == ["2001", "2002", "2003"]


def test_workspace_users_join_slack_people_by_email(sqlite_engine: Engine, sandbox: Sandbox) -> None:
    rt = runtime(sqlite_engine, load_config(DEMO), sandbox, slack=True)
    reports = pipeline.sync_all(rt)
    assert all(r.ok for r in reports), [r.error for r in reports]

    with session_scope(sqlite_engine) as session:
        frank = session.exec(select(Person).where(Person.email == "frank@acme.test")).all()
        assert [(p.identity("asana"), p.identity("slack"), p.name) for p in frank] == [("507", "U07", "Frank Roy")]

    # idle incremental: no users request (the idle budget stays one request per project)
    sandbox.reset_counts()
    assert all(r.ok for r in pipeline.sync_all(rt, sources=[Source.ASANA]))
    assert sandbox.request_counts() == {"asana GET /events": 1}


def test_workspace_users_can_be_switched_off(sqlite_engine: Engine, sandbox: Sandbox) -> None:
    rt = runtime(sqlite_engine, with_asana(load_config(DEMO), workspace_users=False), sandbox)
    assert all(r.ok for r in pipeline.sync_all(rt, sources=[Source.ASANA]))
    assert "asana GET /workspaces/{gid}/users" not in sandbox.request_counts()
    with session_scope(sqlite_engine) as session:
        assert session.exec(select(Person).where(Person.email == "frank@acme.test")).first() is None


def test_unknown_workspace_is_one_line(sqlite_engine: Engine, sandbox: Sandbox) -> None:
    rt = runtime(sqlite_engine, with_asana(load_config(DEMO), workspace="1999"), sandbox)
    (report,) = pipeline.sync_all(rt, sources=[Source.ASANA])
    assert report.error == "Asana workspace 1999: not found (404) — check the gid in the config"
