"""`/incident runbook [id]` and the checklist's buttons. Ack first (DESIGN rule 1)."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

import blocks.runbook as ui
from blocks.mrkdwn import escape
from bot.checklists import Checklists
from bot.incidents import IncidentError
from bot.models import Incident
from bot.runbooks import StepAction
from bot.services import Services
from handlers.parse import Command
from handlers.replies import answering, reply
from handlers.verbs import VerbContext, verb

_ACTIONS: dict[str, StepAction] = {
    ui.ACTION_DONE: "done",
    ui.ACTION_SKIP: "skip",
    ui.ACTION_TAKE: "take",
    ui.ACTION_UNDO: "undo",
}


def checklists(svc: Services) -> Checklists:
    if svc.checklists is None:
        raise IncidentError("Runbook checklists are not available in this build.")
    return svc.checklists


@verb("runbook", usage="/incident runbook [id]", in_incident=False)
async def runbook_verb(ctx: VerbContext) -> None:
    # the listing works anywhere; posting needs the incident channel
    await command(ctx.svc, ctx.cmd, ctx.incident, user=ctx.user, respond=ctx.respond)


async def command(
    svc: Services, cmd: Command, incident: Incident | None, *, user: str, respond: AsyncRespond
) -> None:
    """No id, or an unknown one: the ranked list (ephemeral). A known id: post it."""
    service = checklists(svc)
    if cmd.text in svc.runbooks:
        if incident is None:
            raise IncidentError(
                "`/incident runbook <id>` works inside an incident channel. Run it there, "
                "or see `/incident list` for the open incidents."
            )
        await service.post(incident, cmd.text, by=user)
        return
    note = f"No runbook {cmd.text}." if cmd.text else None
    blocks = ui.runbook_list(
        service.ranked(incident), incident_id=incident.id if incident else None, note=note
    )
    text = escape(note or "Runbooks")
    await respond(**reply((text, blocks), response_type="ephemeral", replace_original=False))


def register(app: AsyncApp, svc: Services) -> None:
    async def step_clicked(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond
    ) -> None:
        await ack()
        async with answering(respond, what="runbook step"):
            run_id, step_id = ui.parse_step_value(action.get("value", ""))
            kind = _ACTIONS[action["action_id"].split(":", 1)[0]]
            await checklists(svc).click(run_id, step_id, kind, user=body["user"]["id"])

    for name in _ACTIONS:
        app.action(ui.action_pattern(name))(step_clicked)

    @app.action(ui.action_pattern(ui.ACTION_POST))
    async def post_clicked(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond
    ) -> None:
        await ack()
        async with answering(respond, what="runbook post"):
            incident_id, runbook_id = ui.parse_list_value(action.get("value", ""))
            incident = await svc.store.get(incident_id)
            if incident is None:
                raise IncidentError(f"No incident {incident_id}.")
            await checklists(svc).post(incident, runbook_id, by=body["user"]["id"])
