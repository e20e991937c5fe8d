"""Local stand-in for the Asana REST API 1.0 and the Slack Web API (see README.md)."""

from .asana_api import AsanaState
from .scenario import Scenario, bundled_scenario_path, load_scenario, parse_scenario
from .server import ENDPOINT_KEYS, FAULT_KINDS, Sandbox
from .slack_api import SlackState

__all__ = [
    "ENDPOINT_KEYS",
    "FAULT_KINDS",
    "AsanaState",
    "Sandbox",
    "Scenario",
    "SlackState",
    "bundled_scenario_path",
    "load_scenario",
    "parse_scenario",
]
