"""An incident from declaration to resolution, through real HTTP, real Redis, fake Slack."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aiohttp
import pytest

from tests.integration.harness import Harness, eventually, promtool_check, start

TODAY = datetime.now(UTC).strftime("%Y%m%d")


@pytest.fixture
async def h(redis_url: str) -> AsyncIterator[Harness]:
    harness = await start(redis_url)
    yield harness
    await harness.stop()


def texts(h: Harness, channel: str) -> list[str]:
    return [m.text for m in h.fake.messages.get(channel, [])]


async def declare(h: Harness, text: str = "SEV1 Checkout API returning 500s") -> str:
    ack = await h.command(f"declare {text}")
    assert ack.status == 200
    name = await eventually(
        lambda: next((c.name for c in h.fake.channels.values() if c.name.startswith("inc-")), None)
    )
    return h.channel(name)


async def test_declare_by_text_sets_up_the_room(h: Harness) -> None:
    channel = await declare(h)
    ch = h.fake.channels[channel]
    assert ch.name == f"inc-{TODAY}-1-checkout-api-returning-500s"
    await eventually(lambda: "U0ALICE" in ch.members)
    await eventually(lambda: ch.topic == "SEV1 Critical · Investigating · Commander <@U0ALICE>")
    card = await eventually(lambda: next((m for m in h.fake.messages[channel] if m.pinned), None))
    assert "Checkout API returning 500s" in str(card.blocks) and "SEV1 · Critical" in str(
        card.blocks
    )
    incidents = h.channel("incidents")
    announce = await eventually(
        lambda: next((m for m in h.fake.messages.get(incidents, []) if "Checkout" in m.text), None)
    )
    assert f"<#{channel}>" in str(announce.blocks)
    confirm = await eventually(lambda: [m for m in h.ephemerals() if "Declared" in m.text])
    assert f"{TODAY}-1" in confirm[0].text
    # the set-up's record is written once its last Slack call has answered: after the
    # confirmation, which goes out beside those calls
    await h.settled()
    incident = await h.store.by_channel(channel)
    assert incident.setup_missing == [] and incident.commander == "U0ALICE"


async def test_the_declarer_is_told_once_the_channel_exists(h: Harness) -> None:
    """The confirmation goes out beside the card, pin, topic and announcement: a pin that
    Slack is slow to answer does not hold it back."""
    pin = h.fake.hold("pins.add")
    channel = await declare(h)
    await pin.arrived.wait()
    confirm = await eventually(lambda: [m for m in h.ephemerals() if "Declared" in m.text])
    assert f"<#{channel}>" in confirm[0].text
    assert not any(m.pinned for m in h.fake.messages[channel])  # the set-up goes on
    pin.release()
    await eventually(lambda: any(m.pinned for m in h.fake.messages[channel]))
    await h.settled()
    assert len([m for m in h.ephemerals() if "Declared" in m.text]) == 1
    assert (await h.store.by_channel(channel)).setup_missing == []


async def test_critical_path_is_create_then_everything_else(h: Harness) -> None:
    await declare(h)
    await eventually(
        lambda: h.fake.calls_to("pins.add") and h.fake.calls_to("conversations.setTopic")
    )
    await h.settled()
    # reads (auth.test, lookups of channels or groups) may come first; the first write is
    # the channel, which every other set-up step needs
    reads = ("auth.test", "conversations.list", "conversations.info", "usergroups.list")
    methods = [c.method for c in h.fake.calls if c.method not in reads]
    assert methods[0] == "conversations.create"
    posts = [c.args.get("text", "") for c in h.fake.calls_to("chat.postMessage")]
    # one card and one announcement, nothing duplicated (other notices may follow)
    assert sum(t.startswith("SEV1 Checkout API") for t in posts) == 1
    assert sum(t.startswith("SEV1 incident") for t in posts) == 1


async def test_lifecycle_commands_update_card_topic_and_announcement(h: Harness) -> None:
    channel = await declare(h)
    incidents = h.channel("incidents")
    await eventually(lambda: h.fake.calls_to("pins.add") and h.fake.messages.get(incidents))
    card_ts = next(m.ts for m in h.fake.messages[channel] if m.pinned)
    announce_ts = h.fake.messages[incidents][-1].ts

    def card() -> str:
        msg = h.fake.message(channel, card_ts)
        return str(msg.blocks) if msg else ""

    def announcement() -> str:
        msg = h.fake.message(incidents, announce_ts)
        return str(msg.blocks) if msg else ""

    await h.command("update Rolled back the 14:02 deploy, error rate falling", channel=channel)
    await eventually(lambda: any("Status update" in t for t in texts(h, channel)))
    await eventually(lambda: "Rolled back the 14:02 deploy" in card())

    await h.command("status identified", channel=channel)
    await eventually(
        lambda: "Identified" in card() and "Identified" in h.fake.channels[channel].topic
    )
    await eventually(lambda: "Identified" in announcement())

    await h.command("severity p1", channel=channel)
    await eventually(lambda: "SEV2 · High" in card() and "SEV2 · High" in announcement())

    await h.command("commander <@U0BOB|bob>", user="U0ALICE", channel=channel)
    await eventually(lambda: "Commander <@U0BOB>" in h.fake.channels[channel].topic)
    assert "U0BOB" in h.fake.channels[channel].members

    await h.command("role comms-lead <@U0CAROL|carol>", user="U0BOB", channel=channel)
    await eventually(lambda: "*Comms Lead*\\n<@U0CAROL>" in card())

    await h.command("resolve Rolled back; fix forward tomorrow", user="U0BOB", channel=channel)
    await eventually(lambda: "Resolved" in announcement() and "Resolved" in card())
    incident = await h.store.by_channel(channel)
    assert (
        incident.status == "resolved" and incident.resolution == "Rolled back; fix forward tomorrow"
    )
    assert not await h.store.open_incidents()

    await h.command("timeline", user="U0BOB", channel=channel)
    timeline = await eventually(lambda: [m for m in h.ephemerals("U0BOB") if "Timeline" in m.text])
    await h.settled()
    kinds = [e.kind for e in await h.store.timeline(incident.id)]
    assert kinds == ["declared", "update", "status", "severity", "role", "role", "resolved"]
    assert "Rolled back the 14:02 deploy" in str(timeline[0].blocks)

    # a resolved incident refuses further changes, politely
    await h.command("severity SEV1", user="U0BOB", channel=channel)
    await eventually(lambda: any("is resolved" in m.text for m in h.ephemerals("U0BOB")))


async def test_commands_in_the_wrong_place_say_so(h: Harness) -> None:
    await h.command("update all good", channel=h.channel("general"))
    reply = await eventually(lambda: h.ephemerals())
    assert "works inside an incident channel" in reply[0].text
    await h.settled()
    assert not [c for c in h.fake.calls if c.method == "chat.postMessage"]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("status done", "investigating, identified, monitoring, resolved"),
        ("severity SEV9", "Unknown severity"),
        ("commander bob", "not a Slack mention"),
        ("blorp", "Unknown command"),
    ],
)
async def test_malformed_commands_get_usage_and_change_nothing(
    h: Harness, text: str, needle: str
) -> None:
    ack = await h.command(text)
    assert ack.status == 200
    reply = h.ephemerals()
    assert reply and needle in reply[0].text and "Usage:" in reply[0].text
    await h.settled()
    assert not await h.store.recent_incidents()


async def test_declare_modal_twice_makes_one_incident(h: Harness) -> None:
    await h.command("declare")
    view_id = await eventually(lambda: next(iter(h.fake.views), None))
    values = {
        "title": {"title": "Search results empty"},
        "severity": {"severity": "SEV2"},
        "description": {"description": "Since 09:10, every query"},
    }
    # a double-click on Declare: both submissions reach the bot before the view closes
    first, second = await asyncio.gather(
        h.fake.submit_view("U0ALICE", view_id, values),
        h.fake.submit_view("U0ALICE", view_id, values),
    )
    assert first.status == 200 and second.status == 200
    await eventually(lambda: h.fake.calls_to("pins.add"))
    incidents = await eventually(h.store.recent_incidents)
    await h.settled()
    assert len(incidents) == 1
    assert (
        incidents[0].severity == "SEV2" and incidents[0].description == "Since 09:10, every query"
    )
    assert len(h.fake.calls_to("conversations.create")) == 1


async def test_modal_without_title_is_refused_inline(h: Harness) -> None:
    await h.command("declare SEV1")
    view_id = await eventually(lambda: next(iter(h.fake.views), None))
    result = await h.fake.submit_view(
        "U0ALICE", view_id, {"title": {"title": "   "}, "severity": {"severity": "SEV1"}}
    )
    assert result.errors == {"title": "Give the incident a title."}
    await h.settled()
    assert not await h.store.recent_incidents()


async def test_rate_limited_channel_creation_is_retried_after_retry_after(h: Harness) -> None:
    h.fake.fail("conversations.create", status=429, retry_after=1)
    channel = await declare(h)
    creates = h.fake.calls_to("conversations.create")
    assert [c.status for c in creates] == [429, 200]
    assert creates[1].at - creates[0].at >= 1.0  # Retry-After honoured
    assert h.fake.channels[channel].name.startswith(f"inc-{TODAY}-1-")


async def test_failed_pin_is_reported_and_retry_completes_only_that(h: Harness) -> None:
    h.fake.fail("pins.add", status=500)
    channel = await declare(h)
    warning = await eventually(
        lambda: next((m for m in h.fake.messages[channel] if "set-up failed" in m.text), None)
    )
    incident = await h.store.by_channel(channel)
    assert incident.setup_missing == ["pin"]
    # the incident works meanwhile
    await h.command("status identified", channel=channel)
    await eventually(lambda: "Identified" in h.fake.channels[channel].topic)
    await h.settled()

    before = {m: len(h.fake.calls_to(m)) for m in ("conversations.create", "chat.postMessage")}
    await h.fake.click("U0ALICE", channel, warning.ts, "incident_retry_setup")
    await eventually(lambda: any(m.pinned for m in h.fake.messages[channel]))
    await eventually(lambda: any("Set-up complete" in t for t in texts(h, channel)))
    await h.settled()
    incident = await h.store.by_channel(channel)
    assert incident.setup_missing == []
    assert len(h.fake.calls_to("conversations.create")) == before["conversations.create"]
    # only the completion notice was posted; no second card or announcement
    assert len(h.fake.calls_to("chat.postMessage")) == before["chat.postMessage"] + 1


async def test_incident_numbers_count_per_day_and_list_shows_them(h: Harness) -> None:
    for title in ("SEV3 first", "SEV2 second", "P0 third"):
        await h.command(f"declare {title}")
    await eventually(
        lambda: len([c for c in h.fake.channels.values() if c.name.startswith("inc-")]) == 3
    )
    names = sorted(c.name for c in h.fake.channels.values() if c.name.startswith("inc-"))
    assert [n.split("-")[2] for n in names] == ["1", "2", "3"]
    await h.command("list", user="U0BOB")
    listing = await eventually(
        lambda: [m for m in h.ephemerals("U0BOB") if "open incidents" in m.text]
    )
    assert "Open incidents (3)" in str(listing[0].blocks)


def sign(secret: str, body: str, ts: int) -> str:
    base = f"v0:{ts}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


@pytest.mark.parametrize("case", ["bad-signature", "stale", "missing"])
async def test_unsigned_or_stale_requests_get_401(h: Harness, case: str) -> None:
    body = "command=%2Fincident&text=declare+SEV1+x&user_id=U0ALICE&channel_id=C1&team_id=T0FAKE"
    ts = int(time.time()) - (400 if case == "stale" else 0)
    signature = sign(h.fake.signing_secret, body, ts)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if case != "missing":
        headers["X-Slack-Request-Timestamp"] = str(ts)
        headers["X-Slack-Signature"] = signature if case == "stale" else signature[:-4] + "beef"
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{h.url}/slack/events", data=body, headers=headers) as r,
    ):
        assert r.status == 401
    await h.settled()
    assert not await h.store.recent_incidents()


async def test_health_and_metrics_routes(h: Harness) -> None:
    await declare(h)
    await eventually(lambda: h.fake.calls_to("pins.add"))
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{h.url}/healthz") as r:
            assert r.status == 200
        async with http.get(f"{h.url}/readyz") as r:
            assert r.status == 200
        async with http.get(f"{h.url}/metrics") as r:
            text = await r.text()
    assert 'incident_bot_incidents_declared_total{severity="SEV1",source="slack"} 1.0' in text
    assert "incident_bot_declare_duration_seconds_count" in text
    assert await promtool_check(text) == (0, "")
