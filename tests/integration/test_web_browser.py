"""The board in a real browser: headless Chromium from Debian driven by Playwright, over a store
filled by the real pipeline (sync from the demo sandbox over HTTP, then reconcile).

Chromium is a system package (`.ci/run` installs it when missing); a test fails, not skips,
when it is absent, like PostgreSQL and Redis.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.request import Request, urlopen

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from connectors.base import ClaimKind, Field, Observation, Source, SyncBatch
from connectors.sandbox import Sandbox
from reconciler import compose, pipeline, store
from reconciler.db import session_scope
from reconciler.pipeline import Runtime
from reconciler.settings import Settings
from reconciler.web import create_app
from reconciler.web.auth import AccessSettings
from reconciler.web.server import board_in_background

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
# As Slack delivers what a person typed: `<`, `>` and `&` escaped (a raw `<...>` is a Slack entity).
XSS_TEXT = "search is blocked &lt;script&gt;window.__xss = 1&lt;/script&gt; by the index rebuild"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"Chromium is required at {CHROMIUM} (apt-get install chromium; .ci/run does it)", pytrace=False)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    yield context.new_page()
    context.close()


@pytest.fixture
def rt(sandbox: Sandbox, config_path: Path, tmp_path: Path) -> Iterator[Runtime]:
    """The demo team's store after one sync and reconcile against the sandbox."""
    settings = compose.pointed_at_sandbox(Settings(), sandbox, database_url=f"sqlite:///{tmp_path / 'board.db'}")
    runtime = pipeline.load_runtime(settings=settings, config_path=config_path)
    sync_and_reconcile(runtime)
    yield runtime
    runtime.engine.dispose()


def sync_and_reconcile(rt: Runtime) -> None:
    reports = pipeline.sync_all(rt)
    assert all(r.ok for r in reports), [r.error for r in reports]
    pipeline.reconcile_dirty(rt)


@pytest.fixture
def board_url(rt: Runtime) -> Iterator[str]:
    with board_in_background(create_app(rt, access=AccessSettings(), refresh_seconds=1)) as url:
        yield url


def row(page: Page, key: str):  # type: ignore[no-untyped-def]
    return page.locator(f'tr[data-key="{key}"]')


def test_board_filter_and_open_a_deliverable(page: Page, board_url: str) -> None:
    page.goto(board_url)
    expect(page.locator("h2.role")).to_have_text([re.compile("engineering"), re.compile("marketing")])
    for key in ("checkout-v2", "payments-api", "search", "onboarding", "launch-campaign", "search-post"):
        expect(row(page, key)).to_be_visible()
    expect(row(page, "checkout-v2").locator(".finding").first).to_be_visible()
    expect(row(page, "onboarding")).to_contain_text("no owner")
    expect(row(page, "checkout-v2").locator("a.dep")).to_have_text("payments-api")

    page.select_option('select[name="owner"]', "alice")  # the form submits on change
    page.wait_for_url(re.compile(r"\?owner=alice$"))
    expect(page.locator("tr[data-key]")).to_have_count(1)
    expect(row(page, "checkout-v2")).to_be_visible()

    page.get_by_label("has findings").check()
    page.wait_for_url(re.compile(r"\?owner=alice&findings=1$"))
    expect(page.locator("tr[data-key]")).to_have_count(1)
    page.fill('input[name="due"]', "3650")
    page.press('input[name="due"]', "Enter")
    page.wait_for_url(re.compile(r"\?owner=alice&findings=1&due=3650$"))
    expect(page.locator('input[name="due"]')).to_have_value("3650")

    page.goto(board_url + "?role=marketing")  # a shared link gives the same view
    expect(page.locator("tr[data-key]")).to_have_count(2)  # launch-campaign and search-post
    expect(page.locator('select[name="role"]')).to_have_value("marketing")

    page.goto(board_url + "?findings=1&owner=alice")
    page.get_by_role("link", name="checkout-v2", exact=True).click()
    page.wait_for_url(re.compile(r"/d/checkout-v2$"))
    expect(page.locator("h1")).to_contain_text("Checkout v2")
    claims = page.locator("li.claim")
    expect(claims.first).to_be_visible()
    assert claims.count() >= 3
    expect(page.locator("li.claim.src-slack a.link").first).to_have_attribute("href", re.compile(r"^https?://"))
    expect(page.locator("li.claim.src-asana a.link").first).to_have_text("open in Asana")
    graph = page.locator("figure.graph svg")
    expect(graph).to_be_visible()
    expect(graph.locator('a.node[data-key="payments-api"]')).to_be_visible()
    expect(graph.locator('a.node.centre[data-key="checkout-v2"]')).to_be_visible()
    expect(graph.locator('a.node[data-key="launch-campaign"]')).to_be_visible()
    upstream, centre = (graph.locator(f'a.node[data-key="{k}"] rect').bounding_box() for k in ("payments-api", "checkout-v2"))
    assert upstream is not None and centre is not None and upstream["x"] < centre["x"]
    expect(page.locator("table.findings")).to_contain_text("status contradiction")

    graph.locator('a.node[data-key="payments-api"]').click()
    page.wait_for_url(re.compile(r"/d/payments-api$"))
    expect(page.locator("h1")).to_contain_text("Payments API")


def test_board_updates_itself_after_a_sync(page: Page, board_url: str, rt: Runtime, sandbox: Sandbox) -> None:
    page.goto(board_url)
    last_word = row(page, "search").locator("td").last
    expect(last_word).not_to_contain_text("just now")
    page.evaluate("window.__same_page = true")

    sandbox.slack.post("C02", "U03", XSS_TEXT)
    sync_and_reconcile(rt)

    expect(last_word).to_contain_text("just now", timeout=10_000)
    expect(last_word).to_contain_text("Carol Diaz")
    assert page.evaluate("window.__same_page") is True  # updated in place, not reloaded

    row(page, "search").get_by_role("link", name="search", exact=True).click()
    with session_scope(rt.engine) as session:
        stored = store.claims_history(session, "search")[-1]
    assert stored.source == "slack" and stored.value == "blocked"
    newest = page.locator("li.claim").first
    expect(newest.locator(".excerpt")).to_have_text(stored.excerpt)  # what was stored, as text
    expect(newest).to_contain_text("Carol Diaz")
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert page.locator("main script").count() == 0


def test_a_slack_message_with_markup_renders_as_text(page: Page, board_url: str, rt: Runtime) -> None:
    """A Slack claim whose text carries markup (stored as the connector would store it)."""
    hostile = '<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2"><b>bold</b> checkout is done'
    claim = Observation(
        deliverable_key="checkout-v2", source=Source.SLACK, source_ref="C01:1999999999.000100", field=Field.STATUS,
        value="done", stated_at=rt.now(), kind=ClaimKind.EVENT, author="U01", excerpt=hostile,
        permalink="javascript:window.__xss = 3",
    )
    with session_scope(rt.engine) as session:
        store.apply_batch(session, source=Source.SLACK, partition="C01-xss", batch=SyncBatch(observations=[claim]), now=rt.now())
    page.goto(board_url + "d/checkout-v2")
    newest = page.locator("li.claim").first
    expect(newest.locator(".excerpt")).to_have_text(hostile)
    expect(newest.locator("a")).to_have_count(0)  # a javascript: "permalink" is no link
    expect(newest).to_contain_text("Alice Ng")
    expect(page.locator("main b")).to_have_count(0)
    expect(page.locator("main script")).to_have_count(0)
    expect(page.locator("main img")).to_have_count(0)
    assert page.evaluate("typeof window.__xss") == "undefined"


def test_health_and_metrics_over_http(board_url: str) -> None:
    with urlopen(board_url + "healthz", timeout=10) as answer:
        body = answer.read().decode()
    assert answer.status == 200
    assert '"status": "ok"' in body.replace('":"', '": "') and '"partition":"launches"' in body
    with urlopen(board_url + "metrics", timeout=10) as answer:
        metrics = answer.read().decode()
    assert 'reconciler_sync_lag_seconds{partition="2001",source="asana"}' in metrics
    assert re.search(r'reconciler_findings\{kind="status_contradiction",state="open"\} [1-9]', metrics)
    assert re.search(r'reconciler_api_requests_total\{api="slack"\} [1-9]', metrics)


def test_basic_auth_in_the_browser(browser: Browser, rt: Runtime) -> None:
    access = AccessSettings(basic_auth="viewer:board-pass")
    with board_in_background(create_app(rt, access=access, refresh_seconds=0)) as url:
        anonymous = browser.new_context()
        refused_page = anonymous.request.get(url)  # a navigation would stop at the login prompt
        assert refused_page.status == 401 and refused_page.headers["www-authenticate"].startswith("Basic")
        anonymous.close()
        signed_in = browser.new_context(http_credentials={"username": "viewer", "password": "board-pass"})
        page = signed_in.new_page()
        answer = page.goto(url)
        assert answer is not None and answer.status == 200
        expect(page.locator(".who")).to_contain_text("signed in as viewer")
        expect(row(page, "checkout-v2")).to_be_visible()
        signed_in.close()
        refused = Request(url + "metrics", headers={"Authorization": "Bearer nope"})
        with pytest.raises(Exception, match="401"):
            urlopen(refused, timeout=10)


def test_demo_serve_prints_the_url_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    command = [str(Path(sys.executable).with_name("reconciler")), "demo", "--serve"]
    env = {**os.environ, "COLUMNS": "200", "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=env) as demo:
        try:
            assert demo.stdout is not None
            url = None
            for line in demo.stdout:
                found = re.search(r"The board of this demo: (http://127\.0\.0\.1:\d+/)", line)
                if found:
                    url = found.group(1)
                    break
            assert url is not None, "the demo never printed the board's URL"
            with urlopen(url, timeout=10) as answer:
                assert answer.status == 200 and 'data-key="checkout-v2"' in answer.read().decode()
        finally:
            demo.send_signal(signal.SIGINT)
            _, errors = demo.communicate(timeout=30)
    assert demo.returncode == 0, errors
    assert "Traceback" not in errors
