"""How Slack's requests reach the bot, over the wire: Socket Mode through the fake's real
WebSocket, and signed HTTP on /slack/events attacked with replays and malformed bodies."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from blocks.alerts import ACTION_DECLARE
from bot.core.config import IncidentConfig
from bot.core.logs import quiet_unparsable_requests
from bot.core.models import Incident
from bot.fakes.slack import Message
from tests.integration.harness import Harness, eventually, start
from tests.integration.test_runbooks import run_bot


def config() -> IncidentConfig:
    return IncidentConfig.model_validate(
        {
            "alerts": {"channels": ["alerts"], "update_every": 0.2},
            "pagerduty": {"service_id": "PSVC_MAIN", "escalation_policy_id": "PEP_MAIN"},
            "scheduler": {"tick": 0.1, "retry": 0.1},
        }
    )


@pytest.fixture
async def socket(redis_url: str) -> AsyncIterator[Harness]:
    """SLACK_APP_TOKEN set, no SLACK_SIGNING_SECRET: everything comes over the WebSocket."""
    harness = await start(redis_url, config(), socket_mode=True)
    yield harness
    await harness.stop()


@pytest.fixture
async def http(redis_url: str) -> AsyncIterator[Harness]:
    harness = await start(redis_url, config(), pagerduty=True)
    yield harness
    await harness.stop()


async def incidents(h: Harness) -> list[Incident]:
    return list(reversed(await h.store.recent_incidents()))


async def declared(h: Harness, count: int) -> list[Incident]:
    async def check() -> list[Incident] | None:
        found = await incidents(h)
        return found if len(found) == count and all(i.channel_id for i in found) else None

    return await eventually(check, timeout=10)  # type: ignore[no-any-return]


def posted(h: Harness, channel: str, has: str) -> list[Message]:
    return [m for m in h.fake.messages.get(channel, []) if has in m.text + json.dumps(m.blocks)]


def alert_message(title: str, channel: str) -> dict[str, Any]:
    """Alertmanager's Slack notification, as the message event Slack sends."""
    return {
        "type": "message",
        "subtype": "bot_message",
        "bot_id": "B0ALERTMGR",
        "username": "Alertmanager",
        "channel": channel,
        "text": "",
        "ts": f"{time.time():.6f}",
        "attachments": [{"title": title, "text": "*service:* checkout", "fallback": title}],
    }


async def alerts_accepted(h: Harness) -> float:
    """incident_bot_alerts_received_total{source="slack"} from /metrics: an event acted on
    twice counts 2."""
    async with aiohttp.ClientSession() as session, session.get(f"{h.url}/metrics") as r:
        text = await r.text()
    for line in text.splitlines():
        if line.startswith('incident_bot_alerts_received_total{source="slack"}'):
            return float(line.split()[-1])
    return 0.0


def request_log(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """What serving requests logged: the HTTP server, Bolt and the Slack door (not the
    jobs of earlier tests' bots winding down on the shared loop)."""
    names = ("aiohttp", "slack_bolt", "slack_sdk", "bot.core.slack_transport", "bot.server")
    return [r for r in caplog.records if r.name.startswith(names)]


async def post_raw(
    h: Harness, body: bytes, headers: dict[str, str]
) -> tuple[int, dict[str, Any] | str]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{h.url}/slack/events", data=body, headers=headers) as response,
    ):
        text = await response.text()
        try:
            return response.status, json.loads(text)
        except ValueError:
            return response.status, text


# -- Socket Mode -------------------------------------------------------------------------------


async def test_over_socket_mode_a_command_an_event_and_a_click_all_work(socket: Harness) -> None:
    h = socket
    ack = await h.command("declare SEV2 Checkout API returning 500s")
    assert ack.status == 200
    [first] = await declared(h, 1)
    await eventually(lambda: [m for m in h.ephemerals() if "Declared" in m.text])

    # Alertmanager posts an alert no rule knows into #alerts: the Events API brings it
    alerts, announce = h.channel("alerts"), h.channel("incidents")
    event = alert_message("[FIRING:1] DiskAlmostFull checkout", alerts)
    assert await h.fake.send_event(event, event_id="EvDISK1") == 200
    [unmatched] = await eventually(lambda: posted(h, announce, "Unmatched alert"), timeout=10)
    # Slack delivers the same event again (retry_attempt 1): nothing new
    assert await h.fake.send_event(event, event_id="EvDISK1", retry_num=1) == 200
    retry = h.fake.socket_mode.envelopes[-1]
    assert (retry["type"], retry["retry_attempt"]) == ("events_api", 1)
    await eventually(h.bot.services.alerts.settled, timeout=10)
    assert await alerts_accepted(h) == 1

    gid = next(
        el["value"]
        for block in unmatched.blocks
        for el in block.get("elements", [])
        if el.get("action_id") == ACTION_DECLARE
    )
    ack = await h.fake.click("U0BOB", announce, unmatched.ts, ACTION_DECLARE, value=gid)
    assert ack.status == 200
    form = await eventually(lambda: next(iter(h.fake.views), None))  # filled in from the alert
    assert (await h.fake.submit_view("U0BOB", form, {})).status == 200
    found = await declared(h, 2)
    assert [i.alertname for i in found] == [None, "DiskAlmostFull"]
    assert found[1].declared_by == "U0BOB" and found[0].id == first.id
    assert len(posted(h, announce, "Unmatched alert")) == 1
    assert h.fake.socket_mode.problems == []
    assert not h.fake.sent  # not one HTTP request to the bot


async def test_socket_mode_keeps_working_across_reconnects(socket: Harness) -> None:
    h = socket
    sm = h.fake.socket_mode
    await h.command("declare SEV3 Before the refresh")
    await declared(h, 1)
    await sm.disconnect("warning")
    await sm.disconnect("refresh_requested")
    await h.command("declare SEV3 After the refresh")
    await declared(h, 2)
    await sm.drop()  # the network drops it without a word
    await h.command("list", user="U0BOB")
    listing = await eventually(
        lambda: [m for m in h.ephemerals("U0BOB") if "open incidents" in m.text]
    )
    assert "Open incidents (2)" in json.dumps(listing[0].blocks)
    assert "After the refresh" in json.dumps(listing[0].blocks)
    assert len(sm.connections) == 4 and len(sm.live()) == 1
    assert sm.problems == []


async def test_an_event_whose_ack_was_lost_is_redelivered_and_acted_on_once(
    socket: Harness,
) -> None:
    h = socket
    sm = h.fake.socket_mode
    h.fake.ack_timeout = 1.0  # how long the fake waits for an ack before resending
    sm.lose_acks = 1
    alerts = h.channel("alerts")
    firing = alert_message("[FIRING:1] DatabaseConnectionFailures db", alerts)
    assert await h.fake.send_event(firing, event_id="EvDB1") == 200
    first, again = sm.envelopes[:2]
    assert (first["retry_attempt"], again["retry_attempt"], again["retry_reason"]) == (
        0,
        1,
        "timeout",
    )
    assert {e["payload"]["event_id"] for e in sm.envelopes} == {"EvDB1"}
    await declared(h, 1)
    await eventually(h.bot.services.alerts.settled, timeout=10)
    assert len(await incidents(h)) == 1 and await alerts_accepted(h) == 1


async def test_without_a_signing_secret_slack_events_is_not_there(socket: Harness) -> None:
    h = socket
    body = b"command=%2Fincident&text=declare+SEV1+pwned&user_id=U0ALICE&team_id=T0FAKE"
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    assert (await post_raw(h, body, form))[0] == 404
    # signed with what Slack would have used: still nothing listens there
    assert (await post_raw(h, body, {**form, **h.fake.signed_headers(body)}))[0] == 404
    assert await incidents(h) == []
    await h.command("declare SEV3 The WebSocket still works")
    await declared(h, 1)


# -- HTTP: replays -----------------------------------------------------------------------------


async def test_a_replayed_signed_command_declares_and_pages_once(http: Harness) -> None:
    h = http
    assert h.pd is not None
    await h.command("declare SEV1 Checkout API returning 500s")
    [incident] = await declared(h, 1)
    await eventually(lambda: len(h.pd.incidents) == 1)  # type: ignore[union-attr]

    captured = h.fake.sent[-1]  # the request exactly as Slack sent it, signature and all
    status, answer = await post_raw(h, captured.body, captured.headers)
    assert status == 401 and answer == {"ok": False, "error": "replayed request"}
    # refused before Bolt: no work started that could still land
    assert [i.id for i in await incidents(h)] == [incident.id]

    await h.command("declare SEV1 Payments are failing too")  # a fresh, legitimate command
    await declared(h, 2)
    await eventually(lambda: len(h.pd.incidents) == 2)  # type: ignore[union-attr]
    assert len(await incidents(h)) == 2


# -- HTTP: signature first, then parsing -------------------------------------------------------

DEEP = b"[" * 100_000 + b"]" * 100_000
MALFORMED = {
    "deep JSON": (DEEP, "application/json"),
    "deep JSON payload": (b"payload=" + b"%5B" * 100_000, "application/x-www-form-urlencoded"),
    "JSON payload of the wrong shape": (b"payload=%5B1%5D", "application/x-www-form-urlencoded"),
    "invalid UTF-8": (b"command=%2Fincident&text=\xff\xfe", "application/x-www-form-urlencoded"),
    "broken JSON": (b'{"type": "event_callback", "event": {', "application/json"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
@pytest.mark.parametrize("signed", [False, True], ids=["unsigned", "signed"])
async def test_malformed_bodies_get_401_unsigned_and_400_signed_in_one_line(
    http: Harness, case: str, signed: bool, caplog: pytest.LogCaptureFixture
) -> None:
    h = http
    body, content_type = MALFORMED[case]
    headers = {"Content-Type": content_type}
    if signed:
        headers |= h.fake.signed_headers(body)
    caplog.set_level(logging.INFO)
    status, answer = await post_raw(h, body, headers)
    assert status == (400 if signed else 401)
    assert answer == {"ok": False, "error": "malformed request" if signed else "invalid request"}
    [line] = [r for r in request_log(caplog) if r.levelno >= logging.WARNING]
    assert line.name == "bot.core.slack_transport" and line.levelno == logging.WARNING
    assert not [r for r in request_log(caplog) if r.exc_info], "no traceback"
    assert await incidents(h) == []


async def test_a_huge_header_is_refused_in_one_line_signed_or_not(
    http: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    h = http
    quiet_unparsable_requests()  # as `python -m bot` sets its logging up
    caplog.set_level(logging.INFO)
    body = b"command=%2Fincident&text=declare+SEV3+huge&user_id=U0ALICE&channel_id=C1"
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    huge = "a" * 100_000
    # past the HTTP parser's limit: 400 before any route runs, signed or not
    assert (await post_raw(h, body, {**form, "X-Slack-Signature": "v0=" + huge}))[0] == 400
    signed = {**form, **h.fake.signed_headers(body)}
    assert (await post_raw(h, body, {**signed, "X-Padding": huge}))[0] == 400
    refused = [r for r in request_log(caplog) if r.levelno >= logging.WARNING]
    assert [(r.name, r.levelno) for r in refused] == [("aiohttp.server", logging.WARNING)] * 2
    # within it: an 8 KB signature is just a wrong one
    status, _ = await post_raw(h, body, {**form, "X-Slack-Signature": "v0=" + huge[:8000]})
    assert status == 401
    assert not [r for r in request_log(caplog) if r.exc_info], "no traceback"
    assert await incidents(h) == []


@pytest.mark.parametrize("secret", [None, "  "], ids=["unset", "blank"])
def test_http_mode_without_a_signing_secret_does_not_start(secret: str | None) -> None:
    env = {"SLACK_BOT_TOKEN": "xoxb-test", "PORT": "1"}
    if secret is not None:
        env["SLACK_SIGNING_SECRET"] = secret
    result = run_bot(env=env)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("Cannot start: set SLACK_SIGNING_SECRET")
    assert "blank value counts as unset" in result.stderr and "Traceback" not in result.stderr


async def test_bolt_knows_the_bot_before_the_first_request(redis_url: str) -> None:
    """The first request after start-up does not run `auth.test` before its ack: a slow
    or rate-limited Slack would otherwise push that ack past Slack's 3 s."""
    h = await start(redis_url)
    try:
        await eventually(lambda: h.bot.services.slack.known_bot_user)
        asked = len(h.fake.calls_to("auth.test"))
        h.fake.fail("auth.test", status=429, retry_after=30, times=100)
        ack = await h.command("declare SEV2 Search is slow")
        assert ack.status == 200
        await eventually(lambda: h.fake.calls_to("pins.add"))
        assert len(h.fake.calls_to("auth.test")) == asked
    finally:
        await h.stop()
