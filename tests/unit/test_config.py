from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.protocol import ConfigError, config_problems, load_config, parse_duration, read_config_data

DEMO = Path(__file__).resolve().parents[2] / "reconciler" / "examples" / "demo.toml"


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "reconciler.toml"
    path.write_text(body)
    return path


def test_demo_config_is_valid() -> None:
    config = load_config(DEMO)
    assert config.deliverable("checkout-v2").owner == "alice"
    assert config.role_for(config.deliverable("launch-campaign")).name == "marketing"
    assert config.role_for(config.deliverable("search")).name == "engineering"
    index = config.deliverable_index()
    assert index.linked("asana")["3001"] == "checkout-v2"
    assert index.by_alias["#checkout"] == "checkout-v2"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('[[deliverables]]\nkey = "a"\nowner = "zed"\n', "deliverables[0].owner: unknown person 'zed'"),
        ('[[deliverables]]\nkey = "A B"\n', "deliverables[0].key: use lowercase"),
        ('[[deliverables]]\nkey = "a"\ndepends_on = ["b"]\n', "deliverables[0].depends_on: unknown deliverable 'b'"),
        ('timezone = "Mars/Olympus"\n', "timezone: unknown time zone 'Mars/Olympus'"),
        ('[alerts]\nrepeat_interval = "soon"\n', "alerts.repeat_interval: not a duration: 'soon'"),
        ('[asana]\nstatus_map = { "Green" = "fine" }\n', "asana.status_map.Green: Input should be"),
        ('[asana]\nprojetcs = ["1"]\n', "asana.projetcs: unknown field (did you mean 'projects'?)"),
        (
            '[[deliverables]]\nkey = "a"\naliases = ["x"]\n[[deliverables]]\nkey = "b"\naliases = ["X"]\n',
            "deliverables[1].aliases: 'X' already names deliverable 'a'",
        ),
        ("this is = = not toml", "not valid TOML"),
        ('[[deliverable_rules]]\nprojects = ["1"]\nrole = "eng"\n', "deliverable_rules[0].role: unknown role 'eng'"),
        ('[[deliverable_rules]]\nprojects = ["1"]\nowner_from = "asignee"\n', "deliverable_rules[0].owner_from: Input should be 'assignee' (did you mean 'assignee'?)"),
        ("[[deliverable_rules]]\nprojects = []\n", "deliverable_rules[0].projects: List should have at least 1 item"),
        (
            '[[people]]\nkey = "a"\nname = "A"\nslack_id = "U1"\nids = { slack = "U2" }\n',
            "people[0]: slack_id 'U1' and ids.slack 'U2' disagree",
        ),
        ('[[people]]\nkey = "a"\nname = "A"\nids = { slack = " " }\n', "people[0].ids: 'slack': give a non-empty id"),
    ],
)
def test_bad_config_is_one_line_naming_file_and_field(tmp_path: Path, body: str, expected: str) -> None:
    path = write(tmp_path, body)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert expected in message
    assert "\n" not in message


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml")


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("15m", 900), ("24h", 86400), ("2d", 172800), ("1w", 604800)])
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text).total_seconds() == seconds


def test_parse_duration_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("2 days")


EVERYTHING_WRONG = """
timezone = "Europe/Berln"
default_role = "enginering"
[asana]
projetcs = ["1"]
status_map = { "Green" = "on_trak" }
[slack]
budget = "internl"
channel_defaults = { launches = "checkout" }
[[people]]
key = "alice"
name = "Alice"
[[roles]]
name = "engineering"
lead = "alcie"
escalation = [{ after = "1h", to = "heda" }]
[[deliverables]]
key = "checkout-v2"
owner = "alcie"
role = "enginering"
depends_on = ["payments"]
[alerts]
group_wait = "soon"
"""


def test_config_problems_lists_every_problem_with_the_closest_valid_value(tmp_path: Path) -> None:
    problems = config_problems(read_config_data(write(tmp_path, EVERYTHING_WRONG)))
    found = {p.field: (p.message, p.suggestion) for p in problems}
    assert found == {
        "timezone": ("unknown time zone 'Europe/Berln' (did you mean 'Europe/Berlin'?)", None),
        "asana.projetcs": ("unknown field", "projects"),
        "asana.status_map.Green": (
            "Input should be 'not_started', 'on_track', 'at_risk', 'blocked', 'done' or 'cancelled'",
            "on_track",
        ),
        "slack.budget": ("Input should be 'internal' or 'marketplace_limited'", "internal"),
        "alerts.group_wait": ("not a duration: 'soon' (use e.g. 30m, 24h, 2d)", None),
        "deliverables[0].owner": ("unknown person 'alcie'", "alice"),
        "deliverables[0].role": ("unknown role 'enginering'", "engineering"),
        "deliverables[0].depends_on": ("unknown deliverable 'payments'", None),
        "roles[0].lead": ("unknown person 'alcie'", "alice"),
        "roles[0].escalation[0].to": ("unknown person 'heda'", "head"),
        "default_role": ("unknown role 'enginering'", "engineering"),
        "slack.channel_defaults.launches": ("unknown deliverable 'checkout'", "checkout-v2"),
    }
    assert len(problems) == len(found)


def test_load_config_names_the_first_problem_and_how_many_more(tmp_path: Path) -> None:
    path = write(tmp_path, EVERYTHING_WRONG)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == (
        f"{path}: timezone: unknown time zone 'Europe/Berln' (did you mean 'Europe/Berlin'?) "
        "(and 11 more: reconciler config check)"
    )


def test_a_valid_config_has_no_problems() -> None:
    assert config_problems(read_config_data(DEMO)) == []


def test_people_ids_read_the_older_keys_and_the_generic_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, (
        '[[people]]\nkey = "a"\nname = "A"\nslack_id = "U1"\nasana_gid = "501"\n'
        '[[people]]\nkey = "b"\nname = "B"\nids = { slack = "U2", tracker = "T-2" }\n'
        '[[people]]\nkey = "c"\nname = "C"\nslack_id = "U3"\nids = { slack = "U3", asana = "503" }\n'
    ))
    people = load_config(path).people
    assert [p.ids for p in people] == [
        {"slack": "U1", "asana": "501"}, {"slack": "U2", "tracker": "T-2"}, {"slack": "U3", "asana": "503"}]
    assert (people[0].identity("asana"), people[1].identity("asana")) == ("501", None)
