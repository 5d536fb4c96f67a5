"""`/incident runbook [id]`, the checklist's controls, and the card's *Runbook* with its
picker (blocks/incident_controls.py). Ack first (DESIGN rule 1).

The checklist (blocks/runbooks.py): a tick on a group's checkboxes, a step's overflow menu
(I'm on it, Skip, Undo; Add a note opens a modal whose note lands on the timeline), a
phase's Show steps (its long form, to the clicker alone, whose buttons act as the menu
does and refresh that answer).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

import blocks.incident_controls as controls
import blocks.runbooks as ui
from blocks.mrkdwn import escape, md
from bot.core.models import Incident
from bot.core.slack import SlackError
from bot.incidents import IncidentError
from bot.runbooks.library import StepAction
from bot.services import Services
from handlers.parse import Command, one_id
from handlers.payloads import Action
from handlers.policy import (
    Click,
    Form,
    allowed,
    first_submission,
    form_payload,
    guarded,
    incident_in_value,
    incident_named,
    submitted,
)
from handlers.replies import ephemeral, refusal, reply, tell
from handlers.verbs import VerbContext, verb

log = logging.getLogger(__name__)

_ACTIONS: dict[str, StepAction] = {
    ui.ACTION_DONE: "done",
    ui.ACTION_SKIP: "skip",
    ui.ACTION_TAKE: "take",
    ui.ACTION_UNDO: "undo",
}
_MENU: dict[str, StepAction] = {"take": "take", "skip": "skip", "undo": "undo"}


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


async def _run_incident(svc: Services, run_id: str) -> Incident:
    incident_id = await svc.checklists.incident_of(run_id)
    if incident_id is None:
        raise IncidentError("That checklist no longer exists.")
    return await incident_named(svc, incident_id)


def _step(action: Action) -> tuple[str, str]:
    """Show steps and the long form's buttons: the value is `<run id>|<step or phase>`."""
    try:
        return ui.parse_step_value(action.value or "")
    except ValueError:
        raise IncidentError("That button no longer says which checklist it is for.") from None


async def _step_incident(svc: Services, action: Action) -> Incident:
    return await _run_incident(svc, _step(action)[0])


async def _ticked_incident(svc: Services, action: Action) -> Incident:
    return await _run_incident(svc, ui.action_key(action.action_id))


def _menu_choice(action: Action) -> tuple[str, str, str]:
    try:
        return ui.parse_menu_value(action.selected_option.value if action.selected_option else "")
    except ValueError:
        raise IncidentError("That menu no longer says which step it is for.") from None


async def _menu_incident(svc: Services, action: Action) -> Incident:
    return await _run_incident(svc, _menu_choice(action)[1])


async def _listed_incident(svc: Services, action: Action) -> Incident:
    incident_id, _ = ui.parse_list_value(action.value or "")
    return await incident_named(svc, incident_id)


def register(app: AsyncApp, svc: Services) -> None:
    @guarded(svc, "runbook", _step_incident, name="runbook step")
    async def step_clicked(click: Click) -> None:
        run_id, step_id = _step(click.action)
        kind = _ACTIONS[click.action.action_id.split(":", 1)[0]]
        await svc.checklists.click(run_id, step_id, kind, user=click.user)
        if click.payload.container.is_ephemeral:
            # the long form is the clicker's own answer: show them the click in it
            message = await svc.checklists.long_form_of(run_id, step_id)
            await click.respond(**reply(message), replace_original=True)

    for name in _ACTIONS:
        app.action(ui.action_pattern(name))(step_clicked)

    @app.action(ui.action_pattern(ui.ACTION_TICK))
    @guarded(svc, "runbook", _ticked_incident, name="runbook tick")
    async def step_ticked(click: Click) -> None:
        selected = click.action.ticked
        run_id = ui.action_key(click.action.action_id)
        block_id = click.action.block_id
        await svc.checklists.tick(run_id, block_id, selected, user=click.user)

    @app.action(ui.action_pattern(ui.ACTION_MENU))
    @guarded(svc, "runbook", _menu_incident, name="runbook menu")
    async def step_menu(click: Click) -> None:
        verb_, run_id, step_id = _menu_choice(click.action)
        if verb_ != "note":
            await svc.checklists.click(run_id, step_id, _MENU[verb_], user=click.user)
            return
        modal = await svc.checklists.note_form(run_id, step_id, channel=click.channel)
        try:
            await svc.slack.open_view(click.payload.trigger_id, modal)
        except SlackError as exc:
            log.warning("note modal did not open", extra={"error": exc.code})
            await tell(
                svc,
                click.channel,
                click.user,
                md(":warning: The form did not open; use `/incident note`."),
            )

    @app.action(ui.action_pattern(ui.ACTION_SHOW))
    @guarded(svc, "runbook", _step_incident, name="runbook steps")
    async def show_steps(click: Click) -> None:
        run_id, phase_id = _step(click.action)
        for message in await svc.checklists.long_form(run_id, phase_id):
            await click.respond(**ephemeral(message), replace_original=False)

    @app.view(ui.NOTE_CALLBACK)
    async def note_submitted(ack: AsyncAck, body: dict[str, Any]) -> None:
        submission = await form_payload(ack, body)
        if submission is None:
            return
        text = (submission.view.state.value("note") or "").strip()
        if not text:
            await ack(response_action="errors", errors={"note": "Say what to note."})
            return
        await ack()
        form = await first_submission(svc, submission)
        if form is None:
            return
        user, channel = form.user, form.channel
        try:
            incident = await incident_named(svc, str(form.meta.get("incident") or ""))
            if not await allowed(svc, "runbook", incident, user, channel):
                return
            # typed in a text input: plain text, nothing in it is a live mention
            about = form.meta.get("about")
            await svc.capture.note(incident, by=user, wire=escape(text), about=about)
        except IncidentError as exc:
            await tell(svc, channel, user, refusal(exc))
            return
        await tell(svc, channel, user, md(":memo: Noted on the incident's timeline."))

    @app.action(ui.action_pattern(ui.ACTION_POST))
    @guarded(svc, "runbook", _listed_incident)
    async def post_clicked(click: Click) -> None:
        assert click.incident is not None
        _, runbook_id = ui.parse_list_value(click.action.value or "")
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
        runbook_id = form.values.value(controls.RUNBOOK_FIELD) or ""
        if await allowed(svc, "runbook", form.incident, form.user, form.channel):
            await svc.checklists.post(form.incident, runbook_id, by=form.user)
