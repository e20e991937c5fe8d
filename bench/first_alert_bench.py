"""Time to first alert: how much of a first sync comes before the last week can be reconciled,
and how long a whole backfill takes under Asana's and Slack's published rate limits.

    .venv/bin/python bench/first_alert_bench.py [--scale 1] [--days 7] [--json]

The bench workspace (bench/generate.py; channels created when its 90 days of history start) is
synced in full against the sandbox (its own process) through `pipeline.sync_all`, on a fresh
SQLite store, with no rate limiter (the sandbox answers as fast as it can). Each stored batch
is watched: the moment every Asana project is read and every Slack channel has read back past
`--days` days, *with the threads of the page that got there* (its progress moved on to the next
page, or it finished), the requests made so far are taken from the sandbox's counts and
`pipeline.reconcile_while_crawling` runs, as the embedded runner would, counting the planted
contradictions it already finds.

The wall time under the published limits is simulated from the requests per method: each
method's budget is its own (Slack Tier 3: conversations.history, .replies and .info 50 a minute;
Tier 2 users.list 20; Tier 4 auth.test 100; Asana 1,500 a minute on a paid workspace, 150 on a
free one), the buckets run side by side, so the time is the slowest bucket's count over its
rate. For the first reconcile, that is taken over the requests made until then (the order of an
unthrottled run; under a shared limiter the channels advance alike, as here).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
import generate

# requests per minute, per method (Slack tiers per https://api.slack.com/docs/rate-limits)
SLACK_PER_MINUTE = {
    "conversations.history": 50, "conversations.replies": 50, "conversations.info": 50,
    "conversations.list": 20, "users.list": 20, "users.info": 100, "auth.test": 100,
}
ASANA_PER_MINUTE = {"paid": 1500, "free": 150}


def simulated_minutes(counts: dict[str, int]) -> dict[str, float]:
    """Minutes each source needs for `counts` ("asana GET …" / "slack method") under its limits."""
    slack = {k.removeprefix("slack "): n for k, n in counts.items() if k.startswith("slack ")}
    asana = sum(n for k, n in counts.items() if k.startswith("asana "))
    slack_minutes = max((n / SLACK_PER_MINUTE.get(m, 50) for m, n in slack.items()), default=0.0)
    return {
        "slack": round(slack_minutes, 1),
        "asana_paid": round(asana / ASANA_PER_MINUTE["paid"], 1),
        "asana_free": round(asana / ASANA_PER_MINUTE["free"], 1),
    }


class Watch:
    """Fed every stored batch; fires once when the last `days` of everything are in."""

    def __init__(self, rt: Any, sandbox: common.SandboxProcess, manifest: dict[str, Any], days: int):
        now = datetime.now(UTC)
        self.rt, self.sandbox, self.manifest = rt, sandbox, manifest
        self.channels = set(rt.config.source("slack").channels)
        self.projects: set[str] = set()
        life = {cid: now.timestamp() - created for cid, created in self._created().items()}
        # the share of a channel's life read back once `days` are
        self.needed = {cid: (days * 86_400) / seconds for cid, seconds in life.items()}
        self.crossed: dict[str, float] = {}  # channel -> its progress when it got past `days`
        self.ready: set[str] = set()
        self.lock = threading.Lock()
        self.slack_counts: dict[str, int] | None = None  # when the last days of every channel were in
        self.asana_counts: dict[str, int] | None = None  # when every project was read
        self.result: dict[str, Any] | None = None

    def _created(self) -> dict[str, int]:
        scenario = json.loads((Path(self.manifest["_dir"]) / "scenario.json").read_text())
        return {c["id"]: int(c["created"]) for c in scenario["slack"]["channels"]}

    def on_batch(self, report: Any) -> None:
        with self.lock:
            if self.result is not None:
                return
            if str(report.source) == "slack":
                self._slack(report)
            self._check()

    def on_done(self, report: Any, _started: float) -> None:
        with self.lock:
            if str(report.source) == "asana" and report.ok:
                self.projects.add(report.partition)
            if str(report.source) == "slack" and report.ok:
                self.ready.add(report.partition)
            if self.result is None:
                self._check()

    def _check(self) -> None:
        """Each source's requests when its part is in (an unthrottled run reads Asana at the
        sandbox's pace, not at its budget's, so the two are taken apart); the reconcile once both are."""
        if self.slack_counts is None and self.channels <= self.ready:
            self.slack_counts = self.sandbox.counts()
        if self.asana_counts is None and self._asana_done():
            self.asana_counts = self.sandbox.counts()
        if self.slack_counts is not None and self.asana_counts is not None:
            self._fire()

    def _asana_done(self) -> bool:
        return len(self.projects) >= self.manifest["counts"]["projects"]

    def _slack(self, report: Any) -> None:
        channel, progress = report.partition, report.progress
        if progress is None or channel in self.ready:
            return
        if channel not in self.crossed:
            if progress >= self.needed[channel]:
                self.crossed[channel] = progress
        elif progress > self.crossed[channel] or progress >= 1.0:
            self.ready.add(channel)  # the next page came: the crossing page's threads were read

    def _fire(self) -> None:
        from reconciler import pipeline

        assert self.slack_counts is not None and self.asana_counts is not None
        counts = {**{k: n for k, n in self.slack_counts.items() if k.startswith("slack ")},
                  **{k: n for k, n in self.asana_counts.items() if k.startswith("asana ")}}
        crawling = frozenset(("slack", c) for c in self.channels)
        report = pipeline.reconcile_while_crawling(self.rt, crawling)
        self.result = {
            "requests": sum(counts.values()),
            "slack_requests": sum(n for k, n in counts.items() if k.startswith("slack ")),
            "by_endpoint": counts,
            "simulated_minutes": simulated_minutes(counts),
            "reconciled": report.reconciled,
            "opened": len(report.opened),
            "planted_found": _planted_found(self.rt, self.manifest),
            "open_by_kind": _open_by_kind(self.rt),
        }


def _open_by_kind(rt: Any) -> dict[str, int]:
    from collections import Counter

    from sqlalchemy import select

    from reconciler.models import Conflict

    with rt.engine.connect() as conn:
        rows = conn.execute(select(Conflict.kind, Conflict.state)).all()  # type: ignore[call-overload]
    return dict(Counter(kind for kind, state in rows if state in ("open", "acknowledged")))


def _planted_found(rt: Any, manifest: dict[str, Any]) -> int:
    from sqlalchemy import select

    from reconciler.models import Conflict

    with rt.engine.connect() as conn:
        rows = conn.execute(select(Conflict.deliverable_key, Conflict.kind, Conflict.state)).all()  # type: ignore[call-overload]
    found = {(k, kind) for k, kind, state in rows if state in ("open", "acknowledged")}
    return len({(p["key"], p["kind"]) for p in manifest["planted"]} & found)


def run(*, scale: float = 1.0, seed: int = 1, days: int = 7, data: Path | None = None) -> dict[str, Any]:
    from pydantic import SecretStr

    from reconciler import pipeline
    from reconciler.settings import Settings

    spec = generate.Scale(scale=scale, seed=seed, anchor=datetime.now(UTC).date())
    # its own directory: the channels' creation dates came with this bench
    out = data or generate.default_out(spec).with_name(generate.default_out(spec).name + "-created")
    if not (out / "manifest.json").is_file():
        generate.write(spec, out)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["_dir"] = str(out)
    with common.SandboxProcess(out / "scenario.json") as sandbox, common.database("sqlite") as url:
        settings = Settings(
            asana_token=SecretStr("bench-asana-token"), slack_bot_token=SecretStr("xoxb-bench-token"),
            asana_base_url=sandbox.asana_base_url, slack_base_url=sandbox.slack_base_url,
            database_url=url, reconciler_config=out / "reconciler.toml",
        )
        rt = pipeline.load_runtime(settings=settings)
        watch = Watch(rt, sandbox, manifest, days)
        sandbox.reset()
        with common.stopwatch() as t:
            reports = pipeline.sync_all(rt, on_batch=watch.on_batch, on_done=watch.on_done)
        counts = sandbox.counts()
        after = pipeline.reconcile_dirty(rt)  # what the pass after the sync does
        final = {"planted_found": _planted_found(rt, manifest), "open_by_kind": _open_by_kind(rt),
                 "auto_resolved": len(after.auto_resolved), "opened": len(after.opened)}
        rt.engine.dispose()
    return {
        "scale": scale,
        "days": days,
        "counts": manifest["counts"],
        "planted": len(manifest["planted"]),
        "errors": [f"{str(r.source)} {r.partition}: {r.error}" for r in reports if r.error],
        "full": {"requests": sum(counts.values()), "by_endpoint": counts,
                 "simulated_minutes": simulated_minutes(counts), "wall_seconds_unthrottled": round(t["seconds"], 1)},
        "first_reconcile": watch.result,
        "after_full_sync": final,
    }


def _print(result: dict[str, Any]) -> None:
    full, first = result["full"], result["first_reconcile"]
    print(f"first alert bench: scale {result['scale']} ({result['counts']}), errors {result['errors'] or 'none'}")
    print(f"full backfill: {full['requests']:,} requests; simulated under published limits "
          f"{full['simulated_minutes']} minutes (unthrottled here {full['wall_seconds_unthrottled']} s)")
    for endpoint, n in sorted(full["by_endpoint"].items()):
        print(f"  {n:>7}  {endpoint}")
    if first is None:
        print("the last days were never all in before the end")
        return
    print(f"first reconcile of the last {result['days']} days: after {first['requests']:,} requests "
          f"({first['requests'] / full['requests']:.1%}; Slack {first['slack_requests']:,}), simulated {first['simulated_minutes']} minutes; "
          f"it reconciled {first['reconciled']} deliverables, opened {first['opened']} conflicts, "
          f"{first['planted_found']} of {result['planted']} planted contradictions; open by kind {first['open_by_kind']}")
    final = result["after_full_sync"]
    print(f"after the whole backfill: {final['planted_found']} planted found, open by kind {final['open_by_kind']}, "
          f"{final['auto_resolved']} resolved by agreement, {final['opened']} opened")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    result = run(scale=args.scale, seed=args.seed, days=args.days, data=args.data)
    print(json.dumps(result, indent=1)) if args.json else _print(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
