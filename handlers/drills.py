"""`/incident drill [scenario] [fast]`, and the drill buttons (Start, Acknowledge page).
Ack first (DESIGN rule 1); the drill itself lives in bot/drills.py."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

import blocks.drills as ui
from bot.drills import Drills
from bot.incidents import IncidentError
from bot.services import Services
from handlers.parse import UsageError
from handlers.replies import answering, ephemeral
from handlers.verbs import VerbContext, verb


def drills(svc: Services) -> Drills:
    if svc.drills is None:
        raise IncidentError("Game-day drills are not available in this build.")
    return svc.drills


@verb("drill", usage=ui.USAGE, in_incident=False)
async def drill(ctx: VerbContext) -> None:
    """No scenario: the list (ephemeral). A scenario, optionally `fast`: start it."""
    service = drills(ctx.svc)
    words = ctx.cmd.text.split()
    if not words:
        await ctx.respond(**ephemeral(ui.scenario_list(service.listed(), fast=_fast(ctx.svc))))
        return
    fast = len(words) == 2 and words[1].lower() in ("fast", "--fast")
    if len(words) > 2 or (len(words) == 2 and not fast):
        raise UsageError("Give one scenario, then optionally `fast`.", "drill")
    name = words[0].lower()
    if name not in service.scenarios:
        known = ", ".join(sorted(service.scenarios)) or "none"
        raise UsageError(f"No drill scenario “{words[0]}”; scenarios: {known}.", "drill")
    incident = await service.start(name, by=ctx.user, fast=fast)
    await ctx.respond(**ephemeral(ui.started(incident)))


def _fast(svc: Services) -> float:
    return svc.config.drills.fast


def register(app: AsyncApp, svc: Services) -> None:
    @app.action(ui.START_PATTERN)
    async def start_clicked(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond
    ) -> None:
        await ack()
        async with answering(respond, what="drill start"):
            fast = action["action_id"].startswith(ui.ACTION_START_FAST)
            incident = await drills(svc).start(
                action.get("value", ""), by=body["user"]["id"], fast=fast
            )
            await respond(**ephemeral(ui.started(incident)), replace_original=False)

    @app.action(ui.ACTION_ACK)
    async def ack_clicked(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond
    ) -> None:
        await ack()
        async with answering(respond, what="drill ack"):
            await drills(svc).acknowledge(action.get("value", ""), by=body["user"]["id"])
