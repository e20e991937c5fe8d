"""Wall time of an idle sync pass when every request has a real API's round trip.

    .venv/bin/python bench/idle_bench.py [--latency 0.3] [--asana-concurrency N] [--json]

A workspace with scale 1's partitions (50 Asana projects, 20 Slack channels) and few items
(1,000 tasks, 2,000 messages) is synced in full against the sandbox (its own process), then the
sandbox answers every request after `--latency` seconds and three passes are timed:

- the idle pass through `pipeline.sync_all` (what `reconciler sync` runs),
- the same through the embedded runner's sync step (`workers.runner.sync_step`),
- every partition alone (`pipeline.sync_partition`), one after the other: the slowest of them
  is the goal's yardstick (idle pass <= 2x the slowest single partition's round trip), their sum
  what a pass costs when partitions go one after the other.

`--asana-concurrency` overrides `[asana] concurrent_requests` (default 50) in the config.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
import generate


class Partitions(generate.Scale):
    """Scale 1's partitions with a small workspace in them."""

    @property
    def projects(self) -> int:
        return 50

    @property
    def channels(self) -> int:
        return 20

    @property
    def tasks(self) -> int:
        return 1_000

    @property
    def messages(self) -> int:
        return 2_000

    @property
    def deliverables(self) -> int:
        return 100

    @property
    def people(self) -> int:
        return 20


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--latency", type=float, default=0.3)
    ap.add_argument("--asana-concurrency", type=int, default=None)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    from pydantic import SecretStr

    from reconciler import pipeline
    from reconciler.settings import Settings
    from workers.runner import sync_step

    out = Path(tempfile.gettempdir()) / "reconciler-bench" / "idle-partitions"
    spec = Partitions(scale=1.0, anchor=date(2026, 11, 25))
    if not (out / "scenario.json").is_file():
        generate.write(spec, out)
    config = out / "reconciler.toml"
    text = (out / "reconciler.toml").read_text()
    if args.asana_concurrency:
        config = out / f"reconciler-c{args.asana_concurrency}.toml"
        text = re.sub(r"(?m)^\[asana\]$", f"[asana]\nconcurrent_requests = {args.asana_concurrency}", text, count=1)
        config.write_text(text)
    from connectors.config import AsanaConfig

    default = AsanaConfig().concurrent_requests
    result: dict[str, Any] = {"latency_s": args.latency, "asana_concurrency": args.asana_concurrency or default}
    with common.SandboxProcess(out / "scenario.json") as sandbox, common.database("sqlite") as url:
        settings = Settings(
            asana_token=SecretStr("bench-asana-token"), slack_bot_token=SecretStr("xoxb-bench-token"),
            asana_base_url=sandbox.asana_base_url, slack_base_url=sandbox.slack_base_url,
            database_url=url, reconciler_config=config,
        )
        rt = pipeline.load_runtime(settings=settings)
        pipeline.sync_all(rt)  # the full sync, without latency
        sandbox.set_latency(args.latency)
        partitions = pipeline.configured_partitions(rt)
        result["partitions"] = len(partitions)

        started = time.perf_counter()
        reports = pipeline.sync_all(rt)
        result["sync_all_s"] = round(time.perf_counter() - started, 2)
        result["errors"] = [r.error for r in reports if not r.ok]

        started = time.perf_counter()
        sync_step(rt, threading.Event())
        result["runner_sync_step_s"] = round(time.perf_counter() - started, 2)

        connectors = {source: pipeline.build_connector(rt, source) for source, _ in partitions}
        alone: list[float] = []
        for source, partition in partitions:
            started = time.perf_counter()
            pipeline.sync_partition(rt, source, partition, connector=connectors[source])
            alone.append(time.perf_counter() - started)
        result["slowest_partition_s"] = round(max(alone), 3)
        result["partitions_one_after_another_s"] = round(sum(alone), 2)
        result["ratio_to_slowest"] = round(result["sync_all_s"] / max(alone), 2)
        result["runner_ratio_to_slowest"] = round(result["runner_sync_step_s"] / max(alone), 2)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
