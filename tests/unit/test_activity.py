"""The settle signal's parts (bot/core/activity.py): tracked work, timed work, probes, drain."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.core import activity
from bot.core.activity import Activity, Outlook


async def test_tracked_tasks_and_busy_sections_are_work_until_they_end() -> None:
    a = Activity()
    gate = asyncio.Event()
    before = activity.generation()
    task = a.spawn(gate.wait())
    assert a.working and activity.generation() > before
    with a.busy():
        assert a.working
    gate.set()
    await a.idle()
    assert task.done() and not a.working


async def test_delayed_work_is_timed_work_until_it_starts_then_tracked() -> None:
    a = Activity()
    ran: list[int] = []
    started = asyncio.Event()

    async def work() -> None:
        ran.append(1)
        started.set()

    a.later(0.2, work)
    seen = await a.outlook()
    assert not seen.busy and seen.next_at is not None
    assert time.time() < seen.next_at <= time.time() + 0.2
    cancel = a.later(0.05, work)
    cancel()  # never runs
    await started.wait()
    await a.idle()
    assert ran == [1] and await a.outlook() == Outlook()


async def test_probes_add_timed_work_and_one_that_fails_counts_as_busy() -> None:
    a = Activity()

    async def later() -> Outlook:
        return Outlook.first_due(time.time() + 30)

    a.probe(later)
    seen = await a.outlook()
    assert not seen.busy and seen.next_at is not None and seen.next_at > time.time() + 29

    async def broken() -> Outlook:
        raise ConnectionError("redis away")

    a.probe(broken)
    assert (await a.outlook()).busy


def test_first_due_is_told_on_the_wall_clock_whatever_the_owners_clock() -> None:
    shifted = lambda: time.time() + 3600  # noqa: E731 (an owner's clock an hour ahead)
    seen = Outlook.first_due(shifted() + 10, shifted)
    assert not seen.busy and seen.next_at is not None
    assert abs(seen.next_at - (time.time() + 10)) < 1
    assert Outlook.first_due(shifted() - 1, shifted).busy
    assert Outlook.first_due(None) == Outlook()


async def test_drain_waits_for_held_work_only_and_at_most_its_grace() -> None:
    a = Activity()
    held = a.track(asyncio.ensure_future(asyncio.sleep(0.05)), hold_stop=True)
    stuck = a.spawn(asyncio.Event().wait())  # a due-item handler: its owner stops it
    await a.drain(grace=5)
    assert held.done() and not stuck.done()
    forever = a.track(asyncio.ensure_future(asyncio.Event().wait()), hold_stop=True)
    await a.drain(grace=0.05)
    assert not forever.done()
    for task in (stuck, forever):
        task.cancel()
    await a.idle()


async def test_a_due_job_is_busy_its_run_is_work_and_its_next_run_is_timed_work() -> None:
    a = Activity()
    jobs = AsyncIOScheduler()
    running = asyncio.Event()
    release = asyncio.Event()

    async def job() -> None:
        running.set()
        await release.wait()

    a.track_jobs(jobs, ignore={"tick"})
    jobs.add_job(job, "interval", seconds=60, id="sweep", next_run_time=datetime.now(UTC))
    jobs.add_job(job, "interval", seconds=0.01, id="tick")  # ignored: seen otherwise
    jobs.start()
    try:
        assert (await a.outlook()).busy  # due now, not started yet
        await running.wait()
        assert a.working  # running
        release.set()
        await a.idle()  # the run ended
        seen = await a.outlook()
        assert not seen.busy and seen.next_at is not None
        assert seen.next_at > time.time() + 50  # the next run, in a minute
    finally:
        jobs.shutdown(wait=False)


async def test_running_lists_what_was_started_and_not_stopped() -> None:
    a, b = Activity("a"), Activity("b")
    a.start()
    b.start()
    try:
        assert {x.name for x in activity.running()} >= {"a", "b"}
    finally:
        a.stop()
    assert a not in activity.running() and b in activity.running()
    b.stop()


async def test_with_only_fakes_here_a_wait_never_calls_another_process_settled() -> None:
    """A bot in a child process: its work is invisible here, so the fakes being idle is
    no settle signal (the wait ends on the condition, or on the hang guard)."""
    from tests.integration.harness import eventually

    fake = Activity("fake slack", fake=True)
    fake.start()
    try:
        done = asyncio.Event()
        asyncio.get_running_loop().call_later(0.3, done.set)  # untracked: "elsewhere"
        assert await eventually(done.is_set)
    finally:
        fake.stop()
