"""The sandbox's best demo: `/incident drill latency-spike fast` typed in the composer
plays the shipped scenario against the in-process fakes, and pages nobody."""

from __future__ import annotations

from bot.core.config import IncidentConfig
from tests.integration.harness import eventually, served_sandbox


async def test_a_fast_drill_plays_in_the_sandbox(redis_url: str) -> None:
    async with served_sandbox(redis_url, IncidentConfig()) as sandbox:
        slack = sandbox.slack
        general = sandbox.channel("general")
        await sandbox.compose(general, "/incident drill latency-spike fast")
        channel = await sandbox.appeared("drill-")

        def said(start: str) -> list[str]:
            return [m.text for m in slack.messages.get(channel, []) if m.text.startswith(start)]

        await eventually(lambda: said("Drill: "))
        assert "U0ALICE" in slack.channels[channel].members
        # 10 s and 40 s into the scenario, run ×10: the alert at 1 s, the message at 4 s
        await eventually(lambda: said("Alert HighLatency"))
        await eventually(lambda: said("Scenario update: Support"))
        incidents = sandbox.channel("incidents")
        assert any("[DRILL]" in m.text for m in slack.messages[incidents])
        assert sandbox.pd.incidents == {}
