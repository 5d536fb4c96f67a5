"""`python -m bot doctor` in-process: wall time of the whole checklist, and what running the
checks at once buys, against the fakes with a simulated network latency per call.

    python bench/doctor.py [--latency 0.1] [--runs 5]

Starts its own redis-server on a free port and the fake Slack and fake PagerDuty on real
ports, both answering each request after `--latency` seconds. Prints the median wall time
of a doctor run, the number of HTTP calls it made, and those calls times the latency
(what the same calls would cost one after another).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

from redis.asyncio import Redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.core.config import IncidentConfig, Settings
from bot.core.slack import Slack, make_client
from bot.core.store import Store
from bot.doctor import Setup, run_checks
from bot.fakes.pagerduty import FakePagerDuty
from bot.fakes.slack import FakeSlack
from bot.server import make_pagerduty
from tests.conftest import RedisServer

CONFIG = IncidentConfig.model_validate(
    {
        "announce_channel": "incidents",
        "alerts": {"channels": ["alerts"]},
        "pagerduty": {
            "service_id": "PSVC_MAIN",
            "schedules": {"backend": "PS_BACKEND", "platform": "PS_PLATFORM"},
        },
    }
)


async def main(latency: float, runs: int) -> None:
    server = RedisServer(appendonly=True)
    slack, pd = FakeSlack(), FakePagerDuty()
    await slack.start()
    await pd.start()
    slack.latency = pd.latency = latency
    settings = Settings(
        slack_bot_token=slack.bot_token,
        slack_signing_secret=slack.signing_secret,
        slack_api_url=slack.api_url,
        redis_url=server.url,
        pagerduty_api_key=pd.api_key,
        pagerduty_api_url=pd.api_url,
        pagerduty_from_email="alice@example.com",
    )
    redis = Redis.from_url(server.url, decode_responses=True)
    setup = Setup(
        settings=settings,
        store=Store(redis),
        slack=Slack(make_client(settings.slack_bot_token, settings.slack_api_url)),
        pagerduty=make_pagerduty(settings),
        config=CONFIG,
    )
    walls, calls, checks = [], 0, 0
    try:
        for _ in range(runs):
            before = len(slack.calls) + len(pd.calls)
            began = time.perf_counter()
            results = await run_checks(setup)
            walls.append(time.perf_counter() - began)
            calls = len(slack.calls) + len(pd.calls) - before
            checks = len(results)
            assert not [r for r in results if r.status == "fail"], results
    finally:
        await redis.aclose()
        await slack.stop()
        await pd.stop()
        server.stop()
    print(f"latency per call: {latency * 1000:.0f} ms, runs: {runs}")
    print(f"checks: {checks}, HTTP calls to Slack and PagerDuty per run: {calls}")
    print(f"wall time per run, median: {statistics.median(walls) * 1000:.0f} ms")
    print(f"the same calls one after another: {calls * latency * 1000:.0f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.latency, args.runs))
