from __future__ import annotations

import tomllib

import pytest

from connectors.base import CanonicalStatus
from connectors.workspace import AsanaProject, AsanaUser, EnumField, SlackChannel, SlackUser
from reconciler.onboarding import Choices, join_people, propose_status, render_config, status_fields
from reconciler.protocol import Config, config_problems


@pytest.mark.parametrize(
    ("option", "status"),
    [
        ("On track", CanonicalStatus.ON_TRACK),
        ("In Progress", CanonicalStatus.ON_TRACK),
        ("🟡 At risk", CanonicalStatus.AT_RISK),
        ("Waiting on vendor", CanonicalStatus.BLOCKED),
        ("Shipped", CanonicalStatus.DONE),
        ("Backlog", CanonicalStatus.NOT_STARTED),
        ("Won't do", CanonicalStatus.CANCELLED),
        ("Purple", None),
    ],
)
def test_status_map_proposed_from_option_names(option: str, status: CanonicalStatus | None) -> None:
    assert propose_status(option) == status


def test_people_joined_by_email_with_unique_keys() -> None:
    people = join_people(
        [AsanaUser("501", "Alice Ng", "Alice@acme.test"), AsanaUser("502", "Al Other", "alice@other.test")],
        [SlackUser("U1", "alice", "alice@acme.test", "Europe/Berlin"), SlackUser("U9", "Nomail", None, None)],
    )
    assert [(p.key, p.name, p.ids, p.timezone) for p in people] == [
        ("alice", "Alice Ng", {"slack": "U1", "asana": "501"}, "Europe/Berlin"),
        ("alice-at-other-test", "Al Other", {"asana": "502"}, None),
    ]


def test_the_rendered_config_is_valid_and_says_what_it_could_not_tell() -> None:
    status = EnumField("700", "Status", ("On track", "Purple"))
    project = AsanaProject("2001", "Launch \"Q4\"", enum_fields=(status, EnumField("800", "Priority", ("P1",))), sections=("Done",))
    people = join_people([AsanaUser("501", "Alice", "alice@acme.test")], [SlackUser("U1", "Alice", "alice@acme.test", None)])
    choices = Choices(
        workspace="1000",
        projects=[project],
        status_field="Status",
        channels=[SlackChannel("C1", "launches", False, True, False)],
        people=people,
        lead="alice",
        status_map={"On track": CanonicalStatus.ON_TRACK, "Purple": None},
    )
    text = render_config(choices)
    data = tomllib.loads(text)
    assert config_problems(data) == []
    config = Config.model_validate(data)
    assert config.source("asana").status_map == {"On track": CanonicalStatus.ON_TRACK}
    assert '# "Purple" = "?"' in text and "# Launch \"Q4\"" in text
    assert config.deliverable_rules[0].owner_from == "assignee" and config.roles[0].lead == "alice"
    assert config.people[0].ids == {"slack": "U1", "asana": "501"}
    assert status_fields([project]) == ["Status", "Priority"]
