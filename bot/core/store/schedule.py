"""Durable time (bot/core/schedule.py): due-items in a sorted set scored by due time; each
incident's items, lane floors and send records in one JSON string beside it (see
lua/lib_due.lua), read and written once by each script: the claim, and the writes
(schedule, cancel, done, retry), sent together when they come together."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from bot.core.models import DueItem
from bot.core.store import scripts
from bot.core.store.base import Batches, StoreBase, as_str, dumps

KEEP_STATE_FOR = 30 * 86400  # an incident's due-state outlives its furthest item by a week
BATCH_MAX = 500  # due-item writes in one script call


class DueRepo(StoreBase):
    """Due-items: scheduled, claimed, done, retried, cancelled."""

    async def _due_op(self, op: list[str], *more: list[str]) -> int:
        """The first op's answer (the others' are not needed: schedules with a done)."""
        return (await self.due_write([op, *more]))[0]

    async def due_write(self, ops: Sequence[list[str]]) -> list[int]:
        """Each op's answer (`due_schedule_op`, `due_cancel_op`, ...), all in one script
        call, in order. Writes asked for while one is under way go together in the next
        script call (one EVALSHA, one ZADD, each incident's state read and written once)."""
        batches: Batches[str, Any] | None = self.__dict__.get("_due_batches")
        if batches is None:
            batches = Batches(self._due_send, most=BATCH_MAX)
            self.__dict__["_due_batches"] = batches
        bodies = [json.dumps(o, separators=(",", ":")) for o in ops]
        return [int(answer) for answer in await batches.run(*bodies)]

    async def _due_send(self, ops: list[str]) -> list[Any]:
        now = repr(time.time())  # the states' lifetimes only: a week past the furthest item
        args: list[str | int] = [self.keys.prefix, now, KEEP_STATE_FOR, *ops]
        return list(await self._script(scripts.DUE_OPS)([self.keys.due], args))

    async def due_schedule(
        self, item: DueItem, *, wake: bool = False, claim: tuple[float, float] | None = None
    ) -> bool:
        """Store `item` as its (incident, kind, key)'s one pending occurrence. False when
        its generation is older than its lane's floor (a newer decision was made). `wake`:
        publish its due time to every replica's scheduler (when this one will not time it).
        `claim` (now, lease end): claimed at once, by the caller (an item due now)."""
        return bool(await self._due_op(self.due_schedule_op(item, wake=wake, claim=claim)))

    @staticmethod
    def due_schedule_op(
        item: DueItem, *, wake: bool, claim: tuple[float, float] | None
    ) -> list[str]:
        """`due_schedule`'s write, for `due_write`."""
        return _schedule_op(item, wake, claim)

    async def due_claim(
        self, now: float, lease_until: float, limit: int, *, legacy: bool = False
    ) -> tuple[list[DueItem], int, float | None]:
        """Claim up to `limit` due items (one script): (claimed, stale ones dropped, when
        the first item left is due, or None). `legacy`: first move over what is due in the
        older format's due set (an older replica may still be adding to it)."""
        prefix = self.keys.prefix
        args: list[str | int] = [repr(now), repr(lease_until), limit, prefix, KEEP_STATE_FOR]
        args.append(self.keys.due_legacy if legacy else "")
        out = await self._script(scripts.DUE_CLAIM)([self.keys.due], args)
        next_due = float(out[1]) if out[1] else None
        return [_claimed(row) for row in out[2:]], int(out[0]), next_due

    async def due_done(
        self,
        item: DueItem,
        record: dict[str, Any] | None,
        *,
        then: Sequence[DueItem] = (),
        wake: bool = False,
    ) -> bool:
        """Finish a claimed item: its send record kept (if given) and the item removed,
        unless it was rescheduled meanwhile. True when this removed it. `then`: items its
        handler scheduled, stored in the same script call (`wake` as for `due_schedule`)."""
        body = dumps(record) if record is not None else ""
        more = [_schedule_op(next_item, wake, None) for next_item in then]
        return bool(await self._due_op(["d", item.id, item.token, body], *more))

    async def due_retry(self, item: DueItem, at: float, error: str) -> bool:
        first = "" if item.first_claimed_at is None else repr(item.first_claimed_at)
        op = ["r", item.id, item.token, repr(at), error[:500], str(item.attempts), first]
        return bool(await self._due_op(op))

    async def due_hold(self, item: DueItem, until: float) -> bool:
        """Renew the lease of a claimed item still at work: due again at `until` unless
        finished first (a retry of it, its claims and last error as they are)."""
        return await self.due_retry(item, until, item.last_error or "")

    async def due_cancel(
        self,
        incident_id: str,
        *,
        kind: str | None,
        lane: str | None,
        key: str | None,
        generation: int | None,
    ) -> int:
        op = self.due_cancel_op(incident_id, kind=kind, lane=lane, key=key, generation=generation)
        return await self._due_op(op)

    @staticmethod
    def due_cancel_op(
        incident_id: str,
        *,
        kind: str | None,
        lane: str | None,
        key: str | None,
        generation: int | None,
    ) -> list[str]:
        """`due_cancel`'s write, for `due_write`."""
        gen = "" if generation is None else str(generation)
        every = "1" if key is None else "0"
        return ["c", incident_id, kind or "", lane or "", key or "", gen, every]

    async def due_wakes(self) -> AsyncIterator[float | None]:
        """None once subscribed, then the due times of items published by a replica that
        does not time them itself, as they are scheduled (Redis pub/sub: what is published
        while not subscribed is not seen)."""
        async with self.redis.pubsub(ignore_subscribe_messages=True) as pubsub:
            await pubsub.subscribe(self.keys.due_wake)
            yield None
            async for message in pubsub.listen():
                yield float(message["data"])

    async def due_next(self) -> float | None:
        """When the first pending item (of any incident) is due, or None."""
        first = await self.redis.zrange(self.keys.due, 0, 0, withscores=True)
        return float(first[0][1]) if first else None

    async def _due_state(self, incident_id: str) -> dict[str, Any]:
        raw = await self.redis.get(self.keys.due_state(incident_id))
        return json.loads(raw) if raw else {}

    async def due_pending(self, incident_id: str) -> list[DueItem]:
        items = _section(await self._due_state(incident_id), "i")
        found = [_stored(item_id, rec) for item_id, rec in items.items()]
        return sorted(found, key=lambda i: i.due_at)

    async def due_sent(self, item: DueItem) -> dict[str, Any] | None:
        """The send record of this occurrence (its token), if one was kept."""
        sent = _section(await self._due_state(item.incident_id), "s").get(item.id)
        if not sent or sent.get("t") != item.token:
            return None
        record: dict[str, Any] = json.loads(sent["r"])
        return record

    async def due_count(self) -> int:
        return int(await self.redis.zcard(self.keys.due))


def _schedule_op(item: DueItem, wake: bool, claim: tuple[float, float] | None) -> list[str]:
    op = ["s", item.id, item.token, item.lane, str(item.generation), repr(item.due_at)]
    op += [dumps(item.payload), "1" if wake else ""]
    op += [repr(claim[1]), repr(claim[0])] if claim else ["", ""]
    return op


def _section(state: dict[str, Any], name: str) -> dict[str, Any]:
    part = state.get(name)
    return part if isinstance(part, dict) else {}  # Lua's cjson writes an empty one as []


def _item(item_id: str, *, token: str, lane: str, generation: str, due_at: str,
          attempts: str, first: str, error: str, payload: str) -> DueItem:  # fmt: skip
    incident_id, kind, key = item_id.split("|", 2)
    return DueItem(
        id=item_id,
        kind=kind,
        incident_id=incident_id,
        key=key,
        lane=lane,
        token=token,
        generation=int(generation),
        due_at=float(due_at),
        payload=json.loads(payload or "{}"),
        attempts=int(attempts or 0),
        first_claimed_at=float(first) if first else None,
        last_error=error or None,
    )


def _claimed(row: list[Any]) -> DueItem:
    item_id, token, lane, gen, due_at, attempts, first, error, payload = map(as_str, row)
    return _item(item_id, token=token, lane=lane, generation=gen, due_at=due_at,
                 attempts=attempts, first=first, error=error, payload=payload)  # fmt: skip


def _stored(item_id: str, rec: dict[str, str]) -> DueItem:
    return _item(item_id, token=rec["t"], lane=rec["l"], generation=rec["g"], due_at=rec["d"],
                 attempts=rec.get("n", "0"), first=rec.get("c", ""), error=rec.get("e", ""),
                 payload=rec.get("p", "{}"))  # fmt: skip
