"""Reminders across real bot processes: `python -m bot` against a fake Slack started here,
on the session's redis-server. A process killed with SIGKILL mid-interval loses nothing,
and three processes on one Redis post each due reminder exactly once. The bots' settle
signal is in their own processes, so the waits here end on the hang guard (settle=False)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from bot.fakes.slack import FakeSlack, Message
from tests.integration.bot_process import BotProcess
from tests.integration.harness import eventually

CONFIG = """
severities:
  - {name: SEV1, label: Critical, update_every: 2s}
  - {name: SEV2, label: High, update_every: 1h}
reminders: {grace: 0.5}
scheduler: {tick: 0.1, retry: 0.1}
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "incident.yaml"
    path.write_text(CONFIG)
    return path


def incident_channels(fake: FakeSlack) -> list[str]:
    return [c for c, ch in fake.channels.items() if ch.name.startswith("inc-")]


def reminders(fake: FakeSlack, channel: str) -> list[Message]:
    return [m for m in fake.messages[channel] if "An update on this" in m.text]


def pings(fake: FakeSlack, channel: str) -> list[Message]:
    return [m for m in fake.messages[channel] if m.text.startswith("<!channel>")]


def first_reminders(fake: FakeSlack, channel: str) -> list[Message]:
    """The reminders posted before the channel's first grace-period ping, having checked
    that no due reminder or ping was posted twice (each carries its due-item's marker).
    Later ones may already have come on a slow machine: the cadence is 2 s."""
    sent = reminders(fake, channel) + pings(fake, channel)
    marks = [
        {b.get("block_id") for b in m.blocks if str(b.get("block_id")).startswith("due:")}
        for m in sent
    ]
    assert all(marks) and len(set().union(*marks)) == len(sent), "a due message was repeated"
    first_ping = float(pings(fake, channel)[0].ts)
    return [m for m in reminders(fake, channel) if float(m.ts) < first_ping]


async def test_a_killed_process_loses_no_reminder(
    fake: FakeSlack, redis_url: str, config: Path
) -> None:
    first = BotProcess(fake, redis_url, config)
    second: BotProcess | None = None
    try:
        await first.ready()
        fake.app_url = f"{first.url}/slack/events"
        general = fake.channel_by_name("general")
        assert general is not None
        await fake.slash_command("U0ALICE", general.id, "/incident", "declare SEV1 Payments down")
        [channel] = await eventually(lambda: incident_channels(fake), settle=False)
        await eventually(lambda: any(m.pinned for m in fake.messages[channel]), settle=False)
        declared = time.time()
        first.kill()  # mid-interval: the reminder is due 2 s after the declaration
        assert reminders(fake, channel) == []

        second = BotProcess(fake, redis_url, config)
        await second.ready()
        fake.app_url = f"{second.url}/slack/events"
        # once the grace-period ping came, the reminder before it is settled
        await eventually(lambda: pings(fake, channel), settle=False)
        [reminder] = first_reminders(fake, channel)
        assert float(reminder.ts) >= declared + 2 - 0.5
        assert reminder.text.startswith("<@U0ALICE>")
    finally:
        first.stop()
        if second is not None:
            second.stop()


async def test_three_processes_post_each_due_reminder_exactly_once(
    fake: FakeSlack, redis_url: str, config: Path
) -> None:
    bots = [BotProcess(fake, redis_url, config) for _ in range(3)]
    try:
        await asyncio.gather(*(b.ready() for b in bots))
        general = fake.channel_by_name("general")
        assert general is not None
        n = 6
        for i in range(n):  # declarations spread over the three processes
            fake.app_url = f"{bots[i % 3].url}/slack/events"
            await fake.slash_command("U0ALICE", general.id, "/incident", f"declare SEV1 Outage {i}")
            await eventually(lambda i=i: len(incident_channels(fake)) == i + 1, settle=False)
        channels = incident_channels(fake)
        # every incident's reminder, and then its grace-period ping, came
        await eventually(lambda: all(pings(fake, c) for c in channels), settle=False)
        assert [len(first_reminders(fake, c)) for c in channels] == [1] * n
    finally:
        for b in bots:
            b.stop()
    assert all(b.proc.returncode == 0 for b in bots), [b.proc.returncode for b in bots]
