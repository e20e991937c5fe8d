"""The coordination model as configuration: people, roles with zones and escalation paths,
deliverables with their decision owner (the gatekeeper map), and how source vocabulary maps onto
canonical statuses. Loaded from one TOML file and validated by pydantic."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator, model_validator

from connectors.base import CanonicalStatus, DeliverableIndex, DeliverableRef
from connectors.config import (
    AsanaConfig,
    Duration,
    SlackConfig,
    StrictModel,
    check_duration,
    parse_duration,
)

__all__ = ["AsanaConfig", "Config", "ConfigError", "SlackConfig", "load_config", "parse_duration"]


class ConfigError(Exception):
    """An invalid config file: the message is one line naming the file and the field."""


def _check_timezone(value: str | None) -> str | None:
    if value is None:
        return value
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r}") from exc
    return value



class PersonConfig(StrictModel):
    key: str
    name: str
    email: str | None = None
    slack_id: str | None = None
    asana_gid: str | None = None
    timezone: str | None = None
    # days off, when check-ins wait: "2026-12-24" or a range "2026-12-24..2027-01-01"
    holidays: list[str] = []

    _tz = field_validator("timezone")(_check_timezone)

    @field_validator("holidays")
    @classmethod
    def _holiday_shape(cls, values: list[str]) -> list[str]:
        for value in values:
            parse_holiday(value)
        return values

    def is_off(self, day: date) -> bool:
        return any(first <= day <= last for first, last in map(parse_holiday, self.holidays))


def parse_holiday(value: str) -> tuple[date, date]:
    """`2026-12-24` or `2026-12-24..2027-01-01` (both ends included) -> (first, last)."""
    first, _, last = value.partition("..")
    try:
        start, end = date.fromisoformat(first.strip()), date.fromisoformat((last or first).strip())
    except ValueError:
        raise ValueError(f"{value!r}: use YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD") from None
    if end < start:
        raise ValueError(f"{value!r}: the range ends before it starts")
    return start, end


EscalationTarget = str  # "owner", "lead", "head" or a person key


class EscalationLevel(StrictModel):
    after: Duration = "0h"
    to: EscalationTarget = "owner"
    when: Literal["always", "not_acknowledged", "not_resolved"] = "not_acknowledged"

    _after = field_validator("after")(check_duration)

    @property
    def delay(self) -> timedelta:
        return parse_duration(self.after)


def _default_escalation() -> list[EscalationLevel]:
    return [
        EscalationLevel(after="0h", to="owner", when="always"),
        EscalationLevel(after="24h", to="lead", when="not_acknowledged"),
        EscalationLevel(after="72h", to="head", when="not_resolved"),
    ]


class Zones(StrictModel):
    asana_projects: list[str] = []
    slack_channels: list[str] = []
    deliverables: list[str] = []


class RoleConfig(StrictModel):
    name: str
    lead: str | None = None
    head: str | None = None
    # who hears about a deliverable of this role that has no decision owner (else the lead)
    escalation_contact: str | None = None
    zones: Zones = Zones()
    escalation: list[EscalationLevel] = Field(default_factory=_default_escalation)


class DeliverableConfig(StrictModel):
    key: str
    title: str | None = None
    owner: str | None = None
    role: str | None = None
    asana_task: str | None = None
    aliases: list[str] = []
    depends_on: list[str] = []

    @field_validator("key")
    @classmethod
    def _key_shape(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z0-9][a-z0-9._-]*", value):
            raise ValueError("use lowercase letters, digits, '.', '_' or '-'")
        return value


class AlertsConfig(StrictModel):
    group_wait: Duration = "30s"
    group_interval: Duration = "5m"
    repeat_interval: Duration = "24h"
    ack_timeout: Duration = "48h"
    quiet_hours: str | None = "22:00-08:00"
    # stale check-ins: one digest per person and working day, at this local time
    check_in_at: str = "09:00"
    working_days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = ["mon", "tue", "wed", "thu", "fri"]

    _durations = field_validator("group_wait", "group_interval", "repeat_interval", "ack_timeout")(
        check_duration
    )

    @field_validator("check_in_at")
    @classmethod
    def _check_in_shape(cls, value: str) -> str:
        if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
            raise ValueError("use HH:MM, e.g. 09:00")
        return value

    @field_validator("working_days")
    @classmethod
    def _some_working_day(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("name at least one working day")
        return value

    @field_validator("quiet_hours")
    @classmethod
    def _quiet_shape(cls, value: str | None) -> str | None:
        if value is None or value.strip().lower() in ("", "off", "none"):
            return None
        if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d", value):
            raise ValueError("use HH:MM-HH:MM, e.g. 22:00-08:00, or \"off\"")
        return value


StatusPair = tuple[CanonicalStatus, CanonicalStatus]

DEFAULT_STATUS_CONFLICTS: list[tuple[CanonicalStatus, CanonicalStatus, str]] = [
    (CanonicalStatus.DONE, CanonicalStatus.BLOCKED, "high"),
    (CanonicalStatus.DONE, CanonicalStatus.AT_RISK, "medium"),
    (CanonicalStatus.DONE, CanonicalStatus.NOT_STARTED, "high"),
    (CanonicalStatus.ON_TRACK, CanonicalStatus.BLOCKED, "high"),
    (CanonicalStatus.ON_TRACK, CanonicalStatus.CANCELLED, "high"),
    (CanonicalStatus.NOT_STARTED, CanonicalStatus.CANCELLED, "low"),
    (CanonicalStatus.AT_RISK, CanonicalStatus.CANCELLED, "medium"),
    (CanonicalStatus.BLOCKED, CanonicalStatus.CANCELLED, "medium"),
    (CanonicalStatus.DONE, CanonicalStatus.CANCELLED, "high"),
]


class StatusConflictRule(StrictModel):
    a: CanonicalStatus
    b: CanonicalStatus
    severity: Literal["low", "medium", "high"] = "medium"


class RulesConfig(StrictModel):
    status_conflicts: list[StatusConflictRule] = Field(
        default_factory=lambda: [
            StatusConflictRule(a=a, b=b, severity=s) for a, b, s in DEFAULT_STATUS_CONFLICTS  # type: ignore[arg-type]
        ]
    )
    date_tolerance_days: int = Field(default=2, ge=0)
    stale_after_days: int | None = Field(default=7, ge=1)
    stale_due_within_days: int = Field(default=14, ge=1)
    # a broken dependency matters to a dependent due within this many days (or already done)
    dependency_horizon_days: int = Field(default=14, ge=0)
    # an overdue deliverable's finding is medium from this many days late, high from the second
    overdue_severity_days: tuple[int, int] = (3, 7)

    def severity_of(self, a: CanonicalStatus, b: CanonicalStatus) -> str | None:
        for pair in self.status_conflicts:
            if {pair.a, pair.b} == {a, b}:
                return pair.severity
        return None


class SlackAppConfig(StrictModel):
    """The Slack app (`reconciler slack-app`): what a decision taken in Slack does besides
    recording it."""

    writeback: bool = False
    """Post a Slack decision where its evidence lives, as `conflicts resolve --apply` does."""


class Config(StrictModel):
    timezone: str = "UTC"
    asana: AsanaConfig = AsanaConfig()
    slack: SlackConfig = SlackConfig()
    people: list[PersonConfig] = []
    roles: list[RoleConfig] = []
    deliverables: list[DeliverableConfig] = []
    alerts: AlertsConfig = AlertsConfig()
    rules: RulesConfig = RulesConfig()
    default_role: str | None = None
    admins: list[str] = []
    """Person keys who may decide any finding (besides each deliverable's owner and escalation path)."""
    slack_app: SlackAppConfig = SlackAppConfig()

    _tz = field_validator("timezone")(_check_timezone)

    @model_validator(mode="after")
    def _references_resolve(self) -> Config:
        people = _unique_keys("people", [p.key for p in self.people])
        roles = _unique_keys("roles", [r.name for r in self.roles])
        deliverables = _unique_keys("deliverables", [d.key for d in self.deliverables])
        for i, d in enumerate(self.deliverables):
            if d.owner is not None and d.owner not in people:
                raise ValueError(f"deliverables[{i}].owner: unknown person {d.owner!r}")
            if d.role is not None and d.role not in roles:
                raise ValueError(f"deliverables[{i}].role: unknown role {d.role!r}")
            for dep in d.depends_on:
                if dep not in deliverables:
                    raise ValueError(f"deliverables[{i}].depends_on: unknown deliverable {dep!r}")
        for i, r in enumerate(self.roles):
            for attr in ("lead", "head", "escalation_contact"):
                who = getattr(r, attr)
                if who is not None and who not in people:
                    raise ValueError(f"roles[{i}].{attr}: unknown person {who!r}")
            for j, level in enumerate(r.escalation):
                if level.to not in ("owner", "lead", "head") and level.to not in people:
                    raise ValueError(f"roles[{i}].escalation[{j}].to: unknown person {level.to!r}")
        for i, admin in enumerate(self.admins):
            if admin not in people:
                raise ValueError(f"admins[{i}]: unknown person {admin!r}")
        if self.default_role is not None and self.default_role not in roles:
            raise ValueError(f"default_role: unknown role {self.default_role!r}")
        for channel, key in self.slack.channel_defaults.items():
            if key not in deliverables:
                raise ValueError(f"slack.channel_defaults.{channel}: unknown deliverable {key!r}")
        _check_aliases_unique(self.deliverables)
        return self

    # -- lookups -------------------------------------------------------------------------

    def person(self, key: str) -> PersonConfig | None:
        return next((p for p in self.people if p.key == key), None)

    def role(self, name: str | None) -> RoleConfig | None:
        return next((r for r in self.roles if r.name == name), None)

    def deliverable(self, key: str) -> DeliverableConfig | None:
        return next((d for d in self.deliverables if d.key == key), None)

    def role_for(self, deliverable: DeliverableConfig) -> RoleConfig | None:
        """The deliverable's role as the config file alone tells it (see `role_choice`)."""
        return self.role_choice(deliverable.key)[0]

    def role_choice(
        self, key: str, *, asana_projects: Sequence[str] = (), slack_channels: Sequence[str] = ()
    ) -> tuple[RoleConfig | None, str]:
        """A deliverable's role and which rule chose it: named on the deliverable, else the role
        whose zone lists the deliverable, holds its Asana project, or holds a Slack channel it
        is discussed in (in the order given), else `default_role`."""
        conf = self.deliverable(key)
        if conf is not None and conf.role:
            return self.role(conf.role), f"named on the deliverable ({conf.role})"
        for role in self.roles:
            if key in role.zones.deliverables:
                return role, f"the {role.name} zone lists it"
        for where, places, noun in (
            ("asana_projects", asana_projects, "Asana project"),
            ("slack_channels", [c.lstrip("#") for c in slack_channels], "Slack channel"),
        ):
            for place in places:
                for role in self.roles:
                    if place in [z.lstrip("#") for z in getattr(role.zones, where)]:
                        return role, f"the {role.name} zone holds its {noun} {place}"
        if self.default_role:
            return self.role(self.default_role), f"default_role ({self.default_role})"
        return None, "no role names it, no zone holds it, and there is no default_role"

    def deliverable_index(self) -> DeliverableIndex:
        refs = [
            DeliverableRef(key=d.key, asana_task_gid=d.asana_task, aliases=tuple(d.aliases))
            for d in self.deliverables
        ]
        return DeliverableIndex.build(refs, channel_defaults=self.slack.channel_defaults)


def _unique_keys(section: str, keys: list[str]) -> set[str]:
    seen: set[str] = set()
    for i, key in enumerate(keys):
        if key in seen:
            raise ValueError(f"{section}[{i}]: duplicate key {key!r}")
        seen.add(key)
    return seen


def _check_aliases_unique(deliverables: list[DeliverableConfig]) -> None:
    owner_of: dict[str, str] = {}
    for i, d in enumerate(deliverables):
        for alias in (d.key, *d.aliases):
            other = owner_of.setdefault(alias.lower(), d.key)
            if other != d.key:
                raise ValueError(
                    f"deliverables[{i}].aliases: {alias!r} already names deliverable {other!r}"
                )


def _location(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    where = _location(tuple(first["loc"]))
    message = first["msg"].removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def parse_config(data: Mapping[str, object], *, origin: str = "<config>") -> Config:
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{origin}: {_describe(exc)}") from None


def load_config(path: Path) -> Config:
    """Read and validate the config file; any problem is one `ConfigError` line."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc.strerror})") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    return parse_config(data, origin=str(path))
