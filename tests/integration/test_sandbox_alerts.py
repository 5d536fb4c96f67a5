"""The sandbox's Alerts panel: its buttons send Alertmanager webhooks to the bot's own
route, which declares, shows and resolves like a real Alertmanager's would; #alerts is
read as an alert channel."""

from __future__ import annotations

import json

import aiohttp
from aiohttp import web

from bot.config import IncidentConfig, Settings
from bot.sandbox import build_sandbox
from bot.sandbox.alerts_panel import FIRE_ROUTE
from bot.sandbox.web import sandbox_feed
from tests.conftest import free_port
from tests.integration.harness import eventually

CONFIG = IncidentConfig.model_validate({"alerts": {"update_every": 0.2}})


async def test_the_alerts_panel_fires_and_resolves_a_demo_alert(redis_url: str) -> None:
    port = free_port()
    app = build_sandbox(Settings(redis_url=redis_url, port=port), CONFIG, port=port)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    url = f"http://127.0.0.1:{port}"
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

            # #alerts is an alert channel: Alertmanager's Slack title is read there too
            alerts = slack.channel_by_name("alerts")
            assert alerts is not None
            body = {"user": "U0BOB", "channel": alerts.id, "text": "[FIRING:1] HighCPU web"}
            async with http.post(f"{url}/sandbox/compose", json=body) as r:
                assert (await r.json()) == {"ok": True}
            await eventually(lambda: any("highcpu" in ch.name for ch in slack.channels.values()))
    finally:
        await runner.cleanup()


def _viewer() -> object:
    from bot.sandbox.web import Viewer

    return Viewer(ws=None, user="U0ALICE")  # type: ignore[arg-type]
