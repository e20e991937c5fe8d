"""The board's read models and HTTP surface on a small store built through the real store and
reconciler: filters, blocked chains, the graph's layout, escaping, health, metrics and access."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine
from starlette.datastructures import Headers
from starlette.testclient import TestClient
from typer.testing import CliRunner

from connectors.base import ClaimKind, Field, Observation, Source, SyncBatch
from reconciler import board, engine, store
from reconciler.cli import app as cli_app
from reconciler.db import session_scope
from reconciler.models import Conflict
from reconciler.pipeline import Runtime
from reconciler.protocol import Config, parse_config
from reconciler.settings import Settings
from reconciler.web import create_app
from reconciler.web.app import filter_query, safe_url
from reconciler.web.auth import AccessSettings, judge, require_access_for
from reconciler.web import healthcheck
from reconciler.web.graph import layout
from reconciler.web.server import board_in_background

NOW = datetime(2026, 6, 10, 12, 0, tzinfo=timezone.utc)
TODAY = NOW.date()
XSS = '<script>window.__xss = 1</script><img src=x onerror="alert(2)">'


def _config() -> Config:
    return parse_config(
        {
            "timezone": "UTC",
            "people": [
                {"key": "ann", "name": "Ann Lee", "slack_id": "UA"},
                {"key": "ben", "name": "Ben Ito", "slack_id": "UB"},
                {"key": "cat", "name": "Cat Roy", "slack_id": "UC"},
            ],
            "roles": [{"name": "eng", "lead": "ben"}, {"name": "mkt", "lead": "cat"}],
            "deliverables": [
                {"key": "api", "title": "API", "owner": "ann", "role": "eng"},
                {"key": "web", "title": "Web app", "owner": "ben", "role": "eng", "depends_on": ["api"]},
                {"key": "launch", "title": "Launch", "owner": "cat", "role": "mkt", "depends_on": ["web"]},
                {"key": "docs", "title": "Docs", "role": "mkt"},
                {"key": "old", "title": "Old thing", "owner": "ann", "role": "eng"},
            ],
            "rules": {"stale_after_days": None},
        },
        origin="test",
    )


def _claim(key: str, field: Field, value: str, *, hours_ago: int, source: Source = Source.SLACK,
           author: str = "UA", excerpt: str = "", ref: str | None = None) -> Observation:
    return Observation(
        deliverable_key=key,
        source=source,
        source_ref=ref or f"C1:{key}:{field.value}:{hours_ago}",
        field=field,
        value=value,
        stated_at=NOW - timedelta(hours=hours_ago),
        kind=ClaimKind.EVENT,
        author=author,
        excerpt=excerpt or f"{key} is {value}",
        permalink=f"https://acme.slack.com/archives/C1/p{hours_ago}",
    )


def _due(key: str, days: int) -> Observation:
    return _claim(key, Field.TARGET_DATE, (TODAY + timedelta(days=days)).isoformat(), hours_ago=30, author="UB")


def _fill(engine_: Engine, config: Config) -> None:
    claims = [
        _claim("api", Field.STATUS, "blocked", hours_ago=5, excerpt=f"api is blocked {XSS}"),
        _due("api", 3),
        _claim("web", Field.STATUS, "on_track", hours_ago=6, author="UB"),
        _due("web", 10),
        _claim("launch", Field.STATUS, "on_track", hours_ago=7, author="UC"),
        _due("launch", 20),
        _claim("old", Field.STATUS, "done", hours_ago=50),
        _due("old", -5),
    ]
    with session_scope(engine_) as session:
        store.sync_config(session, config, now=NOW)
        store.apply_batch(session, source=Source.SLACK, partition="C1", batch=SyncBatch(observations=claims), now=NOW)
        store.record_sync_success(session, Source.SLACK, "C1", now=NOW)
    with session_scope(engine_) as session:
        engine.reconcile_all(session, config=config, now=NOW)


@pytest.fixture
def config() -> Config:
    return _config()


@pytest.fixture
def filled(store_engine: Engine, config: Config) -> Engine:
    """The small store on SQLite and on PostgreSQL (the read queries differ in what each plans)."""
    _fill(store_engine, config)
    return store_engine


@pytest.fixture
def rt(filled: Engine, config: Config) -> Runtime:
    return Runtime(settings=Settings(), config=config, engine=filled, clock=lambda: NOW)


@pytest.fixture
def client(rt: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(rt, access=AccessSettings())) as c:
        yield c


def _keys(shown: board.Board) -> set[str]:
    return {row.key for group in shown.groups for row in group.rows}


def _board(filled: Engine, config: Config, **wanted: object) -> board.Board:
    with session_scope(filled) as session:
        return board.board(session, config=config, now=NOW, wanted=board.BoardFilter(**wanted))  # type: ignore[arg-type]


# -- read models ----------------------------------------------------------------------------


def test_board_groups_by_role_soonest_due_first(filled: Engine, config: Config) -> None:
    shown = _board(filled, config)
    assert shown.total == shown.shown == 5
    assert [(g.role, [r.key for r in g.rows]) for g in shown.groups] == [
        ("eng", ["old", "api", "web"]),
        ("mkt", ["launch", "docs"]),
    ]
    rows = {r.key: r for g in shown.groups for r in g.rows}
    assert rows["api"].status == "blocked" and rows["api"].target_date == TODAY + timedelta(days=3)
    assert rows["api"].owner_name == "Ann Lee"
    assert rows["api"].last_word is not None and rows["api"].last_word.author == "Ann Lee"
    assert rows["old"].overdue is False  # done: not overdue however old the date
    assert [f.kind for f in rows["docs"].findings] == ["no_owner"]
    assert shown.owners == [("ann", "Ann Lee"), ("ben", "Ben Ito"), ("cat", "Cat Roy")]


def test_blocked_chains_reach_every_dependent(filled: Engine, config: Config) -> None:
    rows = {r.key: r for g in _board(filled, config).groups for r in g.rows}
    assert rows["web"].blocked_via == ["api"]
    assert rows["launch"].blocked_via == ["web", "api"]
    assert rows["api"].blocked_via == [] and rows["api"].dependents == 1
    assert [(d.key, d.holds_up) for d in rows["web"].depends_on] == [("api", True)]
    assert [(d.key, d.holds_up) for d in rows["launch"].depends_on] == [("web", True)]


@pytest.mark.parametrize(
    ("wanted", "expected"),
    [
        ({"role": "mkt"}, {"launch", "docs"}),
        ({"owner": "ann"}, {"api", "old"}),
        ({"owner": "-"}, {"docs"}),
        ({"status": "blocked"}, {"api"}),
        ({"status": "unknown"}, {"docs"}),
        ({"has_findings": True}, {"docs", "web"}),  # web: on track while api, which it needs, is blocked
        ({"due_within_days": 7}, {"api"}),
        ({"due_within_days": 14, "role": "eng"}, {"api", "web"}),
        ({"role": "nobody-has-it"}, set()),
    ],
)
def test_board_filters(filled: Engine, config: Config, wanted: dict[str, object], expected: set[str]) -> None:
    shown = _board(filled, config, **wanted)
    assert _keys(shown) == expected
    assert shown.total == 5


def test_neighbourhood_and_layout_put_upstream_left(filled: Engine) -> None:
    with session_scope(filled) as session:
        around = board.neighbourhood(session, "web")
    assert {(n.key, n.depth) for n in around.nodes} == {("api", -1), ("web", 0), ("launch", 1)}
    assert around.edges == [("api", "web"), ("web", "launch")]
    drawing = layout(around)
    x = {n.key: n.x for n in drawing.nodes}
    assert x["api"] < x["web"] < x["launch"]
    assert [e.holds_up for e in drawing.edges] == [True, False]  # api is blocked, web is on track
    assert drawing.width > 3 * drawing.node_width


def test_findings_view_says_who_is_waiting_on_whom(filled: Engine, config: Config) -> None:
    with session_scope(filled) as session:
        rows = board.findings(session, config=config, now=NOW, view="open")
        counts = board.finding_counts(session)
        with pytest.raises(ValueError):
            board.findings(session, config=config, now=NOW, view="closed")
    docs = next(r for r in rows if r.deliverable_key == "docs")
    assert docs.detail.kind == "no_owner"
    assert docs.waiting_on == "Cat Roy" and "lead" in docs.waiting_why
    assert docs.escalation_step.startswith("1 of 3: owner")
    assert docs.age == NOW - docs.detail.opened_at
    assert counts["open"] == len(rows) and counts["resolved"] == 0


def test_a_finding_kind_no_rule_here_knows_is_shown_as_it_is(rt: Runtime, filled: Engine) -> None:
    """Rules added later need no change here: the board shows any kind string."""
    with session_scope(filled) as session:
        session.add(Conflict(fingerprint="fp-budget", deliverable_key="launch", kind="budget_overrun",
                             severity="high", summary="web <b>slips</b>, so launch slips", opened_at=NOW, last_seen_at=NOW))
    with TestClient(create_app(rt)) as c:
        launch = c.get("/?role=mkt").text
        assert 'title="web &lt;b&gt;slips&lt;/b&gt;, so launch slips">budget overrun</span>' in launch
        assert "budget overrun" in c.get("/findings?kind=budget_overrun").text
        assert 'reconciler_findings{kind="budget_overrun",state="open"} 1.0' in c.get("/metrics").text


# -- pages ----------------------------------------------------------------------------------


def test_source_text_is_escaped_everywhere(client: TestClient) -> None:
    page = client.get("/d/api")
    assert page.status_code == 200
    assert "&lt;script&gt;window.__xss = 1&lt;/script&gt;" in page.text
    assert "<script>window" not in page.text and "<img src=x" not in page.text
    scripts = page.text.count("<script")
    assert scripts == 1 and '<script src="/static/refresh.js" defer></script>' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]


def test_only_web_links_become_links() -> None:
    assert safe_url("https://acme.slack.com/archives/C1/p1") == "https://acme.slack.com/archives/C1/p1"
    assert safe_url("javascript:alert(1)") is None
    assert safe_url(" JavaScript:alert(1)") is None
    assert safe_url("data:text/html,hi") is None
    assert safe_url(None) is None


def test_board_page_filters_come_from_the_url(client: TestClient) -> None:
    page = client.get("/?role=mkt&findings=1")
    assert page.status_code == 200
    assert 'data-key="docs"' in page.text and 'data-key="launch"' not in page.text
    assert '<option value="mkt" selected>' in page.text
    fragment = client.get("/?role=mkt", headers={"X-Fragment": "board"})
    assert fragment.text.lstrip().startswith('<p class="summary">') and "<html" not in fragment.text
    assert 'data-key="launch"' in fragment.text
    plain_form = client.get("/?role=mkt&owner=&status=&due=soon", follow_redirects=False)
    assert plain_form.status_code == 303 and plain_form.headers["location"] == "/?role=mkt"  # a bad number is no filter
    assert client.get("/?role=&owner=", follow_redirects=False).headers["location"] == "/"
    wanted = board.BoardFilter(role="mkt", has_findings=True, due_within_days=7)
    assert filter_query(wanted) == "role=mkt&findings=1&due=7"


def test_deliverable_page_shows_timeline_graph_and_findings(client: TestClient) -> None:
    page = client.get("/d/web")
    assert page.status_code == 200
    assert page.text.count('class="claim src-slack') == 2
    assert 'href="https://acme.slack.com/archives/C1/p6"' in page.text
    assert page.text.count('class="node') == 3 and "<svg" in page.text
    assert client.get("/d/nope").status_code == 404
    refreshed = client.get("/d/web", headers={"X-Fragment": "deliverable"})
    assert refreshed.text.lstrip().startswith('<div class="head">') and "<html" not in refreshed.text
    assert client.post("/d/web").status_code == 405  # read-only


def test_findings_page_views(client: TestClient) -> None:
    page = client.get("/findings")
    assert page.status_code == 200 and "Cat Roy" in page.text and "no owner" in page.text
    assert "No resolved findings" in client.get("/findings?view=resolved").text
    refreshed = client.get("/findings?view=open", headers={"X-Fragment": "findings"})
    assert refreshed.text.lstrip().startswith('<nav class="tabs">') and "Cat Roy" in refreshed.text


def test_healthz_reports_store_and_partitions(client: TestClient) -> None:
    answer = client.get("/healthz")
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "ok" and body["store"] == {"ok": True}
    assert body["partitions"] == [
        {"source": "slack", "partition": "C1", "last_success_at": NOW.isoformat(), "lag_seconds": 0,
         "failing": False, "last_error": None}
    ]
    assert body["broker"] == {"configured": False} and body["workers"] == {"configured": False}


def test_healthz_is_503_when_a_configured_broker_is_down(rt: Runtime) -> None:
    rt.settings = Settings(redis_url="redis://127.0.0.1:1/0")
    with TestClient(create_app(rt)) as c:
        answer = c.get("/healthz")
    assert answer.status_code == 503
    assert answer.json()["broker"] == {"configured": True, "ok": False}


def test_metrics_in_prometheus_format(client: TestClient) -> None:
    client.get("/")
    text = client.get("/metrics").text
    assert 'reconciler_sync_lag_seconds{partition="C1",source="slack"} 0.0' in text
    assert 'reconciler_findings{kind="no_owner",state="open"} 1.0' in text
    assert "reconciler_deliverables 5.0" in text
    assert 'reconciler_web_requests_total{route="board",status="200"} 1.0' in text
    assert "reconciler_store_up 1.0" in text
    assert 'reconciler_api_throttled_total{api="slack"} 0.0' in text


def test_metrics_carry_429s_and_how_long_reconcile_took(rt: Runtime, filled: Engine) -> None:
    with session_scope(filled) as session:
        cursor = store.sync_cursors(session)[0]
        cursor.throttled = 4
        session.add(cursor)
        store.record_run(session, store.DIRTY_RECONCILE, now=NOW, seconds=0.25)
        store.record_full_pass(session, now=NOW, seconds=3.5)
    with TestClient(create_app(rt)) as c:
        text = c.get("/metrics").text
    assert 'reconciler_api_throttled_total{api="slack"} 4.0' in text
    assert 'reconciler_reconcile_seconds{pass="dirty"} 0.25' in text
    assert 'reconciler_reconcile_seconds{pass="full"} 3.5' in text


# -- access ---------------------------------------------------------------------------------


def _basic(user_password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(user_password.encode()).decode()}


def test_token_and_basic_auth(rt: Runtime) -> None:
    access = AccessSettings(token="s3cret-token", basic_auth="viewer:pa55word")
    with TestClient(create_app(rt, access=access)) as c:
        refused = c.get("/")
        assert refused.status_code == 401 and "s3cret" not in refused.text
        assert refused.headers["www-authenticate"].startswith("Basic")
        assert c.get("/healthz").status_code == 401
        assert c.get("/", headers={"Authorization": "Bearer s3cret-token"}).status_code == 200
        assert c.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        signed_in = c.get("/", headers=_basic("viewer:pa55word"))
        assert signed_in.status_code == 200 and "signed in as viewer" in signed_in.text
        assert c.get("/", headers=_basic("viewer:nope")).status_code == 401


def test_trusted_proxy_header_only_from_trusted_addresses() -> None:
    access = AccessSettings(trusted_proxy_header="X-Forwarded-User", trusted_proxies="10.0.0.0/8")
    headers = Headers({"x-forwarded-user": "mia@acme.test"})
    assert judge(headers, "10.1.2.3", access).user == "mia@acme.test"
    assert not judge(headers, "192.168.1.9", access).allowed
    assert not judge(Headers({}), "10.1.2.3", access).allowed
    assert judge(Headers({}), "192.168.1.9", AccessSettings()).allowed  # nothing configured: loopback only


def test_access_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECONCILER_WEB_TOKEN", "from-env-token")
    monkeypatch.setenv("RECONCILER_WEB_TRUSTED_PROXIES", "10.0.0.0/8, 172.16.0.0/12")
    access = AccessSettings()
    assert access.token is not None and access.token.get_secret_value() == "from-env-token"
    assert len(access.proxy_networks()) == 2
    monkeypatch.setenv("RECONCILER_WEB_BASIC_AUTH", "no-colon")
    with pytest.raises(ValueError, match="user:password"):
        AccessSettings().check()


def test_exposing_without_access_control_is_refused() -> None:
    require_access_for("127.0.0.1", AccessSettings())
    with pytest.raises(ValueError, match="refusing"):
        require_access_for("0.0.0.0", AccessSettings())
    require_access_for("0.0.0.0", AccessSettings(token="t0ken-value"))
    require_access_for("0.0.0.0", AccessSettings(allow_unauthenticated=True))  # compose: published on loopback


def test_container_healthcheck_signs_in_like_the_board_expects(rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECONCILER_WEB_TOKEN", "health-token")
    with board_in_background(create_app(rt, access=AccessSettings())) as url:
        assert healthcheck.main([url + "healthz"]) == 0
        monkeypatch.setenv("RECONCILER_WEB_TOKEN", "another-token")
        with board_in_background(create_app(rt, access=AccessSettings(token="health-token"))) as guarded:
            assert healthcheck.main([guarded + "healthz"]) == 1
    assert healthcheck.main([url + "healthz"]) == 1  # nobody listens any more


def test_serve_refuses_an_open_public_bind_in_one_line() -> None:
    result = CliRunner().invoke(cli_app, ["serve", "--host", "0.0.0.0"])
    assert result.exit_code == 1
    assert result.stderr.strip().startswith("error: refusing to serve the board on 0.0.0.0")
    assert "\n" not in result.stderr.strip() and "Traceback" not in result.output


def test_board_never_reads_the_clock_itself(filled: Engine, config: Config) -> None:
    later = NOW + timedelta(days=30)
    with session_scope(filled) as session:
        shown = board.board(session, config=config, now=later)
    rows = {r.key: r for g in shown.groups for r in g.rows}
    assert shown.today == date(2026, 7, 10)
    assert rows["api"].overdue and rows["launch"].overdue and not rows["old"].overdue
