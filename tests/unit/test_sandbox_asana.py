"""The sandbox's Asana API, driven by the real asana SDK over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import asana
import pytest
from asana.rest import ApiException
from urllib3.util.retry import Retry

from connectors.sandbox import Sandbox, bundled_scenario_path, load_scenario, parse_scenario


def _big_scenario(n: int = 250) -> dict[str, Any]:
    return {
        "asana": {
            "workspace": {"gid": "1000", "name": "Acme"},
            "users": [{"gid": "501", "name": "Alice Ng", "email": "alice@acme.test"},
                      {"gid": "502", "name": "Bob Okafor", "email": "bob@acme.test"}],
            "custom_fields": [{"gid": "700", "name": "Status", "type": "enum", "enum_options": [
                {"gid": "701", "name": "On track"}, {"gid": "703", "name": "Blocked"}]}],
            "projects": [{"gid": "2001", "name": "Big", "sections": [{"gid": "2101", "name": "Todo"}]}],
            "tasks": [{"gid": str(10000 + i), "name": f"Task {i}", "projects": ["2001"], "assignee": "501",
                       "custom_fields": {"700": "701"}, "completed": i % 10 == 0,
                       "completed_at": "2026-11-10T00:00:00Z" if i % 10 == 0 else None,
                       "created_at": "2026-11-01T00:00:00Z",
                       "modified_at": f"2026-11-{1 + i % 20:02d}T12:00:00Z"} for i in range(n)],
        },
        "invalid_tokens": ["asana-revoked"],
    }


def _client(sb: Sandbox, token: str = "pat-ok", retry: Any = "fast") -> asana.ApiClient:
    cfg = asana.Configuration()
    cfg.host = sb.asana_base_url
    cfg.access_token = token
    if retry == "fast":
        cfg.retry_strategy = Retry(total=4, backoff_factor=0, status_forcelist=[429, 500, 502, 503, 504],
                                   allowed_methods=None, respect_retry_after_header=True)
    else:
        cfg.retry_strategy = retry
    return asana.ApiClient(cfg)


@pytest.fixture()
def demo() -> Iterator[Sandbox]:
    with Sandbox(load_scenario(bundled_scenario_path("demo"))) as sb:
        yield sb


@pytest.fixture(scope="module")
def big() -> Iterator[Sandbox]:
    with Sandbox(parse_scenario(_big_scenario())) as sb:
        yield sb


def test_page_iterator_follows_next_page_across_250_tasks(big: Sandbox) -> None:
    big.reset_counts()
    tasks = asana.TasksApi(_client(big))
    got = list(tasks.get_tasks_for_project("2001", {"opt_fields": "name,completed"}))
    assert len(got) == 250 and len({t["gid"] for t in got}) == 250
    assert got[0] == {"gid": "10000", "resource_type": "task", "name": "Task 0", "completed": True}
    assert big.request_counts()["asana GET /projects/{gid}/tasks"] == 3  # 100 + 100 + 50


def test_raw_pagination_envelope_and_limits(big: Sandbox) -> None:
    tasks = asana.TasksApi(_client(big))
    page = tasks.get_tasks_for_project("2001", {"limit": 2}, full_payload=True)
    assert page["data"] == [{"gid": "10000", "resource_type": "task", "name": "Task 0",
                             "resource_subtype": "default_task"},
                            {"gid": "10001", "resource_type": "task", "name": "Task 1",
                             "resource_subtype": "default_task"}]
    nxt = page["next_page"]
    assert set(nxt) == {"offset", "path", "uri"} and nxt["uri"].startswith(big.asana_base_url + "/projects/2001/tasks?")
    page2 = tasks.get_tasks_for_project("2001", {"limit": 2, "offset": nxt["offset"]}, full_payload=True)
    assert page2["data"][0]["gid"] == "10002"
    last = tasks.get_tasks_for_project("2001", {"limit": 100, "offset": nxt["offset"]}, full_payload=True)
    assert len(last["data"]) == 100 and last["next_page"] is not None
    for bad in ({"limit": 0}, {"limit": 101}, {"limit": 5, "offset": "bogus"}):
        with pytest.raises(ApiException) as e:
            tasks.get_tasks_for_project("2001", bad, full_payload=True)
        assert e.value.status == 400
        assert json.loads(e.value.body)["errors"][0]["message"]


def test_modified_since_and_completed_since(big: Sandbox) -> None:
    tasks = asana.TasksApi(_client(big))
    recent = list(tasks.get_tasks_for_project("2001", {"modified_since": "2026-11-19T00:00:00Z",
                                                       "opt_fields": "modified_at"}))
    assert recent and all(t["modified_at"] >= "2026-11-19" for t in recent)
    assert len(recent) == 24  # i % 20 in (18, 19) for i < 250
    open_tasks = list(tasks.get_tasks_for_project("2001", {"completed_since": "now", "opt_fields": "completed"}))
    assert len(open_tasks) == 225 and not any(t["completed"] for t in open_tasks)
    since = list(tasks.get_tasks_for_project("2001", {"completed_since": "2026-11-11T00:00:00Z"}))
    assert len(since) == 225
    assert len(list(tasks.get_tasks_for_project("2001", {"completed_since": "2026-11-01T00:00:00Z"}))) == 250


def test_opt_fields_nested_and_full_records(demo: Sandbox) -> None:
    api = _client(demo)
    tasks = asana.TasksApi(api)
    got = list(tasks.get_tasks_for_project("2001", {"opt_fields": ",".join([
        "name", "assignee.email", "custom_fields.enum_value.name", "custom_fields.name",
        "memberships.section.name", "due_on", "completed", "dependencies"])}))
    t = got[0]
    assert t["gid"] == "3001" and t["resource_type"] == "task"
    assert t["assignee"] == {"gid": "501", "resource_type": "user", "email": "alice@acme.test"}
    assert t["custom_fields"] == [{"gid": "700", "resource_type": "custom_field", "name": "Status",
                                   "enum_value": {"gid": "701", "resource_type": "enum_option", "name": "On track"}}]
    assert t["memberships"] == [{"section": {"gid": "2102", "resource_type": "section", "name": "In progress"}}]
    assert t["dependencies"] == [{"gid": "3002", "resource_type": "task", "name": "Payments API",
                                  "resource_subtype": "default_task"}]
    assert "notes" not in t
    full = tasks.get_task("3001", {})
    assert full["permalink_url"] == "https://app.asana.com/0/2001/3001"
    assert full["custom_fields"][0]["display_value"] == "On track"
    assert full["assignee"] == {"gid": "501", "resource_type": "user", "name": "Alice Ng"}
    assert full["dependents"][0]["gid"] == "3005"
    deps = list(tasks.get_dependencies_for_task("3001", {"opt_fields": "name,completed"}))
    assert deps == [{"gid": "3002", "resource_type": "task", "name": "Payments API", "completed": False}]
    assert [d["gid"] for d in tasks.get_dependents_for_task("3001", {})] == ["3005"]
    with pytest.raises(ApiException) as e:
        tasks.get_task("9999", {})
    assert e.value.status == 404


def test_users_projects_sections_status_updates_stories(demo: Sandbox) -> None:
    api = _client(demo)
    users = asana.UsersApi(api)
    assert users.get_user("me", {})["gid"] == "501"
    everyone = list(users.get_users_for_workspace("1000", {"opt_fields": "name,email"}))
    assert [u["email"] for u in everyone] == [f"{n}@acme.test" for n in ("alice", "bob", "carol", "dan", "erin")]
    assert users.get_user("502", {"opt_fields": "email"}) == {"gid": "502", "resource_type": "user",
                                                              "email": "bob@acme.test"}
    projects = asana.ProjectsApi(api)
    p = projects.get_project("2001", {"opt_fields": "name,owner.name,current_status_update.status_type"})
    assert p["owner"]["name"] == "Erin Park" and p["current_status_update"]["status_type"] == "on_track"
    sections = list(asana.SectionsApi(api).get_sections_for_project("2001", {}))
    assert [s["name"] for s in sections] == ["Planned", "In progress", "Done"]
    sus = list(asana.StatusUpdatesApi(api).get_statuses_for_object(
        "2001", {"opt_fields": "status_type,created_at,author.name"}))
    assert [s["status_type"] for s in sus] == ["on_track", "at_risk"]  # newest first
    stories = list(asana.StoriesApi(api).get_stories_for_task("3001", {
        "opt_fields": "created_at,created_by.email,resource_subtype,text,type,new_enum_value.name"}))
    status_changes = [s for s in stories if s["resource_subtype"] == "enum_custom_field_changed"]
    assert status_changes[-1]["new_enum_value"]["name"] == "On track"
    assert status_changes[-1]["created_at"] == "2026-11-17T09:00:00.000Z"
    assert stories[-1]["type"] == "comment" and stories[-1]["created_by"]["email"] == "erin@acme.test"


def test_update_task_appends_system_stories_and_events(demo: Sandbox) -> None:
    api = _client(demo)
    events = asana.EventsApi(api)
    with pytest.raises(ApiException) as e:
        events.get_events("2001", {}, full_payload=True)
    assert e.value.status == 412
    body = json.loads(e.value.body)
    assert body["errors"][0]["message"].startswith("Sync token invalid or too old")
    token = body["sync"]
    quiet = events.get_events("2001", {"sync": token}, full_payload=True)
    assert quiet["data"] == [] and quiet["has_more"] is False
    token = quiet["sync"]

    before = asana.TasksApi(api).get_task("3001", {"opt_fields": "modified_at"})["modified_at"]
    demo.asana.update_task("3001", custom_fields={"700": "703"}, due_on="2026-12-08", section="2101",
                           assignee="502", completed=True)
    task = asana.TasksApi(api).get_task("3001", {"opt_fields": "modified_at,completed,completed_at,due_on,"
                                                               "custom_fields.enum_value.name,assignee.name"})
    assert task["modified_at"] > before and task["completed"] and task["completed_at"] == task["modified_at"]
    assert task["custom_fields"][0]["enum_value"]["name"] == "Blocked" and task["assignee"]["name"] == "Bob Okafor"
    stories = list(asana.StoriesApi(api).get_stories_for_task(
        "3001", {"opt_fields": "resource_subtype,text,created_at"}))
    new = {s["resource_subtype"]: s for s in stories if s["created_at"] == task["modified_at"]}
    assert set(new) == {"enum_custom_field_changed", "due_date_changed", "section_changed", "assigned",
                        "marked_complete"}
    assert new["enum_custom_field_changed"]["text"] == 'Alice Ng changed Status from "On track" to "Blocked"'
    demo.asana.update_task("3001", completed=False)

    got = events.get_events("2001", {"sync": token}, full_payload=True)
    changes = [ev["change"]["field"] for ev in got["data"] if ev["type"] == "task"]
    assert changes == ["custom_fields", "due_on", "section", "assignee", "completed", "completed"]
    ev = got["data"][0]
    assert ev["action"] == "changed" and ev["resource"]["gid"] == "3001" and ev["parent"] is None
    assert ev["user"] == {"gid": "501", "resource_type": "user", "name": "Alice Ng"}
    assert any(x["type"] == "story" and x["resource"]["resource_subtype"] == "marked_incomplete" for x in got["data"])
    token = got["sync"]

    gid = demo.asana.add_task({"name": "Docs", "projects": ["2001"], "assignee": "503"})
    sgid = demo.asana.add_story("3002", {"text": "Keys arrived!", "created_by": "502"})
    demo.asana.delete_task("3005")
    got = events.get_events("2001", {"sync": token}, full_payload=True)
    assert [(x["type"], x["action"], x["resource"]["gid"]) for x in got["data"]] == [
        ("task", "added", gid), ("story", "added", sgid), ("task", "deleted", "3005")]
    assert got["data"][0]["parent"] == {"gid": "2001", "resource_type": "project", "name": "Launch Q4"}
    assert [t["gid"] for t in asana.TasksApi(api).get_tasks_for_project("2001", {})] == [
        "3001", "3002", "3003", "3004", gid]
    comment = list(asana.StoriesApi(api).get_stories_for_task("3002", {"opt_fields": "type,text"}))[-1]
    assert comment == {"gid": sgid, "resource_type": "story", "type": "comment", "text": "Keys arrived!"}

    demo.asana.expire_sync_tokens()
    with pytest.raises(ApiException) as e:
        events.get_events("2001", {"sync": got["sync"]}, full_payload=True)
    assert e.value.status == 412 and json.loads(e.value.body)["sync"]


def test_sdk_event_iterator_handles_412(demo: Sandbox) -> None:
    events = asana.EventsApi(_client(demo))
    assert list(events.get_events("3001", {})) == []  # 412 -> fresh token -> empty page


def test_invalid_token_gets_401(demo: Sandbox) -> None:
    assert "asana-revoked" in demo.scenario.invalid_tokens
    with pytest.raises(ApiException) as e:
        asana.UsersApi(_client(demo, token="asana-revoked")).get_user("me", {})
    assert e.value.status == 401
    assert json.loads(e.value.body) == {"errors": [{"message": "Not Authorized"}]}


def test_429_carries_retry_after_and_sdk_retries(demo: Sandbox) -> None:
    demo.fail("asana GET /tasks/{gid}", status=429, retry_after=0, times=2)
    demo.reset_counts()
    task = asana.TasksApi(_client(demo)).get_task("3001", {"opt_fields": "name"})
    assert task["name"] == "Checkout v2"
    assert demo.request_counts() == {"asana GET /tasks/{gid}": 3}

    demo.fail("GET /tasks/{gid}", status=429, retry_after=7, times=1)
    with pytest.raises(ApiException) as e:
        asana.TasksApi(_client(demo, retry=Retry(total=0, status_forcelist=[], raise_on_status=False))).get_task(
            "3001", {})
    assert e.value.status == 429 and e.value.headers["Retry-After"] == "7"
    assert json.loads(e.value.body) == {"errors": [{"message": "Rate Limited"}]}
