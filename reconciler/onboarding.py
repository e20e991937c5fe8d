"""`reconciler init`: what a new workspace holds, what to propose from it, and the commented
`reconciler.toml` that comes out. Discovery reads through `connectors.workspace`; the proposal
and the rendering are pure, so the wizard's questions are only about choosing."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from connectors.base import CanonicalStatus, Source
from connectors.config import DEFAULT_ASANA_STATUS_MAP
from connectors.workspace import (
    AsanaProject,
    AsanaUser,
    AsanaWorkspaceReader,
    SlackChannel,
    SlackUser,
    SlackWorkspaceReader,
)
from reconciler.deliverable_rules import slug

# Words in an option or section name that say which canonical status it means, most specific first.
_STATUS_WORDS: list[tuple[tuple[str, ...], CanonicalStatus]] = [
    (("not started", "to do", "todo", "backlog", "planned", "new", "idea"), CanonicalStatus.NOT_STARTED),
    (("cancel", "drop", "abandon", "won't", "wont"), CanonicalStatus.CANCELLED),
    (("block", "hold", "stuck", "waiting", "paused"), CanonicalStatus.BLOCKED),
    (("risk", "off track", "delayed", "late", "yellow", "amber"), CanonicalStatus.AT_RISK),
    (("done", "complete", "shipped", "launched", "released", "closed", "finished"), CanonicalStatus.DONE),
    (("on track", "progress", "green", "doing", "started", "active", "review"), CanonicalStatus.ON_TRACK),
]


def propose_status(option: str) -> CanonicalStatus | None:
    """The canonical status an option name most likely means, or None when nothing says."""
    lowered = option.strip().lower()
    if lowered in DEFAULT_ASANA_STATUS_MAP:
        return DEFAULT_ASANA_STATUS_MAP[lowered]
    for words, status in _STATUS_WORDS:
        if any(re.search(rf"\b{re.escape(w)}", lowered) for w in words):
            return status
    return None


@dataclass(frozen=True, slots=True)
class Person:
    key: str
    name: str
    email: str | None
    ids: dict[str, str]  # source -> their id there
    timezone: str | None


def join_people(asana_users: Sequence[AsanaUser], slack_users: Sequence[SlackUser]) -> list[Person]:
    """One person per email across both sources (people with no email in either are left out:
    nothing can join them). Keys from the email's local part, made unique."""
    by_email: dict[str, dict[str, object]] = {}
    for su in slack_users:
        if su.email:
            by_email.setdefault(su.email.lower(), {}).update(slack=su)
    for au in asana_users:
        if au.email:
            by_email.setdefault(au.email.lower(), {}).update(asana=au)
    people: list[Person] = []
    keys: set[str] = set()
    for email in sorted(by_email):
        found = by_email[email]
        slack_user = found.get("slack")
        asana_user = found.get("asana")
        assert slack_user is None or isinstance(slack_user, SlackUser)
        assert asana_user is None or isinstance(asana_user, AsanaUser)
        key = slug(email.split("@")[0]) or "person"
        if key in keys:
            key = slug(email.replace("@", "-at-"))
        keys.add(key)
        name = (asana_user.name if asana_user else "") or (slack_user.name if slack_user else "") or key
        people.append(
            Person(
                key=key,
                name=name,
                email=email,
                ids={
                    **({Source.SLACK.value: slack_user.id} if slack_user else {}),
                    **({Source.ASANA.value: asana_user.gid} if asana_user else {}),
                },
                timezone=slack_user.timezone if slack_user else None,
            )
        )
    return people


@dataclass
class Discovery:
    """What the two tokens can see."""

    workspace: tuple[str, str]  # gid, name
    workspaces: list[tuple[str, str]]
    projects: list[AsanaProject]  # names only, archived ones left out
    channels: list[SlackChannel]  # not archived
    people: list[Person]
    slack_team: str
    teams: list[tuple[str, str]] = field(default_factory=list)  # gid, name
    portfolios: list[tuple[str, str]] = field(default_factory=list)  # the token user's


def discover(asana: AsanaWorkspaceReader, slack: SlackWorkspaceReader, *, workspace: str | None = None) -> Discovery:
    asana.me()
    workspaces = asana.workspaces()
    if not workspaces:
        raise ValueError("the Asana token sees no workspace")
    chosen = next((w for w in workspaces if workspace in (w[0], w[1])), None) if workspace else workspaces[0]
    if chosen is None:
        names = ", ".join(f"{name} ({gid})" for gid, name in workspaces)
        raise ValueError(f"no Asana workspace {workspace!r} (the token sees: {names})")
    identity = slack.identity()
    projects = [p for p in asana.projects(chosen[0]) if not p.archived]
    channels = [c for c in slack.channels() if not c.is_archived]
    people = join_people(asana.users(chosen[0]), slack.users())
    teams = asana.teams(chosen[0])
    portfolios = asana.portfolios(chosen[0])
    return Discovery(chosen, workspaces, projects, channels, people, identity.team, teams, portfolios)


@dataclass
class Choices:
    """What the new config describes; `reconciler init` fills it from flags, answers or defaults."""

    workspace: str
    projects: list[AsanaProject]  # read in full: enum fields and sections
    status_field: str | None
    channels: list[SlackChannel]
    people: list[Person]
    timezone: str = "UTC"
    lead: str | None = None
    rules: bool = True
    status_map: dict[str, CanonicalStatus | None] = field(default_factory=dict)
    teams: list[tuple[str, str]] = field(default_factory=list)  # offered in comments
    portfolios: list[tuple[str, str]] = field(default_factory=list)


def status_fields(projects: Sequence[AsanaProject]) -> list[str]:
    """Enum field names of the projects, those in most projects first, a field named like
    "status" first among equals."""
    counts = Counter(f.name for p in projects for f in p.enum_fields)
    return sorted(counts, key=lambda n: (-counts[n], "status" not in n.lower(), n))


def field_options(projects: Sequence[AsanaProject], name: str) -> list[str]:
    options: list[str] = []
    for p in projects:
        for f in p.enum_fields:
            if f.name == name:
                options += [o for o in f.options if o not in options]
    return options


def most_common_timezone(people: Sequence[Person]) -> str:
    zones = Counter(p.timezone for p in people if p.timezone)
    return zones.most_common(1)[0][0] if zones else "UTC"


def _s(value: str) -> str:
    """A TOML basic string (JSON's escaping is valid TOML)."""
    return json.dumps(value, ensure_ascii=False)


def _inline_table(values: dict[str, str]) -> str:
    """`{ slack = "U1", asana = "501" }`: keys bare when TOML allows it."""
    keys = {k: k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else _s(k) for k in values}
    return "{ " + ", ".join(f"{keys[k]} = {_s(v)}" for k, v in values.items()) + " }"


def render_config(choices: Choices) -> str:
    """The commented `reconciler.toml` for `choices`."""
    out: list[str] = [
        "# Written by `reconciler init`. Check it with `reconciler config check --online`,",
        "# then run `reconciler run --once`. Every field is described in the README (Configuration).",
        "",
        f"timezone = {_s(choices.timezone)}   # for reading \"EOW\" or \"next Friday\" in messages",
        'default_role = "team"',
        "",
        "[asana]",
        f"workspace = {_s(choices.workspace)}",
        "projects = [" + ", ".join(_s(p.gid) for p in choices.projects) + "]   # "
        + ", ".join(p.name for p in choices.projects),
    ]
    for noun, found in (("teams", choices.teams), ("portfolios", choices.portfolios)):
        if found:
            out.append(f"# every project of these {noun} can be synced too: {noun} = [<gid>, ...]")
            out.append("# " + ", ".join(f"{name} ({gid})" for gid, name in found))
    if choices.status_field:
        out.append(f"status_field = {_s(choices.status_field)}   # the enum custom field that carries a task's status")
        out.append("# each option of the status field -> not_started, on_track, at_risk, blocked, done or cancelled")
        out.append("[asana.status_map]")
        for option, status in choices.status_map.items():
            if status is None:
                out.append(f"# {_s(option)} = \"?\"   # could not tell what this option means: set it")
            else:
                out.append(f"{_s(option)} = {_s(status.value)}")
    else:
        out.append("# status_field: none of the projects has an enum custom field; the status comes from")
        out.append("# sections (section_map), the completed flag and project status updates")
    sections = list(dict.fromkeys(s for p in choices.projects for s in p.sections))
    if sections:
        out.append("# sections of these projects, for section_map (section -> status) if they carry status:")
        out.append("# " + ", ".join(sections))
    out += [
        "",
        "[slack]",
        "channels = [" + ", ".join(_s(c.name) for c in choices.channels) + "]   # the bot must be in each",
        "",
    ]
    out.append("# People are joined across Slack and Asana by email. Remove who does not take part.")
    for person in choices.people:
        out.append("[[people]]")
        out.append(f"key = {_s(person.key)}")
        out.append(f"name = {_s(person.name)}")
        if person.email:
            out.append(f"email = {_s(person.email)}")
        if person.ids:
            out.append(f"ids = {_inline_table(person.ids)}")
        if person.timezone:
            out.append(f"timezone = {_s(person.timezone)}")
        out.append("")
    out += [
        "# Who hears about what: the role's lead gets escalations and deliverables without an owner.",
        "[[roles]]",
        'name = "team"',
    ]
    out.append(f"lead = {_s(choices.lead)}" if choices.lead else "# lead = \"<person key>\"   # set who escalations go to")
    out.append(
        "zones = { asana_projects = [" + ", ".join(_s(p.gid) for p in choices.projects) + "], slack_channels = ["
        + ", ".join(_s(c.name) for c in choices.channels) + "] }"
    )
    out.append("")
    if choices.rules:
        out += [
            "# Every open task of these projects is a deliverable: key = slug of its title, aliases #key",
            "# and the title, owner = its Asana assignee. Add a [[deliverables]] entry with the same key",
            "# to override (owner, aliases, depends_on), or narrow the rule with sections, tags,",
            "# custom_field = { Name = \"Option\" } or milestones = true.",
            "[[deliverable_rules]]",
            "projects = [" + ", ".join(_s(p.gid) for p in choices.projects) + "]",
            'owner_from = "assignee"',
            "",
        ]
    else:
        out += [
            "# The gatekeeper map: one entry per deliverable, e.g.",
            "# [[deliverables]]",
            '# key = "checkout-v2"',
            '# title = "Checkout v2"',
            '# owner = "<person key>"',
            '# asana_task = "<task gid>"',
            '# aliases = ["#checkout"]',
            "",
        ]
    return "\n".join(out)
