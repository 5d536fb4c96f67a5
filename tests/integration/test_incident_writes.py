"""`Store.create` and `Store.update` on a real Redis: one script each, no WATCH or MULTI.
Writers racing on one incident lose nothing; a change made from a copy that is out of date
is made again on the stored incident; the event, the open set and the channel index go with
the change that makes them."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from bot.core.models import Incident, TimelineEntry
from bot.core.store import Mutation, Store


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[Store]:
    redis = Redis.from_url(redis_url, decode_responses=True)
    yield Store(redis)
    await redis.aclose()


def entry(text: str, kind: str = "note") -> TimelineEntry:
    return TimelineEntry(at=time.time(), actor="U0ALICE", kind=kind, text=text)


async def declared(store: Store) -> Incident:
    incident = Incident(
        id="20240306-1",
        title="Checkout is slow",
        severity="SEV2",
        declared_by="U0ALICE",
        declared_at=time.time(),
        channel_name="inc-20240306-1",
        rev="first",
    )
    assert await store.create(
        incident, entry("Declared", "declared"), more=[entry("Paging PagerDuty", "page")]
    )
    return incident


async def events(store: Store) -> list[dict[str, object]]:
    entries = await store.redis.xrange(store.keys.events) or []
    return [json.loads(fields["e"]) for _, fields in entries if fields]


async def test_a_second_create_of_one_id_writes_nothing(store: Store) -> None:
    incident = await declared(store)
    again = incident.model_copy(update={"title": "Another one", "rev": "second"})
    assert not await store.create(again, entry("Declared again"))
    stored = await store.get(incident.id)
    assert stored is not None and stored.title == "Checkout is slow"
    assert [e.text for e in await store.timeline(incident.id)] == ["Declared", "Paging PagerDuty"]
    assert [e["type"] for e in await events(store)] == ["declared"]


async def test_racing_writers_lose_no_change(store: Store) -> None:
    incident = await declared(store)
    n = 20

    async def note(i: int) -> None:
        def mutate(inc: Incident) -> list[TimelineEntry]:
            inc.roles[f"scribe{i}"] = f"U{i}"
            return [entry(f"note {i}")]

        # every writer starts from the same copy: all but one find it out of date
        await store.update(incident.id, mutate, emit="role", current=incident)

    await asyncio.gather(*(note(i) for i in range(n)))
    stored = await store.get(incident.id)
    assert stored is not None
    assert stored.generation == n
    assert {f"scribe{i}" for i in range(n)} <= set(stored.roles)
    notes = [e.text for e in await store.timeline(incident.id) if e.kind == "note"]
    assert sorted(notes) == sorted(f"note {i}" for i in range(n))
    assert [e["type"] for e in await events(store)] == ["declared"] + ["role"] * n
    assert incident.roles == {}  # the caller's copy is left as it was


async def test_a_change_from_an_old_copy_is_made_on_the_stored_incident(store: Store) -> None:
    incident = await declared(store)

    def command(inc: Incident) -> list[TimelineEntry]:
        inc.roles["commander"] = "U0BOB"
        return [entry("Bob commands")]

    def status(inc: Incident) -> list[TimelineEntry]:
        inc.status = "identified"
        return [entry("Identified")]

    await store.update(incident.id, command)
    changed = await store.update(incident.id, status, current=incident)  # before Bob's
    assert (changed.roles.get("commander"), changed.status) == ("U0BOB", "identified")
    assert changed == await store.get(incident.id)


async def test_the_open_set_and_the_channel_index_follow_the_change(store: Store) -> None:
    incident = await declared(store)

    def channel(name: str) -> Mutation:
        def mutate(inc: Incident) -> None:
            inc.channel_id = name

        return mutate

    await store.update(incident.id, channel("C1"))
    assert await store.by_channel("C1") is not None
    await store.redis.delete(store.keys.channel("C1"))
    await store.update(incident.id, channel("C1"))
    assert await store.by_channel("C1") is None  # unchanged: the index is not written again
    await store.update(incident.id, channel("C2"))
    await store.update(incident.id, channel("C3"))  # made private: a channel of its own
    assert await store.by_channel("C2") is None
    moved = await store.by_channel("C3")
    assert moved is not None and moved.channel_id == "C3"

    def resolve(inc: Incident) -> list[TimelineEntry]:
        inc.status = "resolved"
        return [entry("Resolved")]

    assert await store.redis.zscore(store.keys.open, incident.id) is not None
    await store.update(incident.id, resolve, emit="resolved")
    assert await store.redis.zscore(store.keys.open, incident.id) is None
    assert (await events(store))[-1]["type"] == "resolved"


async def gets(store: Store) -> int:
    """GETs Redis ran so far, those of scripts included (INFO commandstats)."""
    stats = await store.redis.info("commandstats")
    return int(stats.get("cmdstat_get", {}).get("calls", 0))


async def test_a_change_after_this_processs_own_write_reads_nothing_first(
    store: Store, redis_url: str
) -> None:
    incident = await declared(store)

    def titled(title: str) -> Mutation:
        def mutate(inc: Incident) -> None:
            inc.title = title

        return mutate

    before = await gets(store)
    await store.update(incident.id, titled("First change"))
    await store.update(incident.id, titled("Second change"))
    # each change's only GET is the compare-and-set's own, in its script
    assert await gets(store) - before == 2

    # another replica's write in between: this one's next change is made again on it
    other_redis = Redis.from_url(redis_url, decode_responses=True)
    other = Store(other_redis)
    try:
        await other.update(incident.id, lambda inc: [entry("From the other replica")])
    finally:
        await other_redis.aclose()
    await store.update(incident.id, titled("Third change"))
    stored = await store.get(incident.id)
    assert stored is not None and stored.title == "Third change"
    assert "From the other replica" in [e.text for e in await store.timeline(incident.id)]
    assert stored.generation == incident.generation + 1  # the other's entry counted

    # a change that changes nothing on the copy last seen is checked on the stored one
    rev = stored.rev
    same = await store.update(incident.id, titled("Third change"))
    assert same.rev == rev
