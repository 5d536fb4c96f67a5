"""Slack's payloads without what the bot needs, over the wire: a click, a form and a
command Slack sent malformed each get one clear sentence (never a trace, never a silent
nothing) and change nothing. The shapes themselves: tests/unit/test_payloads.py."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from blocks.incident import ACTION_RESOLVE, RESOLVE_CALLBACK, RESOLVE_SUMMARY
from tests.integration.harness import Harness, start
from tests.integration.test_card_controls import card, opened_form
from tests.integration.test_permissions import TOKEN, config, declare, told


@pytest.fixture
async def h(redis_url: str) -> AsyncIterator[Harness]:
    harness = await start(redis_url, config(), pagerduty=True, alertmanager_token=TOKEN)
    yield harness
    await harness.stop()


async def test_a_click_without_its_trigger_is_told_and_opens_nothing(h: Harness) -> None:
    incident = await declare(h, "SEV3 Exports slow")
    channel = incident.channel_id or ""
    ack = await h.fake.click(
        "U0ALICE", channel, card(h, incident).ts, ACTION_RESOLVE, without=("trigger_id",)
    )
    assert ack.status == 200  # acked first, as every click
    said = await told(h, "U0ALICE", "That click came without a trigger to open its form with")
    assert said.channel == channel and "Try it again." in said.text
    await h.settled()
    assert h.fake.views == {}
    assert (await h.incident(incident.id)).is_open


async def test_a_form_without_its_user_turns_into_the_sentence_and_changes_nothing(
    h: Harness,
) -> None:
    incident = await declare(h, "SEV3 Exports slow")
    channel = incident.channel_id or ""
    await h.fake.click("U0ALICE", channel, card(h, incident).ts, ACTION_RESOLVE)
    view_id = await opened_form(h, "U0ALICE", RESOLVE_CALLBACK)
    values = {RESOLVE_SUMMARY: {RESOLVE_SUMMARY: "Rolled back"}}
    ack = await h.fake.submit_view("U0ALICE", view_id, values, without=("user",))
    assert ack.status == 200 and not ack.errors
    # the form stays open, showing what happened instead of its inputs
    shown = h.fake.views[view_id]
    assert shown["title"]["text"] == "Not sent"
    assert "That form came without who sent it, so nothing was done." in str(shown["blocks"])
    await h.settled()
    assert (await h.incident(incident.id)).is_open


async def test_a_command_without_its_channel_is_answered_in_the_ack(h: Harness) -> None:
    general = h.channel("general")
    for command, text in (("/incident", "declare SEV2 Checkout down"), ("/oncall", "")):
        ack = await h.fake.slash_command("U0ALICE", general, command, text, without=("channel_id",))
        assert ack.status == 200
        assert "That command came without the channel it was typed in" in ack.body["text"]
    await h.settled()
    assert await h.store.open_incidents() == []
