"""Redis locks: one holder per partition (renewed while held), one fan-out per interval.

A holder renews its lock every `ttl / 3` seconds from a background thread, so a worker that dies
(SIGKILL, lost host) stops renewing and its lock expires within `ttl` seconds. A holder that
fails to renew in time marks the lock `lost`; the sync checks that between batches and stops.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import redis
from redis.exceptions import LockError

from connectors.base import TransientError

log = logging.getLogger(__name__)

_REDIS_DOWN = (redis.ConnectionError, redis.TimeoutError, OSError)


class LockLost(TransientError):
    """The lock expired or was taken while its holder still worked; the work stops."""


class RenewedLock:
    """A non-blocking redis-py Lock whose timeout is renewed while it is held."""

    def __init__(self, client: redis.Redis, name: str, *, ttl: float = 60.0) -> None:
        self.name = name
        self.ttl = ttl
        self._lock = client.lock(name, timeout=ttl, blocking=False, thread_local=False)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lost = threading.Event()

    @property
    def lost(self) -> bool:
        return self._lost.is_set()

    def acquire(self) -> bool:
        if not self._lock.acquire(blocking=False):
            return False
        self._thread = threading.Thread(target=self._renew_loop, name=f"renew {self.name}", daemon=True)
        self._thread.start()
        return True

    def _renew_loop(self) -> None:
        last_renewed = time.monotonic()
        while not self._stop.wait(self.ttl / 3):
            try:
                self._lock.reacquire()
                last_renewed = time.monotonic()
            except LockError:
                self._mark_lost("expired or taken by another holder")
                return
            except _REDIS_DOWN:
                if time.monotonic() - last_renewed >= self.ttl:
                    self._mark_lost("Redis unreachable for longer than the lock's ttl")
                    return

    def _mark_lost(self, why: str) -> None:
        self._lost.set()
        log.warning("lock lost", extra={"lock": self.name, "reason": why})

    def check(self) -> None:
        """Raise LockLost if the lock is no longer ours (call between units of work)."""
        if self.lost:
            raise LockLost(f"lost the lock {self.name}; another worker may take over")

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.lost:
            return
        try:
            self._lock.release()
        except LockError:
            pass  # expired meanwhile; nothing of ours to release
        except _REDIS_DOWN:
            pass  # it expires by itself within ttl


@contextmanager
def held_lock(client: redis.Redis, name: str, *, ttl: float = 60.0) -> Iterator[RenewedLock | None]:
    """Yield the held lock, or None when someone else holds it (the caller skips)."""
    lock = RenewedLock(client, name, ttl=ttl)
    if not lock.acquire():
        yield None
        return
    try:
        yield lock
    finally:
        lock.release()


def partition_lock_name(prefix: str, source: str, partition: str) -> str:
    return f"{prefix}:lock:sync:{source}:{partition}"


def claim_interval(client: redis.Redis, name: str, *, seconds: float) -> bool:
    """True for the first caller in a window of `seconds` (the key is never released early)."""
    return bool(client.set(name, str(time.time()), nx=True, px=max(1, int(seconds * 1000))))
