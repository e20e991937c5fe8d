"""A source that exists only in the tests: a tracker whose items are listed in its own config
section (`[sources.tracker] items = [...]`). It proves the plugin seam: it is registered with
one `RECONCILER_SOURCES` entry, and no other package knows it."""

from tests.fake_source.source import plugin

__all__ = ["plugin"]
