"""Reminders and paging in the sandbox: a SEV1 typed into the page pages the sandbox's fake
PagerDuty, its update reminder comes with working buttons, and acknowledging in the
PagerDuty panel reaches the bot as a signed webhook."""

from __future__ import annotations

import aiohttp

from bot.core.config import IncidentConfig
from bot.sandbox.pagerduty_panel import ACK_ROUTE, FAKE_PAGERDUTY
from bot.sandbox.web import sandbox_feed
from tests.integration.harness import eventually
from tests.sandbox_process import serve_sandbox

CONFIG = IncidentConfig.model_validate(
    {
        "severities": [
            {"name": "SEV1", "label": "Critical", "update_every": "2s", "page": True},
            {"name": "SEV2", "label": "High", "update_every": "1h"},
        ],
        "escalation": {"ack_timeout": "1h"},
        "scheduler": {"tick": 0.1},
    }
)


async def test_a_sev1_in_the_sandbox_pages_reminds_and_hears_the_acknowledgement(
    redis_url: str,
) -> None:
    app, runner, url = await serve_sandbox(redis_url, CONFIG)
    slack, pd = sandbox_feed(app).fake, app[FAKE_PAGERDUTY]
    try:
        general = slack.channel_by_name("general")
        assert general is not None
        async with aiohttp.ClientSession() as http:
            body = {"user": "U0ALICE", "channel": general.id, "text": "/incident declare SEV1 Down"}
            async with http.post(f"{url}/sandbox/compose", json=body) as r:
                assert (await r.json()) == {"ok": True}
            channel = await eventually(
                lambda: next((c for c, ch in slack.channels.items() if "-down" in ch.name), None)
            )
            await eventually(lambda: [m for m in slack.messages[channel] if "Paged" in m.text])
            reminder = await eventually(
                lambda: next((m for m in slack.messages[channel] if "is due" in m.text), None),
            )
            # the reminder's Snooze button works from the page (for Alice, the commander)
            body = {
                "user": "U0ALICE",
                "channel": channel,
                "ts": reminder.ts,
                "action_id": "reminder_snooze",
                "value": reminder.blocks[1]["elements"][1]["value"],
            }
            async with http.post(f"{url}/sandbox/click", json=body) as r:
                assert (await r.json()) == {"ok": True}
            await eventually(
                lambda: (
                    "snoozed by <@U0ALICE>"
                    in (slack.message(channel, reminder.ts) or reminder).text
                )
            )
            # Acknowledge in the PagerDuty panel: the fake sends the signed webhook
            [incident] = pd.incidents.values()
            async with http.post(
                f"{url}{ACK_ROUTE}", json={"incident_id": incident["id"], "user": "U0BOB"}
            ) as r:
                assert (await r.json())["ok"] is True
            [note] = await eventually(
                lambda: [m for m in slack.messages[channel] if "acknowledged the page" in m.text]
            )
            assert note.text.startswith(":white_check_mark: Bob Example acknowledged")
            assert ("incident.acknowledged", 200) in pd.webhook_deliveries
    finally:
        await runner.cleanup()
