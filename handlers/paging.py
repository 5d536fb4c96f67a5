"""`/incident escalate`: page the next level now; the work is in bot/paging/ (PagerDuty
webhooks come in at bot/server.py's route and go to the same service)."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.services import Services
from handlers.parse import no_args
from handlers.verbs import VerbContext, verb


@verb("escalate", usage="/incident escalate", action="escalate", grammar=no_args)
async def escalate_verb(ctx: VerbContext) -> None:
    assert ctx.incident is not None
    await ctx.svc.pager.escalate_now(ctx.incident, by=ctx.user)


def register(app: AsyncApp, svc: Services) -> None:
    """Nothing to wire: the verb above is marked for the registry (handlers/verbs.py)."""
