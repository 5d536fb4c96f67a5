"""An incident's channel is the one the bot made for it, never one found by its name.

A workspace member can make a channel under the name the bot is about to use and invite
the bot. Before issue 14 the bot took `name_taken` for "ours from an earlier attempt" and
adopted that channel: the next security incident went to the squatter. These tests play
the attack over the wire (the real app, real Redis, the fake Slack) and check that the
incident ends in a channel the bot created, of the right kind, holding only the people
the bot put there, while the legitimate retry still reuses the channel it recorded."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from bot.core.models import Incident
from bot.fakes.slack import Channel
from tests.integration.harness import Harness, eventually, start

TODAY = datetime.now(UTC).strftime("%Y%m%d")
SQUATTER = "U0DAVE"


@pytest.fixture
async def h(redis_url: str) -> AsyncIterator[Harness]:
    harness = await start(redis_url)
    # an install that has started already: squatters come later (at a first start, the
    # numbering would simply begin after the names Slack already holds)
    await harness.bot.services.incidents.identity.ensure()
    yield harness
    await harness.stop()


def squat(h: Harness, name: str) -> Channel:
    """Dave makes a public channel under `name` and invites the bot into it."""
    channel = h.fake.create_channel_as_user(SQUATTER, name)
    h.fake.invite_as_user(SQUATTER, channel.id, ["U0BOT"])
    return channel


async def declared(h: Harness, text: str, *, done: bool = True) -> Incident:
    """Declare by text; the new incident once set up (`done`), or once a step failed."""
    before = {i.id for i in await h.store.recent_incidents()}
    assert (await h.command(f"declare {text}")).status == 200

    async def new() -> Incident | None:
        for incident in await h.store.recent_incidents():
            if incident.id in before:
                continue
            if (not incident.setup_missing) if done else incident.setup_errors:
                return incident
        return None

    return await eventually(new)


async def set_up(h: Harness, incident_id: str) -> Incident:
    async def finished() -> Incident | None:
        incident = await h.store.get(incident_id)
        return incident if incident and not incident.setup_missing else None

    return await eventually(finished)


async def retry_setup(h: Harness, incident: Incident, user: str = "U0ALICE") -> None:
    """Click *Retry set-up* on the newest set-up failure notice: in the incident's channel,
    or the announce channel when it has none."""
    where = incident.channel_id or h.channel("incidents")
    notice = await eventually(
        lambda: next(
            (m for m in reversed(h.fake.messages[where]) if "set-up failed" in m.text), None
        )
    )
    assert (await h.fake.click(user, where, notice.ts, "incident_retry_setup")).status == 200


def untouched(h: Harness, squatted: Channel) -> None:
    """The bot did nothing in the squatter's channel, and nobody else was put in it."""
    assert [c.method for c in h.fake.calls if squatted.id in c.args.values()] == []
    assert h.fake.messages[squatted.id] == []
    assert squatted.members == {SQUATTER, "U0BOT"}


def own_channel(h: Harness, incident: Incident, *, private: bool) -> Channel:
    """The incident's channel: the bot created it, of the incident's kind, and its pinned
    card is there."""
    assert incident.channel_id
    channel = h.fake.channels[incident.channel_id]
    assert channel.creator == "U0BOT" and channel.is_private is private
    assert channel.name == incident.channel_name
    assert any(m.pinned for m in h.fake.messages[channel.id])
    return channel


async def test_a_member_naming_the_next_private_channel_first_does_not_receive_it(
    h: Harness,
) -> None:
    # the name a private incident's channel had until now: anyone could work it out
    squatted = squat(h, f"inc-{TODAY}-1-private")
    incident = await declared(h, "--private SEV1 Deploy key leaked in a gist")
    assert incident.private
    channel = own_channel(h, incident, private=True)
    assert channel.id != squatted.id and channel.members == {"U0BOT", "U0ALICE"}
    untouched(h, squatted)


async def test_a_taken_private_name_gets_a_fresh_private_channel(h: Harness) -> None:
    h.fake.fail("conversations.create", error="fatal_error")  # the first attempt fails
    incident = await declared(h, "--private SEV1 Deploy key leaked in a gist", done=False)
    assert incident.setup_errors == {"channel": "fatal_error"}
    # the name the retry will ask for is taken first (it is random: as if it had leaked)
    squatted = squat(h, incident.channel_name)
    await retry_setup(h, incident)
    incident = await set_up(h, incident.id)
    channel = own_channel(h, incident, private=True)
    assert channel.id != squatted.id and channel.name != squatted.name
    assert re.fullmatch(rf"inc-{incident.id}-private-[0-9a-f]{{10}}", channel.name)
    assert channel.members == {"U0BOT", "U0ALICE"}
    untouched(h, squatted)


async def test_making_private_never_moves_people_into_a_squatted_channel(h: Harness) -> None:
    incident = await declared(h, "SEV2 Suspicious admin logins")
    public = incident.channel_id
    assert public
    await h.fake.post_message("U0BOB", public, "looking at the auth logs")
    squatted = [squat(h, f"inc-{incident.id}-private")]  # the old, predictable name
    # the conversion stops before its channel is made; its chosen name is then taken too
    h.fake.fail("conversations.create", error="fatal_error")
    await h.command("private", channel=public)
    await eventually(lambda: [m for m in h.ephemerals() if "stopped at step channel" in m.text])
    stopped = await h.incident(incident.id)
    assert stopped.conversion is not None and stopped.channel_id == public
    squatted.append(squat(h, stopped.conversion.new_name))

    await h.command("private", channel=public)
    await eventually(lambda: [m for m in h.ephemerals() if "private now" in m.text])
    moved = await h.incident(incident.id)
    channel = own_channel(h, moved, private=True)
    assert channel.id not in {public, *(s.id for s in squatted)}
    assert channel.members == {"U0BOT", "U0ALICE", "U0BOB"}  # the public channel's people
    assert h.fake.channels[public].is_archived
    assert (await h.store.by_channel(channel.id)).id == incident.id  # type: ignore[union-attr]
    for s in squatted:
        untouched(h, s)


async def test_a_public_declare_on_a_squatted_name_gets_a_fresh_name(h: Harness) -> None:
    squatted = squat(h, f"inc-{TODAY}-1-checkout-api-returning-500s")
    incident = await declared(h, "SEV1 Checkout API returning 500s")
    channel = own_channel(h, incident, private=False)
    assert re.fullmatch(
        rf"inc-{incident.id}-checkout-api-returning-500s-[0-9a-f]{{6}}", channel.name
    )
    assert channel.members == {"U0BOT", "U0ALICE"}
    announce = h.fake.messages[h.channel("incidents")][-1]
    assert f"<#{channel.id}>" in str(announce.blocks)
    untouched(h, squatted)


async def test_a_set_up_retry_reuses_the_channel_it_recorded(h: Harness) -> None:
    h.fake.fail("conversations.invite", error="fatal_error")
    incident = await declared(h, "--private SEV1 Deploy key leaked in a gist", done=False)
    assert incident.setup_errors == {"invite": "fatal_error"} and incident.channel_id
    first = incident.channel_id
    await retry_setup(h, incident)
    incident = await set_up(h, incident.id)
    assert incident.channel_id == first
    assert own_channel(h, incident, private=True).members == {"U0BOT", "U0ALICE"}
    assert len(h.fake.calls_to("conversations.create")) == 1


async def test_a_channel_whose_answer_was_lost_is_found_as_the_bots_own(h: Harness) -> None:
    # Slack makes the channel but the bot gets an error: from the bot's side, the same as
    # a crash between Slack's answer and the record. The name was recorded before it was
    # asked for, and only the bot can make a channel whose creator is the bot: the retry
    # takes that one, and makes no second channel.
    h.fake.fail("conversations.create", error="fatal_error", took_effect=True)
    incident = await declared(h, "--private SEV1 Deploy key leaked in a gist", done=False)
    orphan = h.fake.channel_by_name(incident.channel_name)
    assert orphan is not None and incident.channel_id is None
    await retry_setup(h, incident)
    incident = await set_up(h, incident.id)
    channel = own_channel(h, incident, private=True)
    assert channel.id == orphan.id and channel.members == {"U0BOT", "U0ALICE"}
    made = [c.id for c in h.fake.channels.values() if c.creator == "U0BOT" and c.is_private]
    assert made == [channel.id]


async def test_two_retries_at_once_make_one_channel(h: Harness) -> None:
    h.fake.fail("conversations.create", error="fatal_error")
    incident = await declared(h, "SEV2 Search results empty", done=False)
    await asyncio.gather(retry_setup(h, incident), retry_setup(h, incident, "U0BOB"))
    incident = await set_up(h, incident.id)
    own_channel(h, incident, private=False)
    made = [c for c in h.fake.channels.values() if c.creator == "U0BOT"]
    assert [c.id for c in made] == [incident.channel_id]


async def test_private_channel_names_cannot_be_worked_out(h: Harness) -> None:
    names = [(await declared(h, f"--private SEV2 Phishing wave {n}")).channel_name for n in (1, 2)]
    parts = [re.fullmatch(rf"inc-{TODAY}-(\d+)-private-([0-9a-f]{{10}})", n) for n in names]
    assert all(parts), names
    numbers = [int(p.group(1)) for p in parts if p]
    tokens = {p.group(2) for p in parts if p}
    assert numbers == [1, 2] and len(tokens) == 2  # beyond the number, nothing in common
