"""Game-day drills on one process: how late a scenario's scripted events reach Slack.

    python bench/drills.py [--drills 20] [--steps 10] [--tick 1.0]

Starts its own redis-server on a free port, the fake Slack and the real app on a real
port, then starts `--drills` drills at once of a scenario whose `--steps` events (alerts
and messages, alternating) are one second apart. An event's lateness is its Slack
message's time minus the drill's start plus the event's offset: the scheduler's tick, the
alert path (stream, worker, reconciler) and Slack. Also counted: incidents other than the
drills (must be 0) and alert posts in the announce channel (must be 0).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.core.config import IncidentConfig, Settings
from bot.fakes.slack import FakeSlack
from bot.server import build
from tests.conftest import RedisServer


def scenario(steps: int) -> str:
    lines = ["title: Bench drill", "severity: SEV3", "time_limit: 10m", "script:"]
    for i in range(steps):
        lines.append(f"  - at: {i + 1}s")
        if i % 2 == 0:
            lines.append(f"    alert: {{alertname: BenchAlert{i}, labels: {{service: api}}}}")
        else:
            lines.append(f"    message: bench message {i}")
    return "\n".join(lines) + "\n"


async def run(drills: int, steps: int, tick: float) -> None:
    server = RedisServer()
    folder = Path(tempfile.mkdtemp(prefix="bench-drills-"))
    (folder / "bench.yaml").write_text(scenario(steps))
    fake = FakeSlack()
    await fake.start()
    config = IncidentConfig.model_validate(
        {
            "scheduler": {"tick": tick},
            "alerts": {"update_every": 0.2},
            "drills": {"scenarios_dir": str(folder)},
        }
    )
    settings = Settings(
        slack_bot_token=fake.bot_token,
        slack_signing_secret=fake.signing_secret,
        slack_api_url=fake.api_url,
        redis_url=server.url,
    )
    bot = build(settings, config)
    runner = web.AppRunner(bot.web)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    fake.app_url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/slack/events"  # type: ignore[union-attr]
    general = fake.channel_by_name("general")
    assert general is not None
    try:
        began = time.monotonic()
        await asyncio.gather(
            *(
                fake.slash_command("U0ALICE", general.id, "/incident", "drill bench")
                for _ in range(drills)
            )
        )
        store = bot.services.store
        deadline = time.monotonic() + steps + 30
        lateness: list[float] = []
        while time.monotonic() < deadline:
            incidents = [i for i in await store.recent_incidents(limit=1000) if i.drill]
            lateness = []
            for incident in incidents:
                for m in fake.messages.get(incident.channel_id or "", []):
                    if m.text.startswith("Alert BenchAlert"):
                        i = int(m.text.split("BenchAlert")[1].split()[0])
                    elif m.text.startswith("Scenario update: bench message"):
                        i = int(m.text.rsplit(" ", 1)[1])
                    else:
                        continue
                    lateness.append(float(m.ts) - (incident.declared_at + i + 1))
            if len(incidents) == drills and len(lateness) == drills * steps:
                break
            await asyncio.sleep(0.2)
        others = [i for i in await store.recent_incidents(limit=1000) if not i.drill]
        announce = fake.channel_by_name("incidents")
        alert_posts = [
            m for m in fake.messages.get(announce.id if announce else "", []) if "Alert" in m.text
        ]
        lateness.sort()
        print(f"{drills} drills x {steps} scripted events, scheduler tick {tick:g} s")
        print(f"  events seen in Slack: {len(lateness)} of {drills * steps}")
        if lateness:
            p95 = lateness[min(len(lateness) - 1, int(0.95 * len(lateness)))]
            print(
                f"  lateness: median {statistics.median(lateness):.3f} s, p95 {p95:.3f} s, "
                f"max {lateness[-1]:.3f} s, min {lateness[0]:.3f} s"
            )
        print(f"  incidents other than the drills: {len(others)}")
        print(f"  alert posts in the announce channel: {len(alert_posts)}")
        print(f"  wall time: {time.monotonic() - began:.1f} s")
    finally:
        await runner.cleanup()
        await fake.stop()
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--drills", type=int, default=20)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--tick", type=float, default=1.0)
    args = parser.parse_args()
    asyncio.run(run(args.drills, args.steps, args.tick))


if __name__ == "__main__":
    main()
