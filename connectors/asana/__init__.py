"""The Asana source package; exports its one `plugin` (connectors/asana/source.py)."""

from connectors.asana.source import plugin

__all__ = ["plugin"]
