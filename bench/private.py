"""How long `/incident private` takes, and how many Slack calls it makes.

    python bench/private.py [--latency-ms 0 100 250]

Starts its own redis-server on a free port, the fake Slack and the real app. For each
latency (added to every Slack call), declares an incident, has a second person speak in
its channel, runs `/incident private` and times it until the conversion is recorded as
finished: the saga's steps are sequential (each needs the one before), so the time is
about (calls × latency).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.core.config import IncidentConfig
from bot.core.models import Incident
from tests.conftest import RedisServer
from tests.integration.harness import Harness, eventually, start


async def convert_once(h: Harness, latency: float) -> tuple[float, int]:
    h.fake.latency = 0.0
    before = {i.id for i in await h.store.recent_incidents()}
    await h.command("declare SEV2 Suspicious admin logins")

    async def declared() -> Incident | None:
        for incident in await h.store.recent_incidents():
            if incident.id not in before and not incident.setup_missing:
                return incident
        return None

    incident = await eventually(declared, timeout=30)
    assert incident.channel_id
    await h.fake.post_message("U0BOB", incident.channel_id, "looking at the auth logs")
    await eventually(lambda: [m for m in h.ephemerals() if incident.id in m.text])
    h.fake.latency = latency
    mark, told = len(h.fake.calls), len(h.ephemerals())
    began = time.monotonic()
    await h.command("private", channel=incident.channel_id)

    async def finished() -> bool:
        current = await h.store.get(incident.id)
        return bool(current and current.conversion and not current.conversion.missing)

    await eventually(finished, timeout=60)
    took = time.monotonic() - began
    await eventually(lambda: [m for m in h.ephemerals()[told:] if "private now" in m.text])
    calls = [c for c in h.fake.calls[mark:] if c.method != "response_url"]
    return took, len(calls)


async def main(latencies: list[float]) -> None:
    server = RedisServer()
    try:
        h = await start(server.url, IncidentConfig())
        try:
            for ms in latencies:
                took, calls = await convert_once(h, ms / 1000)
                print(
                    f"Slack latency {ms:>4.0f} ms/call: /incident private finished in "
                    f"{took * 1000:6.0f} ms, {calls} Slack calls"
                )
        finally:
            await h.stop()
    finally:
        server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=float, nargs="+", default=[0, 100, 250])
    asyncio.run(main(parser.parse_args().latency_ms))
