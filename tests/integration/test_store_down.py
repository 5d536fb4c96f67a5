"""Redis goes away mid-shift: commands answer plainly and fast, and the bot recovers."""

from __future__ import annotations

import aiohttp

from tests.conftest import RedisServer
from tests.integration.harness import eventually, start


async def test_redis_down_and_back() -> None:
    server = RedisServer()
    h = await start(server.url)
    try:
        server.stop(keep_dir=True)
        ack = await h.command("declare SEV1 Payments failing")
        assert ack.status == 200
        # a refused connection answers at once, a silent Redis within REDIS_TIMEOUT: the
        # wait ends on the answer (how fast: bench/, not a deadline here)
        reply = await eventually(lambda: h.ephemerals())
        assert "incident store is unreachable" in reply[0].text
        assert not h.fake.calls_to("conversations.create")  # nothing half-created
        async with aiohttp.ClientSession() as http, http.get(f"{h.url}/readyz") as r:
            assert r.status == 503 and "redis" in (await r.json())["reason"]

        server.start()
        async with aiohttp.ClientSession() as http:
            # the bot's connections find the restarted Redis on their own
            await eventually(lambda: _status(http, f"{h.url}/readyz", 200), settle=False)
        await h.command("declare SEV1 Payments failing")
        await eventually(lambda: h.fake.calls_to("pins.add"))
        await h.settled()
        assert len(await h.store.recent_incidents()) == 1
    finally:
        await h.stop()
        server.stop()


async def _status(http: aiohttp.ClientSession, url: str, expected: int) -> bool:
    async with http.get(url) as r:
        return r.status == expected
