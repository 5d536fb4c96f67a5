"""What the process is doing: the one place that knows when the bot is idle.

Work that goes on after its request was answered is tracked here: Bolt listeners after
`ack()`, due-item handlers and claims, alert groups being reconciled, background refreshes,
the in-memory APScheduler's job runs, work started after a delay. `idle()` waits for it
all and `drain()` gives it a grace period at shutdown.

Idle is not done: due-items, alert groups and periodic jobs are timed work that has not
started yet. Each part that keeps such work adds a *probe* saying whether something is due
right now (about to start: busy) and when the next thing comes due. `outlook()` combines
them. The test harness waits on this settle signal instead of a wall-clock deadline
(tests/integration/harness.py); the fakes in bot/fakes/ track what they send the same way.

It also knows which of Slack's requests are still to be answered (Slack gives each 3 s):
background work (an event's subscribers, a due-item) waits its `turn()` while any is, so
a burst of commands is answered first instead of each answer queueing, loop turn after
loop turn, behind the set-up of the incidents declared before it.

A process may run several (tests run replicas and fakes side by side): `running()` lists
those started and not yet stopped, and `watch()` hears every change in any of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MISSED,
    EVENT_JOB_SUBMITTED,
    JobEvent,
    JobSubmissionEvent,
)
from apscheduler.schedulers.base import BaseScheduler

log = logging.getLogger(__name__)

T = TypeVar("T")
F = TypeVar("F", bound="asyncio.Future[Any]")

# The longest background work waits for Slack's requests to be answered: under a steady
# stream of them it still goes on, a turn at a time.
ANSWERS_FIRST = 0.5


@dataclass(frozen=True)
class Outlook:
    """What a probe sees: `busy` when work is under way or due now, `next_at` (epoch
    seconds) when the next timed work comes due, if any."""

    busy: bool = False
    next_at: float | None = None

    @classmethod
    def first_due(cls, first: float | None, clock: Callable[[], float] = time.time) -> Outlook:
        """Timed work first due at `first` by the owner's `clock`: busy when that is now,
        else next_at, told on the wall clock (owners' clocks may be shifted in tests)."""
        if first is None:
            return cls()
        now = clock()
        return cls(busy=first <= now, next_at=time.time() + (first - now))


Probe = Callable[[], Awaitable[Outlook]]

_running: set[Activity] = set()
_watchers: list[Callable[[], None]] = []
_generation = 0


def running() -> list[Activity]:
    """The activities started and not yet stopped, in this process."""
    return list(_running)


def generation() -> int:
    """Counts every start and end of tracked work, in any activity: unchanged means
    nothing started or finished meanwhile."""
    return _generation


def watch(callback: Callable[[], None]) -> Callable[[], None]:
    """Call `callback()` on every change in any activity; returns the unsubscribe."""
    _watchers.append(callback)
    return lambda: _watchers.remove(callback) if callback in _watchers else None


def _changed() -> None:
    global _generation
    _generation += 1
    for callback in list(_watchers):
        callback()


class Activity:
    """One app's (or one fake's) work in flight, and its probes for timed work. A fake's
    activity is marked `fake`: with only fakes running here, the app is in another
    process and its settling cannot be seen from this one."""

    def __init__(self, name: str = "bot", *, fake: bool = False) -> None:
        self.name = name
        self.fake = fake  # a stand-in for Slack or PagerDuty: it answers, it does not act
        self._tasks: set[asyncio.Future[Any]] = set()
        self._held: set[asyncio.Future[Any]] = set()  # what stopping waits for (drain)
        self._busy = 0
        self._probes: list[Probe] = []
        self._timers: dict[asyncio.TimerHandle, float] = {}
        self._answering = 0
        self._answered = asyncio.Event()  # set while no Slack request waits for its answer
        self._answered.set()

    def __repr__(self) -> str:
        return f"<Activity {self.name} tasks={len(self._tasks)} busy={self._busy}>"

    # -- tracking ---------------------------------------------------------------------------
    def track(self, task: F, *, hold_stop: bool = False) -> F:
        """Count `task` as work until it is done (strongly referenced meanwhile).
        `hold_stop`: `drain()` waits for it (work Slack was told about); the rest is
        stopped by its owner (a due-item keeps its lease and comes back)."""
        if not task.done() and task not in self._tasks:
            self._tasks.add(task)
            if hold_stop:
                self._held.add(task)
            task.add_done_callback(self._finished)
            _changed()
        return task

    def _finished(self, task: asyncio.Future[Any]) -> None:
        self._tasks.discard(task)
        self._held.discard(task)
        _changed()

    def spawn(self, work: Coroutine[Any, Any, T], *, name: str | None = None) -> asyncio.Task[T]:
        """Run `work` as a tracked task of its own."""
        return self.track(asyncio.get_running_loop().create_task(work, name=name))

    @contextlib.contextmanager
    def busy(self) -> Iterator[None]:
        """Count the enclosed section as work."""
        self._busy += 1
        _changed()
        try:
            yield
        finally:
            self._busy -= 1
            _changed()

    # -- Slack's requests first ---------------------------------------------------------------
    @contextlib.contextmanager
    def answering(self) -> Iterator[None]:
        """A Slack request from its arrival to its answer (the ack, not the work after it)."""
        self._answering += 1
        self._answered.clear()
        try:
            yield
        finally:
            self._answering -= 1
            if not self._answering:
                self._answered.set()

    async def turn(self) -> None:
        """Before a piece of background work: while Slack requests wait for their answer,
        wait until none does, or ANSWERS_FIRST seconds."""
        if self._answering:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(ANSWERS_FIRST):
                    await self._answered.wait()

    def later(
        self, delay: float, work: Callable[[], Coroutine[Any, Any, Any]]
    ) -> Callable[[], None]:
        """Start `work()` as a tracked task after `delay` seconds; until then it counts as
        timed work due then. Returns a cancel function (the timer, or the task)."""
        started: list[asyncio.Task[Any]] = []

        def begin() -> None:
            self._timers.pop(handle, None)
            started.append(self.spawn(work()))

        handle = asyncio.get_running_loop().call_later(delay, begin)
        self._timers[handle] = time.time() + delay

        def cancel() -> None:
            handle.cancel()
            self._timers.pop(handle, None)
            for task in started:
                task.cancel()

        return cancel

    def probe(self, probe: Probe) -> None:
        """Add a probe for timed work this app keeps (due-items, alert groups, ...)."""
        self._probes.append(probe)

    def track_jobs(self, jobs: BaseScheduler, *, ignore: Collection[str] = ()) -> None:
        """Count APScheduler's runs of its jobs as work, and its due jobs as timed work.
        `ignore`: jobs whose work is seen otherwise (the due-item tick, by its probe)."""

        def heard(event: JobEvent) -> None:
            if event.job_id in ignore:
                return
            if event.code == EVENT_JOB_SUBMITTED:
                assert isinstance(event, JobSubmissionEvent)
                self._busy += len(event.scheduled_run_times)
            else:  # one run time executed, failed or missed
                self._busy -= 1
            _changed()

        jobs.add_listener(
            heard, EVENT_JOB_SUBMITTED | EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED
        )

        async def due() -> Outlook:
            if not jobs.running:
                return Outlook()
            times = [
                job.next_run_time.timestamp()
                for job in jobs.get_jobs()
                if job.next_run_time is not None and job.id not in ignore
            ]
            return Outlook.first_due(min(times, default=None))

        self.probe(due)

    # -- reading ----------------------------------------------------------------------------
    @property
    def working(self) -> bool:
        """Tracked work is under way right now."""
        return bool(self._tasks) or self._busy > 0

    async def outlook(self) -> Outlook:
        """Busy (work under way or due now), and when the next timed work comes due. A
        probe that cannot answer (Redis away) counts as busy: never idle by mistake."""
        if self.working:
            return Outlook(busy=True)
        busy = any(at <= time.time() for at in self._timers.values())
        times = list(self._timers.values())
        for probe in self._probes:
            try:
                seen = await probe()
            except Exception as exc:
                log.debug("activity probe failed", extra={"error": str(exc)})
                seen = Outlook(busy=True)
            busy = busy or seen.busy
            if seen.next_at is not None:
                times.append(seen.next_at)
        return Outlook(busy=busy or self.working, next_at=min(times, default=None))

    async def idle(self) -> None:
        """Until no tracked work is under way (timed work may still come due)."""
        woken = asyncio.Event()
        unwatch = watch(woken.set)
        try:
            while self.working:
                woken.clear()
                await woken.wait()
        finally:
            unwatch()

    async def drain(self, grace: float) -> None:
        """At shutdown: let the work tracked with `hold_stop` finish, for at most `grace`
        seconds."""
        current = asyncio.current_task()
        pending = [t for t in self._held if t is not current]
        if pending:
            log.info("finishing work under way before stopping", extra={"tasks": len(pending)})
            await asyncio.wait(pending, timeout=grace)

    # -- life -------------------------------------------------------------------------------
    def start(self) -> None:
        _running.add(self)
        _changed()

    def stop(self) -> None:
        """No longer running: pending delayed work is cancelled, probes are not asked."""
        _running.discard(self)
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()
        _changed()
