"""The sandbox at benchmark scale: a page costs the page, not the project or the channel.

The checks count work (records rendered, full scans of the task table or of a channel) rather than
timing it, so they hold on a loaded machine; the timings are in connectors/sandbox/README.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Self

import asana
import pytest
from slack_sdk import WebClient

from connectors.sandbox import Sandbox, parse_scenario
from connectors.sandbox.slack_api import _tsf

PROJECTS = 4
PER_PROJECT = 2_500  # 10,000 tasks
MESSAGES = 6_000  # in one channel, every 10th message a thread parent with two replies
OPT_FIELDS = ("name,completed,modified_at,due_on,assignee.email,custom_fields.enum_value.name,"
              "memberships.project.name,memberships.section.name,dependencies.name,dependents.name,permalink_url")


def _gid(p: int, i: int) -> str:
    return str(1_000_000 + p * PER_PROJECT + i)


def _scenario() -> dict[str, Any]:
    tasks = []
    for p in range(PROJECTS):
        for i in range(PER_PROJECT):
            tasks.append({
                "gid": _gid(p, i), "name": f"T{p}-{i}", "projects": [f"20{p}"], "section": f"20{p}{i % 2}",
                "assignee": "501" if i % 2 else "502", "custom_fields": {"700": "701"},
                "completed": i % 5 == 0, "completed_at": "2026-11-05T00:00:00Z" if i % 5 == 0 else None,
                "modified_at": f"2026-11-{1 + i % 28:02d}T12:00:00Z",
                "dependencies": [_gid(p, i - 1)] if i % 3 == 0 and i else [],
            })
    messages: list[dict[str, Any]] = []
    parent = None
    for i in range(MESSAGES):
        ts = f"{1_763_000_000 + i}.000100"
        if i % 10 == 0:
            parent = ts
        m: dict[str, Any] = {"channel": "C01", "ts": ts, "user": "U01", "text": f"m{i}"}
        if i % 10 in (3, 6):
            m["thread_ts"] = parent
        messages.append(m)
    return {
        "asana": {
            "users": [{"gid": "501", "name": "A", "email": "a@x.test"}, {"gid": "502", "name": "B", "email": "b@x.test"}],
            "custom_fields": [{"gid": "700", "name": "Status", "enum_options": [{"gid": "701", "name": "On track"}]}],
            "projects": [{"gid": f"20{p}", "name": f"P{p}",
                          "sections": [{"gid": f"20{p}0", "name": "A"}, {"gid": f"20{p}1", "name": "B"}]}
                         for p in range(PROJECTS)],
            "tasks": tasks,
        },
        "slack": {"users": [{"id": "U01", "name": "a"}], "channels": [{"id": "C01", "name": "big"}],
                  "messages": messages},
    }


@pytest.fixture(scope="module")
def big() -> Iterator[Sandbox]:
    with Sandbox(parse_scenario(_scenario())) as sb:
        yield sb


def _tasks_api(sb: Sandbox) -> asana.TasksApi:
    cfg = asana.Configuration()
    cfg.host = sb.asana_base_url
    cfg.access_token = "pat"
    return asana.TasksApi(asana.ApiClient(cfg))


class _Work:
    """Counts task renders and full scans of the task table while a block runs."""

    def __init__(self, sb: Sandbox):
        self.state = sb.asana
        self.renders: list[tuple[str, int]] = []
        self.scans = 0

    def __enter__(self) -> Self:
        state, work, table_cls = self.state, self, type(self.state.tasks)
        original = state.r_task

        def r_task(gid: str, depth: int = 0) -> Any:
            work.renders.append((gid, depth))
            return original(gid, depth=depth)

        class Counting(table_cls):  # type: ignore[misc, valid-type]
            def __iter__(self) -> Any:
                work.scans += 1
                return super().__iter__()

            def values(self) -> Any:
                work.scans += 1
                return super().values()

            def items(self) -> Any:
                work.scans += 1
                return super().items()

        state.r_task = r_task  # type: ignore[method-assign]
        state.tasks.__class__ = Counting
        self._restore = (table_cls,)
        return self

    def __exit__(self, *exc: object) -> None:
        del self.state.r_task
        self.state.tasks.__class__ = self._restore[0]


def test_task_pages_render_only_the_page(big: Sandbox) -> None:
    tasks = _tasks_api(big)
    with _Work(big) as work:
        got = list(tasks.get_tasks_for_project("201", {"opt_fields": OPT_FIELDS, "limit": 100}))
    assert [t["gid"] for t in got] == [_gid(1, i) for i in range(PER_PROJECT)]
    assert work.scans == 0
    top = [g for g, depth in work.renders if depth == 0]
    assert top == [t["gid"] for t in got]  # each task rendered once, only on its own page
    related = sum(len(t["dependencies"]) + len(t["dependents"]) for t in got)
    assert len(work.renders) - len(top) == related
    t = got[300]
    assert t["dependencies"] == [{"gid": _gid(1, 299), "resource_type": "task", "name": "T1-299"}]
    assert [d["gid"] for d in got[299]["dependents"]] == [_gid(1, 300)]
    assert t["memberships"][0]["section"]["name"] == "A" and t["assignee"]["email"] == "b@x.test"


def test_filtered_pages_match_a_full_scan(big: Sandbox) -> None:
    tasks = _tasks_api(big)
    every = [big.asana.tasks[g] for g in big.asana._project_tasks["202"]]
    with _Work(big) as work:
        recent = list(tasks.get_tasks_for_project("202", {"modified_since": "2026-11-25T00:00:00Z",
                                                          "completed_since": "now", "limit": 100}))
        section = list(asana.TasksApi(tasks.api_client).get_tasks_for_section("2021", {"limit": 100}))
    assert [t["gid"] for t in recent] == [t.gid for t in every if t.modified_at >= "2026-11-25" and not t.completed]
    assert [t["gid"] for t in section] == [t.gid for t in every if t.section == "2021"]
    assert work.scans == 0 and len(work.renders) == len(recent) + len(section)


def test_mutations_keep_the_indexes(big: Sandbox) -> None:
    state = big.asana
    tasks = _tasks_api(big)
    victim, dependent = _gid(3, 9), _gid(3, 10)
    new = state.add_task({"name": "late", "projects": ["203"], "dependencies": [victim]})
    state.update_task(_gid(3, 1), dependencies=[victim])
    assert [d["gid"] for d in tasks.get_dependents_for_task(victim, {})] == [_gid(3, 1), new]
    state.remove_task_from_project(_gid(3, 2), "203")
    state.tasks.pop(_gid(3, 4))  # gone without an event
    state.delete_task(victim)
    gids = [t["gid"] for t in tasks.get_tasks_for_project("203", {"limit": 100})]
    assert len(gids) == PER_PROJECT - 3 + 1 and gids[-1] == new
    assert not {_gid(3, 2), _gid(3, 4), victim} & set(gids)
    assert tasks.get_task(dependent, {"opt_fields": "dependencies"})["dependencies"] == []
    assert tasks.get_task(new, {"opt_fields": "dependencies"})["dependencies"] == []


def _history(c: WebClient, **kw: Any) -> tuple[list[dict[str, Any]], int]:
    out: list[dict[str, Any]] = []
    cursor, calls = None, 0
    while True:
        r = c.conversations_history(channel="C01", limit=200, cursor=cursor, **kw)
        calls += 1
        out += r["messages"]
        cursor = r["response_metadata"]["next_cursor"]
        if not cursor:
            return out, calls


def test_history_pages_cost_the_page(big: Sandbox) -> None:
    state = big.slack
    rendered: list[str] = []
    original = state.r_message

    class NoScan(dict):  # type: ignore[type-arg]
        def values(self) -> Any:
            raise AssertionError("conversations.history scanned the channel")

        def __iter__(self) -> Any:
            raise AssertionError("conversations.history scanned the channel")

    def r_message(channel: str, m: Any, **kw: Any) -> Any:
        rendered.append(m.ts)
        return original(channel, m, **kw)

    c = WebClient(token="xoxb-x", base_url=big.slack_base_url, timeout=30)
    top = sorted((ts for ts, m in state.messages["C01"].items() if m.thread_ts in (None, ts)), key=_tsf, reverse=True)
    state.r_message = r_message  # type: ignore[method-assign]
    with state._lock:
        state.messages["C01"] = NoScan(state.messages["C01"])
    try:
        everything, calls = _history(c)
        assert [m["ts"] for m in everything] == top and calls == -(-len(top) // 200)
        parents = [m for m in everything if m.get("reply_count")]
        assert len(parents) == MESSAGES // 10 and all(m["reply_count"] == 2 for m in parents)
        latest, oldest = top[-1000], top[-100]  # top is newest first
        window, _ = _history(c, oldest=oldest, latest=latest)
        assert [m["ts"] for m in window] == top[-999:-100]
        window, _ = _history(c, oldest=oldest, latest=latest, inclusive=True)
        assert [m["ts"] for m in window] == top[-1000:-99]
        thread = c.conversations_replies(channel="C01", ts="1763000010.000100")
        assert [m["text"] for m in thread["messages"]] == ["m10", "m13", "m16"]
    finally:
        del state.r_message
        with state._lock:
            state.messages["C01"] = dict(state.messages["C01"])
    # one render per message on the page, plus the root of a broadcast (none here)
    assert len(rendered) == len(top) + 1000 - 100 - 1 + 1000 - 100 + 1 + 3
