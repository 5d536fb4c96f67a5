"""`/incident private`: make the incident private (bot/privacy.py), in its channel."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

import blocks.privacy as ui
from bot.services import Services
from handlers.parse import no_args
from handlers.replies import ephemeral
from handlers.verbs import VerbContext, verb

USAGE = "/incident private   (move the incident to a private channel, redacted elsewhere)"


@verb("private", usage=USAGE, grammar=no_args)
async def make_private(ctx: VerbContext) -> None:
    assert ctx.incident is not None
    incident = await ctx.svc.privacy.make_private(ctx.incident, by=ctx.user)
    await ctx.respond(**ephemeral(ui.made_private(incident)))


def register(app: AsyncApp, svc: Services) -> None:
    """Nothing to wire: the verb above is marked for the registry (handlers/verbs.py)."""
