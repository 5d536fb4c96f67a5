"""The process's one Redis client (bot/server.py builds it; the store wraps it)."""

from __future__ import annotations

from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import ExponentialBackoff
from redis.connection import parse_url
from redis.exceptions import ConnectionError
from redis.maint_notifications import MaintNotificationsConfig


class _SentinelBlockingPool(SentinelConnectionPool, BlockingConnectionPool):
    """The primary found through Sentinel, with the blocking pool's bound: a burst waits
    briefly for a free connection instead of opening one per request."""


def connect(
    url: str,
    *,
    timeout: float,
    sentinels: str | None = None,
    master: str = "mymaster",
    max_connections: int = 64,
) -> Redis:
    """The process's one Redis client: a bounded pool shared by every part.

    - Short socket timeouts: a command must be able to say "store unreachable" in < 3 s.
    - Every pooled connection is checked before use. redis-py's maintenance-notifications
      mode ("auto" by default) skips that check, so after a Redis restart or a failover each
      idle connection would fail its first command: it is switched off.
    - A command that meets a dropped connection is retried at once on a fresh one (never a
      timeout: a command that may have run is not sent twice).
    - With `sentinels` ("host:port,host:port"), the primary of `master` is found through
      them and followed across failovers; `url` then supplies only the db and password.
    """
    options: dict[str, Any] = {
        "decode_responses": True,
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "health_check_interval": 15,
        "retry": Retry(ExponentialBackoff(cap=0.2, base=0.02), 2, (ConnectionError,)),
        "maint_notifications_config": MaintNotificationsConfig(enabled=False),
        "max_connections": max_connections,
        "timeout": 10,  # seconds a caller waits for a free pooled connection
    }
    if not sentinels:
        return Redis(connection_pool=BlockingConnectionPool.from_url(url, **options))
    parsed = parse_url(url)
    auth = {k: parsed[k] for k in ("username", "password", "db") if parsed.get(k) is not None}
    nodes = [_host_port(node) for node in sentinels.split(",") if node.strip()]
    sentinel = Sentinel(
        nodes,
        sentinel_kwargs={"socket_timeout": timeout, "socket_connect_timeout": timeout},
    )
    return sentinel.master_for(
        master,
        redis_class=Redis,
        connection_pool_class=_SentinelBlockingPool,
        **options,
        **auth,
    )


def _host_port(node: str) -> tuple[str, int]:
    host, _, port = node.strip().rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"REDIS_SENTINELS: {node.strip()!r} is not host:port")
    return host.strip("[]"), int(port)
