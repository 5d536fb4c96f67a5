"""`/incident escalations`: the escalation matrix's plan for this incident; the work is in
bot/escalations.py."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

import blocks.escalations as escalations_ui
from bot.escalations import Escalations
from bot.services import Services
from handlers.parse import no_args
from handlers.replies import ephemeral
from handlers.verbs import VerbContext, verb


def _escalations(svc: Services) -> Escalations:
    assert svc.escalations is not None, "build() sets Services.escalations"
    return svc.escalations


@verb("escalations", usage="/incident escalations", grammar=no_args)
async def escalations_verb(ctx: VerbContext) -> None:
    assert ctx.incident is not None
    rows = await _escalations(ctx.svc).plan(ctx.incident)
    await ctx.respond(**ephemeral(escalations_ui.escalations(ctx.incident, rows, ctx.svc.config)))


def register(app: AsyncApp, svc: Services) -> None:
    """Nothing to wire: the verb above is marked for the registry (handlers/verbs.py)."""
