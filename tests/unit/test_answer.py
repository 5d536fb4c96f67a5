"""Slack's requests are answered first: the answer goes back the moment a listener acks,
what the listener does after its ack waits for the other requests' answers, and so does
background work (bot/core/slack_transport.py `answer`, bot/core/activity.py `turn`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import fakeredis
import pytest
from aiohttp.test_utils import make_mocked_request
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.core import activity as activity_module
from bot.core.activity import Activity
from bot.core.slack import Slack
from bot.core.slack_transport import slack_events_route, tell_bolt_who_we_are
from bot.core.store import Store
from bot.fakes.slack import FakeSlack
from tests.conftest import serve_slack_events

SECRET = "answer-test-secret"


class Bot:
    def __init__(self, fake: FakeSlack, bolt: AsyncApp, activity: Activity) -> None:
        self.fake, self.bolt, self.activity = fake, bolt, activity
        self.steps: list[str] = []


@pytest.fixture
async def bot() -> AsyncIterator[Bot]:
    fake = FakeSlack(signing_secret=SECRET)
    await fake.start()
    client = AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)
    bolt = AsyncApp(client=client, signing_secret=SECRET, request_verification_enabled=False)
    await tell_bolt_who_we_are(bolt, Slack(client))
    activity = Activity()
    store = Store(fakeredis.FakeAsyncRedis(decode_responses=True))
    route = slack_events_route(bolt, signing_secret=SECRET, store=store, activity=activity)
    runner = await serve_slack_events(fake, route)
    try:
        yield Bot(fake, bolt, activity)
    finally:
        await runner.cleanup()
        await fake.stop()


async def test_the_answer_is_the_ack_and_the_listener_goes_on_after_it(bot: Bot) -> None:
    released, finished = asyncio.Event(), asyncio.Event()

    @bot.bolt.command("/incident")
    async def command(ack: Any) -> None:
        await ack(text="Declaring…")
        await released.wait()  # only once the test has the answer
        finished.set()

    answer = await bot.fake.slash_command("U0ALICE", "incidents", "/incident", "declare x")
    assert answer.status == 200 and answer.body == "Declaring…"
    assert not finished.is_set()
    released.set()
    await finished.wait()


async def test_a_listener_failing_before_its_ack_is_answered_500(bot: Bot) -> None:
    @bot.bolt.command("/incident")
    async def command(ack: Any) -> None:
        raise RuntimeError("broken before the ack")

    answer = await bot.fake.slash_command("U0ALICE", "incidents", "/incident", "declare x")
    assert answer.status == 500


async def test_what_a_listener_does_after_its_ack_waits_for_the_other_answers(
    bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(activity_module, "ANSWERS_FIRST", 60.0)  # no bound in this test
    after_ack = asyncio.Event()

    @bot.bolt.command("/incident")
    async def command(ack: Any) -> None:
        await ack()
        after_ack.set()

    with bot.activity.answering():  # another request still waits for its answer
        answer = await bot.fake.slash_command("U0ALICE", "incidents", "/incident", "declare x")
        assert answer.status == 200  # this one's went back at once
        assert not after_ack.is_set()  # what comes after its ack waits
    await after_ack.wait()  # and goes on once every request is answered


async def test_background_work_waits_its_turn_while_a_request_is_unanswered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    activity = Activity()
    await activity.turn()  # nobody waiting for an answer: at once
    monkeypatch.setattr(activity_module, "ANSWERS_FIRST", 60.0)
    with activity.answering():
        waiting = asyncio.ensure_future(activity.turn())
        with activity.answering():
            pass
        await asyncio.sleep(0)
        assert not waiting.done()  # one request still unanswered
    await waiting
    monkeypatch.setattr(activity_module, "ANSWERS_FIRST", 0.0)
    with activity.answering():
        await activity.turn()  # bounded: background work is never starved


async def test_a_request_trickling_in_unsigned_does_not_hold_background_work(
    bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only a signed request is waited for: a body sent a byte a minute (anyone can) is
    read before the request counts, so background work goes on meanwhile."""
    monkeypatch.setattr(activity_module, "ANSWERS_FIRST", 60.0)
    store = Store(fakeredis.FakeAsyncRedis(decode_responses=True))
    route = slack_events_route(bot.bolt, signing_secret=SECRET, store=store, activity=bot.activity)
    headers = {"X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": "v0=00"}
    request = make_mocked_request("POST", "/slack/events", headers=headers)
    reading, rest = asyncio.Event(), asyncio.Event()

    async def trickle() -> bytes:
        reading.set()
        await rest.wait()
        return b"command=%2Fincident"

    monkeypatch.setattr(request, "read", trickle)
    answer = asyncio.ensure_future(route(request))
    await reading.wait()  # the route waits for the body
    await asyncio.wait_for(bot.activity.turn(), 5)  # at once: nothing signed waits
    rest.set()
    assert (await answer).status == 401
