"""The fake's Socket Mode speaks Slack's protocol over a real WebSocket.

A bare aiohttp WebSocket stands in for the app, so each test decides exactly what the app
acks and when; the URL comes from `apps.connections.open` through the real slack_sdk client.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.fakes.slack import FakeSlack


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    slack = FakeSlack()
    slack.transport = "socket"
    slack.ack_timeout = 1.0  # Slack's is 3 s; an app here acks in milliseconds
    await slack.start()
    yield slack
    await slack.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as http:
        yield http


async def open_url(fake: FakeSlack, token: str | None = None) -> str:
    client = AsyncWebClient(base_url=fake.api_url)
    try:
        response = await client.apps_connections_open(app_token=token or fake.app_token)
    finally:
        if client.session is not None:
            await client.session.close()
    return str(response["url"])


async def error_of(call: Awaitable[Any]) -> str:
    with pytest.raises(SlackApiError) as caught:
        await call
    return str(caught.value.response["error"])


async def connect(
    fake: FakeSlack, http: aiohttp.ClientSession
) -> tuple[aiohttp.ClientWebSocketResponse, dict[str, Any]]:
    ws = await http.ws_connect(await open_url(fake))
    return ws, await ws.receive_json()


async def acked_event(fake: FakeSlack, ws: aiohttp.ClientWebSocketResponse, event_id: str) -> None:
    """Send an event; the app on `ws` acks it."""
    sending = asyncio.create_task(fake.send_event({"type": "message"}, event_id=event_id))
    envelope = await ws.receive_json()
    assert envelope["payload"]["event_id"] == event_id
    await ws.send_json({"envelope_id": envelope["envelope_id"]})
    assert await sending == 200


async def test_the_url_needs_the_app_level_token_in_the_header(fake: FakeSlack) -> None:
    url = await open_url(fake)
    assert url.startswith(fake.base_url.replace("http", "ws", 1) + "link/?ticket=")
    assert await error_of(open_url(fake, fake.bot_token)) == "not_allowed_token_type"
    assert await error_of(open_url(fake, "xapp-1-A0FAKE-1-wrong")) == "invalid_auth"
    async with (
        aiohttp.ClientSession() as http,
        http.post(fake.api_url + "apps.connections.open", data={"token": fake.app_token}) as r,
    ):
        assert (await r.json())["error"] == "invalid_auth"  # an argument is not the header
    app_client = AsyncWebClient(token=fake.app_token, base_url=fake.api_url)
    try:
        assert await error_of(app_client.auth_test()) == "not_allowed_token_type"
    finally:
        if app_client.session is not None:
            await app_client.session.close()


async def test_hello_then_a_url_is_good_for_one_connection(
    fake: FakeSlack, session: aiohttp.ClientSession
) -> None:
    url = await open_url(fake)
    ws = await session.ws_connect(url)
    hello = await ws.receive_json()
    assert hello["type"] == "hello" and hello["num_connections"] == 1
    assert hello["connection_info"] == {"app_id": "A0FAKE"}
    assert hello["debug_info"]["approximate_connection_time"] == 3600
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await session.ws_connect(url)
    assert refused.value.status == 401
    await ws.close()


async def test_a_slash_commands_ack_payload_is_its_response(
    fake: FakeSlack, session: aiohttp.ClientSession
) -> None:
    ws, _ = await connect(fake, session)

    async def app() -> dict[str, Any]:
        envelope = await ws.receive_json()
        await ws.send_json({"envelope_id": envelope["envelope_id"], "payload": {"text": "On it"}})
        return dict(envelope)

    acking = asyncio.create_task(app())
    result = await fake.slash_command("U0ALICE", "general", "/incident", "help")
    envelope = await acking
    assert result.status == 200 and result.body == {"text": "On it"}
    assert (envelope["type"], envelope["accepts_response_payload"]) == ("slash_commands", True)
    assert envelope["payload"]["command"] == "/incident" and envelope["payload"]["text"] == "help"
    assert "retry_attempt" not in envelope
    [reply] = [m for m in fake.messages[fake.channel_by_name("general").id] if m.text == "On it"]  # type: ignore[union-attr]
    assert reply.ephemeral_to == "U0ALICE"
    await ws.close()


async def test_an_unacked_event_is_resent_three_times_and_a_command_never(
    fake: FakeSlack, session: aiohttp.ClientSession
) -> None:
    ws, _ = await connect(fake, session)
    fake.ack_timeout = 0.2  # nothing acks here: keep the wait short
    status = await fake.send_event({"type": "message", "text": "hi"}, event_id="Ev1")
    assert status == 0  # never acked
    sent = [await ws.receive_json() for _ in range(4)]
    assert [(e["retry_attempt"], e["retry_reason"]) for e in sent] == [
        (0, ""),
        (1, "timeout"),
        (2, "timeout"),
        (3, "timeout"),
    ]
    assert {e["payload"]["event_id"] for e in sent} == {"Ev1"}
    assert len({e["envelope_id"] for e in sent}) == 4
    assert not any(e["accepts_response_payload"] for e in sent)

    before = len(fake.socket_mode.envelopes)
    assert (await fake.slash_command("U0ALICE", "general", "/incident", "help")).status == 0
    assert len(fake.socket_mode.envelopes) == before + 1
    await ws.close()


async def test_a_lost_ack_means_a_resend_and_an_acked_one_returns(
    fake: FakeSlack, session: aiohttp.ClientSession
) -> None:
    ws, _ = await connect(fake, session)
    fake.socket_mode.lose_acks = 1

    async def app() -> list[dict[str, Any]]:
        got = []
        for _ in range(2):
            envelope = await ws.receive_json()
            got.append(envelope)
            # an event's ack carries no response: a payload here is dropped
            await ws.send_json({"envelope_id": envelope["envelope_id"], "payload": {"x": 1}})
        return got

    acking = asyncio.create_task(app())
    assert await fake.send_event({"type": "message", "text": "hi"}, event_id="Ev2") == 200
    assert [e["retry_attempt"] for e in await acking] == [0, 1]
    assert fake.socket_mode.problems == []
    await ws.close()


async def test_an_event_in_flight_when_the_connection_closes_comes_on_the_next(
    fake: FakeSlack, session: aiohttp.ClientSession
) -> None:
    fake.ack_timeout = 5.0  # the close, not the timeout, must cause the resend
    first, _ = await connect(fake, session)
    sending = asyncio.create_task(fake.send_event({"type": "message"}, event_id="Ev3"))
    assert (await first.receive_json())["retry_attempt"] == 0
    await first.close()
    second, _ = await connect(fake, session)
    again = await second.receive_json()
    assert (again["retry_attempt"], again["payload"]["event_id"]) == (1, "Ev3")
    await second.send_json({"envelope_id": again["envelope_id"]})
    assert await sending == 200
    await second.close()


async def test_disconnect_asks_the_app_to_reconnect_and_closes_the_old_one(
    fake: FakeSlack, session: aiohttp.ClientSession
) -> None:
    old, _ = await connect(fake, session)
    refreshing = asyncio.create_task(fake.socket_mode.disconnect("refresh_requested"))
    message = await old.receive_json()
    assert message == {
        "type": "disconnect",
        "reason": "refresh_requested",
        "debug_info": {"host": "applink-fake"},
    }
    new, hello = await connect(fake, session)
    await refreshing
    assert hello["type"] == "hello"
    assert (await old.receive()).type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    await acked_event(fake, new, "Ev4")  # what comes next goes to the new connection
    await new.close()


async def test_what_slack_would_not_accept_is_recorded(
    fake: FakeSlack, session: aiohttp.ClientSession
) -> None:
    ws, _ = await connect(fake, session)
    await ws.send_str("not json")
    await ws.send_str(json.dumps({"payload": {}}))
    await ws.send_str(json.dumps({"envelope_id": "never-sent"}))
    # frames are read in order: once an ack is through, all three arrived
    await acked_event(fake, ws, "Ev5")
    problems = fake.socket_mode.problems
    assert len(problems) == 3 and "not JSON" in problems[0]
    assert "without an envelope_id" in problems[1] and "never-sent" in problems[2]
    await ws.close()
