"""Redis fails over mid-incident: a primary, a replica and three Sentinels (real
redis-server processes); the primary's host dies while a SEV1 is being worked.

Commands answer plainly while there is no primary, work again once Sentinel has promoted
the replica, the update reminders go on with no duplicate and no gap beyond the failover,
and the old primary rejoins as a replica without effect."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import aiohttp
import pytest
import redis

from bot.core.config import IncidentConfig
from bot.core.models import Incident
from bot.fakes.slack import Message
from tests.conftest import RedisServer, SentinelServer
from tests.integration.harness import Harness, eventually, start

CADENCE = 2.0
CONFIG = IncidentConfig.model_validate(
    {
        "severities": [
            {"name": "SEV1", "label": "Critical", "update_every": f"{CADENCE:g}s"},
            {"name": "SEV2", "label": "High", "update_every": "1h"},
        ],
        "scheduler": {"tick": 0.1, "retry": 0.2, "lease": "3s"},
    }
)
LEASE = 3.0


@dataclass
class Cluster:
    primary: RedisServer
    replica: RedisServer
    sentinels: list[SentinelServer]

    @property
    def addresses(self) -> str:
        return ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)


async def until(check: Callable[[], bool], what: str, guard: float = 60.0) -> None:
    """Wait for a state of the real Redis processes (they have no signal to wait on); the
    guard only turns a hang into a failure that says what never happened."""
    end = time.monotonic() + guard
    while not await asyncio.to_thread(check):
        if time.monotonic() > end:
            raise AssertionError(f"not in {guard:.0f} s: {what}")
        await asyncio.sleep(0.05)


def _info(port: int, section: str) -> dict[str, object]:
    try:
        with redis.Redis(port=port, decode_responses=True, socket_timeout=1) as client:
            return dict(client.info(section))
    except redis.ConnectionError:
        return {}


def _ready(cluster: Cluster) -> bool:
    if _info(cluster.replica.port, "replication").get("master_link_status") != "up":
        return False
    for s in cluster.sentinels:  # each must know the replica and the two other Sentinels
        with redis.Redis(port=s.port, decode_responses=True) as client:
            if not client.execute_command("SENTINEL", "replicas", "mymaster"):
                return False
            if len(client.execute_command("SENTINEL", "sentinels", "mymaster")) < 2:
                return False
    return True


@pytest.fixture
async def cluster() -> AsyncIterator[Cluster]:
    primary = RedisServer()
    replica = RedisServer(replica_of=primary.port)
    sentinels = [SentinelServer(primary.port) for _ in range(3)]
    c = Cluster(primary, replica, sentinels)
    await until(lambda: _ready(c), "the replica and the Sentinels know each other")
    yield c
    for s in sentinels:
        s.stop()
    for server in (replica, primary):
        if server.proc.poll() is None:
            server.stop()


def reminders(h: Harness, incident: Incident) -> list[Message]:
    assert incident.channel_id
    return [m for m in h.fake.messages[incident.channel_id] if "An update on this" in m.text]


def markers(m: Message) -> set[str]:
    return {
        str(b.get("block_id", ""))
        for b in m.blocks
        if str(b.get("block_id", "")).startswith("due:")
    }


async def test_a_sentinel_failover_mid_incident(cluster: Cluster) -> None:
    h = await start(cluster.primary.url, CONFIG, redis_sentinels=cluster.addresses)
    try:
        await h.command("declare SEV1 Checkout API returning 500s")
        incident = await eventually(lambda: _first(h))
        assert incident.channel_id
        await eventually(lambda: reminders(h, incident))

        killed = time.time()
        cluster.primary.kill()
        # no primary: a command says so plainly, and changes nothing
        await h.command("update Rolled back the deploy", channel=incident.channel_id)
        told = len(h.ephemerals())
        [refusal] = await eventually(lambda: h.ephemerals()[told:])
        assert "incident store is unreachable" in refusal.text

        await until(
            lambda: cluster.sentinels[0].primary_port() == cluster.replica.port,
            "a Sentinel promoted the replica",
        )
        promoted = time.time()
        # the bot follows the new primary: the next command works
        await h.command("update Found the bad flag", channel=incident.channel_id)
        await eventually(lambda: _posted(h, incident, "Found the bad flag"))
        assert len(h.ephemerals()) == told + 1

        # the old primary's host comes back (once every Sentinel has learnt of the failover:
        # before that, one could still name it, and it takes writes until it is told to
        # follow; docs/operations.md, Redis) and rejoins as a replica, without effect
        await until(
            lambda: all(s.primary_port() == cluster.replica.port for s in cluster.sentinels),
            "every Sentinel names the new primary",
        )
        cluster.primary.start()
        await until(
            lambda: _info(cluster.primary.port, "replication").get("role") == "slave",
            "the old primary rejoined as a replica",
        )
        updated = await h.incident(incident.id)
        assert updated.last_update and updated.last_update.text == "Found the bad flag"
        seen = len(reminders(h, incident))
        await eventually(lambda: len(reminders(h, incident)) >= seen + 2, timeout=30)

        sent = reminders(h, incident)
        tokens = [markers(m) for m in sent]
        assert all(tokens) and len(set().union(*tokens)) == len(sent), "a reminder was repeated"
        times = [float(m.ts) for m in sent]
        gaps = [b - a for a, b in itertools.pairwise(times)]
        failover = promoted - killed
        # a gap is the cadence, plus at most the failover and one lease of an item in flight
        print(f"failover {failover:.2f}s gaps {[round(g, 2) for g in gaps]}")
        assert max(gaps) <= CADENCE + failover + LEASE + 1.0, (gaps, failover)
    finally:
        await h.stop()


async def _first(h: Harness) -> Incident | None:
    try:
        found = await h.store.recent_incidents()
    except redis.RedisError:
        return None
    return found[0] if found and found[0].channel_id and found[0].card_ts else None


def _posted(h: Harness, incident: Incident, text: str) -> bool:
    assert incident.channel_id
    return any(text in m.text for m in h.fake.messages[incident.channel_id])


async def test_pooled_connections_survive_a_redis_restart() -> None:
    """Behind one stable address (a managed Redis failing over, or any restart): every
    connection the pool held across it is dead; none may fail a user's request."""
    server = RedisServer(appendonly=True)
    h = await start(server.url, CONFIG)
    try:
        for n in range(3):  # several incidents at once: the pool holds many connections
            await h.command(f"declare SEV2 Warm-up {n}")
        await eventually(lambda: len(h.fake.calls_to("pins.add")) == 3)
        server.stop(keep_dir=True)
        server.start()
        async with aiohttp.ClientSession() as http:
            await eventually(lambda: _status(http, f"{h.url}/readyz", 200))
        await h.command("declare SEV2 Checkout is slow")
        incidents = await eventually(lambda: _set_up(h, 4))
        assert [i.setup_errors for i in incidents] == [{}] * 4
        failures = [m for msgs in h.fake.messages.values() for m in msgs if "set-up" in m.text]
        assert failures == []
    finally:
        await h.stop()
        server.stop()


async def _set_up(h: Harness, n: int) -> list[Incident] | None:
    incidents = await h.store.recent_incidents()
    done = [i for i in incidents if i.setup_errors or len(i.setup_done) == 6]
    return incidents if len(done) == n else None


async def _status(http: aiohttp.ClientSession, url: str, expected: int) -> bool:
    async with http.get(url) as r:
        return r.status == expected
