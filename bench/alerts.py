"""Alert storms on one process: throughput, a SEV1 behind unmatched alerts, and Redis
memory under a storm of fresh instance labels.

    python bench/alerts.py [--only throughput,priority,memory] [--alerts 10000]
        [--concurrency 64] [--slack-latency 0.05] [--unmatched 150,2000]
        [--unmatched-posts 300] [--storm 20]

Each part starts its own redis-server on a free port (tests/conftest.RedisServer), the
fake Slack (every call delayed by --slack-latency seconds, as a real API round trip) and
the real app on a real port; the load comes from a process of its own.

**priority**: one Alertmanager POST carrying N distinct alert names no rule matches (each N
of --unmatched), or N POSTs of one each (--unmatched-posts), then one POST of a SEV1
rule's alert (ServiceDown): the seconds from the SEV1's answer to its incident declared
and to the fake PagerDuty's page.

**memory**: --storm seconds of POSTs as fast as the load process can send them, each of
250 alerts with `instance` labels never seen before (tests/integration/storm.py: a third
grouped by a fresh node, so their groups are new too), firing then resolving: Redis
`used_memory` before, right after and once the app has applied everything.

**throughput** (below):

Starts its own redis-server on a free port (tests/conftest.RedisServer), the fake Slack
(every call delayed by --slack-latency seconds, as a real API round trip) and the real app
on a real port. Two storms of the same 10,000 alerts, each on a fresh Redis and Slack:

- "1 a post": 10,000 webhook POSTs of one alert each (the worst case for the door);
- "100 a post": 100 POSTs of 100 alerts each (Alertmanager sends a group per POST).

The storm limits are raised for it (`webhook_rate`, `max_instances`: one sender, every
alert counted one by one). Either way the alerts fall into 12 groups: the 10 built-in
rules (one service each) and 2 alerts no rule matches (shown in one digest). Accepted =
all POSTs answered 200 (each one persisted in Redis before its answer); applied = every
alert counted into its group; settled = every incident declared and every group's Slack
message showing its final counts. Duplicates = incidents beyond one a matched group, plus
alert messages beyond one a group.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from redis.exceptions import RedisError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.core.config import DEFAULT_ALERT_RULES, IncidentConfig, Settings
from bot.fakes.pagerduty import FakePagerDuty
from bot.fakes.slack import FakeSlack
from bot.server import build
from tests.conftest import RedisServer
from tests.integration.storm import am_payload
from tests.integration.storm import storm as storm_of_fresh_instances

TOKEN = "bench-token"
NAMES = [name for name, _, _ in DEFAULT_ALERT_RULES] + ["NodeDiskPressure", "KubePodCrashLooping"]


def alert(name: str, i: int) -> dict[str, Any]:
    return {
        "status": "firing",
        "labels": {"alertname": name, "service": "api", "instance": f"pod-{i}"},
        "annotations": {"summary": f"{name} on pod-{i}", "description": "bench"},
        "startsAt": "2026-11-22T10:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph",
        "fingerprint": f"{name}-{i}",
    }


def payloads(total: int, per_post: int) -> list[bytes]:
    by_name: dict[str, list[dict[str, Any]]] = {n: [] for n in NAMES}
    for i in range(total):
        name = NAMES[i % len(NAMES)]
        by_name[name].append(alert(name, i))
    out = []
    for name, alerts in by_name.items():
        for start in range(0, len(alerts), per_post):
            out.append(
                json.dumps(
                    {
                        "version": "4",
                        "groupKey": f"{{}}:{{alertname={name!r}}}",
                        "status": "firing",
                        "receiver": "incident-bot",
                        "groupLabels": {"alertname": name, "service": "api"},
                        "commonLabels": {},
                        "commonAnnotations": {},
                        "externalURL": "http://alertmanager:9093",
                        "alerts": alerts[start : start + per_post],
                    }
                ).encode()
            )
    # interleave the groups, as a storm hitting everything at once does
    return out[::2] + out[1::2]


def blast(url: str, bodies: list[bytes], concurrency: int) -> tuple[float, Counter[int]]:
    """POST every body, `concurrency` at a time (in a process of its own): the seconds
    until the last answer, and the answers' status codes."""

    async def run() -> tuple[float, Counter[int]]:
        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        statuses: Counter[int] = Counter()
        gate = asyncio.Semaphore(concurrency)
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=connector) as http:

            async def send(body: bytes) -> None:
                async with gate, http.post(url, data=body, headers=headers) as r:
                    statuses[r.status] += 1

            started = time.monotonic()
            await asyncio.gather(*(send(b) for b in bodies))
            return time.monotonic() - started, statuses

    return asyncio.run(run())


async def storm(redis: RedisServer, total: int, per_post: int, args: argparse.Namespace) -> None:
    redis.flush()
    fake = FakeSlack()
    fake.latency = args.slack_latency
    await fake.start()
    settings = Settings(
        slack_bot_token=fake.bot_token,
        slack_signing_secret=fake.signing_secret,
        slack_api_url=fake.api_url,
        redis_url=redis.url,
        alertmanager_token=TOKEN,
        log_level="WARNING",
    )
    # the storm limits raised: this measures the pipeline, with every alert counted
    limits = {"webhook_rate": "1000000/1m", "max_instances": 1000}
    bot = build(settings, IncidentConfig.model_validate({"alerts": limits}))
    runner = web.AppRunner(bot.web, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    fake.app_url = f"http://127.0.0.1:{port}/slack/events"
    alerts = bot.services.alerts
    store = bot.services.store
    assert alerts is not None
    bodies = payloads(total, per_post)
    url = f"http://127.0.0.1:{port}/alerts/alertmanager"
    applied_at: list[float] = []

    async def watch_applied() -> None:
        # a measurement, not synchronisation: note when the last batch has been applied
        while alerts.metrics.applied._value.get() < len(bodies):  # noqa: ASYNC110
            await asyncio.sleep(0.005)
        applied_at.append(time.monotonic())

    try:
        watcher = asyncio.create_task(watch_applied())
        started = time.monotonic()
        # the load comes from another process, so this one's loop only serves
        with ProcessPoolExecutor(1) as pool:
            accepted, statuses = await asyncio.get_running_loop().run_in_executor(
                pool, blast, url, bodies, args.concurrency
            )
        await watcher
        applied = applied_at[0] - started
        expected = Counter(NAMES[i % len(NAMES)] for i in range(total))

        async def done() -> bool:
            if not await alerts.settled():
                return False
            found = await store.recent_incidents(limit=1000)
            if len(found) < 10 or not all(i.channel_id for i in found):
                return False
            shown = _shown(fake, found)
            return all(shown.get(n) == [c] for n, c in expected.items())

        while not await done():
            if time.monotonic() - started > 600:
                raise SystemExit("not settled in 10 minutes")
            await asyncio.sleep(0.05)
        settled = time.monotonic() - started
        found = await store.recent_incidents(limit=1000)
        shown = _shown(fake, found)
        per_name = Counter(i.alertname for i in found)
        duplicates = sum(n - 1 for n in per_name.values() if n > 1)
        duplicates += sum(len(v) - 1 for v in shown.values() if len(v) > 1)
        calls = Counter(c.method for c in fake.calls)
        posts: dict[str, list[float]] = {}
        for c in fake.calls_to("chat.postMessage"):
            posts.setdefault(str(c.args.get("channel")), []).append(c.at)
        worst_post = max(sum(1 for t in ts if s <= t < s + 1) for ts in posts.values() for s in ts)
        updates = [c.at for c in fake.calls_to("chat.update")]
        worst_update = max((sum(1 for t in updates if s <= t < s + 60) for s in updates), default=0)
        label = f"{per_post} a post"
        print(
            f"{label:>11}: {len(bodies):>5} POSTs, {total} alerts: "
            f"accepted {total / accepted:>8.0f} alerts/s ({accepted:.2f} s, "
            f"{len(bodies) / accepted:.0f} POSTs/s, all 200: {set(statuses) == {200}}); "
            f"applied {total / applied:>7.0f} alerts/s ({applied:.2f} s); "
            f"settled in {settled:.1f} s"
        )
        print(
            f"{'':>11}  incidents {len(found)} (10 expected), unmatched posts "
            f"{sum(1 for n in shown if n not in per_name)}, duplicates {duplicates}; "
            f"Slack calls {sum(calls.values())}: "
            + ", ".join(f"{m} {n}" for m, n in sorted(calls.items()))
        )
        print(
            f"{'':>11}  busiest channel {worst_post} posts in 1 s; chat.update {worst_update} "
            "in the busiest minute"
        )
    finally:
        await runner.cleanup()
        await fake.stop()


def _shown(fake: FakeSlack, incidents: list[Any]) -> dict[str, list[int]]:
    """alert name -> firing count of each alert message showing it (incident channels,
    and the lines of the announce channel's digests of unmatched alerts)."""
    out: dict[str, list[int]] = {}
    for i in incidents:
        for m in fake.messages.get(i.channel_id, []):
            if m.text.startswith("Alert "):
                count = int(m.text.split(": ")[1].split()[0])
                out.setdefault(m.text.split()[1], []).append(count)
    announce = fake.channel_by_name("incidents")
    assert announce is not None
    for m in fake.messages.get(announce.id, []):
        if m.text.startswith("Unmatched alert"):
            blocks = json.dumps(m.blocks, ensure_ascii=False)
            for name, n in re.findall(r"• \*(\S+)[^*]*\*: (\d+) firing", blocks):
                out.setdefault(name, []).append(int(n))
    return out


# -- shared: the app on a real port --------------------------------------------------------


class App:
    """The real app against a fake Slack (and a fake PagerDuty) on real ports."""

    def __init__(self, redis: RedisServer, args: argparse.Namespace, *, pagerduty: bool) -> None:
        self.redis, self.args, self.with_pd = redis, args, pagerduty

    async def __aenter__(self) -> App:
        self.redis.flush()
        self.fake = FakeSlack()
        self.fake.latency = self.args.slack_latency
        await self.fake.start()
        env: dict[str, Any] = {}
        config = IncidentConfig()
        self.pd: FakePagerDuty | None = None
        if self.with_pd:
            self.pd = FakePagerDuty()
            await self.pd.start()
            env = {
                "pagerduty_api_key": self.pd.api_key,
                "pagerduty_api_url": self.pd.api_url,
                "pagerduty_events_url": self.pd.events_url,
                "pagerduty_from_email": "alice@example.com",
            }
            config = IncidentConfig.model_validate(
                {"pagerduty": {"service_id": "PSVC_MAIN", "escalation_policy_id": "PEP_MAIN"}}
            )
        settings = Settings(
            slack_bot_token=self.fake.bot_token,
            slack_signing_secret=self.fake.signing_secret,
            slack_api_url=self.fake.api_url,
            redis_url=self.redis.url,
            alertmanager_token=TOKEN,
            log_level="WARNING",
            **env,
        )
        self.bot = build(settings, config)
        self.runner = web.AppRunner(self.bot.web, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.fake.app_url = f"http://127.0.0.1:{port}/slack/events"
        self.url = f"http://127.0.0.1:{port}/alerts/alertmanager"
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.runner.cleanup()
        await self.fake.stop()
        if self.pd is not None:
            await self.pd.stop()


# -- priority: a SEV1 behind unmatched alerts --------------------------------------------------


def unmatched_then_sev1(url: str, n: int, per_post: int) -> tuple[Counter[int], float]:
    """(In a process of its own.) n unmatched alert names, `per_post` a POST (16 POSTs at
    a time), then the SEV1's POST: the answers' statuses and the epoch time of the SEV1's
    answer."""
    noise = [alert(f"NoRuleMatches{i:05d}", i) for i in range(n)]
    bodies = [
        am_payload({"service": "api"}, noise[i : i + per_post]) for i in range(0, n, per_post)
    ]

    async def run() -> tuple[Counter[int], float]:
        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        statuses: Counter[int] = Counter()
        gate = asyncio.Semaphore(16)
        async with aiohttp.ClientSession() as http:

            async def send(body: dict[str, Any]) -> None:
                async with gate, http.post(url, data=json.dumps(body), headers=headers) as r:
                    statuses[r.status] += 1

            await asyncio.gather(*(send(b) for b in bodies))
            await send(am_payload({}, [alert("ServiceDown", 0)]))
            return statuses, time.time()

    return asyncio.run(run())


async def priority(redis: RedisServer, n: int, per_post: int, args: argparse.Namespace) -> None:
    async with App(redis, args, pagerduty=True) as app:
        assert app.pd is not None
        pd, store = app.pd, app.bot.services.store
        with ProcessPoolExecutor(1) as pool:
            statuses, answered = await asyncio.get_running_loop().run_in_executor(
                pool, unmatched_then_sev1, app.url, n, per_post
            )
        declared = paged = None
        give_up = time.time() + args.give_up
        # a measurement, not synchronisation: note when each effect is first seen
        while (declared is None or paged is None) and time.time() < give_up:
            if declared is None:
                found = await store.recent_incidents(limit=5)
                if any(i.alertname == "ServiceDown" for i in found):
                    declared = time.time() - answered
            if paged is None and pd.incidents:
                paged = time.time() - answered
            await asyncio.sleep(0.01)

        def shown(t: float | None) -> str:
            return f"{t:6.2f} s" if t is not None else f"not after {args.give_up:.0f} s"

        how = "one POST" if per_post >= n else f"{(n + per_post - 1) // per_post} POSTs"
        print(
            f"SEV1 behind {n:>5} unmatched alert names ({how}; answers {dict(statuses)}): "
            f"declared {shown(declared)}, paged {shown(paged)} after its POST's answer"
        )


# -- memory: a storm of fresh instance labels ---------------------------------------------


async def memory(redis: RedisServer, args: argparse.Namespace) -> None:
    async with App(redis, args, pagerduty=False) as app:
        raw = app.bot.services.store.redis
        stream = app.bot.services.store.keys.alert_stream

        async def used() -> float:
            for _ in range(20):  # a Redis busy with the storm may answer late
                with contextlib.suppress(RedisError):
                    return float((await raw.info("memory"))["used_memory"]) / 1e6
                await asyncio.sleep(0.5)
            return float("nan")

        async def backlog() -> int:
            with contextlib.suppress(RedisError):
                return int(await raw.xlen(stream))
            return -1

        before = await used()
        posts, sent, statuses = await storm_of_fresh_instances(app.url, TOKEN, seconds=args.storm)
        right_after = await used()
        started = time.time()
        while (  # noqa: ASYNC110 (a measurement, not synchronisation)
            left := await backlog()
        ) != 0 and time.time() - started < args.give_up:
            await asyncio.sleep(0.5)
        took = time.time() - started
        applied = await used()
        keys = await raw.dbsize()
        state = (
            f"applied {took:.0f} s later"
            if left == 0
            else f"{left} POSTs still unapplied after {args.give_up:.0f} s"
        )
        print(
            f"{args.storm:.0f} s storm of fresh instance labels: {posts} POSTs, {sent} alerts "
            f"(answers {dict(statuses)}); Redis used_memory {before:.1f} MB before, "
            f"{right_after:.1f} MB right after, {applied:.1f} MB when {state} "
            f"(+{applied - before:.1f} MB, {keys} keys)"
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default="throughput,priority,memory")
    parser.add_argument("--alerts", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--slack-latency", type=float, default=0.05)
    parser.add_argument("--unmatched", default="150,2000")
    parser.add_argument("--unmatched-posts", default="300")
    parser.add_argument("--storm", type=float, default=20.0)
    parser.add_argument("--give-up", type=float, default=120.0)
    args = parser.parse_args()
    parts = set(args.only.split(","))
    redis = RedisServer()
    try:
        if "priority" in parts:
            for n in (int(x) for x in args.unmatched.split(",") if x):
                await priority(redis, n, n, args)
            for n in (int(x) for x in args.unmatched_posts.split(",") if x):
                await priority(redis, n, 1, args)
        if "memory" in parts:
            await memory(redis, args)
        if "throughput" in parts:
            for per_post in (1, 100):
                await storm(redis, args.alerts, per_post, args)
    finally:
        redis.stop()


if __name__ == "__main__":
    asyncio.run(main())
