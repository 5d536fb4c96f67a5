"""The store's mirror part (bot/core/mirror.py): what Slack shows of the parts of sets
whose features keep no digests of their own (an incident's card and announcement).

Key (under the store's prefix, `ir:` for the bot):

| key               | type | holds                                                        |
| ----------------- | ---- | ------------------------------------------------------------ |
| ir:mirror:{name}  | hash | part key -> `<channel> <ts> <digest>` of what Slack shows    |

A digest is only a saving: one lost (or expired, after SHOWN_TTL without a change) costs
one edit that changes nothing. It is kept with the message it is of, so a part moved to
another message (a card re-posted in a private channel) is edited again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.core.mirror import Shown

if TYPE_CHECKING:
    from bot.core.store import Store

SHOWN_TTL = 30 * 86400


class MirrorStore:
    def __init__(self, store: Store) -> None:
        self.redis = store.redis
        self.prefix = store.keys.prefix

    def _key(self, name: str) -> str:
        return f"{self.prefix}mirror:{name}"

    async def shown(self, name: str) -> dict[str, Shown]:
        """What Slack shows of each part of the set `name`, as last recorded."""
        raw = await self.redis.hgetall(self._key(name))
        found: dict[str, Shown] = {}
        for key, value in raw.items():
            where, ts, digest = _text(value).split(" ", 2)
            found[_text(key)] = Shown(where=where, ts=ts, digest=digest)
        return found

    async def record(self, name: str, key: str, shown: Shown) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._key(name), key, f"{shown.where} {shown.ts} {shown.digest}")
            pipe.expire(self._key(name), SHOWN_TTL)
            await pipe.execute()


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value
