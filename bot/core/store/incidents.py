"""Incidents: the record, the open and all sets, and the channel index. Every change goes
through `update()`: WATCH the incident, apply a pure mutation, then write the incident and
append its timeline entries (and its lifecycle event) in one MULTI, so the timeline never
disagrees with the state and concurrent replicas never lose a write. A revision written with
every change tells, after a connection dropped mid-EXEC, whether the write landed."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from redis.exceptions import ConnectionError, WatchError

from bot.core.errors import IncidentNotFound
from bot.core.models import Incident, TimelineEntry
from bot.core.store.base import StoreBase, as_str

Mutation = Callable[[Incident], Iterable[TimelineEntry] | None]


class IncidentRepo(StoreBase):
    """Incidents: create, read, and change through `update()`."""

    async def create(
        self, incident: Incident, entry: TimelineEntry, *, data: Mapping[str, Any] | None = None
    ) -> None:
        """Store a new incident, its first timeline entry and its `declared` event (with
        `data`) in one transaction."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(self.keys.incident(incident.id), incident.model_dump_json(), nx=True)
            pipe.zadd(self.keys.all, {incident.id: incident.declared_at})
            if incident.is_open:
                pipe.zadd(self.keys.open, {incident.id: incident.declared_at})
            pipe.rpush(self.keys.timeline(incident.id), entry.model_dump_json())
            self._emit(pipe, "declared", incident, entry.at, data)
            await pipe.execute()

    async def get(self, incident_id: str) -> Incident | None:
        raw = await self.redis.get(self.keys.incident(incident_id))
        return Incident.model_validate_json(raw) if raw else None

    async def by_channel(self, channel_id: str) -> Incident | None:
        incident_id = await self.redis.get(self.keys.channel(channel_id))
        if not incident_id:
            return None
        return await self.get(as_str(incident_id))

    async def update(
        self,
        incident_id: str,
        mutate: Mutation,
        *,
        emit: str | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> Incident:
        """Apply `mutate` atomically; it edits the incident in place and returns the
        timeline entries the change makes (none = bookkeeping, generation unchanged).
        An exception from `mutate` aborts with nothing written. `emit`: the lifecycle
        event the change is (bot/core/events.py), written in the same transaction when the
        change makes timeline entries."""
        key = self.keys.incident(incident_id)
        dropped = 0
        while True:
            rev = uuid.uuid4().hex
            async with self.redis.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(key)
                    raw = await pipe.get(key)
                    if not raw:
                        raise IncidentNotFound(incident_id)
                    incident = Incident.model_validate_json(raw)
                    was_open = incident.is_open
                    was_channel = incident.channel_id
                    entries = list(mutate(incident) or ())
                    if entries:
                        incident.generation += 1
                    incident.rev = rev
                    pipe.multi()
                    pipe.set(key, incident.model_dump_json())
                    if entries:
                        pipe.rpush(
                            self.keys.timeline(incident_id), *(e.model_dump_json() for e in entries)
                        )
                        if emit:
                            self._emit(pipe, emit, incident, entries[0].at, data)
                    if was_open and not incident.is_open:
                        pipe.zrem(self.keys.open, incident_id)
                    elif incident.is_open and not was_open:
                        pipe.zadd(self.keys.open, {incident_id: incident.declared_at})
                    if incident.channel_id:
                        pipe.set(self.keys.channel(incident.channel_id), incident_id)
                    if was_channel and was_channel != incident.channel_id:
                        # the incident moved (made private): its old channel is not it any more
                        pipe.delete(self.keys.channel(was_channel))
                    await pipe.execute()
                    return incident
                except WatchError:
                    continue
                except ConnectionError:
                    # The connection dropped (a failover, a restart). Before EXEC nothing
                    # was written: run again. After it, the write may have landed: the
                    # revision says whether it did, so a change is never applied twice.
                    dropped += 1
                    if dropped > 2:
                        raise
                    if await self._rev(key) == rev:
                        return incident
                    continue

    async def _rev(self, key: str) -> str | None:
        raw = await self.redis.get(key)
        return Incident.model_validate_json(raw).rev if raw else None

    async def open_incidents(self, limit: int = 50) -> list[Incident]:
        ids = await self.redis.zrevrange(self.keys.open, 0, limit - 1)
        return await self._many(ids)

    async def recent_incidents(self, limit: int = 50) -> list[Incident]:
        ids = await self.redis.zrevrange(self.keys.all, 0, limit - 1)
        return await self._many(ids)

    async def many(self, incident_ids: list[str]) -> list[Incident]:
        """The incidents with these ids that exist, in that order."""
        return await self._many(list(dict.fromkeys(incident_ids)))

    async def incidents_declared_since(self, since: float, until: float) -> list[Incident]:
        """Incidents declared in [since, until], oldest first."""
        ids = await self.redis.zrangebyscore(self.keys.all, since, until)
        return await self._many(ids)
