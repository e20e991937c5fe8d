"""The beat schedule: a fan-out every SYNC_INTERVAL seconds (or ASANA_SYNC_INTERVAL, if
shorter: each fan-out sends only the partitions due, see `pipeline.partitions_due`) and a sweep
every SWEEP_INTERVAL.

Run exactly one beat. A second one is harmless: the fan-out task claims a Redis key for most of
an interval, so a fan-out sent by another beat in the same window does nothing.
"""

from __future__ import annotations

from typing import Any

from workers.settings import WorkerSettings

FAN_OUT = "reconciler.fan_out"
SYNC_PARTITION = "reconciler.sync_partition"
SWEEP = "reconciler.sweep"


def beat_schedule(ws: WorkerSettings) -> dict[str, Any]:
    """Periodic tasks; each expires after one interval so a backlog never piles up."""
    return {
        "fan-out-syncs": {
            "task": FAN_OUT,
            "schedule": ws.pace().tick,
            "options": {"expires": ws.pace().tick},
        },
        "sweep-reconcile-notify": {
            "task": SWEEP,
            "schedule": ws.sweep_interval,
            "options": {"expires": ws.sweep_interval},
        },
    }


def fan_out_window(ws: WorkerSettings) -> float:
    """How long one fan-out's claim lasts: most of an interval, so beats drifting apart still
    fan out at most once per interval and a lone beat is never blocked by its own last claim."""
    return ws.pace().tick * 0.8
