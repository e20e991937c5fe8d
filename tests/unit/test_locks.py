"""Partition locks against the real Redis (db 15, unique key prefix per test)."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import pytest
import redis

from tests.conftest import REDIS_URL
from workers.locks import LockLost, RenewedLock, claim_interval, held_lock, partition_lock_name


@pytest.fixture
def name(redis_client: redis.Redis) -> Iterator[str]:
    prefix = f"test-lock-{uuid.uuid4().hex[:10]}"
    yield partition_lock_name(prefix, "slack", "C01")
    for key in redis_client.scan_iter(match=f"{prefix}:*"):
        redis_client.delete(key)


def test_only_one_holder_and_the_loser_skips(redis_client: redis.Redis, name: str) -> None:
    with held_lock(redis_client, name, ttl=5) as first:
        assert first is not None
        with held_lock(redis_client, name, ttl=5) as second:
            assert second is None
    with held_lock(redis_client, name, ttl=5) as again:
        assert again is not None  # released on exit
    assert redis_client.exists(name) == 0


def test_the_lock_is_renewed_while_held(redis_client: redis.Redis, name: str) -> None:
    with held_lock(redis_client, name, ttl=0.9) as lock:
        assert lock is not None
        time.sleep(2.0)  # more than twice the ttl
        assert not lock.lost
        lock.check()
        assert redis_client.pttl(name) > 0
        with held_lock(redis_client, name, ttl=0.9) as other:
            assert other is None


def test_a_killed_holders_lock_expires_within_the_ttl(redis_client: redis.Redis, name: str) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", (
            "import redis, sys, time\n"
            "from workers.locks import RenewedLock\n"
            f"lock = RenewedLock(redis.Redis.from_url({REDIS_URL!r}), {name!r}, ttl=1.5)\n"
            "assert lock.acquire()\n"
            "print('held', flush=True)\n"
            "time.sleep(60)\n"
        )],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        time.sleep(1.6)  # renewed past its first ttl
        assert redis_client.exists(name) == 1
        holder.kill()
        holder.wait()
        killed_at = time.monotonic()
        while redis_client.exists(name) and time.monotonic() - killed_at < 5:
            time.sleep(0.05)
        assert redis_client.exists(name) == 0
        assert time.monotonic() - killed_at <= 1.6
    finally:
        holder.kill()


def test_a_lock_taken_away_is_noticed_as_lost(redis_client: redis.Redis, name: str) -> None:
    lock = RenewedLock(redis_client, name, ttl=0.6)
    assert lock.acquire()
    redis_client.delete(name)  # expired behind our back (e.g. a long GC pause), then taken
    assert redis_client.set(name, "someone-else")
    time.sleep(0.5)
    assert lock.lost
    with pytest.raises(LockLost):
        lock.check()
    lock.release()
    assert redis_client.get(name) == b"someone-else"  # never releases another holder's lock


def test_claim_interval_is_first_come_only(redis_client: redis.Redis, name: str) -> None:
    assert claim_interval(redis_client, name + ":fan-out", seconds=0.3)
    assert not claim_interval(redis_client, name + ":fan-out", seconds=0.3)
    time.sleep(0.4)
    assert claim_interval(redis_client, name + ":fan-out", seconds=0.3)
