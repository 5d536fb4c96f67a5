"""The process's one Redis client (bot/server.py builds it; the store wraps it)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.connection import AbstractConnection, ConnectionPool
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import ExponentialBackoff
from redis.connection import parse_url
from redis.exceptions import ConnectionError
from redis.maint_notifications import MaintNotificationsConfig

# a command this big may not fit the socket's buffers, so its write may wait: bounded then
SMALL_WRITE = 32 * 1024


class _WriteWithoutTask(AbstractConnection):
    """redis-py bounds each write with `asyncio.wait_for`, which on Python 3.11 runs the
    write as a task of its own: a task and a loop turn for every command, a third of a
    small command's CPU. A small command's write goes to the socket's buffers at once
    and never waits, so it needs no bound; the reply it asks for is bounded as ever by
    `socket_timeout` (a timeout context, no task), so a silent Redis still answers the
    caller in time. Connecting, the health check's PING and big writes keep the bound."""

    async def send_packed_command(
        self, command: bytes | str | Iterable[bytes], check_health: bool = True
    ) -> None:
        if not self.is_connected or isinstance(command, str | bytes):
            return await super().send_packed_command(command, check_health)
        chunks = list(command)
        if sum(map(len, chunks)) > SMALL_WRITE:
            return await super().send_packed_command(chunks, check_health)
        if check_health:
            await self.check_health()
        timeout, self.socket_timeout = self.socket_timeout, None  # this write only
        try:
            await super().send_packed_command(chunks, check_health=False)
        finally:
            self.socket_timeout = timeout


def _without_write_tasks(pool: ConnectionPool) -> ConnectionPool:
    base = pool.connection_class
    pool.connection_class = type(base.__name__, (_WriteWithoutTask, base), {})
    return pool


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
    - A small command's write is not wrapped in a task of its own (`_WriteWithoutTask`).
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
        pool = _without_write_tasks(BlockingConnectionPool.from_url(url, **options))
        return Redis(connection_pool=pool)
    parsed = parse_url(url)
    auth = {k: parsed[k] for k in ("username", "password", "db") if parsed.get(k) is not None}
    nodes = [_host_port(node) for node in sentinels.split(",") if node.strip()]
    sentinel = Sentinel(
        nodes,
        sentinel_kwargs={"socket_timeout": timeout, "socket_connect_timeout": timeout},
    )
    client = sentinel.master_for(
        master,
        redis_class=Redis,
        connection_pool_class=_SentinelBlockingPool,
        **options,
        **auth,
    )
    _without_write_tasks(client.connection_pool)
    return client


def _host_port(node: str) -> tuple[str, int]:
    host, _, port = node.strip().rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"REDIS_SENTINELS: {node.strip()!r} is not host:port")
    return host.strip("[]"), int(port)
