"""`/incident runbook [id]`, the checklist's buttons, and the card's *Runbook* with its
picker (blocks/incident_controls.py). Ack first (DESIGN rule 1)."""

from __future__ import annotations

import json
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncRespond

import blocks.incident_controls as controls
import blocks.runbooks as ui
from blocks.mrkdwn import escape
from bot.core.models import Incident
from bot.incidents import IncidentError
from bot.runbooks.library import StepAction
from bot.services import Services
from handlers.parse import Command, one_id
from handlers.policy import (
    Click,
    Form,
    allowed,
    guarded,
    incident_in_value,
    incident_named,
    submitted,
)
from handlers.replies import reply
from handlers.verbs import VerbContext, verb

_ACTIONS: dict[str, StepAction] = {
    ui.ACTION_DONE: "done",
    ui.ACTION_SKIP: "skip",
    ui.ACTION_TAKE: "take",
    ui.ACTION_UNDO: "undo",
}


# posting one is working the incident's runbooks; the listing is open to all
@verb(
    "runbook",
    usage="/incident runbook [id]",
    in_incident=False,
    grammar=one_id,
    action=lambda ctx: "runbook" if ctx.cmd.text and ctx.incident else None,
)
async def runbook_verb(ctx: VerbContext) -> None:
    # the listing works anywhere; posting needs the incident channel
    await command(ctx.svc, ctx.cmd, ctx.incident, user=ctx.user, respond=ctx.respond)


async def command(
    svc: Services, cmd: Command, incident: Incident | None, *, user: str, respond: AsyncRespond
) -> None:
    """No id, or an unknown one: the ranked list (ephemeral). A known id: post it."""
    service = svc.checklists
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


async def _step_incident(svc: Services, action: dict[str, Any]) -> Incident:
    run_id, _ = ui.parse_step_value(action.get("value", ""))
    run = await svc.checklists.run(run_id)
    if run is None:
        raise IncidentError("That checklist no longer exists.")
    return await incident_named(svc, run.incident)


async def _listed_incident(svc: Services, action: dict[str, Any]) -> Incident:
    incident_id, _ = ui.parse_list_value(action.get("value", ""))
    return await incident_named(svc, incident_id)


def register(app: AsyncApp, svc: Services) -> None:
    @guarded(svc, "runbook", _step_incident, name="runbook step")
    async def step_clicked(click: Click) -> None:
        run_id, step_id = ui.parse_step_value(click.action.get("value", ""))
        kind = _ACTIONS[click.action["action_id"].split(":", 1)[0]]
        await svc.checklists.click(run_id, step_id, kind, user=click.user)

    for name in _ACTIONS:
        app.action(ui.action_pattern(name))(step_clicked)

    @app.action(ui.action_pattern(ui.ACTION_POST))
    @guarded(svc, "runbook", _listed_incident)
    async def post_clicked(click: Click) -> None:
        assert click.incident is not None
        _, runbook_id = ui.parse_list_value(click.action.get("value", ""))
        await svc.checklists.post(click.incident, runbook_id, by=click.user)

    # the card's Runbook: the picker, the runbooks that fit the incident best first
    @app.action(controls.ACTION_RUNBOOK)
    @guarded(svc, "runbook", incident_in_value)
    async def pick(click: Click) -> None:
        incident = click.incident
        assert incident is not None
        if not incident.is_open:
            raise IncidentError(f"Incident {incident.id} is resolved already.")
        if not svc.runbooks:
            raise IncidentError("No runbooks are loaded.")
        suggested, others = svc.checklists.suggested(incident)
        posted = await svc.checklists.posted(incident)
        meta = json.dumps({"incident": incident.id, "channel": click.channel})
        view = controls.runbook_modal(
            incident, suggested, others, posted=posted, private_metadata=meta
        )
        await click.open_form(view, instead="/incident runbook <id>")

    @app.view(controls.RUNBOOK_CALLBACK)
    @submitted(svc)
    async def picked(form: Form) -> None:
        field = form.values.get(controls.RUNBOOK_FIELD, {}).get(controls.RUNBOOK_FIELD) or {}
        runbook_id = str((field.get("selected_option") or {}).get("value") or "")
        if await allowed(svc, "runbook", form.incident, form.user, form.channel):
            await svc.checklists.post(form.incident, runbook_id, by=form.user)
