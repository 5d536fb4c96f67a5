"""Incidents: the record, the open and all sets, and the channel index. Every change goes
through `update()`: read the incident (or take the caller's copy), apply a pure mutation,
then one compare-and-set script (lua/incident_update.lua) writes the incident, appends its
timeline entries and its lifecycle event, and keeps the open set and the channel index, only
if the incident is still the revision the change was made from; otherwise the change is made
again on the stored one. So the timeline never disagrees with the state and concurrent
replicas never lose a write. The revision written with every change also tells, after a
connection dropped mid-script, whether the write landed.

A change is made from the incident as this process last wrote or read it, when it did so
lately (`SEEN_*`), instead of reading it first: the compare-and-set finds out if another
writer came in between (the script then answers the stored incident, and the change is made
again on it), so a change costs one round trip where this process is the only writer, as in
a declare's set-up, and never more round trips than a read first would. Changes of one
incident in one process take turns (`Turns`): they do not race each other to the script."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from cachetools import TTLCache
from redis.exceptions import ConnectionError

from bot.core.errors import IncidentNotFound
from bot.core.models import Incident, TimelineEntry
from bot.core.store import scripts
from bot.core.store.base import StoreBase, Turns, as_str

Mutation = Callable[[Incident], Iterable[TimelineEntry] | None]

# how many incidents, for how long (seconds), this process keeps as it last saw them
SEEN_MOST, SEEN_FOR = 512, 30.0


class IncidentRepo(StoreBase):
    """Incidents: create, read, and change through `update()`."""

    async def create(
        self,
        incident: Incident,
        entry: TimelineEntry,
        *,
        more: Sequence[TimelineEntry] = (),
        data: Mapping[str, Any] | None = None,
    ) -> bool:
        """Store a new incident, its first timeline entry (and `more`) and its `declared`
        event (with `data`) in one script; False (nothing written) when its id is taken."""
        keys = [
            self.keys.incident(incident.id),
            self.keys.all,
            self.keys.open,
            self.keys.timeline(incident.id),
            self.keys.events,
        ]
        args = [
            incident.model_dump_json(),
            incident.id,
            repr(incident.declared_at),
            "1" if incident.is_open else "",
            self._event_json("declared", incident, entry.at, data),
            *(e.model_dump_json() for e in (entry, *more)),
        ]
        created = bool(await self._script(scripts.INCIDENT_CREATE)(keys, args))
        if created:
            self._seen[incident.id] = args[0]
        return created

    async def get(self, incident_id: str) -> Incident | None:
        """The incident as stored now (and, so, as this process last saw it)."""
        raw = await self.redis.get(self.keys.incident(incident_id))
        if not raw:
            return None
        self._seen[incident_id] = as_str(raw)
        return Incident.model_validate_json(raw)

    @functools.cached_property
    def _seen(self) -> TTLCache[str, str]:
        """Incident id -> its JSON as this process last wrote or read it."""
        return TTLCache(SEEN_MOST, SEEN_FOR)

    @functools.cached_property
    def _turns(self) -> Turns:
        """This process's changes of one incident, one at a time."""
        return Turns()

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
        current: Incident | None = None,
    ) -> Incident:
        """Apply `mutate` atomically; it edits the incident in place and returns the
        timeline entries the change makes (none = bookkeeping, generation unchanged;
        none and no change: nothing is written). An exception from `mutate` aborts with
        nothing written. `emit`: the lifecycle event the change is (bot/core/events.py),
        written in the same script when the change makes timeline entries. `current`:
        the incident as the caller last saw it (left as it is): the change is made from
        it (or from the one this process saw last) without reading it first, and from
        the stored one if that moved on since. Two changes of one incident in this
        process (a page's record and its set-up's, say) go one after the other, the second
        made from the first's result, instead of racing to a compare-and-set one loses."""
        async with self._turns.of(incident_id):
            return await self._update(incident_id, mutate, emit=emit, data=data, current=current)

    async def _update(
        self,
        incident_id: str,
        mutate: Mutation,
        *,
        emit: str | None,
        data: Mapping[str, Any] | None,
        current: Incident | None,
    ) -> Incident:
        key = self.keys.incident(incident_id)
        # the newest this process knows: what it last wrote or read (a caller's copy was
        # read here too, unless it came from elsewhere, as an event's)
        seen = self._seen.get(incident_id) or (current and current.model_dump_json())
        incident = Incident.model_validate_json(seen) if seen else await self.get(incident_id)
        stored = not seen
        dropped = 0
        while True:
            if incident is None:
                raise IncidentNotFound(incident_id)
            was_open, was_channel, read_rev = incident.is_open, incident.channel_id, incident.rev
            before = incident.model_dump_json()
            entries = list(mutate(incident) or ())
            if not entries and incident.model_dump_json() == before:
                if stored:
                    return incident  # nothing changed (on the stored one): nothing to write
                incident, stored = await self.get(incident_id), True  # on a copy: the stored says
                continue
            if entries:
                incident.generation += 1
            rev = incident.rev = uuid.uuid4().hex
            event = ""
            if entries and emit:
                event = self._event_json(emit, incident, entries[0].at, data)
            channel = incident.channel_id
            opened = "+" if incident.is_open and not was_open else ""
            opened = "-" if was_open and not incident.is_open else opened
            keys = [
                key,
                self.keys.timeline(incident_id),
                self.keys.events,
                self.keys.open,
                self.keys.channel(channel or ""),
                self.keys.channel(was_channel or ""),
            ]
            written = incident.model_dump_json()
            args = [
                read_rev,
                written,
                event,
                opened,
                repr(incident.declared_at),
                incident_id,
                "1" if channel and channel != was_channel else "",
                # the incident moved (made private): its old channel is not it any more
                "1" if was_channel and was_channel != channel else "",
                *(e.model_dump_json() for e in entries),
            ]
            try:
                answer = await self._script(scripts.INCIDENT_UPDATE)(keys, args)
            except ConnectionError:
                # The connection dropped (a failover, a restart): the write may have
                # landed. The revision says whether it did, so a change is never applied
                # twice.
                dropped += 1
                if dropped > 2:
                    raise
                incident, stored = await self.get(incident_id), True
                if incident is not None and incident.rev == rev:
                    return incident
                continue
            status = as_str(answer[0])
            if status == "missing":
                self._seen.pop(incident_id, None)
                raise IncidentNotFound(incident_id)
            now = Incident.model_validate_json(answer[1]) if status != "ok" else None
            if now is None or now.rev == rev:  # (ours, landed before a dropped connection)
                self._seen[incident_id] = written
                return incident
            incident, stored = now, True  # another writer's change came first: made again

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
