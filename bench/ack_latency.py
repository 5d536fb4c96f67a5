"""Ack latency of /incident against a bare Bolt app, and the declare critical path.

    python bench/ack_latency.py [--n 300] [--concurrency 50]

Starts its own redis-server on a free port, the fake Slack, the real app and a bare
Bolt app that only acks, both on real ports. Sends N signed `/incident declare`
commands (C at a time) to each and prints ack latency p50/p99 and their ratio. Then,
with 250 ms of latency added to every Slack call, times one declaration: the number
of Slack calls it makes and how many of them are sequential (the critical path).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.core.config import IncidentConfig, Settings
from bot.core.slack import make_client
from bot.fakes.slack import FakeSlack
from bot.server import build
from tests.conftest import RedisServer


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}/slack/events"


def bare_bolt(fake: FakeSlack) -> web.Application:
    bolt = AsyncApp(
        client=make_client(fake.bot_token, fake.api_url), signing_secret=fake.signing_secret
    )

    @bolt.command("/incident")
    async def only_ack(ack) -> None:  # type: ignore[no-untyped-def]
        await ack()

    async def events(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await bolt.async_dispatch(await to_bolt_request(request)))

    app = web.Application()
    app.router.add_post("/slack/events", events)
    return app


def signed(secret: str, body: str) -> dict[str, str]:
    ts = str(int(time.time()))
    sig = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={sig}",
        "Content-Type": "application/x-www-form-urlencoded",
    }


async def fire(
    url: str, fake: FakeSlack, channel: str, n: int, concurrency: int, text: str = "declare"
) -> list[float]:
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    async with aiohttp.ClientSession() as http:

        async def one(i: int) -> None:
            body = urlencode(
                {
                    "command": "/incident",
                    "text": f"declare SEV3 Bench incident {i}" if text == "declare" else text,
                    "user_id": "U0ALICE",
                    "user_name": "alice",
                    "channel_id": channel,
                    "team_id": "T0FAKE",
                    "trigger_id": f"bench.{i}",
                    "response_url": f"{fake.base_url}response/bench{i}",
                }
            )
            async with gate:
                began = time.perf_counter()
                async with http.post(
                    url, data=body, headers=signed(fake.signing_secret, body)
                ) as r:
                    await r.read()
                    assert r.status == 200, r.status
                latencies.append(time.perf_counter() - began)

        await one(-1)  # warm-up (Bolt's first auth.test)
        latencies.clear()
        await asyncio.gather(*(one(i) for i in range(n)))
    return latencies


def pct(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1] * 1000


async def critical_path(redis_url: str) -> tuple[int, int, float]:
    fake = FakeSlack()
    await fake.start()
    settings = Settings(
        slack_bot_token=fake.bot_token,
        slack_signing_secret=fake.signing_secret,
        slack_api_url=fake.api_url,
        redis_url=redis_url,
    )
    bot = build(settings, IncidentConfig())
    fake.latency = 0.25
    began = time.perf_counter()
    await bot.services.incidents.declare(title="Critical path", severity="SEV2", by="U0ALICE")
    elapsed = time.perf_counter() - began
    calls = [c for c in fake.calls if c.method != "auth.test"]
    await bot.services.store.redis.aclose()
    await fake.stop()
    # each sequential call costs the added latency; our own work is far below it
    return len(calls), int(elapsed // fake.latency), elapsed


async def main() -> None:
    from bot.core.logs import setup_logging

    setup_logging("WARNING")
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=50)
    args = parser.parse_args()
    redis = RedisServer()
    try:
        fake = FakeSlack()
        await fake.start()
        general = fake.channel_by_name("general")
        assert general is not None
        settings = Settings(
            slack_bot_token=fake.bot_token,
            slack_signing_secret=fake.signing_secret,
            slack_api_url=fake.api_url,
            redis_url=redis.url,
        )
        bot = build(settings, IncidentConfig())
        ours, our_url = await serve(bot.web)
        bare, bare_url = await serve(bare_bolt(fake))

        # the work goes on after each ack: time until every room is fully set up
        all_pinned = asyncio.Event()
        pinned = 0

        def on_event(event: dict[str, object]) -> None:
            nonlocal pinned
            pinned += event["type"] == "pinned"
            if pinned > args.n:  # n commands + the warm-up
                all_pinned.set()

        fake.subscribe(on_event)
        began = time.perf_counter()
        bot_lat = await fire(our_url, fake, general.id, args.n, args.concurrency)
        await asyncio.wait_for(all_pinned.wait(), timeout=120)
        settled = time.perf_counter() - began
        bare_lat = await fire(bare_url, fake, general.id, args.n, args.concurrency)
        print(f"ack latency, {args.n} signed /incident declare, {args.concurrency} at a time")
        print(f"  incident bot : p50 {pct(bot_lat, 50):7.1f} ms   p99 {pct(bot_lat, 99):7.1f} ms")
        print(f"  bare Bolt    : p50 {pct(bare_lat, 50):7.1f} ms   p99 {pct(bare_lat, 99):7.1f} ms")
        print(
            f"  ratio        : p50 {pct(bot_lat, 50) / pct(bare_lat, 50):7.2f}x     "
            f"p99 {pct(bot_lat, 99) / pct(bare_lat, 99):7.2f}x"
        )
        help_lat = await fire(our_url, fake, general.id, args.n, args.concurrency, "help")
        print(
            f"  /incident help (ack only, no work after it): p50 {pct(help_lat, 50):.1f} ms  "
            f"p99 {pct(help_lat, 99):.1f} ms"
        )
        failed = [c for c in fake.calls if not c.ok and c.method != "response_url"]
        print(
            f"  all {args.n + 1} incidents fully set up after {settled:.1f} s "
            f"({(args.n + 1) / settled:.0f} declarations/s), {len(failed)} failed Slack calls"
        )
        await ours.cleanup()
        await bare.cleanup()
        await fake.stop()

        redis.flush()
        calls, sequential, elapsed = await critical_path(redis.url)
        print("one declaration, 250 ms added to every Slack call")
        print(f"  Slack calls  : {calls}")
        print(f"  sequential   : {sequential} (declare took {elapsed * 1000:.0f} ms)")
    finally:
        redis.stop()


if __name__ == "__main__":
    asyncio.run(main())
