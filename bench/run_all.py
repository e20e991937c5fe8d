"""Run every benchmark and write the results table into bench/README.md.

    .venv/bin/python bench/run_all.py [--scale 1] [--quick] [--skip-postgres] [--no-readme] [--json-out FILE]

Default (scale 1, about 15-20 minutes on a 2-core box): the sync benchmark (full, idle and 1 %
changed) on SQLite and PostgreSQL against the sandbox in its own process, a profiled full sync,
the store ingest rate on both databases (with the profile of the insert pass), reconcile of
100,000 deliverables / 1,000,000 observations (bench/reconcile_bench.py on SQLite, the same
generator on PostgreSQL) and of 100 dirty deliverables, peak memory at three scales, and the claim
parser's precision and recall (bench/claims_corpus.py). `--quick` runs the same at small sizes in
under two minutes (for checking the harness; its figures say little about the goals).

Each benchmark runs in its own process, one after the other, so one does not disturb another's
timing or memory. The table goes between the result markers in bench/README.md; the prose around
them is kept. The raw figures are written as JSON to `--json-out` (default: the temp dir).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

BENCH = Path(__file__).resolve().parent
README = BENCH / "README.md"
BEGIN = "<!-- results:begin (written by bench/run_all.py; edit the prose outside the markers) -->"
END = "<!-- results:end -->"

GOALS = {
    "full_overhead": 0.02,
    "idle_per_partition": 1,
    "ingest": 20_000,
    "reconcile_all_s": 10.0,
    "reconcile_dirty_s": 0.2,
    "memory_mb": 300,
}


# -- the large reconcile on PostgreSQL ------------------------------------------------------------


def pg_reconcile(deliverables: int, observations: int, dirty: int = 100, seed: int = 7) -> dict[str, Any]:
    """bench/reconcile_bench.py's store and runs, on a fresh PostgreSQL database."""
    import random
    from datetime import timedelta

    import reconcile_bench as rb

    from reconciler import engine as reconciler_engine
    from reconciler.db import make_engine, migrate
    from reconciler.models import Observation

    rng = random.Random(seed)
    out: dict[str, Any] = {"deliverables": deliverables}
    with common.postgres_database("bench_reconcile") as url:
        engine = make_engine(url)
        try:
            migrate(engine)
            cfg = rb.config()
            with common.stopwatch() as setup:
                rb.generate(engine, deliverables, observations, rng)
                with engine.begin() as conn:
                    conn.exec_driver_sql("ANALYZE")
            out["setup_seconds"] = round(setup["seconds"], 1)
            out["observations"] = rb.count(engine, Observation)

            def run_all(session: Any) -> Any:
                return reconciler_engine.reconcile_all(session, config=cfg, now=rb.NOW)

            cold_s, cold = rb.timed(engine, run_all)
            steady_s, steady = rb.timed(engine, run_all)
            keys = sorted(rng.sample([f"d{i:06d}" for i in range(deliverables)], k=min(dirty, deliverables)))
            rb.touch(engine, keys, rng)
            dirty_s, report = rb.timed(engine, lambda s: reconciler_engine.reconcile_dirty(
                s, config=cfg, now=rb.NOW + timedelta(minutes=6)))
            out["reconcile_all_cold"] = rb.figures(cold_s, deliverables, out["observations"], cold)
            out["reconcile_all_steady"] = rb.figures(steady_s, deliverables, out["observations"], steady)
            out["reconcile_dirty"] = {**rb.figures(dirty_s, report.reconciled, len(keys), report), "dirty_keys": len(keys)}
        finally:
            engine.dispose()
    out["peak_rss_mb"] = common.peak_rss_mb()
    return out


# -- the steps --------------------------------------------------------------------------------------


def _py(script: str, *args: Any) -> list[str]:
    return [str(BENCH / script), *[str(a) for a in args]]


def _supports_option(script: str, option: str) -> bool:
    """Whether another engineer's bench script takes `option` (read from its --help)."""
    import subprocess

    try:
        help_text = subprocess.run([sys.executable, str(BENCH / script), "--help"], capture_output=True, text=True,
                                   cwd=common.ROOT, timeout=60, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return option in help_text


def plan(scale: float, quick: bool, postgres: bool, work: Path) -> list[tuple[str, list[str], float]]:
    """(name, argv, timeout seconds) of every step."""
    s = 0.05 if quick else scale
    ingest_scale = 0.05 if quick else 0.25 * scale
    large = (10_000, 100_000) if quick else (round(100_000 * scale), round(1_000_000 * scale))
    memory_scales = [0.02, 0.05] if quick else [round(0.1 * scale, 3), round(0.3 * scale, 3)]
    profile_scale = 0.05 if quick else round(0.25 * scale, 3)
    reconcile_sizes = [2_000, 5_000] if quick else [round(10_000 * scale), round(30_000 * scale), large[0]]
    steps: list[tuple[str, list[str], float]] = [
        ("claims", _py("claims_corpus.py", "--json"), 300),
        ("ingest_sqlite", _py("ingest_bench.py", "--scale", ingest_scale, "--db", "sqlite",
                              "--profile", work / "ingest_sqlite.prof", "--json"), 900),
        ("sync_sqlite", _py("sync_bench.py", "--scale", s, "--db", "sqlite", "--json"), 1800),
        ("sync_profile", _py("sync_bench.py", "--scale", profile_scale, "--db", "sqlite", "--full-only",
                             "--profile", work / "sync.prof", "--json"), 900),
        ("reconcile_sqlite", _py("reconcile_bench.py", "--deliverables", large[0], "--observations", large[1],
                                 "--db", work / "reconcile.db", *(["--json"] if _supports_option("reconcile_bench.py", "--json") else [])),
         1800),
        ("memory", _py("memory_bench.py", "--scales", ",".join(str(x) for x in memory_scales), "--json"), 1200),
        ("memory_reconcile", _py("memory_bench.py", "--reconcile", ",".join(str(x) for x in reconcile_sizes), "--json"),
         1800),
    ]
    if postgres:
        steps[2:2] = [("ingest_postgresql", _py("ingest_bench.py", "--scale", ingest_scale, "--db", "postgresql",
                                                "--profile", work / "ingest_pg.prof", "--json"), 900)]
        steps.insert(4, ("sync_postgresql", _py("sync_bench.py", "--scale", s, "--db", "postgresql", "--json"), 1800))
        if _supports_option("reconcile_bench.py", "--database-url"):
            pg_large = _py("reconcile_bench.py", "--deliverables", large[0], "--observations", large[1],
                           "--database-url", common.POSTGRES_ADMIN_DSN)
        else:  # an older reconcile_bench.py: its generator on a database made here
            pg_large = _py("run_all.py", "--pg-reconcile", f"{large[0]},{large[1]}")
        steps.append(("reconcile_postgresql", pg_large, 1800))
    return steps


def run_steps(steps: list[tuple[str, list[str], float]], results: dict[str, Any]) -> None:
    for name, argv, timeout in steps:
        print(f"[{datetime.now().strftime('%H:%M:%S')}] {name}: {' '.join(Path(a).name if '/' in a else a for a in argv)}",
              flush=True)
        try:
            out, seconds = common.run_json(argv, timeout=timeout)
            out["_seconds"] = round(seconds, 1)
            results[name] = out
            print(f"    done in {seconds:.0f} s", flush=True)
        except Exception as exc:  # noqa: BLE001 - recorded in the table, the rest still runs
            results[name] = {"error": str(exc)[:500]}
            print(f"    FAILED: {str(exc)[:500]}", flush=True)


# -- the table ------------------------------------------------------------------------------------


def _ok(passed: bool | None) -> str:
    return "—" if passed is None else ("✓" if passed else "✗")


def _n(value: Any, digits: int = 0) -> str:
    if value is None:
        return "—"
    if isinstance(value, (int, float)):
        return f"{value:,.{digits}f}"
    return str(value)


def _changed_verdict(changed: dict[str, Any], extra: dict[str, int], messages: int) -> str:
    """Asana: at most a task and a story page per changed linked task; Slack: at most one request
    per changed message on top of the idle run."""
    linked = changed.get("linked_tasks_changed")
    asana = None if linked is None else extra["asana"] <= 2 * linked + 1
    slack = extra["slack"] <= messages
    note = f" (Asana: {linked} linked tasks changed)" if linked is not None else ""
    return f"{_ok(asana)} Asana {_ok(slack)} Slack, on top of the idle cost{note}"


def _sync_rows(sq: dict[str, Any], pg: dict[str, Any]) -> list[list[str]]:
    rows: list[list[str]] = []
    if "full" not in sq:
        return [["sync", "—", f"failed: {sq.get('error', 'not run')}", "", "✗"]]
    minimum = sq["minimum"]
    full = sq["full"]
    parts = []
    verdicts = []
    for source in ("asana", "slack"):
        got, need = full["requests"].get(source, 0), minimum[source]["total"]
        over = (got - need) / need if need else 0.0
        verdicts.append(over <= GOALS["full_overhead"])
        endpoints = ", ".join(f"{k} {v:,}" for k, v in sorted(full["by_endpoint"][source].items(), key=lambda kv: -kv[1]))
        parts.append(f"{source.title()} {got:,} vs minimum {need:,} ({over:+.0%}): {endpoints}")
    rows.append([("Full sync: requests by endpoint, against the minimum (pages of 100, plus a story page per "
                  "linked task and a replies page per thread)"), "≤ 2 % over the minimum",
                 "<br>".join(parts), "same requests" if pg.get("full") else "—",
                 " ".join(f"{_ok(v)} {s}" for v, s in zip(verdicts, ("Asana", "Slack")))])

    idle = sq.get("idle")
    if idle:
        per = idle["requests_per_partition_max"]
        mean = idle["requests_per_partition_mean"]
        verdict = [per.get(s, 0) <= GOALS["idle_per_partition"] for s in ("asana", "slack")]
        endpoints = ", ".join(f"{k} {v:,}" for src in ("asana", "slack")
                              for k, v in idle["by_endpoint"][src].items())
        rows.append(["Idle incremental sync: requests", "≤ 1 per partition",
                     (f"{idle['requests_total']:,} for {sum(idle['partitions'].values())} partitions: Asana max "
                      f"{per.get('asana', 0)}/project, Slack mean {mean.get('slack', 0)}, max "
                      f"{per.get('slack', 0)}/channel ({endpoints}); {idle['time']['wall_seconds']} s"),
                     f"{pg['idle']['requests_total']:,} requests, {pg['idle']['time']['wall_seconds']} s" if pg.get("idle") else "—",
                     f"{_ok(verdict[0])} Asana {_ok(verdict[1])} Slack"])
    changed = sq.get("changed")
    if changed and idle:
        edits = changed.get("edits", {})
        extra = {s: changed["requests"].get(s, 0) - idle["requests"].get(s, 0) for s in ("asana", "slack")}
        tasks = edits.get("asana.update_task", 0)
        posts = edits.get("slack.post", 0) + edits.get("slack.edit", 0)
        changed_endpoints = ", ".join(f"{k} {v:,}" for src in ("asana", "slack")
                                      for k, v in changed["by_endpoint"][src].items())
        rows.append(["Incremental sync, 1 % of items changed: requests and wall time", "proportional to the changes",
                     (f"{tasks:,} tasks and {posts:,} messages changed: {changed['requests_total']:,} requests "
                      f"(Asana +{extra['asana']:,}, Slack +{extra['slack']:,} over idle; {changed_endpoints}); "
                      f"{changed['time']['wall_seconds']} s (idle {idle['time']['wall_seconds']} s)"),
                     f"{pg['changed']['requests_total']:,} requests, {pg['changed']['time']['wall_seconds']} s"
                     if pg.get("changed") else "—",
                     _changed_verdict(changed, extra, posts)])
    t = full["time"]
    pt = pg.get("full", {}).get("time", {})

    def split(tm: dict[str, Any]) -> str:
        if not tm:
            return "—"
        return (f"**{tm['wall_seconds']} s**: HTTP in flight {tm['http_in_flight_seconds']} s "
                f"({tm['http_share']:.0%}; sandbox's own CPU {tm['sandbox_server_seconds']} s of it), our CPU "
                f"{tm['our_cpu_seconds']} s (partitions run concurrently: it overlaps the HTTP time): "
                f"store.apply_batch {tm['store_apply_batch_seconds']} s, Slack claim parser "
                f"{tm['claim_parser_seconds']} s, rest {tm['other_our_code_seconds']} s")

    rows.append(["Full sync wall time against the sandbox on loopback, and where it goes", "report",
                 split(t), split(pt), "—"])
    return rows


def _ingest_cell(r: dict[str, Any]) -> tuple[str, bool | None]:
    if not r or "insert" not in r:
        return (f"failed: {r.get('error')}" if r else "—"), None
    cell = (f"insert **{_n(r['insert']['observations_per_s'])}**, unchanged {_n(r['unchanged']['observations_per_s'])}, "
            f"update {_n(r['update']['observations_per_s'])} obs/s")
    passed = min(r["insert"]["observations_per_s"], r["update"]["observations_per_s"]) >= GOALS["ingest"]
    return cell, passed


def _reconcile_cells(r: dict[str, Any]) -> tuple[str, str, bool | None, bool | None]:
    if not r or "reconcile_all_cold" not in r:
        msg = f"failed: {r.get('error')}" if r else "—"
        return msg, msg, None, None
    cold, steady, dirty = r["reconcile_all_cold"], r["reconcile_all_steady"], r["reconcile_dirty"]
    all_cell = (f"first run **{cold['seconds']} s** (opens {cold['opened']:,} conflicts), steady "
                f"**{steady['seconds']} s**; {r['deliverables']:,} / {r['observations']:,}")
    dirty_cell = f"**{dirty['seconds']} s** ({dirty['reconciled']} reconciled with dependents)"
    return (all_cell, dirty_cell, max(cold["seconds"], steady["seconds"]) <= GOALS["reconcile_all_s"],
            dirty["seconds"] <= GOALS["reconcile_dirty_s"])


def _peak(r: dict[str, Any]) -> float:
    return max(r.get("peak_rss_mb") or 0.0, r.get("peak_tree_pss_mb") or 0.0)


def render(results: dict[str, Any]) -> str:
    m = results["machine"]
    sq, pg = results.get("sync_sqlite", {}), results.get("sync_postgresql", {})
    lines = [
        (f"Run **{results['finished']}** with `{results['command']}` in {results['total_minutes']} min, scale "
         f"{results['scale']}{' (quick: small sizes, for checking the harness)' if results['quick'] else ''}."),
        (f"Machine: {m['cores']} cores ({m['cpu']}), {m['memory_gb']} GB, {m['os']}; Python {m['python']}, "
         f"SQLite {m['sqlite']}, PostgreSQL {m['postgresql'] or 'not available'}, SQLAlchemy {m['sqlalchemy']}; "
         f"revision {m['revision']}. Load average before/after: {results['load_before']} / {results['load_after']} "
         "(other work on the box shows up as wall time; CPU seconds are given where it matters)."),
        "",
    ]
    if "counts" in sq:
        c = sq["counts"]
        lines += [(f"Workspace (bench/generate.py): {c['projects']} projects, {c['tasks']:,} tasks, "
                   f"{c['channels']} channels, {c['messages']:,} messages ({c['threads']:,} threads), "
                   f"{c['deliverables']:,} deliverables ({c['dependencies']} dependencies), {c['people']} people."), ""]
    lines += ["| figure | goal | SQLite | PostgreSQL | met? |", "|---|---|---|---|---|"]
    rows = _sync_rows(sq, pg)

    isq, ipg = results.get("ingest_sqlite", {}), results.get("ingest_postgresql", {})
    (isq_cell, isq_ok), (ipg_cell, ipg_ok) = _ingest_cell(isq), _ingest_cell(ipg)
    rows.append(["Store ingest rate (`store.apply_batch`, batches of 200)", "≥ 20,000 obs/s", isq_cell, ipg_cell,
                 f"{_ok(isq_ok)} SQLite {_ok(ipg_ok)} PostgreSQL"])

    rsq, rpg = results.get("reconcile_sqlite", {}), results.get("reconcile_postgresql", {})
    a1, d1, a1ok, d1ok = _reconcile_cells(rsq)
    a2, d2, a2ok, d2ok = _reconcile_cells(rpg)
    rows.append(["Reconcile all (deliverables / observations)", "≤ 10 s for 100,000 / 1,000,000", a1, a2,
                 f"{_ok(a1ok)} SQLite {_ok(a2ok)} PostgreSQL"])
    rows.append(["Reconcile 100 dirty deliverables", "≤ 0.2 s", d1, d2, f"{_ok(d1ok)} SQLite {_ok(d2ok)} PostgreSQL"])

    if "reconcile_all" in sq:
        small = f"{sq['reconcile_all']['seconds']} s all / {sq.get('reconcile_dirty_changed', {}).get('seconds', '—')} s dirty"
        small_pg = (f"{pg['reconcile_all']['seconds']} s all / {pg.get('reconcile_dirty_changed', {}).get('seconds', '—')} s dirty"
                    if "reconcile_all" in pg else "—")
        conf = sq.get("conflicts_after_full", {})
        rows.append(["Reconcile after the synced workspace (all, then dirty after the 1 % change)", "report",
                     (f"{small}; found {conf.get('planted_found')} of {conf.get('planted')} planted contradictions, "
                      f"{conf.get('unexpected_count')} other conflicts"), small_pg, "—"])

    mem, mrec = results.get("memory", {}), results.get("memory_reconcile", {})
    if "runs" in mem:
        points = [(r["scale"], _peak(r), r["messages"]) for r in mem["runs"]]
        if "peak_rss_mb" in sq:
            points.append((sq["scale"], _peak(sq), sq["counts"]["messages"]))
        points.sort()
        sync_flat = points[-1][1] <= points[0][1] * 1.2 if len(points) > 1 else None
        cell = "sync + reconcile: " + ", ".join(f"scale {s}: {mb} MB" for s, mb, _ in points)
        largest = max(p[1] for p in points)
        rec_flat = None
        if "runs" in mrec:
            rec = [(r["deliverables"], max(r["peak_rss_mb"], r["peak_tree_pss_mb"])) for r in mrec["runs"]]
            cell += "; reconcile_all alone (with its workers): " + ", ".join(
                f"{d:,} deliverables: **{mb} MB**" for d, mb in rec)
            largest = max(largest, max(mb for _, mb in rec))
            rec_flat = rec[-1][1] <= rec[0][1] * 1.2 if len(rec) > 1 else None
        flat = None if sync_flat is None and rec_flat is None else bool(sync_flat) and rec_flat is not False
        rows.append([("Peak memory of sync + reconcile at growing scale, and of the largest run (RSS; PSS summed "
                      "over worker processes)"), "≤ 300 MB, flat as the workspace grows", cell,
                     (f"sync {_peak(pg) if pg else '—'} MB; reconcile of {rpg.get('deliverables', 0):,}: "
                      f"{rpg.get('peak_rss_mb', '—')} MB (this process only)"),
                     f"{_ok(largest <= GOALS['memory_mb'])} ≤ 300 MB ({largest} MB) {_ok(flat)} flat"])
    else:
        rows.append(["Peak memory", "≤ 300 MB, flat", f"failed: {mem.get('error', 'not run')}", "—", "✗"])

    claims = results.get("claims", {})
    if "status" in claims:
        hold = claims["splits"].get("holdout", {})
        rows.append(["Claim parsing precision / recall (bench/claims_corpus.py, 503 labelled messages)", "report",
                     (f"status P {claims['status']['precision']:.3f} R {claims['status']['recall']:.3f}, date "
                      f"accuracy {claims['target_date']['accuracy']:.3f} precision "
                      f"{claims['target_date']['precision']:.3f}; holdout status P "
                      f"{hold.get('status', {}).get('precision', 0):.3f} R {hold.get('status', {}).get('recall', 0):.3f}; "
                      f"{claims['rate']['cold_msgs_per_s']:,.0f} msg/s cold"),
                     "—", "—"])
    for row in rows:
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
    lines += ["", *details(results)]
    return "\n".join(lines)


def details(results: dict[str, Any]) -> list[str]:
    out: list[str] = []
    sq = results.get("sync_sqlite", {})
    if "full" in sq:
        out += ["#### Requests by endpoint (SQLite run; the PostgreSQL run makes the same requests)", "",
                "| endpoint | full | minimum | idle | 1 % changed |", "|---|---|---|---|---|"]
        endpoints = sorted({(s, e) for phase in ("full", "idle", "changed") if phase in sq
                            for s, eps in sq[phase]["by_endpoint"].items() for e in eps})
        for source, endpoint in endpoints:
            cells = [str(sq[p]["by_endpoint"][source].get(endpoint, 0)) if p in sq else "—"
                     for p in ("full", "idle", "changed")]
            out.append(f"| {source} {endpoint} | {cells[0]} |  | {cells[1]} | {cells[2]} |")
        for source in ("asana", "slack"):
            minimum = sq["minimum"][source]
            detail = ", ".join(f"{k} {v:,}" for k, v in minimum["detail"].items())
            out.append(f"| **{source} total** | **{sq['full']['requests'].get(source, 0):,}** | "
                       f"{minimum['total']:,} ({detail}) | {sq.get('idle', {}).get('requests', {}).get(source, '—')} | "
                       f"{sq.get('changed', {}).get('requests', {}).get(source, '—')} |")
        out.append("")
    prof = results.get("sync_profile", {})
    if "full" in prof and "profile" in prof["full"]:
        p = prof["full"]["profile"]
        out += [(f"#### Where a full sync's CPU goes (cProfile, scale {prof['scale']}, own time per package; "
                 f"{p['total_seconds']} s profiled)"), ""]
        waiting = {k: v for k, v in p["by_package"].items() if k.startswith(("socket I/O", "waiting"))}
        busy = {k: v for k, v in p["by_package"].items() if k not in waiting}
        busy_total = sum(v["seconds"] for v in busy.values()) or 1.0
        out += ["Waiting (socket reads, thread joins): " + ", ".join(f"{k} {v['share']:.0%}" for k, v in waiting.items())
                + f". Of the {busy_total:.1f} s of CPU: " + ", ".join(
                    f"{k} {v['seconds'] / busy_total:.0%}" for k, v in list(busy.items())[:12]) + ".", "",
                "Top functions by own time: " + "; ".join(f"`{f['function']}` {f['own_s']} s"
                                                          for f in p["top_functions"][:8]), ""]
    for db in ("sqlite", "postgresql"):
        ing = results.get(f"ingest_{db}", {})
        if "insert" not in ing:
            continue
        out += [(f"#### Store ingest on {db} ({ing['insert']['observations']:,} observations per pass, batches of "
                  f"{ing['batch_size']})"), ""]
        out += ["| pass | obs/s | obs per CPU second of this process | server CPU s | obs per client + server CPU s |",
                "|---|---|---|---|---|"]
        for name in ("insert", "unchanged", "update"):
            r = ing[name]
            out.append(f"| {name} | {_n(r['observations_per_s'])} | {_n(r.get('observations_per_cpu_s'))} | "
                       f"{r.get('server_cpu_seconds') if r.get('server_cpu_seconds') is not None else '—'} | "
                       f"{_n(r.get('observations_per_client_and_server_cpu_s'))} |")
        if "profile" in ing:
            p = ing["profile"]
            out += ["", "Profile of the insert pass (own time per package): "
                    + ", ".join(f"{k} {v['share']:.0%}" for k, v in list(p["by_package"].items())[:8]) + ".",
                    "Cumulative seconds inside: " + ", ".join(f"`{k.split('/')[-1]}` {v}"
                                                              for k, v in p.get("apply_batch_steps", {}).items()) + "."]
        out.append("")
    mem = results.get("memory", {})
    if "runs" in mem:
        out += ["#### Memory", "", "| scale | tasks | messages | claims | peak RSS | measured by |", "|---|---|---|---|---|---|"]
        for r in mem["runs"]:
            out.append(f"| {r['scale']} | {r['tasks']:,} | {r['messages']:,} | {r['observations']:,} | "
                       f"{_peak(r)} MB | {r['measured_by']} |")
        if "peak_rss_mb" in sq:
            out.append(f"| {sq['scale']} (full, idle and changed runs) | {sq['counts']['tasks']:,} | "
                       f"{sq['counts']['messages']:,} | {sq['full']['observations']:,} | {_peak(sq)} MB | getrusage |")
        out.append("")
    mrec = results.get("memory_reconcile", {})
    if "runs" in mrec:
        out += [("| reconcile_all alone: deliverables / claims | this process's peak RSS | peak PSS with workers | "
                 "first run | steady |"), "|---|---|---|---|---|"]
        for r in mrec["runs"]:
            out.append(f"| {r['deliverables']:,} / {r['observations']:,} | {r['peak_rss_mb']} MB | "
                       f"{r['peak_tree_pss_mb']} MB | {r['first_run_seconds']} s | {r['steady_seconds']} s |")
        rsq = results.get("reconcile_sqlite", {})
        if "peak_rss_mb" in rsq:
            out.append(f"\nbench/reconcile_bench.py's own process (generating the store, then reconciling): "
                       f"{rsq['peak_rss_mb']} MB.")
        out.append("")
    errors = {k: v["error"] for k, v in results.items() if isinstance(v, dict) and "error" in v}
    if errors:
        out += ["#### Steps that failed", ""] + [f"- {k}: {v}" for k, v in errors.items()] + [""]
    return out


def write_readme(table: str) -> None:
    text = README.read_text(encoding="utf-8") if README.exists() else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text or END not in text:
        text = text.rstrip() + f"\n\n## Results\n\n{BEGIN}\n{END}\n"
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    README.write_text(f"{head}{BEGIN}\n{table}\n{END}{tail}", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--quick", action="store_true", help="small sizes, under two minutes")
    ap.add_argument("--skip-postgres", action="store_true")
    ap.add_argument("--no-readme", action="store_true", help="print the table instead of writing bench/README.md")
    ap.add_argument("--json-out", type=Path, default=None)
    ap.add_argument("--render", type=Path, default=None, help="only render the table from a JSON results file")
    ap.add_argument("--pg-reconcile", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.pg_reconcile:
        deliverables, observations = (int(x) for x in args.pg_reconcile.split(","))
        print(json.dumps(pg_reconcile(deliverables, observations), indent=1))
        return 0
    if args.render:
        results = json.loads(args.render.read_text())
        table = render(results)
        if args.no_readme:
            print(table)
        else:
            write_readme(table)
        return 0

    started = time.perf_counter()
    command = "python bench/run_all.py" + (f" --scale {args.scale:g}" if args.scale != 1 else "") + \
        (" --quick" if args.quick else "") + (" --skip-postgres" if args.skip_postgres else "")
    results: dict[str, Any] = {
        "command": command,
        "scale": args.scale,
        "quick": args.quick,
        "started": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": common.machine(),
        "load_before": ", ".join(f"{x:.1f}" for x in os.getloadavg()),
    }
    postgres = not args.skip_postgres and results["machine"]["postgresql"] is not None
    if not args.skip_postgres and not postgres:
        print(f"PostgreSQL is not reachable at {common.POSTGRES_ADMIN_DSN}; running SQLite only", file=sys.stderr)
    json_out = args.json_out or Path(tempfile.gettempdir()) / "reconciler-bench" / "results.json"
    json_out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="reconciler-bench-run-") as tmp:
        try:
            run_steps(plan(args.scale, args.quick, postgres, Path(tmp)), results)
        except KeyboardInterrupt:
            print("interrupted; writing what finished", file=sys.stderr)
        finally:
            results["load_after"] = ", ".join(f"{x:.1f}" for x in os.getloadavg())
            results["finished"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
            results["total_minutes"] = round((time.perf_counter() - started) / 60, 1)
            json_out.write_text(json.dumps(results, indent=1), encoding="utf-8")
    try:
        table = render(results)
    except Exception:  # noqa: BLE001 - keep the raw results usable
        traceback.print_exc()
        print(f"could not render the table; raw results in {json_out}", file=sys.stderr)
        return 1
    if args.no_readme:
        print(table)
    else:
        write_readme(table)
        print(f"wrote the results table into {README} (raw figures: {json_out})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
