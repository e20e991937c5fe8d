"""Scenario files for the sandbox: JSON -> validated dataclasses.

A scenario is the initial state of the fake Asana workspace and Slack team. Every problem in a
file is reported as one ``ValueError`` that names the field, e.g.
``scenario.asana.tasks[2].due_on: expected a date YYYY-MM-DD, got '1 Dec'``.
Keys starting with ``_`` (such as ``_notes``) are comments and are ignored everywhere.
"""

from __future__ import annotations

import json
import re
from collections.abc import Container
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

SCENARIO_DIR = Path(__file__).with_name("scenarios")

ENUM_TYPES = ("enum", "text", "number")
STATUS_UPDATE_TYPES = (
    "on_track", "at_risk", "off_track", "on_hold", "complete", "achieved", "partial", "missed", "dropped",
)
SLACK_TS_RE = re.compile(r"^\d{9,10}\.\d{6}$")


# --------------------------------------------------------------------------- time helpers

def parse_iso(value: str) -> datetime:
    """Parse an ISO 8601 timestamp with a timezone into an aware UTC datetime."""
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        raise ValueError("timestamp has no timezone (use a trailing Z for UTC)")
    return dt.astimezone(timezone.utc)


def fmt_iso(dt: datetime) -> str:
    """Asana's timestamp format: 2026-11-20T10:00:00.000Z."""
    dt = dt.astimezone(timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def slack_ts(dt: datetime, seq: int = 0) -> str:
    return f"{int(dt.timestamp())}.{seq:06d}"


# --------------------------------------------------------------------------- dataclasses

@dataclass
class Workspace:
    gid: str
    name: str


@dataclass
class AsanaUser:
    gid: str
    name: str
    email: str | None = None


@dataclass
class EnumOption:
    gid: str
    name: str
    color: str | None = None
    enabled: bool = True


@dataclass
class CustomField:
    gid: str
    name: str
    type: str = "enum"
    enum_options: list[EnumOption] = field(default_factory=list)


@dataclass
class Section:
    gid: str
    name: str


@dataclass
class StatusUpdate:
    gid: str
    status_type: str
    title: str
    text: str
    created_at: str
    author: str | None = None


@dataclass
class Project:
    gid: str
    name: str
    sections: list[Section] = field(default_factory=list)
    status_updates: list[StatusUpdate] = field(default_factory=list)
    owner: str | None = None
    notes: str = ""
    due_on: str | None = None
    created_at: str = "2026-11-01T09:00:00.000Z"
    archived: bool = False


@dataclass
class Portfolio:
    """A portfolio whose items are the projects ``projects`` (in that order)."""

    gid: str
    name: str
    projects: list[str] = field(default_factory=list)
    owner: str | None = None
    created_at: str = "2026-11-01T09:00:00.000Z"


@dataclass
class Team:
    """A team of the workspace (an organization); ``projects`` are shared with it (in that order)."""

    gid: str
    name: str
    projects: list[str] = field(default_factory=list)
    description: str = ""


@dataclass
class Story:
    gid: str
    created_at: str
    created_by: str | None
    resource_subtype: str
    text: str
    type: str = "system"
    # references (gids) that real system stories carry, e.g. custom_field/new_enum_value
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Task:
    gid: str
    name: str
    projects: list[str] = field(default_factory=list)
    section: str | None = None
    completed: bool = False
    completed_at: str | None = None
    due_on: str | None = None
    start_on: str | None = None
    assignee: str | None = None
    custom_fields: dict[str, Any] = field(default_factory=dict)
    created_at: str = "2026-11-01T09:00:00.000Z"
    modified_at: str = "2026-11-01T09:00:00.000Z"
    dependencies: list[str] = field(default_factory=list)
    stories: list[Story] = field(default_factory=list)
    notes: str = ""
    resource_subtype: str = "default_task"


@dataclass
class AsanaScenario:
    workspace: Workspace = field(default_factory=lambda: Workspace("1000", "Workspace"))
    users: list[AsanaUser] = field(default_factory=list)
    custom_fields: list[CustomField] = field(default_factory=list)
    projects: list[Project] = field(default_factory=list)
    tasks: list[Task] = field(default_factory=list)
    portfolios: list[Portfolio] = field(default_factory=list)
    teams: list[Team] = field(default_factory=list)


@dataclass
class SlackTeam:
    id: str = "T1"
    domain: str = "acme"
    name: str = ""


@dataclass
class SlackBot:
    user_id: str = "U0BOT"
    bot_id: str = "B0BOT"
    app_id: str = "A0BOT"
    name: str = "reconciler"


@dataclass
class SlackUser:
    id: str
    name: str
    real_name: str = ""
    tz: str = "UTC"
    is_bot: bool = False
    deleted: bool = False
    profile: dict[str, Any] = field(default_factory=dict)


@dataclass
class SlackChannel:
    id: str
    name: str
    is_member: bool = True
    is_private: bool = False
    is_archived: bool = False
    topic: str = ""
    purpose: str = ""
    created: int = 1762000000


@dataclass
class SlackMessage:
    channel: str
    ts: str
    text: str = ""
    user: str | None = None
    thread_ts: str | None = None
    subtype: str | None = None
    edited: dict[str, str] | None = None
    bot_id: str | None = None
    username: str | None = None
    blocks: list[Any] | None = None


@dataclass
class SlackScenario:
    team: SlackTeam = field(default_factory=SlackTeam)
    bot: SlackBot = field(default_factory=SlackBot)
    users: list[SlackUser] = field(default_factory=list)
    channels: list[SlackChannel] = field(default_factory=list)
    messages: list[SlackMessage] = field(default_factory=list)


@dataclass
class Scenario:
    asana: AsanaScenario = field(default_factory=AsanaScenario)
    slack: SlackScenario = field(default_factory=SlackScenario)
    invalid_tokens: list[str] = field(default_factory=list)
    notes: Any = None
    days_shifted: int = 0  # how far an anchored scenario was moved to be told today (see timeshift)


# --------------------------------------------------------------------------- validation helpers

class _Obj:
    """A JSON object being read, with its path for error messages."""

    def __init__(self, data: Any, where: str, allowed: set[str]):
        if not isinstance(data, dict):
            raise ValueError(f"{where}: expected an object, got {type(data).__name__}")
        unknown = sorted(k for k in data if not k.startswith("_") and k not in allowed)
        if unknown:
            raise ValueError(f"{where}.{unknown[0]}: unknown field (allowed: {', '.join(sorted(allowed))})")
        self.data = data
        self.where = where

    def at(self, key: str) -> str:
        return f"{self.where}.{key}"

    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def str(self, key: str, *, required: bool = False, default: str | None = None,
            nullable: bool = True) -> str | None:
        if key not in self.data:
            if required:
                raise ValueError(f"{self.at(key)}: missing required field")
            return default
        v = self.data[key]
        if v is None and nullable and not required:
            return None
        if isinstance(v, bool) or not isinstance(v, (str, int)):
            raise ValueError(f"{self.at(key)}: expected a string, got {v!r}")
        v = str(v)
        if required and not v:
            raise ValueError(f"{self.at(key)}: must not be empty")
        return v

    def bool(self, key: str, default: bool) -> bool:
        v = self.data.get(key, default)
        if v is None:
            return default
        if not isinstance(v, bool):
            raise ValueError(f"{self.at(key)}: expected true or false, got {v!r}")
        return v

    def list(self, key: str) -> list[Any]:
        v = self.data.get(key)
        if v is None:
            return []
        if not isinstance(v, list):
            raise ValueError(f"{self.at(key)}: expected a list, got {type(v).__name__}")
        return v

    def str_list(self, key: str) -> list[str]:
        out = []
        for i, v in enumerate(self.list(key)):
            if isinstance(v, bool) or not isinstance(v, (str, int)):
                raise ValueError(f"{self.at(key)}[{i}]: expected a string, got {v!r}")
            out.append(str(v))
        return out

    def date(self, key: str) -> str | None:
        v = self.str(key)
        if v is None:
            return None
        try:
            date.fromisoformat(v)
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", v):
                raise ValueError
        except ValueError:
            raise ValueError(f"{self.at(key)}: expected a date YYYY-MM-DD, got {v!r}") from None
        return v

    def datetime(self, key: str, *, default: str | None = None, required: bool = False) -> str | None:
        v = self.str(key, required=required)
        if v is None:
            return default
        return check_iso(v, self.at(key))


def check_iso(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{where}: expected an ISO 8601 UTC timestamp, got {value!r}")
    try:
        return fmt_iso(parse_iso(value))
    except ValueError:
        raise ValueError(f"{where}: expected an ISO 8601 UTC timestamp like 2026-11-20T10:00:00Z, "
                         f"got {value!r}") from None


def _unique(items: list[Any], attr: str, where: str) -> None:
    seen: set[str] = set()
    for i, item in enumerate(items):
        key = getattr(item, attr)
        if key in seen:
            raise ValueError(f"{where}[{i}].{attr}: duplicate {attr} {key!r}")
        seen.add(key)


# --------------------------------------------------------------------------- asana parsing

STORY_EXTRA_REFS = ("custom_field", "old_enum_value", "new_enum_value", "old_section", "new_section",
                    "assignee", "dependency")
STORY_EXTRA_DICTS = ("old_dates", "new_dates")


def parse_story(data: Any, where: str, *, gid_default: str | None = None,
                created_at_default: str | None = None) -> Story:
    o = _Obj(data, where, {"gid", "created_at", "created_by", "resource_subtype", "text", "type",
                           *STORY_EXTRA_REFS, *STORY_EXTRA_DICTS})
    gid = o.str("gid", required=gid_default is None) or gid_default
    subtype = o.str("resource_subtype", default="comment_added") or "comment_added"
    stype = o.str("type", default="comment" if subtype == "comment_added" else "system")
    if stype not in ("comment", "system"):
        raise ValueError(f"{o.at('type')}: expected 'comment' or 'system', got {stype!r}")
    extra: dict[str, Any] = {}
    for k in STORY_EXTRA_REFS:
        if o.has(k):
            extra[k] = o.str(k)
    for k in STORY_EXTRA_DICTS:
        if o.has(k):
            v = o.raw(k)
            if v is not None and not isinstance(v, dict):
                raise ValueError(f"{o.at(k)}: expected an object like {{\"due_on\": \"2026-12-01\"}}")
            extra[k] = v
    return Story(
        gid=str(gid),
        created_at=o.datetime("created_at", required=created_at_default is None) or str(created_at_default),
        created_by=o.str("created_by"),
        resource_subtype=subtype,
        text=o.str("text", default="") or "",
        type=str(stype),
        extra=extra,
    )


TASK_FIELDS = {"gid", "name", "projects", "section", "completed", "completed_at", "due_on", "start_on",
               "assignee", "custom_fields", "created_at", "modified_at", "dependencies", "stories", "notes",
               "resource_subtype"}


def parse_task(data: Any, where: str, *, gid_default: str | None = None,
               now_default: str | None = None) -> Task:
    o = _Obj(data, where, TASK_FIELDS)
    gid = o.str("gid", required=gid_default is None) or gid_default
    stories = [parse_story(s, f"{o.at('stories')}[{i}]") for i, s in enumerate(o.list("stories"))]
    _unique(stories, "gid", o.at("stories"))
    cfs = o.raw("custom_fields") or {}
    if not isinstance(cfs, dict):
        raise ValueError(f"{o.at('custom_fields')}: expected an object mapping custom field gid -> value")
    default_time = now_default or "2026-11-01T09:00:00.000Z"
    created_at = o.datetime("created_at", default=default_time)
    latest = max([created_at] + [s.created_at for s in stories], key=lambda s: parse_iso(s))
    modified_at = o.datetime("modified_at", default=now_default or latest)
    completed = o.bool("completed", False)
    completed_at = o.datetime("completed_at")
    if completed and completed_at is None:
        completed_at = modified_at
    return Task(
        gid=str(gid),
        name=o.str("name", required=True) or "",
        projects=o.str_list("projects"),
        section=o.str("section"),
        completed=completed,
        completed_at=completed_at if completed else None,
        due_on=o.date("due_on"),
        start_on=o.date("start_on"),
        assignee=o.str("assignee"),
        custom_fields={str(k): (str(v) if isinstance(v, int) and not isinstance(v, bool) else v)
                       for k, v in cfs.items()},
        created_at=str(created_at),
        modified_at=str(modified_at),
        dependencies=o.str_list("dependencies"),
        stories=stories,
        notes=o.str("notes", default="") or "",
        resource_subtype=o.str("resource_subtype", default="default_task") or "default_task",
    )


def parse_asana(data: Any, where: str) -> AsanaScenario:
    o = _Obj(data, where, {"workspace", "users", "custom_fields", "projects", "tasks", "portfolios", "teams"})
    ws = o.raw("workspace") or {"gid": "1000", "name": "Workspace"}
    wo = _Obj(ws, o.at("workspace"), {"gid", "name"})
    workspace = Workspace(str(wo.str("gid", required=True)), str(wo.str("name", required=True)))

    users = []
    for i, u in enumerate(o.list("users")):
        uo = _Obj(u, f"{o.at('users')}[{i}]", {"gid", "name", "email"})
        users.append(AsanaUser(str(uo.str("gid", required=True)), str(uo.str("name", required=True)),
                               uo.str("email")))
    _unique(users, "gid", o.at("users"))

    cfs = []
    for i, c in enumerate(o.list("custom_fields")):
        co = _Obj(c, f"{o.at('custom_fields')}[{i}]", {"gid", "name", "type", "enum_options"})
        ctype = co.str("type", default="enum") or "enum"
        if ctype not in ENUM_TYPES:
            raise ValueError(f"{co.at('type')}: expected one of {', '.join(ENUM_TYPES)}, got {ctype!r}")
        opts = []
        for j, e in enumerate(co.list("enum_options")):
            eo = _Obj(e, f"{co.at('enum_options')}[{j}]", {"gid", "name", "color", "enabled"})
            opts.append(EnumOption(str(eo.str("gid", required=True)), str(eo.str("name", required=True)),
                                   eo.str("color"), eo.bool("enabled", True)))
        _unique(opts, "gid", co.at("enum_options"))
        cfs.append(CustomField(str(co.str("gid", required=True)), str(co.str("name", required=True)), ctype, opts))
    _unique(cfs, "gid", o.at("custom_fields"))

    projects = []
    for i, p in enumerate(o.list("projects")):
        po = _Obj(p, f"{o.at('projects')}[{i}]", {"gid", "name", "sections", "status_updates", "owner", "notes",
                                                  "due_on", "created_at", "archived"})
        sections = []
        for j, s in enumerate(po.list("sections")):
            so = _Obj(s, f"{po.at('sections')}[{j}]", {"gid", "name"})
            sections.append(Section(str(so.str("gid", required=True)), str(so.str("name", required=True))))
        _unique(sections, "gid", po.at("sections"))
        sus = []
        for j, s in enumerate(po.list("status_updates")):
            so = _Obj(s, f"{po.at('status_updates')}[{j}]",
                      {"gid", "status_type", "title", "text", "created_at", "author"})
            st = so.str("status_type", required=True)
            if st not in STATUS_UPDATE_TYPES:
                raise ValueError(f"{so.at('status_type')}: expected one of {', '.join(STATUS_UPDATE_TYPES)}, "
                                 f"got {st!r}")
            sus.append(StatusUpdate(str(so.str("gid", required=True)), str(st), so.str("title", default="") or "",
                                    so.str("text", default="") or "", str(so.datetime("created_at", required=True)),
                                    so.str("author")))
        _unique(sus, "gid", po.at("status_updates"))
        projects.append(Project(str(po.str("gid", required=True)), str(po.str("name", required=True)), sections,
                                sus, po.str("owner"), po.str("notes", default="") or "", po.date("due_on"),
                                str(po.datetime("created_at", default="2026-11-01T09:00:00.000Z")),
                                po.bool("archived", False)))
    _unique(projects, "gid", o.at("projects"))

    tasks = [parse_task(t, f"{o.at('tasks')}[{i}]") for i, t in enumerate(o.list("tasks"))]
    _unique(tasks, "gid", o.at("tasks"))
    portfolios = []
    for i, p in enumerate(o.list("portfolios")):
        po = _Obj(p, f"{o.at('portfolios')}[{i}]", {"gid", "name", "projects", "owner", "created_at"})
        portfolios.append(Portfolio(str(po.str("gid", required=True)), str(po.str("name", required=True)),
                                    po.str_list("projects"), po.str("owner"),
                                    str(po.datetime("created_at", default="2026-11-01T09:00:00.000Z"))))
    _unique(portfolios, "gid", o.at("portfolios"))
    teams = []
    for i, t in enumerate(o.list("teams")):
        to = _Obj(t, f"{o.at('teams')}[{i}]", {"gid", "name", "projects", "description"})
        teams.append(Team(str(to.str("gid", required=True)), str(to.str("name", required=True)),
                          to.str_list("projects"), to.str("description", default="") or ""))
    _unique(teams, "gid", o.at("teams"))
    scen = AsanaScenario(workspace, users, cfs, projects, tasks, portfolios, teams)
    check_asana_refs(scen, where)
    return scen


def check_task_refs(t: Task, scen: AsanaScenario, where: str, task_gids: Container[str]) -> None:
    user_gids = {u.gid for u in scen.users}
    projects = {p.gid: p for p in scen.projects}
    cfs = {c.gid: c for c in scen.custom_fields}
    for j, pg in enumerate(t.projects):
        if pg not in projects:
            raise ValueError(f"{where}.projects[{j}]: unknown project gid {pg!r}")
    if t.section is not None:
        if not any(t.section in {s.gid for s in projects[p].sections} for p in t.projects):
            raise ValueError(f"{where}.section: {t.section!r} is not a section of the task's projects")
    if t.assignee is not None and t.assignee not in user_gids:
        raise ValueError(f"{where}.assignee: unknown user gid {t.assignee!r}")
    for cg, val in t.custom_fields.items():
        if cg not in cfs:
            raise ValueError(f"{where}.custom_fields.{cg}: unknown custom field gid")
        cf = cfs[cg]
        if val is None:
            continue
        if cf.type == "enum" and val not in {e.gid for e in cf.enum_options}:
            raise ValueError(f"{where}.custom_fields.{cg}: {val!r} is not an enum option gid of {cf.name!r}")
        if cf.type == "number" and (isinstance(val, bool) or not isinstance(val, (int, float))):
            raise ValueError(f"{where}.custom_fields.{cg}: expected a number, got {val!r}")
        if cf.type == "text" and not isinstance(val, str):
            raise ValueError(f"{where}.custom_fields.{cg}: expected a string, got {val!r}")
    for j, d in enumerate(t.dependencies):
        if d not in task_gids:
            raise ValueError(f"{where}.dependencies[{j}]: unknown task gid {d!r}")
        if d == t.gid:
            raise ValueError(f"{where}.dependencies[{j}]: a task cannot depend on itself")
    for j, s in enumerate(t.stories):
        if s.created_by is not None and s.created_by not in user_gids:
            raise ValueError(f"{where}.stories[{j}].created_by: unknown user gid {s.created_by!r}")


def check_asana_refs(scen: AsanaScenario, where: str) -> None:
    user_gids = {u.gid for u in scen.users}
    for i, p in enumerate(scen.projects):
        if p.owner is not None and p.owner not in user_gids:
            raise ValueError(f"{where}.projects[{i}].owner: unknown user gid {p.owner!r}")
        for j, s in enumerate(p.status_updates):
            if s.author is not None and s.author not in user_gids:
                raise ValueError(f"{where}.projects[{i}].status_updates[{j}].author: unknown user gid {s.author!r}")
    task_gids = {t.gid for t in scen.tasks}
    for i, t in enumerate(scen.tasks):
        check_task_refs(t, scen, f"{where}.tasks[{i}]", task_gids)
    project_gids = {p.gid for p in scen.projects}
    for i, pf in enumerate(scen.portfolios):
        w = f"{where}.portfolios[{i}]"
        if pf.owner is not None and pf.owner not in user_gids:
            raise ValueError(f"{w}.owner: unknown user gid {pf.owner!r}")
        _check_project_list(pf.projects, project_gids, f"{w}.projects")
    team_of: dict[str, str] = {}
    for i, team in enumerate(scen.teams):
        w = f"{where}.teams[{i}].projects"
        _check_project_list(team.projects, project_gids, w)
        for j, pg in enumerate(team.projects):
            if pg in team_of:  # in Asana a project is shared with exactly one team
                raise ValueError(f"{w}[{j}]: project {pg!r} already belongs to team {team_of[pg]!r}")
            team_of[pg] = team.gid


def _check_project_list(gids: list[str], known: set[str], where: str) -> None:
    seen: set[str] = set()
    for j, pg in enumerate(gids):
        if pg not in known:
            raise ValueError(f"{where}[{j}]: unknown project gid {pg!r}")
        if pg in seen:
            raise ValueError(f"{where}[{j}]: duplicate project gid {pg!r}")
        seen.add(pg)


# --------------------------------------------------------------------------- slack parsing

MESSAGE_FIELDS = {"channel", "ts", "user", "text", "thread_ts", "subtype", "edited", "bot_id", "username", "blocks"}


def parse_message(data: Any, where: str) -> SlackMessage:
    o = _Obj(data, where, MESSAGE_FIELDS)
    ts = o.str("ts", required=True)
    if not SLACK_TS_RE.match(str(ts)):
        raise ValueError(f"{o.at('ts')}: expected a Slack ts like 1763900000.000100, got {ts!r}")
    thread_ts = o.str("thread_ts")
    if thread_ts is not None and not SLACK_TS_RE.match(thread_ts):
        raise ValueError(f"{o.at('thread_ts')}: expected a Slack ts like 1763900000.000100, got {thread_ts!r}")
    edited = o.raw("edited")
    if edited is not None:
        eo = _Obj(edited, o.at("edited"), {"user", "ts"})
        edited = {"user": eo.str("user", required=True), "ts": eo.str("ts", required=True)}
    blocks = o.raw("blocks")
    if blocks is not None and not isinstance(blocks, list):
        raise ValueError(f"{o.at('blocks')}: expected a list of blocks")
    subtype = o.str("subtype")
    msg = SlackMessage(channel=str(o.str("channel", required=True)), ts=str(ts), text=o.str("text", default="") or "",
                       user=o.str("user"), thread_ts=thread_ts, subtype=subtype, edited=edited,
                       bot_id=o.str("bot_id"), username=o.str("username"), blocks=blocks)
    if subtype == "bot_message":
        if msg.bot_id is None:
            msg.bot_id = "B0SCENARIO"
    elif msg.user is None:
        raise ValueError(f"{o.at('user')}: missing required field (only subtype bot_message may omit it)")
    return msg


def parse_slack(data: Any, where: str) -> SlackScenario:
    o = _Obj(data, where, {"team", "bot", "users", "channels", "messages"})
    to = _Obj(o.raw("team") or {}, o.at("team"), {"id", "domain", "name"})
    domain = to.str("domain", default="acme") or "acme"
    team = SlackTeam(to.str("id", default="T1") or "T1", domain, to.str("name", default=domain.title()) or "")
    bo = _Obj(o.raw("bot") or {}, o.at("bot"), {"user_id", "bot_id", "app_id", "name"})
    d = SlackBot()
    bot = SlackBot(bo.str("user_id", default=d.user_id) or d.user_id, bo.str("bot_id", default=d.bot_id) or d.bot_id,
                   bo.str("app_id", default=d.app_id) or d.app_id, bo.str("name", default=d.name) or d.name)
    users = []
    for i, u in enumerate(o.list("users")):
        uo = _Obj(u, f"{o.at('users')}[{i}]", {"id", "name", "real_name", "tz", "is_bot", "deleted", "profile"})
        profile = uo.raw("profile") or {}
        if not isinstance(profile, dict):
            raise ValueError(f"{uo.at('profile')}: expected an object")
        real_name = uo.str("real_name", default=profile.get("real_name", "")) or ""
        users.append(SlackUser(str(uo.str("id", required=True)), str(uo.str("name", required=True)), real_name,
                               uo.str("tz", default="UTC") or "UTC", uo.bool("is_bot", False),
                               uo.bool("deleted", False), dict(profile)))
    _unique(users, "id", o.at("users"))
    channels = []
    for i, c in enumerate(o.list("channels")):
        co = _Obj(c, f"{o.at('channels')}[{i}]", {"id", "name", "is_member", "is_private", "is_archived", "topic",
                                                  "purpose", "created"})
        created = co.raw("created", 1762000000)
        if isinstance(created, bool) or not isinstance(created, int):
            raise ValueError(f"{co.at('created')}: expected a unix timestamp (integer)")
        channels.append(SlackChannel(str(co.str("id", required=True)), str(co.str("name", required=True)),
                                     co.bool("is_member", True), co.bool("is_private", False),
                                     co.bool("is_archived", False), co.str("topic", default="") or "",
                                     co.str("purpose", default="") or "", created))
    _unique(channels, "id", o.at("channels"))
    messages = [parse_message(m, f"{o.at('messages')}[{i}]") for i, m in enumerate(o.list("messages"))]
    scen = SlackScenario(team, bot, users, channels, messages)
    # references
    channel_ids = {c.id for c in channels}
    user_ids = {u.id for u in users} | {bot.user_id}
    seen: dict[tuple[str, str], SlackMessage] = {}
    for i, m in enumerate(messages):
        w = f"{o.at('messages')}[{i}]"
        if m.channel not in channel_ids:
            raise ValueError(f"{w}.channel: unknown channel id {m.channel!r}")
        if m.user is not None and m.user not in user_ids:
            raise ValueError(f"{w}.user: unknown user id {m.user!r}")
        if (m.channel, m.ts) in seen:
            raise ValueError(f"{w}.ts: duplicate ts {m.ts!r} in channel {m.channel!r}")
        seen[(m.channel, m.ts)] = m
    for i, m in enumerate(messages):
        if m.thread_ts is not None and m.thread_ts != m.ts:
            parent = seen.get((m.channel, m.thread_ts))
            if parent is None:
                raise ValueError(f"{o.at('messages')}[{i}].thread_ts: no message with ts {m.thread_ts!r} "
                                 f"in channel {m.channel!r}")
            if parent.thread_ts not in (None, parent.ts):
                raise ValueError(f"{o.at('messages')}[{i}].thread_ts: {m.thread_ts!r} is itself a reply")
    return scen


# --------------------------------------------------------------------------- entry points

def parse_scenario(data: Any, where: str = "scenario", *, today: date | None = None) -> Scenario:
    """Validate a scenario. One with an ``anchor`` day is moved so that the anchor is `today`
    (default: today in UTC) and its date templates are rendered (see `timeshift`)."""
    from .timeshift import shift_days, shifted

    days = shift_days(data, today or utcnow().date())
    data = shifted(data, days)
    o = _Obj(data, where, {"asana", "slack", "invalid_tokens", "anchor"})
    asana = parse_asana(o.raw("asana") or {}, o.at("asana"))
    slack = parse_slack(o.raw("slack") or {}, o.at("slack"))
    return Scenario(asana, slack, o.str_list("invalid_tokens"), data.get("_notes"), days)


def load_scenario(path: str | Path, *, today: date | None = None) -> Scenario:
    """Read and validate a scenario JSON file, moved to be told `today` when it has an anchor.
    Raises ValueError naming the file and the bad field."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ValueError(f"{p}: cannot read scenario file ({e.strerror})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{p}: invalid JSON at line {e.lineno} column {e.colno}: {e.msg}") from None
    try:
        return parse_scenario(data, today=today)
    except ValueError as e:
        raise ValueError(f"{p}: {e}") from None


def bundled_scenario_path(name: str) -> Path:
    """Path of a scenario shipped in connectors/sandbox/scenarios/ (e.g. "demo")."""
    p = SCENARIO_DIR / f"{name}.json"
    if not p.is_file():
        available = ", ".join(sorted(x.stem for x in SCENARIO_DIR.glob("*.json"))) or "none"
        raise ValueError(f"no bundled scenario named {name!r} (available: {available})")
    return p
