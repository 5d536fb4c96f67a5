"""The sandbox runs a demo procedure (its config names none): `/incident procedure` typed
into the page shows the demo's escalation steps and stakeholder audience at demo scale,
and the escalation matrix of a declared incident is already counting down."""

from __future__ import annotations

from collections.abc import Awaitable

from redis.asyncio import Redis

from bot.core.config import IncidentConfig
from bot.core.store import SANDBOX_PREFIX, Store
from bot.escalations import STEP
from bot.sandbox.render import RenderContext, render_blocks
from bot.stakeholders import DUE
from tests.integration.harness import eventually, served_sandbox


async def test_the_sandbox_shows_its_demo_procedure(redis_url: str) -> None:
    async with served_sandbox(redis_url, IncidentConfig()) as sandbox:
        slack = sandbox.slack
        channel = await sandbox.declare("Search is slow")
        await sandbox.compose(channel, "/incident procedure")
        answer = await eventually(
            lambda: next(
                (m for m in slack.messages[channel] if "Incident procedure" in m.text), None
            )
        )
        shown = render_blocks(answer.blocks, RenderContext(users={"U0BOB": "bob"}))
        assert "Team lead (demo: after 2 min)" in shown
        assert "Engineering managers (demo: after 4 min)" in shown
        assert "management" in shown and "(first after 1 min)" in shown
        # the demo matrix's two steps and the management reminder are counting down
        redis = Redis.from_url(redis_url, decode_responses=True)
        try:
            store = Store(redis, prefix=SANDBOX_PREFIX)

            async def counting() -> list[str]:
                incident = await store.by_channel(channel)
                assert incident is not None
                pending = await store.due_pending(incident.id)
                return sorted(i.kind for i in pending if i.kind in (STEP, DUE))

            await eventually(lambda: _equal(counting(), [STEP, STEP, DUE]))
        finally:
            await redis.aclose()


async def _equal(value: Awaitable[list[str]], expected: list[str]) -> bool:
    return await value == expected
