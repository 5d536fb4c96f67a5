"""Redis loses everything between two incidents (a restart without persistence, a
failover to an empty replica): the next SEV1 gets an id no earlier incident had and pages
PagerDuty afresh, and the loss is reported by /readyz, /metrics and the doctor."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.core.models import Incident
from tests.conftest import RedisServer
from tests.integration.harness import Harness, eventually, metric, start
from tests.integration.test_paging import config

CONFIG = config()


@pytest.fixture
async def h(redis_server: RedisServer, redis_url: str) -> AsyncIterator[Harness]:
    harness = await start(redis_url, CONFIG, pagerduty=True)
    yield harness
    await harness.stop()


async def declared(h: Harness, title: str) -> Incident:
    known = set(h.fake.channels)
    await h.command(f"declare SEV1 {title}")

    async def paged() -> Incident | None:
        new = [c for c in h.fake.channels if c not in known]
        incident = await h.store.by_channel(new[0]) if new else None
        page = incident.page if incident else None
        return incident if page and page.pd_incident_id and incident.card_ts else None

    return await eventually(paged, timeout=10)


async def readyz(h: Harness) -> tuple[int, dict[str, object]]:
    async with aiohttp.ClientSession() as http, http.get(f"{h.url}/readyz") as r:
        return r.status, await r.json()


async def test_after_the_store_lost_its_data_ids_and_pages_never_repeat(
    h: Harness, redis_server: RedisServer
) -> None:
    assert h.pd is not None
    before = await declared(h, "Checkout down")
    assert before.page and before.page.pd_incident_id
    assert (await readyz(h)) == (200, {"ok": True})
    assert await metric(h.url, "incident_bot_store_data_lost") == 0

    redis_server.flush()  # everything the bot knew is gone; Slack and PagerDuty still hold theirs
    after = await declared(h, "Checkout down again")

    assert after.id != before.id  # numbered after the incident channels Slack shows
    assert after.channel_id != before.channel_id
    assert after.page and before.page
    assert after.page.incident_key != before.page.incident_key
    assert after.page.pd_incident_id != before.page.pd_incident_id  # a new page, not the old
    assert len(h.pd.incidents) == 2
    assert {i["status"] for i in h.pd.incidents.values()} == {"triggered"}

    status, body = await readyz(h)
    assert status == 200 and body["ok"] is True
    assert "lost its data" in str(body["warning"])
    assert await metric(h.url, "incident_bot_store_data_lost") == 1
    await h.command("doctor")
    report = await eventually(
        lambda: [m for m in h.ephemerals() if "Store continuity" in str(m.blocks)]
    )
    assert "lost its data" in str(report[0].blocks)


async def test_a_first_start_is_not_a_loss(h: Harness) -> None:
    first = await declared(h, "Checkout down")
    assert first.id.endswith("-1")
    assert (await readyz(h)) == (200, {"ok": True})
    record = await h.store.install()
    assert len(record["epoch"]) == 8 and not record["lost_at"]
    assert first.page and record["epoch"] in first.page.incident_key
