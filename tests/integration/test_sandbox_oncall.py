"""The sandbox's fake PagerDuty: `/oncall` answers from its seed, and its side panel shows
the rota and incidents, with an Acknowledge button that acknowledges in the fake."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest
from aiohttp import web

from bot.core.config import IncidentConfig, PagerDutyConfig
from bot.fakes.pagerduty import FakePagerDuty
from bot.fakes.slack import FakeSlack
from bot.sandbox.pagerduty_panel import FAKE_PAGERDUTY, PANEL, demo_config
from bot.sandbox.web import sandbox_feed
from tests.integration.harness import eventually
from tests.sandbox_process import serve_sandbox


@dataclass
class Sandbox:
    url: str
    app: web.Application
    session: aiohttp.ClientSession

    @property
    def slack(self) -> FakeSlack:
        return sandbox_feed(self.app).fake

    @property
    def pd(self) -> FakePagerDuty:
        return self.app[FAKE_PAGERDUTY]

    async def post(self, path: str, body: dict) -> dict:
        async with self.session.post(self.url + path, json=body) as response:
            return dict(await response.json())


@pytest.fixture
async def sandbox(redis_url: str) -> AsyncIterator[Sandbox]:
    app, runner, url = await serve_sandbox(redis_url, IncidentConfig())
    async with aiohttp.ClientSession() as session:
        yield Sandbox(url, app, session)
    await runner.cleanup()


def test_demo_config_fills_only_what_the_user_left_out() -> None:
    mine = IncidentConfig(pagerduty=PagerDutyConfig(schedules={"ops": "PS_OPS"}))
    merged = demo_config(mine).pagerduty
    assert merged.schedules == {"ops": "PS_OPS"}
    assert (merged.service_id, merged.escalation_policy_id) == ("PSVC_MAIN", "PEP_MAIN")
    assert demo_config(IncidentConfig()).pagerduty.schedules == {
        "backend": "PS_BACKEND",
        "platform": "PS_PLATFORM",
    }


async def test_oncall_works_in_the_sandbox(sandbox: Sandbox) -> None:
    general = sandbox.slack.channel_by_name("general")
    assert general is not None
    sent = await sandbox.post(
        "/sandbox/compose", {"user": "U0ALICE", "channel": general.id, "text": "/oncall"}
    )
    assert sent == {"ok": True}
    answer = await eventually(
        lambda: next(
            (m for m in sandbox.slack.messages[general.id] if m.text == "On call now"), None
        )
    )
    assert answer.ephemeral_to == "U0ALICE"
    text = str(answer.blocks)
    assert "*Level 3* · targeted directly: <@U0DAVE> (always on call)" in text
    assert "*backend* · schedule Backend Primary" in text
    assert sandbox.pd.calls_to("GET", "/oncalls")  # through the mounted fake


async def test_the_panel_shows_the_rota_and_acknowledges(sandbox: Sandbox) -> None:
    feed = sandbox_feed(sandbox.app)
    panel = str(feed.panel_sources[PANEL]())
    assert "Backend escalation" in panel and "Dave Example" in panel
    assert "No PagerDuty incidents yet" in panel
    # an incident opened over the fake's REST API, as the bot pages
    async with sandbox.session.post(
        sandbox.pd.api_url + "/incidents",
        json={
            "incident": {
                "type": "incident",
                "title": "Checkout is down",
                "service": {"id": "PSVC_MAIN", "type": "service_reference"},
            }
        },
        headers={
            "Authorization": f"Token token={sandbox.pd.api_key}",
            "From": "alice@example.com",
        },
    ) as response:
        assert response.status == 201
        incident_id = (await response.json())["incident"]["id"]
    assert "Acknowledge</button>" in feed.panels[PANEL]  # pushed live
    result = await sandbox.post(
        "/sandbox/pagerduty/acknowledge", {"incident_id": incident_id, "user": "U0BOB"}
    )
    assert result["ok"] and result["message"].startswith("Acknowledged #1 as Bob Example")
    assert sandbox.pd.incidents[incident_id]["status"] == "acknowledged"
    assert "Acknowledge</button>" not in feed.panels[PANEL]
    # and the signed webhook went to the bot's /webhooks/pagerduty, as PagerDuty's would
    await sandbox.pd.drain()
    assert "incident.acknowledged" in [e for e, _ in sandbox.pd.webhook_deliveries]
