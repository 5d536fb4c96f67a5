"""The sandbox's Alerts panel: its buttons send Alertmanager webhooks to the bot's own
route, which declares, shows and resolves like a real Alertmanager's would; #alerts is
read as an alert channel."""

from __future__ import annotations

import json

import aiohttp

from bot.core.config import IncidentConfig
from bot.sandbox.alerts_panel import FIRE_ROUTE, POST_ROUTE
from bot.sandbox.web import sandbox_feed
from tests.integration.harness import eventually, metric, settled
from tests.sandbox_process import serve_sandbox

CONFIG = IncidentConfig.model_validate({"alerts": {"update_every": 0.2}})


async def test_the_alerts_panel_fires_and_resolves_a_demo_alert(redis_url: str) -> None:
    app, runner, url = await serve_sandbox(redis_url, CONFIG)
    feed = sandbox_feed(app)
    slack = feed.fake
    try:
        snapshot = await feed.snapshot(_viewer())
        panel = snapshot["panels"]["Alerts"]
        assert "ServiceDown" in panel and f'data-post="{FIRE_ROUTE}"' in panel
        assert "no rule: posted with a Declare button" in panel  # DiskAlmostFull

        async with aiohttp.ClientSession() as http:

            async def press(alert: str, status: str) -> dict[str, object]:
                body = {"alert": alert, "status": status, "user": "U0ALICE"}
                async with http.post(f"{url}{FIRE_ROUTE}", json=body) as r:
                    return dict(await r.json())

            answer = await press("ServiceDown", "firing")
            assert answer["ok"] is True and "HTTP 200" in str(answer["message"])
            channel = await eventually(
                lambda: next(
                    (c for c, ch in slack.channels.items() if "servicedown" in ch.name), None
                ),
            )

            def said(text: str) -> list[str]:
                return [
                    m.text + json.dumps(m.blocks)
                    for m in slack.messages.get(channel, [])
                    if text in m.text + json.dumps(m.blocks)
                ]

            await eventually(lambda: said("checkout is down"))
            await press("ServiceDown", "resolved")
            await eventually(lambda: said("Resolve incident"))
            assert (await press("Nope", "firing"))["ok"] is False

            # #alerts is an alert channel: Alertmanager's Slack notification is read there
            # when its app posts it, never when a person types it
            alerts = slack.channel_by_name("alerts")
            assert alerts is not None
            typed = {"user": "U0BOB", "channel": alerts.id, "text": "[FIRING:1] SlowResponse api"}
            async with http.post(f"{url}/sandbox/compose", json=typed) as r:
                assert (await r.json()) == {"ok": True}
            async with http.post(f"{url}{POST_ROUTE}", json={"alert": "HighCPU"}) as r:
                assert r.status == 400  # no status: says what to pick
            async with http.post(
                f"{url}{POST_ROUTE}", json={"alert": "HighCPU", "status": "firing"}
            ) as r:
                assert (await r.json())["ok"] is True
            [posted] = [m for m in slack.messages[alerts.id] if "HighCPU" in m.text]
            assert posted.bot_id and posted.user != "U0BOB"
            await eventually(lambda: any("highcpu" in ch.name for ch in slack.channels.values()))

            # the typed line was refused, so nothing of it was stored to declare later
            async def refused() -> bool:
                name = "incident_bot_alert_payloads_rejected_total"
                return await metric(url, name, reason="not_a_bot") == 1

            await eventually(refused)
            await settled()
            assert not any("slowresponse" in ch.name for ch in slack.channels.values())
    finally:
        await runner.cleanup()


def _viewer() -> object:
    from bot.sandbox.feed import Viewer

    return Viewer(ws=None, user="U0ALICE")  # type: ignore[arg-type]
