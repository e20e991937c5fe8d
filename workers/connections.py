"""Redis clients for locks, rate limits and status; never logs the URL's password."""

from __future__ import annotations

from functools import lru_cache

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from reconciler.settings import Settings, redis_configured


def describe_redis_url(url: str) -> str:
    """The URL without credentials, for messages."""
    rest = url.split("://", 1)[-1]
    return rest.rsplit("@", 1)[-1]


@lru_cache(maxsize=8)
def redis_client(url: str, *, timeout: float = 5.0) -> redis.Redis:
    """A pooled client that retries a dropped connection a few times before raising."""
    return redis.Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), retries=3),
        retry_on_error=[redis.ConnectionError, redis.TimeoutError],
        health_check_interval=30,
    )


def reachable_redis(settings: Settings, *, timeout: float = 0.5) -> redis.Redis | None:
    """A client for REDIS_URL if it is configured and answers a ping, else None."""
    if not redis_configured(settings):
        return None
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        client.ping()
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        client.close()
        return None
    client.close()
    return redis_client(settings.redis_url)
