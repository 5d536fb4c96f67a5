"""The alert path's loops in each replica: one applies the accepted-batch stream through a
consumer group (claiming what a dead consumer left; `apply`), one reconciles due groups
lane by lane. Each lane has its own workers, so a SEV1's group is reconciled while thousands of
unmatched ones wait in the rest lane, never behind them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pydantic import ValidationError

from blocks.alerts import SAMPLE
from bot.alerts.intake import AlertBatch, group_id
from bot.core.activity import Outlook
from bot.core.errors import STORE_ERRORS
from bot.core.slack import SlackError
from bot.core.store import LANES, AlertEntry, GroupApply, GroupLimits, Lane
from bot.incidents import IncidentError

if TYPE_CHECKING:
    from bot.alerts import Alerts

log = logging.getLogger(__name__)

REDIS_ERRORS = STORE_ERRORS
DROP_REASONS = {-1: "total", -2: "minute"}  # what the apply script answers for a group kept out
APPLY_CHUNK = 2000  # alerts applied a round trip
# a read: FIRST_READ entries, then up to `alerts.batch` (many small POSTs a read, so
# fewer reads and script calls each) of about READ_BYTES in all (big payloads: a few)
FIRST_READ, READ_BYTES = 32, 2 * 1024 * 1024


@dataclass
class Worker:
    alerts: Alerts
    stopping: bool = False
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    inflight: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)

    def start(self) -> None:
        self.tasks = [
            asyncio.create_task(self._ingest_loop(), name="alerts-ingest"),
            asyncio.create_task(self._reconcile_loop(), name="alerts-reconcile"),
        ]

    async def stop(self) -> None:
        # The loops stop at their next turn; a reconcile under way may finish (it holds
        # its group's lease), briefly. Whatever is cut short is redone by any replica.
        self.stopping = True
        self.alerts.wake_ingest.set()
        self.alerts.wake_reconcile.set()
        # the loops first: once they are done, no reconcile starts after this one's list
        await asyncio.wait(self.tasks, timeout=5.0)
        tasks = [*self.tasks, *self.inflight.values()]
        _, pending = await asyncio.wait(tasks, timeout=5.0)
        for task in pending:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _ingest_loop(self) -> None:
        alerts, store = self.alerts, self.alerts.store
        await _until_ready(store.alerts_consumer_group)
        next_reclaim = 0.0
        count = min(alerts.batch, FIRST_READ)
        own = True  # first what this consumer read and never acknowledged
        while not self.stopping:
            alerts.wake_ingest.clear()  # before reading: an accept from now on wakes us
            try:
                entries = await store.alerts_read(alerts.consumer, count, own=own)
                if own and not entries:
                    own = False
                    continue
                if not entries and time.monotonic() >= next_reclaim:
                    next_reclaim = time.monotonic() + max(alerts.claim_idle / 2, 0.1)
                    idle_ms = int(alerts.claim_idle * 1000)
                    entries = await store.alerts_reclaim(alerts.consumer, idle_ms, count)
                if entries:
                    await apply(alerts, entries)
                    # twice as many next time, up to about READ_BYTES of entries like these
                    size = sum(len(e.batch) for e in entries)
                    fit = READ_BYTES * len(entries) // max(1, size)
                    count = max(1, min(alerts.batch, count * 2, fit))
                    continue
            except REDIS_ERRORS as exc:
                # a read whose answer was lost (big payloads, a busy Redis): its entries
                # are this consumer's; read them again, fewer at a time
                log.warning("alert stream unavailable: %s", exc, extra={"error": str(exc)})
                count, own = max(1, count // 4), True
                await asyncio.sleep(1.0)
                continue
            await _wait(alerts.wake_ingest, alerts.poll)

    async def _reconcile_loop(self) -> None:
        alerts = self.alerts
        gates = {lane: asyncio.Semaphore(alerts.concurrency) for lane in LANES}
        while not self.stopping:
            alerts.wake_reconcile.clear()
            wait = alerts.poll
            try:
                now = alerts.clock()
                for lane in LANES:  # the page lane first: it never waits for the others
                    due, later = await alerts.store.alerts_due(now, alerts.concurrency * 4, lane)
                    fresh = [gid for gid in due if gid not in self.inflight]
                    if self.stopping:
                        break
                    for gid in fresh:
                        task = alerts.activity.spawn(self._guarded(gid, gates[lane], lane))
                        self.inflight[gid] = task
                        task.add_done_callback(_forget(self.inflight, gid))
                    if later is not None:
                        wait = min(wait, max(0.01, later - now))
                    if due and not fresh:
                        wait = min(wait, 0.05)  # all taken: look again soon
            except REDIS_ERRORS as exc:
                log.warning("alert reconciler cannot read Redis", extra={"error": str(exc)})
                wait = 1.0
            await _wait(alerts.wake_reconcile, wait)

    async def _guarded(self, gid: str, gate: asyncio.Semaphore, lane: Lane) -> None:
        async with gate:
            try:
                await self.alerts.reconcile(gid)
                self.failures.pop(gid, None)
            except Exception as exc:
                n = self.failures.get(gid, 0) + 1
                self.failures[gid] = n
                level = logging.WARNING if isinstance(exc, SlackError | IncidentError) else 0
                log.log(
                    level or logging.ERROR,
                    "alert group reconcile failed",
                    exc_info=not level,
                    extra={"group": gid, "error": str(exc), "attempt": n},
                )
                with contextlib.suppress(*REDIS_ERRORS):
                    at = self.alerts.clock() + min(60.0, 2.0**n)
                    await self.alerts.store.alerts_mark_due(gid, at, lane)

    async def outlook(self) -> Outlook:
        """The settle probe (bot/core/activity.py): busy while a group is reconciled, an
        accepted batch is unapplied or a group is due; next_at: the next group due."""
        if self.inflight:
            return Outlook(busy=True)
        return await outlook(self.alerts)


def limits(alerts: Alerts) -> GroupLimits:
    """The bounds the apply script keeps, from `alerts` in the config."""
    s = alerts.settings
    quiet = s.dedupe_window + s.flap_window + (s.auto_resolve or s.flap_window)
    return GroupLimits(
        max_instances=s.max_instances,
        keep=SAMPLE,
        flap=s.flap_window.total_seconds(),
        max_groups=s.max_groups,
        per_minute=s.groups_per_minute,
        quiet=quiet.total_seconds(),
        window=s.digest_window.total_seconds(),
        ttl=alerts.retention,
    )


async def apply(alerts: Alerts, entries: list[AlertEntry]) -> None:
    """Apply stream entries to their groups, then acknowledge and delete them.

    A group's alerts of all these entries go in one script call, in order, each with its
    own entry (so dedup and order are as if applied an entry at a time): a storm of
    one-alert POSTs for a group costs one call a read, not one a POST. Its version moves
    once for them all; a group that starts and stops firing within them is due as for a
    change of counts only (at its message's next edit). A complete report goes alone."""
    updates: list[GroupApply] = []
    last: dict[str, tuple[tuple[object, ...], GroupApply]] = {}  # a group's update to join
    for entry in entries:
        try:
            batch = AlertBatch.model_validate_json(entry.batch)
        except ValidationError:
            # written by a newer replica, or corrupted: keeping it would block nothing
            # but would be retried forever
            log.error("unreadable alert batch dropped", extra={"entry": entry.id})
            continue
        seq = entry.seq
        for g in batch.groups:
            quads: list[str] = []
            for a in g.alerts:
                quads += [a.fingerprint, a.status, a.model_dump_json(), seq]
            gid = group_id(g.key)
            # what the call says besides its alerts (lane and class follow from it)
            shape = (g.key, g.title, g.labels, g.link, batch.source)
            joined = last.get(gid)
            if (
                joined is not None
                and joined[0] == shape
                and not g.complete_prefix
                and len(joined[1].alerts) + len(quads) <= 4 * APPLY_CHUNK
            ):
                joined[1].alerts += quads
                joined[1].entry = entry
                continue
            group = json.dumps({"title": g.title, "labels": g.labels}, sort_keys=True)
            head = [g.complete_prefix, g.key, g.alertname, group, batch.source, g.link]
            u = GroupApply(gid, entry, alerts.lane(g), alerts.group_class(g), head, quads)
            updates.append(u)
            if g.complete_prefix:  # it resolves what it omits: what follows goes after it
                last.pop(gid, None)
            else:
                last[gid] = (shape, u)
    # a few thousand alerts a round trip, so each answers well within the socket
    # timeout; the entries are acknowledged with the last (a crash before it: they
    # are applied again, which changes nothing)
    results: list[int] = []
    bounds = limits(alerts)
    chunk: list[GroupApply] = []
    size = 0
    for u in updates:
        chunk.append(u)
        size += len(u.alerts) // 4 + 1
        if size >= APPLY_CHUNK:
            results += await alerts.store.alerts_apply([], chunk, now=alerts.clock(), limits=bounds)
            chunk, size = [], 0
    results += await alerts.store.alerts_apply(entries, chunk, now=alerts.clock(), limits=bounds)
    for result in results:
        if result in DROP_REASONS:
            alerts.metrics.dropped.labels(DROP_REASONS[result]).inc()
    alerts.metrics.applied.inc(len(entries))
    alerts.wake_reconcile.set()


async def outlook(alerts: Alerts) -> Outlook:
    if await alerts.store.alerts_backlog():
        return Outlook(busy=True)
    now = alerts.clock()
    firsts = []
    for lane in LANES:
        due, later = await alerts.store.alerts_due(now, 1, lane)
        if due:
            return Outlook(busy=True)
        if later is not None:
            firsts.append(later)
    return Outlook.first_due(min(firsts) if firsts else None, alerts.clock)


async def _until_ready(step: Callable[[], Awaitable[None]]) -> None:
    while True:
        try:
            await step()
            return
        except REDIS_ERRORS as exc:
            log.warning("alert worker waiting for Redis", extra={"error": str(exc)})
            await asyncio.sleep(1.0)


async def _wait(event: asyncio.Event, seconds: float) -> None:
    """Until `event` is set or `seconds` pass (asyncio.timeout, unlike wait_for on 3.11,
    never swallows a cancellation)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()


def _forget(tasks: dict[str, asyncio.Task[None]], gid: str) -> Callable[[asyncio.Task[None]], None]:
    def done(_: asyncio.Task[None]) -> None:
        tasks.pop(gid, None)

    return done
