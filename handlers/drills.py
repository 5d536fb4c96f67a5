"""`/incident drill [scenario] [fast]`, and the drill buttons (Start, Acknowledge page).
Ack first (DESIGN rule 1); the drill itself lives in bot/drills/."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

import blocks.drills as ui
from bot.services import Services
from handlers.parse import UsageError
from handlers.policy import Click, guarded, incident_in_value
from handlers.replies import ephemeral
from handlers.verbs import VerbContext, verb


# starting one declares an incident: counted against the user's declare rate
@verb(
    "drill",
    usage=ui.USAGE,
    in_incident=False,
    action=lambda ctx: "declare" if ctx.cmd.text.split() else None,
)
async def drill(ctx: VerbContext) -> None:
    """No scenario: the list (ephemeral). A scenario, optionally `fast`: start it."""
    service = ctx.svc.drills
    words = ctx.cmd.text.split()
    if not words:
        await ctx.respond(**ephemeral(ui.scenario_list(service.listed(), fast=_fast(ctx.svc))))
        return
    fast = len(words) == 2 and words[1].lower() in ("fast", "--fast")
    if len(words) > 2 or (len(words) == 2 and not fast):
        raise UsageError("Give one scenario, then optionally `fast`.")
    name = words[0].lower()
    if name not in service.scenarios:
        known = ", ".join(sorted(service.scenarios)) or "none"
        raise UsageError(f"No drill scenario “{words[0]}”; scenarios: {known}.")
    incident = await service.start(name, by=ctx.user, fast=fast)
    await ctx.respond(**ephemeral(ui.started(incident)))


def _fast(svc: Services) -> float:
    return svc.config.drills.fast


def register(app: AsyncApp, svc: Services) -> None:
    @app.action(ui.START_PATTERN)
    @guarded(svc, "declare", None)
    async def start_clicked(click: Click) -> None:
        fast = click.action.action_id.startswith(ui.ACTION_START_FAST)
        incident = await svc.drills.start(click.action.value or "", by=click.user, fast=fast)
        await click.respond(**ephemeral(ui.started(incident)), replace_original=False)

    @app.action(ui.ACTION_ACK)
    @guarded(svc, "drill", incident_in_value)
    async def ack_clicked(click: Click) -> None:
        assert click.incident is not None
        await svc.drills.acknowledge(click.incident.id, by=click.user)
