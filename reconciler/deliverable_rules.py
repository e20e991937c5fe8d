"""Deliverables declared by rule (`[[deliverable_rules]]`) instead of one by one: which Asana
tasks match, and the deliverable each becomes (key = slug of the title, aliases `#key` and the
title, the assignee as owner when the rule says so). Pure: the tasks are read by the caller."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence

from connectors.base import Source
from connectors.workspace import AsanaTask
from reconciler.protocol import Config, DeliverableConfig, DeliverableRuleConfig, PersonConfig

MAX_KEY_LENGTH = 60


def slug(title: str) -> str:
    """`Checkout v2 (EU)` -> `checkout-v2-eu`, `Überweisung` -> `uberweisung`: a valid key."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")[:MAX_KEY_LENGTH].strip("-")


def matches(rule: DeliverableRuleConfig, task: AsanaTask) -> bool:
    if task.completed and not rule.include_completed:
        return False
    if rule.milestones and not task.milestone:
        return False
    lowered = {s.strip().lower() for s in task.sections}
    if rule.sections and not any(s.strip().lower() in lowered for s in rule.sections):
        return False
    tags = {t.strip().lower() for t in task.tags}
    if rule.tags and not any(t.strip().lstrip("#").lower() in tags for t in rule.tags):
        return False
    fields = {k.strip().lower(): v.strip().lower() for k, v in task.fields.items()}
    return all(fields.get(k.strip().lower()) == v.strip().lower() for k, v in rule.custom_field.items())


def _assignee(task: AsanaTask, people: Sequence[PersonConfig]) -> str | None:
    for person in people:
        if task.assignee_gid and person.identity(Source.ASANA) == task.assignee_gid:
            return person.key
        if task.assignee_email and person.email and person.email.lower() == task.assignee_email.lower():
            return person.key
    return None


def derive_deliverables(
    config: Config, tasks_by_project: Mapping[str, Sequence[AsanaTask]]
) -> tuple[list[DeliverableConfig], set[str]]:
    """The deliverables the rules make of the tasks read (each task once, first rule wins, in
    gid order so keys are stable), and the keys whose owner is the Asana assignee."""
    derived: list[DeliverableConfig] = []
    assignee_owned: set[str] = set()
    seen_tasks: set[str] = set()
    keys: set[str] = set()
    for rule in config.deliverable_rules:
        tasks = {t.gid: t for project in rule.projects for t in tasks_by_project.get(project, [])}
        for gid in sorted(tasks, key=lambda g: (len(g), g)):
            task = tasks[gid]
            if gid in seen_tasks or not matches(rule, task):
                continue
            seen_tasks.add(gid)
            key = slug(task.name) or f"task-{gid}"
            if key in keys:
                key = f"{key[: MAX_KEY_LENGTH - len(gid) - 1]}-{gid}"
            keys.add(key)
            owner = _assignee(task, config.people) if rule.owner_from == "assignee" else None
            if owner is not None:
                assignee_owned.add(key)
            title = task.name.strip() or key
            aliases = [f"#{key}"] + ([title.lower()] if title.lower() != key else [])
            derived.append(
                DeliverableConfig(key=key, title=title, owner=owner, role=rule.role, asana_task=gid, aliases=aliases)
            )
    return derived, assignee_owned
