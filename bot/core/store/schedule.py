"""Durable time (bot/core/schedule.py): due-items in a sorted set scored by due time, each
with its lane's generation; claimed, finished, retried and cancelled by one script each."""

from __future__ import annotations

import json
from typing import Any

from bot.core.models import DueItem
from bot.core.store import scripts
from bot.core.store.base import StoreBase, as_str, dumps


class DueRepo(StoreBase):
    """Due-items: scheduled, claimed, done, retried, cancelled."""

    async def due_schedule(self, item: DueItem, *, keep_for: int) -> bool:
        """Store `item` as its (incident, kind, key)'s one pending occurrence. False when
        its generation is older than its lane's floor (a newer decision was made)."""
        keys = [
            self.keys.due,
            self.keys.due_item(item.id),
            self.keys.due_of(item.incident_id),
            self.keys.due_gen(item.incident_id),
        ]
        args: list[str | int] = [
            item.id,
            item.kind,
            item.incident_id,
            item.key,
            item.lane,
            item.token,
            item.generation,
            repr(item.due_at),
            dumps(item.payload),
            keep_for,
            self.keys.prefix,
        ]
        return bool(await self._script(scripts.DUE_SCHEDULE)(keys, args))

    async def due_claim(
        self, now: float, lease_until: float, limit: int
    ) -> tuple[list[DueItem], int, float | None]:
        """Claim up to `limit` due items (one script): (claimed, stale ones dropped, when
        the first item left is due, or None)."""
        out = await self._script(scripts.DUE_CLAIM)(
            [self.keys.due], [repr(now), repr(lease_until), limit, self.keys.prefix]
        )
        next_due = float(out[1]) if out[1] else None
        return [_due_item(flat) for flat in out[2:]], int(out[0]), next_due

    async def due_done(self, item: DueItem, record: dict[str, Any] | None, *, ttl: int) -> bool:
        """Finish a claimed item: its send record written (if given) and the item removed,
        unless it was rescheduled meanwhile. True when this removed it."""
        keys = [
            self.keys.due,
            self.keys.due_item(item.id),
            self.keys.due_of(item.incident_id),
            self.keys.due_sent(item.token),
        ]
        body = dumps(record) if record is not None else ""
        return bool(await self._script(scripts.DUE_DONE)(keys, [item.id, item.token, body, ttl]))

    async def due_retry(self, item: DueItem, at: float, error: str) -> bool:
        keys = [self.keys.due, self.keys.due_item(item.id)]
        args = [item.id, item.token, repr(at), error[:500]]
        return bool(await self._script(scripts.DUE_RETRY)(keys, args))

    async def due_cancel(
        self,
        incident_id: str,
        *,
        kind: str | None,
        lane: str | None,
        key: str | None,
        generation: int | None,
    ) -> int:
        keys = [self.keys.due, self.keys.due_of(incident_id), self.keys.due_gen(incident_id)]
        args = [
            self.keys.prefix,
            kind or "",
            lane or "",
            key or "",
            "" if generation is None else generation,
            "1" if key is None else "0",
        ]
        return int(await self._script(scripts.DUE_CANCEL)(keys, args))

    async def due_next(self) -> float | None:
        """When the first pending item (of any incident) is due, or None."""
        first = await self.redis.zrange(self.keys.due, 0, 0, withscores=True)
        return float(first[0][1]) if first else None

    async def due_pending(self, incident_id: str) -> list[DueItem]:
        ids = await self.redis.smembers(self.keys.due_of(incident_id))
        if not ids:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for item_id in ids:
                pipe.hgetall(self.keys.due_item(as_str(item_id)))
            found = await pipe.execute()
        items = []
        for raw in found:
            if raw:
                flat = [x for pair in raw.items() for x in pair]
                items.append(_due_item(flat))
        return sorted(items, key=lambda i: i.due_at)

    async def due_sent(self, token: str) -> dict[str, Any] | None:
        raw = await self.redis.get(self.keys.due_sent(token))
        return json.loads(raw) if raw else None

    async def due_count(self) -> int:
        return int(await self.redis.zcard(self.keys.due))


def _due_item(flat: list[Any]) -> DueItem:
    raw = {as_str(flat[i]): as_str(flat[i + 1]) for i in range(0, len(flat), 2)}
    return DueItem(
        id=raw["id"],
        kind=raw["kind"],
        incident_id=raw["incident"],
        key=raw.get("key", ""),
        lane=raw["lane"],
        token=raw["token"],
        generation=int(raw["generation"]),
        due_at=float(raw["due_at"]),
        payload=json.loads(raw.get("payload") or "{}"),
        attempts=int(raw.get("attempts", 0)),
        first_claimed_at=float(raw["first_claimed_at"]) if raw.get("first_claimed_at") else None,
        last_error=raw.get("last_error"),
    )
