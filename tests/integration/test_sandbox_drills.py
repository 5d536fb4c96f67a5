"""The sandbox's best demo: `/incident drill latency-spike fast` typed in the composer
plays the shipped scenario against the in-process fakes, and pages nobody."""

from __future__ import annotations

import aiohttp

from bot.core.config import IncidentConfig
from bot.sandbox.pagerduty_panel import FAKE_PAGERDUTY
from bot.sandbox.web import sandbox_feed
from tests.integration.harness import eventually
from tests.sandbox_process import serve_sandbox


async def test_a_fast_drill_plays_in_the_sandbox(redis_url: str) -> None:
    app, runner, url = await serve_sandbox(redis_url, IncidentConfig())
    slack = sandbox_feed(app).fake
    general = slack.channel_by_name("general")
    assert general is not None
    try:
        async with aiohttp.ClientSession() as http:
            body = {
                "user": "U0ALICE",
                "channel": general.id,
                "text": "/incident drill latency-spike fast",
            }
            async with http.post(f"{url}/sandbox/compose", json=body) as r:
                assert (await r.json()) == {"ok": True}
        channel = await eventually(
            lambda: next(
                (c for c, ch in slack.channels.items() if ch.name.startswith("drill-")), None
            ),
        )

        def said(start: str) -> list[str]:
            return [m.text for m in slack.messages.get(channel, []) if m.text.startswith(start)]

        await eventually(lambda: said("Drill: "))
        assert "U0ALICE" in slack.channels[channel].members
        # 10 s and 40 s into the scenario, run ×10: the alert at 1 s, the message at 4 s
        await eventually(lambda: said("Alert HighLatency"))
        await eventually(lambda: said("Scenario update: Support"))
        incidents = slack.channel_by_name("incidents")
        assert incidents is not None
        assert any("[DRILL]" in m.text for m in slack.messages[incidents.id])
        assert app[FAKE_PAGERDUTY].incidents == {}
    finally:
        await runner.cleanup()
