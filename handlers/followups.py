"""`/incident followup …`, `/incident followups` and the follow-ups' **Done** buttons."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

import blocks.followups as ui
from bot.followups import DueDateError, FollowUps
from bot.incidents import IncidentError
from bot.services import Services
from handlers.parse import UsageError
from handlers.replies import answering, ephemeral, reply
from handlers.verbs import VerbContext, verb

USAGE = "/incident followup <what needs doing> [@owner] [due: 2026-12-01|tomorrow|fri|in 3d]"


def followups(svc: Services) -> FollowUps:
    if svc.followups is None:
        raise IncidentError("Follow-ups are not available in this build.")
    return svc.followups


@verb("followup", usage=USAGE)
async def followup_verb(ctx: VerbContext) -> None:
    assert ctx.incident is not None
    try:
        await followups(ctx.svc).add(ctx.incident, by=ctx.user, text=ctx.cmd.wire)
    except DueDateError as exc:
        raise UsageError(str(exc), "followup") from exc


@verb("followups", usage="/incident followups", in_incident=False)
async def followups_verb(ctx: VerbContext) -> None:
    found = await followups(ctx.svc).open_for(ctx.incident)
    await ctx.respond(**ephemeral(ui.followup_list(found, ctx.incident)))


def register(app: AsyncApp, svc: Services) -> None:
    @app.action(ui.ACTION_DONE_PATTERN)
    async def done_in_list(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond
    ) -> None:
        await ack()
        async with answering(respond, what="followup done"):
            followup_id, scope = ui.parse_list_value(action.get("value", ""))
            await followups(svc).done(followup_id, by=body["user"]["id"])
            incident = await svc.store.get(scope) if scope != ui.ALL else None
            found = await followups(svc).open_for(incident)
            text, blocks = ui.followup_list(found, incident)
            await respond(**reply((text, blocks), replace_original=True))

    @app.action(ui.ACTION_DONE_REMINDER)
    async def done_in_reminder(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond
    ) -> None:
        await ack()
        async with answering(respond, what="followup done"):
            followup, _ = await followups(svc).done(action.get("value", ""), by=body["user"]["id"])
            text, blocks = ui.done_notice(followup)
            await respond(**reply((text, blocks), replace_original=True))
