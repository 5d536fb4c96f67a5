"""The sandbox's fake PagerDuty: `/oncall` answers from its seed, and its side panel shows
the rota and incidents, with an Acknowledge button that acknowledges in the fake."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.core.config import IncidentConfig, PagerDutyConfig
from bot.sandbox.pagerduty_panel import PANEL, demo_config
from bot.sandbox.web import sandbox_feed
from tests.integration.harness import ServedSandbox, eventually, served_sandbox


@pytest.fixture
async def sandbox(redis_url: str) -> AsyncIterator[ServedSandbox]:
    async with served_sandbox(redis_url, IncidentConfig()) as served:
        yield served


def test_demo_config_fills_only_what_the_user_left_out() -> None:
    mine = IncidentConfig(pagerduty=PagerDutyConfig(schedules={"ops": "PS_OPS"}))
    merged = demo_config(mine).pagerduty
    assert merged.schedules == {"ops": "PS_OPS"}
    assert (merged.service_id, merged.escalation_policy_id) == ("PSVC_MAIN", "PEP_MAIN")
    assert demo_config(IncidentConfig()).pagerduty.schedules == {
        "backend": "PS_BACKEND",
        "platform": "PS_PLATFORM",
    }


async def test_oncall_works_in_the_sandbox(sandbox: ServedSandbox) -> None:
    general = sandbox.channel("general")
    await sandbox.compose(general, "/oncall")
    answer = await eventually(
        lambda: next((m for m in sandbox.slack.messages[general] if m.text == "On call now"), None)
    )
    assert answer.ephemeral_to == "U0ALICE"
    text = str(answer.blocks)
    assert "*Level 3* · targeted directly: <@U0DAVE> (always on call)" in text
    assert "*backend* · schedule Backend Primary" in text
    assert sandbox.pd.calls_to("GET", "/oncalls")  # through the mounted fake


async def test_the_panel_shows_the_rota_and_acknowledges(sandbox: ServedSandbox) -> None:
    feed = sandbox_feed(sandbox.app)
    panel = str(feed.panel_sources[PANEL]())
    assert "Backend escalation" in panel and "Dave Example" in panel
    assert "No PagerDuty incidents yet" in panel
    # an incident opened over the fake's REST API, as the bot pages
    async with sandbox.http.post(
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
