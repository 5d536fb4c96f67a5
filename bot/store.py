"""The only module that knows Redis keys. Every multi-key change is atomic.

Key schema (prefix `ir:`; times are UTC epoch seconds):

| key                                   | type   | holds                                          |
| ------------------------------------- | ------ | ---------------------------------------------- |
| ir:incident:{id}                      | string | the Incident as JSON                           |
| ir:incident:{id}:timeline             | list   | TimelineEntry JSON, oldest first               |
| ir:incidents:open                     | zset   | open incident ids, score = declared_at         |
| ir:incidents:all                      | zset   | every incident id, score = declared_at         |
| ir:channel:{channel_id}               | string | incident id owning that Slack channel          |
| ir:seq:{yyyymmdd}                     | int    | incidents declared that UTC day (INCR)         |
| ir:once:{scope}:{key}                 | string | idempotency marker (SET NX EX), value = result |
| ir:lease:{name}                       | string | short lease so one replica runs a job (NX PX)  |

Every incident change goes through `update()`: WATCH the incident, apply a pure
mutation, then write the incident and append its timeline entries in one MULTI, so the
timeline never disagrees with the state and concurrent replicas never lose a write.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError, WatchError

from bot.models import Incident, TimelineEntry

PREFIX = "ir:"


class StoreUnavailable(Exception):
    """Redis did not answer; every user-facing path turns this into a plain message."""


class IncidentNotFound(Exception):
    pass


def k_incident(incident_id: str) -> str:
    return f"{PREFIX}incident:{incident_id}"


def k_timeline(incident_id: str) -> str:
    return f"{PREFIX}incident:{incident_id}:timeline"


K_OPEN = f"{PREFIX}incidents:open"
K_ALL = f"{PREFIX}incidents:all"


def k_channel(channel_id: str) -> str:
    return f"{PREFIX}channel:{channel_id}"


def k_seq(day: str) -> str:
    return f"{PREFIX}seq:{day}"


def k_once(scope: str, key: str) -> str:
    return f"{PREFIX}once:{scope}:{key}"


def k_lease(name: str) -> str:
    return f"{PREFIX}lease:{name}"


Mutation = Callable[[Incident], Iterable[TimelineEntry] | None]


class Store:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def ping(self) -> None:
        try:
            await self.redis.ping()
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(str(exc)) from exc

    # -- incidents -------------------------------------------------------------------------
    async def next_number(self, day: str) -> int:
        """The day's next incident number; INCR makes it unique across replicas."""
        n = await self.redis.incr(k_seq(day))
        await self.redis.expire(k_seq(day), 3 * 86400)
        return int(n)

    async def create(self, incident: Incident, entry: TimelineEntry) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(k_incident(incident.id), incident.model_dump_json(), nx=True)
            pipe.zadd(K_ALL, {incident.id: incident.declared_at})
            if incident.is_open:
                pipe.zadd(K_OPEN, {incident.id: incident.declared_at})
            pipe.rpush(k_timeline(incident.id), entry.model_dump_json())
            await pipe.execute()

    async def get(self, incident_id: str) -> Incident | None:
        raw = await self.redis.get(k_incident(incident_id))
        return Incident.model_validate_json(raw) if raw else None

    async def by_channel(self, channel_id: str) -> Incident | None:
        incident_id = await self.redis.get(k_channel(channel_id))
        if not incident_id:
            return None
        return await self.get(_text(incident_id))

    async def update(self, incident_id: str, mutate: Mutation) -> Incident:
        """Apply `mutate` atomically; it edits the incident in place and returns the
        timeline entries the change makes (none = bookkeeping, generation unchanged).
        An exception from `mutate` aborts with nothing written."""
        key = k_incident(incident_id)
        while True:
            async with self.redis.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(key)
                    raw = await pipe.get(key)
                    if not raw:
                        raise IncidentNotFound(incident_id)
                    incident = Incident.model_validate_json(raw)
                    was_open = incident.is_open
                    entries = list(mutate(incident) or ())
                    if entries:
                        incident.generation += 1
                    pipe.multi()
                    pipe.set(key, incident.model_dump_json())
                    if entries:
                        pipe.rpush(k_timeline(incident_id), *(e.model_dump_json() for e in entries))
                    if was_open and not incident.is_open:
                        pipe.zrem(K_OPEN, incident_id)
                    elif incident.is_open and not was_open:
                        pipe.zadd(K_OPEN, {incident_id: incident.declared_at})
                    if incident.channel_id:
                        pipe.set(k_channel(incident.channel_id), incident_id)
                    await pipe.execute()
                    return incident
                except WatchError:
                    continue

    async def append(self, incident_id: str, *entries: TimelineEntry) -> None:
        await self.redis.rpush(k_timeline(incident_id), *(e.model_dump_json() for e in entries))

    async def timeline(self, incident_id: str) -> list[TimelineEntry]:
        raw = await self.redis.lrange(k_timeline(incident_id), 0, -1)
        return [TimelineEntry.model_validate_json(r) for r in raw]

    async def open_incidents(self, limit: int = 50) -> list[Incident]:
        ids = await self.redis.zrevrange(K_OPEN, 0, limit - 1)
        return await self._many(ids)

    async def recent_incidents(self, limit: int = 50) -> list[Incident]:
        ids = await self.redis.zrevrange(K_ALL, 0, limit - 1)
        return await self._many(ids)

    async def _many(self, ids: list[Any]) -> list[Incident]:
        if not ids:
            return []
        raws = await self.redis.mget([k_incident(_text(i)) for i in ids])
        return [Incident.model_validate_json(r) for r in raws if r]

    # -- exactly once ----------------------------------------------------------------------
    async def claim_once(self, scope: str, key: str, *, ttl: int, value: str = "1") -> bool:
        """True for the first caller of (scope, key) within ttl seconds, on any replica."""
        return bool(await self.redis.set(k_once(scope, key), value, nx=True, ex=ttl))

    async def once_value(self, scope: str, key: str) -> str | None:
        raw = await self.redis.get(k_once(scope, key))
        return _text(raw) if raw is not None else None

    async def set_once_value(self, scope: str, key: str, value: str, *, ttl: int) -> None:
        await self.redis.set(k_once(scope, key), value, ex=ttl)

    async def acquire_lease(self, name: str, *, ttl_ms: int) -> str | None:
        token = uuid.uuid4().hex
        ok = await self.redis.set(k_lease(name), token, nx=True, px=ttl_ms)
        return token if ok else None

    async def release_lease(self, name: str, token: str) -> None:
        script = (
            "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end"
        )
        await self.redis.eval(script, 1, k_lease(name), token)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)
