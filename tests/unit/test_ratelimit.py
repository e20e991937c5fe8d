"""The Redis token bucket and semaphore, against the real Redis (db 15, keys under a unique
prefix per test, deleted afterwards)."""

from __future__ import annotations

import multiprocessing
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
import redis

from connectors.base import NoRateLimit, TransientError
from connectors.asana.source import AsanaLimits
from connectors.config import AsanaConfig, SlackConfig
from connectors.registry import load_sources
from connectors.slack.source import SlackLimits
from reconciler.protocol import Config
from reconciler.settings import Settings
from tests.conftest import REDIS_URL
from workers.ratelimit import (
    RatePolicy,
    RateLimitTimeout,
    RedisRateLimiter,
    rate_limiter_for,
    shared_rate_limiter,
    token_hash,
)


DEFAULTS = Config()


def built_in_policy(*, asana: AsanaLimits | None = None, slack: SlackLimits | None = None) -> RatePolicy:
    """The built-in sources' budgets (their defaults unless given)."""
    return RatePolicy({"asana": asana or AsanaLimits(), "slack": slack or SlackLimits()})


@pytest.fixture
def prefix(redis_client: redis.Redis) -> Iterator[str]:
    name = f"test-rl-{uuid.uuid4().hex[:10]}"
    yield name
    for key in redis_client.scan_iter(match=f"{name}:*"):
        redis_client.delete(key)


def limiter(redis_client: redis.Redis, prefix: str, policy: RatePolicy, **kwargs) -> RedisRateLimiter:  # type: ignore[no-untyped-def]
    return RedisRateLimiter(redis_client, policy=policy, tokens={"asana": "tok-a", "slack": "tok-s"}, prefix=prefix, **kwargs)


def test_bucket_allows_a_burst_then_refills_at_the_rate(redis_client: redis.Redis, prefix: str) -> None:
    rl = limiter(redis_client, prefix, built_in_policy(slack=SlackLimits(method_overrides={"slow.method": 6, "fast.method": 120})))
    assert all(rl.try_take_token("slack:slow.method") == 0 for _ in range(6))
    assert 9.0 < rl.try_take_token("slack:slow.method") <= 10.0  # 6/min: one token per 10 s
    taken = 0
    while rl.try_take_token("slack:fast.method") == 0:
        taken += 1
    assert 120 <= taken <= 122
    time.sleep(0.6)  # 2/s: one more token
    assert rl.try_take_token("slack:fast.method") == 0
    assert 0 < rl.try_take_token("slack:fast.method") <= 0.5


def test_acquire_blocks_until_a_token_is_due(redis_client: redis.Redis, prefix: str) -> None:
    policy = built_in_policy(slack=SlackLimits(post_per_channel_per_second=5))  # burst of 5, then one per 0.2 s
    rl = limiter(redis_client, prefix, policy)
    started = time.monotonic()
    for _ in range(8):
        rl.acquire("slack:chat.postMessage:C1")
    elapsed = time.monotonic() - started
    assert 0.5 <= elapsed < 1.5


def test_the_check_and_take_is_atomic_across_threads(redis_client: redis.Redis, prefix: str) -> None:
    rl = limiter(redis_client, prefix, built_in_policy(asana=AsanaLimits(30, 100)))
    granted: list[int] = []

    def worker() -> None:
        for _ in range(10):
            if rl.try_take_token("asana") == 0:
                granted.append(1)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(granted) in (30, 31)  # the burst, plus at most one refilled during the run


def _hammer(prefix: str, count: int, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    c = redis.Redis.from_url(REDIS_URL)
    rl = RedisRateLimiter(c, policy=built_in_policy(slack=SlackLimits(tiers={"tier1": 1, "tier2": 20, "tier3": 1200, "tier4": 100})),
                          tokens={"slack": "tok-s"}, prefix=prefix)
    for _ in range(count):
        rl.acquire("slack:conversations.history")
    out.put(time.monotonic())


def test_processes_share_one_budget(prefix: str) -> None:
    """Two processes, 1200/min (20/s, burst 1200 drained first): 2 x 30 more take ~3 s."""
    c = redis.Redis.from_url(REDIS_URL)
    rl = RedisRateLimiter(c, policy=built_in_policy(slack=SlackLimits(tiers={"tier1": 1, "tier2": 20, "tier3": 1200, "tier4": 100})),
                          tokens={"slack": "tok-s"}, prefix=prefix)
    while rl.try_take_token("slack:conversations.history") == 0:
        pass
    out: multiprocessing.Queue = multiprocessing.get_context("spawn").Queue()  # type: ignore[type-arg]
    ctx = multiprocessing.get_context("spawn")
    started = time.monotonic()
    procs = [ctx.Process(target=_hammer, args=(prefix, 30, out)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    finished = max(out.get(timeout=5) for _ in procs)
    assert finished - started >= 2.7  # 60 tokens at 20/s, whatever the split between processes


def test_semaphore_limits_requests_in_flight(redis_client: redis.Redis, prefix: str) -> None:
    rl = limiter(redis_client, prefix, built_in_policy(asana=AsanaLimits(6000, 2)), max_wait=5)
    rl.acquire("asana")
    rl.acquire("asana")
    assert rl.try_take_slot("asana") > 0
    released = threading.Timer(0.3, rl.release, args=("asana",))
    released.start()
    started = time.monotonic()
    rl.acquire("asana")
    assert 0.25 <= time.monotonic() - started < 2
    assert redis_client.zcard(rl.semaphore_key("asana")) == 2


def test_a_crashed_holders_lease_expires(redis_client: redis.Redis, prefix: str) -> None:
    crashed = limiter(redis_client, prefix, built_in_policy(asana=AsanaLimits(6000, 1)), lease_seconds=0.4)
    crashed.acquire("asana")  # never released: the process "died"
    other = limiter(redis_client, prefix, built_in_policy(asana=AsanaLimits(6000, 1)), max_wait=5)
    started = time.monotonic()
    other.acquire("asana")
    assert 0.3 <= time.monotonic() - started < 2


def test_acquire_gives_up_after_max_wait(redis_client: redis.Redis, prefix: str) -> None:
    rl = limiter(redis_client, prefix, built_in_policy(slack=SlackLimits(method_overrides={"conversations.history": 1})), max_wait=0.2)
    rl.acquire("slack:conversations.history")
    with pytest.raises(RateLimitTimeout):
        rl.acquire("slack:conversations.history")


def test_keys_hash_the_token_and_separate_buckets(redis_client: redis.Redis, prefix: str) -> None:
    rl = limiter(redis_client, prefix, built_in_policy())
    for key in ("asana", "slack:conversations.history", "slack:users.list",
                "slack:chat.postMessage:C1", "slack:chat.postMessage:C2"):
        rl.acquire(key)
        rl.release(key)
    keys = {k.decode() for k in redis_client.scan_iter(match=f"{prefix}:*")}
    assert not any("tok-a" in k or "tok-s" in k for k in keys)
    assert f"{prefix}:rl:asana:{token_hash('tok-a')}:requests" in keys
    slack = f"{prefix}:rl:slack:{token_hash('tok-s')}"
    assert {f"{slack}:method:conversations.history", f"{slack}:method:users.list",
            f"{slack}:chat.postMessage:C1", f"{slack}:chat.postMessage:C2"} <= keys


def test_policy_maps_slack_methods_to_tiers_and_config() -> None:
    policy = built_in_policy()
    assert policy.limits_for("slack:users.list").buckets[0][1].limit == 20
    assert policy.limits_for("slack:conversations.history").buckets[0][1].limit == 50
    assert policy.limits_for("slack:users.info").buckets[0][1].limit == 100
    assert policy.limits_for("slack:some.newMethod").buckets[0][1].limit == 50
    post = policy.limits_for("slack:chat.postMessage:C9").buckets[0][1]
    assert (post.limit, post.period) == (1, 1.0)
    asana = policy.limits_for("asana:GET /tasks")
    assert (asana.buckets[0][1].limit, asana.concurrency) == (150, 10)
    config = Config().with_source("asana", AsanaConfig(requests_per_minute=1500, concurrent_requests=5)).with_source(
        "slack", SlackConfig(budget="marketplace_limited"))
    limited = RatePolicy.for_sources(load_sources([]), config)
    assert limited.limits_for("slack:conversations.history").buckets[0][1].limit == 1
    assert limited.limits_for("asana").concurrency == 5


def test_redis_down_is_a_transient_error_after_the_grace(prefix: str) -> None:
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    slept: list[float] = []
    rl = RedisRateLimiter(dead, prefix=prefix, sleep=slept.append, outage_grace=3.0)
    with pytest.raises(TransientError, match="Redis unavailable") as caught:
        rl.acquire("asana")
    assert "127.0.0.1" not in str(caught.value)
    assert 3.0 <= sum(slept) < 4.5 and max(slept) == 1.0  # backed off, then gave up


def test_a_redis_restart_shorter_than_the_grace_is_waited_out(redis_client: redis.Redis, prefix: str) -> None:
    down = {"calls": 2}
    rl = RedisRateLimiter(redis_client, prefix=prefix, sleep=lambda _s: None)
    script = rl._bucket

    def flaky(**kwargs: object) -> object:
        if down["calls"]:
            down["calls"] -= 1
            raise redis.ConnectionError("restarting")
        return script(**kwargs)

    rl._bucket = flaky  # type: ignore[assignment]
    rl.acquire("slack:users.list")
    assert down["calls"] == 0


def test_no_redis_configured_means_no_shared_limit() -> None:
    assert isinstance(rate_limiter_for(Settings(), sources=load_sources([]), config=DEFAULTS), NoRateLimit)
    unreachable = Settings(redis_url="redis://127.0.0.1:1/0")
    assert isinstance(rate_limiter_for(unreachable, sources=load_sources([]), config=DEFAULTS), NoRateLimit)
    reachable = Settings(redis_url=REDIS_URL, asana_token="secret-a")
    shared = rate_limiter_for(reachable, sources=load_sources([]), config=DEFAULTS)
    assert isinstance(shared, RedisRateLimiter)
    assert shared.bucket_keys("asana")[0].split(":")[3] == token_hash("secret-a")
    assert isinstance(shared_rate_limiter(reachable, redis.Redis.from_url(REDIS_URL),
                                          sources=load_sources([]), config=DEFAULTS), RedisRateLimiter)
