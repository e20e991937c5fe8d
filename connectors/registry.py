"""The one list of sources. Each entry names a source package's plugin (`module:attribute`);
they are imported when a registry is built, so nothing above `connectors` names a concrete
source. More can be added without changing code with `RECONCILER_SOURCES` (comma-separated
`module:attribute` entries; a test source is registered that way)."""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable
from functools import lru_cache

from connectors.plugin import SourcePlugin, SourceRegistry

BUILT_IN: tuple[str, ...] = (
    "connectors.asana:plugin",
    "connectors.slack:plugin",
)

EXTRA_VARIABLE = "RECONCILER_SOURCES"


class RegistryError(ValueError):
    pass


def load_plugin(entry: str) -> SourcePlugin:
    """The plugin `module:attribute` names; a one-line error if it does not."""
    module_name, _, attribute = entry.strip().partition(":")
    if not module_name or not attribute:
        raise RegistryError(f"{EXTRA_VARIABLE}: {entry!r} is not module:attribute")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise RegistryError(f"{EXTRA_VARIABLE}: cannot import {module_name} ({exc})") from None
    plugin = getattr(module, attribute, None)
    if not isinstance(plugin, SourcePlugin):
        raise RegistryError(f"{EXTRA_VARIABLE}: {entry} is not a SourcePlugin")
    return plugin


def extra_entries() -> list[str]:
    return [e for e in os.environ.get(EXTRA_VARIABLE, "").split(",") if e.strip()]


def load_sources(entries: Iterable[str] | None = None) -> SourceRegistry:
    """The built-in sources plus `entries` (default: those of RECONCILER_SOURCES)."""
    wanted = [*BUILT_IN, *(extra_entries() if entries is None else entries)]
    return SourceRegistry(load_plugin(e) for e in dict.fromkeys(wanted))


@lru_cache(maxsize=8)
def _sources_for(entries: tuple[str, ...]) -> SourceRegistry:
    return load_sources(entries)


def current_sources() -> SourceRegistry:
    """The registry as the environment sets it now, built once per distinct setting."""
    return _sources_for(tuple(extra_entries()))


def ref_scope(source: str, source_ref: str) -> str:
    """What `source_ref` names as its source's plugin says (`SourcePlugin.ref_kind`): `item`,
    or `project` for a claim that speaks for a whole project."""
    return current_sources().ref_kind(source, source_ref)
