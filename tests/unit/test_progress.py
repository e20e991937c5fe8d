"""The time left of a first sync under the configured API budget (reconciler/progress.py) and
the share of a Slack channel's history a first read has covered."""

from __future__ import annotations


from connectors.base import Source
from connectors.config import AsanaConfig, SlackConfig
from connectors.slack.connector import Crawl
from connectors.registry import load_sources
from reconciler.progress import PartitionProgress, Tracker, estimate, first_read_budgets, format_duration
from reconciler.protocol import Config

DAY = 86_400
NOW = 1_800_000_000


def budgets(asana: AsanaConfig, slack: SlackConfig) -> dict[str, float | None]:
    """The budgets the source plugins name for these sections (what `sync` and `run` use)."""
    return first_read_budgets(load_sources([]), Config().with_source("asana", asana).with_source("slack", slack))


def part(source: Source, name: str, requests: int, progress: float | None, *, first: bool = True,
         finished: bool = False) -> PartitionProgress:
    return PartitionProgress(source, name, requests, first, progress, finished)


def test_what_is_left_is_scaled_from_what_was_done_over_each_sources_budget() -> None:
    found = estimate(
        [part(Source.SLACK, "C1", 100, 0.25), part(Source.SLACK, "C2", 50, 0.5),
         part(Source.ASANA, "P1", 10, None, first=False)],  # an ordinary sync: a handful of requests
        budgets=budgets(AsanaConfig(), SlackConfig()),
    )
    assert found.requests_done == 160 and found.requests_left == 300 + 50
    assert found.seconds_left == 350 / 50 * 60  # Slack's 50 reads a minute
    assert found.unknown == ()


def test_the_sources_go_side_by_side_so_the_longest_one_counts() -> None:
    found = estimate(
        [part(Source.SLACK, "C1", 50, 0.5), part(Source.ASANA, "P1", 300, 0.1)],
        budgets=budgets(AsanaConfig(requests_per_minute=1500), SlackConfig(budget="marketplace_limited")),
    )
    assert found.seconds_left == 50 * 60.0  # Slack at 1 a minute outlasts Asana's 2,700 at 1,500


def test_a_first_read_that_cannot_say_how_far_it_is_is_named_not_guessed() -> None:
    found = estimate([part(Source.ASANA, "P1", 30, None), part(Source.SLACK, "C1", 10, 0.5)],
                     budgets=budgets(AsanaConfig(), SlackConfig()))
    assert found.requests_left is None and found.unknown == ("asana P1",)
    assert found.seconds_left == 10 / 50 * 60  # what can be said
    alone = estimate([part(Source.ASANA, "P1", 30, None)], budgets=budgets(AsanaConfig(), SlackConfig()))
    assert alone.seconds_left is None


def test_finished_partitions_have_nothing_left() -> None:
    found = estimate([part(Source.SLACK, "C1", 700, 0.4, finished=True)], budgets=budgets(AsanaConfig(), SlackConfig()))
    assert found.requests_left == 0 and found.seconds_left == 0.0


def test_a_crawls_share_is_the_time_read_back_against_the_channels_life() -> None:
    crawl = Crawl(top=f"{NOW - 60}.000100", before=f"{NOW - 10 * DAY}.000200", created=NOW - 40 * DAY)
    assert crawl.progress(NOW) == 0.25
    assert Crawl(before=f"{NOW - DAY}.000100", created=0).progress(NOW) is None  # Slack did not say
    assert Crawl(created=NOW - DAY).progress(NOW) == 0.0  # nothing read yet
    assert Crawl(before="1.000100", created=NOW - DAY, threads=["1.000100"]).progress(NOW) == 0.99
    assert Crawl(before="1.000100", created=NOW - DAY, history_done=True).progress(NOW) == 1.0
    restored = Crawl.from_json(Crawl(top="5.000001", before="4.000001", created=3).to_json())
    assert restored is not None and restored.created == 3


def test_the_terminal_line_names_the_time_left_only_while_a_first_read_goes_on() -> None:
    class Report:
        def __init__(self, view: PartitionProgress) -> None:
            self.view = view

        def progress_view(self) -> PartitionProgress:
            return self.view

    tracker = Tracker(budgets=budgets(AsanaConfig(), SlackConfig()))
    tracker.update(Report(part(Source.SLACK, "C1", 1_000, None, first=False)))
    assert tracker.summary() is None
    tracker.update(Report(part(Source.SLACK, "C2", 1_000, 0.2)))
    assert tracker.summary() == "first read: 2,000 requests so far, about 1 h 20 min left under the API budget"
    assert format_duration(42) == "42 s" and format_duration(600) == "10 min"
