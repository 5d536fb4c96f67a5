"""The one consistency check: after Redis restarted or failed over, put back what the
features' durable state may have lost.

Events and due-items make every change's consequences durable, so a crashed process loses
nothing. Redis itself can: replication is asynchronous, so a failover drops the writes of
its last moment (a reminder's next occurrence, a page request's due-item), and a restart
without persistence drops everything. Each feature therefore offers a `repair()` that
rebuilds its due-items for the open incidents from their stored state (idempotent). They
run at start-up and whenever the Redis server answering is a different one than before
(its `run_id` changed: a restart, a promotion), one replica at a time. They never run on a
timer: nothing else can lose what they restore. (The server last seen is kept in Redis, so
a bot restart against the same Redis checks nothing.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from bot.core.activity import Activity, Outlook
from bot.core.errors import STORE_ERRORS
from bot.core.identity import Identity
from bot.core.slack import SlackError
from bot.core.store import Lease, Store

log = logging.getLogger(__name__)

Repair = Callable[[], Awaitable[int]]
# Redis away, or Slack when a store that lost its data is numbered from what Slack holds
UNAVAILABLE: tuple[type[BaseException], ...] = (*STORE_ERRORS, SlackError)


class Consistency:
    def __init__(
        self,
        store: Store,
        identity: Identity,
        *,
        every: float = 15.0,
        activity: Activity | None = None,
    ) -> None:
        self.store = store
        self.identity = identity  # its install record is checked on every look
        self.activity = activity or Activity("consistency")
        self._watching = False
        self.every = every  # how often the Redis server's identity is looked at
        self._repairs: list[tuple[str, Repair]] = []
        self._seen: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self.runs = 0  # checks run by this process (metrics, tests)

    def add(self, name: str, repair: Repair) -> None:
        self._repairs.append((name, repair))

    async def start(self) -> None:
        self._stop.clear()
        self._watching = True
        self._task = asyncio.get_running_loop().create_task(self._watch())

    async def stop(self) -> None:
        # a flag, not cancel(): a Redis call cut short can swallow the cancellation
        self._stop.set()
        self._watching = False
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    async def _watch(self) -> None:
        while not self._stop.is_set():
            with self.activity.busy():
                await self._check()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.every)

    async def outlook(self) -> Outlook:
        """The settle probe (bot/core/activity.py): busy while the start-up look is pending or
        the Redis server answering is not the one last looked at (the next look repairs);
        the looks in between change nothing, so they are not timed work."""
        if not self._watching:
            return Outlook()
        if self._seen is None:
            return Outlook(busy=True)
        return Outlook(busy=await self.store.server_id() != self._seen)

    async def _check(self) -> None:
        try:
            await self.identity.ensure()  # made at the first start; missing = data lost
            server = await self.store.server_id()
            if server != self._seen:
                # the first replica to see a new server checks; it is recorded in Redis,
                # so restarting the bot alone (same Redis) checks nothing
                before = await self.store.swap_server_seen(server)
                if before != server:
                    if before is not None:
                        log.warning("Redis restarted or failed over: checking what it kept")
                    await self.run()
                self._seen = server
        except UNAVAILABLE as exc:
            log.info("consistency check waits for Redis", extra={"error": str(exc)})

    async def run(self) -> int:
        """Every repair, once, on one replica; how many things were put back."""
        fixed = 0
        async with self.store.held(Lease.CONSISTENCY, ttl=120) as mine:
            if not mine:
                return 0  # another replica is at it
            try:
                for name, repair in self._repairs:
                    try:
                        n = await repair()
                    except Exception:
                        log.exception("consistency repair failed", extra={"repair": name})
                        continue
                    if n:
                        log.warning(
                            "consistency repair put back", extra={"repair": name, "count": n}
                        )
                    fixed += n
            finally:
                self.runs += 1
        return fixed
