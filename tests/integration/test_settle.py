"""The settle signal the suite waits on (bot/core/activity.py, tests/integration/harness.py),
through the real app: work after Slack's ack counts, timed work is waited for, and a wait
whose condition can no longer come true fails at once instead of at a deadline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from bot.core.config import IncidentConfig
from bot.core.models import DueItem
from tests.integration.harness import Harness, eventually, settled, start

CONFIG = IncidentConfig.model_validate(
    {
        "severities": [{"name": "SEV3", "label": "Medium", "update_every": "2h"}],
        "scheduler": {"tick": 0.1, "retry": 0.1},
    }
)


@pytest.fixture
async def h(redis_url: str) -> AsyncIterator[Harness]:
    harness = await start(redis_url, CONFIG)
    yield harness
    await harness.stop()


def posted(h: Harness, text: str) -> list[str]:
    return [m.text for msgs in h.fake.messages.values() for m in msgs if text in m.text]


async def test_work_after_the_ack_counts_until_it_is_done(h: Harness) -> None:
    h.fake.latency_for["chat.postMessage"] = 0.3  # the declaration's posts take a while
    ack = await h.command("declare SEV3 Search is slow")
    assert ack.status == 200  # answered at once; the set-up goes on after the ack
    await h.settled()
    assert len(posted(h, "Search is slow")) >= 2  # the card and the announcement


async def test_a_wait_that_cannot_come_true_fails_once_everything_settled(h: Harness) -> None:
    await h.command("declare SEV3 Search is slow")
    await h.settled()
    with pytest.raises(AssertionError, match="everything has settled"):
        await eventually(lambda: posted(h, "never said"))


async def test_waits_go_on_through_timed_work_and_settled_until_runs_it(h: Harness) -> None:
    scheduler = h.bot.services.scheduler
    assert scheduler is not None
    ran: list[str] = []

    async def handler(item: DueItem) -> None:
        ran.append(item.key)

    scheduler.on("settle_probe", handler)
    soon = time.time() + 1.0
    await scheduler.schedule("settle_probe", "inc-x", soon, key="a", generation=1)
    await scheduler.schedule("settle_probe", "inc-x", soon + 0.5, key="b", generation=1)
    await scheduler.schedule("settle_probe", "inc-x", soon + 3600, key="c", generation=1)
    await h.settled()
    # idle with timed work still to come: settling does not wait for it (on a loaded
    # machine the wait itself may outlast the first due time, so what ran was due)
    due = [key for key, at in (("a", soon), ("b", soon + 0.5)) if at <= time.time()]
    assert ran == due[: len(ran)]
    assert (await eventually(lambda: ran))[0] == "a"  # the app was idle until it came due
    await h.settled(until=soon + 60)  # everything due in the next minute ran, in order
    assert ran == ["a", "b"]


async def test_the_fakes_deliveries_count(redis_url: str) -> None:
    h = await start(redis_url, CONFIG, pagerduty=True)
    try:
        assert h.pd is not None
        pd = h.pd
        incident = pd.trigger(title="Disk full", incident_key="k-1")
        # the fake's webhook is still on its way to the bot: not settled yet
        sending = asyncio.create_task(pd.send_webhook("incident.triggered", incident["id"]))
        await settled()
        assert sending.done() and pd.webhook_deliveries[-1][0] == "incident.triggered"
    finally:
        await h.stop()
