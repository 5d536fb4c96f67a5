"""`/incident followup …`, `/incident followups` and the follow-ups' **Done** buttons."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

import blocks.followups as ui
from bot.core.models import Incident
from bot.followups import DueDateError
from bot.incidents import IncidentError
from bot.services import Services
from handlers.parse import UsageError
from handlers.payloads import Action
from handlers.policy import Click, guarded, incident_named
from handlers.replies import ephemeral, reply
from handlers.verbs import VerbContext, verb

USAGE = "/incident followup <what needs doing> [@owner] [due: 2026-12-01|tomorrow|fri|in 3d]"


@verb("followup", usage=USAGE)
async def followup_verb(ctx: VerbContext) -> None:
    assert ctx.incident is not None
    try:
        await ctx.svc.followups.add(ctx.incident, by=ctx.user, text=ctx.cmd.wire)
    except DueDateError as exc:
        raise UsageError(str(exc)) from exc


@verb("followups", usage="/incident followups", in_incident=False)
async def followups_verb(ctx: VerbContext) -> None:
    found = await ctx.svc.followups.open_for(ctx.incident)
    await ctx.respond(**ephemeral(ui.followup_list(found, ctx.incident)))


async def _followup_incident(svc: Services, followup_id: str) -> Incident:
    followup = await svc.followups.get(followup_id)
    if followup is None:
        raise IncidentError("That follow-up no longer exists.")
    return await incident_named(svc, followup.incident_id)


async def _listed(svc: Services, action: Action) -> Incident:
    followup_id, _ = ui.parse_list_value(action.value or "")
    return await _followup_incident(svc, followup_id)


async def _reminded(svc: Services, action: Action) -> Incident:
    return await _followup_incident(svc, action.value or "")


def _closing(incident: Incident | None, _action: Action) -> str:
    """Closing a private incident's follow-up is its own permission."""
    return "close_private_followups" if incident is not None and incident.private else "followup"


def register(app: AsyncApp, svc: Services) -> None:
    # `/incident followups` lists every incident's follow-ups, in any channel
    @app.action(ui.ACTION_DONE_PATTERN)
    @guarded(svc, _closing, _listed, shown="anywhere")
    async def done_in_list(click: Click) -> None:
        followup_id, scope = ui.parse_list_value(click.action.value or "")
        await svc.followups.done(followup_id, by=click.user)
        incident = await svc.incidents.get(scope) if scope != ui.ALL else None
        found = await svc.followups.open_for(incident)
        text, blocks = ui.followup_list(found, incident)
        await click.respond(**reply((text, blocks), replace_original=True))

    # the owner's reminder, a DM
    @app.action(ui.ACTION_DONE_REMINDER)
    @guarded(svc, _closing, _reminded, shown="dm")
    async def done_in_reminder(click: Click) -> None:
        followup, _ = await svc.followups.done(click.action.value or "", by=click.user)
        text, blocks = ui.done_notice(followup)
        await click.respond(**reply((text, blocks), replace_original=True))
