"""What durable time costs Redis (bot/core/schedule.py, issue 19): the due-item work of one
`/incident declare`, counted on a real redis-server from INFO commandstats (the commands
a Lua script runs count, as they do there), each operation against its budget; and an
item stored by the older format still fires once."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from bot.core.models import DueItem
from bot.core.schedule import Scheduler
from bot.core.store import Store


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[Store]:
    redis = Redis.from_url(redis_url, decode_responses=True)
    yield Store(redis)
    await redis.aclose()


async def _counts(store: Store) -> Counter[str]:
    stats = await store.redis.info("commandstats")
    return Counter(
        {
            name.removeprefix("cmdstat_"): int(value["calls"])
            for name, value in stats.items()
            if name != "cmdstat_info"
        }
    )


class Meter:
    """Redis commands run between two readings of INFO commandstats."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.by_step: dict[str, Counter[str]] = {}

    async def __aenter__(self) -> Meter:
        await self.store.redis.ping()  # the connection exists: no HELLO in the count
        self._before = await _counts(self.store)
        return self

    async def __aexit__(self, *exc: object) -> None:
        after = await _counts(self.store)
        self.spent = +(after - self._before)
        self.total = sum(self.spent.values())


async def test_a_declares_due_item_work_stays_within_its_command_budget(store: Store) -> None:
    s = Scheduler(store, time.time)
    s._jobs = object()  # type: ignore[assignment]  # as if started: it times its own items
    handled: list[DueItem] = []

    async def page(item: DueItem) -> None:
        handled.append(item)  # paged: the acknowledgement clock starts with its done
        await s.schedule("escalate", item.incident_id, time.time() + 900, generation=2, after=item)

    s.on("page", page)
    budget = {
        # EVALSHA, GET state, ZADD (its lease), SET state; then done and the escalation it
        # scheduled: EVALSHA, GET, ZREM, ZADD, SET
        "page: scheduled and claimed at once, handled, done with its escalation": 9,
        "schedule (update_due)": 4,  # EVALSHA, GET state, ZADD, SET state
        "cancel (matrix, nothing there)": 3,  # EVALSHA, GET, SET (the lane's floor)
        "cancel (stakeholders, nothing there)": 2,  # EVALSHA, GET: no floor to raise
        "claim (by a tick)": 4,  # EVALSHA, ZRANGEBYSCORE (and the next due), GET, ZADD
    }

    async def declare(inc: str) -> dict[str, int]:
        """The due-item work of one declare, as the monitor trace of issue 19 shows it."""
        now = time.time()
        spent: dict[str, int] = {}

        async def page_now() -> None:
            assert await s.schedule("page", inc, now, generation=1)
            await s.idle()

        ops = {
            "page: scheduled and claimed at once, handled, done with its escalation": page_now(),
            "schedule (update_due)": s.schedule(
                "update_due", inc, now + 3600, generation=0, lane="cadence"
            ),
            "cancel (matrix, nothing there)": s.cancel(inc, lane="matrix", generation=2),
            "cancel (stakeholders, nothing there)": s.cancel(inc, "stakeholder_due"),
        }
        for name, op in ops.items():
            async with Meter(store) as m:
                await op
            spent[name] = m.total
        assert await store.due_sent(handled[-1]) is not None  # a re-run is not sent twice
        pending = await s.pending(inc)
        assert [(i.kind, i.lane) for i in pending] == [
            ("escalate", "escalate"),
            ("update_due", "cadence"),
        ]
        # an item due now, stored by a process that does not time it: a tick claims it
        await store.due_schedule(_item(inc, "page", 1, now))
        async with Meter(store) as m:
            items, stale, next_due = await store.due_claim(now, now + 60, 10)
        spent["claim (by a tick)"] = m.total
        assert [i.kind for i in items] == ["page"] and stale == 0
        assert next_due == pytest.approx(now + 60)  # its own lease is the first thing due
        await store.due_done(items[0], None)
        return spent

    await declare("20261203-7")  # the scripts loaded (SCRIPT LOAD) and the pool filled
    spent = await declare("20261203-8")
    assert {name: n for name, n in spent.items() if n > budget[name]} == {}, spent
    assert [(i.attempts, i.first_claimed_at is not None) for i in handled] == [(1, True)] * 2
    declare_total = sum(n for name, n in spent.items() if name != "claim (by a tick)")
    assert declare_total <= 18, spent  # was 55-60: a hash per item, a set, a floor hash


async def test_writes_asked_for_together_go_in_fewer_calls(store: Store) -> None:
    """A burst (100 declares at once) shares script calls: one EVALSHA, one ZADD per call,
    each incident's state read and written once; every caller still gets its own answer."""
    s = Scheduler(store, time.time)
    s._jobs = object()  # type: ignore[assignment]
    now = time.time()
    await s.schedule("remind", "warm-up", now + 60, generation=1)
    async with Meter(store) as m:
        stored = await asyncio.gather(
            *(s.schedule("remind", f"inc-{n}", now + 60 + n, generation=1) for n in range(50)),
            s.schedule("remind", "inc-0", now + 30, generation=0, key="x"),  # refused: stale
            *(s.cancel(f"inc-{n}", lane="matrix", generation=2) for n in range(50)),
        )
    assert stored[:50] == [True] * 50 and stored[50] is False and stored[51:] == [0] * 50
    assert m.spent["evalsha"] < 10, m.spent  # the first alone, the rest together
    assert m.total < 50 * 3 + 10, m.spent  # per incident: its GET and SET, and a share of the rest
    assert await store.due_count() == 51
    assert [i.due_at for i in await s.pending("inc-7")] == [now + 67]
    assert not await s.schedule("matrix-step", "inc-7", now, generation=1, lane="matrix")


async def test_an_item_stored_by_the_older_format_fires_once_and_moves_over(store: Store) -> None:
    """The format before: a hash per item, a set of the incident's ids, a floor hash."""
    r = store.redis
    now = time.time()
    item_id = "inc-1|remind|"
    await r.hset(
        f"ir:due:item:{item_id}",
        mapping={
            "id": item_id,
            "kind": "remind",
            "incident": "inc-1",
            "key": "",
            "lane": "remind",
            "token": "tok-1",
            "generation": "3",
            "due_at": repr(now - 1),
            "payload": '{"n":1}',
            "attempts": "0",
        },
    )
    await r.sadd("ir:due:of:inc-1", item_id)
    await r.hset("ir:due:gen:inc-1", "remind", "3")
    await r.zadd("ir:due", {item_id: now - 1})
    stale_id = "inc-1|old|"
    await r.hset(
        f"ir:due:item:{stale_id}",
        mapping={"id": stale_id, "kind": "old", "incident": "inc-1", "lane": "remind",
                 "token": "tok-2", "generation": "2", "due_at": repr(now - 1)},
    )  # fmt: skip
    await r.zadd("ir:due", {stale_id: now - 1})

    s = Scheduler(store, time.time)
    got: list[DueItem] = []

    async def remind(item: DueItem) -> None:
        got.append(item)

    s.on("remind", remind)
    s.on("old", remind)
    assert await s.tick() == 1
    await s.idle()
    assert [(i.id, i.token, i.generation, i.payload, i.attempts) for i in got] == [
        (item_id, "tok-1", 3, {"n": 1}, 1)
    ]
    assert await s.tick() == 0 and await store.due_count() == 0
    assert await r.zcard("ir:due") == 0  # the older due set, emptied
    assert await r.exists(f"ir:due:item:{item_id}", f"ir:due:item:{stale_id}") == 0
    # its lane's floor came along: an older generation is still refused
    assert not await s.schedule("remind", "inc-1", now, generation=2)


def _item(incident: str, kind: str, generation: int, due_at: float) -> DueItem:
    return DueItem(
        id=f"{incident}|{kind}|",
        kind=kind,
        incident_id=incident,
        lane=kind,
        token=f"{incident}-{kind}",
        generation=generation,
        due_at=due_at,
    )
