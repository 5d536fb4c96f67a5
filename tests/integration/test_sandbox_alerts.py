"""The sandbox's Alerts panel: its buttons send Alertmanager webhooks to the bot's own
route, which declares, shows and resolves like a real Alertmanager's would; #alerts is
read as an alert channel."""

from __future__ import annotations

import json

from bot.core.config import IncidentConfig
from bot.sandbox.alerts_panel import FIRE_ROUTE, POST_ROUTE
from bot.sandbox.web import sandbox_feed
from tests.integration.harness import eventually, metric, served_sandbox, settled

CONFIG = IncidentConfig.model_validate({"alerts": {"update_every": 0.2}})


async def test_the_alerts_panel_fires_and_resolves_a_demo_alert(redis_url: str) -> None:
    async with served_sandbox(redis_url, CONFIG) as sandbox:
        slack = sandbox.slack
        snapshot = await sandbox_feed(sandbox.app).snapshot(_viewer())
        panel = snapshot["panels"]["Alerts"]
        assert "ServiceDown" in panel and f'data-post="{FIRE_ROUTE}"' in panel
        assert "no rule: posted with a Declare button" in panel  # DiskAlmostFull

        async def press(alert: str, status: str, *, answer: int = 200) -> dict[str, object]:
            body = {"alert": alert, "status": status, "user": "U0ALICE"}
            return await sandbox.post(FIRE_ROUTE, body, status=answer)

        answer = await press("ServiceDown", "firing")
        assert answer["ok"] is True and "HTTP 200" in str(answer["message"])
        channel = await sandbox.appeared("servicedown")

        def said(text: str) -> list[str]:
            return [
                m.text + json.dumps(m.blocks)
                for m in slack.messages.get(channel, [])
                if text in m.text + json.dumps(m.blocks)
            ]

        await eventually(lambda: said("checkout is down"))
        await press("ServiceDown", "resolved")
        await eventually(lambda: said("Resolve incident"))
        assert (await press("Nope", "firing", answer=400))["ok"] is False

        # #alerts is an alert channel: Alertmanager's Slack notification is read there
        # when its app posts it, never when a person types it
        alerts = sandbox.channel("alerts")
        await sandbox.compose(alerts, "[FIRING:1] SlowResponse api", user="U0BOB")
        await sandbox.post(POST_ROUTE, {"alert": "HighCPU"}, status=400)  # says what to pick
        posting = await sandbox.post(POST_ROUTE, {"alert": "HighCPU", "status": "firing"})
        assert posting["ok"] is True
        [posted] = [m for m in slack.messages[alerts] if "HighCPU" in m.text]
        assert posted.bot_id and posted.user != "U0BOB"
        await eventually(lambda: any("highcpu" in ch.name for ch in slack.channels.values()))

        # the typed line was refused, so nothing of it was stored to declare later
        async def refused() -> bool:
            name = "incident_bot_alert_payloads_rejected_total"
            return await metric(sandbox.url, name, reason="not_a_bot") == 1

        await eventually(refused)
        await settled()
        assert not any("slowresponse" in ch.name for ch in slack.channels.values())


def _viewer() -> object:
    from bot.sandbox.feed import Viewer

    return Viewer(ws=None, user="U0ALICE")  # type: ignore[arg-type]
