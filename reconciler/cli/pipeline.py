"""`reconciler sync | reconcile | notify | run | demo`: the pipeline from a terminal."""

from __future__ import annotations

import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlmodel import select

from connectors.base import Source
from reconciler import pipeline
from reconciler.db import session_scope
from reconciler.models import Conflict
from reconciler.cli.common import (
    ConfigOption,
    JsonFlag,
    OutputFormat,
    OutputOption,
    UserError,
    console,
    handle_errors,
    print_json,
    progress_reporter,
    wants_json,
)
from reconciler.cli.context import runtime
from reconciler.settings import Settings, get_settings
from reconciler.untrusted import for_rich as lit


def _sync_table(reports: list[pipeline.SyncReport]) -> Table:
    table = Table(title="Sync", box=None, pad_edge=False)
    for name in ("SOURCE", "PARTITION", "CLAIMS", "NEW", "CHANGED", "RETRACTED", "REQUESTS", "RESULT"):
        table.add_column(name)
    for r in reports:
        result = "ok" if r.ok else "[red]failed[/] (below)"
        table.add_row(
            str(r.source), lit(r.partition), str(r.observations), str(r.inserted), str(r.updated),
            str(r.retracted), str(r.requests), result,
        )
    return table


def _print_sync(reports: list[pipeline.SyncReport]) -> None:
    """The table, then each failed partition's reason in full on its own line (a table column
    would cut it at the terminal's width)."""
    console.print(_sync_table(reports))
    for r in reports:
        if not r.ok:
            console.print(f"{r.source} {r.partition} failed: {r.error}", markup=False, soft_wrap=True, style="red")


def _sync_json(reports: list[pipeline.SyncReport], rt: pipeline.Runtime) -> list[dict[str, Any]]:
    return [
        {
            "source": str(r.source),
            "partition": r.partition,
            "observations": r.observations,
            "inserted": r.inserted,
            "updated": r.updated,
            "retracted": r.retracted,
            "requests": r.requests,
            "ok": r.ok,
            "error": r.error,
            # a first read cut short (an error): how far it got and what is left under the budget
            "first_read": r.first_read,
            "progress": r.progress,
            **_left(r, rt),
        }
        for r in reports
    ]


def _left(report: pipeline.SyncReport, rt: pipeline.Runtime) -> dict[str, Any]:
    from reconciler.progress import estimate, first_read_budgets

    found = estimate([report.progress_view()], budgets=first_read_budgets(rt.sources, rt.config))
    return {"requests_left": found.requests_left, "seconds_left": found.to_json()["seconds_left"]}


class _JsonProgress:
    """With --json: one JSON line on stderr per PROGRESS_EVERY seconds while a first read goes
    on (`{"progress": {...estimate}, "partitions": [...]}`); stdout keeps the final report."""

    PROGRESS_EVERY = 5.0

    def __init__(self, tracker: Any):
        self._tracker = tracker
        self._last = 0.0

    def __call__(self, report: pipeline.SyncReport) -> None:
        import json
        import sys
        import time

        now = time.monotonic()
        if now - self._last < self.PROGRESS_EVERY or not self._tracker.crawling():
            return
        self._last = now
        line = {"progress": self._tracker.estimate().to_json(),
                "partition": {"source": str(report.source), "partition": report.partition,
                              "requests": report.requests, "progress": report.progress}}
        sys.stderr.write(json.dumps(line) + "\n")
        sys.stderr.flush()


@handle_errors
def sync(
    source: Annotated[str | None, typer.Argument(help="A source: asana or slack (default: every source).")] = None,
    partition: Annotated[str | None, typer.Argument(help="One partition: an Asana project gid or Slack channel.")] = None,
    output: OutputOption = OutputFormat.TABLE,
    json_flag: JsonFlag = False,
    config: ConfigOption = None,
) -> None:
    """Pull new claims from Asana and Slack into the store."""
    if source == Source.MANUAL:
        raise UserError("manual claims are recorded with `reconciler claim`, not synced")
    from reconciler.progress import Tracker, first_read_budgets

    as_json = wants_json(output, json_flag)
    with runtime(config, talks_to_apis=True) as rt:
        tracker = Tracker(budgets=first_read_budgets(rt.sources, rt.config))
        with progress_reporter(not as_json, summary=tracker.summary) as show:
            if source is not None and source not in rt.sources:
                raise UserError(f"{source!r} is not a source (sources: {', '.join(rt.sources.names())})")
            known = {p for _, p in pipeline.configured_partitions(rt, [source] if source else None)}
            if partition and partition not in known:
                raise UserError(f"{partition!r} is not a configured {source or ''} partition".replace("  ", " "))
            told = _JsonProgress(tracker) if as_json else show

            def on_batch(report: pipeline.SyncReport) -> None:
                tracker.update(report)
                told(report)

            reports = pipeline.sync_all(
                rt, sources=[source] if source else None, partitions=[partition] if partition else None, on_batch=on_batch
            )
    if as_json:
        print_json(_sync_json(reports, rt))
    else:
        _print_sync(reports)
    failed = [r for r in reports if not r.ok]
    if failed:
        raise typer.Exit(1)


@handle_errors
def reconcile(
    everything: Annotated[bool, typer.Option("--all", help="Reconcile every deliverable, not only changed ones.")] = False,
    output: OutputOption = OutputFormat.TABLE,
    json_flag: JsonFlag = False,
    config: ConfigOption = None,
) -> None:
    """Find contradictions in what changed since the last run."""
    with runtime(config) as rt:
        pipeline.apply_config(rt)
        report = pipeline.reconcile_all(rt) if everything else pipeline.reconcile_dirty(rt)
    data = {
        "reconciled": report.reconciled,
        "due": report.due,  # of those, reconciled because their next time check had come
        "opened": report.opened,
        "updated": report.updated,
        "auto_resolved": report.auto_resolved,
        "reopened": report.reopened,
    }
    if wants_json(output, json_flag):
        print_json(data)
        return
    console.print(
        f"Reconciled {report.reconciled} deliverable(s): {len(report.opened)} conflict(s) opened, "
        f"{len(report.updated)} updated, {len(report.auto_resolved)} resolved by agreement, "
        f"{len(report.reopened)} reopened."
    )


def _delivery_lines(delivery: Any) -> list[dict[str, Any]]:
    return [
        {"recipient": m.recipient, "reason": m.reason, "text": m.text, "sent": m.sent}
        for m in delivery.messages
    ]


@handle_errors
def notify(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the DMs instead of sending them.")] = False,
    output: OutputOption = OutputFormat.TABLE,
    json_flag: JsonFlag = False,
    config: ConfigOption = None,
) -> None:
    """Tell decision owners about conflicts (plans, then sends, the outbox)."""
    with runtime(config, talks_to_apis=not dry_run) as rt:
        pipeline.plan_notifications(rt)
        delivery = pipeline.deliver_notifications(rt, dry_run=dry_run)
        _print_delivery(delivery, as_json=wants_json(output, json_flag), dry_run=dry_run, rt=rt)


def _waiting_hint(rt: pipeline.Runtime) -> str:
    """Why nothing went out: DMs wait for group_wait or the end of quiet hours."""
    from reconciler.notify import notification_status

    with session_scope(rt.engine) as session:
        pending = notification_status(session)["pending"]
    if not pending:
        return "Nothing to send."
    return (
        f"Nothing due yet: {pending} DM(s) wait for group_wait or the end of quiet hours; "
        "the next pass sends them (`reconciler notify --dry-run` shows them now)."
    )


def _print_delivery(delivery: Any, *, as_json: bool, dry_run: bool, rt: pipeline.Runtime) -> None:
    lines = _delivery_lines(delivery)
    if as_json:
        print_json(lines)
        return
    if not lines:
        console.print(_waiting_hint(rt))
    for line in lines:
        verb = "would send" if dry_run else "sent"
        console.print(f"[bold]{verb} to {line['recipient']}[/] ({line['reason']}):")
        console.print(line["text"], markup=False)
        console.print()


@handle_errors
def run(
    once: Annotated[bool, typer.Option("--once", help="One pass, then exit.")] = False,
    interval: Annotated[float, typer.Option("--interval", min=1.0, help="Seconds between passes.")] = 300.0,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print DMs instead of sending.")] = False,
    config: ConfigOption = None,
) -> None:
    """Sync, reconcile and notify in a loop, in this process (no broker needed)."""
    from reconciler.compose import configure_logging, poll_pace, run_loop
    from reconciler.progress import Tracker, first_read_budgets

    configure_logging(get_settings(), level="INFO")
    with runtime(config, talks_to_apis=True) as rt:
        tracker = Tracker(budgets=first_read_budgets(rt.sources, rt.config))
        with progress_reporter(True, summary=tracker.summary) as show:

            def on_batch(report: pipeline.SyncReport) -> None:
                tracker.update(report)
                show(report)

            pace = poll_pace(interval)
            reports = run_loop(rt, once=once, interval=interval, dry_run=dry_run, on_batch=on_batch, pace=pace)
        late = _deliver_what_falls_due_shortly(rt) if once and reports and not dry_run else None
    if once and reports:
        last = reports[-1]
        _print_sync(last.syncs)
        if late is not None:
            last.delivery.messages.extend(late.messages)
        _print_delivery(last.delivery, as_json=False, dry_run=dry_run, rt=rt)
        if not last.ok:
            raise typer.Exit(1)


ONCE_WAITS_AT_MOST = timedelta(seconds=15)


def _deliver_what_falls_due_shortly(rt: pipeline.Runtime) -> Any:
    """`run --once` sends the DMs its pass planned when their group_wait (3 s by default) ends
    within ONCE_WAITS_AT_MOST, instead of leaving them to a next pass that may never come."""
    from reconciler.notify import next_pending_at

    with session_scope(rt.engine) as session:
        due = next_pending_at(session)
    if due is None:
        return None
    wait = (due - rt.now()).total_seconds()
    if wait > ONCE_WAITS_AT_MOST.total_seconds():
        return None
    if wait > 0:
        console.print(f"Sending the DMs when their group_wait ends, in {wait:.0f} s…")
        time.sleep(wait)
    return pipeline.deliver_notifications(rt)


@handle_errors
def demo(
    keep: Annotated[Path | None, typer.Option("--keep", help="Keep the demo store in this SQLite file.")] = None,
    serve: Annotated[bool, typer.Option("--serve", help="Then show the board of the demo store until Ctrl-C.")] = False,
) -> None:
    """Run the whole pipeline on a bundled scenario against the local sandbox."""
    from reconciler.cli.conflicts import conflict_summary
    from reconciler.compose import pointed_at_sandbox, sandbox as bundled_sandbox

    with tempfile.TemporaryDirectory(prefix="reconciler-demo-") as tmp, bundled_sandbox() as sandbox:
        database = keep or Path(tmp) / "demo.db"
        settings = pointed_at_sandbox(Settings(), sandbox, database_url=f"sqlite:///{database}")
        rt = pipeline.load_runtime(settings=settings, config_path=pipeline.EXAMPLE_CONFIG)
        # A demo shows the DMs now: no group_wait, no quiet hours (both on by default).
        send_now = rt.config.alerts.model_copy(update={"group_wait": "0s", "quiet_hours": None})
        rt.config = rt.config.model_copy(update={"alerts": send_now})
        console.rule("[bold]1. Sync[/]: Asana and Slack (the local sandbox) into the store")
        report = pipeline.run_once(rt)
        _print_sync(report.syncs)
        console.rule("[bold]2. Findings[/]: what needs a decision, and whose")
        with session_scope(rt.engine) as session:
            conflicts = [conflict_summary(c) for c in session.exec(select(Conflict).order_by(Conflict.id))]
        table = Table(box=None, pad_edge=False)
        for name in ("ID", "DELIVERABLE", "KIND", "STATE", "SUMMARY"):
            table.add_column(name, overflow="fold")
        for c in conflicts:
            table.add_row(str(c["id"]), lit(c["deliverable"]), lit(c["kind"]), lit(c["state"]), lit(c["summary"]))
        console.print(table)
        console.rule("[bold]3. DMs[/]: what the decision owners were sent")
        for message in sandbox.posted_messages():
            console.print(f"[bold]to {message.get('user') or message['channel']}[/] ({message['method']}):")
            console.print(message.get("text") or "", markup=False)
            console.print()
        console.print(
            "Try it on a store you keep: reconciler demo --keep demo.db, then "
            "DATABASE_URL=sqlite:///demo.db reconciler conflicts list"
        )
        if not serve:
            console.print("See the same store on the board, in your browser: reconciler demo --serve")
        if serve:
            from reconciler.cli.web import serve_demo_board

            serve_demo_board(rt)
    rt.engine.dispose()
