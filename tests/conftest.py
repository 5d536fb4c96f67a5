"""Test session fixtures: a throwaway real redis-server on a free port."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
import redis
from aiohttp import web

from bot.core import activity
from tests.sandbox_process import free_port


async def serve_slack_events(
    fake: Any, route: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.AppRunner:
    """`route` on /slack/events of a free port, the fake Slack's requests sent there; the
    caller cleans the runner up."""
    app = web.Application()
    app.router.add_post("/slack/events", route)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    fake.app_url = f"http://{host}:{port}/slack/events"
    return runner


class RedisServer:
    """A redis-server process of our own; never a developer's running Redis."""

    def __init__(
        self,
        *,
        appendonly: bool = False,
        replica_of: int | None = None,
        password: str | None = None,
    ) -> None:
        self.appendonly = appendonly  # the session's server persists nothing (fast)
        self.replica_of = replica_of  # a primary's port: this one replicates it
        self.password = password  # requirepass: clients must AUTH
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            raise RuntimeError("redis-server is not installed: run the README's test command")
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="test-redis-")
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.start()

    def start(self) -> None:
        assert self.binary
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes" if self.appendonly else "no",
                # a kill -9 of a persistent server loses no acknowledged write
                *(["--appendfsync", "always"] if self.appendonly else []),
                "--dir",
                self.dir,
                *(["--replicaof", "127.0.0.1", str(self.replica_of)] if self.replica_of else []),
                *(["--requirepass", self.password] if self.password else []),
            ],
            stdout=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, password=self.password)
        deadline = time.monotonic() + 10
        while True:  # readiness: wait until it answers PING
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.02)
        client.close()

    def flush(self) -> None:
        with redis.Redis(port=self.port, password=self.password) as client:
            client.flushall()

    def stop(self, *, keep_dir: bool = False) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        if not keep_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def kill(self) -> None:
        """SIGKILL: the host dies, nothing is flushed or handed over."""
        self.proc.kill()
        self.proc.wait(10)


class SentinelServer:
    """A redis-server in Sentinel mode watching `master` at 127.0.0.1:`primary_port`."""

    def __init__(self, primary_port: int, *, master: str = "mymaster", quorum: int = 2) -> None:
        assert shutil.which("redis-server")
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="test-sentinel-")
        conf = os.path.join(self.dir, "sentinel.conf")
        with open(conf, "w") as f:  # Sentinel rewrites its own file: one each
            f.write(
                f"port {self.port}\nbind 127.0.0.1\ndir {self.dir}\n"
                f"sentinel monitor {master} 127.0.0.1 {primary_port} {quorum}\n"
                # 3 s: quick enough for a test, and a Redis starved of CPU for a second on a
                # loaded machine is not taken for dead (a spurious second failover could
                # promote the old primary before it has synced)
                f"sentinel down-after-milliseconds {master} 3000\n"
                f"sentinel failover-timeout {master} 10000\n"
                f"sentinel parallel-syncs {master} 1\n"
            )
        self.proc = subprocess.Popen(
            [str(shutil.which("redis-server")), conf, "--sentinel"], stdout=subprocess.DEVNULL
        )
        client = redis.Redis(port=self.port, decode_responses=True)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("redis-server --sentinel did not start") from None
                time.sleep(0.02)
        client.close()

    def primary_port(self, master: str = "mymaster") -> int | None:
        with redis.Redis(port=self.port, decode_responses=True) as client:
            addr = client.execute_command("SENTINEL", "get-master-addr-by-name", master)
        return int(addr[1]) if addr else None

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    redis_server.flush()
    return redis_server.url


@pytest.fixture(autouse=True)
def no_bot_left_running() -> Iterator[None]:
    """A bot or fake a test left running would keep later tests' waits from settling
    (tests/integration/harness.py): stop what is left, and say so."""
    yield
    left = activity.running()
    for part in left:
        part.stop()
    assert not left, f"still running after the test: {left}"
