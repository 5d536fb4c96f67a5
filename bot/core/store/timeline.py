"""Timelines: an incident's entries, oldest first, and the entries written once (a marker,
or a channel message captured by a pin or a 📌, credited to the earliest)."""

from __future__ import annotations

from typing import Literal

from bot.core.models import TimelineEntry
from bot.core.store import scripts
from bot.core.store.base import StoreBase
from bot.core.store.keys import Once


class TimelineRepo(StoreBase):
    """Timelines: appended with changes, or once per marker or captured message."""

    async def append(self, incident_id: str, *entries: TimelineEntry) -> None:
        await self.redis.rpush(
            self.keys.timeline(incident_id), *(e.model_dump_json() for e in entries)
        )

    async def timeline(self, incident_id: str) -> list[TimelineEntry]:
        raw = await self.redis.lrange(self.keys.timeline(incident_id), 0, -1)
        return [TimelineEntry.model_validate_json(r) for r in raw]

    async def timelines(self, incident_ids: list[str]) -> dict[str, list[TimelineEntry]]:
        """Several incidents' timelines in one round trip."""
        if not incident_ids:
            return {}
        async with self.redis.pipeline(transaction=False) as pipe:
            for incident_id in incident_ids:
                pipe.lrange(self.keys.timeline(incident_id), 0, -1)
            found = await pipe.execute()
        return {
            incident_id: [TimelineEntry.model_validate_json(r) for r in raw]
            for incident_id, raw in zip(incident_ids, found, strict=True)
        }

    async def append_marked(
        self, incident_id: str, entry: TimelineEntry, *, scope: Once, key: str, ttl: int
    ) -> bool:
        """Append `entry` unless (scope, key) was used within `ttl` seconds: the marker and
        the entry are written together, so a crash between them loses nothing and a
        repeat adds nothing. True when appended."""
        keys = [self.keys.once(scope, key), self.keys.timeline(incident_id)]
        return bool(await self._script(scripts.APPEND_MARKED)(keys, [ttl, entry.model_dump_json()]))

    async def capture(
        self, incident_id: str, message_ts: str, entry: TimelineEntry, *, at: int, by: str
    ) -> Literal["added", "moved"] | None:
        """Put a channel message on the timeline once, credited to the pin or 📌 with the
        earliest Slack event time `at` (µs) by `by`: "added" (first seen), "moved" (this
        one came earlier than the credited one: its entry replaces that one in place), or
        None. One script: marker, credit and entry change together."""
        keys = [
            self.keys.captured(incident_id),
            self.keys.captured_by(incident_id),
            self.keys.timeline(incident_id),
        ]
        args = [message_ts, str(at), by, entry.model_dump_json()]
        done = int(await self._script(scripts.CAPTURE)(keys, args))
        return "added" if done == 1 else "moved" if done == 2 else None
