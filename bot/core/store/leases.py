"""Exactly once across replicas: once-markers, leases and shared rate limits. Their names
are `Once`, `Lease` and `Rate` (keys.py)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from redis.exceptions import LockError

from bot.core.errors import STORE_ERRORS
from bot.core.store import scripts
from bot.core.store.base import StoreBase, as_str
from bot.core.store.keys import Lease, Once, Rate


class Held:
    """What `LeaseRepo.held` yields: true when the lease is this holder's."""

    def __init__(self, mine: bool) -> None:
        self.mine = mine
        self.lapsing = False

    def __bool__(self) -> bool:
        return self.mine

    def lapse(self) -> None:
        """Leave the lease to run out by itself (within its ttl) instead of letting go of
        it: for work whose result makes any later holder's work a no-op, the release is a
        round trip nobody needs."""
        self.lapsing = True


class LeaseRepo(StoreBase):
    """Once-markers, leases and shared rate limits."""

    async def claim_once(self, scope: Once, key: str, *, ttl: int, value: str = "1") -> bool:
        """True for the first caller of (scope, key) within ttl seconds, on any replica."""
        return bool(await self.redis.set(self.keys.once(scope, key), value, nx=True, ex=ttl))

    async def once_value(self, scope: Once, key: str) -> str | None:
        raw = await self.redis.get(self.keys.once(scope, key))
        return as_str(raw) if raw is not None else None

    async def set_once_value(self, scope: Once, key: str, value: str, *, ttl: int) -> None:
        await self.redis.set(self.keys.once(scope, key), value, ex=ttl)

    async def claim_view(self, view_id: str, *, ttl: int) -> bool:
        """True for the first submission of a modal (its `view.id`), however often it is
        submitted (DESIGN rule 2)."""
        return await self.claim_once(Once.VIEW, view_id, ttl=ttl)

    async def release_once(self, scope: Once, key: str) -> None:
        """Forget an idempotency marker, so a retry of work that failed is not refused."""
        await self.redis.delete(self.keys.once(scope, key))

    @contextlib.asynccontextmanager
    async def held(
        self, lease: Lease, of: str = "", *, ttl: float, wait: float = 0
    ) -> AsyncIterator[Held]:
        """Hold `lease` (of one object: `of`) for the block if nobody holds it, or lets go of
        it within `wait` seconds (false otherwise, holding nothing). It is renewed while
        held, so `ttl` only bounds how long a holder that died keeps others waiting; it is
        let go at the block's end, unless the holder said `lapse()`.
        The one lease of the bot (redis-py's Lock)."""
        lock = self.redis.lock(
            self.keys.lease(lease, of),
            timeout=ttl,
            sleep=0.05,
            blocking=wait > 0,
            blocking_timeout=wait if wait > 0 else None,
        )
        if not await lock.acquire():
            yield Held(False)
            return

        async def renew() -> None:
            while True:
                await asyncio.sleep(ttl / 3)
                with contextlib.suppress(*STORE_ERRORS, LockError):
                    await lock.reacquire()

        renewing = asyncio.get_running_loop().create_task(renew())
        held = Held(True)
        try:
            yield held
        finally:
            renewing.cancel()
            await asyncio.gather(renewing, return_exceptions=True)
            if not held.lapsing:
                with contextlib.suppress(*STORE_ERRORS, LockError):
                    await lock.release()

    async def take_rate(
        self, rate: Rate, who: str, *, interval: float, burst: int, now: float
    ) -> float:
        """Book one use of `rate` by `who`, shared by every replica (the same GCRA as the Slack
        budgets): 0 when booked, else the seconds until one is free (nothing booked)."""
        wait = await self._script(scripts.PACE)(
            [self.keys.rate(rate, who)], [repr(now), "0", repr(interval), burst]
        )
        return max(0.0, -float(wait))
