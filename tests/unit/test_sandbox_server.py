"""Sandbox server: counts, switchable and random faults, the CLI entry point."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import asana
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from urllib3.util.retry import Retry

from tests.conftest import demo_scenario
from connectors.sandbox import ENDPOINT_KEYS, Sandbox, bundled_scenario_path, load_scenario

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def sb() -> Iterator[Sandbox]:
    with Sandbox(demo_scenario(as_written=True)) as s:
        yield s


def _get(sb: Sandbox, path: str, token: str = "t") -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", sb.port, timeout=5)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def test_urls_counts_and_unknown_routes(sb: Sandbox) -> None:
    assert sb.url == f"http://127.0.0.1:{sb.port}"
    assert sb.asana_base_url == sb.url + "/asana/api/1.0" and sb.slack_base_url == sb.url + "/slack/api/"
    assert _get(sb, "/asana/api/1.0/projects/2001/tasks?limit=2")[0] == 200
    assert _get(sb, "/asana/api/1.0/projects/2001/tasks")[0] == 200
    status, _, body = _get(sb, "/asana/api/1.0/nope")
    assert status == 404 and json.loads(body) == {"errors": [{"message": "No matching route for request"}]}
    assert sb.request_counts() == {"asana GET /projects/{gid}/tasks": 2, "asana GET (unknown)": 1}
    sb.reset_counts()
    assert sb.request_counts() == {}
    assert "asana GET /projects/{gid}/tasks" in ENDPOINT_KEYS and "slack chat.postMessage" in ENDPOINT_KEYS


def test_fail_times_and_clear(sb: Sandbox) -> None:
    sb.fail("asana GET /projects/{gid}/tasks", status=401, times=2)
    for _ in range(2):
        status, _, body = _get(sb, "/asana/api/1.0/projects/2001/tasks")
        assert status == 401 and json.loads(body) == {"errors": [{"message": "Not Authorized"}]}
    assert _get(sb, "/asana/api/1.0/projects/2001/tasks")[0] == 200
    sb.fail("asana *", status=503)
    assert _get(sb, "/asana/api/1.0/users/me")[0] == 503
    sb.clear_faults()
    assert _get(sb, "/asana/api/1.0/users/me")[0] == 200
    with pytest.raises(ValueError, match="unknown endpoint key"):
        sb.fail("conversations.hsitory")
    with pytest.raises(ValueError, match="kinds"):
        sb.fault_rate(0.5, kinds=("teapot",))


def test_slack_http_errors(sb: Sandbox) -> None:
    c = WebClient(token="x", base_url=sb.slack_base_url, timeout=5)
    sb.fail("chat.postMessage", status=500, times=1)
    with pytest.raises(SlackApiError) as e:
        c.chat_postMessage(channel="C01", text="hi")
    assert e.value.response.status_code == 500
    assert sb.posted_messages() == []
    assert c.chat_postMessage(channel="C01", text="hi")["ok"]


def test_reset_bad_json_and_slow(sb: Sandbox) -> None:
    sb.fault_rate(1.0, kinds=("reset",))
    with pytest.raises((ConnectionError, http.client.HTTPException)):
        _get(sb, "/asana/api/1.0/users/me")
    sb.fault_rate(1.0, kinds=("bad_json",))
    status, _, body = _get(sb, "/asana/api/1.0/users/me")
    assert status == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(body)
    sb.fault_rate(1.0, kinds=("slow",))
    assert _get(sb, "/asana/api/1.0/users/me")[0] == 200
    sb.fault_rate(0)
    assert json.loads(_get(sb, "/asana/api/1.0/users/me")[2])["data"]["gid"] == "501"


def test_random_faults_are_survivable_with_retries(sb: Sandbox) -> None:
    sb.fault_rate(0.3, kinds=("500", "502", "503", "reset", "slow"), seed=7)
    cfg = asana.Configuration()
    cfg.host = sb.asana_base_url
    cfg.access_token = "pat"
    cfg.retry_strategy = Retry(total=20, backoff_factor=0, status_forcelist=[429, 500, 502, 503, 504],
                               allowed_methods=None)
    tasks = asana.TasksApi(asana.ApiClient(cfg))
    for _ in range(5):
        assert len(list(tasks.get_tasks_for_project("2001", {"limit": 2}))) == 6
    counts = sb.request_counts()["asana GET /projects/{gid}/tasks"]
    assert counts > 15  # 3 pages x 5 runs plus retries


def test_python_m_serves_until_interrupted() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "connectors.sandbox", "--port", "0"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        asana_line = proc.stdout.readline()  # type: ignore[union-attr]
        slack_line = proc.stdout.readline()  # type: ignore[union-attr]
        assert asana_line.startswith("Asana API: http://127.0.0.1:") and asana_line.strip().endswith("/asana/api/1.0")
        assert slack_line.startswith("Slack API: http://127.0.0.1:")
        url = slack_line.split(": ", 1)[1].strip()
        assert WebClient(token="x", base_url=url, timeout=5).auth_test()["ok"]
    finally:
        os.kill(proc.pid, signal.SIGINT)
        proc.wait(timeout=5)
    assert proc.returncode == 0


def test_python_m_bad_scenario_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "s.json"
    bad.write_text('{"asana": {"tasks": [{"gid": "1"}]}}')
    r = subprocess.run([sys.executable, "-m", "connectors.sandbox", "--scenario", str(bad), "--port", "0"],
                       cwd=ROOT, capture_output=True, text=True, timeout=10)
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "tasks[0].name: missing required field" in r.stderr
