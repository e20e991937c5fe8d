from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.protocol import ConfigError, load_config, parse_duration

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
    assert index.by_asana_gid["3001"] == "checkout-v2"
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
        ('[asana]\nprojetcs = ["1"]\n', "asana.projetcs: Extra inputs are not permitted"),
        (
            '[[deliverables]]\nkey = "a"\naliases = ["x"]\n[[deliverables]]\nkey = "b"\naliases = ["X"]\n',
            "deliverables[1].aliases: 'X' already names deliverable 'a'",
        ),
        ("this is = = not toml", "not valid TOML"),
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
