"""How late update reminders are posted with 1,000 open incidents on one process, and what
the scheduler costs Redis.

    python bench/reminders.py [--incidents 1000] [--window 10] [--tick 1.0]

Starts its own redis-server on a free port, the fake Slack and the real app (its scheduler
driven by APScheduler as in production). Makes N open incidents (stored, each with its own
channel in the fake Slack), then gives each an update reminder due within the next
`window` seconds (spread evenly), and again all due at the same instant (a burst). Prints
due -> posted lateness p50/p99/max for both, the Redis commands of an idle tick
(INFO commandstats delta), and the Redis commands per reminder sent.
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

EVERY = 3600.0  # the SEV1 interval in this bench: nothing comes due unless we say so


def command_counts(r: sync_redis.Redis) -> dict[str, int]:
    stats = r.info("commandstats")
    return {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items()}


def _delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    out = {k: n - before.get(k, 0) for k, n in after.items() if k != "info"}
    return {k: n for k, n in out.items() if n}


def _top(delta: dict[str, int]) -> str:
    return ", ".join(f"{k} {n}" for k, n in sorted(delta.items(), key=lambda kv: -kv[1])[:6])


def pct(values: list[float], p: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1] * 1000


async def main() -> None:
    from bot.core.logs import setup_logging

    setup_logging("WARNING")
    parser = argparse.ArgumentParser()
    parser.add_argument("--incidents", type=int, default=1000)
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--tick", type=float, default=1.0)
    args = parser.parse_args()
    n = args.incidents
    server = RedisServer()
    probe = sync_redis.Redis(port=server.port)
    fake = FakeSlack()
    await fake.start()
    config = IncidentConfig.model_validate(
        {
            "severities": [{"name": "SEV1", "label": "Critical", "update_every": int(EVERY)}],
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
    assert svc.reminders is not None and svc.scheduler is not None
    try:
        # N open incidents, each with a channel the bot is in
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
            await svc.store.redis.set(f"ir:channel:{channel.id}", incident.id)
            incidents.append(incident)
        print(f"{n} open incidents on one process, scheduler tick {args.tick:g} s")

        await asyncio.sleep(3 * args.tick)  # let start-up work (reconcile) settle
        before, began = command_counts(probe), time.monotonic()
        await asyncio.sleep(max(5.0, 5 * args.tick))
        idle_for = time.monotonic() - began
        delta = _delta(before, command_counts(probe))
        background = sum(delta.values()) / idle_for  # other features' polling, per second
        print(
            f"  idle: {delta.get('evalsha', 0) / (idle_for / args.tick):.2f} Redis commands per "
            f"tick (the claim script); all Redis commands while idle: {_top(delta)} "
            f"over {idle_for:.1f} s"
        )

        for label, spread in (("spread", args.window), ("burst", 0.0)):
            fake.messages.update({i.channel_id: [] for i in incidents if i.channel_id})
            start = time.time() + 2.0
            due = {}
            for k, incident in enumerate(incidents):
                at = start + spread * k / n
                due[incident.channel_id] = at
                # the anchor the cadence would have had: due = anchor + every
                await svc.reminders.restart(incident, anchor=at - EVERY)
            before, began = command_counts(probe), time.monotonic()
            deadline = time.monotonic() + spread + 60
            channels = [c for c in due if c]
            while sum(1 for c in channels if fake.messages.get(c)) < n:
                if time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.05)  # polling the fake's messages, a bench not a test
            await svc.scheduler.idle()
            delta = _delta(before, command_counts(probe))
            ours = sum(delta.values()) - background * (time.monotonic() - began)
            late = [float(fake.messages[c][0].ts) - due[c] for c in channels if fake.messages[c]]
            what = f"{n} due over {spread:g} s" if spread else f"{n} due at one instant"
            print(
                f"  {label:6} ({what}): posted {len(late)}/{n}; due -> posted "
                f"p50 {pct(late, 50):.0f} ms, p99 {pct(late, 99):.0f} ms, "
                f"max {max(late) * 1000:.0f} ms"
            )
            print(
                f"         {ours / max(1, len(late)):.1f} Redis commands per reminder "
                f"(background subtracted): {_top(delta)}"
            )
            # the reminders scheduled their grace-period pings; clear them for the next round
            for incident in incidents:
                await svc.scheduler.cancel(incident.id)
    finally:
        await runner.cleanup()
        await fake.stop()
        probe.close()
        server.stop()


if __name__ == "__main__":
    asyncio.run(main())
