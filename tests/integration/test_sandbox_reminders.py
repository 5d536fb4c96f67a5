"""Reminders and paging in the sandbox: a SEV1 typed into the page pages the sandbox's fake
PagerDuty, its update reminder comes with working buttons, and acknowledging in the
PagerDuty panel reaches the bot as a signed webhook."""

from __future__ import annotations

from bot.core.config import IncidentConfig
from bot.sandbox.pagerduty_panel import ACK_ROUTE
from tests.integration.harness import eventually, served_sandbox

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
    async with served_sandbox(redis_url, CONFIG) as sandbox:
        slack, pd = sandbox.slack, sandbox.pd
        channel = await sandbox.declare("SEV1 Down")
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
        assert await sandbox.post("/sandbox/click", body) == {"ok": True}
        await eventually(
            lambda: (
                "snoozed by <@U0ALICE>" in (slack.message(channel, reminder.ts) or reminder).text
            )
        )
        # Acknowledge in the PagerDuty panel: the fake sends the signed webhook
        [incident] = pd.incidents.values()
        acked = await sandbox.post(ACK_ROUTE, {"incident_id": incident["id"], "user": "U0BOB"})
        assert acked["ok"] is True
        [note] = await eventually(
            lambda: [m for m in slack.messages[channel] if "acknowledged the page" in m.text]
        )
        assert note.text.startswith(":white_check_mark: Bob Example acknowledged")
        assert ("incident.acknowledged", 200) in pd.webhook_deliveries
