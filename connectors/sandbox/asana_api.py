"""The fake Asana REST API 1.0: state, mutation helpers for tests, and the GET endpoints.

Records are rendered lazily (`LazyRecord`): a field is computed only when a response asks for it,
so `opt_fields` projection costs what it returns, and a list renders only the requested page.
Indexes (tasks by project in order, dependents by task, story/section/status update -> owner,
events by resource) are kept up to date by every mutation, including `tasks.pop(gid)`.
"""

from __future__ import annotations

import base64
import bisect
import itertools
import json
import re
import secrets
import threading
from collections.abc import Callable, Container, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

from .scenario import (
    STATUS_UPDATE_TYPES,
    AsanaScenario,
    CustomField,
    Portfolio,
    Project,
    Section,
    StatusUpdate,
    Story,
    Task,
    Team,
    check_iso,
    check_task_refs,
    fmt_iso,
    parse_iso,
    parse_story,
    parse_task,
    utcnow,
)

PREFIX = "/asana/api/1.0"
SYNC_INVALID = ("Sync token invalid or too old. If you are attempting to keep resources in sync, you must fetch "
                "the full dataset for this query now and use the new sync token for the next sync.")
EVENTS_PAGE = 100  # events per /events answer; more -> has_more: true

# Fields of the compact record of each resource type (what a list returns without opt_fields).
COMPACT: dict[str, tuple[str, ...]] = {
    "user": ("name",),
    "workspace": ("name",),
    "project": ("name",),
    "section": ("name",),
    "task": ("name", "resource_subtype"),
    "story": ("created_at", "created_by", "resource_subtype", "text", "type"),
    "custom_field": ("name", "resource_subtype", "type", "enum_value", "display_value", "text_value",
                     "number_value"),
    "enum_option": ("name", "enabled", "color"),
    "status_update": ("resource_subtype", "title"),
}


class AsanaError(Exception):
    def __init__(self, status: int, message: str, *, extra: dict[str, Any] | None = None):
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"errors": [{"message": message}]}
        if extra:
            self.body.update(extra)


@lru_cache(maxsize=65536)
def _dt(value: str) -> datetime:
    """parse_iso, memoised: timestamps are compared on every filtered list request."""
    return parse_iso(value)


# --------------------------------------------------------------------------- lazy records

class LazyRecord:
    """A read-only mapping whose fields are computed on first access (and then kept).

    ``fields`` maps field name -> function(*args); the key order is the order of the full record.
    A plain class rather than a ``Mapping`` subclass: isinstance() on an ABC is slow on hot paths.
    """

    __slots__ = ("_args", "_cache", "_fields")

    def __init__(self, fields: Mapping[str, Callable[..., Any]], args: tuple[Any, ...]):
        self._fields = fields
        self._args = args
        self._cache: dict[str, Any] = {}

    def __getitem__(self, key: str) -> Any:
        cache = self._cache
        if key in cache:
            return cache[key]
        value = cache[key] = self._fields[key](*self._args)
        return value

    def __contains__(self, key: object) -> bool:
        return key in self._fields

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def keys(self) -> Iterator[str]:
        return iter(self._fields)

    def items(self) -> Iterator[tuple[str, Any]]:
        return ((k, self[k]) for k in self._fields)

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self._fields else default

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (LazyRecord, dict)):
            return dict(self.items()) == dict(other.items())
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"LazyRecord({self['gid']!r})"


_RECORD_TYPES = (dict, LazyRecord)


# --------------------------------------------------------------------------- opt_fields

def parse_opt_fields(raw: str | None) -> dict[str, Any] | None:
    """'a.b,a.c,d' -> {'a': {'b': {}, 'c': {}}, 'd': {}}. Tolerates a str(list) from a misused SDK call."""
    if raw is None or raw == "":
        return None
    raw = raw.strip().strip("[]")
    tree: dict[str, Any] = {}
    for part in raw.split(","):
        part = part.strip().strip("'\"").strip()
        if not part:
            continue
        node = tree
        for name in part.split("."):
            if name == "this":
                continue
            node = node.setdefault(name, {})
    return tree


@lru_cache(maxsize=512)
def _opt_tree(raw: str | None) -> dict[str, Any] | None:
    """parse_opt_fields, memoised across requests (clients send the same opt_fields every page).

    The tree is shared: treat it as read-only.
    """
    return parse_opt_fields(raw)


def _compact(rec: Mapping[str, Any]) -> dict[str, Any]:
    out = {"gid": rec["gid"], "resource_type": rec["resource_type"]}
    for k in COMPACT.get(rec["resource_type"], ("name",)):
        if k in rec:
            out[k] = project_value(rec[k], {})
    return out


def project_value(v: Any, sub: dict[str, Any]) -> Any:
    if isinstance(v, list):
        return [project_value(x, sub) for x in v]
    if isinstance(v, _RECORD_TYPES):
        if "gid" in v and "resource_type" in v:
            return select(v, sub) if sub else _compact(v)
        if sub:
            return {k: project_value(v[k], s) for k, s in sub.items() if k in v}
        return {k: project_value(x, {}) for k, x in v.items()}
    return v


def select(rec: Mapping[str, Any], tree: dict[str, Any]) -> dict[str, Any]:
    out = {"gid": rec["gid"], "resource_type": rec["resource_type"]}
    for k, sub in tree.items():
        if k in rec:
            out[k] = project_value(rec[k], sub)
    return out


def full_view(rec: Mapping[str, Any]) -> dict[str, Any]:
    return {k: project_value(v, {}) for k, v in rec.items()}


# --------------------------------------------------------------------------- pagination

def _encode_offset(key: str, index: int) -> str:
    raw = json.dumps({"k": key, "i": index}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_offset(key: str, token: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        if data["k"] != key or not isinstance(data["i"], int) or data["i"] < 0:
            raise ValueError
        return int(data["i"])
    except Exception:
        raise AsanaError(400, "offset: Your pagination token is invalid.") from None


@dataclass
class Request:
    path: str  # path without the /asana/api/1.0 prefix and without query
    query: dict[str, str]
    base_url: str  # e.g. http://127.0.0.1:1234/asana/api/1.0
    body: Any = None  # the parsed JSON body of a POST
    _opt: Any = field(default=False, init=False, repr=False, compare=False)

    def opt(self) -> dict[str, Any] | None:
        """The parsed opt_fields tree (parsed once per request, and memoised across requests)."""
        if self._opt is False:
            self._opt = _opt_tree(self.query.get("opt_fields"))
        return self._opt  # type: ignore[no-any-return]


def paginate(req: Request, records: Sequence[Any], *, full_by_default: bool = False,
             render: Callable[[Any], Mapping[str, Any]] | None = None,
             keep: Callable[[Any], bool] | None = None) -> dict[str, Any]:
    """One page of ``records``: ``limit`` + opaque ``offset``, ``next_page`` or null.

    With ``render``, ``records`` are keys (e.g. task gids) and only the page is rendered; ``keep``
    filters keys. The offset is a position in ``records``, so a page costs O(limit + skipped keys).
    """
    limit_raw = req.query.get("limit")
    key = req.path + "?" + "&".join(f"{k}={v}" for k, v in sorted(req.query.items())
                                    if k not in ("limit", "offset", "opt_fields", "opt_pretty"))
    start = 0
    if req.query.get("offset"):
        start = _decode_offset(key, req.query["offset"])
    n = len(records)
    nxt = None
    if limit_raw is None:
        page = [records[i] for i in range(start, n) if keep is None or keep(records[i])]
    else:
        try:
            limit = int(limit_raw)
        except ValueError:
            raise AsanaError(400, f"limit: Not a valid integer: {limit_raw}") from None
        if not 1 <= limit <= 100:
            raise AsanaError(400, "limit: Must be between 1 and 100")
        if keep is None:
            page = list(records[start:start + limit])
            i = start + limit
        else:
            page = []
            i = start
            while i < n and len(page) < limit:
                if keep(records[i]):
                    page.append(records[i])
                i += 1
            while i < n and not keep(records[i]):  # is there another page at all?
                i += 1
        if i < n:
            token = _encode_offset(key, i)
            q = dict(req.query)
            q["offset"] = token
            q["limit"] = str(limit)
            path = req.path + "?" + urlencode(q)
            nxt = {"offset": token, "path": path, "uri": req.base_url + path}
    if render is not None:
        page = [render(x) for x in page]
    tree = req.opt()
    if tree:
        data = [select(r, tree) for r in page]
    elif full_by_default:
        data = [full_view(r) for r in page]
    else:
        data = [_compact(r) for r in page]
    return {"data": data, "next_page": nxt}


def single(req: Request, rec: Mapping[str, Any]) -> dict[str, Any]:
    tree = req.opt()
    return {"data": select(rec, tree) if tree else full_view(rec)}


# --------------------------------------------------------------------------- lazy field tables

def _task_fields() -> dict[str, Callable[[AsanaState, Task, int], Any]]:
    return {
        "gid": lambda s, t, d: t.gid,
        "resource_type": lambda s, t, d: "task",
        "name": lambda s, t, d: t.name,
        "resource_subtype": lambda s, t, d: t.resource_subtype,
        "approval_status": lambda s, t, d: None,
        "assignee_status": lambda s, t, d: "upcoming" if t.assignee else None,
        "completed": lambda s, t, d: t.completed,
        "completed_at": lambda s, t, d: t.completed_at,
        "completed_by": lambda s, t, d: s.r_user(t.assignee) if t.completed else None,
        "created_at": lambda s, t, d: t.created_at,
        "modified_at": lambda s, t, d: t.modified_at,
        "due_at": lambda s, t, d: None,
        "due_on": lambda s, t, d: t.due_on,
        "start_at": lambda s, t, d: None,
        "start_on": lambda s, t, d: t.start_on,
        "assignee": lambda s, t, d: s.r_user(t.assignee),
        "notes": lambda s, t, d: t.notes,
        "html_notes": lambda s, t, d: f"<body>{t.notes}</body>",
        "num_subtasks": lambda s, t, d: 0,
        "num_likes": lambda s, t, d: 0,
        "liked": lambda s, t, d: False,
        "hearted": lambda s, t, d: False,
        "is_rendered_as_separator": lambda s, t, d: False,
        "parent": lambda s, t, d: None,
        "tags": lambda s, t, d: [],
        "followers": lambda s, t, d: [s.r_user(f) for f in sorted(
            {x for x in [t.assignee] + [st.created_by for st in t.stories] if x in s.users})],
        "projects": lambda s, t, d: [s.r_project(pg) for pg in t.projects],
        "memberships": lambda s, t, d: s._memberships(t),
        "custom_fields": lambda s, t, d: [s.r_custom_field(s.custom_fields[c], t.custom_fields.get(c))
                                          for c in s.custom_fields if c in t.custom_fields or t.projects],
        "dependencies": lambda s, t, d: s._related(t.dependencies, d),
        "dependents": lambda s, t, d: s._related(s._dependents(t.gid), d),
        "permalink_url": lambda s, t, d: f"https://app.asana.com/0/{t.projects[0] if t.projects else '0'}/{t.gid}",
        "workspace": lambda s, t, d: s.r_workspace(),
    }


def _project_fields() -> dict[str, Callable[[AsanaState, Project], Any]]:
    return {
        "gid": lambda s, p: p.gid,
        "resource_type": lambda s, p: "project",
        "name": lambda s, p: p.name,
        "archived": lambda s, p: p.archived,
        "color": lambda s, p: "none",
        "created_at": lambda s, p: p.created_at,
        "modified_at": lambda s, p: max([p.created_at] + [x.created_at for x in p.status_updates], key=_dt),
        "current_status_update": lambda s, p: s._current_status_update(p),
        "due_on": lambda s, p: p.due_on,
        "due_date": lambda s, p: p.due_on,
        "start_on": lambda s, p: None,
        "notes": lambda s, p: p.notes,
        "owner": lambda s, p: s.r_user(p.owner),
        "public": lambda s, p: True,
        "default_view": lambda s, p: "list",
        "permalink_url": lambda s, p: f"https://app.asana.com/0/{p.gid}/{p.gid}",
        "workspace": lambda s, p: s.r_workspace(),
        "members": lambda s, p: [s.r_user(m) for m in sorted(x for x in s._project_people(p) if x in s.users)],
        "custom_field_settings": lambda s, p: [
            {"gid": f"{p.gid}{c.gid}", "resource_type": "custom_field_setting", "is_important": True,
             "custom_field": s.r_custom_field(c, with_value=False)} for c in s.custom_fields.values()],
    }


TASK_FIELDS = _task_fields()
PROJECT_FIELDS = _project_fields()


# --------------------------------------------------------------------------- state

def _long_date(d: str) -> str:
    x = date.fromisoformat(d)
    return f"{x.strftime('%B')} {x.day}"


def _own_copy(s: AsanaScenario) -> AsanaScenario:
    """A copy of everything the state mutates (tasks, their lists, projects, sections); users, custom
    fields, stories and status updates are never changed in place and are shared. Much faster than
    deepcopy for tens of thousands of tasks."""
    projects = [replace(p, sections=[replace(x) for x in p.sections], status_updates=list(p.status_updates))
                for p in s.projects]
    tasks = [replace(t, projects=list(t.projects), custom_fields=dict(t.custom_fields),
                     dependencies=list(t.dependencies), stories=list(t.stories)) for t in s.tasks]
    return AsanaScenario(s.workspace, list(s.users), list(s.custom_fields), projects, tasks)


class _TaskTable(dict[str, Task]):
    """``AsanaState.tasks``: a dict that keeps the state's indexes in step with every insert/removal,
    so tests may still ``tasks.pop(gid)`` (a task gone without an event)."""

    def __init__(self, state: AsanaState):
        super().__init__()
        self._state = state

    def __setitem__(self, gid: str, task: Task) -> None:
        seq = None
        if gid in self:  # replaced: keeps its place, as in a dict
            seq = self._state._order.get(gid)
            self._state._unindex_task(dict.__getitem__(self, gid))
        dict.__setitem__(self, gid, task)
        self._state._index_task(task, seq)

    def __delitem__(self, gid: str) -> None:
        task = dict.__getitem__(self, gid)
        dict.__delitem__(self, gid)
        self._state._unindex_task(task)

    _MISSING = object()

    def pop(self, gid: str, default: Any = _MISSING) -> Any:  # type: ignore[override]
        if gid not in self:
            if default is self._MISSING:
                raise KeyError(gid)
            return default
        task = dict.__getitem__(self, gid)
        del self[gid]
        return task

    def popitem(self) -> tuple[str, Task]:
        gid = next(reversed(self))
        return gid, self.pop(gid)

    def clear(self) -> None:
        for gid in list(self):
            del self[gid]

    def setdefault(self, gid: str, default: Task | None = None) -> Task:  # type: ignore[override]
        if gid not in self:
            self[gid] = default  # type: ignore[assignment]
        return dict.__getitem__(self, gid)

    def update(self, *args: Any, **kwargs: Any) -> None:
        for gid, task in dict(*args, **kwargs).items():
            self[gid] = task


class _Gids(Container[str]):
    def __init__(self, test: Callable[[object], bool]):
        self._test = test

    def __contains__(self, gid: object) -> bool:
        return self._test(gid)


class AsanaState:
    """The live Asana workspace. Every public method is thread-safe."""

    dependency_stories = True  # update_task(dependencies=...) writes dependency_added/_removed stories

    def __init__(self, scenario: AsanaScenario):
        self._lock = threading.RLock()
        s = _own_copy(scenario)
        self.workspace = s.workspace
        self.users = {u.gid: u for u in s.users}
        self.custom_fields: dict[str, CustomField] = {c.gid: c for c in s.custom_fields}
        self.projects = {p.gid: p for p in s.projects}
        # never mutated: shared with the scenario
        self.portfolios: dict[str, Portfolio] = {x.gid: x for x in scenario.portfolios}
        self.teams: dict[str, Team] = {x.gid: x for x in scenario.teams}
        # indexes, kept in step by _index_task/_unindex_task and the mutation helpers
        self._seq = itertools.count()
        self._order: dict[str, int] = {}  # task gid -> insertion number (the scenario/dict order)
        self._project_tasks: dict[str, list[str]] = {g: [] for g in self.projects}
        self._dependents_of: dict[str, set[str]] = {}
        self._story_task: dict[str, str] = {}
        self._sections: dict[str, tuple[Project, Section]] = {}
        self._status_updates: dict[str, str] = {}  # status update gid -> project gid
        for p in self.projects.values():
            for sec in p.sections:
                self._sections.setdefault(sec.gid, (p, sec))
            for su in p.status_updates:
                self._status_updates[su.gid] = p.gid
        self.tasks: dict[str, Task] = _TaskTable(self)
        for t in s.tasks:
            self.tasks[t.gid] = t
        self._gids = itertools.count(1_209_000_000_000_001)
        self._events: list[tuple[frozenset[str], dict[str, Any]]] = []
        self._events_by_resource: dict[str, list[int]] = {}
        self._tokens: dict[str, tuple[str, int, int]] = {}  # token -> (resource, event index, generation)
        self._generation = 0
        self.me = s.users[0].gid if s.users else None
        self._workspace_rec: dict[str, Any] | None = None
        self._user_recs: dict[str, dict[str, Any]] = {}
        self._cf_recs: dict[str, dict[str, Any]] = {}
        self._created_stories: list[dict[str, Any]] = []  # what POST /tasks/{gid}/stories created
        self.webhooks: dict[str, Webhook] = {}  # gid -> webhook (POST /webhooks)

    # ----------------------------------------------------------------- indexes
    def _index_task(self, t: Task, seq: int | None = None) -> None:
        self._order[t.gid] = next(self._seq) if seq is None else seq
        for pg in t.projects:  # project lists stay in task order (usually an append)
            lst = self._project_tasks.setdefault(pg, [])
            bisect.insort(lst, t.gid, key=self._order.__getitem__)
        for d in t.dependencies:
            self._dependents_of.setdefault(d, set()).add(t.gid)
        for st in t.stories:
            self._story_task.setdefault(st.gid, t.gid)

    def _unindex_task(self, t: Task) -> None:
        self._order.pop(t.gid, None)
        for pg in t.projects:
            lst = self._project_tasks.get(pg)
            if lst is not None and t.gid in lst:
                lst.remove(t.gid)
        for d in t.dependencies:
            self._dependents_of.get(d, set()).discard(t.gid)
        for st in t.stories:
            if self._story_task.get(st.gid) == t.gid:
                del self._story_task[st.gid]

    def _set_dependencies(self, t: Task, deps: list[str]) -> None:
        for d in t.dependencies:
            self._dependents_of.get(d, set()).discard(t.gid)
        t.dependencies = deps
        for d in deps:
            self._dependents_of.setdefault(d, set()).add(t.gid)

    def _dependents(self, gid: str) -> list[str]:
        """Tasks that depend on ``gid``, in task order."""
        return sorted((g for g in self._dependents_of.get(gid, ()) if g in self.tasks), key=self._order.__getitem__)

    def _project_people(self, p: Project) -> set[str | None]:
        return {p.owner} | {self.tasks[g].assignee for g in self._project_tasks.get(p.gid, ()) if g in self.tasks}

    # ----------------------------------------------------------------- helpers
    def _new_gid(self) -> str:
        with self._lock:
            while True:
                g = str(next(self._gids))
                if not any(g in x for x in (self.tasks, self.projects, self.users, self._sections,
                                            self._story_task, self._status_updates)):
                    return g

    def _user_name(self, gid: str | None) -> str:
        u = self.users.get(gid or "")
        return u.name if u else "Asana"

    def _scenario_view(self) -> AsanaScenario:
        """What check_task_refs needs (tasks are checked through a gid container, not listed)."""
        return AsanaScenario(self.workspace, list(self.users.values()), list(self.custom_fields.values()),
                             list(self.projects.values()), [])

    def _section(self, gid: str | None) -> tuple[Any, Any] | None:
        if gid is None:
            return None
        return self._sections.get(gid)

    def _enum_name(self, cf: CustomField, value: Any) -> str | None:
        for e in cf.enum_options:
            if e.gid == value:
                return e.name
        return None

    @staticmethod
    def _when(at: datetime | str | None) -> str:
        return fmt_iso(at) if isinstance(at, datetime) else (check_iso(at, "at") if at else fmt_iso(utcnow()))

    def _actor(self, actor: str | None, default: str | None) -> str | None:
        who = actor or default or self.me
        if who is not None and who not in self.users:
            raise ValueError(f"actor: unknown user gid {who!r}")
        return who

    # ----------------------------------------------------------------- renderers (full records)
    def r_workspace(self) -> dict[str, Any]:
        if self._workspace_rec is None:
            self._workspace_rec = {
                "gid": self.workspace.gid, "resource_type": "workspace", "name": self.workspace.name,
                "is_organization": True, "email_domains": sorted({u.email.split("@")[1] for u in self.users.values()
                                                                  if u.email and "@" in u.email})}
        return self._workspace_rec

    def r_user(self, gid: str | None) -> dict[str, Any] | None:
        rec = self._user_recs.get(gid or "")
        if rec is None:
            u = self.users.get(gid or "")
            if u is None:
                return None
            rec = self._user_recs[u.gid] = {"gid": u.gid, "resource_type": "user", "name": u.name,
                                            "email": u.email, "photo": None, "workspaces": [self.r_workspace()]}
        return rec

    def r_enum_option(self, e: Any) -> dict[str, Any]:
        return {"gid": e.gid, "resource_type": "enum_option", "name": e.name, "enabled": e.enabled,
                "color": e.color or "none"}

    def r_custom_field(self, cf: CustomField, value: Any = None, *, with_value: bool = True) -> dict[str, Any]:
        base = self._cf_recs.get(cf.gid)
        if base is None:
            base = {"gid": cf.gid, "resource_type": "custom_field", "name": cf.name, "type": cf.type,
                    "resource_subtype": cf.type, "enabled": True, "is_formula_field": False, "description": ""}
            if cf.type == "enum":
                base["enum_options"] = [self.r_enum_option(e) for e in cf.enum_options]
            self._cf_recs[cf.gid] = base
        rec = dict(base)
        if with_value:
            if cf.type == "enum":
                i = next((i for i, e in enumerate(cf.enum_options) if e.gid == value), None)
                rec["enum_value"] = base["enum_options"][i] if i is not None else None
                rec["display_value"] = cf.enum_options[i].name if i is not None else None
            elif cf.type == "number":
                rec["number_value"] = value
                rec["display_value"] = None if value is None else str(value)
            else:
                rec["text_value"] = value
                rec["display_value"] = value
        return rec

    def r_project(self, gid: str) -> LazyRecord:
        return LazyRecord(PROJECT_FIELDS, (self, self.projects[gid]))

    def _current_status_update(self, p: Project) -> Any:
        latest = max(p.status_updates, key=lambda x: _dt(x.created_at), default=None)
        return self.r_status_update(p.gid, latest.gid) if latest else None

    def r_section(self, project_gid: str, section: Any) -> dict[str, Any]:
        p = self.projects[project_gid]
        return {"gid": section.gid, "resource_type": "section", "name": section.name, "created_at": p.created_at,
                "project": {"gid": p.gid, "resource_type": "project", "name": p.name}}

    def r_status_update(self, project_gid: str, su_gid: str) -> dict[str, Any]:
        """A status update. ``parent`` is the project (compact by default; any project field can be
        asked for, e.g. ``opt_fields=parent.permalink_url``). Real status updates carry no
        ``permalink_url`` of their own; the project's is the link to show."""
        p = self.projects[project_gid]
        su = next(x for x in p.status_updates if x.gid == su_gid)
        author = self.r_user(su.author)
        return {"gid": su.gid, "resource_type": "status_update", "resource_subtype": "project_status_update",
                "status_type": su.status_type, "title": su.title, "text": su.text,
                "html_text": f"<body>{su.text}</body>", "created_at": su.created_at, "modified_at": su.created_at,
                "author": author, "created_by": author, "hearted": False, "hearts": [], "liked": False,
                "likes": [], "num_hearts": 0, "num_likes": 0, "parent": self.r_project(p.gid)}

    def _task_compact(self, gid: str) -> dict[str, Any]:
        t = self.tasks[gid]
        return {"gid": t.gid, "resource_type": "task", "name": t.name, "resource_subtype": t.resource_subtype}

    def _related(self, gids: list[str], depth: int) -> list[Any]:
        gids = [g for g in gids if g in self.tasks]
        if depth >= 1:
            return [self._task_compact(g) for g in gids]
        return [self.r_task(g, depth=depth + 1) for g in gids]

    def _memberships(self, t: Task) -> list[dict[str, Any]]:
        out = []
        for pg in t.projects:
            p = self.projects[pg]
            sec = next((x for x in p.sections if x.gid == t.section), p.sections[0] if p.sections else None)
            out.append({"project": self.r_project(pg), "section": self.r_section(pg, sec) if sec else None})
        return out

    def r_task(self, gid: str, *, depth: int = 0) -> LazyRecord:
        """The full task record, computed field by field as it is read (see LazyRecord)."""
        return LazyRecord(TASK_FIELDS, (self, self.tasks[gid], depth))

    def r_story(self, task_gid: str, s: Story) -> dict[str, Any]:
        t = self.tasks[task_gid]
        rec: dict[str, Any] = {
            "gid": s.gid, "resource_type": "story", "created_at": s.created_at,
            "created_by": self.r_user(s.created_by), "resource_subtype": s.resource_subtype, "text": s.text,
            "type": s.type, "is_editable": s.type == "comment", "is_edited": False, "is_pinned": False,
            "source": "web", "target": self._task_compact(t.gid),
        }
        if s.type == "comment":
            rec["html_text"] = f"<body>{s.text}</body>"
        ex = s.extra
        if "custom_field" in ex:
            cf = self.custom_fields.get(ex["custom_field"] or "")
            if cf:
                rec["custom_field"] = self.r_custom_field(cf, with_value=False)
                for k in ("old_enum_value", "new_enum_value"):
                    if k in ex:
                        opt = next((e for e in cf.enum_options if e.gid == ex[k]), None)
                        rec[k] = self.r_enum_option(opt) if opt else None
        for k in ("old_section", "new_section"):
            if k in ex:
                found = self._section(ex[k])
                rec[k] = self.r_section(found[0].gid, found[1]) if found else None
        if "assignee" in ex:
            rec["assignee"] = self.r_user(ex["assignee"])
        if "dependency" in ex:
            dep = ex["dependency"]
            rec["dependency"] = self.r_task(dep, depth=1) if dep in self.tasks else None
        for k in ("old_dates", "new_dates"):
            if k in ex:
                v = ex[k] or {}
                rec[k] = {"start_on": v.get("start_on"), "due_at": v.get("due_at"), "due_on": v.get("due_on")}
        return rec

    # ----------------------------------------------------------------- events
    def _emit(self, resources: set[str], event: dict[str, Any]) -> None:
        index = len(self._events)
        self._events.append((frozenset(resources), event))
        for r in resources:
            self._events_by_resource.setdefault(r, []).append(index)
        for hook in list(getattr(self, "webhooks", {}).values()):
            if hook.active and hook.resource in resources:
                hook.deliver_later([event])

    def _new_token(self, resource: str, index: int) -> str:
        token = secrets.token_hex(16)
        self._tokens[token] = (resource, index, self._generation)
        return token

    def expire_sync_tokens(self) -> None:
        """Make every sync token handed out so far invalid (the next /events answers 412)."""
        with self._lock:
            self._generation += 1
            self._tokens.clear()

    def _event(self, actor: str | None, at: str, etype: str, action: str, resource: dict[str, Any],
               parent: dict[str, Any] | None, change: dict[str, Any] | None = None) -> dict[str, Any]:
        user = {"gid": actor, "resource_type": "user", "name": self._user_name(actor)} if actor in self.users else None
        ev = {"user": user, "created_at": at, "type": etype, "action": action, "resource": resource,
              "parent": parent}
        if change is not None:
            ev["change"] = change
        return ev

    def _project_compact(self, gid: str) -> dict[str, Any]:
        return {"gid": gid, "resource_type": "project", "name": self.projects[gid].name}

    # ----------------------------------------------------------------- mutations (for tests)
    def _append_story(self, t: Task, story: Story) -> None:
        t.stories.append(story)
        self._story_task.setdefault(story.gid, t.gid)
        res = {t.gid} | set(t.projects)
        self._emit(res, self._event(story.created_by, story.created_at, "story", "added",
                                    {"gid": story.gid, "resource_type": "story",
                                     "resource_subtype": story.resource_subtype},
                                    {"gid": t.gid, "resource_type": "task", "name": t.name,
                                     "resource_subtype": t.resource_subtype}))

    def update_task(self, gid: str, *, actor: str | None = None, at: datetime | str | None = None,
                    dependency_stories: bool | None = None, **fields: Any) -> dict[str, Any]:
        """Change task fields like a person in the Asana UI would.

        Supported fields: name, notes, completed, due_on, start_on, assignee (user gid or None),
        section (section gid), custom_fields ({custom_field_gid: option gid or option name or value}),
        dependencies (list of task gids). Appends the matching system stories (dated ``at``, default
        now, by ``actor``, default the assignee), bumps modified_at and emits events.
        ``dependency_stories`` (default: ``self.dependency_stories``, on) also writes one
        ``dependency_added``/``dependency_removed`` story per dependency added/removed.
        Returns the full task record.
        """
        with self._lock:
            if gid not in self.tasks:
                raise KeyError(f"unknown Asana task gid {gid!r}")
            t = self.tasks[gid]
            when = self._when(at)
            who = self._actor(actor, t.assignee)
            name = self._user_name(who)
            if dependency_stories is None:
                dependency_stories = self.dependency_stories
            stories: list[tuple[str, str, dict[str, Any]]] = []
            changed: list[dict[str, Any]] = []
            for field_name, value in fields.items():
                if field_name == "name":
                    if value != t.name:
                        t.name = str(value)
                        stories.append(("name_changed", f'{name} changed the name to "{value}"', {}))
                        changed.append({"field": "name", "action": "changed"})
                elif field_name == "notes":
                    if value != t.notes:
                        t.notes = str(value)
                        stories.append(("notes_changed", f"{name} changed the description", {}))
                        changed.append({"field": "notes", "action": "changed"})
                elif field_name == "completed":
                    value = bool(value)
                    if value != t.completed:
                        t.completed = value
                        t.completed_at = when if value else None
                        stories.append(("marked_complete", f"{name} completed this task", {}) if value
                                       else ("marked_incomplete", f"{name} marked this task incomplete", {}))
                        changed.append({"field": "completed", "action": "changed"})
                elif field_name in ("due_on", "start_on"):
                    if value is not None:
                        value = value.isoformat() if isinstance(value, date) else str(value)
                        date.fromisoformat(value)
                    old = getattr(t, field_name)
                    if value != old:
                        old_dates = {"due_on": t.due_on, "start_on": t.start_on, "due_at": None}
                        setattr(t, field_name, value)
                        new_dates = {"due_on": t.due_on, "start_on": t.start_on, "due_at": None}
                        what = "due date" if field_name == "due_on" else "start date"
                        text = (f"{name} changed the {what} to {_long_date(value)}" if value
                                else f"{name} removed the {what}")
                        subtype = "due_date_changed" if field_name == "due_on" else "start_date_changed"
                        stories.append((subtype, text, {"old_dates": old_dates, "new_dates": new_dates}))
                        changed.append({"field": field_name, "action": "changed"})
                elif field_name == "assignee":
                    if value is not None and value not in self.users:
                        raise ValueError(f"assignee: unknown user gid {value!r}")
                    if value != t.assignee:
                        old = t.assignee
                        t.assignee = value
                        if value is None:
                            stories.append(("unassigned", f"{name} unassigned from {self._user_name(old)}", {}))
                        else:
                            stories.append(("assigned", f"{name} assigned to {self._user_name(value)}",
                                            {"assignee": value}))
                        changed.append({"field": "assignee", "action": "changed"})
                elif field_name == "section":
                    found = self._section(value)
                    if found is None or found[0].gid not in t.projects:
                        raise ValueError(f"section: {value!r} is not a section of the task's projects")
                    if value != t.section:
                        old = self._section(t.section)
                        old_name = old[1].name if old else "(no section)"
                        t.section = value
                        stories.append(("section_changed", f'{name} moved this task from "{old_name}" to '
                                        f'"{found[1].name}" in {found[0].name}',
                                        {"old_section": old[1].gid if old else None, "new_section": value}))
                        changed.append({"field": "section", "action": "changed"})
                elif field_name == "custom_fields":
                    if not isinstance(value, dict):
                        raise ValueError("custom_fields: expected {custom_field_gid: value}")
                    for cg, v in value.items():
                        cf = self.custom_fields.get(str(cg))
                        if cf is None:
                            raise ValueError(f"custom_fields.{cg}: unknown custom field gid")
                        if cf.type == "enum" and v is not None:
                            opt = next((e for e in cf.enum_options if v in (e.gid, e.name)), None)
                            if opt is None:
                                raise ValueError(f"custom_fields.{cg}: {v!r} is not an option of {cf.name!r}")
                            v = opt.gid
                        old = t.custom_fields.get(cf.gid)
                        if v == old:
                            continue
                        t.custom_fields[cf.gid] = v
                        if cf.type == "enum":
                            new_name, old_name = self._enum_name(cf, v), self._enum_name(cf, old)
                            if v is None:
                                text = f"{name} cleared {cf.name}"
                            elif old_name is None:
                                text = f'{name} changed {cf.name} to "{new_name}"'
                            else:
                                text = f'{name} changed {cf.name} from "{old_name}" to "{new_name}"'
                            stories.append(("enum_custom_field_changed", text,
                                            {"custom_field": cf.gid, "old_enum_value": old, "new_enum_value": v}))
                        else:
                            stories.append((f"{cf.type}_custom_field_changed",
                                            f'{name} changed {cf.name} to "{v}"', {"custom_field": cf.gid}))
                        changed.append({"field": "custom_fields", "action": "changed",
                                        "new_value": {"gid": cf.gid, "resource_type": "custom_field"}})
                elif field_name == "dependencies":
                    deps = [str(d) for d in value]
                    for d in deps:
                        if d not in self.tasks or d == gid:
                            raise ValueError(f"dependencies: invalid task gid {d!r}")
                    if deps != t.dependencies:
                        old_deps = list(t.dependencies)
                        self._set_dependencies(t, deps)
                        changed.append({"field": "dependencies", "action": "changed"})
                        if dependency_stories:
                            for d in deps:
                                if d not in old_deps:
                                    text = f'{name} marked this task as dependent on "{self.tasks[d].name}"'
                                    stories.append(("dependency_added", text, {"dependency": d}))
                            for d in old_deps:
                                if d not in deps:
                                    dname = self.tasks[d].name if d in self.tasks else d
                                    text = f'{name} removed the dependency on "{dname}"'
                                    stories.append(("dependency_removed", text, {"dependency": d}))
                else:
                    raise ValueError(f"update_task: unsupported field {field_name!r}")
            if changed:
                t.modified_at = when
                res = {t.gid} | set(t.projects)
                for ch in changed:
                    self._emit(res, self._event(who, when, "task", "changed", self._task_compact(gid), None, ch))
                for subtype, text, extra in stories:
                    self._append_story(t, Story(self._new_gid(), when, who, subtype, text, "system",
                                                {k: v for k, v in extra.items()}))
            return full_view(self.r_task(gid))

    def add_task(self, task: dict[str, Any]) -> str:
        """Add a task (scenario format; gid, created_at and modified_at optional). Returns its gid."""
        with self._lock:
            now = fmt_iso(utcnow())
            t = parse_task(task, "task", gid_default=self._new_gid(), now_default=now)
            if t.gid in self.tasks:
                raise ValueError(f"task.gid: duplicate gid {t.gid!r}")
            check_task_refs(t, self._scenario_view(), "task", _Gids(lambda g: g in self.tasks or g == t.gid))
            self.tasks[t.gid] = t
            for pg in t.projects:
                self._emit({t.gid, pg}, self._event(t.assignee, t.created_at, "task", "added",
                                                    self._task_compact(t.gid), self._project_compact(pg)))
            return t.gid

    def delete_task(self, gid: str) -> None:
        with self._lock:
            if gid not in self.tasks:
                raise KeyError(f"unknown Asana task gid {gid!r}")
            t = self.tasks[gid]
            compact = self._task_compact(gid)
            del self.tasks[gid]
            for other in self._dependents(gid):
                o = self.tasks[other]
                self._set_dependencies(o, [d for d in o.dependencies if d != gid])
            self._emit({gid} | set(t.projects), self._event(self.me, fmt_iso(utcnow()), "task", "deleted",
                                                            compact, None))

    def add_story(self, task_gid: str, story: dict[str, Any]) -> str:
        """Append a story (default: a comment dated now). Returns its gid."""
        with self._lock:
            if task_gid not in self.tasks:
                raise KeyError(f"unknown Asana task gid {task_gid!r}")
            t = self.tasks[task_gid]
            s = parse_story(story, "story", gid_default=self._new_gid(), created_at_default=fmt_iso(utcnow()))
            if s.created_by is not None and s.created_by not in self.users:
                raise ValueError(f"story.created_by: unknown user gid {s.created_by!r}")
            if parse_iso(s.created_at) > parse_iso(t.modified_at):
                t.modified_at = s.created_at
            self._append_story(t, s)
            return s.gid

    def remove_task_from_project(self, task_gid: str, project_gid: str, *, actor: str | None = None,
                                 at: datetime | str | None = None) -> None:
        """Take a task out of a project (the task itself stays, as POST /tasks/{gid}/removeProject does).

        Emits a task ``removed`` event whose ``parent`` is the project, on the task's stream and on
        the stream of every project it was in. A section of that project is cleared from the task.
        """
        with self._lock:
            if task_gid not in self.tasks:
                raise KeyError(f"unknown Asana task gid {task_gid!r}")
            if project_gid not in self.projects:
                raise KeyError(f"unknown Asana project gid {project_gid!r}")
            t = self.tasks[task_gid]
            if project_gid not in t.projects:
                raise ValueError(f"task {task_gid!r} is not in project {project_gid!r}")
            when = self._when(at)
            who = self._actor(actor, t.assignee)
            resources = {t.gid} | set(t.projects)
            lst = self._project_tasks.get(project_gid, [])
            if task_gid in lst:
                lst.remove(task_gid)
            t.projects = [p for p in t.projects if p != project_gid]
            found = self._section(t.section)
            if found is not None and found[0].gid == project_gid:
                t.section = None
            t.modified_at = when
            self._emit(resources, self._event(who, when, "task", "removed", self._task_compact(task_gid),
                                              self._project_compact(project_gid)))

    def rename_section(self, section_gid: str, name: str, *, actor: str | None = None,
                       at: datetime | str | None = None) -> None:
        """Rename a section; emits a section ``changed`` event (change field ``name``) on its project's stream."""
        with self._lock:
            found = self._section(section_gid)
            if found is None:
                raise KeyError(f"unknown Asana section gid {section_gid!r}")
            p, sec = found
            if not name:
                raise ValueError("name: must not be empty")
            if name == sec.name:
                return
            when = self._when(at)
            who = self._actor(actor, p.owner)
            sec.name = str(name)
            self._emit({sec.gid, p.gid}, self._event(who, when, "section", "changed",
                                                     {"gid": sec.gid, "resource_type": "section", "name": sec.name},
                                                     None, {"field": "name", "action": "changed"}))

    def add_status_update(self, project_gid: str, status_type: str, title: str, text: str, author: str | None,
                          at: datetime | str | None = None) -> str:
        """Post a project status update (dated ``at``, default now). Returns its gid.

        Emits a ``status_update`` ``added`` event whose ``parent`` is the project.
        """
        with self._lock:
            if project_gid not in self.projects:
                raise KeyError(f"unknown Asana project gid {project_gid!r}")
            if status_type not in STATUS_UPDATE_TYPES:
                raise ValueError(f"status_type: expected one of {', '.join(STATUS_UPDATE_TYPES)}, got {status_type!r}")
            if author is not None and author not in self.users:
                raise ValueError(f"author: unknown user gid {author!r}")
            when = self._when(at)
            p = self.projects[project_gid]
            su = StatusUpdate(self._new_gid(), status_type, str(title or ""), str(text or ""), when, author)
            p.status_updates.append(su)
            self._status_updates[su.gid] = p.gid
            self._emit({p.gid}, self._event(author, when, "status_update", "added", self._su_compact(su),
                                            self._project_compact(p.gid)))
            return su.gid

    def remove_status_update(self, gid: str, *, actor: str | None = None, at: datetime | str | None = None) -> None:
        """Delete a status update (DELETE /status_updates/{gid}); emits a ``status_update`` ``deleted``
        event (``parent`` null) on its project's stream. The project's current status update becomes
        the newest remaining one."""
        with self._lock:
            pg = self._status_updates.get(gid)
            if pg is None:
                raise KeyError(f"unknown Asana status update gid {gid!r}")
            p = self.projects[pg]
            su = next(x for x in p.status_updates if x.gid == gid)
            when = self._when(at)
            who = self._actor(actor, su.author)
            p.status_updates.remove(su)
            del self._status_updates[gid]
            self._emit({p.gid}, self._event(who, when, "status_update", "deleted", self._su_compact(su), None))

    @staticmethod
    def _su_compact(su: StatusUpdate) -> dict[str, Any]:
        return {"gid": su.gid, "resource_type": "status_update", "resource_subtype": "project_status_update",
                "title": su.title}

    # ----------------------------------------------------------------- endpoints
    def _task_or_404(self, gid: str) -> Task:
        if gid not in self.tasks:
            raise AsanaError(404, f"task: Unknown object: {gid}")
        return self.tasks[gid]

    def _project_or_404(self, gid: str) -> Any:
        if gid not in self.projects:
            raise AsanaError(404, f"project: Unknown object: {gid}")
        return self.projects[gid]

    def get_me(self, req: Request) -> dict[str, Any]:
        if self.me is None:
            raise AsanaError(404, "user: Unknown object: me")
        return single(req, self.r_user(self.me) or {})

    def get_user(self, req: Request, gid: str) -> dict[str, Any]:
        if gid == "me":
            return self.get_me(req)
        u = self.r_user(gid)
        if u is None:
            for x in self.users.values():
                if x.email and x.email.lower() == gid.lower():
                    u = self.r_user(x.gid)
        if u is None:
            raise AsanaError(404, f"user: Unknown object: {gid}")
        return single(req, u)

    def get_workspaces(self, req: Request) -> dict[str, Any]:
        return paginate(req, [self.r_workspace()])

    def get_workspace(self, req: Request, gid: str) -> dict[str, Any]:
        if gid != self.workspace.gid:
            raise AsanaError(404, f"workspace: Unknown object: {gid}")
        return single(req, self.r_workspace())

    def get_workspace_users(self, req: Request, gid: str) -> dict[str, Any]:
        if gid != self.workspace.gid:
            raise AsanaError(404, f"workspace: Unknown object: {gid}")
        return paginate(req, list(self.users), render=self.r_user)  # type: ignore[arg-type]

    def get_users(self, req: Request) -> dict[str, Any]:
        ws = req.query.get("workspace")
        if ws is None:
            raise AsanaError(400, "workspace: Missing input")
        return self.get_workspace_users(req, ws)

    def get_projects(self, req: Request) -> dict[str, Any]:
        ws = req.query.get("workspace")
        if ws is not None and ws != self.workspace.gid:
            raise AsanaError(404, f"workspace: Unknown object: {ws}")
        return paginate(req, list(self.projects), render=self.r_project)

    def get_project(self, req: Request, gid: str) -> dict[str, Any]:
        self._project_or_404(gid)
        return single(req, self.r_project(gid))

    def get_project_sections(self, req: Request, gid: str) -> dict[str, Any]:
        p = self._project_or_404(gid)
        return paginate(req, [self.r_section(gid, s) for s in p.sections])

    def get_section(self, req: Request, gid: str) -> dict[str, Any]:
        found = self._section(gid)
        if found is None:
            raise AsanaError(404, f"section: Unknown object: {gid}")
        return single(req, self.r_section(found[0].gid, found[1]))

    def _filtered_tasks(self, req: Request, gids: Sequence[str],
                        keep: Callable[[Task], bool] | None = None) -> dict[str, Any]:
        """A page of the tasks ``gids`` (in that order) that pass ``keep`` and the request's
        modified_since / completed_since filters. Only the page is rendered."""
        ms = req.query.get("modified_since")
        cs = req.query.get("completed_since")
        try:
            ms_dt = parse_iso(ms) if ms else None
        except ValueError:
            raise AsanaError(400, f"modified_since: Not a valid date-time: {ms}") from None
        cs_dt = None
        if cs and cs != "now":
            try:
                cs_dt = parse_iso(cs)
            except ValueError:
                raise AsanaError(400, f"completed_since: Not a valid date-time: {cs}") from None
        tasks = self.tasks

        def ok(g: str) -> bool:
            t = tasks.get(g)
            if t is None or (keep is not None and not keep(t)):
                return False
            if ms_dt is not None and _dt(t.modified_at) < ms_dt:
                return False
            if cs and t.completed:
                if cs == "now" or (t.completed_at and _dt(t.completed_at) < cs_dt):  # type: ignore[operator]
                    return False
            return True

        return paginate(req, gids, render=self.r_task, keep=ok)

    def get_project_tasks(self, req: Request, gid: str) -> dict[str, Any]:
        self._project_or_404(gid)
        return self._filtered_tasks(req, self._project_tasks.get(gid, []))

    def get_section_tasks(self, req: Request, gid: str) -> dict[str, Any]:
        found = self._section(gid)
        if found is None:
            raise AsanaError(404, f"section: Unknown object: {gid}")
        project = found[0]
        first = project.sections[0].gid
        return self._filtered_tasks(req, self._project_tasks.get(project.gid, []),
                                    lambda t: t.section == gid or (t.section is None and first == gid))

    def get_tasks(self, req: Request) -> dict[str, Any]:
        if "project" in req.query:
            return self.get_project_tasks(req, req.query["project"])
        if "section" in req.query:
            return self.get_section_tasks(req, req.query["section"])
        if "assignee" in req.query and "workspace" in req.query:
            a = req.query["assignee"]
            a = self.me if a == "me" else a
            return self._filtered_tasks(req, list(self.tasks), lambda t: t.assignee == a)
        raise AsanaError(400, "Must specify exactly one of project, tag, section, user task list, or "
                              "assignee + workspace")

    def get_task(self, req: Request, gid: str) -> dict[str, Any]:
        self._task_or_404(gid)
        return single(req, self.r_task(gid))

    def get_task_stories(self, req: Request, gid: str) -> dict[str, Any]:
        t = self._task_or_404(gid)
        stories = sorted(t.stories, key=lambda s: _dt(s.created_at))
        return paginate(req, stories, full_by_default=False, render=lambda s: self.r_story(gid, s))

    def get_story(self, req: Request, gid: str) -> dict[str, Any]:
        tg = self._story_task.get(gid)
        candidates = [tg] if tg in self.tasks else list(self.tasks)  # a story gid may repeat across tasks
        for g in candidates:
            for s in self.tasks[g].stories:  # type: ignore[index]
                if s.gid == gid:
                    return single(req, self.r_story(g, s))  # type: ignore[arg-type]
        raise AsanaError(404, f"story: Unknown object: {gid}")

    def get_task_dependencies(self, req: Request, gid: str) -> dict[str, Any]:
        t = self._task_or_404(gid)
        return paginate(req, [d for d in t.dependencies if d in self.tasks],
                        render=lambda d: self.r_task(d, depth=1))

    def get_task_dependents(self, req: Request, gid: str) -> dict[str, Any]:
        self._task_or_404(gid)
        return paginate(req, self._dependents(gid), render=lambda d: self.r_task(d, depth=1))

    def get_status_updates(self, req: Request) -> dict[str, Any]:
        parent = req.query.get("parent")
        if not parent:
            raise AsanaError(400, "parent: Missing input")
        p = self._project_or_404(parent)
        sus = sorted(p.status_updates, key=lambda s: _dt(s.created_at), reverse=True)
        return paginate(req, [s.gid for s in sus], render=lambda g: self.r_status_update(parent, g))

    def get_status_update(self, req: Request, gid: str) -> dict[str, Any]:
        pg = self._status_updates.get(gid)
        if pg is None:
            raise AsanaError(404, f"status_update: Unknown object: {gid}")
        return single(req, self.r_status_update(pg, gid))

    def _portfolio_or_404(self, gid: str) -> Portfolio:
        if gid not in self.portfolios:
            raise AsanaError(404, f"portfolio: Unknown object: {gid}")
        return self.portfolios[gid]

    def _team_or_404(self, gid: str) -> Team:
        if gid not in self.teams:
            raise AsanaError(404, f"team: Unknown object: {gid}")
        return self.teams[gid]

    def r_portfolio(self, pf: Portfolio) -> dict[str, Any]:
        """The full portfolio record (what GET /portfolios/{gid} answers without opt_fields)."""
        owner = self.r_user(pf.owner)
        return {"gid": pf.gid, "resource_type": "portfolio", "name": pf.name, "archived": False, "color": "none",
                "created_at": pf.created_at, "created_by": owner, "current_status_update": None,
                "custom_field_settings": [], "default_access_level": "viewer", "due_on": None, "start_on": None,
                "members": [owner] if owner else [], "owner": owner,
                "permalink_url": f"https://app.asana.com/0/portfolio/{pf.gid}/list",
                "privacy_setting": "members_only", "public": False, "project_templates": [],
                "workspace": self.r_workspace()}

    def r_team(self, team: Team) -> dict[str, Any]:
        """The full team record (what GET /teams/{gid} answers without opt_fields)."""
        return {"gid": team.gid, "resource_type": "team", "name": team.name, "description": team.description,
                "html_description": f"<body>{team.description}</body>", "organization": self.r_workspace(),
                "permalink_url": f"https://app.asana.com/0/team/{team.gid}", "visibility": "request_to_join",
                "edit_team_name_or_description_access_level": "all_team_members",
                "edit_team_visibility_or_trash_team_access_level": "all_team_members",
                "member_invite_management_access_level": "all_team_members",
                "guest_invite_management_access_level": "all_team_members",
                "join_request_management_access_level": "all_team_members",
                "team_member_removal_access_level": "all_team_members"}

    def get_workspace_teams(self, req: Request, gid: str) -> dict[str, Any]:
        """The workspace's teams, compact unless opt_fields asks for more."""
        if gid != self.workspace.gid:
            raise AsanaError(404, f"workspace: Unknown object: {gid}")
        return paginate(req, list(self.teams.values()), render=self.r_team)

    def get_portfolios(self, req: Request) -> dict[str, Any]:
        """``workspace`` and ``owner`` (a gid or "me") are required, as in Asana: the owner's portfolios."""
        ws, owner = req.query.get("workspace"), req.query.get("owner")
        if ws is None:
            raise AsanaError(400, "workspace: Missing input")
        if owner is None:
            raise AsanaError(400, "owner: Missing input")
        if ws != self.workspace.gid:
            raise AsanaError(404, f"workspace: Unknown object: {ws}")
        who = self.me if owner == "me" else owner
        return paginate(req, [pf for pf in self.portfolios.values() if pf.owner == who], render=self.r_portfolio)

    def get_portfolio(self, req: Request, gid: str) -> dict[str, Any]:
        return single(req, self.r_portfolio(self._portfolio_or_404(gid)))

    def get_portfolio_items(self, req: Request, gid: str) -> dict[str, Any]:
        """The portfolio's items (here always projects), compact unless opt_fields asks for more."""
        pf = self._portfolio_or_404(gid)
        return paginate(req, [g for g in pf.projects if g in self.projects], render=self.r_project)

    def get_team(self, req: Request, gid: str) -> dict[str, Any]:
        return single(req, self.r_team(self._team_or_404(gid)))

    def get_team_projects(self, req: Request, gid: str) -> dict[str, Any]:
        """The team's projects, compact; ``archived=true|false`` keeps only those archived or not."""
        team = self._team_or_404(gid)
        raw = req.query.get("archived")
        archived: bool | None = None
        if raw is not None:
            if raw.lower() not in ("true", "false"):
                raise AsanaError(400, f"archived: Not a boolean: {raw}")
            archived = raw.lower() == "true"
        projects = self.projects
        return paginate(req, [g for g in team.projects if g in projects], render=self.r_project,
                        keep=None if archived is None else (lambda g: projects[g].archived == archived))

    def get_events(self, req: Request) -> dict[str, Any]:
        """Events on ``resource`` since the sync token, at most EVENTS_PAGE of them.

        ``has_more`` is true exactly when further events are waiting after this answer; the
        ``sync`` token of the answer continues right after its last event. Tokens stay valid (until
        expire_sync_tokens), so re-sending an old token replays the same events again.
        """
        resource = req.query.get("resource")
        if not resource:
            raise AsanaError(400, "resource: Missing input")
        if resource not in self.projects and resource not in self.tasks:
            raise AsanaError(404, f"resource: Unknown object: {resource}")
        token = req.query.get("sync")
        entry = self._tokens.get(token or "")
        if entry is None or entry[0] != resource or entry[2] != self._generation:
            raise AsanaError(412, SYNC_INVALID, extra={"sync": self._new_token(resource, len(self._events))})
        mine = self._events_by_resource.get(resource, [])
        k = bisect.bisect_left(mine, entry[1])
        chunk = mine[k:k + EVENTS_PAGE]
        has_more = k + EVENTS_PAGE < len(mine)
        end = mine[k + EVENTS_PAGE] if has_more else len(self._events)
        data = [self._events[i][1] for i in chunk]
        return {"data": data, "sync": self._new_token(resource, end), "has_more": has_more}

    # ----------------------------------------------------------------- routing
    def routes(self) -> list[tuple[str, re.Pattern[str], Callable[..., dict[str, Any]]]]:
        table: list[tuple[str, Callable[..., dict[str, Any]]]] = [
            ("/users/me", self.get_me),
            ("/users/{gid}", self.get_user),
            ("/users", self.get_users),
            ("/workspaces", self.get_workspaces),
            ("/workspaces/{gid}", self.get_workspace),
            ("/workspaces/{gid}/users", self.get_workspace_users),
            ("/projects", self.get_projects),
            ("/projects/{gid}", self.get_project),
            ("/projects/{gid}/sections", self.get_project_sections),
            ("/projects/{gid}/tasks", self.get_project_tasks),
            ("/sections/{gid}", self.get_section),
            ("/sections/{gid}/tasks", self.get_section_tasks),
            ("/tasks", self.get_tasks),
            ("/tasks/{gid}", self.get_task),
            ("/tasks/{gid}/stories", self.get_task_stories),
            ("/tasks/{gid}/dependencies", self.get_task_dependencies),
            ("/tasks/{gid}/dependents", self.get_task_dependents),
            ("/stories/{gid}", self.get_story),
            ("/status_updates", self.get_status_updates),
            ("/status_updates/{gid}", self.get_status_update),
            ("/events", self.get_events),
            ("/webhooks", self.get_webhooks),
            ("/workspaces/{gid}/teams", self.get_workspace_teams),
            ("/portfolios", self.get_portfolios),
            ("/portfolios/{gid}", self.get_portfolio),
            ("/portfolios/{gid}/items", self.get_portfolio_items),
            ("/teams/{gid}", self.get_team),
            ("/teams/{gid}/projects", self.get_team_projects),
        ]
        out = []
        for pattern, fn in table:
            rx = re.compile("^" + re.escape(pattern).replace(re.escape("{gid}"), "([^/]+)") + "$")
            out.append((pattern, rx, fn))
        return out

    def handle(self, fn: Callable[..., dict[str, Any]], req: Request, args: tuple[str, ...]) -> dict[str, Any]:
        with self._lock:
            return fn(req, *args)

    # ----------------------------------------------------------------- writes (POST)
    def post_routes(self) -> list[tuple[str, re.Pattern[str], Callable[..., dict[str, Any]]]]:
        return [("/tasks/{gid}/stories", re.compile(r"^/tasks/([^/]+)/stories$"), self.create_task_story),
                ("/webhooks", re.compile(r"^/webhooks$"), self.create_webhook)]

    def delete_routes(self) -> list[tuple[str, re.Pattern[str], Callable[..., dict[str, Any]]]]:
        return [("/webhooks/{gid}", re.compile(r"^/webhooks/([^/]+)$"), self.delete_webhook)]

    # ----------------------------------------------------------------- webhooks
    def create_webhook(self, req: Request) -> dict[str, Any]:
        """POST /webhooks ``{"data": {"resource": PROJECT, "target": URL}}``: the handshake (a POST
        to the target with X-Hook-Secret, which must come back in a 200/204) happens during this
        request, as in Asana; later changes to the project are POSTed to the target, signed with
        X-Hook-Signature = HMAC-SHA256(secret, body). `webhook_heartbeat` sends an empty delivery."""
        data = req.body.get("data") if isinstance(req.body, dict) else None
        if not isinstance(data, dict) or not data.get("resource") or not data.get("target"):
            raise AsanaError(400, "resource, target: Missing input")
        resource, target = str(data["resource"]), str(data["target"])
        self._project_or_404(resource)
        secret = secrets.token_hex(32)
        try:
            answer = _post(target, b"", {"X-Hook-Secret": secret})
        except OSError:
            raise AsanaError(400, "The remote server did not respond to the handshake") from None
        if answer[0] not in (200, 204) or answer[1].get("X-Hook-Secret") != secret:
            raise AsanaError(400, "The remote server did not respond with the handshake secret")
        hook = Webhook(self._new_gid(), resource, target, secret)
        self.webhooks[hook.gid] = hook
        return {"data": {"gid": hook.gid, "resource_type": "webhook", "active": True, "target": target,
                         "resource": self._project_compact(resource)}, "X-Hook-Secret": secret}

    def get_webhooks(self, req: Request) -> dict[str, Any]:
        """GET /webhooks?workspace=W[&resource=R]: the token's webhooks in the workspace, compact
        (gid, resource, target, active), paginated like every list."""
        workspace = req.query.get("workspace")
        if not workspace:
            raise AsanaError(400, "workspace: Missing input")
        if workspace != self.workspace.gid:
            raise AsanaError(404, f"workspace: Unknown object: {workspace}")
        resource = req.query.get("resource")
        hooks = [h for h in self.webhooks.values() if resource is None or h.resource == resource]
        return paginate(req, hooks, render=lambda h: self._webhook_compact(h))

    def delete_webhook(self, req: Request, gid: str) -> dict[str, Any]:
        """DELETE /webhooks/{gid}: no more deliveries (one already under way may still arrive)."""
        hook = self.webhooks.pop(gid, None)
        if hook is None:
            raise AsanaError(404, f"webhook: Unknown object: {gid}")
        hook.active = False
        return {"data": {}}

    def _webhook_compact(self, hook: Webhook) -> dict[str, Any]:
        return {"gid": hook.gid, "resource_type": "webhook", "active": hook.active, "target": hook.target,
                "resource": self._project_compact(hook.resource)}

    def webhook_heartbeat(self) -> None:
        with self._lock:
            for hook in self.webhooks.values():
                if hook.active:
                    hook.deliver_later([])

    def create_task_story(self, req: Request, gid: str) -> dict[str, Any]:
        """POST /tasks/{gid}/stories with ``{"data": {"text": ...}}``: a comment by the token's
        user ("me"), dated now. Answers the full story (the server sends it with 201)."""
        self._task_or_404(gid)
        data = req.body.get("data") if isinstance(req.body, dict) else None
        if not isinstance(data, dict):
            raise AsanaError(400, "data: Missing input")
        text = data.get("text")
        if not isinstance(text, str) or not text.strip():
            raise AsanaError(400, "text: Missing input")
        story_gid = self.add_story(gid, {"text": text, "created_by": self.me})
        self._created_stories.append({"task": gid, "gid": story_gid, "text": text, "created_by": self.me})
        story = next(s for s in self.tasks[gid].stories if s.gid == story_gid)
        return single(req, self.r_story(gid, story))

    def created_stories(self) -> list[dict[str, Any]]:
        """Every story created through the API: ``{"task", "gid", "text", "created_by"}``, oldest first."""
        with self._lock:
            return [dict(x) for x in self._created_stories]


ENDPOINT_PATTERNS = [p for p, _, _ in AsanaState(AsanaScenario()).routes()]
POST_ENDPOINT_PATTERNS = [p for p, _, _ in AsanaState(AsanaScenario()).post_routes()]
DELETE_ENDPOINT_PATTERNS = [p for p, _, _ in AsanaState(AsanaScenario()).delete_routes()]


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str]]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json", **headers},
                                     method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - a local URL in tests
            return answer.status, dict(answer.headers.items())
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers.items())


@dataclass
class Webhook:
    """One webhook: deliveries go out in order on their own thread, signed with the secret."""

    gid: str
    resource: str
    target: str
    secret: str
    active: bool = True
    deliveries: list[tuple[int, int]] = field(default_factory=list)  # (HTTP status, events) per delivery
    _queue: list[list[dict[str, Any]]] = field(default_factory=list)
    _wake: threading.Condition = field(default_factory=threading.Condition)
    _thread: threading.Thread | None = None

    def deliver_later(self, events: list[dict[str, Any]]) -> None:
        with self._wake:
            self._queue.append(events)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=f"sandbox:webhook-{self.gid}", daemon=True)
                self._thread.start()
            self._wake.notify_all()

    def _run(self) -> None:
        import hashlib
        import hmac

        while True:
            with self._wake:
                while not self._queue:
                    self._wake.wait()
                events = self._queue.pop(0)
            body = json.dumps({"events": events}).encode()
            signature = hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
            try:
                status = _post(self.target, body, {"X-Hook-Signature": signature})[0]
            except OSError:
                status = 0
            with self._wake:
                self.deliveries.append((status, len(events)))
                self._wake.notify_all()

    def wait_delivered(self, count: int, timeout: float = 10.0) -> list[tuple[int, int]]:
        with self._wake:
            if not self._wake.wait_for(lambda: len(self.deliveries) >= count, timeout):
                raise TimeoutError(f"webhook {self.gid}: {len(self.deliveries)} of {count} deliveries")
            return list(self.deliveries)
