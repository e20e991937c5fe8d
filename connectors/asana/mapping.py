"""Pure mapping from Asana records (as the REST API returns them) to claims.

No I/O here: `connectors.asana` fetches tasks, stories and status updates and hands the dicts to
these functions. Every vocabulary decision goes through `AsanaConfig`; the only Asana knowledge
in code is the shape of the records and which story subtypes date which field.

A field is dated by the story that last changed it (Design: "use Asana stories, not task
`modified_at`, to date a field"); without such a story, by the task's `created_at`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from connectors.base import (
    CanonicalStatus,
    ClaimKind,
    Field,
    Observation,
    PersonRecord,
    Source,
)
from connectors.config import AsanaConfig

Record = Mapping[str, Any]

# Bump when the claims computed from the same records change, so stored cursors force a re-crawl.
MAPPING_VERSION = 1

TASK_FIELDS: tuple[str, ...] = (
    "name",
    "completed",
    "completed_at",
    "created_at",
    "modified_at",
    "due_on",
    "due_at",
    "start_on",
    "assignee.name",
    "assignee.email",
    "custom_fields.name",
    "custom_fields.enum_value.name",
    "memberships.project.name",
    "memberships.section.name",
    "dependencies.name",
    "permalink_url",
)
TASK_OPT_FIELDS = ",".join(TASK_FIELDS)

STORY_FIELDS: tuple[str, ...] = (
    "created_at",
    "created_by.name",
    "created_by.email",
    "resource_subtype",
    "custom_field.name",
    "new_enum_value.name",
    "new_section.name",
    "assignee.name",
    "assignee.email",
    "new_dates",
    "old_dates",
)
STORY_OPT_FIELDS = ",".join(STORY_FIELDS)

STATUS_UPDATE_FIELDS: tuple[str, ...] = (
    "status_type",
    "title",
    "created_at",
    "author.name",
    "author.email",
    "parent.permalink_url",
)
STATUS_UPDATE_OPT_FIELDS = ",".join(STATUS_UPDATE_FIELDS)

COMPLETION_STORIES = frozenset({"marked_complete"})
REOPEN_STORIES = frozenset({"marked_incomplete"})
ENUM_STORIES = frozenset({"enum_custom_field_changed"})
SECTION_STORIES = frozenset({"section_changed"})
ASSIGN_STORIES = frozenset({"assigned"})
DUE_STORIES = frozenset({"due_date_changed", "due_date_removed", "dates_changed"})
DEPENDENCY_STORIES = frozenset({"dependency_added", "dependency_removed"})


STATUS_UPDATE_PREFIX = "status_update:"  # the ref of a project's status update claims


def status_update_ref(project_gid: str) -> str:
    return f"{STATUS_UPDATE_PREFIX}{project_gid}"


# -- small readers ----------------------------------------------------------------------------


def parse_time(value: str | None) -> datetime | None:
    """Asana's `2026-11-20T10:00:00.000Z` as an aware UTC datetime (None stays None)."""
    if not value:
        return None
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def user_id(user: Record | None) -> str | None:
    """How a person is named in a claim: email when Asana shows it, else the user gid."""
    if not user:
        return None
    return user.get("email") or user.get("gid")


def person_record(user: Record | None) -> PersonRecord | None:
    if not user or not user.get("gid"):
        return None
    return PersonRecord(
        source=Source.ASANA,
        source_id=str(user["gid"]),
        name=user.get("name"),
        email=(user.get("email") or None),
    )


def people_in(users: Iterable[Record | None]) -> dict[str, PersonRecord]:
    """Person records by gid; a record that knows more (an email, a name) wins."""
    out: dict[str, PersonRecord] = {}
    for user in users:
        record = person_record(user)
        if record is None:
            continue
        seen = out.get(record.source_id)
        if seen is None or (record.email and not seen.email) or (record.name and not seen.name):
            out[record.source_id] = PersonRecord(
                source=Source.ASANA,
                source_id=record.source_id,
                name=record.name or (seen.name if seen else None),
                email=record.email or (seen.email if seen else None),
            )
    return out


def task_people(task: Record, stories: Iterable[Record] = ()) -> dict[str, PersonRecord]:
    return people_in([task.get("assignee"), *(s.get("created_by") for s in stories)])


def section_in(task: Record, project_gid: str) -> Record | None:
    """The task's section in `project_gid` (a multi-homed task has one per project)."""
    for membership in task.get("memberships") or []:
        project = membership.get("project") or {}
        if str(project.get("gid")) == project_gid:
            return membership.get("section")
    return None


def in_project(task: Record, project_gid: str) -> bool:
    memberships = task.get("memberships")
    if memberships is None:  # not asked for: assume the caller listed it under the project
        return True
    return any(str((m.get("project") or {}).get("gid")) == project_gid for m in memberships)


def status_custom_field(task: Record, field_name: str) -> Record | None:
    wanted = field_name.strip().lower()
    for cf in task.get("custom_fields") or []:
        if str(cf.get("name") or "").strip().lower() == wanted:
            return cf
    return None


def _latest(stories: Iterable[Record], accept: Callable[[Record], bool]) -> Record | None:
    best: Record | None = None
    best_at: datetime | None = None
    for story in stories:
        if not accept(story):
            continue
        at = parse_time(story.get("created_at"))
        if at is None:
            continue
        if best_at is None or at >= best_at:  # stories come oldest first; ties go to the later one
            best, best_at = story, at
    return best


def _subtype_in(subtypes: frozenset[str]) -> Callable[[Record], bool]:
    return lambda s: s.get("resource_subtype") in subtypes


# -- claims of one task -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StatusReading:
    value: CanonicalStatus
    excerpt: str
    basis: str  # "completed", "field", "section"
    field_gid: str | None = None
    section_gid: str | None = None


def read_status(task: Record, *, project_gid: str, config: AsanaConfig) -> StatusReading | None:
    """completed -> config.completed_status; else the status field's option; else the section."""
    if task.get("completed"):
        return StatusReading(config.completed_status, "Completed", "completed")
    cf = status_custom_field(task, config.status_field)
    option = (cf or {}).get("enum_value") or None
    if cf is not None and option and option.get("name"):
        mapped = config.status_for_option(str(option["name"]))
        if mapped is not None:
            return StatusReading(mapped, f"{cf.get('name')}: {option['name']}", "field", field_gid=cf.get("gid"))
    section = section_in(task, project_gid)
    if section and section.get("name"):
        mapped = config.status_for_section(str(section["name"]))
        if mapped is not None:
            return StatusReading(mapped, f"Section: {section['name']}", "section", section_gid=section.get("gid"))
    return None


def _status_story(reading: StatusReading, stories: list[Record], status_field: str) -> Record | None:
    def field_change(s: Record) -> bool:
        if s.get("resource_subtype") not in ENUM_STORIES:
            return False
        cf = s.get("custom_field") or {}
        if reading.field_gid and cf.get("gid"):
            return str(cf["gid"]) == str(reading.field_gid)
        return str(cf.get("name") or "").strip().lower() == status_field.strip().lower()

    if reading.basis == "completed":
        return _latest(stories, _subtype_in(COMPLETION_STORIES))
    if reading.basis == "field":
        # the value became what it is by the last change of the field, or by reopening the task
        return _latest(stories, lambda s: field_change(s) or s.get("resource_subtype") in REOPEN_STORIES)

    def section_change(s: Record) -> bool:
        if s.get("resource_subtype") not in SECTION_STORIES:
            return False
        new = s.get("new_section") or {}
        return not reading.section_gid or not new.get("gid") or str(new["gid"]) == str(reading.section_gid)

    return _latest(
        stories,
        lambda s: section_change(s) or field_change(s) or s.get("resource_subtype") in REOPEN_STORIES,
    )


def target_date(task: Record, tz: ZoneInfo) -> str | None:
    if task.get("due_on"):
        return str(task["due_on"])
    due_at = parse_time(task.get("due_at"))
    if due_at is not None:
        return due_at.astimezone(tz).date().isoformat()
    return None


def _due_change(s: Record) -> bool:
    subtype = s.get("resource_subtype")
    if subtype not in DUE_STORIES:
        return False
    if subtype == "dates_changed" and s.get("old_dates") is not None and s.get("new_dates") is not None:
        old, new = s.get("old_dates") or {}, s.get("new_dates") or {}
        return (old.get("due_on"), old.get("due_at")) != (new.get("due_on"), new.get("due_at"))
    return True


def dependency_keys(task: Record, index: Mapping[str, str]) -> list[tuple[str, str]]:
    """(deliverable key, dependency task name) of every dependency linked to a deliverable."""
    out: dict[str, str] = {}
    for dep in task.get("dependencies") or []:
        key = index.get(str(dep.get("gid")))
        if key is not None:
            out.setdefault(key, str(dep.get("name") or key))
    return sorted(out.items())


def task_claims(
    task: Record,
    stories: list[Record],
    *,
    project_gid: str,
    deliverable_key: str,
    config: AsanaConfig,
    index: Mapping[str, str],
    tz: ZoneInfo,
) -> list[Observation]:
    """Every claim one task makes about its deliverable (status, target_date, owner, depends_on)."""
    gid = str(task["gid"])
    created = parse_time(task.get("created_at")) or datetime(1970, 1, 1, tzinfo=UTC)
    permalink = task.get("permalink_url")

    def claim(field: Field, value: str, excerpt: str, story: Record | None, fallback: datetime | None = None) -> Observation:
        stated = parse_time(story.get("created_at")) if story else None
        return Observation(
            deliverable_key=deliverable_key,
            source=Source.ASANA,
            source_ref=gid,
            field=field,
            value=value,
            stated_at=stated or fallback or created,
            kind=ClaimKind.STATE,
            author=user_id(story.get("created_by")) if story else None,
            excerpt=excerpt,
            permalink=permalink,
        )

    claims: list[Observation] = []
    reading = read_status(task, project_gid=project_gid, config=config)
    if reading is not None:
        story = _status_story(reading, stories, config.status_field)
        fallback = parse_time(task.get("completed_at")) if reading.basis == "completed" else None
        claims.append(claim(Field.STATUS, reading.value.value, reading.excerpt, story, fallback))

    due = target_date(task, tz)
    if due is not None:
        claims.append(claim(Field.TARGET_DATE, due, f"Due: {due}", _latest(stories, _due_change)))

    assignee = task.get("assignee")
    owner = user_id(assignee)
    if owner is not None:
        assignee_gid = str((assignee or {}).get("gid"))
        story = _latest(
            stories,
            lambda s: s.get("resource_subtype") in ASSIGN_STORIES
            and str((s.get("assignee") or {}).get("gid", assignee_gid)) == assignee_gid,
        )
        name = (assignee or {}).get("name") or owner
        claims.append(claim(Field.OWNER, owner, f"Assignee: {name}", story))

    deps = dependency_keys(task, index)
    if deps:
        value = ",".join(key for key, _ in deps)
        excerpt = "Depends on: " + ", ".join(name for _, name in deps)
        claims.append(claim(Field.DEPENDS_ON, value, excerpt, _latest(stories, _subtype_in(DEPENDENCY_STORIES))))
    return claims


# -- project status updates -------------------------------------------------------------------


def newest_status_update(updates: Iterable[Record]) -> Record | None:
    best: Record | None = None
    for update in updates:
        at = parse_time(update.get("created_at"))
        if at is None:
            continue
        if best is None or at > (parse_time(best.get("created_at")) or at):
            best = update
    return best


def status_update_claims(
    update: Record, *, project_gid: str, deliverable_keys: Iterable[str], config: AsanaConfig
) -> list[Observation]:
    """The project's current status update, as a status claim about each deliverable in it."""
    status_type = str(update.get("status_type") or "").strip().lower()
    mapped = {k.lower(): v for k, v in config.status_update_map.items()}.get(status_type)
    stated = parse_time(update.get("created_at"))
    if mapped is None or stated is None:
        return []
    title = str(update.get("title") or "").strip()
    label = status_type.replace("_", " ").capitalize()
    excerpt = f"Project status: {label}" + (f" — {title}" if title else "")
    permalink = (update.get("parent") or {}).get("permalink_url")
    return [
        Observation(
            deliverable_key=key,
            source=Source.ASANA,
            source_ref=status_update_ref(project_gid),
            field=Field.STATUS,
            value=mapped.value,
            stated_at=stated,
            kind=ClaimKind.STATE,
            author=user_id(update.get("author")),
            excerpt=excerpt,
            permalink=permalink,
        )
        for key in sorted(set(deliverable_keys))
    ]


def compact_status_update(update: Record | None) -> dict[str, Any] | None:
    """What the cursor keeps of the current status update to re-issue its claims without a request."""
    if update is None:
        return None
    author = update.get("author") or {}
    parent = update.get("parent") or {}
    return {
        "gid": update.get("gid"),
        "status_type": update.get("status_type"),
        "title": update.get("title"),
        "created_at": update.get("created_at"),
        "author": {k: author[k] for k in ("gid", "name", "email") if author.get(k)} or None,
        "parent": {"permalink_url": parent["permalink_url"]} if parent.get("permalink_url") else None,
    }


# -- events ---------------------------------------------------------------------------------


@dataclass
class EventSummary:
    """What a batch of project events asks the connector to look at again."""

    changed: set[str]  # task gids to fetch again
    gone: set[str]  # task gids deleted or removed from the project
    status: bool  # the project itself changed (a new status update, ...)
    recrawl: bool  # something only a full crawl can settle (a renamed section that maps status)


def summarise_events(events: Iterable[Record], project_gid: str, *, sections_matter: bool) -> EventSummary:
    """Fold events (oldest first) into the tasks to refetch or retract; the last word wins.

    A task event is about its `resource`; a story event about its `parent` task. `deleted`, and
    `removed` from this project, make a task gone; `removed` from a section or another project
    is a change (fetching the task again tells whether it is still here).
    """
    last: dict[str, str] = {}
    status = recrawl = False
    for event in events:
        resource = event.get("resource") or {}
        parent = event.get("parent") or {}
        rtype = resource.get("resource_type") or event.get("type")
        action = event.get("action")
        gid = str(resource.get("gid") or "")
        ptype = parent.get("resource_type")
        pgid = str(parent.get("gid") or "")
        if rtype == "task" and gid:
            removed_here = action == "removed" and ptype in (None, "project") and pgid in ("", project_gid)
            last[gid] = "gone" if action == "deleted" or removed_here else "changed"
        elif ptype == "task" and pgid:
            last[pgid] = "changed"
        elif rtype == "section":
            recrawl = recrawl or (sections_matter and action in ("changed", "deleted"))
        elif gid == project_gid or rtype in ("project", "status_update", "project_status"):
            status = True
    return EventSummary(
        changed={g for g, a in last.items() if a == "changed"},
        gone={g for g, a in last.items() if a == "gone"},
        status=status,
        recrawl=recrawl,
    )
