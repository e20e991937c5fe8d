"""The fake Asana REST API 1.0: state, mutation helpers for tests, and the GET endpoints."""

from __future__ import annotations

import base64
import copy
import itertools
import json
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode

from .scenario import (
    AsanaScenario,
    CustomField,
    Story,
    Task,
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


def _compact(rec: dict[str, Any]) -> dict[str, Any]:
    out = {"gid": rec["gid"], "resource_type": rec["resource_type"]}
    for k in COMPACT.get(rec["resource_type"], ("name",)):
        if k in rec:
            out[k] = project_value(rec[k], {})
    return out


def project_value(v: Any, sub: dict[str, Any]) -> Any:
    if isinstance(v, list):
        return [project_value(x, sub) for x in v]
    if isinstance(v, dict):
        if "gid" in v and "resource_type" in v:
            return select(v, sub) if sub else _compact(v)
        if sub:
            return {k: project_value(v[k], s) for k, s in sub.items() if k in v}
        return {k: project_value(x, {}) for k, x in v.items()}
    return v


def select(rec: dict[str, Any], tree: dict[str, Any]) -> dict[str, Any]:
    out = {"gid": rec["gid"], "resource_type": rec["resource_type"]}
    for k, sub in tree.items():
        if k in rec:
            out[k] = project_value(rec[k], sub)
    return out


def full_view(rec: dict[str, Any]) -> dict[str, Any]:
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

    def opt(self) -> dict[str, Any] | None:
        return parse_opt_fields(self.query.get("opt_fields"))


def paginate(req: Request, records: list[dict[str, Any]], *, full_by_default: bool = False) -> dict[str, Any]:
    limit_raw = req.query.get("limit")
    key = req.path + "?" + "&".join(f"{k}={v}" for k, v in sorted(req.query.items())
                                    if k not in ("limit", "offset", "opt_fields", "opt_pretty"))
    start = 0
    if req.query.get("offset"):
        start = _decode_offset(key, req.query["offset"])
    if limit_raw is None:
        page, nxt = records[start:], None
    else:
        try:
            limit = int(limit_raw)
        except ValueError:
            raise AsanaError(400, f"limit: Not a valid integer: {limit_raw}") from None
        if not 1 <= limit <= 100:
            raise AsanaError(400, "limit: Must be between 1 and 100")
        page = records[start:start + limit]
        nxt = None
        if start + limit < len(records):
            token = _encode_offset(key, start + limit)
            q = dict(req.query)
            q["offset"] = token
            q["limit"] = str(limit)
            path = req.path + "?" + urlencode(q)
            nxt = {"offset": token, "path": path, "uri": req.base_url + path}
    tree = req.opt()
    if tree:
        data = [select(r, tree) for r in page]
    elif full_by_default:
        data = [full_view(r) for r in page]
    else:
        data = [_compact(r) for r in page]
    return {"data": data, "next_page": nxt}


def single(req: Request, rec: dict[str, Any]) -> dict[str, Any]:
    tree = req.opt()
    return {"data": select(rec, tree) if tree else full_view(rec)}


# --------------------------------------------------------------------------- state

def _long_date(d: str) -> str:
    x = date.fromisoformat(d)
    return f"{x.strftime('%B')} {x.day}"


class AsanaState:
    """The live Asana workspace. Every public method is thread-safe."""

    def __init__(self, scenario: AsanaScenario):
        self._lock = threading.RLock()
        s = copy.deepcopy(scenario)
        self.workspace = s.workspace
        self.users = {u.gid: u for u in s.users}
        self.custom_fields: dict[str, CustomField] = {c.gid: c for c in s.custom_fields}
        self.projects = {p.gid: p for p in s.projects}
        self.tasks: dict[str, Task] = {t.gid: t for t in s.tasks}
        self._gids = itertools.count(1_209_000_000_000_001)
        self._events: list[tuple[frozenset[str], dict[str, Any]]] = []
        self._tokens: dict[str, tuple[str, int, int]] = {}  # token -> (resource, event index, generation)
        self._generation = 0
        self.me = s.users[0].gid if s.users else None

    # ----------------------------------------------------------------- helpers
    def _new_gid(self) -> str:
        with self._lock:
            while True:
                g = str(next(self._gids))
                if g not in self.tasks and g not in self.projects and g not in self.users:
                    return g

    def _user_name(self, gid: str | None) -> str:
        u = self.users.get(gid or "")
        return u.name if u else "Asana"

    def _scenario_view(self) -> AsanaScenario:
        return AsanaScenario(self.workspace, list(self.users.values()), list(self.custom_fields.values()),
                             list(self.projects.values()), list(self.tasks.values()))

    def _section(self, gid: str | None) -> tuple[Any, Any] | None:
        if gid is None:
            return None
        for p in self.projects.values():
            for s in p.sections:
                if s.gid == gid:
                    return p, s
        return None

    def _enum_name(self, cf: CustomField, value: Any) -> str | None:
        for e in cf.enum_options:
            if e.gid == value:
                return e.name
        return None

    # ----------------------------------------------------------------- renderers (full records)
    def r_workspace(self) -> dict[str, Any]:
        return {"gid": self.workspace.gid, "resource_type": "workspace", "name": self.workspace.name,
                "is_organization": True, "email_domains": sorted({u.email.split("@")[1] for u in self.users.values()
                                                                  if u.email and "@" in u.email})}

    def r_user(self, gid: str | None) -> dict[str, Any] | None:
        u = self.users.get(gid or "")
        if u is None:
            return None
        return {"gid": u.gid, "resource_type": "user", "name": u.name, "email": u.email, "photo": None,
                "workspaces": [self.r_workspace()]}

    def r_enum_option(self, e: Any) -> dict[str, Any]:
        return {"gid": e.gid, "resource_type": "enum_option", "name": e.name, "enabled": e.enabled,
                "color": e.color or "none"}

    def r_custom_field(self, cf: CustomField, value: Any = None, *, with_value: bool = True) -> dict[str, Any]:
        rec: dict[str, Any] = {"gid": cf.gid, "resource_type": "custom_field", "name": cf.name, "type": cf.type,
                               "resource_subtype": cf.type, "enabled": True, "is_formula_field": False,
                               "description": ""}
        if cf.type == "enum":
            rec["enum_options"] = [self.r_enum_option(e) for e in cf.enum_options]
        if with_value:
            if cf.type == "enum":
                opt = next((e for e in cf.enum_options if e.gid == value), None)
                rec["enum_value"] = self.r_enum_option(opt) if opt else None
                rec["display_value"] = opt.name if opt else None
            elif cf.type == "number":
                rec["number_value"] = value
                rec["display_value"] = None if value is None else str(value)
            else:
                rec["text_value"] = value
                rec["display_value"] = value
        return rec

    def r_project(self, gid: str) -> dict[str, Any]:
        p = self.projects[gid]
        latest = max(p.status_updates, key=lambda s: parse_iso(s.created_at), default=None)
        modified = max([p.created_at] + [s.created_at for s in p.status_updates], key=parse_iso)
        members = {p.owner} | {t.assignee for t in self.tasks.values() if gid in t.projects}
        return {
            "gid": p.gid, "resource_type": "project", "name": p.name, "archived": False, "color": "none",
            "created_at": p.created_at, "modified_at": modified,
            "current_status_update": self.r_status_update(gid, latest.gid) if latest else None,
            "due_on": p.due_on, "due_date": p.due_on, "start_on": None, "notes": p.notes,
            "owner": self.r_user(p.owner), "public": True, "default_view": "list",
            "permalink_url": f"https://app.asana.com/0/{p.gid}/{p.gid}",
            "workspace": self.r_workspace(),
            "members": [self.r_user(m) for m in sorted(x for x in members if x in self.users)],
            "custom_field_settings": [
                {"gid": f"{p.gid}{c.gid}", "resource_type": "custom_field_setting", "is_important": True,
                 "custom_field": self.r_custom_field(c, with_value=False)} for c in self.custom_fields.values()],
        }

    def r_section(self, project_gid: str, section: Any) -> dict[str, Any]:
        p = self.projects[project_gid]
        return {"gid": section.gid, "resource_type": "section", "name": section.name, "created_at": p.created_at,
                "project": {"gid": p.gid, "resource_type": "project", "name": p.name}}

    def r_status_update(self, project_gid: str, su_gid: str) -> dict[str, Any]:
        p = self.projects[project_gid]
        su = next(s for s in p.status_updates if s.gid == su_gid)
        author = self.r_user(su.author)
        return {"gid": su.gid, "resource_type": "status_update", "resource_subtype": "project_status_update",
                "status_type": su.status_type, "title": su.title, "text": su.text,
                "html_text": f"<body>{su.text}</body>", "created_at": su.created_at, "modified_at": su.created_at,
                "author": author, "created_by": author,
                "parent": {"gid": p.gid, "resource_type": "project", "name": p.name}}

    def _task_compact(self, gid: str) -> dict[str, Any]:
        t = self.tasks[gid]
        return {"gid": t.gid, "resource_type": "task", "name": t.name, "resource_subtype": t.resource_subtype}

    def _dependents(self, gid: str) -> list[str]:
        return [t.gid for t in self.tasks.values() if gid in t.dependencies]

    def r_task(self, gid: str, *, depth: int = 0) -> dict[str, Any]:
        t = self.tasks[gid]
        memberships = []
        for pg in t.projects:
            p = self.projects[pg]
            sec = next((s for s in p.sections if s.gid == t.section), p.sections[0] if p.sections else None)
            memberships.append({"project": {"gid": p.gid, "resource_type": "project", "name": p.name},
                                "section": self.r_section(pg, sec) if sec else None})

        def rel(gids: list[str]) -> list[dict[str, Any]]:
            gids = [g for g in gids if g in self.tasks]
            if depth >= 1:
                return [self._task_compact(g) for g in gids]
            return [self.r_task(g, depth=depth + 1) for g in gids]

        home = t.projects[0] if t.projects else "0"
        followers = sorted({x for x in [t.assignee] + [s.created_by for s in t.stories] if x in self.users})
        return {
            "gid": t.gid, "resource_type": "task", "name": t.name, "resource_subtype": t.resource_subtype,
            "approval_status": None, "assignee_status": "upcoming" if t.assignee else None,
            "completed": t.completed, "completed_at": t.completed_at,
            "completed_by": self.r_user(t.assignee) if t.completed else None,
            "created_at": t.created_at, "modified_at": t.modified_at,
            "due_at": None, "due_on": t.due_on, "start_at": None, "start_on": t.start_on,
            "assignee": self.r_user(t.assignee), "notes": t.notes, "html_notes": f"<body>{t.notes}</body>",
            "num_subtasks": 0, "num_likes": 0, "liked": False, "hearted": False, "is_rendered_as_separator": False,
            "parent": None, "tags": [], "followers": [self.r_user(f) for f in followers],
            "projects": [{"gid": pg, "resource_type": "project", "name": self.projects[pg].name}
                         for pg in t.projects],
            "memberships": memberships,
            "custom_fields": [self.r_custom_field(self.custom_fields[c], t.custom_fields.get(c))
                              for c in self.custom_fields
                              if c in t.custom_fields or t.projects],
            "dependencies": rel(t.dependencies),
            "dependents": rel(self._dependents(gid)),
            "permalink_url": f"https://app.asana.com/0/{home}/{t.gid}",
            "workspace": self.r_workspace(),
        }

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
        for k in ("old_dates", "new_dates"):
            if k in ex:
                v = ex[k] or {}
                rec[k] = {"start_on": v.get("start_on"), "due_at": v.get("due_at"), "due_on": v.get("due_on")}
        return rec

    # ----------------------------------------------------------------- events
    def _emit(self, resources: set[str], event: dict[str, Any]) -> None:
        self._events.append((frozenset(resources), event))

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

    # ----------------------------------------------------------------- mutations (for tests)
    def _append_story(self, t: Task, story: Story) -> None:
        t.stories.append(story)
        res = {t.gid} | set(t.projects)
        self._emit(res, self._event(story.created_by, story.created_at, "story", "added",
                                    {"gid": story.gid, "resource_type": "story",
                                     "resource_subtype": story.resource_subtype},
                                    {"gid": t.gid, "resource_type": "task", "name": t.name,
                                     "resource_subtype": t.resource_subtype}))

    def update_task(self, gid: str, *, actor: str | None = None, at: datetime | str | None = None,
                    **fields: Any) -> dict[str, Any]:
        """Change task fields like a person in the Asana UI would.

        Supported fields: name, notes, completed, due_on, start_on, assignee (user gid or None),
        section (section gid), custom_fields ({custom_field_gid: option gid or option name or value}),
        dependencies (list of task gids). Appends the matching system stories (dated ``at``, default
        now, by ``actor``, default the assignee), bumps modified_at and emits events.
        Returns the full task record.
        """
        with self._lock:
            if gid not in self.tasks:
                raise KeyError(f"unknown Asana task gid {gid!r}")
            t = self.tasks[gid]
            when = fmt_iso(at) if isinstance(at, datetime) else (check_iso(at, "at") if at else fmt_iso(utcnow()))
            who = actor or t.assignee or self.me
            if who is not None and who not in self.users:
                raise ValueError(f"actor: unknown user gid {who!r}")
            name = self._user_name(who)
            stories: list[tuple[str, str, dict[str, Any]]] = []
            changed: list[dict[str, Any]] = []
            for field, value in fields.items():
                if field == "name":
                    if value != t.name:
                        t.name = str(value)
                        stories.append(("name_changed", f'{name} changed the name to "{value}"', {}))
                        changed.append({"field": "name", "action": "changed"})
                elif field == "notes":
                    if value != t.notes:
                        t.notes = str(value)
                        stories.append(("notes_changed", f"{name} changed the description", {}))
                        changed.append({"field": "notes", "action": "changed"})
                elif field == "completed":
                    value = bool(value)
                    if value != t.completed:
                        t.completed = value
                        t.completed_at = when if value else None
                        stories.append(("marked_complete", f"{name} completed this task", {}) if value
                                       else ("marked_incomplete", f"{name} marked this task incomplete", {}))
                        changed.append({"field": "completed", "action": "changed"})
                elif field in ("due_on", "start_on"):
                    if value is not None:
                        value = value.isoformat() if isinstance(value, date) else str(value)
                        date.fromisoformat(value)
                    old = getattr(t, field)
                    if value != old:
                        old_dates = {"due_on": t.due_on, "start_on": t.start_on, "due_at": None}
                        setattr(t, field, value)
                        new_dates = {"due_on": t.due_on, "start_on": t.start_on, "due_at": None}
                        what = "due date" if field == "due_on" else "start date"
                        text = (f"{name} changed the {what} to {_long_date(value)}" if value
                                else f"{name} removed the {what}")
                        subtype = "due_date_changed" if field == "due_on" else "start_date_changed"
                        stories.append((subtype, text, {"old_dates": old_dates, "new_dates": new_dates}))
                        changed.append({"field": field, "action": "changed"})
                elif field == "assignee":
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
                elif field == "section":
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
                elif field == "custom_fields":
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
                elif field == "dependencies":
                    deps = [str(d) for d in value]
                    for d in deps:
                        if d not in self.tasks or d == gid:
                            raise ValueError(f"dependencies: invalid task gid {d!r}")
                    if deps != t.dependencies:
                        t.dependencies = deps
                        changed.append({"field": "dependencies", "action": "changed"})
                else:
                    raise ValueError(f"update_task: unsupported field {field!r}")
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
            check_task_refs(t, self._scenario_view(), "task", set(self.tasks) | {t.gid})
            self.tasks[t.gid] = t
            for pg in t.projects:
                self._emit({t.gid, pg}, self._event(t.assignee, t.created_at, "task", "added",
                                                    self._task_compact(t.gid),
                                                    {"gid": pg, "resource_type": "project",
                                                     "name": self.projects[pg].name}))
            return t.gid

    def delete_task(self, gid: str) -> None:
        with self._lock:
            if gid not in self.tasks:
                raise KeyError(f"unknown Asana task gid {gid!r}")
            t = self.tasks[gid]
            compact = self._task_compact(gid)
            del self.tasks[gid]
            for other in self.tasks.values():
                if gid in other.dependencies:
                    other.dependencies = [d for d in other.dependencies if d != gid]
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
        return paginate(req, [self.r_user(g) for g in self.users])  # type: ignore[misc]

    def get_users(self, req: Request) -> dict[str, Any]:
        ws = req.query.get("workspace")
        if ws is None:
            raise AsanaError(400, "workspace: Missing input")
        return self.get_workspace_users(req, ws)

    def get_projects(self, req: Request) -> dict[str, Any]:
        ws = req.query.get("workspace")
        if ws is not None and ws != self.workspace.gid:
            raise AsanaError(404, f"workspace: Unknown object: {ws}")
        return paginate(req, [self.r_project(g) for g in self.projects])

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

    def _filtered_tasks(self, req: Request, gids: list[str]) -> dict[str, Any]:
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
        out = []
        for g in gids:
            t = self.tasks[g]
            if ms_dt is not None and parse_iso(t.modified_at) < ms_dt:
                continue
            if cs and t.completed:
                if cs == "now" or (t.completed_at and parse_iso(t.completed_at) < cs_dt):  # type: ignore[operator]
                    continue
            out.append(self.r_task(g))
        return paginate(req, out)

    def get_project_tasks(self, req: Request, gid: str) -> dict[str, Any]:
        self._project_or_404(gid)
        return self._filtered_tasks(req, [t.gid for t in self.tasks.values() if gid in t.projects])

    def get_section_tasks(self, req: Request, gid: str) -> dict[str, Any]:
        found = self._section(gid)
        if found is None:
            raise AsanaError(404, f"section: Unknown object: {gid}")
        pg = found[0].gid
        gids = [t.gid for t in self.tasks.values() if pg in t.projects and
                (t.section == gid or (t.section is None and found[0].sections[0].gid == gid))]
        return self._filtered_tasks(req, gids)

    def get_tasks(self, req: Request) -> dict[str, Any]:
        if "project" in req.query:
            return self.get_project_tasks(req, req.query["project"])
        if "section" in req.query:
            return self.get_section_tasks(req, req.query["section"])
        if "assignee" in req.query and "workspace" in req.query:
            a = req.query["assignee"]
            a = self.me if a == "me" else a
            return self._filtered_tasks(req, [t.gid for t in self.tasks.values() if t.assignee == a])
        raise AsanaError(400, "Must specify exactly one of project, tag, section, user task list, or "
                              "assignee + workspace")

    def get_task(self, req: Request, gid: str) -> dict[str, Any]:
        self._task_or_404(gid)
        return single(req, self.r_task(gid))

    def get_task_stories(self, req: Request, gid: str) -> dict[str, Any]:
        t = self._task_or_404(gid)
        stories = sorted(t.stories, key=lambda s: parse_iso(s.created_at))
        return paginate(req, [self.r_story(gid, s) for s in stories], full_by_default=False)

    def get_story(self, req: Request, gid: str) -> dict[str, Any]:
        for t in self.tasks.values():
            for s in t.stories:
                if s.gid == gid:
                    return single(req, self.r_story(t.gid, s))
        raise AsanaError(404, f"story: Unknown object: {gid}")

    def get_task_dependencies(self, req: Request, gid: str) -> dict[str, Any]:
        t = self._task_or_404(gid)
        return paginate(req, [self.r_task(d, depth=1) for d in t.dependencies if d in self.tasks])

    def get_task_dependents(self, req: Request, gid: str) -> dict[str, Any]:
        self._task_or_404(gid)
        return paginate(req, [self.r_task(d, depth=1) for d in self._dependents(gid)])

    def get_status_updates(self, req: Request) -> dict[str, Any]:
        parent = req.query.get("parent")
        if not parent:
            raise AsanaError(400, "parent: Missing input")
        p = self._project_or_404(parent)
        sus = sorted(p.status_updates, key=lambda s: parse_iso(s.created_at), reverse=True)
        return paginate(req, [self.r_status_update(parent, s.gid) for s in sus])

    def get_status_update(self, req: Request, gid: str) -> dict[str, Any]:
        for p in self.projects.values():
            for s in p.status_updates:
                if s.gid == gid:
                    return single(req, self.r_status_update(p.gid, gid))
        raise AsanaError(404, f"status_update: Unknown object: {gid}")

    def get_events(self, req: Request) -> dict[str, Any]:
        resource = req.query.get("resource")
        if not resource:
            raise AsanaError(400, "resource: Missing input")
        if resource not in self.projects and resource not in self.tasks:
            raise AsanaError(404, f"resource: Unknown object: {resource}")
        token = req.query.get("sync")
        entry = self._tokens.get(token or "")
        if entry is None or entry[0] != resource or entry[2] != self._generation:
            raise AsanaError(412, SYNC_INVALID, extra={"sync": self._new_token(resource, len(self._events))})
        start = entry[1]
        data: list[dict[str, Any]] = []
        end = len(self._events)
        for i in range(start, len(self._events)):
            res, ev = self._events[i]
            if resource in res:
                if len(data) == 100:
                    end = i
                    break
                data.append(copy.deepcopy(ev))
        has_more = end < len(self._events)
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
        ]
        out = []
        for pattern, fn in table:
            rx = re.compile("^" + re.escape(pattern).replace(re.escape("{gid}"), "([^/]+)") + "$")
            out.append((pattern, rx, fn))
        return out

    def handle(self, fn: Callable[..., dict[str, Any]], req: Request, args: tuple[str, ...]) -> dict[str, Any]:
        with self._lock:
            return fn(req, *args)


ENDPOINT_PATTERNS = [p for p, _, _ in AsanaState(AsanaScenario()).routes()]
