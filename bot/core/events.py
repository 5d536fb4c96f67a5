"""Durable lifecycle events: the outbox, and the features that react to it (DESIGN rule 3).

An incident change others react to (`declared`, `updated`, `status`, `severity`, `role`,
`private`, `resolved`, `reopened`, ...) is written to the event stream in the same
transaction as the change (`Store.create`, `Store.update(..., emit=)`): the event exists
exactly when the change does, so a process killed at any instant loses none.

Features subscribe by name, in order (`subscribe`). Every process runs one consumer of the
group `features`. It takes new entries (a blocking XREADGROUP: a write on any replica wakes
it at once), runs each subscriber not yet done with the entry, in subscription order, and
acknowledges (and deletes) the entry when all are. One incident's entries run one after
another in stream order; different incidents' at once. Which subscribers are done is kept
in memory and written (one HSET) only when the entry is left unfinished: a new entry that
goes well costs its share of one XREADGROUP, then XACK + XDEL, pipelined.

The first subscribers may be `urgent` (the page request, the declare's channel and the
declarer's answer): an entry runs them within `concurrency` entries at once, then waits
for one of the fewer places (`concurrency // 4`) where the rest run; while any entry is
in (or waits for) its urgent part, no more than REST_WHILE_URGENT go on to the rest. So in
a burst the urgent work of new entries goes first while the rest of earlier ones waits its
turn, instead of every entry queueing behind every subscriber of those before it.

A subscriber that raises stops its entry there: the entry stays pending and is taken up
again after `claim_idle` seconds (XAUTOCLAIM) by whichever process looks first, as are the
entries of a process that died. Before it lets go (a subscriber raised, or it was stopped
mid-entry) a process records the subscribers done, and only the others run again; a
process killed records nothing, so all of them run again. A process keeps the entries it
is working on from being taken (it touches those under way a while every few seconds).
After `max_attempts` the remaining subscribers of an entry are given up, with an error in
the log. Delivery is at least once per subscriber, so each is idempotent: most schedule
due-items (bot/core/schedule.py), which replace themselves; the others check their effect.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass

from pydantic import ValidationError

from bot.core.activity import Activity, Outlook
from bot.core.errors import STORE_ERRORS, IncidentNotFound
from bot.core.logs import about
from bot.core.models import Incident, LifecycleEvent
from bot.core.store import Store

log = logging.getLogger(__name__)

GROUP = "features"
REST_WHILE_URGENT = 2  # entries in the rest lane while others wait for their urgent part
Subscriber = Callable[[LifecycleEvent], Awaitable[None]]


def lifecycle(
    on_incident_event: Callable[[str, Incident], Awaitable[None]], fresh: Store | None = None
) -> Subscriber:
    """A feature's `on_incident_event(kind, incident)` as a subscriber. With `fresh`, it
    gets the incident as stored now rather than as the change left it (e.g. to post into
    the channel the set-up made after the event)."""

    async def handler(event: LifecycleEvent) -> None:
        incident = event.incident
        if fresh is not None:
            incident = await fresh.get(incident.id) or incident
        await on_incident_event(event.type, incident)

    return handler


@dataclass(frozen=True)
class _Subscription:
    name: str
    handler: Subscriber
    types: frozenset[str] | None
    urgent: bool
    together: bool = False


class _Failed(Exception):
    """A subscriber of a `together` run failed: none of the run's writes are made."""


class Events:
    """The event stream's consumer in this process, and the subscriptions it serves."""

    def __init__(
        self,
        store: Store,
        *,
        claim_idle: float = 10.0,
        block: float = 0.5,
        batch: int = 64,
        concurrency: int = 32,
        max_attempts: int = 10,
        activity: Activity | None = None,
        together: Callable[[], contextlib.AbstractAsyncContextManager[None]] | None = None,
    ) -> None:
        self.store = store
        self.together = together  # the due-items' `Scheduler.together`
        self.activity = activity or Activity("events")
        self.claim_idle = claim_idle  # an entry read but not finished this long is taken over
        self.block = block  # how long one read waits for a new entry
        self.batch = batch
        self.max_attempts = max_attempts
        self.consumer = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._subscriptions: list[_Subscription] = []
        self._gate = asyncio.Semaphore(concurrency)  # entries in their urgent subscribers
        self._rest_gate = asyncio.Semaphore(max(1, concurrency // 4))  # in the others
        # entries in (or waiting for) their urgent part, and in the rest: while any are
        # urgent, no more than REST_WHILE_URGENT go on to the rest
        self._urgent_now = self._rest_now = 0
        self._lanes = asyncio.Condition()
        self._working: dict[str, asyncio.Task[None]] = {}  # entry id -> its task
        self._held: dict[str, float] = {}  # entry id -> when its idle time was last reset
        self._last_of: dict[str, asyncio.Task[None]] = {}  # incident id -> its newest task
        self._loop_task: asyncio.Task[None] | None = None
        self._stopping = False
        self._stopped = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()

    def subscribe(
        self,
        name: str,
        handler: Subscriber,
        *,
        types: Iterable[str] | None = None,
        urgent: bool = False,
        together: bool = False,
    ) -> None:
        """`handler(event)` for every event (of `types`), after those subscribed before it.
        `name` keys what is done: keep it stable across releases. `urgent` ones (see the
        module's docstring) are subscribed before any other. The due-item writes of
        subscribers `together` that run one after another go in one script call (the
        events' `together`), made before any of them counts as done."""
        if any(s.name == name for s in self._subscriptions):
            raise ValueError(f"subscriber {name!r} twice")
        if urgent and any(not s.urgent for s in self._subscriptions):
            raise ValueError(f"urgent subscriber {name!r} after one that is not")
        kinds = frozenset(types) if types is not None else None
        self._subscriptions.append(_Subscription(name, handler, kinds, urgent, together))

    # -- running ------------------------------------------------------------------------------
    async def start(self) -> None:
        self._stopping = False
        self._stopped.clear()
        self._loop_task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self, *, wait: float = 5.0) -> None:
        """Stop taking entries; give those under way `wait` seconds. One cut short stays
        pending and is finished by another process (or this one, restarted)."""
        self._stopping = True  # a flag, not cancel(): a read cut short can swallow it
        self._stopped.set()
        if self._loop_task is not None:
            await asyncio.gather(self._loop_task, return_exceptions=True)
        working = list(self._working.values())
        if working:
            await asyncio.wait(working, timeout=wait)
        cut = list(self._working.values())
        for task in cut:
            task.cancel()  # each writes down which subscribers it got through
        if cut:
            await asyncio.wait(cut, timeout=1.0)

    async def idle(self) -> None:
        """Until nothing taken by this process is under way (tests, shutdown)."""
        await self._idle.wait()

    async def pump(self) -> int:
        """Handle every event written so far, and what those write, to the end; how many.
        For a process without the consumer loop (scripts, tests on a fake clock)."""
        await self.store.events_group(GROUP)
        handled = 0
        while True:
            entries = await self.store.events_read(GROUP, self.consumer, self.batch, block_ms=None)
            if not entries:
                await self.idle()
                return handled
            self._take(entries, fresh=True)
            handled += len(entries)
            await self.idle()

    async def outlook(self) -> Outlook:
        """The settle probe (bot/core/activity.py): busy while an event is handled here or
        waits, written and not finished, for any process."""
        return Outlook(busy=bool(self._working) or await self.backlog() > 0)

    async def backlog(self) -> int:
        """Events written (by any process) and not yet finished by every subscriber."""
        return await self.store.events_backlog(GROUP)

    async def _run(self) -> None:
        while not self._stopping:
            try:
                await self.store.events_group(GROUP)
                break
            except STORE_ERRORS as exc:
                log.warning("event stream waiting for Redis", extra={"error": str(exc)})
                await self._pause(1.0)
        loop = asyncio.get_running_loop()
        next_reclaim = 0.0
        while not self._stopping:
            try:
                if loop.time() >= next_reclaim:
                    next_reclaim = loop.time() + self.claim_idle / 2
                    await self._touch()
                    idle_ms = int(self.claim_idle * 1000)
                    taken = await self.store.events_reclaim(
                        GROUP, self.consumer, idle_ms, self.batch
                    )
                    self._take(taken, fresh=False)
                if len(self._working) >= self.batch * 16:  # enough under way: let it drain
                    # (room for a burst: its entries past their urgent part wait for the rest)
                    await asyncio.wait(list(self._working.values()), timeout=self.block)
                    continue
                block_ms = max(1, int(min(self.block, next_reclaim - loop.time()) * 1000))
                entries = await self.store.events_read(
                    GROUP, self.consumer, self.batch, block_ms=block_ms
                )
                self._take(entries, fresh=True)
            except STORE_ERRORS as exc:
                log.warning("event stream unavailable", extra={"error": str(exc)})
                await self._pause(1.0)
            except Exception:  # the one consumer of this process must outlive any bug
                log.exception("event consumer failed; going on")
                await self._pause(1.0)

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopped.wait(), seconds)

    async def _touch(self) -> None:
        """Entries under way here stay ours: XCLAIM to ourselves resets their idle time.
        Touches come every `claim_idle / 2`, so one read or touched less than a quarter of
        that ago is still safe at the next: in a burst most entries finish untouched."""
        now = asyncio.get_running_loop().time()
        old = [e for e, at in self._held.items() if now - at >= self.claim_idle / 4]
        if old:
            await self.store.events_touch(GROUP, self.consumer, old)
            self._held.update(dict.fromkeys(old, now))

    def _take(self, entries: list[tuple[str, str]], *, fresh: bool) -> None:
        """Start on `entries`: `fresh` ones were never delivered before (read with `>`), so
        they have no progress to read; others (reclaimed) may."""
        now = asyncio.get_running_loop().time()
        for entry_id, raw in entries:
            if entry_id in self._working:
                continue  # reclaimed from ourselves while still at it
            try:
                event = LifecycleEvent.model_validate_json(raw)
            except ValidationError:
                # written by a newer release, or corrupted: it would be retried forever
                log.error("unreadable event dropped", extra={"entry": entry_id})
                event = None
            # the incident's earlier events first
            before = self._last_of.get(event.incident.id) if event is not None else None
            with about(event.incident.id if event is not None else None):
                # the task takes the context as it is now: its every log line names the incident
                task = self.activity.spawn(self._handle(entry_id, event, before, fresh))
            self._working[entry_id] = task
            self._held[entry_id] = now
            self._idle.clear()
            if event is not None:
                self._last_of[event.incident.id] = task
            task.add_done_callback(functools.partial(self._finished, entry_id))

    def _finished(self, entry_id: str, task: asyncio.Task[None]) -> None:
        self._working.pop(entry_id, None)
        self._held.pop(entry_id, None)
        for incident, last in list(self._last_of.items()):
            if last is task:
                del self._last_of[incident]
        if not self._working:
            self._idle.set()

    async def _handle(
        self,
        entry_id: str,
        event: LifecycleEvent | None,
        before: asyncio.Task[None] | None,
        fresh: bool,
    ) -> None:
        """Run the entry's subscribers not yet done and acknowledge it. What is done is
        kept here and written down only when the entry is left unfinished (`_leave`): a
        fresh entry that goes well costs its read's share and one XACK + XDEL."""
        if event is None:
            await self.store.events_ack(GROUP, entry_id, progress=not fresh)
            return
        event.id = entry_id
        if before is not None:
            await asyncio.wait([before])
        extra = {"incident": event.incident.id, "event": event.type, "entry": entry_id}
        done: set[str] = set()
        recorded: set[str] = set()  # in its progress record already
        finished = False
        try:
            async with self._lane("urgent"), self._gate:
                if fresh:
                    event.attempt = 1
                else:
                    recorded, event.attempt = await self.store.events_progress(entry_id)
                    done |= recorded
                urgent = [s for s in self._subscriptions if s.urgent]
                if not await self._deliver(event, urgent, done, extra):
                    return
            async with self._lane("rest"), self._rest_gate:
                rest = [s for s in self._subscriptions if not s.urgent]
                if not await self._deliver(event, rest, done, extra):
                    return
                await self.store.events_ack(GROUP, entry_id, progress=not fresh)
                finished = True
        except STORE_ERRORS as exc:
            # the entry stays pending: it is taken up again after claim_idle
            log.warning("event bookkeeping failed", extra={**extra, "error": str(exc)})
        finally:
            if not finished and done - recorded:
                await self._leave(entry_id, done, extra)

    @contextlib.asynccontextmanager
    async def _lane(self, lane: str) -> AsyncIterator[None]:
        """Counted in the `urgent` or the `rest` lane while in it. The rest lane waits its
        turn while entries are in their urgent part, but for REST_WHILE_URGENT of its own:
        in a burst the new declarers hear of their channel before the cards of earlier
        ones are made, and the rest never stops behind one slow urgent entry."""
        async with self._lanes:
            if lane == "rest":
                await self._lanes.wait_for(
                    lambda: not self._urgent_now or self._rest_now < REST_WHILE_URGENT
                )
                self._rest_now += 1
            else:
                self._urgent_now += 1
        try:
            yield
        finally:
            async with self._lanes:
                if lane == "rest":
                    self._rest_now -= 1
                    self._lanes.notify(1)  # a place in the rest lane
                else:
                    self._urgent_now -= 1
                    if not self._urgent_now:
                        self._lanes.notify_all()  # none urgent: the rest lane is open

    async def _leave(self, entry_id: str, done: set[str], extra: dict[str, str]) -> None:
        """The entry stays pending: record who is done with it, so the next delivery runs
        only the others. Without Redis they run again too (at least once)."""
        try:
            await self.store.events_leave(entry_id, done)
        except STORE_ERRORS as exc:
            log.warning("event progress not recorded", extra={**extra, "error": str(exc)})

    async def _deliver(
        self,
        event: LifecycleEvent,
        subscriptions: list[_Subscription],
        done: set[str],
        extra: dict[str, str],
    ) -> bool:
        """Run the subscribers not done with the event yet, in order, adding each to `done`
        as it returns; False when one failed (the entry stays pending, to be taken up
        again). Consecutive `together` ones are a run whose due-item writes go as one."""
        due = [
            s
            for s in subscriptions
            if s.name not in done and (s.types is None or event.type in s.types)
        ]
        while due:
            run = 1
            while self.together and run < len(due) and due[run - 1].together and due[run].together:
                run += 1
            group, due = due[:run], due[run:]
            await self.activity.turn()  # Slack's requests are answered first
            if run == 1:
                if not await self._one(event, group[0], extra):
                    return False
            elif not await self._together(event, group, extra):
                return False
            done.update(sub.name for sub in group)
        return True

    async def _together(
        self, event: LifecycleEvent, group: list[_Subscription], extra: dict[str, str]
    ) -> bool:
        """A run of `together` subscribers: all of them, their due-item writes in one
        call; False (none of them done, nothing of theirs written) when one failed."""
        assert self.together is not None
        try:
            async with self.together():
                for sub in group:
                    if not await self._one(event, sub, extra):
                        raise _Failed
        except _Failed:
            return False
        except Exception as exc:  # their due-items could not be written
            return self._failed(event, ",".join(s.name for s in group), exc, extra)
        return True

    async def _one(self, event: LifecycleEvent, sub: _Subscription, extra: dict[str, str]) -> bool:
        """Run one subscriber: True when it is done with the event (or given up)."""
        try:
            await sub.handler(event)
        except IncidentNotFound:
            # the store no longer has it (it lost its data): nothing to react to
            log.info("event of an unknown incident", extra=extra)
        except Exception as exc:
            return self._failed(event, sub.name, exc, extra)
        return True

    def _failed(
        self, event: LifecycleEvent, name: str, exc: Exception, extra: dict[str, str]
    ) -> bool:
        if event.attempt < self.max_attempts:
            log.warning(
                "event subscriber failed; the event will be taken up again",
                extra={**extra, "subscriber": name, "error": repr(exc)},
                exc_info=not isinstance(exc, STORE_ERRORS),
            )
            return False
        log.exception("event subscriber given up", extra={**extra, "subscriber": name})
        return True
