"""The lifecycle event stream (bot/core/events.py reads it): consumer groups, per-entry
progress of the subscribers, and acknowledgement."""

from __future__ import annotations

from typing import Any

from redis.exceptions import ResponseError

from bot.core.store.base import Batches, StoreBase, as_str

PROGRESS_TTL = 7 * 86400  # a progress record outlives any entry still worth finishing
ACK_MOST = 500  # acknowledgements in one pipeline


class EventRepo(StoreBase):
    """The lifecycle event stream and its consumer group."""

    async def events_group(self, group: str) -> None:
        """Create the consumer group (from the stream's start: nothing written before the
        first consumer ran is skipped); an existing group is fine."""
        try:
            await self.redis.xgroup_create(self.keys.events, group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def events_read(
        self, group: str, consumer: str, count: int, *, block_ms: int | None
    ) -> list[tuple[str, str]]:
        """New (entry id, event JSON) for this consumer, waiting up to `block_ms` for one."""
        out: Any = None
        async with self._grouped(lambda: self.events_group(group)):
            out = await self.redis.xreadgroup(
                group, consumer, {self.keys.events: ">"}, count=count, block=block_ms
            )
        return [(as_str(i), as_str(f.get("e", ""))) for _, rows in out or [] for i, f in rows]

    async def events_reclaim(
        self, group: str, consumer: str, idle_ms: int, count: int
    ) -> list[tuple[str, str]]:
        """Entries another consumer read but never acknowledged (it died, or a subscriber
        failed): this consumer takes them."""
        out: Any = ()
        async with self._grouped(lambda: self.events_group(group)):
            out = await self.redis.xautoclaim(
                self.keys.events, group, consumer, min_idle_time=idle_ms, count=count
            )
        rows = out[1] if len(out) > 1 else []
        return [(as_str(i), as_str(f.get("e", ""))) for i, f in rows if f]

    async def events_touch(self, group: str, consumer: str, entry_ids: list[str]) -> None:
        """Entries this consumer is still working on: reset their idle time, so nobody
        takes them over."""
        ids: list[Any] = list(entry_ids)
        await self.redis.xclaim(
            self.keys.events, group, consumer, min_idle_time=0, message_ids=ids, justid=True
        )

    async def events_progress(self, entry_id: str) -> tuple[set[str], int]:
        """An entry taken up again (reclaimed): the subscribers done with it, and how often
        it was taken up, this time included. A first delivery records nothing unless it is
        left unfinished (`events_leave`), so no record means one delivery before this."""
        key = self.keys.event_progress(entry_id)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hsetnx(key, "_attempts", 1)
            pipe.hincrby(key, "_attempts", 1)
            pipe.expire(key, PROGRESS_TTL)
            pipe.hgetall(key)
            _, attempts, _, fields = await pipe.execute()
        return {as_str(k) for k in fields if as_str(k) != "_attempts"}, int(attempts)

    async def events_leave(self, entry_id: str, done: set[str]) -> None:
        """An entry left unfinished (a subscriber failed, or the consumer stopped): the
        subscribers done with it, so the next delivery runs only the others."""
        key = self.keys.event_progress(entry_id)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hset(key, mapping=dict.fromkeys(sorted(done), "1"))
            pipe.expire(key, PROGRESS_TTL)
            await pipe.execute()

    async def events_ack(self, group: str, entry_id: str, *, progress: bool = True) -> None:
        """Every subscriber is done: the entry leaves the stream, with its progress record
        when it may have one (`progress`). Acknowledgements asked for while one is under
        way go together (one XACK and one XDEL for all). Pipelined, not a transaction: an
        acknowledged entry is never delivered again, so one left undeleted (Redis failing
        between the two) is only a stray entry in the stream, and a stray record expires."""
        batches: Batches[tuple[str, str, bool], None] | None = self.__dict__.get("_acks")
        if batches is None:
            batches = self.__dict__["_acks"] = Batches(self._ack_send, most=ACK_MOST)
        await batches.run((group, entry_id, progress))

    async def _ack_send(self, acks: list[tuple[str, str, bool]]) -> list[None]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for group in dict.fromkeys(g for g, _, _ in acks):
                pipe.xack(self.keys.events, group, *(e for g, e, _ in acks if g == group))
            pipe.xdel(self.keys.events, *(e for _, e, _ in acks))
            records = [self.keys.event_progress(e) for _, e, progress in acks if progress]
            if records:
                pipe.delete(*records)
            await pipe.execute()
        return [None] * len(acks)

    async def events_backlog(self, group: str) -> int:
        """Entries written and not yet acknowledged by every subscriber."""
        try:
            groups = await self.redis.xinfo_groups(self.keys.events)
        except ResponseError:
            return 0  # no stream yet
        for g in groups:
            if as_str(g.get("name", "")) == group:
                return int(g.get("lag") or 0) + int(g.get("pending") or 0)
        return int(await self.redis.xlen(self.keys.events))
