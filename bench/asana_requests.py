"""How many Asana requests a sync costs: full crawl, idle incremental, 1% changed.

Generates a sandbox scenario at the given scale, drives `AsanaConnector.pull` over real HTTP
(official SDK -> connectors.sandbox) and reads the sandbox's `request_counts()` per run. Prints
requests by endpoint next to the minimum a sync needs, and wall time:

    .venv/bin/python bench/asana_requests.py --projects 5 --tasks 2000
    .venv/bin/python bench/asana_requests.py --projects 2 --tasks 500 --linked 0.1 --json

Minimum for a full crawl of one project: ceil(tasks / 100) task pages, one story page per linked
task (the scenario keeps stories under 100), one /events (the 412 with the sync token) and one
status-update page. Idle incremental: one /events per project. Changed: one /events per project
plus a story page per changed linked task and the changed tasks themselves (one task page per
project with changed linked tasks). Relinked (the deliverable index gains a few links): one
/events and one gid listing (pages of 100) per project, plus a task and a story page per newly
linked task.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connectors.asana.connector import AsanaConnector
from connectors.base import DeliverableIndex, DeliverableRef
from connectors.config import AsanaConfig
from connectors.sandbox import Sandbox, parse_scenario

STATUS_FIELD = "700"
OPTIONS = ["701", "702", "703", "704"]
OPTION_NAMES = ["On track", "At risk", "Blocked", "Done"]


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def generate(projects: int, tasks: int, linked_share: float, seed: int) -> tuple[dict[str, Any], list[DeliverableRef]]:
    """A scenario with `projects` x `tasks` tasks; `linked_share` of them linked to deliverables."""
    rng = random.Random(seed)
    start = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
    users = [{"gid": str(500 + i), "name": f"User {i}", "email": f"user{i}@bench.test"} for i in range(1, 41)]
    scenario: dict[str, Any] = {
        "asana": {
            "workspace": {"gid": "1000", "name": "Bench"},
            "users": users,
            "custom_fields": [
                {
                    "gid": STATUS_FIELD,
                    "name": "Status",
                    "type": "enum",
                    "enum_options": [{"gid": g, "name": n} for g, n in zip(OPTIONS, OPTION_NAMES)],
                }
            ],
            "projects": [],
            "tasks": [],
        }
    }
    refs: list[DeliverableRef] = []
    gid = 10_000_000
    for p in range(projects):
        project_gid = str(20_000 + p)
        sections = [{"gid": f"{project_gid}{s}", "name": n} for s, n in enumerate(["Planned", "Doing", "Done"])]
        scenario["asana"]["projects"].append(
            {
                "gid": project_gid,
                "name": f"Project {p}",
                "owner": users[0]["gid"],
                "sections": sections,
                "status_updates": [
                    {
                        "gid": f"{project_gid}99",
                        "status_type": rng.choice(["on_track", "at_risk", "off_track"]),
                        "title": "Weekly",
                        "text": "Weekly update",
                        "created_at": iso(start + timedelta(days=20)),
                        "author": users[0]["gid"],
                    }
                ],
            }
        )
        linked_in_project: list[str] = []
        for t in range(tasks):
            gid += 1
            task_gid = str(gid)
            created = start + timedelta(minutes=t)
            option = rng.randrange(len(OPTIONS))
            assignee = rng.choice(users)["gid"]
            stories = [
                {
                    "gid": f"{task_gid}1",
                    "created_at": iso(created + timedelta(days=2)),
                    "created_by": assignee,
                    "resource_subtype": "enum_custom_field_changed",
                    "type": "system",
                    "text": f"changed Status to {OPTION_NAMES[option]}",
                    "custom_field": STATUS_FIELD,
                    "new_enum_value": OPTIONS[option],
                },
                {"gid": f"{task_gid}2", "created_at": iso(created + timedelta(days=3)), "created_by": assignee,
                 "text": "looks good"},
            ]
            is_linked = rng.random() < linked_share
            dependencies = []
            if is_linked and linked_in_project and rng.random() < 0.3:
                dependencies = [rng.choice(linked_in_project)]
            scenario["asana"]["tasks"].append(
                {
                    "gid": task_gid,
                    "name": f"Task {p}-{t}",
                    "projects": [project_gid],
                    "section": sections[rng.randrange(3)]["gid"],
                    "completed": option == 3,
                    "due_on": (created + timedelta(days=rng.randrange(20, 90))).date().isoformat(),
                    "assignee": assignee,
                    "custom_fields": {STATUS_FIELD: OPTIONS[option]},
                    "created_at": iso(created),
                    "dependencies": dependencies,
                    "stories": stories,
                }
            )
            if is_linked:
                linked_in_project.append(task_gid)
                refs.append(DeliverableRef(key=f"d-{task_gid}", links={"asana": task_gid}))
    return scenario, refs


def delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    out = {k.removeprefix("asana GET "): v - before.get(k, 0) for k, v in after.items()}
    return {k: v for k, v in sorted(out.items()) if v}


def run_sync(sb: Sandbox, conn: AsanaConnector, cursors: dict[str, str | None]) -> dict[str, Any]:
    before = sb.request_counts()
    started = time.perf_counter()
    batches = observations = retractions = reported = 0
    for project in conn.partitions():
        for batch in conn.pull(project, cursors.get(project)):
            batches += 1
            observations += len(batch.observations)
            retractions += len(batch.retractions)
            reported += batch.requests
            if batch.cursor is not None:
                cursors[project] = batch.cursor
    wall = time.perf_counter() - started
    by_endpoint = delta(sb.request_counts(), before)
    return {
        "requests": sum(by_endpoint.values()),
        "requests_reported": reported,
        "by_endpoint": by_endpoint,
        "batches": batches,
        "observations": observations,
        "retractions": retractions,
        "wall_seconds": round(wall, 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=5)
    parser.add_argument("--tasks", type=int, default=2000, help="tasks per project")
    parser.add_argument("--linked", type=float, default=0.05, help="share of tasks linked to deliverables")
    parser.add_argument("--changed", type=float, default=0.01, help="share of tasks changed before the 3rd sync")
    parser.add_argument("--concurrency", type=int, default=10, help="asana.concurrent_requests")
    parser.add_argument("--fault-rate", type=float, default=0.0, help="random sandbox faults (429/5xx/resets)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    data, refs = generate(args.projects, args.tasks, args.linked, args.seed)
    scenario = parse_scenario(data)
    generated = time.perf_counter() - t0
    index = DeliverableIndex.build(refs)
    projects = [p["gid"] for p in data["asana"]["projects"]]
    config = AsanaConfig(projects=projects, concurrent_requests=args.concurrency)
    linked_per_project = Counter(
        t["projects"][0] for t in data["asana"]["tasks"] if t["gid"] in index.linked("asana")
    )
    pages = args.projects * math.ceil(args.tasks / 100)
    linked = sum(linked_per_project.values())

    results: dict[str, Any] = {
        "scale": {
            "projects": args.projects,
            "tasks_per_project": args.tasks,
            "linked_tasks": linked,
            "concurrency": args.concurrency,
            "fault_rate": args.fault_rate,
            "scenario_seconds": round(generated, 2),
        }
    }
    with Sandbox(scenario, port=0) as sb:
        conn = AsanaConnector(
            token="bench-token",
            base_url=sb.asana_base_url,
            config=config,
            index=index,
            max_retries=10,
            backoff=0.01,
            sleep=lambda s: time.sleep(min(s, 0.05)),
        )
        if args.fault_rate:
            sb.fault_rate(args.fault_rate, kinds=("429", "500", "502", "503", "reset", "bad_json"), seed=args.seed)
        cursors: dict[str, str | None] = {}
        results["full"] = run_sync(sb, conn, cursors)
        results["full"]["minimum"] = pages + linked + 2 * args.projects
        results["full"]["minimum_detail"] = {
            "task pages of 100": pages,
            "story pages (linked tasks)": linked,
            "events (sync token) + status updates": 2 * args.projects,
        }

        results["idle"] = run_sync(sb, conn, cursors)
        results["idle"]["minimum"] = args.projects

        rng = random.Random(args.seed + 1)
        all_tasks = [t["gid"] for t in data["asana"]["tasks"]]
        changed = rng.sample(all_tasks, max(1, round(len(all_tasks) * args.changed)))
        for gid in changed:
            sb.asana.update_task(gid, custom_fields={STATUS_FIELD: rng.choice(OPTIONS[:3])},
                                 due_on=(datetime(2026, 12, 1) + timedelta(days=rng.randrange(60))).date())
        changed_linked = sum(1 for g in changed if g in index.linked("asana"))
        results["changed"] = run_sync(sb, conn, cursors)
        results["changed"]["tasks_changed"] = len(changed)
        results["changed"]["linked_changed"] = changed_linked
        changed_set = set(changed)
        with_changes = {
            t["projects"][0]
            for t in data["asana"]["tasks"]
            if t["gid"] in changed_set and t["gid"] in index.linked("asana")
        }
        results["changed"]["minimum"] = args.projects + changed_linked + len(with_changes)
        conn.close()

        unlinked = [t["gid"] for t in data["asana"]["tasks"] if t["gid"] not in index.linked("asana")]
        newly = rng.sample(unlinked, min(3, len(unlinked)))
        relinked_index = DeliverableIndex.build(
            [*refs, *(DeliverableRef(key=f"d-{g}", links={"asana": g}) for g in newly)]
        )
        conn = AsanaConnector(
            token="bench-token", base_url=sb.asana_base_url, config=config, index=relinked_index,
            max_retries=10, backoff=0.01, sleep=lambda s: time.sleep(min(s, 0.05)),
        )
        results["relinked"] = run_sync(sb, conn, cursors)
        results["relinked"]["newly_linked"] = len(newly)
        results["relinked"]["minimum"] = 2 * args.projects + pages - args.projects + 2 * len(newly)
        conn.close()

    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    scale = results["scale"]
    print(
        f"Asana sync cost: {scale['projects']} projects x {scale['tasks_per_project']} tasks, "
        f"{scale['linked_tasks']} linked, concurrency {scale['concurrency']}, fault rate {scale['fault_rate']}"
    )
    for name in ("full", "idle", "changed", "relinked"):
        r = results[name]
        extra = f" ({r['tasks_changed']} tasks changed, {r['linked_changed']} linked)" if name == "changed" else ""
        print(f"\n{name}{extra}: {r['requests']} requests (minimum {r['minimum']}), {r['wall_seconds']} s, "
              f"{r['observations']} claims, {r['retractions']} retractions, {r['batches']} batches")
        for endpoint, n in r["by_endpoint"].items():
            print(f"  {n:>6}  GET {endpoint}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
