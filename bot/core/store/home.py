"""Who has the App Home open, and whether what it shows is behind (bot/home.py): the
recent viewers (bounded by number and age), a version every incident change Home shows
bumps, and when the first change not yet shown was made."""

from __future__ import annotations

from bot.core.store.base import StoreBase, as_str

CHANGED_TTL = 3600  # a change marker nobody cleared (its refresh was lost) stops counting


class HomeRepo(StoreBase):
    """The App Home's viewers and its change marker."""

    async def home_opened(self, user: str, *, now: float, keep: float, most: int) -> None:
        """`user` opened the Home tab at `now`; viewers older than `keep` seconds, and all
        but the `most` newest, are forgotten."""
        key = self.keys.home_viewers
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zadd(key, {user: now})
            pipe.zremrangebyscore(key, "-inf", now - keep)
            pipe.zremrangebyrank(key, 0, -(most + 1))
            pipe.expire(key, int(keep) + 60)
            await pipe.execute()

    async def home_viewers(self, *, now: float, keep: float) -> list[str]:
        """Who opened the Home tab within `keep` seconds, the latest first."""
        found = await self.redis.zrevrangebyscore(self.keys.home_viewers, "+inf", now - keep)
        return [as_str(u) for u in found]

    async def home_changed(self, *, now: float) -> float:
        """A change Home shows was made: the version moves on; when the first change not
        yet shown was made (this one, unless an earlier one still waits)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(self.keys.home_version)
            pipe.set(self.keys.home_changed, repr(now), nx=True, ex=CHANGED_TTL)
            pipe.get(self.keys.home_changed)
            _, _, first = await pipe.execute()
        return float(as_str(first)) if first is not None else now

    async def home_showing(self) -> None:
        """A refresh starts: changes made from now on wait for the next one."""
        await self.redis.delete(self.keys.home_changed)

    async def home_version(self) -> int:
        raw = await self.redis.get(self.keys.home_version)
        return int(as_str(raw)) if raw is not None else 0
