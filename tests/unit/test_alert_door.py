"""The webhook's door (bot/alerts/door.py): POSTs arriving together are stored in one
pipeline, each answered from its own script (on fakeredis, which runs the Lua)."""

from __future__ import annotations

import asyncio
from typing import Any

import fakeredis

from bot.alerts.door import Door
from bot.core.store import Admit, Store

NOW = 1_700_000_000.0


def admit(batch: str, sender: str | None = "s1", *, max_bytes: int = 10_000) -> Admit:
    return Admit(batch, max_bytes, sender, interval=1.0, burst=3, now=NOW)


async def test_posts_arriving_together_are_stored_in_one_round_trip_each_answered() -> None:
    store = Store(fakeredis.FakeAsyncRedis(decode_responses=True))
    door = Door(store)
    sent: list[int] = []
    admit_all = store.alerts_admit

    async def counted(admits: Any) -> Any:
        sent.append(len(admits))
        return await admit_all(admits)

    store.alerts_admit = counted  # type: ignore[method-assign]
    # five from one sender whose rate allows three at once, one without a rate, and two
    # from another sender, between the first one's
    answers = await asyncio.gather(
        *(door.admit(admit(f"b{i}")) for i in range(3)),
        door.admit(admit("other", "s2")),
        *(door.admit(admit(f"b{i}")) for i in range(3, 5)),
        door.admit(admit("paging", None)),
        door.admit(admit("other again", "s2")),
    )
    assert sent == [8]
    stored = [True] * 4 + [False] * 2 + [True] * 2
    assert [s for s, _ in answers] == stored
    assert [wait > 0 for _, wait in answers] == [not s for s in stored]
    assert await store.alerts_backlog() == 6  # those over the rate were not stored


async def test_a_full_stream_and_a_forgotten_script_are_answered_as_alone() -> None:
    redis = fakeredis.FakeAsyncRedis(decode_responses=True)
    store, door = Store(redis), Door(Store(redis))
    assert await door.admit(admit("x" * 60, max_bytes=100)) == (True, 0.0)
    await redis.script_flush()  # Redis restarted: the scripts are loaded again
    full = await asyncio.gather(
        door.admit(admit("y" * 60, max_bytes=100)), door.admit(admit("z" * 60, None, max_bytes=100))
    )
    assert full == [(None, 0.0), (None, 0.0)]
    assert await store.alerts_backlog() == 1
