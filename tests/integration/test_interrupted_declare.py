"""A declare cut short finishes, exactly once: the bot killed (SIGKILL) while Slack is
still making the channel, and Redis killed at the same moment. Real bot processes, a real
redis-server, the fake Slack and PagerDuty over HTTP; Slack is held mid-call by the test.

Whichever replica is alive takes the interrupted `declared` event over and finishes the
set-up: one channel (the one Slack made for the dead process, found as the bot's own),
one card, one announcement, one page, and the declarer is told. The bots are child
processes, outside this process's settle signal: their waits end on the hang guard."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bot.fakes.pagerduty import FakePagerDuty
from bot.fakes.slack import FakeSlack
from tests.conftest import RedisServer
from tests.integration.harness import eventually
from tests.integration.test_schedule_processes import BotProcess

CONFIG = """
severities:
  - {name: SEV1, label: Critical, update_every: 1h, page: true}
  - {name: SEV2, label: High, update_every: 1h}
pagerduty: {service_id: PSVC_MAIN, escalation_policy_id: PEP_MAIN}
scheduler: {tick: 0.1, retry: 0.1, reclaim: 1s}
"""
# the scheduler's lease is the default: a page the killed bot had claimed (a due-item due now
# is claimed as it is stored) comes due again for the next bot within it (a few seconds; its
# holder renews it while it works), not a minute later
PAGED = ":rotating_light: Paged"  # who was paged, said in the channel
# seconds from the next bot being up (its start-up, slow on a loaded machine, not counted):
# a renewed lease of a few seconds comes in far under it, the old 60 s lease never would
PAGED_WITHIN = 30.0


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "incident.yaml"
    path.write_text(CONFIG)
    return path


def bot(fake: FakeSlack, pd: FakePagerDuty, redis_url: str, config: Path) -> BotProcess:
    process = BotProcess(
        fake,
        redis_url,
        config,
        PAGERDUTY_API_KEY=pd.api_key,
        PAGERDUTY_API_URL=pd.api_url,
        PAGERDUTY_EVENTS_URL=pd.events_url,
        PAGERDUTY_FROM_EMAIL="alice@example.com",
    )
    fake.app_url = f"{process.url}/slack/events"
    return process


def made_by_bot(fake: FakeSlack) -> list[str]:
    return [c.id for c in fake.channels.values() if c.name.startswith("inc-")]


def set_up(fake: FakeSlack, pd: FakePagerDuty) -> bool:
    """Channel, pinned card, announcement and page (and who was paged said), and the
    declarer told."""
    channels = made_by_bot(fake)
    announce = fake.channel_by_name("incidents")
    return bool(
        channels
        and any(m.pinned for m in fake.messages[channels[0]])
        and any(m.text.startswith(PAGED) for m in fake.messages[channels[0]])
        and announce
        and any(m.user == "U0BOT" for m in fake.messages[announce.id])
        and pd.incidents
        and [m for msgs in fake.messages.values() for m in msgs if m.ephemeral_to == "U0ALICE"]
    )


def assert_once(fake: FakeSlack, pd: FakePagerDuty) -> None:
    [channel] = made_by_bot(fake)
    cards = [m for m in fake.messages[channel] if m.pinned]
    paged = [m for m in fake.messages[channel] if m.text.startswith(PAGED)]
    announce = fake.channel_by_name("incidents")
    assert announce is not None
    announcements = [m for m in fake.messages[announce.id] if m.user == "U0BOT"]
    told = [m for msgs in fake.messages.values() for m in msgs if m.ephemeral_to == "U0ALICE"]
    counts = (len(cards), len(announcements), len(pd.incidents), len(paged), len(told))
    assert counts == (1, 1, 1, 1, 1), counts
    assert "Declared" in told[0].text and f"<#{channel}>" in told[0].text


async def test_a_bot_killed_while_slack_makes_the_channel_is_finished_by_the_next(
    fake: FakeSlack, pd: FakePagerDuty, redis_url: str, config: Path
) -> None:
    first = bot(fake, pd, redis_url, config)
    second: BotProcess | None = None
    try:
        await first.ready()
        slow = fake.hold("conversations.create")
        general = fake.channel_by_name("general")
        assert general is not None
        await fake.slash_command("U0ALICE", general.id, "/incident", "declare SEV1 Checkout down")
        await slow.arrived.wait()
        first.kill()
        killed = time.monotonic()
        slow.release()  # Slack makes the channel; nobody hears the answer
        await eventually(lambda: made_by_bot(fake), settle=False)

        second = bot(fake, pd, redis_url, config)
        await second.ready()
        up = time.monotonic()
        await eventually(lambda: pd.incidents, settle=False)
        paged = time.monotonic() - up
        await eventually(lambda: set_up(fake, pd), settle=False)
        print(f"kill to fully set up: {time.monotonic() - killed:.2f} s")
        assert paged < PAGED_WITHIN, f"the on-call was paged {paged:.1f} s after the next bot"
        assert_once(fake, pd)
    finally:
        first.stop()
        if second is not None:
            second.stop()


async def test_redis_killed_while_slack_makes_the_channel(
    fake: FakeSlack, pd: FakePagerDuty, config: Path
) -> None:
    server = RedisServer(appendonly=True)
    process = bot(fake, pd, server.url, config)
    try:
        await process.ready()
        slow = fake.hold("conversations.create")
        general = fake.channel_by_name("general")
        assert general is not None
        await fake.slash_command("U0ALICE", general.id, "/incident", "declare SEV1 Checkout down")
        await slow.arrived.wait()
        server.kill()
        slow.release()  # the answer arrives while there is no Redis to record it in
        await eventually(lambda: fake.calls_to("conversations.create"), settle=False)
        server.start()
        await eventually(lambda: set_up(fake, pd), settle=False)
        assert_once(fake, pd)
        assert process.proc.poll() is None
    finally:
        process.stop()
        server.stop()
