"""After the incident: follow-ups (bot/followups.py) and the post-mortem state
(bot/postmortem.py)."""

from __future__ import annotations

from collections.abc import Callable

from redis.asyncio.client import Pipeline

from bot.core.models import FollowUp, PostmortemState, TimelineEntry
from bot.core.store.base import StoreBase, as_str


class AfterRepo(StoreBase):
    """Follow-ups and post-mortem state."""

    async def add_followup(self, followup: FollowUp) -> FollowUp:
        """Store a new follow-up, numbered within its incident (its id and number are set
        here). A crash between the number and the write only skips a number."""
        number = int(await self.redis.incr(self.keys.followup_seq(followup.incident_id)))
        stored = followup.model_copy(
            update={"number": number, "id": f"{followup.incident_id}.{number}"}
        )
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                self.keys.followups(followup.incident_id), str(number), stored.model_dump_json()
            )
            if stored.status == "open":
                pipe.zadd(self.keys.followups_open, {stored.id: stored.created_at})
            await pipe.execute()
        return stored

    async def followups(self, incident_id: str) -> list[FollowUp]:
        raw = await self.redis.hgetall(self.keys.followups(incident_id))
        found = [FollowUp.model_validate_json(v) for v in raw.values()]
        return sorted(found, key=lambda f: f.number)

    async def followup(self, followup_id: str) -> FollowUp | None:
        incident_id, _, number = followup_id.rpartition(".")
        if not incident_id or not number.isdigit():
            return None
        raw = await self.redis.hget(self.keys.followups(incident_id), number)
        return FollowUp.model_validate_json(raw) if raw else None

    async def open_followups(self, limit: int = 200) -> list[FollowUp]:
        """Open follow-ups of every incident, oldest first."""
        ids = [as_str(i) for i in await self.redis.zrange(self.keys.followups_open, 0, limit - 1)]
        if not ids:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for followup_id in ids:
                incident_id, _, number = followup_id.rpartition(".")
                pipe.hget(self.keys.followups(incident_id), number)
            found = await pipe.execute()
        return [FollowUp.model_validate_json(r) for r in found if r]

    async def finish_followup(
        self, followup_id: str, *, by: str, at: float
    ) -> tuple[FollowUp, bool] | None:
        """Mark a follow-up done: (it, True), or (it, False) when it already was; None when
        there is no such follow-up. Two clicks at once make one change."""
        incident_id, _, number = followup_id.rpartition(".")
        key = self.keys.followups(incident_id)

        async def work(pipe: Pipeline) -> tuple[FollowUp, bool] | None:
            raw = await pipe.hget(key, number)
            if not raw:
                return None
            followup = FollowUp.model_validate_json(raw)
            if followup.status == "done":
                return followup, False
            followup.status, followup.done_by, followup.done_at = "done", by, at
            pipe.multi()
            pipe.hset(key, number, followup.model_dump_json())
            pipe.zrem(self.keys.followups_open, followup.id)
            await pipe.execute()
            return followup, True

        return await self._watched(key, work)

    async def postmortem(self, incident_id: str) -> PostmortemState:
        raw = await self.redis.get(self.keys.postmortem(incident_id))
        if not raw:
            return PostmortemState(incident_id=incident_id)
        return PostmortemState.model_validate_json(raw)

    async def change_postmortem(
        self,
        incident_id: str,
        change: Callable[[PostmortemState], TimelineEntry | bool | None],
    ) -> tuple[PostmortemState, bool]:
        """Apply `change` to the post-mortem state atomically: it edits the state in place
        and returns a timeline entry to append with it, True to save without one, or None
        for no change. Returns (the state, whether it changed)."""
        key = self.keys.postmortem(incident_id)

        async def work(pipe: Pipeline) -> tuple[PostmortemState, bool]:
            raw = await pipe.get(key)
            state = (
                PostmortemState.model_validate_json(raw)
                if raw
                else PostmortemState(incident_id=incident_id)
            )
            outcome = change(state)
            if outcome is None or outcome is False:
                return state, False
            pipe.multi()
            pipe.set(key, state.model_dump_json())
            if isinstance(outcome, TimelineEntry):
                pipe.rpush(self.keys.timeline(incident_id), outcome.model_dump_json())
            await pipe.execute()
            return state, True

        return await self._watched(key, work)
