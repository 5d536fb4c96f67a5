"""The install record and incident numbers (bot/core/identity.py): ids never repeat an
earlier install's, even after the store lost its data."""

from __future__ import annotations

from collections.abc import Mapping

from bot.core.store import scripts
from bot.core.store.base import StoreBase, as_str


class IdentityRepo(StoreBase):
    """The install record and the days' incident numbers."""

    async def next_number(self, day: str) -> int | None:
        """The day's next incident number (unique across replicas), or None when the store
        holds no install record (it lost its data, or it is new: bot/core/identity.py)."""
        keys = [self.keys.install, self.keys.seq(day)]
        n = int(await self._script(scripts.NEXT_NUMBER)(keys, [3 * 86400]))
        return None if n < 0 else n

    async def install(self) -> dict[str, str]:
        """The install record (empty: none)."""
        raw = await self.redis.hgetall(self.keys.install)
        return {as_str(k): as_str(v) for k, v in raw.items()}

    async def create_install(
        self, epoch: str, *, now: float, lost_at: float | None, seqs: Mapping[str, int]
    ) -> bool:
        """Write the install record and raise the days' counters to `seqs`, unless a record
        exists (False: another replica made it first)."""
        days = sorted(seqs)
        keys = [self.keys.install, *(self.keys.seq(d) for d in days)]
        args: list[str | int] = [epoch, repr(now), repr(lost_at) if lost_at else ""]
        args += [seqs[d] for d in days]
        return bool(await self._script(scripts.INSTALL)(keys, args))
