"""`/oncall`: PagerDuty API calls per 100 requests, and latency from the slash command to
the answer arriving at the response_url.

    python bench/oncall.py [--n 100] [--concurrency 10] [--pd-latency 0.0] [--cold 30]

Starts its own redis-server on a free port, the fake Slack and the fake PagerDuty (seeded:
two schedules, a three-level policy) on real ports, and the real app. Latency is measured
per command: from the moment the fake Slack sends the signed slash command to the moment
the bot's answer reaches that command's response_url.

1. cold: the on-call cache and the Slack email matches deleted before each command, so
   every answer waits on one PagerDuty walk and the Slack lookups (commands one at a time);
2. warm: N commands, C at a time, within a minute: PagerDuty calls and latency;
3. for comparison, the same N commands with the cache switched off (ttl 0, one at a time):
   what asking PagerDuty on every command would cost.
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import statistics
import sys
import time
from pathlib import Path

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.core.config import IncidentConfig, PagerDutyConfig, Settings
from bot.fakes.pagerduty import FakePagerDuty
from bot.fakes.slack import FakeSlack
from bot.server import Bot, build
from tests.conftest import RedisServer

CONFIG = IncidentConfig(
    pagerduty=PagerDutyConfig(
        service_id="PSVC_MAIN",
        escalation_policy_id="PEP_MAIN",
        schedules={"backend": "PS_BACKEND", "platform": "PS_PLATFORM"},
    )
)


# the response_url token of the command the current task is sending
CURRENT: contextvars.ContextVar[str] = contextvars.ContextVar("current")


class TimedSlack(FakeSlack):
    """FakeSlack that notes when each command's response_url was handed out (the command
    is sent right after) and when the first answer to it arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: dict[str, float] = {}
        self.answered: dict[str, float] = {}
        self.events: dict[str, asyncio.Event] = {}

    def _new_response_url(self, channel: str, user: str, message_ts: str | None) -> str:
        url = super()._new_response_url(channel, user, message_ts)
        token = url.rsplit("/", 1)[1]
        self.sent[token] = time.perf_counter()
        self.events[token] = asyncio.Event()
        CURRENT.set(token)
        return url

    async def _handle_response_url(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        self.answered.setdefault(token, time.perf_counter())
        if token in self.events:
            self.events[token].set()
        return await super()._handle_response_url(request)


async def start(redis_url: str, ttl: float) -> tuple[TimedSlack, FakePagerDuty, Bot, web.AppRunner]:
    slack, pd = TimedSlack(), FakePagerDuty()
    await slack.start()
    await pd.start()
    settings = Settings(
        slack_bot_token=slack.bot_token,
        slack_signing_secret=slack.signing_secret,
        slack_api_url=slack.api_url,
        redis_url=redis_url,
        pagerduty_api_key=pd.api_key,
        pagerduty_api_url=pd.api_url,
        pagerduty_events_url=pd.events_url,
        oncall_cache_ttl=ttl,
    )
    bot = build(settings, CONFIG)
    runner = web.AppRunner(bot.web, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    slack.app_url = f"http://127.0.0.1:{port}/slack/events"
    return slack, pd, bot, runner


async def ask(slack: TimedSlack, channel: str, n: int, concurrency: int) -> list[float]:
    """Send n `/oncall`s, each waiting for its answer, c in flight at a time; each one's
    latency (command sent -> answer at its response_url), in ms."""
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []

    async def one(i: int) -> None:
        async with gate:
            text = ["", "backend", "platform", "backend escalation"][i % 4]
            ack = await slack.slash_command("U0ALICE", channel, "/oncall", text)
            assert ack.status == 200, ack
            token = CURRENT.get()
            await asyncio.wait_for(slack.events[token].wait(), timeout=30)
            latencies.append((slack.answered[token] - slack.sent[token]) * 1000)

    await asyncio.gather(*(one(i) for i in range(n)))
    return latencies


def pct(values: list[float], p: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


def line(label: str, values: list[float]) -> str:
    return (
        f"  {label:<34} p50 {pct(values, 50):6.1f} ms   p99 {pct(values, 99):6.1f} ms   "
        f"max {max(values):6.1f} ms"
    )


async def main() -> None:
    from bot.core.logs import setup_logging

    setup_logging("WARNING")
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--pd-latency", type=float, default=0.0, help="seconds per PD call")
    parser.add_argument("--cold", type=int, default=30, help="cold-cache commands")
    args = parser.parse_args()
    redis = RedisServer()
    try:
        slack, pd, bot, runner = await start(redis.url, ttl=300)
        pd.latency = args.pd_latency
        store = bot.services.store
        general = slack.channel_by_name("general")
        assert general is not None
        emails = [u["email"] for u in pd.users.values()]
        print(f"/oncall against the fake PagerDuty ({args.pd_latency * 1000:.0f} ms a call)")

        first = await ask(slack, general.id, 1, 1)
        cold: list[float] = []
        for _ in range(args.cold):
            keys = store.keys
            await store.redis.delete(keys.oncall_snapshot, *map(keys.slack_user_by_email, emails))
            cold += await ask(slack, general.id, 1, 1)
        print(f"  first command of the process        {first[0]:6.1f} ms")
        print(line(f"cold cache ({args.cold}, one at a time)", cold))

        calls = len(pd.calls)
        began = time.perf_counter()
        warm = await ask(slack, general.id, args.n, args.concurrency)
        took = time.perf_counter() - began
        warm_one = await ask(slack, general.id, args.n, 1)
        print(line(f"warm cache ({args.n}, one at a time)", warm_one))
        print(line(f"warm cache ({args.n}, {args.concurrency} at a time)", warm))
        print(
            f"  PagerDuty API calls for those {2 * args.n} (the {args.n} concurrent ones sent "
            f"in {took:.1f} s): {len(pd.calls) - calls}"
        )
        await runner.cleanup()
        await slack.stop()
        await pd.stop()

        redis.flush()
        slack, pd, bot, runner = await start(redis.url, ttl=0)  # every answer asks PagerDuty
        pd.latency = args.pd_latency
        general = slack.channel_by_name("general")
        assert general is not None
        await ask(slack, general.id, 1, 1)
        calls = len(pd.calls)
        uncached = await ask(slack, general.id, args.n, 1)
        print(line(f"no cache ({args.n}, one at a time)", uncached))
        print(f"  PagerDuty API calls for those {args.n}: {len(pd.calls) - calls}")
        await runner.cleanup()
        await slack.stop()
        await pd.stop()
    finally:
        redis.stop()


if __name__ == "__main__":
    asyncio.run(main())
