"""The Slack source package; exports its one `plugin` (connectors/slack/source.py)."""

from connectors.slack.source import plugin

__all__ = ["plugin"]
