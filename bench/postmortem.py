"""After the incident: how long a post-mortem draft takes for a long incident, and how long
`/incident stats 90d` takes over many incidents.

    python bench/postmortem.py [--entries 1000] [--incidents 2000] [--runs 5]

Starts its own redis-server on a free port and the fake Slack on a real port; the services
are the real ones (bot/postmortem.py, bot/stats.py) on the real store.

1. draft: one incident with N timeline entries (10 people, mentions in the text) and 20
   follow-ups: render (timeline, names via users.info, template) and render + upload
   (Slack's external upload: three HTTP calls and the bytes); median and max of the runs,
   and the draft's size.
2. stats: M incidents over 90 days, each with a 12-entry timeline: the report (one range
   query, one pipelined read of every timeline, the numbers); median and max.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from pathlib import Path

from redis.asyncio import Redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.core.config import IncidentConfig
from bot.core.metrics import Metrics
from bot.core.models import FollowUp, Incident, TimelineEntry
from bot.core.schedule import Scheduler
from bot.core.slack import Slack, make_client
from bot.core.store import Store
from bot.fakes.slack import FakeSlack
from bot.postmortem import Postmortems
from bot.stats import WINDOWS, Stats
from tests.conftest import RedisServer

DAY = 86400.0
KINDS = ["update", "status", "role", "runbook_step", "note", "pinned", "page"]


def ms(seconds: list[float]) -> str:
    return f"median {statistics.median(seconds) * 1000:.1f} ms, max {max(seconds) * 1000:.1f} ms"


async def seed_incident(
    store: Store, n: int, entries: int, declared: float, people: list[str], rng: random.Random
) -> Incident:
    incident = Incident(
        id=f"20260101-{n}",
        title=f"Incident {n}: checkout errors",
        severity=rng.choice(["SEV1", "SEV2", "SEV3", "SEV4"]),
        declared_by=people[0],
        declared_at=declared,
        status="resolved",
        resolved_at=declared + rng.uniform(600, 6 * 3600),
        roles={"commander": people[1]},
        channel_id=f"C{n:08d}",
        channel_name=f"inc-20260101-{n}-checkout-errors",
    )
    first = TimelineEntry(at=declared, actor=people[0], kind="declared", text="Declared")
    await store.create(incident, first)
    batch = [
        TimelineEntry(
            at=declared + i * 30,
            actor=rng.choice(people),
            kind=rng.choice(KINDS),
            text=f"Step {i}: <@{rng.choice(people)}> checked | p99 {rng.randint(1, 9)} s",
        )
        for i in range(1, entries)
    ]
    for i in range(0, len(batch), 500):
        await store.append(incident.id, *batch[i : i + 500])
    return incident


async def main(entries: int, incidents: int, runs: int) -> None:
    server = RedisServer()
    fake = FakeSlack()
    await fake.start()
    people = [fake.add_user(f"U0P{i:04d}", f"person{i}").id for i in range(10)]
    channel = fake.add_channel("inc-bench", members=[fake.bot_user_id, *people])
    redis = Redis.from_url(server.url, decode_responses=True)
    client = make_client(fake.bot_token, fake.api_url)
    try:
        store, slack, metrics = Store(redis), Slack(client), Metrics()
        config = IncidentConfig()
        scheduler = Scheduler(store, registry=metrics.registry)
        stats = Stats(store, slack, config, metrics)
        postmortems = Postmortems(store, slack, config, scheduler, stats, metrics)
        rng = random.Random(7)
        now = time.time()

        incident = await seed_incident(store, 0, entries, now - DAY, people, rng)
        incident = incident.model_copy(update={"channel_id": channel.id})
        for i in range(20):
            await store.add_followup(
                FollowUp(
                    id="",
                    incident_id=incident.id,
                    number=0,
                    text=f"Action {i} for <@{people[i % 10]}>",
                    owner=people[i % 10],
                    due="2026-12-01",
                    created_by=people[0],
                    created_at=now,
                )
            )
        render, upload = [], []
        size = 0
        for run in range(runs):
            postmortems._names.clear()  # cold name cache each run: the worst case
            t = time.perf_counter()
            draft = await postmortems.render(incident)
            render.append(time.perf_counter() - t)
            size = len(draft.markdown.encode())
            postmortems._names.clear()
            t = time.perf_counter()
            await postmortems.draft(incident, by=people[0])
            upload.append(time.perf_counter() - t)
            del run
        print(f"draft of {entries} timeline entries, 20 follow-ups ({size / 1024:.0f} KiB):")
        print(f"  render:          {ms(render)}")
        print(f"  render + upload: {ms(upload)}")

        for n in range(1, incidents + 1):
            await seed_incident(store, n, 12, now - rng.uniform(0, 89 * DAY), people, rng)
        took = []
        report = None
        for _ in range(runs):
            t = time.perf_counter()
            report = await stats.report(WINDOWS["90d"])
            took.append(time.perf_counter() - t)
        assert report is not None
        print(f"/incident stats 90d over {report.total.declared} incidents: {ms(took)}")
    finally:
        if client.session is not None:
            await client.session.close()
        await redis.aclose()
        await fake.stop()
        server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=1000)
    parser.add_argument("--incidents", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.entries, args.incidents, args.runs))
