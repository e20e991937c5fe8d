"""Reading what a workspace holds, for setting up and checking a configuration: the token's
user, projects with their enum custom fields and sections, people, tasks (Asana); the bot,
its scopes, channels and people (Slack). Through the same clients as the connectors (the official
`asana` SDK under `AsanaHttp`'s retry policy, slack-sdk's `WebClient`); every failure is one
`ConnectorError` line that never carries a token."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from connectors.asana.connector import AsanaHttp
from connectors.base import ConnectorError, NoRateLimit
from connectors.slack.client import describe_transport_error, make_web_client
from connectors.toolkit import RequestCount

# What the bot needs (README "Connect your workspace"); private channels add the groups:* pair.
SLACK_SCOPES = ("channels:history", "channels:read", "users:read", "users:read.email", "chat:write", "im:write")
SLACK_PRIVATE_SCOPES = ("groups:history", "groups:read")


@dataclass(frozen=True, slots=True)
class EnumField:
    gid: str
    name: str
    options: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AsanaProject:
    gid: str
    name: str
    archived: bool = False
    enum_fields: tuple[EnumField, ...] = ()
    sections: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AsanaUser:
    gid: str
    name: str
    email: str | None


@dataclass(frozen=True, slots=True)
class AsanaTask:
    gid: str
    name: str
    projects: tuple[str, ...]
    assignee_gid: str | None = None
    assignee_email: str | None = None
    sections: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    fields: dict[str, str] = field(default_factory=dict)  # enum custom field name -> option name
    milestone: bool = False
    completed: bool = False
    permalink: str | None = None


TASK_OPT_FIELDS = (
    "name,completed,resource_subtype,permalink_url,projects.gid,assignee.gid,assignee.email,"
    "memberships.project.gid,memberships.section.name,tags.name,"
    "custom_fields.name,custom_fields.type,custom_fields.enum_value.name"
)


def _task(record: dict[str, Any]) -> AsanaTask:
    assignee = record.get("assignee") or {}
    fields = {
        str(cf.get("name")): str((cf.get("enum_value") or {}).get("name"))
        for cf in record.get("custom_fields") or []
        if cf.get("type") == "enum" and cf.get("enum_value")
    }
    return AsanaTask(
        gid=str(record["gid"]),
        name=str(record.get("name") or ""),
        projects=tuple(str(p["gid"]) for p in record.get("projects") or [] if p.get("gid")),
        assignee_gid=assignee.get("gid"),
        assignee_email=assignee.get("email"),
        sections=tuple(
            str((m.get("section") or {}).get("name"))
            for m in record.get("memberships") or []
            if (m.get("section") or {}).get("name")
        ),
        tags=tuple(str(t.get("name")) for t in record.get("tags") or [] if t.get("name")),
        fields=fields,
        milestone=record.get("resource_subtype") == "milestone",
        completed=bool(record.get("completed")),
        permalink=record.get("permalink_url"),
    )


class AsanaWorkspaceReader:
    """Read-only questions to Asana; each method is one request or one paged listing."""

    def __init__(self, *, token: str, base_url: str, timeout: float = 30.0, max_retries: int = 2) -> None:
        self._http = AsanaHttp(
            token=token,
            base_url=base_url,
            rate_limiter=NoRateLimit(),
            max_retries=max_retries,
            backoff=0.5,
            max_backoff=5.0,
            sleep=time.sleep,
            timeout=timeout,
            pool_size=2,
            page_size=100,
        )
        self.requests = RequestCount()

    def close(self) -> None:
        self._http.close()

    def _one(self, where: str, method: Any, *args: Any, opt_fields: str) -> dict[str, Any]:
        body, _ = self._http.call(self.requests, where, method, *args, {"opt_fields": opt_fields})
        data = body.get("data")
        if not isinstance(data, dict):
            raise ConnectorError(f"{where}: the answer holds no record")
        return data

    def _all(self, where: str, method: Any, *args: Any, opt_fields: str, limit: bool = True) -> Iterator[dict[str, Any]]:
        for page, _ in self._http.pages(
            self.requests, where, method, *args, opts={"opt_fields": opt_fields}, limit=limit
        ):
            yield from page

    def me(self) -> AsanaUser:
        """The token's user: the cheapest proof that the token works."""
        user = self._one("Asana token", self._http.users.get_user, "me", opt_fields="name,email")
        return AsanaUser(str(user["gid"]), str(user.get("name") or ""), user.get("email"))

    def workspaces(self) -> list[tuple[str, str]]:
        return [
            (str(w["gid"]), str(w.get("name") or ""))
            for w in self._all("Asana workspaces", self._http.workspaces.get_workspaces, opt_fields="name")
        ]

    def projects(self, workspace: str) -> list[AsanaProject]:
        """The workspace's projects (names only; `project` reads one in full)."""
        listing = self._http.pages(
            self.requests,
            f"Asana workspace {workspace}",
            self._http.projects.get_projects,
            opts={"workspace": workspace, "opt_fields": "name,archived"},
        )
        return [
            AsanaProject(str(p["gid"]), str(p.get("name") or ""), bool(p.get("archived")))
            for page, _ in listing
            for p in page
        ]

    def project(self, gid: str) -> AsanaProject:
        """One project with its enum custom fields (and their options) and its sections."""
        record = self._one(
            f"Asana project {gid}",
            self._http.projects.get_project,
            gid,
            opt_fields="name,archived,custom_field_settings.custom_field.name,"
            "custom_field_settings.custom_field.type,custom_field_settings.custom_field.enum_options.name",
        )
        fields = []
        for setting in record.get("custom_field_settings") or []:
            cf = setting.get("custom_field") or {}
            if cf.get("type") == "enum":
                options = tuple(str(o.get("name")) for o in cf.get("enum_options") or [] if o.get("name"))
                fields.append(EnumField(str(cf.get("gid")), str(cf.get("name") or ""), options))
        sections = tuple(
            str(s.get("name") or "")
            for s in self._all(
                f"Asana project {gid}", self._http.sections.get_sections_for_project, gid, opt_fields="name"
            )
        )
        return AsanaProject(gid, str(record.get("name") or ""), bool(record.get("archived")), tuple(fields), sections)

    def users(self, workspace: str) -> list[AsanaUser]:
        return [
            AsanaUser(str(u["gid"]), str(u.get("name") or ""), u.get("email"))
            for u in self._all(
                f"Asana workspace {workspace}",
                self._http.users.get_users_for_workspace,
                workspace,
                opt_fields="name,email",
                limit=False,
            )
        ]

    def user(self, gid: str) -> AsanaUser:
        user = self._one(f"Asana user {gid}", self._http.users.get_user, gid, opt_fields="name,email")
        return AsanaUser(str(user["gid"]), str(user.get("name") or ""), user.get("email"))

    def task(self, gid: str) -> AsanaTask:
        return _task(self._one(f"Asana task {gid}", self._http.tasks.get_task, gid, opt_fields=TASK_OPT_FIELDS))

    def project_tasks(self, gid: str) -> list[AsanaTask]:
        return [
            _task(t)
            for t in self._all(
                f"Asana project {gid}", self._http.tasks.get_tasks_for_project, gid, opt_fields=TASK_OPT_FIELDS
            )
        ]

    def teams(self, workspace: str) -> list[tuple[str, str]]:
        """(gid, name) of the workspace's teams (an organization's; a plain workspace has none)."""
        return [
            (str(t["gid"]), str(t.get("name") or ""))
            for t in self._all(
                f"Asana workspace {workspace}", self._http.teams.get_teams_for_workspace, workspace, opt_fields="name"
            )
        ]

    def portfolios(self, workspace: str) -> list[tuple[str, str]]:
        """(gid, name) of the portfolios the token's user owns (Asana lists no others)."""
        listing = self._http.pages(
            self.requests,
            f"Asana workspace {workspace}",
            self._http.portfolios.get_portfolios,
            workspace,
            opts={"owner": "me", "opt_fields": "name"},
        )
        return [(str(p["gid"]), str(p.get("name") or "")) for page, _ in listing for p in page]

    def portfolio(self, gid: str) -> str:
        return str(self._one(f"Asana portfolio {gid}", self._http.portfolios.get_portfolio, gid, opt_fields="name").get("name"))

    def team(self, gid: str) -> str:
        return str(self._one(f"Asana team {gid}", self._http.teams.get_team, gid, opt_fields="name").get("name"))


@dataclass(frozen=True, slots=True)
class SlackIdentity:
    team: str
    url: str
    bot_user_id: str
    scopes: tuple[str, ...] | None  # None: the answer did not say (X-OAuth-Scopes missing)


@dataclass(frozen=True, slots=True)
class SlackChannel:
    id: str
    name: str
    is_private: bool
    is_member: bool
    is_archived: bool


@dataclass(frozen=True, slots=True)
class SlackUser:
    id: str
    name: str
    email: str | None
    timezone: str | None


class SlackWorkspaceReader:
    """Read-only questions to Slack through slack-sdk."""

    def __init__(self, *, token: str, base_url: str, timeout: float = 30.0, client: WebClient | None = None) -> None:
        self._client = client or make_web_client(token, base_url, timeout=timeout, max_retries=2)

    def _call(self, where: str, method: str, **params: Any) -> Any:
        try:
            return self._client.api_call(method, params=params)
        except Exception as exc:  # slack-sdk raises several types; each becomes one line
            error = describe_transport_error(exc, where=where)
            if error is None:
                raise
            raise error from None

    def identity(self) -> SlackIdentity:
        """auth.test: the token works, which workspace and bot it is, and (from the answer's
        X-OAuth-Scopes header, as Slack sends it) the scopes it was granted."""
        answer = self._call("token", "auth.test")
        headers = {k.lower(): v for k, v in (answer.headers or {}).items()}
        raw = headers.get("x-oauth-scopes")
        if isinstance(raw, list):
            raw = ",".join(raw)
        scopes = tuple(s.strip() for s in raw.split(",") if s.strip()) if raw is not None else None
        return SlackIdentity(
            team=str(answer.get("team") or ""),
            url=str(answer.get("url") or ""),
            bot_user_id=str(answer.get("user_id") or ""),
            scopes=scopes,
        )

    def _pages(self, where: str, method: str, key: str, **params: Any) -> Iterator[dict[str, Any]]:
        cursor: str | None = None
        while True:
            answer = self._call(where, method, limit=200, **params, **({"cursor": cursor} if cursor else {}))
            yield from answer.get(key) or []
            cursor = (answer.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return

    def channels(self, *, private: bool = True) -> list[SlackChannel]:
        types = "public_channel,private_channel" if private else "public_channel"
        return [
            SlackChannel(
                id=str(c["id"]),
                name=str(c.get("name") or ""),
                is_private=bool(c.get("is_private")),
                is_member=bool(c.get("is_member")),
                is_archived=bool(c.get("is_archived")),
            )
            for c in self._pages("channels", "conversations.list", "channels", types=types)
        ]

    def users(self) -> list[SlackUser]:
        """People (bots, deactivated accounts and Slackbot left out)."""
        return [
            SlackUser(
                id=str(u["id"]),
                name=str((u.get("profile") or {}).get("real_name") or u.get("real_name") or u.get("name") or ""),
                email=(u.get("profile") or {}).get("email"),
                timezone=u.get("tz"),
            )
            for u in self._pages("users", "users.list", "members")
            if not u.get("is_bot") and not u.get("deleted") and u.get("id") != "USLACKBOT"
        ]

    def lookup_email(self, email: str) -> SlackUser | None:
        try:
            answer = self._client.api_call("users.lookupByEmail", params={"email": email})
        except SlackApiError as exc:
            if (exc.response or {}).get("error") == "users_not_found":
                return None
            raise describe_transport_error(exc, where=f"user {email}") or exc from None
        u = answer.get("user") or {}
        return SlackUser(str(u.get("id")), str(u.get("real_name") or ""), email, u.get("tz"))


def missing_slack_scopes(granted: tuple[str, ...], *, private_channels: bool) -> list[str]:
    needed = [*SLACK_SCOPES, *(SLACK_PRIVATE_SCOPES if private_channels else ())]
    return [s for s in needed if s not in granted]
