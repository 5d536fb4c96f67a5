"""Durable due-items (bot/core/schedule.py) on fakeredis with a hand-driven clock: claiming,
leases, replacement, stale generations, retries, send records, several schedulers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import fakeredis
import pytest
import redis
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.core.models import DueItem
from bot.core.schedule import Retry, Scheduler
from bot.core.store import Store

T0 = 1_700_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def store() -> AsyncIterator[Store]:
    redis = fakeredis.FakeAsyncRedis(decode_responses=True)
    yield Store(redis)
    await redis.aclose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def scheduler(store: Store, clock: Clock, **kw: object) -> Scheduler:
    return Scheduler(store, clock, lease=30.0, retry=2.0, **kw)  # type: ignore[arg-type]


class Recorder:
    """A handler that records what it was given, and can be told to fail."""

    def __init__(self) -> None:
        self.items: list[DueItem] = []
        self.fail_with: BaseException | None = None

    async def __call__(self, item: DueItem) -> None:
        self.items.append(item)
        if self.fail_with is not None:
            raise self.fail_with


async def fire(s: Scheduler) -> int:
    await s.idle()  # a tick kicked by schedule() may be under way
    claimed = await s.tick()
    await s.idle()
    return claimed


async def test_an_item_fires_once_when_due_and_leaves_a_send_record(
    store: Store, clock: Clock
) -> None:
    s = scheduler(store, clock)
    got = Recorder()
    s.on("remind", got)
    assert await s.schedule("remind", "inc-1", T0 + 10, payload={"n": 1}, generation=3)
    assert await fire(s) == 0 and got.items == []
    clock.now = T0 + 10
    assert await fire(s) == 1
    assert await fire(s) == 0
    [item] = got.items
    assert (item.kind, item.incident_id, item.payload, item.generation) == (
        "remind",
        "inc-1",
        {"n": 1},
        3,
    )
    assert item.attempts == 1
    assert await s.pending("inc-1") == []
    record = await store.due_sent(item)
    assert record is not None and record["kind"] == "remind" and record["due_at"] == T0 + 10


async def test_rescheduling_the_same_key_replaces_the_pending_occurrence(
    store: Store, clock: Clock
) -> None:
    s = scheduler(store, clock)
    got = Recorder()
    s.on("remind", got)
    await s.schedule("remind", "inc-1", T0 + 5, generation=1)
    await s.schedule("remind", "inc-1", T0 + 50, generation=1)
    await s.schedule("remind", "inc-1", T0 + 5, key="other", generation=1)
    pending = await s.pending("inc-1")
    assert [(i.key, i.due_at) for i in pending] == [("other", T0 + 5), ("", T0 + 50)]
    clock.now = T0 + 49
    await fire(s)
    assert [i.key for i in got.items] == ["other"]


async def test_a_claim_nobody_finishes_comes_back_after_the_lease(
    store: Store, clock: Clock
) -> None:
    crashed = scheduler(store, clock)
    await crashed.schedule("remind", "inc-1", T0, generation=1)
    # a replica claims it, then dies (kill -9) before its handler finishes
    claimed, _, _ = await store.due_claim(T0, T0 + 30, 10)
    assert len(claimed) == 1

    survivor = scheduler(store, clock)
    got = Recorder()
    survivor.on("remind", got)
    clock.now = T0 + 29
    assert await fire(survivor) == 0  # still leased
    clock.now = T0 + 30
    assert await fire(survivor) == 1
    assert got.items[0].attempts == 2
    assert got.items[0].first_claimed_at == T0  # when it may first have been sent
    assert await fire(survivor) == 0


async def test_a_lease_is_renewed_while_its_handler_works_and_runs_out_when_it_stops(
    store: Store, clock: Clock
) -> None:
    s = scheduler(store, clock)  # a lease of 30 s
    started, gate = asyncio.Event(), asyncio.Event()

    async def slow(item: DueItem) -> None:
        started.set()
        await gate.wait()

    s.on("remind", slow)
    await s.schedule("remind", "inc-1", T0, generation=1)
    assert await s.tick() == 1
    await started.wait()
    other = scheduler(store, clock)
    got = Recorder()
    other.on("remind", got)
    clock.now = T0 + 5
    assert await s.renew() == 0  # not a quarter into its lease yet
    clock.now = T0 + 20
    assert await s.renew() == 1  # held until T0 + 50
    clock.now = T0 + 40
    assert await fire(other) == 0
    # its own claim of the item it is at work on (its loop stalled past a renewal) is the
    # renewal: no second run
    clock.now = T0 + 50
    assert await s.tick() == 1 and len(s._running) == 1
    # then it stops renewing (as if killed): the other replica takes the item over
    clock.now = T0 + 80
    assert await fire(other) == 1
    assert got.items[0].attempts > 1 and got.items[0].first_claimed_at == T0
    gate.set()
    await s.idle()
    assert await s.pending("inc-1") == []


async def test_what_a_handler_schedules_after_its_item_goes_with_its_done_not_its_failure(
    store: Store, clock: Clock
) -> None:
    s = scheduler(store, clock)
    seen: list[list[str]] = []
    fail = [Retry("PagerDuty: HTTP 503", after=1.0)]

    async def page(item: DueItem) -> None:
        await s.schedule("escalate", item.incident_id, T0 + 900, generation=1, after=item)
        seen.append([i.kind for i in await s.pending("inc-1")])
        if fail:
            raise fail.pop()

    s.on("page", page)
    await s.schedule("page", "inc-1", T0 + 1, generation=1)
    clock.now = T0 + 1
    assert await fire(s) == 1
    assert [i.kind for i in await s.pending("inc-1")] == ["page"]  # retried: nothing after
    clock.now = T0 + 2
    assert await fire(s) == 1
    assert [i.kind for i in await s.pending("inc-1")] == ["escalate"]
    assert seen == [["page"], ["page"]]  # stored with the done, not while the handler ran


async def test_claims_are_counted_across_leases_and_retries(store: Store, clock: Clock) -> None:
    """A first claim writes nothing but its lease; the count still comes out right after
    any mix of leases running out and retries."""
    s = scheduler(store, clock)
    await s.schedule("remind", "inc-1", T0, generation=1)
    seen = []
    for step in range(6):
        [item], _, _ = await store.due_claim(clock.now, clock.now + 30, 10)
        seen.append(item.attempts)
        assert item.first_claimed_at == T0
        if step in (1, 3):  # retried; otherwise its lease runs out
            assert await store.due_retry(item, clock.now + 5, "Slack: ratelimited")
            clock.now += 5
        else:
            clock.now += 30
    assert seen == [1, 2, 3, 4, 5, 6]
    [pending] = await s.pending("inc-1")
    assert pending.last_error == "Slack: ratelimited"


async def test_a_redelivery_of_an_occurrence_finished_elsewhere_is_not_handled(
    store: Store, clock: Clock
) -> None:
    s = scheduler(store, clock)
    got = Recorder()
    s.on("remind", got)
    await s.schedule("remind", "inc-1", T0, generation=1)
    [slow], _, _ = await store.due_claim(T0, T0 + 30, 10)
    clock.now = T0 + 31  # the slow replica's lease ran out ...
    [again], _, _ = await store.due_claim(clock.now, clock.now + 30, 10)
    assert again.attempts == 2
    # ... and then it finished after all
    await store.due_done(slow, {"kind": "remind"})
    await s._run(again)
    assert got.items == []
    assert s.metrics.outcomes.labels("remind", "duplicate")._value.get() == 1


async def test_a_newer_generation_in_a_lane_makes_older_items_stale(
    store: Store, clock: Clock
) -> None:
    s = scheduler(store, clock)
    got = Recorder()
    s.on("due", got)
    s.on("overdue", got)
    await s.schedule("overdue", "inc-1", T0, generation=4, lane="cadence")
    await s.schedule("due", "inc-1", T0 + 60, generation=5, lane="cadence")
    assert [i.kind for i in await s.pending("inc-1")] == ["due"]  # removed at once
    # a handler still holding generation 4 cannot chain onward
    assert not await s.schedule("overdue", "inc-1", T0 + 1, generation=4, lane="cadence")
    # other lanes are unaffected
    assert await s.schedule("page", "inc-1", T0, generation=1)
    clock.now = T0 + 60
    await fire(s)
    assert sorted(i.kind for i in got.items) == ["due"]  # "page" has no handler here


async def test_an_item_that_went_stale_while_queued_is_dropped_unsent(
    store: Store, clock: Clock
) -> None:
    s = scheduler(store, clock)
    got = Recorder()
    s.on("due", got)
    await s.schedule("due", "inc-1", T0, generation=1, lane="cadence")
    # the floor rises without touching the item (a cancel of another kind in the lane)
    await s.cancel("inc-1", "overdue", lane="cadence", generation=2)
    assert await fire(s) == 0
    assert got.items == []
    assert await s.pending("inc-1") == []


async def test_cancel_removes_matching_items_and_refuses_older_schedules(
    store: Store, clock: Clock
) -> None:
    s = scheduler(store, clock)
    for kind in ("due", "overdue", "escalate"):
        await s.schedule(
            kind, "inc-1", T0 + 10, generation=1, lane="cadence" if "due" in kind else None
        )
    await s.schedule("due", "inc-2", T0 + 10, generation=1, lane="cadence")
    assert await s.cancel("inc-1", lane="cadence", generation=7) == 2
    assert [i.kind for i in await s.pending("inc-1")] == ["escalate"]
    assert [i.kind for i in await s.pending("inc-2")] == ["due"]
    assert not await s.schedule("due", "inc-1", T0, generation=6, lane="cadence")
    assert await s.schedule("due", "inc-1", T0, generation=7, lane="cadence")


async def test_failures_are_retried_with_backoff_then_given_up(store: Store, clock: Clock) -> None:
    s = scheduler(store, clock, max_attempts=3)
    got = Recorder()
    got.fail_with = RuntimeError("Slack is down")
    s.on("remind", got)
    await s.schedule("remind", "inc-1", T0, generation=1)
    await fire(s)
    [item] = await s.pending("inc-1")
    assert item.last_error == "RuntimeError: Slack is down"
    again_at = await store.redis.zscore(store.keys.due, item.id)
    assert again_at is not None and T0 + 1.8 <= again_at <= T0 + 2.2
    assert await fire(s) == 0
    clock.now = T0 + 2.2  # first retry: ~2 s (+-10 %)
    assert await fire(s) == 1
    clock.now = T0 + 2.2 + 4.4  # then ~4 s
    assert await fire(s) == 1
    assert len(got.items) == 3
    clock.now += 100
    assert await fire(s) == 0  # given up after 3 attempts
    assert await s.pending("inc-1") == []
    assert await store.due_sent(got.items[-1]) is None  # nothing was sent


async def test_retry_after_is_honoured(store: Store, clock: Clock) -> None:
    s = scheduler(store, clock)
    got = Recorder()
    got.fail_with = Retry("429", after=7)
    s.on("page", got)
    await s.schedule("page", "inc-1", T0, generation=1)
    await fire(s)
    clock.now = T0 + 6.9
    assert await fire(s) == 0
    clock.now = T0 + 7
    assert await fire(s) == 1


async def test_a_kind_without_a_handler_is_kept_for_a_replica_that_has_one(
    store: Store, clock: Clock
) -> None:
    old = scheduler(store, clock)
    await old.schedule("new-kind", "inc-1", T0, generation=1)
    await fire(old)
    assert [i.kind for i in await old.pending("inc-1")] == ["new-kind"]
    new = scheduler(store, clock)
    got = Recorder()
    new.on("new-kind", got)
    clock.now = T0 + 10
    await fire(new)
    assert len(got.items) == 1


async def test_replicas_on_one_redis_handle_each_item_exactly_once(clock: Clock) -> None:
    handled: list[str] = []

    async def handler(item: DueItem) -> None:
        await asyncio.sleep(0)  # interleave the replicas
        handled.append(item.incident_id)

    server = fakeredis.FakeServer()  # one Redis, a client (and pool) per replica
    stores = [Store(fakeredis.FakeAsyncRedis(server=server, decode_responses=True)) for _ in "abc"]
    store = stores[0]
    replicas = [scheduler(s, clock, batch=7) for s in stores]
    for r in replicas:
        r.on("remind", handler)
    for n in range(200):
        await replicas[0].schedule("remind", f"inc-{n}", T0 + n % 5, generation=1)
    clock.now = T0 + 5
    await asyncio.gather(*(r.tick() for r in replicas))
    for _ in range(5):  # full batches re-claim by themselves; a few ticks finish the rest
        await asyncio.gather(*(r.tick() for r in replicas))
        await asyncio.gather(*(r.idle() for r in replicas))
    assert sorted(handled) == sorted(f"inc-{n}" for n in range(200))
    assert await store.due_count() == 0


class Fired(Recorder):
    """A Recorder that says when it has been given an item."""

    def __init__(self) -> None:
        super().__init__()
        self.event = asyncio.Event()

    async def __call__(self, item: DueItem) -> None:
        await super().__call__(item)
        self.event.set()


HANG_GUARD = 60.0  # not a deadline: without the timer, the poll an hour away never fires


async def test_a_started_scheduler_wakes_at_the_due_time_not_at_the_next_poll(
    store: Store,
) -> None:
    """With a poll an hour apart, only the timer set to the due time can fire the item:
    one scheduled by this process, and one scheduled by another replica (the wake-up
    published on Redis), and one a claim answers is next (when the wake-up was missed)."""
    s = Scheduler(store, time.time, tick=3600.0, lease=30.0)
    got = Fired()
    s.on("remind", got)
    jobs = AsyncIOScheduler()
    jobs.start()
    s.start(jobs)
    try:
        async with asyncio.timeout(HANG_GUARD):
            await s.idle()
            await s.tick()  # the start's own claim: nothing is due yet
            await s.schedule("remind", "inc-1", time.time() + 0.05, generation=1)
            await got.event.wait()
            assert [i.incident_id for i in got.items] == ["inc-1"]

            other = Scheduler(store, time.time)  # another replica, not started here
            await s.listening.wait()
            got.event.clear()
            await other.schedule("remind", "inc-2", time.time() + 0.05, generation=1)
            await got.event.wait()
            assert [i.incident_id for i in got.items] == ["inc-1", "inc-2"]

            got.event.clear()
            await store.due_schedule(  # behind everyone's back: no wake-up published
                _item("inc-3", time.time() + 3600)
            )
            await store.redis.zadd(store.keys.due, {"inc-3|remind|": time.time() + 0.05})
            await s.tick()  # claims nothing yet, learns when inc-3 is due
            await got.event.wait()
            assert [i.incident_id for i in got.items] == ["inc-1", "inc-2", "inc-3"]
    finally:
        await s.stop()
        jobs.shutdown(wait=False)


def _item(incident_id: str, due_at: float) -> DueItem:
    return DueItem(
        id=f"{incident_id}|remind|",
        kind="remind",
        incident_id=incident_id,
        key="",
        lane="remind",
        token=incident_id,
        generation=1,
        due_at=due_at,
        payload={},
    )


async def test_writes_sent_together_each_get_the_calls_error_then_go_again(clock: Clock) -> None:
    server = fakeredis.FakeServer()
    store = Store(fakeredis.FakeAsyncRedis(server=server, decode_responses=True))
    s = scheduler(store, clock)
    server.connected = False  # Redis away
    answers = await asyncio.gather(
        *(s.schedule("remind", f"inc-{n}", T0 + 60, generation=1) for n in range(5)),
        return_exceptions=True,
    )
    assert all(isinstance(a, redis.exceptions.ConnectionError) for a in answers), answers
    server.connected = True
    assert (
        await asyncio.gather(
            *(s.schedule("remind", f"inc-{n}", T0 + 60, generation=1) for n in range(5))
        )
        == [True] * 5
    )
    assert await store.due_count() == 5


async def test_writes_together_go_in_one_call_in_order_and_not_at_all_after_an_error(
    store: Store, clock: Clock
) -> None:
    s = scheduler(store, clock)
    s.on("remind", Recorder())
    calls: list[int] = []
    write = store.due_write

    async def counted(ops: list[list[str]]) -> list[int]:
        calls.append(len(ops))
        return await write(ops)

    store.due_write = counted  # type: ignore[method-assign]
    async with s.together():
        assert await s.schedule("remind", "i-1", T0 + 60, key="a", generation=1)
        await s.schedule("remind", "i-1", T0 + 90, key="b", generation=1)
        assert await s.cancel("i-1", "remind", key="a") == 0  # not known inside
        assert calls == [] and await s.pending("i-1") == []  # nothing written yet
    assert calls == [3]  # one script call, in order: "a" scheduled, "b", "a" cancelled
    assert [i.key for i in await s.pending("i-1")] == ["b"]

    with pytest.raises(RuntimeError):
        async with s.together():
            await s.schedule("remind", "i-2", T0 + 60, generation=1)
            raise RuntimeError("a subscriber failed")
    assert calls == [3] and await s.pending("i-2") == []  # it asks again; nothing half-written

    # a task started inside writes on its own, at once
    async with s.together():
        other = asyncio.create_task(s.schedule("remind", "i-3", T0 + 60, generation=1))
        await other
        assert [i.incident_id for i in await s.pending("i-3")] == ["i-3"]
    assert calls == [3, 1]
