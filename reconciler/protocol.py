"""The coordination model as configuration: people, roles with zones and escalation paths,
deliverables with their decision owner (the gatekeeper map), and how source vocabulary maps onto
canonical statuses. Loaded from one TOML file and validated by pydantic."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from difflib import get_close_matches
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import (
    BaseModel,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails

from connectors.base import CanonicalStatus, DeliverableIndex, DeliverableRef
from connectors.config import Duration, StrictModel, check_duration, parse_duration
from connectors.plugin import SourcePlugin, SourceRegistry
from connectors.registry import current_sources

__all__ = [
    "Config",
    "ConfigError",
    "ConfigProblem",
    "config_problems",
    "load_config",
    "parse_duration",
]


if TYPE_CHECKING:
    from connectors.plugin import SourceRegistry

# The bundled demo team's config: what a first run without tokens or a config file uses.
EXAMPLE_CONFIG = Path(__file__).parent / "examples" / "demo.toml"


class ConfigError(Exception):
    """An invalid config file: the message is one line naming the file and the field."""


def _check_timezone(value: str | None) -> str | None:
    if value is None:
        return value
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        guess = get_close_matches(value, sorted(available_timezones()), n=1, cutoff=0.6)
        hint = f" (did you mean {guess[0]!r}?)" if guess else " (use an IANA name, e.g. Europe/Berlin)"
        raise ValueError(f"unknown time zone {value!r}{hint}") from exc
    return value



# keys a `[[people]]` entry took before `ids`, and the source each one names
LEGACY_PERSON_ID_KEYS = {"slack_id": "slack", "asana_gid": "asana"}


class PersonConfig(StrictModel):
    key: str
    name: str
    email: str | None = None
    ids: dict[str, str] = {}
    """The person's id in each source: source name (`slack`, `asana`, a registered source's
    name) -> the id there. `slack_id` / `asana_gid` are read as `ids.slack` / `ids.asana`."""
    timezone: str | None = None
    # days off, when check-ins wait: "2026-12-24" or a range "2026-12-24..2027-01-01"
    holidays: list[str] = []

    _tz = field_validator("timezone")(_check_timezone)

    @model_validator(mode="before")
    @classmethod
    def _legacy_id_keys(cls, data: Any) -> Any:
        if not isinstance(data, Mapping) or not any(k in data for k in LEGACY_PERSON_ID_KEYS):
            return data
        given = data.get("ids") or {}
        if not isinstance(given, Mapping):
            return data  # the field's own validation names the problem
        ids = dict(given)
        for key, source in LEGACY_PERSON_ID_KEYS.items():
            value = data.get(key)
            if value is None:
                continue
            if ids.get(source, value) != value:
                raise ValueError(f"{key} {value!r} and ids.{source} {ids[source]!r} disagree")
            ids[source] = value
        return {**{k: v for k, v in data.items() if k not in LEGACY_PERSON_ID_KEYS}, "ids": ids}

    @field_validator("ids")
    @classmethod
    def _ids_shape(cls, ids: dict[str, str]) -> dict[str, str]:
        for source, external_id in ids.items():
            if not source or not external_id.strip():
                raise ValueError(f"{source!r}: give a non-empty id")
        return ids

    def identity(self, source: str) -> str | None:
        """The person's id in `source`, if the file gives one."""
        return self.ids.get(str(source))

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
    links: dict[str, str] = {}
    """The item this deliverable is in other sources: link kind (a source's
    `SourcePlugin.link_kind`) -> the id there. `asana_task` is `links.asana`."""
    aliases: list[str] = []
    depends_on: list[str] = []

    def source_links(self) -> dict[str, str]:
        return {**({"asana": self.asana_task} if self.asana_task else {}), **self.links}

    @field_validator("key")
    @classmethod
    def _key_shape(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z0-9][a-z0-9._-]*", value):
            raise ValueError("use lowercase letters, digits, '.', '_' or '-'")
        return value


class DeliverableRuleConfig(StrictModel):
    """`[[deliverable_rules]]`: every Asana task of `projects` that matches all the filters given
    (in one of `sections`, carrying one of `tags`, with each `custom_field` set to the option
    named, only milestones) is a deliverable. Its key is the slug of its title, its title the
    task's name, its aliases `#<key>` and the title; a `[[deliverables]]` entry with the same key
    (or the same `asana_task`) overrides what it sets. `owner_from = "assignee"`: the Asana
    assignee (joined to `[[people]]` by Asana gid or email) owns it unless an owner is named."""

    projects: list[str] = Field(min_length=1)
    sections: list[str] = []
    tags: list[str] = []
    custom_field: dict[str, str] = {}
    milestones: bool = False
    include_completed: bool = False
    owner_from: Literal["assignee"] | None = None
    role: str | None = None


class AlertsConfig(StrictModel):
    # A first notice waits only long enough to gather what one change brings (a message naming
    # several deliverables, a sync's batch); later ones to the same person are batched by
    # group_interval. With events flowing, a first DM reaches its owner within seconds.
    group_wait: Duration = "3s"
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
    """The config file. Each registered source's section (`[asana]`, `[slack]`,
    `[sources.<name>]`, as its plugin's `section` says) is validated with the plugin's
    `config_model` together with the rest, its errors located in the file like any other;
    `source(name)` gives it."""

    timezone: str = "UTC"
    sources: dict[str, dict[str, Any]] = {}
    """`[sources.<name>]`: the section of a source registered besides the built-in ones, as
    written (validated with its plugin's model, see `source`)."""
    people: list[PersonConfig] = []
    roles: list[RoleConfig] = []
    deliverables: list[DeliverableConfig] = []
    deliverable_rules: list[DeliverableRuleConfig] = []
    alerts: AlertsConfig = AlertsConfig()
    rules: RulesConfig = RulesConfig()
    default_role: str | None = None
    admins: list[str] = []
    """Person keys who may decide any finding (besides each deliverable's owner and escalation path)."""
    slack_app: SlackAppConfig = SlackAppConfig()

    # set by `with_derived`: which deliverables came from `deliverable_rules`, whose owner is
    # the Asana assignee, and the file's own config they were derived from
    _derived_keys: frozenset[str] = PrivateAttr(default=frozenset())
    _assignee_owned: frozenset[str] = PrivateAttr(default=frozenset())
    _declared: Config | None = PrivateAttr(default=None)
    _sections: dict[str, BaseModel] = PrivateAttr(default_factory=dict)

    _tz = field_validator("timezone")(_check_timezone)

    @model_validator(mode="wrap")
    @classmethod
    def _with_source_sections(cls, data: Any, handler: ModelWrapValidatorHandler[Config]) -> Config:
        """Validate every registered source's section with its plugin's model, besides the rest
        of the file; one ValidationError lists the problems of both."""
        if not isinstance(data, Mapping):
            return handler(data)
        plugins = list(current_sources())
        top_level = {p.section_path()[0] for p in plugins if len(p.section_path()) == 1}
        errors: list[InitErrorDetails] = []
        config: Config | None = None
        try:
            config = handler({k: v for k, v in data.items() if k not in top_level})
        except ValidationError as exc:
            errors += [_relocated(e, ()) for e in exc.errors()]
        sections: dict[str, BaseModel] = {}
        for plugin in plugins:
            try:
                sections[plugin.name] = _validated_section(plugin, data)
            except ValidationError as exc:
                errors += [_relocated(e, plugin.section_path()) for e in exc.errors()]
        if errors or config is None:
            raise ValidationError.from_exception_data(cls.__name__, errors)
        config._sections = sections
        keys = [d.key for d in config.deliverables]
        problems = source_reference_problems(plugins, sections, keys)
        if problems:
            raise ValueError(problems[0].text)
        return config

    def source(self, name: str) -> Any:
        """The validated config section of the registered source `name` (an instance of its
        plugin's `config_model`; its defaults when the file has no such section)."""
        found = self._sections.get(str(name))
        if found is None:  # registered after this config was read: `[sources.<name>]` as written
            found = _validated_section(current_sources().get(name), {"sources": self.sources})
            self._sections[str(name)] = found
        return found

    def with_source(self, name: str, section: BaseModel) -> Config:
        """A copy of this config whose section of source `name` is `section`."""
        config = self.model_copy()
        config._sections = {**self._sections, str(name): section}
        return config

    @model_validator(mode="after")
    def _references_resolve(self) -> Config:
        problems = reference_problems(self._references(), SourceRegistry(()))  # sources: see _with_source_sections
        if problems:
            raise ValueError(problems[0].text)
        return self

    def _references(self) -> dict[str, object]:
        """Just the names `reference_problems` checks, as data (cheaper than a full dump)."""
        return {
            "people": [{"key": p.key} for p in self.people],
            "roles": [
                {"name": r.name, "lead": r.lead, "head": r.head, "escalation_contact": r.escalation_contact,
                 "escalation": [{"to": level.to} for level in r.escalation]}
                for r in self.roles
            ],
            "deliverables": [
                {"key": d.key, "owner": d.owner, "role": d.role, "depends_on": d.depends_on, "aliases": d.aliases}
                for d in self.deliverables
            ],
            "deliverable_rules": [{"role": r.role} for r in self.deliverable_rules],
            "admins": list(self.admins),
            "default_role": self.default_role,
        }

    # -- deliverables derived from rules ---------------------------------------------------

    @property
    def declared(self) -> Config:
        """The config as the file says it, before any rule-derived deliverables."""
        return self._declared or self

    @property
    def rules_unresolved(self) -> bool:
        """It has `deliverable_rules` whose deliverables have not been derived (no Asana yet)."""
        return bool(self.deliverable_rules) and self._declared is None

    def owner_origin(self, key: str) -> str:
        """Where a deliverable's owner in this config comes from: `asana:assignee` or `config`."""
        return "asana:assignee" if key in self._assignee_owned else "config"

    def rule_projects(self) -> list[str]:
        """The projects `deliverable_rules` read (synced like `[asana] projects`)."""
        return list(dict.fromkeys(p for rule in self.deliverable_rules for p in rule.projects))

    def derived_from_rule(self, key: str) -> bool:
        return key in self._derived_keys

    def with_derived(self, derived: Sequence[DeliverableConfig], *, assignee_owned: Iterable[str] = ()) -> Config:
        """This config plus deliverables derived from `deliverable_rules`: a `[[deliverables]]`
        entry for the same task replaces a derived one, one with the same key overrides the
        fields it sets; a derived alias another deliverable already uses is dropped."""
        declared = self.declared
        merged, keys, owned = _merge_derived(declared.deliverables, derived, set(assignee_owned))
        config = declared.model_copy(update={"deliverables": merged})
        config._derived_keys = frozenset(keys)
        config._assignee_owned = frozenset(owned)
        config._declared = declared
        return config

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
            DeliverableRef(key=d.key, links=d.source_links(), aliases=tuple(d.aliases))
            for d in self.deliverables
        ]
        defaults = {
            partition: key
            for plugin in current_sources()
            for partition, key in plugin.partition_defaults(self.source(plugin.name)).items()
        }
        return DeliverableIndex.build(refs, channel_defaults=defaults)


# -- every problem in one pass ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One thing wrong in the config file: where (`deliverables[2].owner`), what, and the
    closest valid value when there is one."""

    field: str
    message: str
    suggestion: str | None = None

    @property
    def text(self) -> str:
        hint = f" (did you mean {self.suggestion!r}?)" if self.suggestion else ""
        where = f"{self.field}: " if self.field else ""
        return f"{where}{self.message}{hint}"


def _closest(value: object, valid: Iterable[str]) -> str | None:
    if not isinstance(value, str):
        return None
    matches = get_close_matches(value, list(valid), n=1, cutoff=0.6)
    return matches[0] if matches else None


def config_problems(data: Mapping[str, object]) -> list[ConfigProblem]:
    """Every problem in the file at once: each field that does not validate, then each
    reference (an owner, role, dependency, alias) that does not resolve."""
    problems: list[ConfigProblem] = []
    try:
        Config.model_validate(data)
    except ValidationError as exc:
        problems += [_field_problem(error) for error in exc.errors() if error["loc"]]
    problems += [p for p in reference_problems(data) if p not in problems]
    return problems


def _field_problem(error: Any) -> ConfigProblem:
    loc = tuple(error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    suggestion: str | None = None
    if error["type"] == "extra_forbidden":
        message = "unknown field"
        model = _model_at(loc[:-1])
        suggestion = _closest(loc[-1], model.model_fields) if model else None
    elif error["type"] in ("enum", "literal_error"):
        suggestion = _closest(error.get("input"), re.findall(r"'([^']*)'", str(error["ctx"]["expected"])))
    return ConfigProblem(_location(loc), message, suggestion)


def _model_at(loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The config model that holds the field at `loc` (list indexes skipped): a source's
    section model for a field of its section."""
    model: type[BaseModel] = Config
    for plugin in current_sources():
        path = plugin.section_path()
        if loc[: len(path)] == path:
            model, loc = plugin.config_model, loc[len(path):]
            break
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        inner = _inner_model(field.annotation) if field else None
        if inner is None:
            return None
        model = inner
    return model


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _records(data: Mapping[str, object], section: str) -> list[tuple[int, Mapping[str, Any]]]:
    value = data.get(section)
    if not isinstance(value, list):
        return []
    return [(i, r) for i, r in enumerate(value) if isinstance(r, Mapping)]


def _keys(records: list[tuple[int, Mapping[str, Any]]], attr: str, section: str) -> tuple[list[str], list[ConfigProblem]]:
    seen: list[str] = []
    problems: list[ConfigProblem] = []
    for i, record in records:
        key = record.get(attr)
        if not isinstance(key, str):
            continue
        if key in seen:
            problems.append(ConfigProblem(f"{section}[{i}]", f"duplicate key {key!r}"))
        else:
            seen.append(key)
    return seen, problems


def reference_problems(data: Mapping[str, object], sources: SourceRegistry | None = None) -> list[ConfigProblem]:
    """Every name in the file that should name a person, role or deliverable and does not.
    Works on the raw data, so it runs even when other fields are invalid (a source's section
    only when it is valid itself)."""
    sources = sources if sources is not None else current_sources()
    people_records = _records(data, "people")
    role_records = _records(data, "roles")
    deliverable_records = _records(data, "deliverables")
    people, problems = _keys(people_records, "key", "people")
    roles, more = _keys(role_records, "name", "roles")
    problems += more
    deliverables, more = _keys(deliverable_records, "key", "deliverables")
    problems += more

    def unknown(where: str, noun: str, value: object, valid: list[str]) -> None:
        if isinstance(value, str) and value not in valid:
            problems.append(ConfigProblem(where, f"unknown {noun} {value!r}", _closest(value, valid)))

    for i, d in deliverable_records:
        unknown(f"deliverables[{i}].owner", "person", d.get("owner"), people)
        unknown(f"deliverables[{i}].role", "role", d.get("role"), roles)
        for dep in d.get("depends_on") or []:
            unknown(f"deliverables[{i}].depends_on", "deliverable", dep, deliverables)
    for i, r in role_records:
        for attr in ("lead", "head", "escalation_contact"):
            unknown(f"roles[{i}].{attr}", "person", r.get(attr), people)
        levels = r.get("escalation")
        for j, level in enumerate(levels if isinstance(levels, list) else []):
            to = level.get("to") if isinstance(level, Mapping) else None
            if to not in ("owner", "lead", "head"):
                unknown(f"roles[{i}].escalation[{j}].to", "person", to, ["owner", "lead", "head", *people])
    for i, rule in _records(data, "deliverable_rules"):
        unknown(f"deliverable_rules[{i}].role", "role", rule.get("role"), roles)
    admins = data.get("admins")
    for i, admin in enumerate(admins if isinstance(admins, list) else []):
        unknown(f"admins[{i}]", "person", admin, people)
    unknown("default_role", "role", data.get("default_role"), roles)
    problems += source_reference_problems(sources, _readable_sections(sources, data), deliverables)
    problems += _alias_problems(deliverable_records)
    return problems


def source_reference_problems(
    plugins: Iterable[SourcePlugin], sections: Mapping[str, BaseModel], deliverables: Sequence[str]
) -> list[ConfigProblem]:
    """Every deliverable a source's section names (`SourcePlugin.deliverable_refs`) that is not
    one, located in the file (`slack.channel_defaults.launches`)."""
    problems: list[ConfigProblem] = []
    for plugin in plugins:
        section = sections.get(plugin.name)
        if section is None:
            continue
        where = ".".join(plugin.section_path())
        for field, key in plugin.deliverable_refs(section).items():
            if key not in deliverables:
                problems.append(ConfigProblem(f"{where}.{field}", f"unknown deliverable {key!r}", _closest(key, deliverables)))
    return problems


def _validated_section(plugin: SourcePlugin, data: Mapping[str, Any]) -> BaseModel:
    """The plugin's section of the file's `data`, validated with its model (its defaults when
    the file has none); a ValidationError located inside the section."""
    raw = _raw_section(plugin, data)
    return plugin.config_model.model_validate({} if raw is None else raw)


def _raw_section(plugin: SourcePlugin, data: Mapping[str, Any]) -> Any:
    raw: Any = data
    for part in plugin.section_path():
        raw = raw.get(part) if isinstance(raw, Mapping) else None
    return raw


def _relocated(error: Any, prefix: tuple[str, ...]) -> InitErrorDetails:
    """A validation error of a section, located from the top of the file."""
    return InitErrorDetails(
        type=error["type"], loc=(*prefix, *error["loc"]), input=error.get("input"), ctx=error.get("ctx", {})
    )


def _readable_sections(sources: SourceRegistry, data: Mapping[str, Any]) -> dict[str, BaseModel]:
    """Each source's section, its invalid fields left out (so the references of the valid ones
    are still checked); a section that is not a table at all is left out."""
    readable: dict[str, BaseModel] = {}
    for plugin in sources:
        try:
            readable[plugin.name] = _validated_section(plugin, data)
        except ValidationError as exc:
            raw = _raw_section(plugin, data)
            wrong = {e["loc"][0] for e in exc.errors() if e["loc"]}
            if not isinstance(raw, Mapping):
                continue
            try:
                readable[plugin.name] = plugin.config_model.model_validate({k: v for k, v in raw.items() if k not in wrong})
            except ValidationError:
                continue
    return readable


def _alias_problems(records: list[tuple[int, Mapping[str, Any]]]) -> list[ConfigProblem]:
    owner_of: dict[str, str] = {}
    problems: list[ConfigProblem] = []
    for i, d in records:
        key = d.get("key")
        aliases = d.get("aliases")
        for alias in (key, *(aliases if isinstance(aliases, list) else [])):
            if not isinstance(alias, str) or not isinstance(key, str):
                continue
            other = owner_of.setdefault(alias.lower(), key)
            if other != key:
                problems.append(
                    ConfigProblem(f"deliverables[{i}].aliases", f"{alias!r} already names deliverable {other!r}")
                )
    return problems


def _merge_derived(
    explicit: Sequence[DeliverableConfig], derived: Sequence[DeliverableConfig], assignee_owned: set[str]
) -> tuple[list[DeliverableConfig], set[str], set[str]]:
    by_task = {d.asana_task for d in explicit if d.asana_task}
    overrides = {d.key: d for d in explicit}
    merged = list(explicit)
    used = {a.lower() for d in explicit for a in (d.key, *d.aliases)}
    keys: set[str] = set()
    owned: set[str] = set()
    for d in derived:
        if d.asana_task in by_task or d.key in keys:
            continue
        override = overrides.get(d.key)
        if override is not None:
            written = override.model_dump(include=override.model_fields_set)
            combined = DeliverableConfig(**{**d.model_dump(), **written})
            merged[merged.index(override)] = combined
            if "owner" not in written and d.key in assignee_owned:
                owned.add(d.key)
        else:
            aliases = [a for a in d.aliases if a.lower() not in used]
            used.update(a.lower() for a in (d.key, *aliases))
            merged.append(d.model_copy(update={"aliases": aliases}))
            if d.key in assignee_owned:
                owned.add(d.key)
        keys.add(d.key)
    return merged, keys, owned


def _location(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def parse_config(data: Mapping[str, object], *, origin: str = "<config>") -> Config:
    """The validated config; an invalid one is a `ConfigError` naming its first problem (and how
    many more `reconciler config check` would list)."""
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        problems = config_problems(data) or [ConfigProblem("", str(exc.errors()[0]["msg"]))]
    more = f" (and {len(problems) - 1} more: reconciler config check)" if len(problems) > 1 else ""
    raise ConfigError(f"{origin}: {problems[0].text}{more}")


def read_config_data(path: Path) -> dict[str, object]:
    """The file's TOML as data; a missing, unreadable or malformed file is a `ConfigError`."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc.strerror})") from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None


def load_config(path: Path) -> Config:
    """Read and validate the config file; any problem is one `ConfigError` line."""
    return parse_config(read_config_data(path), origin=str(path))


def check_source_sections(sources: SourceRegistry, config: Config, *, origin: str) -> None:
    """No `[sources.<name>]` names a source that is not registered, and every deliverable's
    `links` name a kind a registered source links by (one `ConfigError` line if not). The
    sections themselves were validated with the config (`Config.source`)."""
    for name in config.sources:
        if name not in sources:
            raise ConfigError(f"{origin}: sources.{name}: no source named {name!r} is registered")
    kinds = {p.link_kind for p in sources if p.link_kind}
    for i, deliverable in enumerate(config.deliverables):
        for kind in deliverable.links:
            if kind not in kinds:
                known = ", ".join(sorted(kinds)) or "none"
                raise ConfigError(f"{origin}: deliverables[{i}].links.{kind}: no source links deliverables by {kind!r} (known: {known})")
    check_people_ids(sources, config, origin=origin)


def check_people_ids(sources: SourceRegistry, config: Config, *, origin: str) -> None:
    """Every `[[people]] ids.<source>` names a registered source, and no two people share an id
    in one source (one `ConfigError` line if not)."""
    owner_of: dict[tuple[str, str], str] = {}
    for i, person in enumerate(config.people):
        for source, external_id in person.ids.items():
            if source not in sources:
                known = ", ".join(sources.names()) or "none"
                raise ConfigError(f"{origin}: people[{i}].ids.{source}: no source named {source!r} is registered (known: {known})")
            other = owner_of.setdefault((source, external_id), person.key)
            if other != person.key:
                raise ConfigError(f"{origin}: people[{i}].ids.{source}: {external_id!r} is already {other}'s id")
