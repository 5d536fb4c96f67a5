"""Durable time: due-items in Redis that fire once, on any replica (DESIGN rule 3).

This module owns the life of a due-item: scheduling, claiming, finishing, retrying. What an
item *means* belongs to the module that registers a handler for its kind (bot/reminders.py:
update reminders; bot/paging/: pages, ack timeouts, PagerDuty polls and resolves; later
escalation-matrix steps, stakeholder updates and follow-up due dates).

- `schedule(kind, incident_id, due_at, key=, payload=, generation=)` keeps ONE pending
  occurrence per (incident, kind, key); scheduling it again replaces it (a new `token`).
- `tick()` claims due items in one Lua script. Claiming moves an item's score to the end of
  a short lease (`lease`, 5 s), renewed while the handler works (one write for all the items
  of this process still at work, every `lease / 3`), so if this replica dies before
  finishing, the item comes due again, for any replica, within `lease`; a handler is cut off
  after `work` seconds. A claim of an item this process is still working on (its event loop
  stalled past a renewal) starts nothing: it is the renewal. The script also answers when
  the first item left is due, and the running scheduler sleeps until exactly then (a timer
  on the event loop); an item it schedules moves its own timer, and one due now it claims as
  it stores it (one script) and runs at once. A process that will not time its items (its
  scheduler not started, or stopped) publishes each on `ir:due:wake` (Redis pub/sub) and
  every running scheduler moves its timer to it. The process's in-memory APScheduler still
  calls `tick()` every `tick` seconds, the safety net for a replica gone before its timer
  fired or a wake-up lost while not subscribed; it holds nothing durable. Which replica
  claims an item is still decided by the claim scripts: the timers only say when to try.
- Storage (bot/core/store/lua/lib_due.lua): the sorted set, and per incident ONE string
  holding its lanes' floors, its pending items and each item's latest send record, read
  and written once per script call. Writes (schedule, cancel, done, retry) asked for while
  one is under way go together in the next call; a claim that is an item's first since it
  was written writes nothing but the lease's score.
- The kind's handler runs. Returning means done: one script writes the item's send record
  and removes it (unless it was rescheduled meanwhile), and stores what the handler
  scheduled `after=` it (a page's escalation: with the done, or not at all).
  `Retry(after=...)` or any exception re-queues it with backoff (`retry`, doubling, at most
  5 min); after `max_attempts` it is dropped and logged.
- Generations: every item carries the incident's generation when it was scheduled and
  belongs to a lane (its kind, unless given). Scheduling into a lane with a newer
  generation raises the lane's floor: the lane's older items are removed at once, an older
  item a handler is working on right now cannot chain onward (its `schedule()` is refused)
  and is dropped if it comes due again. `cancel(..., generation=)` raises the floor too.

Delivery is **at least once, made effectively once**. An item leaves Redis only after its
handler has finished, so a crash anywhere (`kill -9` included) re-delivers it after the
lease: nothing is lost. A duplicate needs a crash (or a lease running out) after the effect
and before the item is finished; two guards catch that: (1) a redelivery whose send record
is kept (another replica finished it) is dropped without running; (2) a handler sees
`item.attempts > 1` and checks its effect before repeating it: Slack posts carry the item's
token as a block_id and are looked for in the channel's history, pages carry PagerDuty's
incident_key, escalations compare the PagerDuty incident's level. We chose at least once
over at most once because during an incident a missed reminder or escalation costs more
than a repeated one; with the guards a repeat needs a crash inside the send *and* a failed
check. Clocks: due times are this host's epoch seconds, so replicas need NTP-synced clocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from prometheus_client import CollectorRegistry

from blocks.common import Message
from bot.core.activity import Activity, Outlook
from bot.core.errors import STORE_ERRORS
from bot.core.logs import about
from bot.core.metrics import DueItemMetrics
from bot.core.models import DueItem
from bot.core.slack import Slack, SlackError, is_transient
from bot.core.store import Store

log = logging.getLogger(__name__)

Handler = Callable[[DueItem], Awaitable[None]]

RETRY_CAP = 300.0
LEGACY_EVERY = 30.0  # seconds between looks at the older format's items (an upgrade's)
JOB_ID = "due-items"


class Retry(Exception):
    """Raised by a handler: try this item again later (after `after` seconds, if given;
    else the scheduler's backoff)."""

    def __init__(self, reason: str, *, after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.after = after


async def post_for_item(
    slack: Slack, channel: str, item: DueItem, message: Message, *, what: str
) -> bool:
    """Post a due-item's message once: marked with the item's token and, when the item is
    redelivered after a crash, looked for in the channel first. A transient Slack failure
    raises Retry (the item comes back); any other is logged and the message dropped.
    True when the message is in the channel."""
    text, blocks = message
    since = item.first_claimed_at if item.attempts > 1 else None
    try:
        await slack.post_once(
            channel, text, blocks, marker=f"due:{item.token}", maybe_sent_since=since
        )
    except SlackError as exc:
        if is_transient(exc):
            raise Retry(f"Slack: {exc.code}") from exc
        log.warning(
            f"{what} not posted",
            extra={"incident": item.incident_id, "to": channel, "error": exc.code},
        )
        return False
    return True


@dataclass(eq=False)
class _Together:
    """A `Scheduler.together()` under way: the writes it holds (an item to schedule, or a
    cancel's op), in order."""

    scheduler: Scheduler
    task: asyncio.Task[Any] | None
    writes: list[DueItem | list[str]] = field(default_factory=list)
    open: bool = True


_TOGETHER: contextvars.ContextVar[_Together | None] = contextvars.ContextVar(
    "due_together", default=None
)


@dataclass(frozen=True)
class _Kind:
    handler: Handler
    max_attempts: int


class Scheduler:
    """Durable due-items for every kind; one per process, any number of processes."""

    def __init__(
        self,
        store: Store,
        clock: Callable[[], float] = time.time,
        *,
        tick: float = 1.0,
        lease: float = 5.0,
        work: float = 30.0,
        retry: float = 1.0,
        retry_cap: float = RETRY_CAP,
        max_attempts: int = 20,
        batch: int = 100,
        concurrency: int = 64,
        registry: CollectorRegistry | None = None,
        activity: Activity | None = None,
    ) -> None:
        self.store = store
        self.activity = activity or Activity("scheduler")
        self.clock = clock
        self.tick_every = tick
        self.lease = lease
        self.work = work
        self.retry_first = retry
        self.retry_cap = retry_cap
        self.max_attempts = max_attempts
        self.batch = batch
        self.concurrency = concurrency
        self.replica = f"{socket.gethostname()}:{os.getpid()}"
        self.metrics = DueItemMetrics(registry)
        self._kinds: dict[str, _Kind] = {}
        self._running: set[asyncio.Task[None]] = set()
        self._held: dict[str, tuple[DueItem, float]] = {}  # at work here: item, lease end
        self._then: dict[str, list[DueItem]] = {}  # by token: scheduled with its done
        self._renewing: asyncio.Task[None] | None = None
        self._ticks: set[asyncio.Task[int]] = set()
        self._claiming = False
        self._reclaim = False
        self._legacy_at = 0.0  # when a claim next looks at the older format's due set
        self._backlog = False
        self._stopped = False
        self._jobs: AsyncIOScheduler | None = None
        self._wake: asyncio.TimerHandle | None = None  # the claim at the next due time
        self._wakes: asyncio.Task[None] | None = None  # listens for other replicas' items
        self.listening = asyncio.Event()  # set once it hears other replicas' wake-ups

    # -- registering and scheduling -----------------------------------------------------------
    def on(self, kind: str, handler: Handler, *, max_attempts: int | None = None) -> None:
        """`handler(item)` handles due items of `kind`; returning means done."""
        self._kinds[kind] = _Kind(handler, max_attempts or self.max_attempts)

    async def schedule(
        self,
        kind: str,
        incident_id: str,
        due_at: float,
        *,
        key: str = "",
        payload: dict[str, Any] | None = None,
        generation: int,
        lane: str | None = None,
        after: DueItem | None = None,
    ) -> bool:
        """Make (incident, kind, key) due at `due_at`, replacing its pending occurrence.
        False (nothing stored) when the lane already has a newer generation. `after`: the
        item whose handler (running here) asks for it: stored with that item's done, in
        one script call, and not if the handler fails (its next attempt asks again);
        True then (a refusal is not known)."""
        item = DueItem(
            id=f"{incident_id}|{kind}|{key}",
            kind=kind,
            incident_id=incident_id,
            key=key,
            lane=lane or kind,
            token=uuid.uuid4().hex,
            generation=generation,
            due_at=due_at,
            payload=payload or {},
        )
        if "|" in incident_id or "|" in kind:
            raise ValueError(f"'|' in a due-item's incident or kind: {item.id}")
        follows = self._then.get(after.token) if after is not None else None
        if follows is not None:
            follows.append(item)
            return True
        together = self._together()
        if together is not None:
            together.writes.append(item)
            return True
        # a started scheduler times its own items (one due now, with room to run it, it
        # claims as it stores it); only one that will not tells the others
        now = self.clock()
        claim = self._claims(item, now, room=self.concurrency - len(self._running))
        op = self.store.due_schedule_op(item, wake=not self._timing, claim=claim)
        [stored] = await self.store.due_write([op])
        self._stored(item, bool(stored), now, claimed=claim is not None)
        return bool(stored)

    def _claims(self, item: DueItem, now: float, *, room: int) -> tuple[float, float] | None:
        """The lease an item scheduled now is claimed with as it is stored, if any: one
        due now, by a started scheduler with room to run it."""
        if self._timing and item.due_at <= now and room > 0:
            return (now, now + self.lease)
        return None

    def _stored(self, item: DueItem, stored: bool, now: float, *, claimed: bool) -> None:
        if not stored:
            log.info(
                "stale schedule refused",
                extra={"incident": item.incident_id, "kind": item.kind, "gen": item.generation},
            )
        elif claimed:
            self._start(item.model_copy(update={"attempts": 1, "first_claimed_at": now}), now)
        else:
            self._time(item.due_at)

    @contextlib.asynccontextmanager
    async def together(self) -> AsyncIterator[None]:
        """The due-item writes this task asks for inside (schedules and cancels) go to
        Redis in one script call, in order, as it closes; none if it closes with an error
        (whoever asked asks again). Inside, a schedule answers True and a cancel 0 (what
        was refused or removed is not known yet), and `pending()` does not see them."""
        together = _Together(self, asyncio.current_task())
        token = _TOGETHER.set(together)
        try:
            yield
        finally:
            _TOGETHER.reset(token)
            together.open = False
        writes = together.writes
        if not writes:
            return
        now, room = self.clock(), self.concurrency - len(self._running)
        ops: list[list[str]] = []
        claims: list[tuple[float, float] | None] = []
        for write in writes:
            if isinstance(write, DueItem):
                claim = self._claims(write, now, room=room)
                room -= claim is not None
                claims.append(claim)
                ops.append(self.store.due_schedule_op(write, wake=not self._timing, claim=claim))
            else:
                claims.append(None)
                ops.append(write)
        answers = await self.store.due_write(ops)
        for write, claim, answer in zip(writes, claims, answers, strict=True):
            if isinstance(write, DueItem):
                self._stored(write, bool(answer), now, claimed=claim is not None)

    def _together(self) -> _Together | None:
        """The open `together()` of this scheduler and this task, if any (a task started
        inside, which may outlive it, writes on its own)."""
        together = _TOGETHER.get()
        if together is None or not together.open or together.scheduler is not self:
            return None
        return together if together.task is asyncio.current_task() else None

    def _time(self, due_at: float) -> None:
        if due_at <= self.clock():
            self.kick()
        else:
            self._wake_at(due_at)

    async def cancel(
        self,
        incident_id: str,
        kind: str | None = None,
        *,
        lane: str | None = None,
        key: str | None = None,
        generation: int | None = None,
    ) -> int:
        """Remove the incident's pending items (of a kind / lane / key, or all). With
        `generation`, the lanes' floors rise to it: an older item being handled right now
        cannot schedule its follow-up."""
        together = self._together()
        if together is not None:
            together.writes.append(
                self.store.due_cancel_op(
                    incident_id, kind=kind, lane=lane, key=key, generation=generation
                )
            )
            return 0
        return await self.store.due_cancel(
            incident_id, kind=kind, lane=lane, key=key, generation=generation
        )

    async def pending(self, incident_id: str) -> list[DueItem]:
        return await self.store.due_pending(incident_id)

    # -- firing ---------------------------------------------------------------------------
    async def tick(self) -> int:
        """Claim what is due and start its handlers (not waiting for them); returns how
        many were claimed. Claims again at once while batches come back full."""
        if self._claiming or self._stopped:
            return 0
        self._claiming = True
        claimed = 0
        next_due: float | None = None
        try:
            while True:
                room = self.concurrency - len(self._running)
                if room <= 0:
                    self._backlog = True  # a finishing handler kicks the next claim
                    break
                limit = min(self.batch, room)
                now = self.clock()
                legacy = time.monotonic() >= self._legacy_at
                items, stale, next_due = await self.store.due_claim(
                    now, now + self.lease, limit, legacy=legacy
                )
                if legacy:
                    self._legacy_at = time.monotonic() + LEGACY_EVERY
                if stale:
                    self.metrics.outcomes.labels("*", "stale").inc(stale)
                for item in items:
                    self._start(item, now)
                claimed += len(items)
                if len(items) < limit:
                    self._backlog = False
                    if not self._reclaim:
                        break
                    self._reclaim = False  # kicked while claiming: something may be due
        except STORE_ERRORS as exc:
            # Redis is away: nothing is lost, the next tick tries again
            log.warning("due-item claim failed", extra={"error": str(exc)})
        finally:
            self._claiming = False
        if next_due is not None and not self._backlog:
            self._wake_at(next_due)
        return claimed

    def _wake_at(self, due_at: float) -> None:
        """Claim again when `due_at` comes (or earlier, if already set to): only while
        started with the app, so a test driving `tick()` by hand keeps the clock it set."""
        if self._jobs is None or self._stopped:
            return
        loop = asyncio.get_running_loop()
        delay = max(0.0, due_at - self.clock())
        when = loop.time() + delay
        if self._wake is not None and not self._wake.cancelled() and self._wake.when() <= when:
            return
        if self._wake is not None:
            self._wake.cancel()
        self._wake = loop.call_at(when, self._woken)

    def _woken(self) -> None:
        self._wake = None
        self.kick()

    async def _listen(self) -> None:
        """Move the timer to every item scheduled ahead of the others, by any replica. Not
        tracked as activity (it never finishes); after Redis was away it claims at once
        (what was published meanwhile is not seen) and listens again."""
        pause = self.retry_first
        while not self._stopped:
            try:
                async for due_at in self.store.due_wakes():
                    if due_at is None:  # subscribed: claim what was scheduled before
                        pause = self.retry_first
                        self.listening.set()
                        self.kick()
                    else:
                        self._wake_at(due_at)
            except STORE_ERRORS as exc:
                self.listening.clear()
                log.info("due-item wake-ups lost; listening again", extra={"error": str(exc)})
            await asyncio.sleep(pause)  # backoff between attempts to reach Redis
            pause = min(self.retry_cap, pause * 2)
            self.kick()

    async def idle(self) -> None:
        """Wait until every handler this process started has finished (tests, shutdown)."""
        while self._running or self._ticks:
            await asyncio.gather(*self._running, *self._ticks, return_exceptions=True)

    async def outlook(self) -> Outlook:
        """The settle probe (bot/core/activity.py): busy while claiming (a claimed item is out
        of the due set before its handler starts) or while an item is due; next_at is the
        first item's due time."""
        if self._claiming or self._running or self._ticks:
            return Outlook(busy=True)
        return Outlook.first_due(await self.store.due_next(), self.clock)

    @property
    def _timing(self) -> bool:
        """Started with the app: this process's timer fires what it schedules."""
        return self._jobs is not None and not self._stopped

    def kick(self) -> None:
        """Claim now instead of at the next tick (something came due, or a backlog)."""
        if self._stopped:
            return
        if self._claiming:
            self._reclaim = True  # the claim under way may have missed it: claim once more
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (a script's set-up): the next tick finds it
        task = self.activity.spawn(self.tick())
        self._ticks.add(task)
        task.add_done_callback(self._ticks.discard)

    def _start(self, item: DueItem, now: float) -> None:
        held = self._held.get(item.id)
        if held is not None and held[0].token == item.token:
            self._held[item.id] = (held[0], now + self.lease)  # claimed again: renewed
            return
        self._held[item.id] = (item, now + self.lease)
        if self._renewing is None:
            self._renewing = asyncio.get_running_loop().create_task(self._renew())
        self.metrics.lateness.labels(item.kind).observe(max(0.0, now - item.due_at))
        with about(item.incident_id):  # the task's every log line names the incident
            task = self.activity.spawn(self._run(item))
        self._running.add(task)
        task.add_done_callback(self._finished)

    async def _renew(self) -> None:
        """Every `lease / 3` while items are at work here: renew the leases of those past a
        quarter of theirs, together (one script call). Not tracked as activity: it only
        waits; a failed renewal lets the lease run out (the item comes back, guarded)."""
        try:
            while self._held:
                await asyncio.sleep(self.lease / 3)
                await self.renew()
        finally:
            self._renewing = None

    async def renew(self) -> int:
        """Renew the leases of the items at work here past a quarter of theirs; how many."""
        now = self.clock()
        until = now + self.lease
        due = [item for item, end in self._held.values() if end - now < self.lease * 0.75]
        for item in due:
            self._held[item.id] = (item, until)
        renewals = (self.store.due_hold(item, until) for item in due)
        held = await asyncio.gather(*renewals, return_exceptions=True)
        for item, kept in zip(due, held, strict=True):
            if kept is False and self._held.get(item.id, (None,))[0] is item:
                del self._held[item.id]  # finished elsewhere or rescheduled: not ours now
        return len(due)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        if self._backlog:
            self.kick()

    async def _run(self, item: DueItem) -> None:
        try:
            await self._handle(item)
        finally:
            held = self._held.get(item.id)
            if held is not None and held[0].token == item.token:
                del self._held[item.id]

    async def _handle(self, item: DueItem) -> None:
        extra = {"incident": item.incident_id, "kind": item.kind, "attempt": item.attempts}
        try:
            kind = self._kinds.get(item.kind)
            if kind is None:  # e.g. an older replica during a rolling deploy
                await self._again(item, None, f"no handler for {item.kind}", self.max_attempts)
                return
            if item.attempts > 1 and await self.store.due_sent(item) is not None:
                # another replica finished it after our lease had run out
                self.metrics.outcomes.labels(item.kind, "duplicate").inc()
                await self.store.due_done(item, None)
                return
            self._then[item.token] = []
            await self.activity.turn()  # Slack's requests are answered first
            try:
                async with asyncio.timeout(self.work):
                    await kind.handler(item)
            except Retry as exc:
                await self._again(item, exc.after, exc.reason, kind.max_attempts)
                return
            except Exception as exc:
                log.exception("due-item handler failed", extra=extra)
                await self._again(item, None, f"{type(exc).__name__}: {exc}", kind.max_attempts)
                return
            record = {
                "kind": item.kind,
                "incident": item.incident_id,
                "due_at": item.due_at,
                "done_at": self.clock(),
                "attempts": item.attempts,
                "by": self.replica,
            }
            follows = self._then.pop(item.token, [])
            await self.store.due_done(item, record, then=follows, wake=not self._timing)
            self.metrics.outcomes.labels(item.kind, "done").inc()
            for follow in follows:
                self._time(follow.due_at)
        except STORE_ERRORS as exc:
            # could not finish or re-queue: the lease runs out and the item comes back
            log.warning("due-item bookkeeping failed", extra={**extra, "error": str(exc)})
        finally:
            self._then.pop(item.token, None)

    async def _again(self, item: DueItem, after: float | None, reason: str, limit: int) -> None:
        extra = {"incident": item.incident_id, "kind": item.kind, "attempt": item.attempts}
        if item.attempts >= limit:
            log.error("due-item given up", extra={**extra, "error": reason})
            self.metrics.outcomes.labels(item.kind, "gave_up").inc()
            await self.store.due_done(item, None)
            return
        if after is None:
            after = min(self.retry_cap, self.retry_first * 2 ** (item.attempts - 1))
            after *= random.uniform(0.9, 1.1)  # replicas retrying one outage spread out
        log.info("due-item retry", extra={**extra, "error": reason, "after": round(after, 2)})
        self.metrics.outcomes.labels(item.kind, "retry").inc()
        await self.store.due_retry(item, self.clock() + after, reason)
        self._wake_at(self.clock() + after)

    # -- with the app ---------------------------------------------------------------------
    def start(self, jobs: AsyncIOScheduler) -> None:
        """Tick from the process's APScheduler (started with the app)."""
        self._stopped = False
        self._jobs = jobs
        self._wakes = asyncio.get_running_loop().create_task(self._listen())
        jobs.add_job(
            self.tick,
            "interval",
            seconds=self.tick_every,
            id=JOB_ID,
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=None,
            next_run_time=datetime.now(UTC),
        )

    async def stop(self, *, wait: float = 5.0) -> None:
        """Stop claiming; give running handlers `wait` seconds. One cut short keeps its
        lease and is handled again after it (by another replica, or after a restart)."""
        self._stopped = True
        if self._wake is not None:
            self._wake.cancel()
            self._wake = None
        if self._renewing is not None:
            self._renewing.cancel()  # what is cut short below comes back within `lease`
        if self._wakes is not None:
            self._wakes.cancel()
            await asyncio.gather(self._wakes, return_exceptions=True)
            self._wakes = None
        if self._jobs is not None and self._jobs.get_job(JOB_ID) is not None:
            self._jobs.remove_job(JOB_ID)
        pending = [*self._running, *self._ticks]
        if pending:
            await asyncio.wait(pending, timeout=wait)
        for task in [*self._running, *self._ticks]:
            task.cancel()
