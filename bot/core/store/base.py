"""What every repository of the store shares: the client, the keys, registered scripts, the
lifecycle event written inside a change, and a consumer group made again when Redis lost it."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, TypeVar

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.commands.core import AsyncScript
from redis.exceptions import ResponseError, WatchError

from bot.core.models import Incident, LifecycleEvent
from bot.core.store.keys import Keys

log = logging.getLogger("bot.core.store")

T = TypeVar("T")


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
