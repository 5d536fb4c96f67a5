"""`/incident escalate` and the card's *Escalate*: page the next level now; the work is in
bot/paging/ (PagerDuty webhooks come in at bot/server.py's route and go to the same
service)."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from blocks.incident_controls import ACTION_ESCALATE
from bot.services import Services
from handlers.parse import no_args
from handlers.policy import Click, guarded, incident_in_value
from handlers.verbs import VerbContext, verb


@verb("escalate", usage="/incident escalate", action="escalate", grammar=no_args)
async def escalate_verb(ctx: VerbContext) -> None:
    assert ctx.incident is not None
    await ctx.svc.pager.escalate_now(ctx.incident, by=ctx.user)


def register(app: AsyncApp, svc: Services) -> None:
    """The card's *Escalate* (Slack asked its confirmation); the verb above is marked for
    the registry (handlers/verbs.py). A double click escalates once: `escalate_now` takes
    one request per page and level."""

    @app.action(ACTION_ESCALATE)
    @guarded(svc, "escalate", incident_in_value)
    async def escalate(click: Click) -> None:
        assert click.incident is not None
        await svc.pager.escalate_now(click.incident, by=click.user)
