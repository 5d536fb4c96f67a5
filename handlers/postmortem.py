"""`/incident postmortem [done]` and the post-mortem buttons. Ack first (DESIGN rule 1);
the work is in bot/postmortem.py."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

import blocks.postmortem as ui
from bot.core.slack import SlackError
from bot.incidents import IncidentError
from bot.services import Services
from handlers.parse import UsageError
from handlers.policy import Click, guarded, incident_in_value
from handlers.verbs import VerbContext, verb


@verb("postmortem", usage="/incident postmortem [done]")
async def postmortem_verb(ctx: VerbContext) -> None:
    assert ctx.incident is not None
    arg = ctx.cmd.text.strip().lower()
    if arg == "done":
        await ctx.svc.postmortems.mark_done(ctx.incident.id, by=ctx.user)
        return
    if arg:
        problem = f"“{ctx.cmd.text.strip()}” is not something postmortem takes."
        raise UsageError(problem)
    try:
        await ctx.svc.postmortems.draft(ctx.incident, by=ctx.user)
    except SlackError as exc:
        raise IncidentError(f"Slack would not take the draft ({exc.code}); try again.") from exc


def register(app: AsyncApp, svc: Services) -> None:
    @app.action(ui.ACTION_DONE)
    @guarded(svc, "postmortem", incident_in_value)
    async def done_clicked(click: Click) -> None:
        assert click.incident is not None
        await svc.postmortems.mark_done(click.incident.id, by=click.user)

    @app.action(ui.ACTION_DRAFT)
    @guarded(svc, "postmortem", incident_in_value)
    async def draft_clicked(click: Click) -> None:
        assert click.incident is not None
        try:
            await svc.postmortems.draft(click.incident, by=click.user)
        except SlackError as exc:
            raise IncidentError(f"Slack would not take the draft ({exc.code}); try again.") from exc
