"""The event stream's consumer (bot/core/events.py) on a real Redis: urgent subscribers of
later entries go on while the other subscribers of earlier ones wait their turn; what its
bookkeeping costs per event (INFO commandstats); and which subscribers run again when an
entry is left unfinished."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any
from unittest import mock

import pytest
from redis.asyncio import Redis

from bot.core.events import GROUP, REST_WHILE_URGENT, Events, Subscriber
from bot.core.models import Incident, LifecycleEvent, TimelineEntry
from bot.core.schedule import Scheduler
from bot.core.store import Store


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[Store]:
    redis = Redis.from_url(redis_url, decode_responses=True)
    await redis.flushdb()
    yield Store(redis)
    await redis.aclose()


async def declare(store: Store, number: int) -> str:
    now = time.time()
    incident = Incident(
        id=f"20240306-{number}",
        title=f"Incident {number}",
        severity="SEV2",
        declared_by="U0ALICE",
        declared_at=now,
        channel_name=f"inc-20240306-{number}",
    )
    entry = TimelineEntry(at=now, actor="U0ALICE", kind="declared", text="Declared")
    await store.create(incident, entry)
    return incident.id


async def test_urgent_subscribers_do_not_wait_for_the_rest_of_earlier_entries(
    store: Store,
) -> None:
    """With room for one entry at a time in the non-urgent subscribers, the first entry
    holds that room (its `slow` subscriber waits): every later entry's urgent subscriber
    still runs, and the rest follow, in order, once it is free."""
    events = Events(store, concurrency=4)  # the rest: 4 // 4 = one entry at a time
    n = 6
    urgent: list[str] = []
    slow: list[str] = []
    all_urgent, entered, free = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def setup(event: LifecycleEvent) -> None:
        urgent.append(event.incident.id)
        if len(urgent) == n:
            all_urgent.set()

    async def rest(event: LifecycleEvent) -> None:
        slow.append(event.incident.id)
        entered.set()
        await free.wait()

    events.subscribe("setup", setup, urgent=True)
    events.subscribe("rest", rest)
    ids = [await declare(store, k) for k in range(1, n + 1)]
    await events.start()
    try:
        await entered.wait()
        await all_urgent.wait()  # 5 and 6 too, while 2 to 4 wait for the room 1 holds
        assert sorted(urgent) == sorted(ids)
        assert len(slow) == 1
        free.set()
        await events.idle()
        assert sorted(slow) == sorted(ids)
        assert await events.backlog() == 0  # every entry acknowledged
    finally:
        free.set()
        await events.stop()


async def test_while_an_entry_is_urgent_only_a_few_go_on_to_the_rest(store: Store) -> None:
    """The first entry's urgent subscriber is held: the other entries run theirs, but only
    REST_WHILE_URGENT of them go on to the rest meanwhile (the others wait their turn,
    though the rest lane has room); once nothing is urgent, all of them go on."""
    events = Events(store)  # room for 8 entries in the rest
    n = 6
    held, release, all_in = asyncio.Event(), asyncio.Event(), asyncio.Event()
    urgent_done: list[str] = []
    in_rest: list[str] = []
    first = await declare(store, 1)
    others = [await declare(store, k) for k in range(2, n + 1)]

    async def setup(event: LifecycleEvent) -> None:
        if event.incident.id == first:
            held.set()
            await release.wait()
        else:
            urgent_done.append(event.incident.id)

    async def rest(event: LifecycleEvent) -> None:
        in_rest.append(event.incident.id)
        if len(in_rest) == n:
            all_in.set()
        await all_in.wait()  # each stays in the rest lane until every entry is in it

    events.subscribe("setup", setup, urgent=True)
    events.subscribe("rest", rest)
    await events.start()
    try:
        await held.wait()
        for _ in range(10_000):  # turns of the loop (nothing timed) until the others park
            if len(urgent_done) == len(others) and len(events._lanes._waiters or ()) == 3:
                break
            await asyncio.sleep(0)
        assert len(urgent_done) == len(others)
        assert len(in_rest) == REST_WHILE_URGENT  # 3 others wait for the lane to open
        release.set()
        await all_in.wait()
        assert sorted(in_rest) == sorted([first, *others])
        await events.idle()
        assert await events.backlog() == 0
    finally:
        release.set()
        all_in.set()
        await events.stop()


async def test_an_urgent_subscriber_comes_before_the_others() -> None:
    async def nothing(event: LifecycleEvent) -> None:
        return None

    events = Events(Store(Redis()))
    events.subscribe("pager", nothing, urgent=True)
    events.subscribe("reminders", nothing)
    with pytest.raises(ValueError, match="urgent subscriber 'setup' after one that is not"):
        events.subscribe("setup", nothing, urgent=True)


# the bot's subscribers (bot/server.py): a declare's entry goes through all but one
BOTS = "pager setup reminders escalations stakeholders postmortem stats"
BOTS += " paging-notice drills checklists home"


async def commands(redis: Redis) -> Counter[str]:
    """Redis's calls per command so far; INFO itself, and the handshake of connections the
    pool opens, left out."""
    stats = await redis.info("commandstats")
    counts = Counter({k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items()})
    for other in ("info", "hello", "client|setinfo"):
        del counts[other]
    return counts


async def pending(store: Store) -> list[str]:
    rows = await store.redis.xpending_range(store.keys.events, GROUP, "-", "+", 100)
    return [row["message_id"] for row in rows]


async def marks(store: Store, entry: str) -> set[str]:
    """The subscribers recorded as done with the entry."""
    return set(await store.redis.hgetall(store.keys.event_progress(entry))) - {"_attempts"}


async def test_a_new_event_costs_its_read_an_xack_and_an_xdel(store: Store) -> None:
    """An entry never delivered before has no progress to read, and one every subscriber
    finishes writes none: its bookkeeping is its share of the read, then XACK + XDEL,
    without a transaction. A burst is read in one call, and the entries finishing while
    an acknowledgement is under way go in the next one together."""
    events = Events(store)
    ran: Counter[str] = Counter()

    def subscriber(name: str) -> Subscriber:
        async def handler(event: LifecycleEvent) -> None:
            ran[name] += 1

        return handler

    for name in BOTS.split():
        events.subscribe(name, subscriber(name), urgent=name in ("pager", "setup"))
    await store.events_group(GROUP)
    for n in (1, 10):
        ran.clear()
        for k in range(n):
            await declare(store, 100 * n + k)
        before = await commands(store.redis)
        assert await events.pump() == n
        spent = await commands(store.redis) - before
        # pump's own: it makes sure of the group, and its last read finds nothing more
        spent -= Counter({"xgroup|create": 1, "xreadgroup": 1})
        assert sum(spent.values()) <= 3 * n and not spent["multi"]  # the budget
        acks = spent["xack"]
        assert spent == Counter({"xreadgroup": 1, "xack": acks, "xdel": acks})
        assert acks == 1 if n == 1 else 1 < acks < n  # a burst's, together
        assert ran == Counter(dict.fromkeys(BOTS.split(), n))
    assert await events.backlog() == 0
    assert await store.redis.keys(store.keys.event_progress("*")) == []


async def test_a_subscriber_that_failed_runs_again_alone(store: Store) -> None:
    """`b` fails on the first delivery: the entry stays pending with `a` recorded as done,
    and when it is taken up again only `b` and what follows it run."""
    events = Events(store, claim_idle=0.2)
    ran: list[tuple[str, int]] = []
    finished = asyncio.Event()

    async def a(event: LifecycleEvent) -> None:
        ran.append(("a", event.attempt))

    async def b(event: LifecycleEvent) -> None:
        ran.append(("b", event.attempt))
        if event.attempt == 1:
            raise RuntimeError("Slack said no")

    async def c(event: LifecycleEvent) -> None:
        ran.append(("c", event.attempt))
        finished.set()

    for name, handler in (("a", a), ("b", b), ("c", c)):
        events.subscribe(name, handler)
    await declare(store, 1)
    assert await events.pump() == 1
    assert ran == [("a", 1), ("b", 1)]
    [entry] = await pending(store)
    assert await marks(store, entry) == {"a"}

    await events.start()  # it takes the entry over once it has been idle for claim_idle
    try:
        await asyncio.wait_for(finished.wait(), 10)
        await events.idle()
    finally:
        await events.stop()
    assert ran == [("a", 1), ("b", 1), ("b", 2), ("c", 2)]
    assert await events.backlog() == 0
    assert not await store.redis.exists(store.keys.event_progress(entry))


async def test_a_consumer_stopped_mid_event_records_who_is_done(store: Store) -> None:
    events = Events(store)
    entered = asyncio.Event()

    async def a(event: LifecycleEvent) -> None:
        return None

    async def b(event: LifecycleEvent) -> None:
        entered.set()
        await asyncio.Event().wait()  # until cancelled

    events.subscribe("a", a)
    events.subscribe("b", b)
    await declare(store, 1)
    await events.start()
    await entered.wait()
    await events.stop(wait=0)
    [entry] = await pending(store)
    assert await marks(store, entry) == {"a"}


async def test_an_entry_under_way_long_is_not_taken_over(store: Store) -> None:
    """A subscriber runs for several `claim_idle`: its process keeps touching the entry,
    so another process looking for entries to take over never takes it."""
    ran: list[str] = []
    entered, free = asyncio.Event(), asyncio.Event()
    first, second = Events(store, claim_idle=1.0), Events(Store(store.redis), claim_idle=1.0)
    looked = 0
    looked_enough = asyncio.Event()
    reclaim = second.store.events_reclaim

    async def counted(*args: Any, **kwargs: Any) -> list[tuple[str, str]]:
        nonlocal looked
        taken = await reclaim(*args, **kwargs)
        looked += 1
        if looked == 6:  # 2.5 s on: the entry would have been idle 2.5 claim_idle
            looked_enough.set()
        return taken

    second.store.events_reclaim = counted  # type: ignore[method-assign]
    for events, name in ((first, "first"), (second, "second")):

        async def slow(event: LifecycleEvent, name: str = name) -> None:
            ran.append(name)
            entered.set()
            await free.wait()

        events.subscribe("slow", slow)
    await declare(store, 1)
    await first.start()
    try:
        await entered.wait()
        await second.start()
        await asyncio.wait_for(looked_enough.wait(), 30)
        free.set()
        await first.idle()
        assert ran == ["first"]
        assert await first.backlog() == 0
    finally:
        free.set()
        await second.stop()
        await first.stop()


async def test_subscribers_together_write_their_due_items_as_one_or_not_at_all(
    store: Store,
) -> None:
    """`a` and `b` run together: on the first delivery `b` fails, so neither is done and
    `a`'s due-item is not written; taken up again, both run and their items go in one
    script call, before `c`, which is not of their run."""
    scheduler = Scheduler(store)
    events = Events(store, claim_idle=0.2, together=scheduler.together)
    writes = mock.patch.object(store, "due_write", wraps=store.due_write)
    finished = asyncio.Event()

    def calls() -> list[int]:  # the ops of each due-item script call
        return [len(call.args[0]) for call in written.call_args_list]

    def scheduling(kind: str) -> Subscriber:
        async def handler(event: LifecycleEvent) -> None:
            await scheduler.schedule(kind, event.incident.id, time.time() + 3600, generation=1)
            if kind == "b" and event.attempt == 1:
                raise RuntimeError("Slack said no")

        return handler

    async def c(event: LifecycleEvent) -> None:
        assert calls() == [2]  # a's and b's, in one call, before c runs
        finished.set()

    events.subscribe("a", scheduling("a"), together=True)
    events.subscribe("b", scheduling("b"), together=True)
    events.subscribe("c", c)
    incident = await declare(store, 1)
    written = writes.start()
    assert await events.pump() == 1
    [entry] = await pending(store)
    assert await marks(store, entry) == set()  # neither is done: both run again
    assert calls() == [] and await scheduler.pending(incident) == []

    await events.start()
    try:
        await asyncio.wait_for(finished.wait(), 10)
        await events.idle()
    finally:
        await events.stop()
    assert sorted(i.kind for i in await scheduler.pending(incident)) == ["a", "b"]
    writes.stop()
    assert calls() == [2] and await events.backlog() == 0
