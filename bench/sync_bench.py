"""What a sync costs against the sandbox over loopback HTTP, through the real pipeline.

    .venv/bin/python bench/sync_bench.py [--scale 1] [--db sqlite|postgresql] [--json] [--profile FILE]

Generates the scenario (bench/generate.py) unless it is already on disk, serves it from a
sandbox in its own process, and runs `pipeline.sync_all` with the official SDKs exactly as
`reconciler sync` does, on a fresh store:

1. full sync (no cursors), then `reconcile_all`;
2. idle incremental sync (nothing changed), then `reconcile_dirty`;
3. incremental sync after 1 % of the tasks and 1 % of the messages changed, then `reconcile_dirty`.

For each sync: requests by endpoint (the sandbox's own counts), the minimum a sync needs, the
wall time, and where it went: time with an HTTP request in flight (of which the sandbox's own
CPU), `store.apply_batch`, the Slack claim parser, and the rest (connectors, SDK decoding,
config). Also the conflicts found against the planted ones and the process's peak RSS.
`--profile FILE` runs the full sync under cProfile and adds the own-time split per package.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
import generate


def ensure_data(spec: generate.Scale, out: Path | None = None) -> Path:
    """The scenario directory for `spec`, generated when missing (with the change set)."""
    out = out or generate.default_out(spec)
    if not (out / "changes.json").is_file():
        generate.write(spec, out)
    return out


def minimums(manifest: dict[str, Any]) -> dict[str, Any]:
    """Requests the sync cannot do without, at pages of 100 (Asana's maximum page)."""
    pages = sum(math.ceil(n / 100) for n in manifest["tasks_per_project"].values())
    linked = sum(manifest["linked_per_project"].values())
    projects = manifest["counts"]["projects"]
    history = sum(math.ceil(max(n, 1) / 100) for n in manifest["top_level_per_channel"].values())
    threads = manifest["counts"]["threads"]
    users_pages = math.ceil(manifest["counts"]["people"] / 200)
    people_pages = math.ceil(manifest["counts"]["people"] / 100)
    return {
        "asana": {
            "total": pages + linked + 2 * projects + people_pages,
            "detail": {"task pages of 100": pages, "story pages (linked tasks)": linked,
                       "events (sync token) + status update, per project": 2 * projects,
                       "workspace users pages": people_pages},
        },
        "slack": {
            "total": history + threads + users_pages + 1,
            "detail": {"history pages of 100": history, "one replies page per thread": threads,
                       "users.list pages": users_pages, "auth.test": 1},
        },
    }


def _by_source(delta: dict[str, int]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {"asana": {}, "slack": {}}
    for key, n in delta.items():
        source, _, endpoint = key.partition(" ")
        out.setdefault(source, {})[endpoint] = n
    return out


class Instruments:
    def __init__(self) -> None:
        from connectors.claims import ClaimParser
        from reconciler import store

        self.http = common.HttpMeter().install()
        self.apply = common.CallTimer(store, "apply_batch")
        self.parse = common.CallTimer(ClaimParser, "read")  # the connector reads per deliverable

    def reset(self) -> None:
        self.http.reset()
        self.apply.reset()
        self.parse.reset()

    def split(self, wall: float, server: float, cpu: float, sandbox_cpu: float) -> dict[str, Any]:
        http = self.http.busy
        # CPU seconds: the partitions run concurrently, so HTTP waits and our code overlap
        other = max(0.0, cpu - self.apply.seconds - self.parse.seconds)
        return {
            "wall_seconds": round(wall, 2),
            "our_cpu_seconds": round(cpu, 2),
            "sandbox_cpu_seconds": round(sandbox_cpu, 2),
            "http_in_flight_seconds": round(http, 2),
            "sandbox_server_seconds": round(server, 2),
            "store_apply_batch_seconds": round(self.apply.seconds, 2),
            "claim_parser_seconds": round(self.parse.seconds, 2),
            "other_our_code_seconds": round(other, 2),
            "http_share": round(http / wall, 3) if wall else 0.0,
            "our_code_share": round(1 - http / wall, 3) if wall else 0.0,
            "http_calls": dict(self.http.calls),
            "apply_batch_calls": self.apply.calls,
            "parsed_messages": self.parse.calls,
        }

    def uninstall(self) -> None:
        self.http.uninstall()
        self.apply.uninstall()
        self.parse.uninstall()


def _sync(rt: Any, sandbox: common.SandboxProcess, inst: Instruments, *, profile: Path | None = None) -> dict[str, Any]:
    import time

    from reconciler import pipeline

    inst.reset()
    before = sandbox.snapshot()
    cpu = time.process_time()
    with common.stopwatch() as t:
        if profile is not None:
            reports, profiler = common.profile_call(lambda: pipeline.sync_all(rt), profile)
        else:
            reports, profiler = pipeline.sync_all(rt), None
    cpu = time.process_time() - cpu
    after = sandbox.snapshot()
    delta = common.counts_delta(after["counts"], before["counts"])
    by_source = _by_source(delta)
    per_partition: dict[str, list[int]] = {"asana": [], "slack": []}
    for r in reports:
        per_partition[r.source.value].append(r.requests)
    result = {
        "requests": {s: sum(v.values()) for s, v in by_source.items()},
        "requests_total": sum(delta.values()),
        "by_endpoint": by_source,
        "requests_per_partition_max": {s: max(v, default=0) for s, v in per_partition.items()},
        "requests_per_partition_mean": {s: round(sum(v) / len(v), 2) if v else 0 for s, v in per_partition.items()},
        "partitions": {s: len(v) for s, v in per_partition.items()},
        "observations": sum(r.observations for r in reports),
        "inserted": sum(r.inserted for r in reports),
        "updated": sum(r.updated for r in reports),
        "retracted": sum(r.retracted for r in reports),
        "batches": sum(r.batches for r in reports),
        "errors": [f"{r.source.value} {r.partition}: {r.error}" for r in reports if r.error],
        "time": inst.split(t["seconds"], after["server_seconds"] - before["server_seconds"], cpu,
                           after["cpu_seconds"] - before["cpu_seconds"]),
        "peak_rss_mb": common.peak_rss_mb(),
    }
    if profiler is not None:
        result["profile"] = common.profile_summary(profiler)
    return result


def _conflicts(rt: Any, manifest: dict[str, Any]) -> dict[str, Any]:
    from sqlalchemy import select

    from reconciler.models import Conflict

    with rt.engine.connect() as conn:
        rows = conn.execute(select(Conflict.deliverable_key, Conflict.kind, Conflict.state)).all()  # type: ignore[call-overload]
    active = [(k, kind) for k, kind, state in rows if state in ("open", "acknowledged")]
    planted = {(p["key"], p["kind"]) for p in manifest["planted"]}
    found = {(k, kind) for k, kind in active}
    return {
        "active_by_kind": dict(Counter(kind for _, kind in active)),
        "planted": len(planted),
        "planted_found": len(planted & found),
        "unexpected": sorted(f"{k} {kind}" for k, kind in found - planted)[:20],
        "unexpected_count": len(found - planted),
    }


def _reconcile(rt: Any, which: str) -> dict[str, Any]:
    from reconciler import pipeline

    with common.stopwatch() as t:
        report = pipeline.reconcile_all(rt) if which == "all" else pipeline.reconcile_dirty(rt)
    return {
        "seconds": round(t["seconds"], 3),
        "reconciled": report.reconciled,
        "opened": len(report.opened),
        "updated": len(report.updated),
        "auto_resolved": len(report.auto_resolved),
        "reopened": len(report.reopened),
    }


def run(
    *,
    scale: float = 1.0,
    seed: int = 1,
    anchor: date | None = None,
    db: str = "sqlite",
    data: Path | None = None,
    profile: Path | None = None,
    phases: tuple[str, ...] = ("full", "idle", "changed"),
) -> dict[str, Any]:
    from pydantic import SecretStr

    from reconciler import pipeline
    from reconciler.settings import Settings

    spec = generate.Scale(scale=scale, seed=seed, anchor=anchor or datetime.now(UTC).date())
    with common.stopwatch() as gen:
        out = ensure_data(spec, data)
    manifest = json.loads((out / "manifest.json").read_text())
    result: dict[str, Any] = {
        "scale": scale,
        "db": db,
        "data": str(out),
        "counts": manifest["counts"],
        "minimum": minimums(manifest),
        "generate_seconds": round(gen["seconds"], 1),
    }
    with common.SandboxProcess(out / "scenario.json") as sandbox, common.database(db) as url:
        result["sandbox_load_seconds"] = round(sandbox.load_seconds, 1)
        settings = Settings(
            asana_token=SecretStr("bench-asana-token"),
            slack_bot_token=SecretStr("xoxb-bench-token"),
            asana_base_url=sandbox.asana_base_url,
            slack_base_url=sandbox.slack_base_url,
            database_url=url,
            reconciler_config=out / "reconciler.toml",
        )
        rt = pipeline.load_runtime(settings=settings)
        result["rss_before_sync_mb"] = common.rss_mb()
        inst = Instruments()
        sampler = common.MemorySampler(exclude=frozenset({sandbox.pid})).__enter__()
        try:
            result["full"] = _sync(rt, sandbox, inst, profile=profile)
            result["reconcile_all"] = _reconcile(rt, "all")
            result["conflicts_after_full"] = _conflicts(rt, manifest)
            if "idle" in phases:
                result["idle"] = _sync(rt, sandbox, inst)
                result["reconcile_dirty_idle"] = _reconcile(rt, "dirty")
            if "changed" in phases:
                ops = json.loads((out / "changes.json").read_text())
                sandbox.apply(ops)
                kinds = Counter(f"{target}.{method}" for target, method, _a, _k in ops)
                linked = set(manifest["linked_gids"])
                result["changed"] = _sync(rt, sandbox, inst)
                result["changed"]["edits"] = dict(kinds)
                result["changed"]["linked_tasks_changed"] = len(
                    {args[0] for target, _m, args, _k in ops if target == "asana" and args[0] in linked})
                result["changed"]["replies_posted"] = sum(
                    1 for target, method, _a, kw in ops if target == "slack" and method == "post" and kw.get("thread_ts"))
                result["reconcile_dirty_changed"] = _reconcile(rt, "dirty")
                result["conflicts_after_changed"] = _conflicts(rt, manifest)
        finally:
            sampler.__exit__(None, None, None)
            inst.uninstall()
            rt.engine.dispose()
    result["peak_rss_mb"] = common.peak_rss_mb()
    result["peak_tree_pss_mb"] = sampler.peak_tree_mb
    return result


def _print(result: dict[str, Any]) -> None:
    print(f"sync bench: scale {result['scale']} on {result['db']} ({result['counts']})")
    for phase in ("full", "idle", "changed"):
        r = result.get(phase)
        if not r:
            continue
        tm = r["time"]
        print(f"\n{phase}: {r['requests_total']} requests {r['requests']}, {tm['wall_seconds']} s "
              f"(HTTP in flight {tm['http_in_flight_seconds']} s of which sandbox {tm['sandbox_server_seconds']} s, "
              f"our CPU {tm['our_cpu_seconds']} s: apply_batch {tm['store_apply_batch_seconds']} s, "
              f"parser {tm['claim_parser_seconds']} s, other {tm['other_our_code_seconds']} s), {r['observations']} claims, errors {r['errors'] or 'none'}")
        for source, endpoints in r["by_endpoint"].items():
            for endpoint, n in endpoints.items():
                print(f"  {n:>7}  {source} {endpoint}")
    print(f"\nminimum full: {result['minimum']}")
    for key in ("reconcile_all", "reconcile_dirty_idle", "reconcile_dirty_changed"):
        if key in result:
            print(f"{key}: {result[key]}")
    print(f"conflicts: {result.get('conflicts_after_full')}")
    print(f"peak RSS {result['peak_rss_mb']} MB")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--anchor", type=date.fromisoformat, default=None)
    ap.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--data", type=Path, default=None, help="scenario directory (default: generated under the temp dir)")
    ap.add_argument("--profile", type=Path, default=None, help="cProfile the full sync into this file")
    ap.add_argument("--full-only", action="store_true", help="only the full sync and reconcile")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    result = run(scale=args.scale, seed=args.seed, anchor=args.anchor, db=args.db, data=args.data,
                 profile=args.profile, phases=("full",) if args.full_only else ("full", "idle", "changed"))
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        _print(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
