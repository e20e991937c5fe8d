"""The Celery queues' depth in Redis, for `reconciler status` (importing only redis, so the
CLI's quick path can ask it too)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import redis

if TYPE_CHECKING:
    from workers.settings import WorkerSettings

# kombu's Redis transport keeps priorities 3, 6 and 9 in lists named `<queue>\x06\x16<n>`.
_PRIORITY_SEP = "\x06\x16"


def queue_status(redis_url: str, ws: WorkerSettings, *, timeout: float = 0.5) -> dict[str, Any] | str:
    """Messages waiting in the Celery queues (sweeps, and syncs apart) and delivered-but-unacked,
    or "unavailable"."""
    client = redis.Redis.from_url(redis_url, socket_timeout=timeout, socket_connect_timeout=timeout)

    def depth(queue: str) -> int:
        names = [queue] + [f"{queue}{_PRIORITY_SEP}{n}" for n in (3, 6, 9)]
        return sum(int(client.llen(n)) for n in names)

    try:
        sweeps, syncs = depth(ws.celery_queue), depth(ws.sync_queue)
        unacked = int(client.hlen("unacked"))
    except (redis.RedisError, OSError):
        return "unavailable"
    finally:
        client.close()
    return {"queue": ws.celery_queue, "waiting": sweeps + syncs, "waiting_sweeps": sweeps, "waiting_syncs": syncs,
            "unacked": unacked}
