"""What Slack shows of the parts of mirror sets (bot/core/mirror.py) whose features keep
no digests of their own: an incident's card and announcement (bot/incidents/copies.py).

A digest is only a saving: one lost (or expired, after SHOWN_TTL without a change) costs
one edit that changes nothing. It is kept with the message it is of, so a part moved to
another message (a card re-posted in a private channel) is edited again.
"""

from __future__ import annotations

from bot.core.store.base import StoreBase, as_str

SHOWN_TTL = 30 * 86400


class MirrorRepo(StoreBase):
    """Per set: part key -> (channel, ts, digest) of what Slack shows."""

    async def mirror_shown(self, name: str) -> dict[str, tuple[str, str, str]]:
        """What Slack shows of each part of the set `name`, as last recorded."""
        raw = await self.redis.hgetall(self.keys.mirror(name))
        found: dict[str, tuple[str, str, str]] = {}
        for key, value in raw.items():
            where, ts, digest = as_str(value).split(" ", 2)
            found[as_str(key)] = (where, ts, digest)
        return found

    async def mirror_record(self, name: str, part: str, where: str, ts: str, digest: str) -> None:
        key = self.keys.mirror(name)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, part, f"{where} {ts} {digest}")
            pipe.expire(key, SHOWN_TTL)
            await pipe.execute()
