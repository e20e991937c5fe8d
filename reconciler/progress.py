"""How far a sync has got and how long the rest takes under the configured API budget.

A first (full) read reports the share of its partition done after each batch (`SyncBatch.progress`;
the Slack connector measures it by how far back in the channel's life it has read). What is left
of a partition is its requests so far scaled by what remains (`requests × (1 − p) / p`), and the
time left is that, per source, over the budget its plugin names (`first_read_per_minute`: Asana
`[asana] requests_per_minute`, Slack the 50 requests a minute of its history and replies methods,
Tier 3; 1 a minute with `budget = "marketplace_limited"`). The sources are read side by side, so the estimate is the
longest of them. Slack's history and replies have a budget each; counting them as one
overestimates a crawl by its share of history pages (about 3 % on a busy workspace).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from connectors.base import SourceName
from connectors.plugin import SourceRegistry

Budgets = Mapping[str, float | None]  # source name -> requests a minute a first read may spend


def first_read_budgets(sources: SourceRegistry, config: Any) -> dict[str, float | None]:
    """Each registered source's first-read budget under `config`."""
    return {plugin.name: plugin.first_read_per_minute(config.source(plugin.name)) for plugin in sources}


@dataclass(frozen=True)
class PartitionProgress:
    source: SourceName
    partition: str
    requests: int
    first_read: bool  # it had no cursor, or its connector is still reading its whole history
    progress: float | None  # share of a first read done; None: not said
    finished: bool

    def requests_left(self) -> int | None:
        """0 for a finished partition or an ordinary run (a handful of requests); None for a
        first read that has not said how far it is."""
        if self.finished or not self.first_read:
            return 0
        if self.progress is None or self.progress <= 0.0:
            return None
        if self.progress >= 1.0:
            return 0
        return round(self.requests * (1.0 - self.progress) / self.progress)


@dataclass(frozen=True)
class Estimate:
    requests_done: int
    requests_left: int | None  # None: some partition cannot say yet
    seconds_left: float | None
    unknown: tuple[str, ...] = ()  # "source partition" of those that cannot say

    def to_json(self) -> dict[str, object]:
        return {
            "requests_done": self.requests_done,
            "requests_left": self.requests_left,
            "seconds_left": None if self.seconds_left is None else round(self.seconds_left, 1),
            "unknown": list(self.unknown),
        }


def estimate(parts: Iterable[PartitionProgress], *, budgets: Budgets) -> Estimate:
    """The requests and seconds left for `parts` under the budget; the seconds are those of the
    partitions that can say (and None only if none of the unfinished ones can)."""
    done = 0
    left: dict[SourceName, int] = {}
    unknown: list[str] = []
    for part in parts:
        done += part.requests
        remaining = part.requests_left()
        if remaining and not budgets.get(str(part.source)):
            remaining = None  # a source whose budget is not known here
        if remaining is None:
            unknown.append(f"{part.source} {part.partition}")
            continue
        left[part.source] = left.get(part.source, 0) + remaining
    known = [n / (budgets.get(str(source)) or 1.0) * 60.0 for source, n in left.items() if n]
    seconds = max(known, default=0.0) if known or not unknown else None
    total_left = None if unknown else sum(left.values())
    return Estimate(done, total_left, seconds, tuple(unknown))


def format_duration(seconds: float) -> str:
    """`2 h 05 min`, `12 min`, `40 s`."""
    whole = int(round(seconds))
    if whole < 60:
        return f"{whole} s"
    minutes = whole // 60
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


class Tracker:
    """The latest report of each partition of a sync (fed from the sync threads' batch hooks)."""

    def __init__(self, *, budgets: Budgets):
        self._budgets = budgets
        self._parts: dict[tuple[SourceName, str], PartitionProgress] = {}
        self._lock = threading.Lock()

    def update(self, report: Any) -> None:
        """`report`: a `pipeline.SyncReport` (anything with `progress_view()`)."""
        part: PartitionProgress = report.progress_view()
        with self._lock:
            self._parts[(part.source, part.partition)] = part

    def estimate(self) -> Estimate:
        with self._lock:
            parts = list(self._parts.values())
        return estimate(parts, budgets=self._budgets)

    def crawling(self) -> bool:
        with self._lock:
            return any(p.first_read and not p.finished for p in self._parts.values())

    def summary(self) -> str | None:
        """One line for a terminal while a first read goes on; None otherwise."""
        if not self.crawling():
            return None
        found = self.estimate()
        if found.seconds_left is None:
            return f"first read: {found.requests_done:,} requests so far, time left not known yet"
        left = f"about {format_duration(found.seconds_left)} left under the API budget"
        if found.unknown:
            left += f" (not counting {', '.join(found.unknown)})"
        return f"first read: {found.requests_done:,} requests so far, {left}"
