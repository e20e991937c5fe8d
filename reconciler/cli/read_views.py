"""What `conflicts list` and `status` print, from JSON-ready rows. Loads Rich only: the full
commands (conflicts.py, admin.py) and their quick reads (quick.py) print through these."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.table import Table

from reconciler.cli.output import console, print_json, relative_time
from reconciler.untrusted import for_rich as lit


def print_conflict_list(rows: list[dict[str, Any]], *, quiet: bool, as_json: bool, now: datetime) -> None:
    """`rows` as `conflict_summary` makes them (the keys of its JSON), newest first."""
    if quiet:
        for row in rows:
            print(row["id"])
        return
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print("No conflicts.")
        return
    table = Table(box=None, pad_edge=False)
    for name in ("ID", "DELIVERABLE", "KIND", "STATE", "SUMMARY", "OPENED"):
        table.add_column(name, overflow="fold" if name == "SUMMARY" else "ellipsis")
    for row in rows:
        state_text = row["state"] + (" (muted)" if row["suppressed_by"] else "")
        table.add_row(
            str(row["id"]), lit(row["deliverable"]), lit(row["kind"]), lit(state_text), lit(row["summary"]),
            relative_time(row["opened_at"], now=now),
        )
    console.print(table)


def print_status(data: dict[str, Any], *, as_json: bool, now: datetime) -> int:
    """`data` as `collect_status` makes it; the exit code: 1 while a configured partition fails."""
    failing = [p for p in data["partitions"] if p["failing"]]
    if as_json:
        print_json(data)
        return 1 if failing else 0
    table = Table(title="Partitions", box=None, pad_edge=False)
    for name in ("SOURCE", "PARTITION", "LAST SUCCESS", "LAG", "CURSOR", "LAST ERROR"):
        table.add_column(name, overflow="fold")
    for p in data["partitions"]:
        lag = p.get("lag_seconds")
        table.add_row(
            p["source"],
            lit(p["partition"]),
            relative_time(p["last_success_at"], now=now),
            "-" if lag is None else f"{lag}s",
            "set" if p["cursor"] else "none",
            "[red]failing[/] (below)" if p["failing"] else ("-" if not p["last_error"] else "old (below)"),
        )
    console.print(table)
    for p in data["partitions"]:
        if p["last_error"]:
            when = relative_time(p["last_error_at"], now=now)
            console.print(f"{p['source']} {p['partition']} ({when}): {p['last_error']}", markup=False, soft_wrap=True)
    console.print(f"Full reconcile (first run, or rules changed): {relative_time(data['last_full_reconcile'], now=now)}")
    console.print(f"Queue depth: {data['queue_depth']}")
    counts = data["notifications"]
    console.print(
        "Notifications: "
        + ", ".join(f"{counts.get(k, 0)} {k}" for k in ("pending", "sending", "sent", "failed"))
    )
    for error in counts.get("last_errors") or []:
        console.print(f"  last error: {error}", markup=False)
    return 1 if failing else 0
