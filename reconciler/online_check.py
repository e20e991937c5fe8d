"""`config check --online`: does the workspace hold what the config file names? Tokens work and
carry the scopes needed, projects, the status field and its options, sections, portfolios, teams
and channels exist (and the bot is in each channel), every person can be reached, every
deliverable's task can be read. Every problem is listed; nothing stops at the first."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from difflib import get_close_matches

from connectors.base import ConnectorError, Source
from connectors.workspace import (
    AsanaProject,
    AsanaTask,
    AsanaUser,
    AsanaWorkspaceReader,
    SlackChannel,
    SlackWorkspaceReader,
    missing_slack_scopes,
)
from reconciler.protocol import Config, ConfigProblem


@dataclass
class OnlineReport:
    problems: list[ConfigProblem] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)  # what was found as configured, one line each

    def problem(self, where: str, message: str, suggestion: str | None = None) -> None:
        self.problems.append(ConfigProblem(where, message, suggestion))


def _closest(value: str, valid: Iterable[str]) -> str | None:
    matches = get_close_matches(value, list(valid), n=1, cutoff=0.6)
    return matches[0] if matches else None


def check_online(
    config: Config,
    *,
    asana: AsanaWorkspaceReader | None,
    slack: SlackWorkspaceReader | None,
) -> OnlineReport:
    """Ask both APIs about everything the config names. A reader is None when its token is not
    set (that is a problem of its own)."""
    report = OnlineReport()
    if asana is None:
        report.problem("ASANA_TOKEN", "not set (an Asana personal access token)")
    else:
        _check_asana(config, asana, report)
    if slack is None:
        report.problem("SLACK_BOT_TOKEN", "not set (the Slack app's bot token, xoxb-…)")
    else:
        _check_slack(config, slack, report)
    return report


def _attempt(report: OnlineReport, where: str, ask: Callable[[], object]) -> object | None:
    try:
        return ask()
    except ConnectorError as exc:
        report.problem(where, str(exc))
        return None


# -- Asana -----------------------------------------------------------------------------------


def _check_asana(config: Config, asana: AsanaWorkspaceReader, report: OnlineReport) -> None:
    me = _attempt(report, "ASANA_TOKEN", asana.me)
    if not isinstance(me, AsanaUser):
        return  # nothing else can be asked without a working token
    report.checked.append(f"Asana token works (user {me.name})")
    conf = config.source(Source.ASANA)
    users: list[AsanaUser] | None = None
    by_name: dict[str, str] = {}
    if conf.workspace:
        found = _attempt(report, "asana.workspace", lambda: asana.users(conf.workspace or ""))
        users = found if isinstance(found, list) else None
        listed = _attempt(report, "asana.workspace", lambda: asana.projects(conf.workspace or "")) if users is not None else None
        by_name = {p.name: p.gid for p in listed} if isinstance(listed, list) else {}
    projects: list[AsanaProject] = []
    for i, gid in enumerate(conf.projects):
        where = f"asana.projects[{i}]"
        if not gid.isdigit() and gid in by_name:
            report.problem(where, f"{gid!r} is a project name; projects are listed by gid", by_name[gid])
            continue
        project = _attempt(report, where, lambda gid=gid: asana.project(gid))  # type: ignore[misc]
        if isinstance(project, AsanaProject):
            projects.append(project)
            if project.archived:
                report.problem(where, f"project {project.name!r} ({gid}) is archived")
    for i, gid in enumerate(conf.portfolios):
        _attempt(report, f"asana.portfolios[{i}]", lambda gid=gid: asana.portfolio(gid))  # type: ignore[misc]
    for i, gid in enumerate(conf.teams):
        _attempt(report, f"asana.teams[{i}]", lambda gid=gid: asana.team(gid))  # type: ignore[misc]
    for project in projects:
        _check_status_field(config, project, report)
    _check_sections(config, projects, report)
    if projects:
        report.checked.append(f"{len(projects)} Asana project(s): " + ", ".join(p.name for p in projects))
    _check_tasks(config, asana, projects, report)
    _check_rules(config, asana, {p.gid: p for p in projects}, report)
    _check_asana_people(config, asana, users, report)


def _check_rules(
    config: Config, asana: AsanaWorkspaceReader, read: dict[str, AsanaProject], report: OnlineReport
) -> None:
    """Each rule's projects, sections and custom field exist; how many tasks it makes deliverables."""
    from reconciler.deliverable_rules import derive_deliverables

    tasks: dict[str, list[AsanaTask]] = {}
    for i, rule in enumerate(config.deliverable_rules):
        where = f"deliverable_rules[{i}]"
        projects = []
        for j, gid in enumerate(rule.projects):
            project = read.get(gid) or _attempt(report, f"{where}.projects[{j}]", lambda gid=gid: asana.project(gid))  # type: ignore[misc]
            if not isinstance(project, AsanaProject):
                continue
            read[gid] = project
            projects.append(project)
            if gid not in tasks:
                found = _attempt(report, f"{where}.projects[{j}]", lambda gid=gid: asana.project_tasks(gid))  # type: ignore[misc]
                tasks[gid] = found if isinstance(found, list) else []
        if not projects:
            continue
        sections = {s for p in projects for s in p.sections}
        for name in rule.sections:
            if name.strip().lower() not in {s.lower() for s in sections}:
                report.problem(f"{where}.sections", f"no section {name!r} in its projects", _closest(name, sections))
        fields = {f.name: f for p in projects for f in p.enum_fields}
        for name, value in rule.custom_field.items():
            found_field = next((f for n, f in fields.items() if n.lower() == name.strip().lower()), None)
            if found_field is None:
                report.problem(f"{where}.custom_field", f"no enum custom field {name!r} in its projects", _closest(name, fields))
            elif value.strip().lower() not in {o.lower() for o in found_field.options}:
                report.problem(
                    f"{where}.custom_field.{name}",
                    f"{value!r} is not an option of {found_field.name!r} ({', '.join(found_field.options)})",
                    _closest(value, found_field.options),
                )
    if config.deliverable_rules and tasks:
        derived, owned = derive_deliverables(config, tasks)
        merged = config.with_derived(derived, assignee_owned=owned)
        by_assignee = sum(merged.owner_origin(d.key) == "asana:assignee" for d in derived)
        report.checked.append(
            f"deliverable rules make {len(derived)} deliverable(s) of Asana tasks ({by_assignee} owned by their assignee)"
        )


def _check_status_field(config: Config, project: AsanaProject, report: OnlineReport) -> None:
    wanted = config.source(Source.ASANA).status_field.strip().lower()
    status_field = next((f for f in project.enum_fields if f.name.strip().lower() == wanted), None)
    if status_field is None:
        names = [f.name for f in project.enum_fields]
        listing = f"its enum fields: {', '.join(names)}" if names else "it has no enum custom field"
        report.problem(
            "asana.status_field",
            f"no enum custom field {config.source(Source.ASANA).status_field!r} in project {project.name!r} ({project.gid}); {listing}",
            _closest(config.source(Source.ASANA).status_field, names),
        )
        return
    unmapped = [o for o in status_field.options if config.source(Source.ASANA).status_for_option(o) is None]
    for option in unmapped:
        report.problem(
            "asana.status_map",
            f"option {option!r} of {status_field.name!r} in project {project.name!r} maps to no status "
            "(add it to status_map: not_started, on_track, at_risk, blocked, done or cancelled)",
        )


def _check_sections(config: Config, projects: list[AsanaProject], report: OnlineReport) -> None:
    if not projects:
        return
    sections = {s for p in projects for s in p.sections}
    lowered = {s.strip().lower() for s in sections}
    for name in config.source(Source.ASANA).section_map:
        if name.strip().lower() not in lowered:
            report.problem(
                f"asana.section_map.{name}", "no section of that name in the synced projects", _closest(name, sections)
            )


def _check_tasks(config: Config, asana: AsanaWorkspaceReader, projects: list[AsanaProject], report: OnlineReport) -> None:
    synced = {p.gid for p in projects}
    only_projects = not config.source(Source.ASANA).portfolios and not config.source(Source.ASANA).teams
    reachable = 0
    for i, deliverable in enumerate(config.deliverables):
        if not deliverable.asana_task:
            continue
        where = f"deliverables[{i}].asana_task"
        try:
            task = asana.task(deliverable.asana_task)
        except ConnectorError as exc:
            report.problem(where, f"{deliverable.key}: {exc}")
            continue
        reachable += 1
        if only_projects and synced and not synced & set(task.projects):
            report.problem(
                where,
                f"{deliverable.key}: task {task.name!r} ({task.gid}) is in none of the synced projects "
                f"(add one of {', '.join(task.projects) or 'its projects'} to asana.projects)",
            )
    if reachable:
        report.checked.append(f"{reachable} deliverable task(s) readable in Asana")


def _check_asana_people(
    config: Config, asana: AsanaWorkspaceReader, users: list[AsanaUser] | None, report: OnlineReport
) -> None:
    known = {u.gid for u in users} if users is not None else None
    for i, person in enumerate(config.people):
        gid = person.identity(Source.ASANA)
        if not gid:
            continue
        where = f"people[{i}].ids.asana"
        if known is not None:
            if gid not in known:
                report.problem(where, f"{person.key}: no user {gid} in the Asana workspace")
        else:
            _attempt(report, where, lambda gid=gid: asana.user(gid))  # type: ignore[misc]


# -- Slack -----------------------------------------------------------------------------------


def _check_slack(config: Config, slack: SlackWorkspaceReader, report: OnlineReport) -> None:
    try:
        identity = slack.identity()
    except ConnectorError as exc:
        report.problem("SLACK_BOT_TOKEN", str(exc))
        return
    report.checked.append(f"Slack token works (workspace {identity.team}, bot {identity.bot_user_id})")
    channels: list[SlackChannel] | None
    try:
        channels = slack.channels()
    except ConnectorError as exc:
        report.problem("slack.channels", str(exc))
        channels = None
    private = False
    if channels is not None:
        private = _check_channels(config, channels, identity.team, report)
    if identity.scopes is not None:
        missing = missing_slack_scopes(identity.scopes, private_channels=private)
        if missing:
            report.problem(
                "SLACK_BOT_TOKEN",
                f"the app lacks the scope(s) {', '.join(missing)} (add them under OAuth & Permissions, "
                "then reinstall the app)",
            )
    _check_slack_people(config, slack, report)


def _check_channels(config: Config, channels: list[SlackChannel], team: str, report: OnlineReport) -> bool:
    """Problems for configured channels that are missing, archived or without the bot; whether
    any of them is private (then the groups:* scopes are needed too)."""
    by_id = {c.id: c for c in channels}
    by_name = {c.name: c for c in channels}
    private = False
    readable = 0
    for i, raw in enumerate(config.source(Source.SLACK).channels):
        where = f"slack.channels[{i}]"
        channel = by_id.get(raw) or by_name.get(raw.lstrip("#"))
        if channel is None:
            report.problem(where, f"no channel {raw!r} in {team or 'the workspace'}", _closest(raw.lstrip("#"), by_name))
            continue
        private = private or channel.is_private
        if channel.is_archived:
            report.problem(where, f"#{channel.name} is archived")
        elif not channel.is_member:
            report.problem(where, f"the bot is not in #{channel.name} (invite it there: /invite @your-app)")
        else:
            readable += 1
    if readable:
        report.checked.append(f"{readable} Slack channel(s) with the bot in them")
    return private


def _check_slack_people(config: Config, slack: SlackWorkspaceReader, report: OnlineReport) -> None:
    try:
        users = slack.users()
    except ConnectorError as exc:
        report.problem("people", str(exc))
        return
    by_id = {u.id for u in users}
    by_email = {u.email.lower() for u in users if u.email}
    reachable = 0
    for i, person in enumerate(config.people):
        slack_id = person.identity(Source.SLACK)
        if slack_id:
            if slack_id in by_id:
                reachable += 1
            else:
                report.problem(f"people[{i}].ids.slack", f"{person.key}: no Slack user {slack_id}")
        elif person.email:
            if person.email.lower() in by_email:
                reachable += 1
            else:
                report.problem(f"people[{i}].email", f"{person.key}: no Slack user with the email {person.email}")
        else:
            report.problem(f"people[{i}]", f"{person.key}: cannot be reached on Slack (give ids.slack or email)")
    if reachable:
        report.checked.append(f"{reachable} of {len(config.people)} people found in Slack")
