"""The Redis connection of production mode, shared by sessions, rate limits and health checks.

Short timeouts: when Redis is away, a request should learn it in milliseconds, not hang.
"""

from __future__ import annotations

from flask import Flask, current_app
from redis import ConnectionPool, Redis

CONNECT_TIMEOUT = 0.5
# Longer than the 1 s a Huey worker waits on an empty queue (BRPOP), which must not time out.
COMMAND_TIMEOUT = 2.0


def pool(url: str) -> ConnectionPool:
    """Return a pool of connections to `url` that fail fast when the server is unreachable."""
    return ConnectionPool.from_url(
        url,
        socket_connect_timeout=CONNECT_TIMEOUT,
        socket_timeout=COMMAND_TIMEOUT,
        health_check_interval=30,
    )


def connect(url: str) -> Redis:
    """Return a client for `url` that fails fast when the server is unreachable."""
    return Redis(connection_pool=pool(url))


def init_redis(app: Flask) -> None:
    """Give the app a Redis client when DAYBOOK_REDIS_URL is set."""
    url = app.config["DAYBOOK"].redis_url
    if not url:
        return
    app.extensions["redis"] = connect(url)
    # Rate-limit counters move to Redis (the limiter falls back to memory while it is away).
    app.config["RATELIMIT_STORAGE_URI"] = url


def client() -> Redis | None:
    """Return the current app's Redis client, or None in the embedded mode."""
    return current_app.extensions.get("redis")
