"""The sandbox's Asana API, driven by the real asana SDK over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import asana
import pytest
from asana.rest import ApiException
from urllib3.util.retry import Retry

from tests.conftest import demo_scenario
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
    with Sandbox(demo_scenario(as_written=True)) as sb:
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
    assert [u["email"] for u in everyone] == [f"{n}@acme.test" for n in ("alice", "bob", "carol", "dan", "erin", "fay")]
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
        "3001", "3002", "3003", "3004", "3006", gid]
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


# -- status updates, test mutations, dependency stories, /events paging ------------------------


def _sync_token(events: asana.EventsApi, resource: str) -> str:
    with pytest.raises(ApiException) as e:
        events.get_events(resource, {}, full_payload=True)
    return str(json.loads(e.value.body)["sync"])


def _read_events(events: asana.EventsApi, resource: str, token: str) -> tuple[list[dict[str, Any]], str]:
    """Follow `sync` while `has_more`, as a connector should (not the SDK's EventIterator)."""
    out: list[dict[str, Any]] = []
    while True:
        page = events.get_events(resource, {"sync": token}, full_payload=True)
        out += page["data"]
        token = page["sync"]
        if not page["has_more"]:
            return out, token


def test_status_update_parent_is_the_project_with_its_permalink(demo: Sandbox) -> None:
    api = asana.StatusUpdatesApi(_client(demo))
    got = list(api.get_statuses_for_object("2001", {"opt_fields": "status_type,title,parent.permalink_url,parent.name"}))
    assert got[0]["parent"] == {"gid": "2001", "resource_type": "project", "name": "Launch Q4",
                                "permalink_url": "https://app.asana.com/0/2001/2001"}
    full = api.get_status("2202", {})
    assert full["parent"] == {"gid": "2001", "resource_type": "project", "name": "Launch Q4"}  # compact by default
    assert full["resource_subtype"] == "project_status_update" and full["author"]["gid"] == "505"
    assert "permalink_url" not in full  # real status updates have none; the project's link is parent.permalink_url


def test_add_and_remove_status_update(demo: Sandbox) -> None:
    api = _client(demo)
    events = asana.EventsApi(api)
    token = _sync_token(events, "2001")
    gid = demo.asana.add_status_update("2001", "off_track", "Slipping", "Payments keys late", "505",
                                       at="2026-11-24T09:00:00Z")
    sus = asana.StatusUpdatesApi(api)
    listed = list(sus.get_statuses_for_object("2001", {"opt_fields": "status_type,title,created_at,author.email"}))
    assert [s["gid"] for s in listed] == [gid, "2202", "2201"]
    assert listed[0] == {"gid": gid, "resource_type": "status_update", "status_type": "off_track", "title": "Slipping",
                         "created_at": "2026-11-24T09:00:00.000Z",
                         "author": {"gid": "505", "resource_type": "user", "email": "erin@acme.test"}}
    project = asana.ProjectsApi(api).get_project("2001", {"opt_fields": "current_status_update.status_type,modified_at"})
    assert project["current_status_update"]["gid"] == gid and project["modified_at"] == "2026-11-24T09:00:00.000Z"

    demo.asana.remove_status_update(gid)
    assert [s["gid"] for s in sus.get_statuses_for_object("2001", {})] == ["2202", "2201"]
    with pytest.raises(ApiException) as e:
        sus.get_status(gid, {})
    assert e.value.status == 404
    project = asana.ProjectsApi(api).get_project("2001", {"opt_fields": "current_status_update.status_type"})
    assert project["current_status_update"]["gid"] == "2202"

    got, _ = _read_events(events, "2001", token)
    compact = {"gid": gid, "resource_type": "status_update", "resource_subtype": "project_status_update",
               "title": "Slipping"}
    assert got == [
        {"user": {"gid": "505", "resource_type": "user", "name": "Erin Park"}, "created_at": "2026-11-24T09:00:00.000Z",
         "type": "status_update", "action": "added", "resource": compact,
         "parent": {"gid": "2001", "resource_type": "project", "name": "Launch Q4"}},
        {"user": {"gid": "505", "resource_type": "user", "name": "Erin Park"}, "created_at": got[1]["created_at"],
         "type": "status_update", "action": "deleted", "resource": compact, "parent": None},
    ]
    with pytest.raises(ValueError, match="status_type"):
        demo.asana.add_status_update("2001", "green", "t", "x", "505")
    with pytest.raises(ValueError, match="author"):
        demo.asana.add_status_update("2001", "on_track", "t", "x", "999")
    with pytest.raises(KeyError):
        demo.asana.add_status_update("9999", "on_track", "t", "x", None)
    with pytest.raises(KeyError):
        demo.asana.remove_status_update(gid)


def test_remove_task_from_project(demo: Sandbox) -> None:
    api = _client(demo)
    events = asana.EventsApi(api)
    token = _sync_token(events, "2001")
    task_token = _sync_token(events, "3003")
    demo.asana.remove_task_from_project("3003", "2001", actor="505", at="2026-11-24T10:00:00Z")

    tasks = asana.TasksApi(api)
    assert [t["gid"] for t in tasks.get_tasks_for_project("2001", {})] == ["3001", "3002", "3004", "3005", "3006"]
    assert [t["gid"] for t in asana.TasksApi(api).get_tasks_for_section("2102", {})] == ["3001", "3002"]
    left = tasks.get_task("3003", {"opt_fields": "projects,memberships.section.name,modified_at,permalink_url"})
    assert left["projects"] == [] and left["memberships"] == [] and left["modified_at"] == "2026-11-24T10:00:00.000Z"
    expected = {"user": {"gid": "505", "resource_type": "user", "name": "Erin Park"},
                "created_at": "2026-11-24T10:00:00.000Z", "type": "task", "action": "removed",
                "resource": {"gid": "3003", "resource_type": "task", "name": "Search relevance",
                             "resource_subtype": "default_task"},
                "parent": {"gid": "2001", "resource_type": "project", "name": "Launch Q4"}}
    assert _read_events(events, "2001", token)[0] == [expected]
    assert _read_events(events, "3003", task_token)[0] == [expected]
    with pytest.raises(ValueError, match="not in project"):
        demo.asana.remove_task_from_project("3003", "2001")
    with pytest.raises(KeyError):
        demo.asana.remove_task_from_project("9999", "2001")


def test_rename_section(demo: Sandbox) -> None:
    api = _client(demo)
    events = asana.EventsApi(api)
    token = _sync_token(events, "2001")
    demo.asana.rename_section("2102", "Doing", actor="505", at="2026-11-24T11:00:00Z")
    demo.asana.rename_section("2102", "Doing")  # unchanged: no event
    sections = asana.SectionsApi(api)
    assert [s["name"] for s in sections.get_sections_for_project("2001", {})] == ["Planned", "Doing", "Done"]
    assert sections.get_section("2102", {"opt_fields": "name"})["name"] == "Doing"
    task = asana.TasksApi(api).get_task("3001", {"opt_fields": "memberships.section.name"})
    assert task["memberships"] == [{"section": {"gid": "2102", "resource_type": "section", "name": "Doing"}}]
    assert _read_events(events, "2001", token)[0] == [
        {"user": {"gid": "505", "resource_type": "user", "name": "Erin Park"}, "created_at": "2026-11-24T11:00:00.000Z",
         "type": "section", "action": "changed", "resource": {"gid": "2102", "resource_type": "section", "name": "Doing"},
         "parent": None, "change": {"field": "name", "action": "changed"}}]
    with pytest.raises(KeyError):
        demo.asana.rename_section("9999", "x")


def test_mutation_helpers_are_thread_safe(demo: Sandbox) -> None:
    import threading

    def work(n: int) -> None:
        for i in range(20):
            gid = demo.asana.add_status_update("2001", "on_track", f"{n}-{i}", "", "505")
            demo.asana.remove_status_update(gid)
            demo.asana.rename_section("2101", f"Planned {n}-{i}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    tasks = asana.TasksApi(_client(demo))
    while any(t.is_alive() for t in threads):
        assert len(list(tasks.get_tasks_for_project("2001", {"opt_fields": "memberships.section.name"}))) == 6
    for t in threads:
        t.join()
    assert [s.gid for s in demo.asana.projects["2001"].status_updates] == ["2201", "2202"]
    assert len(demo.asana._events) == 4 * 20 * 3


def test_dependency_stories_date_a_dependency_change(demo: Sandbox) -> None:
    api = _client(demo)
    stories = asana.StoriesApi(api)
    fields = {"opt_fields": "resource_subtype,created_at,created_by.name,dependency.name,text"}
    demo.asana.update_task("3003", dependencies=["3002"], at="2026-11-24T08:00:00Z", dependency_stories=False)
    assert not [s for s in stories.get_stories_for_task("3003", fields) if s["resource_subtype"].startswith("dependency")]

    demo.asana.update_task("3005", dependencies=["3001", "3002"], at="2026-11-24T09:00:00Z", actor="504")
    demo.asana.update_task("3005", dependencies=["3002"], at="2026-11-24T12:00:00Z", actor="505")
    dep = [s for s in stories.get_stories_for_task("3005", fields) if s["resource_subtype"].startswith("dependency")]
    assert [(s["resource_subtype"], s["created_at"], s["created_by"]["name"], s["dependency"]) for s in dep] == [
        ("dependency_added", "2026-11-24T09:00:00.000Z", "Dan Weber",
         {"gid": "3002", "resource_type": "task", "name": "Payments API"}),
        ("dependency_removed", "2026-11-24T12:00:00.000Z", "Erin Park",
         {"gid": "3001", "resource_type": "task", "name": "Checkout v2"}),
    ]
    assert dep[0]["text"] == 'Dan Weber marked this task as dependent on "Payments API"'
    tasks = asana.TasksApi(api)
    assert [d["gid"] for d in tasks.get_dependents_for_task("3002", {})] == ["3001", "3003", "3005"]
    assert [d["gid"] for d in tasks.get_dependents_for_task("3001", {})] == []
    assert demo.asana.update_task("3005", dependencies=["3002"])["modified_at"] == "2026-11-24T12:00:00.000Z"


def test_events_has_more_and_token_replay(demo: Sandbox) -> None:
    events = asana.EventsApi(_client(demo))
    token = _sync_token(events, "2001")
    gids = [demo.asana.add_story("3001", {"text": f"note {i}"}) for i in range(250)]
    demo.asana.add_story("3002", {"text": "elsewhere"})  # also on 2001's stream
    pages, t = [], token
    while True:
        page = events.get_events("2001", {"sync": t}, full_payload=True)
        pages.append(page)
        t = page["sync"]
        if not page["has_more"]:
            break
    assert [(len(p["data"]), p["has_more"]) for p in pages] == [(100, True), (100, True), (51, False)]
    seen = [e["resource"]["gid"] for p in pages for e in p["data"]]
    assert seen[:250] == gids and len(set(seen)) == 251
    again = events.get_events("2001", {"sync": token}, full_payload=True)  # tokens can be re-sent: same answer
    assert again["data"] == pages[0]["data"] and again["has_more"] is True
    last = events.get_events("2001", {"sync": t}, full_payload=True)
    assert last["data"] == [] and last["has_more"] is False
    task_page = events.get_events("3002", {"sync": _sync_token(events, "3002")}, full_payload=True)
    assert task_page == {"data": [], "sync": task_page["sync"], "has_more": False}


def test_sdk_event_iterator_resends_the_first_token(demo: Sandbox) -> None:
    """asana 5.x EventIterator sends the caller's token twice (it only switches to the new token after
    the second request), so pages come twice; beyond 200 pending events it never gets past the
    second page. The sandbox answers like Asana (tokens replay); connectors follow `sync` themselves."""
    events = asana.EventsApi(_client(demo))
    token = _sync_token(events, "2001")
    gids = [demo.asana.add_story("3001", {"text": f"note {i}"}) for i in range(150)]
    demo.reset_counts()
    items = [e["resource"]["gid"] for e in events.get_events("2001", {"sync": token})]
    assert set(items) == set(gids)  # everything arrives, and the iterator stops (has_more false)
    assert demo.request_counts() == {"asana GET /events": 3}
    assert items == gids[:100] + gids[:100] + gids[100:]  # the first page twice


# -- portfolios and teams ----------------------------------------------------------------------


def _org_scenario() -> dict[str, Any]:
    return {
        "asana": {
            "workspace": {"gid": "1000", "name": "Acme"},
            "users": [{"gid": "501", "name": "Alice Ng", "email": "alice@acme.test"}],
            "projects": [{"gid": "2001", "name": "Launch"}, {"gid": "2002", "name": "Platform"},
                         {"gid": "2003", "name": "Old", "archived": True}],
            "portfolios": [{"gid": "7001", "name": "Q4", "projects": ["2002", "2001"], "owner": "501"}],
            "teams": [{"gid": "8001", "name": "Platform team", "projects": ["2002", "2003"],
                       "description": "infra"}],
        }
    }


@pytest.fixture()
def org() -> Iterator[Sandbox]:
    with Sandbox(parse_scenario(_org_scenario())) as sb:
        yield sb


def test_portfolio_and_its_items_through_the_sdk(org: Sandbox) -> None:
    client = _client(org)
    portfolios = asana.PortfoliosApi(client)
    full = portfolios.get_portfolio("7001", {}, full_payload=True)["data"]
    assert full["resource_type"] == "portfolio" and full["name"] == "Q4"
    assert full["owner"] == {"gid": "501", "resource_type": "user", "name": "Alice Ng"}
    assert full["workspace"] == {"gid": "1000", "resource_type": "workspace", "name": "Acme"}
    assert full["permalink_url"] == "https://app.asana.com/0/portfolio/7001/list"

    items = list(portfolios.get_items_for_portfolio("7001", {}))  # the SDK's page iterator
    assert items == [{"gid": "2002", "resource_type": "project", "name": "Platform"},
                     {"gid": "2001", "resource_type": "project", "name": "Launch"}]
    page = portfolios.get_items_for_portfolio("7001", {"limit": 1, "opt_fields": "archived"}, full_payload=True)
    assert page["data"] == [{"gid": "2002", "resource_type": "project", "archived": False}]
    assert page["next_page"]["offset"]
    assert org.request_counts()["asana GET /portfolios/{gid}/items"] == 2

    with pytest.raises(ApiException) as missing:
        portfolios.get_items_for_portfolio("7999", {}, full_payload=True)
    assert missing.value.status == 404
    assert json.loads(missing.value.body) == {"errors": [{"message": "portfolio: Unknown object: 7999"}]}


def test_team_and_its_projects_through_the_sdk(org: Sandbox) -> None:
    client = _client(org)
    team = asana.TeamsApi(client).get_team("8001", {}, full_payload=True)["data"]
    assert team["resource_type"] == "team" and team["name"] == "Platform team" and team["description"] == "infra"
    assert team["organization"] == {"gid": "1000", "resource_type": "workspace", "name": "Acme"}
    assert team["permalink_url"] == "https://app.asana.com/0/team/8001"

    projects = asana.ProjectsApi(client)
    assert [p["gid"] for p in projects.get_projects_for_team("8001", {})] == ["2002", "2003"]
    live = projects.get_projects_for_team("8001", {"archived": "false", "opt_fields": "name,archived"},
                                          full_payload=True)
    assert live == {"data": [{"gid": "2002", "resource_type": "project", "name": "Platform", "archived": False}],
                    "next_page": None}
    archived = projects.get_projects_for_team("8001", {"archived": "true"}, full_payload=True)["data"]
    assert [p["gid"] for p in archived] == ["2003"]
    assert projects.get_project("2003", {"opt_fields": "archived"}, full_payload=True)["data"]["archived"] is True

    with pytest.raises(ApiException) as bad:
        projects.get_projects_for_team("8001", {"archived": "maybe"}, full_payload=True)
    assert bad.value.status == 400
    with pytest.raises(ApiException) as missing:
        asana.TeamsApi(client).get_team("8999", {}, full_payload=True)
    assert missing.value.status == 404


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (lambda a: a["portfolios"][0]["projects"].append("2999"),
         "scenario.asana.portfolios[0].projects[2]: unknown project gid '2999'"),
        (lambda a: a["portfolios"][0]["projects"].append("2001"),
         "scenario.asana.portfolios[0].projects[2]: duplicate project gid '2001'"),
        (lambda a: a["portfolios"][0].update(owner="599"), "scenario.asana.portfolios[0].owner: unknown user gid '599'"),
        (lambda a: a["portfolios"].append({"gid": "7001", "name": "again"}),
         "scenario.asana.portfolios[1].gid: duplicate gid '7001'"),
        (lambda a: a["teams"].append({"gid": "8002", "name": "Other", "projects": ["2002"]}),
         "scenario.asana.teams[1].projects[0]: project '2002' already belongs to team '8001'"),
        (lambda a: a["teams"][0].update(members=[]), "scenario.asana.teams[0].members: unknown field"),
        (lambda a: a["projects"][0].update(archived="yes"),
         "scenario.asana.projects[0].archived: expected true or false, got 'yes'"),
    ],
)
def test_portfolio_and_team_scenarios_are_validated(change: Any, error: str) -> None:
    data = _org_scenario()
    change(data["asana"])
    with pytest.raises(ValueError) as exc:
        parse_scenario(data)
    assert str(exc.value).startswith(error)
