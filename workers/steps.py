"""One structured log line per pipeline step, shared by the Celery tasks and the embedded loop."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping, Sized
from typing import Any

from reconciler.pipeline import SyncReport

log = logging.getLogger("workers.steps")

# LogRecord attributes an `extra` field may not overwrite.
_RESERVED = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


def summarize(result: object) -> dict[str, Any]:
    """Counts from whatever a step returned: a dataclass's numbers, a mapping's, or a length."""
    if result is None:
        return {}
    if isinstance(result, bool):
        return {"ok": result}
    if isinstance(result, int):
        return {"count": result}
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        values = {f.name: getattr(result, f.name) for f in dataclasses.fields(result)}
        return _counts(values)
    if isinstance(result, Mapping):
        return _counts(dict(result))
    if isinstance(result, Sized) and not isinstance(result, str):
        return {"count": len(result)}
    return {}


def _counts(values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in values.items():
        if isinstance(value, bool) or isinstance(value, (int, float)):
            out[name] = value
        elif isinstance(value, (list, tuple, set, frozenset, dict)):
            out[name] = len(value)
    return out


def sync_counts(reports: list[SyncReport]) -> dict[str, int]:
    return {
        "partitions": len(reports),
        "failed": sum(1 for r in reports if not r.ok),
        "observations": sum(r.observations for r in reports),
        "inserted": sum(r.inserted for r in reports),
        "updated": sum(r.updated for r in reports),
        "retracted": sum(r.retracted for r in reports),
        "requests": sum(r.requests for r in reports),
    }


def report_fields(report: SyncReport) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "source": str(report.source),
        "partition": report.partition,
        "batches": report.batches,
        "observations": report.observations,
        "inserted": report.inserted,
        "updated": report.updated,
        "retracted": report.retracted,
        "requests": report.requests,
    }
    if report.error:
        fields.update(error=report.error, transient=report.transient)
    return fields


def changed(report: SyncReport) -> bool:
    return bool(report.inserted or report.updated or report.retracted)


def log_step(step: str, started: float, **fields: Any) -> None:
    """`step done` with the step's name, duration and counts."""
    level = logging.WARNING if fields.get("failed") or fields.get("error") else logging.INFO
    duration_ms = round((time.monotonic() - started) * 1000)
    extra = {**fields, "step": step, "duration_ms": duration_ms}
    log.log(level, f"{step} done", extra={k: v for k, v in extra.items() if k not in _RESERVED})
