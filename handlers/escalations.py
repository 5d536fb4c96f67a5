"""`/incident escalations`: the escalation matrix's plan for this incident; the work is in
bot/escalations.py."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

import blocks.escalations as escalations_ui
from bot.services import Services
from handlers.parse import no_args
from handlers.replies import ephemeral
from handlers.verbs import VerbContext, verb


@verb("escalations", usage="/incident escalations", grammar=no_args)
async def escalations_verb(ctx: VerbContext) -> None:
    assert ctx.incident is not None
    rows = await ctx.svc.escalations.plan(ctx.incident)
    await ctx.respond(**ephemeral(escalations_ui.escalations(ctx.incident, rows, ctx.svc.config)))


def register(app: AsyncApp, svc: Services) -> None:
    """Nothing to wire: the verb above is marked for the registry (handlers/verbs.py)."""
