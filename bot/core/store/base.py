"""What every repository of the store shares: the client, the keys, registered scripts, the
lifecycle event written inside a change, a consumer group made again when Redis lost it, and
writes sent together when they come together (`Batches`), and one writer at a time per
record in this process (`Turns`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError, ResponseError, WatchError

from bot.core.models import Incident, LifecycleEvent
from bot.core.store.keys import Keys

log = logging.getLogger("bot.core.store")

T = TypeVar("T")
R = TypeVar("R")


class StoreBase:
    """The state a repository works on; `Store` composes the repositories over one."""

    redis: Redis
    keys: Keys

    def _script(self, body: str) -> AsyncScript:
        """A registered script: EVALSHA, loading it again if Redis forgot it."""
        scripts: dict[str, AsyncScript] = self.__dict__.setdefault("_scripts", {})
        if body not in scripts:
            scripts[body] = self.redis.register_script(body)
        return scripts[body]

    async def _watched(self, key: str, work: Callable[[Pipeline], Awaitable[T]]) -> T:
        """One optimistic transaction on `key`: `work` reads through the WATCHing pipe, then
        queues its writes after `pipe.multi()` and executes them; it runs again on fresh
        data when another writer changed `key` in between."""
        while True:
            async with self.redis.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(key)
                    return await work(pipe)
                except WatchError:
                    continue

    def _emit(
        self,
        pipe: Any,
        kind: str,
        incident: Incident,
        at: float,
        data: Mapping[str, Any] | None = None,
    ) -> None:
        """Queue the lifecycle event on `pipe`: it is written with the change (the outbox;
        incidents.py's create and update scripts write it the same way)."""
        pipe.xadd(self.keys.events, {"e": self._event_json(kind, incident, at, data)})

    @staticmethod
    def _event_json(
        kind: str, incident: Incident, at: float, data: Mapping[str, Any] | None = None
    ) -> str:
        event = LifecycleEvent(type=kind, incident=incident, at=at, data=dict(data or {}))
        return event.model_dump_json()

    async def _many(self, ids: list[Any]) -> list[Incident]:
        if not ids:
            return []
        raws = await self.redis.mget([self.keys.incident(as_str(i)) for i in ids])
        return [Incident.model_validate_json(r) for r in raws if r]

    @contextlib.asynccontextmanager
    async def _grouped(self, make: Callable[[], Awaitable[None]]) -> AsyncIterator[None]:
        """A stream read whose consumer group is gone (Redis lost its data) makes it again,
        and reads nothing this time, instead of failing forever."""
        try:
            yield
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            log.warning("a stream's consumer group was gone; made again")
            await make()


def as_str(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


class Batches(Generic[T, R]):
    """Writes sent together: one asked for while none is under way goes at once, by its
    caller; those asked for meanwhile wait and go together in the next call (up to `most`
    a call), so a burst costs Redis far fewer commands and round trips. Each caller gets
    its own items' answers, or the call's error."""

    def __init__(self, send: Callable[[list[T]], Awaitable[Sequence[R]]], *, most: int) -> None:
        self.send = send
        self.most = most
        self.queued: list[tuple[T, asyncio.Future[R]]] = []
        self.busy: asyncio.AbstractEventLoop | None = None  # the loop a call is under way on
        self.sending: asyncio.Task[None] | None = None

    async def run(self, *items: T) -> list[R]:
        """Each item's answer; one caller's items go in one call when none is under way."""
        loop = asyncio.get_running_loop()
        if self.busy is loop:
            answers: list[asyncio.Future[R]] = []
            for item in items:
                answers.append(loop.create_future())
                self.queued.append((item, answers[-1]))
            return list(await asyncio.gather(*answers))
        self.busy, self.queued = loop, []  # (what another, finished loop left is gone)
        try:
            return list(await self.send(list(items)))
        finally:
            self._next(loop)

    def _next(self, loop: asyncio.AbstractEventLoop) -> None:
        if self.queued and not loop.is_closed():
            self.sending = loop.create_task(self._drain())
        else:
            self.busy = None

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        batch, self.queued = self.queued[: self.most], self.queued[self.most :]
        try:
            results = await self.send([item for item, _ in batch])
        except BaseException as exc:
            error = exc if isinstance(exc, Exception) else RedisError(f"cancelled: {exc!r}")
            for _, answer in batch:
                if not answer.done():
                    answer.set_exception(error)
            if not isinstance(exc, Exception):
                raise
        else:
            for (_, answer), result in zip(batch, results, strict=True):
                if not answer.done():
                    answer.set_result(result)
        finally:
            self._next(loop)


class Turns:
    """One at a time per key, in this process: a writer that would race another of this
    process on the same record (and lose its compare-and-set, and write again) waits its
    turn instead, and then writes from what the other wrote. Held only while a write is
    under way; bounded by the writers waiting."""

    def __init__(self) -> None:
        self._held: dict[str, tuple[asyncio.Lock, list[int]]] = {}

    @contextlib.asynccontextmanager
    async def of(self, key: str) -> AsyncIterator[None]:
        lock, users = self._held.setdefault(key, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if not users[0]:
                del self._held[key]
