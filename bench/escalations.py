"""How late escalation-matrix steps fire with many open incidents on one process, whether
any fires twice, and what a step costs Redis and Slack.

    python bench/escalations.py [--incidents 300] [--tick 0.2]

Starts its own redis-server on a free port, the fake Slack and the real app (scheduler
driven by APScheduler as in production). Makes N open SEV1 incidents (stored, each with
its own channel), then starts the escalation matrix of every one, one after the other as
fast as it goes: three steps due 2, 3 and 4 s after each start (a user, a user group, a
channel), i.e. 3N steps in three bursts. Prints due -> notice posted lateness p50/p99/max,
notices, DMs and channel posts per step (1.00 = exactly once), and the Redis commands and
Slack calls per step fired (other features' background work included).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

import redis as sync_redis
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.core.config import IncidentConfig, Settings
from bot.core.models import Incident, TimelineEntry
from bot.fakes.slack import FakeSlack
from bot.server import build
from tests.conftest import RedisServer

STEPS = (2.0, 3.0, 4.0)


def command_counts(r: sync_redis.Redis) -> int:
    stats = r.info("commandstats")
    return sum(int(v["calls"]) for k, v in stats.items() if k != "cmdstat_info")


def pct(values: list[float], p: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1] * 1000


async def main() -> None:
    from bot.core.logs import setup_logging

    setup_logging("WARNING")
    parser = argparse.ArgumentParser()
    parser.add_argument("--incidents", type=int, default=300)
    parser.add_argument("--tick", type=float, default=0.2)
    args = parser.parse_args()
    n = args.incidents
    server = RedisServer()
    probe = sync_redis.Redis(port=server.port)
    fake = FakeSlack()
    await fake.start()
    group = fake.add_usergroup("eng-managers", ["U0CAROL"])["id"]
    leadership = fake.add_channel("leadership", members=list(fake.users)).id
    config = IncidentConfig.model_validate(
        {
            "severities": [{"name": "SEV1", "label": "Critical", "update_every": "1d"}],
            "escalation": {
                "matrix": {
                    "SEV1": [
                        {"after": f"{int(STEPS[0])}s", "notify": ["U0BOB"], "note": "Lead"},
                        {"after": f"{int(STEPS[1])}s", "notify": [group], "note": "Managers"},
                        {"after": f"{int(STEPS[2])}s", "notify": [leadership], "note": "CTO"},
                    ]
                }
            },
            "scheduler": {"tick": args.tick},
        }
    )
    settings = Settings(
        slack_bot_token=fake.bot_token,
        slack_signing_secret=fake.signing_secret,
        slack_api_url=fake.api_url,
        redis_url=server.url,
    )
    bot = build(settings, config)
    runner = web.AppRunner(bot.web, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    svc = bot.services
    assert svc.escalations is not None and svc.scheduler is not None
    try:
        now = time.time()
        incidents = []
        for i in range(n):
            channel = fake.add_channel(f"inc-bench-{i}", members=[fake.bot_user_id, "U0ALICE"])
            incident = Incident(
                id=f"bench-{i}",
                title=f"Bench incident {i}",
                severity="SEV1",
                declared_by="U0ALICE",
                declared_at=now,
                roles={"commander": "U0ALICE"},
                channel_id=channel.id,
                channel_name=channel.name,
            )
            entry = TimelineEntry(at=now, actor="U0ALICE", kind="declared", text="bench")
            await svc.store.create(incident, entry)
            incidents.append(incident)
        await asyncio.sleep(1.0)  # start-up work (reconcile) settles
        calls_before, redis_before = len(fake.calls), command_counts(probe)
        began = time.time()
        since: dict[str, float] = {}
        for incident in incidents:  # as N declarations at once would, one after the other
            since[incident.id] = time.time()
            await svc.escalations.start(incident, since=since[incident.id])
        print(
            f"{n} open incidents, {len(STEPS)} steps each due {STEPS} s after its start "
            f"(tick {args.tick:g} s); all started within {(time.time() - began) * 1000:.0f} ms"
        )
        deadline = time.monotonic() + max(STEPS) + 60
        channels = [i.channel_id or "" for i in incidents]
        while time.monotonic() < deadline:
            seen = sum(1 for c in channels for m in fake.messages[c] if "*Escalation*" in m.text)
            if seen >= n * len(STEPS):
                break
            await asyncio.sleep(0.1)  # polling the fake's messages, a bench not a test
        await svc.scheduler.idle()
        late: list[float] = []
        notices = 0
        for incident in incidents:
            assert incident.channel_id
            posted = [m for m in fake.messages[incident.channel_id] if "*Escalation*" in m.text]
            notices += len(posted)
            for message, after in zip(posted, STEPS, strict=False):
                late.append(float(message.ts) - (since[incident.id] + after))
        dms = [m for c in fake.channels.values() if c.is_im for m in fake.messages[c.id]]
        posts = [m for m in fake.messages[leadership] if "being pulled into" in m.text]
        steps = n * len(STEPS)
        print(
            f"  fired {notices}/{steps} steps; due -> notice p50 {pct(late, 50):.0f} ms, "
            f"p99 {pct(late, 99):.0f} ms, max {max(late) * 1000:.0f} ms"
        )
        print(
            f"  per step: {notices / steps:.2f} notices; DMs {len(dms) / n:.2f} per incident "
            f"(1 expected); channel posts {len(posts) / n:.2f} per incident (1 expected)"
        )
        redis_cmds = command_counts(probe) - redis_before
        slack_calls = len(fake.calls) - calls_before
        print(
            f"  cost: {redis_cmds / steps:.1f} Redis commands and {slack_calls / steps:.2f} "
            "Slack calls per step (start, fire, deliver, finish; idle ticks included)"
        )
    finally:
        await runner.cleanup()
        await fake.stop()
        probe.close()
        server.stop()


if __name__ == "__main__":
    asyncio.run(main())
