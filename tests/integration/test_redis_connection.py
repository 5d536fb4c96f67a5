"""The process's Redis client (bot/core/store/connection.py) against a real redis-server:
a small command's write runs without a task of its own, a Redis that goes silent after the
connection is made still answers the caller with a timeout, and the bot loads its scripts
as it starts."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator, Coroutine, Generator
from pathlib import Path
from typing import Any

import pytest
from redis.exceptions import ConnectionError, TimeoutError

from bot.core.store import scripts
from bot.core.store.connection import SMALL_WRITE, connect
from bot.fakes.slack import FakeSlack
from tests.conftest import RedisServer
from tests.integration.bot_process import BotProcess


class _Silencer:
    """A TCP relay in front of Redis that can stop passing bytes either way while keeping
    the connections open: a Redis that hangs (or a network that drops packets)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.silent = False
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.port)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionResetError, BrokenPipeError):
                while data := await src.read(65536):
                    if not self.silent:
                        dst.write(data)
                        await dst.drain()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        writer.close()
        up_writer.close()


@pytest.fixture
async def silencer(redis_server: RedisServer) -> AsyncIterator[tuple[_Silencer, str]]:
    relay = _Silencer(redis_server.port)
    port = await relay.start()
    yield relay, f"redis://127.0.0.1:{port}/0"
    await relay.stop()


@contextlib.contextmanager
def counting_tasks() -> Generator[list[Coroutine[Any, Any, Any]], None, None]:
    loop = asyncio.get_running_loop()
    made: list[Coroutine[Any, Any, Any]] = []

    def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kw: Any) -> asyncio.Task[Any]:
        made.append(coro)
        return asyncio.Task(coro, loop=loop, **kw)

    loop.set_task_factory(factory)
    try:
        yield made
    finally:
        loop.set_task_factory(None)


async def test_a_small_commands_write_makes_no_task(redis_url: str) -> None:
    r = connect(redis_url, timeout=1.0)
    try:
        await r.set("warm", "1")  # connected, health-checked
        with counting_tasks() as made:
            assert await r.set("k", "v", nx=True, px=3000)
            assert await r.get("k") == "v"
        assert made == []
        big = "x" * (SMALL_WRITE + 1)  # a big write keeps redis-py's bound
        await r.set("big", big)
        assert await r.strlen("big") == len(big)
    finally:
        await r.aclose()


async def test_a_redis_gone_silent_still_answers_with_a_timeout(
    silencer: tuple[_Silencer, str],
) -> None:
    relay, url = silencer
    r = connect(url, timeout=0.5)
    try:
        assert await r.set("k", "v")
        relay.silent = True
        # a safety net for the test run only: the client's own timeout ends the wait
        with pytest.raises((TimeoutError, ConnectionError)):
            await asyncio.wait_for(r.get("k"), 30)
    finally:
        relay.silent = False
        await r.aclose()


async def test_the_bot_loads_every_script_as_it_starts(
    fake: FakeSlack, redis_url: str, tmp_path: Path
) -> None:
    """So the first declares of a burst do not each meet NOSCRIPT and load theirs again."""
    r = connect(redis_url, timeout=1.0)
    await r.script_flush()
    shas = [hashlib.sha1(body.encode()).hexdigest() for body in scripts.every()]
    assert not any(await r.script_exists(*shas))
    config = tmp_path / "incident.yaml"
    config.write_text("announce_channel: general\n")
    bot = BotProcess(fake, redis_url, config)
    try:
        await bot.ready()
        assert all(await r.script_exists(*shas))
    finally:
        bot.stop()
        await r.aclose()
