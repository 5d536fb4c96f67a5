"""The event stream's consumer (bot/core/events.py) on a real Redis: urgent subscribers of
later entries go on while the other subscribers of earlier ones wait their turn."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from bot.core.events import Events
from bot.core.models import Incident, LifecycleEvent, TimelineEntry
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


async def test_an_urgent_subscriber_comes_before_the_others() -> None:
    async def nothing(event: LifecycleEvent) -> None:
        return None

    events = Events(Store(Redis()))
    events.subscribe("pager", nothing, urgent=True)
    events.subscribe("reminders", nothing)
    with pytest.raises(ValueError, match="urgent subscriber 'setup' after one that is not"):
        events.subscribe("setup", nothing, urgent=True)
