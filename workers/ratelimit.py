"""One API budget shared by every process: token buckets and a concurrency semaphore in Redis.

Implements `connectors.base.RateLimiter`. Connectors name what they are about to call as
`<source>:<what>`; the source's plugin says which buckets and how many requests in flight that
takes (`SourcePlugin.limits`), for example:

- `asana` (or `asana:<anything>`): Asana requests per minute plus at most N requests in flight
  (a semaphore whose leases expire, so a crashed process frees its slots);
- `slack:<method>` (e.g. `slack:conversations.history`): the method's tier (tier2 20/min,
  tier3 50/min, tier4 100/min; unknown methods count as tier3);
- `slack:chat.postMessage:<channel>`: one message per second per channel.

Redis keys are `<prefix>:rl:<service>:<token hash>:<bucket>`: the token's SHA-256 prefix, never
the token. Both Lua scripts read the clock from Redis (`TIME`) so every process agrees on it.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import redis

from connectors.base import NoRateLimit, RateLimiter, TransientError
from connectors.plugin import RequestLimits, SourceRegistry
from reconciler.settings import Settings

log = logging.getLogger(__name__)

_REDIS_DOWN = (redis.ConnectionError, redis.TimeoutError, OSError)

# KEYS: one hash per bucket. ARGV: capacity and refill per millisecond for each bucket.
# All-or-nothing: a token is taken from every bucket, or from none and the wait (ms) returned.
TOKEN_BUCKET_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local wait = 0
local state = {}
for i, key in ipairs(KEYS) do
  local capacity = tonumber(ARGV[2 * i - 1])
  local rate = tonumber(ARGV[2 * i])
  local stored = redis.call('HMGET', key, 'tokens', 'ts')
  local tokens = tonumber(stored[1]) or capacity
  local ts = tonumber(stored[2]) or now
  tokens = math.min(capacity, tokens + math.max(0, now - ts) * rate)
  state[i] = tokens
  if tokens < 1 then
    wait = math.max(wait, math.ceil((1 - tokens) / rate))
  end
end
if wait > 0 then
  return wait
end
for i, key in ipairs(KEYS) do
  local capacity = tonumber(ARGV[2 * i - 1])
  local rate = tonumber(ARGV[2 * i])
  redis.call('HSET', key, 'tokens', state[i] - 1, 'ts', now)
  redis.call('PEXPIRE', key, math.ceil(capacity / rate) + 1000)
end
return 0
"""

# KEYS[1]: sorted set of leases scored by expiry. ARGV: limit, lease ms, lease id.
SEMAPHORE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[1])
local lease = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now + lease, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], lease * 2)
  return 0
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(first[2]) - now)
"""

@dataclass(frozen=True, slots=True)
class Rate:
    """`limit` requests per `period` seconds, with bursts of up to `burst` (default: `limit`)."""

    limit: int
    period: float
    burst: int | None = None

    @property
    def capacity(self) -> int:
        return self.burst or self.limit

    @property
    def per_ms(self) -> float:
        return self.limit / (self.period * 1000.0)


@dataclass(frozen=True, slots=True)
class Limits:
    """What one `acquire(key)` must get: a token from each bucket, and a slot if `concurrency`."""

    service: str
    buckets: tuple[tuple[str, Rate], ...]
    concurrency: int | None = None


ServiceLimits = Callable[[str], RequestLimits]


@dataclass(frozen=True)
class RatePolicy:
    """Which limits apply to which key `<service>:<rest>`: each source's plugin says for its
    service (`SourcePlugin.limits`); a key of no known service gets `default_per_minute`."""

    services: Mapping[str, ServiceLimits] = field(default_factory=dict)
    default_per_minute: int = 60

    @classmethod
    def for_sources(cls, sources: SourceRegistry, config: Any) -> RatePolicy:
        return cls({plugin.name: plugin.limits(config.source(plugin.name)) for plugin in sources})

    def limits_for(self, key: str) -> Limits:
        service, _, rest = key.partition(":")
        limits = self.services.get(service)
        if limits is None:
            return Limits(service or "default", ((f"key:{rest}", Rate(self.default_per_minute, 60.0)),))
        wanted = limits(rest)
        buckets = tuple((r.bucket, Rate(r.limit, r.period, r.burst)) for r in wanted.rates)
        return Limits(service, buckets, wanted.concurrency)


def token_hash(token: str | None) -> str:
    """A stable name for an API token that reveals nothing about it."""
    if not token:
        return "anonymous"
    return hashlib.sha256(token.encode()).hexdigest()[:16]


class RateLimitTimeout(TransientError):
    """Waited longer than `max_wait` for the shared budget."""


class RedisRateLimiter:
    """`RateLimiter` over Redis: atomic, shared by every process using the same Redis."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        policy: RatePolicy | None = None,
        tokens: dict[str, str | None] | None = None,
        prefix: str = "reconciler",
        lease_seconds: float = 60.0,
        max_wait: float = 300.0,
        poll: float = 0.05,
        sleep: Callable[[float], None] = time.sleep,
        outage_grace: float = 5.0,
    ) -> None:
        self.client = client
        self.policy = policy or RatePolicy()
        self._token_names = {service: token_hash(tok) for service, tok in (tokens or {}).items()}
        self.prefix = prefix
        self.lease_ms = max(1, int(lease_seconds * 1000))
        self.max_wait = max_wait
        self.poll = poll
        self._sleep = sleep
        self.outage_grace = outage_grace
        self._bucket = client.register_script(TOKEN_BUCKET_LUA)
        self._semaphore = client.register_script(SEMAPHORE_LUA)
        self._leases: dict[str, list[str]] = defaultdict(list)
        self._leases_lock = threading.Lock()

    # -- keys -------------------------------------------------------------------------------

    def _base(self, service: str) -> str:
        return f"{self.prefix}:rl:{service}:{self._token_names.get(service, 'anonymous')}"

    def bucket_keys(self, key: str) -> list[str]:
        limits = self.policy.limits_for(key)
        return [f"{self._base(limits.service)}:{name}" for name, _ in limits.buckets]

    def semaphore_key(self, key: str) -> str | None:
        limits = self.policy.limits_for(key)
        return f"{self._base(limits.service)}:inflight" if limits.concurrency else None

    # -- one attempt ------------------------------------------------------------------------

    def try_take_token(self, key: str) -> float:
        """Take a token from every bucket of `key`: 0.0, or the seconds to wait (none taken)."""
        limits = self.policy.limits_for(key)
        args: list[float] = []
        for _, rate in limits.buckets:
            args += [rate.capacity, rate.per_ms]
        wait_ms = self._call(self._bucket, self.bucket_keys(key), args)
        return wait_ms / 1000.0

    def try_take_slot(self, key: str) -> float:
        """Take a concurrency slot for `key`: 0.0, or the seconds until one may free up."""
        limits = self.policy.limits_for(key)
        sem = self.semaphore_key(key)
        if sem is None or limits.concurrency is None:
            return 0.0
        lease = uuid.uuid4().hex
        wait_ms = self._call(self._semaphore, [sem], [limits.concurrency, self.lease_ms, lease])
        if wait_ms == 0:
            with self._leases_lock:
                self._leases[key].append(lease)
        return wait_ms / 1000.0

    def _call(self, script: redis.commands.core.Script, keys: list[str], args: list[float]) -> int:
        """One script call; Redis away for less than `outage_grace` (a restart, a failover) is
        waited out, longer is a `TransientError` for the partition."""
        waited, pause = 0.0, 0.1
        while True:
            try:
                return int(script(keys=keys, args=args))
            except _REDIS_DOWN as exc:
                if waited >= self.outage_grace:
                    raise TransientError(f"rate limiter: Redis unavailable ({type(exc).__name__})") from None
            self._sleep(pause)
            waited += pause
            pause = min(1.0, pause * 2)

    # -- the RateLimiter protocol -----------------------------------------------------------

    def acquire(self, key: str) -> None:
        deadline = time.monotonic() + self.max_wait
        self._wait_for(lambda: self.try_take_slot(key), key, deadline, poll=True)
        try:
            self._wait_for(lambda: self.try_take_token(key), key, deadline, poll=False)
        except BaseException:
            self.release(key)
            raise

    def release(self, key: str) -> None:
        sem = self.semaphore_key(key)
        if sem is None:
            return
        with self._leases_lock:
            lease = self._leases[key].pop() if self._leases[key] else None
        if lease is None:
            return
        try:
            self.client.zrem(sem, lease)
        except _REDIS_DOWN:
            pass  # the lease expires by itself

    def _wait_for(self, attempt: Callable[[], float], key: str, deadline: float, *, poll: bool) -> None:
        while True:
            wait = attempt()
            if wait <= 0:
                return
            if poll:  # a release frees a slot before the earliest lease expires
                wait = min(wait, self.poll * (1 + random.random()))
            if time.monotonic() + wait > deadline:
                raise RateLimitTimeout(f"rate limit: waited over {self.max_wait:.0f}s for {key}")
            self._sleep(wait)


def shared_rate_limiter(
    settings: Settings,
    client: redis.Redis,
    *,
    sources: SourceRegistry,
    config: Any,
    prefix: str = "reconciler",
) -> RedisRateLimiter:
    """The Redis limiter for every registered source, with each source's budget from `config`."""
    tokens = {plugin.name: plugin.credentials(settings).token for plugin in sources}
    return RedisRateLimiter(client, policy=RatePolicy.for_sources(sources, config), tokens=tokens, prefix=prefix)


def rate_limiter_for(
    settings: Settings, *, sources: SourceRegistry, config: Any, prefix: str = "reconciler"
) -> RateLimiter:
    """The shared Redis limiter when REDIS_URL is set and answers, else `NoRateLimit`."""
    from workers.connections import reachable_redis

    client = reachable_redis(settings)
    if client is None:
        return NoRateLimit()
    return shared_rate_limiter(settings, client, sources=sources, config=config, prefix=prefix)
