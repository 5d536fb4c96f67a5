"""Buttons and modals of the incident lifecycle: the declare form (and `read_declare_form`,
which every declare form's submission goes through), *Retry set-up*, and the card's
*Severity* select, *Resolve*, *Roles* and their forms (blocks/incident_controls.py). The
card's other controls are handled beside the command or button they stand for: *Take
command* in handlers/policy.py, *Post update* in handlers/reminders.py, *Runbook* in
handlers/runbooks.py, *Escalate* in handlers/paging.py."""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

import blocks.incident as ui
import blocks.incident_controls as controls
import blocks.policy as policy_ui
from blocks.mrkdwn import Mrkdwn
from blocks.privacy import PRIVATE_FIELD
from bot.core.errors import STORE_ERRORS
from bot.core.models import Incident
from bot.core.policy import role_action, severity_action
from bot.core.slack import SlackError
from bot.incidents import AlreadyDeclaring, IncidentError, SetupBusy
from bot.services import Services
from handlers.payloads import Action, State
from handlers.policy import (
    Click,
    Form,
    allowed,
    form_payload,
    guarded,
    incident_in_value,
    incident_named,
    submitted,
)
from handlers.replies import STORE_DOWN, refusal, tell

log = logging.getLogger(__name__)


def _value(state: State, block: str) -> str | None:
    return state.value(block)


def _ticked(state: State, block: str) -> bool:
    return state.ticked(block)


def _picked(action: Action) -> tuple[str, str]:
    """The card's severity select: (incident id, severity) of the option picked."""
    picked = action.selected_option.value if action.selected_option else ""
    return controls.parse_severity_value(picked)


async def incident_in_option(svc: Services, action: Action) -> Incident:
    incident_id, severity = _picked(action)
    incident = await incident_named(svc, incident_id)
    if severity not in {s.name for s in svc.config.severities}:
        raise IncidentError(f"Unknown severity {severity}.")
    return incident


def _open(click: Click) -> Incident:
    """The incident of a click that opens a form: open still."""
    incident = click.incident
    assert incident is not None
    if not incident.is_open:
        raise IncidentError(f"Incident {incident.id} is resolved already.")
    return incident


@dataclass(frozen=True)
class DeclareForm:
    """A declare form's submission, checked and acknowledged (`read_declare_form`): what
    `Incidents.declare` takes from it (`fields`), and where it was opened."""

    user: str
    fields: dict[str, Any]  # title, severity, description, runbook, private, roles, key, by
    meta: dict[str, Any]  # the form's private_metadata

    @property
    def channel(self) -> str | None:
        return self.meta.get("channel")

    @property
    def reply(self) -> dict[str, str] | None:
        """Where the declarer is told once it is set up: the response_url the form's
        opening came with, or the channel it was opened in."""
        if self.meta.get("response_url"):
            return {"response_url": self.meta["response_url"], "user": self.user}
        return {"channel": self.channel, "user": self.user} if self.channel else None


async def read_declare_form(
    svc: Services, ack: AsyncAck, body: dict[str, Any]
) -> DeclareForm | None:
    """Every declare form's submission (the command's, a shortcut's, an alert's): a
    missing title or the user's declare rate is answered in the form, which stays open,
    filled in (None); otherwise it is acknowledged and read."""
    submission = await form_payload(ack, body)
    if submission is None:
        return None
    view, state = submission.view, submission.view.state
    title = " ".join((_value(state, "title") or "").split())
    if not title:
        await ack(response_action="errors", errors={"title": "Give the incident a title."})
        return None
    user = submission.user.id
    try:
        decision = await svc.policy.check("declare", None, user)
    except STORE_ERRORS:
        await ack(response_action="errors", errors={"title": STORE_DOWN.removeprefix(":warning: ")})
        return None
    if not decision.allowed:
        await ack(response_action="errors", errors={"title": policy_ui.rate_text(decision)})
        return None
    await ack()
    commands = ui.COMMAND_FIELD not in state.values or _ticked(state, ui.COMMAND_FIELD)
    fields: dict[str, Any] = {
        "title": title,
        "severity": _value(state, "severity"),
        "by": user,
        "description": _value(state, "description") or "",
        "runbook": _value(state, "runbook"),
        # unticked: as the config says for the runbook (private.runbooks)
        "private": _ticked(state, PRIVATE_FIELD) or None,
        # "I'll command it" ticked (or a form from before it had the box): the declarer
        # commands it, as Incidents.declare's default; unticked: no commander yet
        "roles": None if commands else {},
        # one incident per form, however often Slack or the user sends it
        "key": f"view:{view.id}",
    }
    return DeclareForm(user, fields, view.meta)


async def answer_form(svc: Services, form: DeclareForm, text: Mrkdwn) -> None:
    """One sentence to the form's user after it was acknowledged: at the response_url it
    was opened with, else in the channel it was opened in."""
    url = form.meta.get("response_url")
    if not url:
        await tell(svc, form.channel, form.user, text)
        return
    try:
        await svc.slack.respond(str(url), text)
    except SlackError as exc:
        log.info("could not answer", extra={"error": exc.code})


def register(app: AsyncApp, svc: Services) -> None:
    @app.view(ui.DECLARE_CALLBACK)
    async def declare_submitted(ack: AsyncAck, body: dict[str, Any]) -> None:
        form = await read_declare_form(svc, ack, body)
        if form is None:
            return
        try:
            await svc.incidents.declare(**form.fields, source="modal", reply=form.reply)
        except AlreadyDeclaring:
            return  # the same form, sent twice at once: the first one declares
        except IncidentError as exc:
            await answer_form(svc, form, refusal(exc))

    # a set-up failure is posted in the incident's channel, or the announce channel
    @app.action(ui.ACTION_RETRY_SETUP)
    @guarded(svc, "retry_setup", incident_in_value, shown="announcement")
    async def retry_setup(click: Click) -> None:
        assert click.incident is not None
        if click.incident.setup_missing:
            with contextlib.suppress(SetupBusy):  # a double click: the first one sets it up
                await svc.incidents.setup(click.incident.id)

    @app.action(controls.ACTION_RESOLVE)
    @guarded(svc, "resolve", incident_in_value)
    async def resolve(click: Click) -> None:
        incident = _open(click)
        meta = json.dumps({"incident": incident.id, "channel": click.channel})
        view = controls.resolve_modal(incident, private_metadata=meta)
        await click.open_form(view, instead="/incident resolve")

    @app.view(controls.RESOLVE_CALLBACK)
    @submitted(svc)
    async def resolve_submitted(form: Form) -> None:
        summary = (_value(form.values, controls.RESOLVE_SUMMARY) or "").strip()
        if await allowed(svc, "resolve", form.incident, form.user, form.channel):
            await svc.incidents.resolve(form.incident, by=form.user, summary=summary)

    # the form opens for whoever may assign roles; each change is asked again as the
    # command asks it (handing over command, taking it, the other roles)
    @app.action(controls.ACTION_ROLES)
    @guarded(svc, "assign_role", incident_in_value)
    async def roles(click: Click) -> None:
        incident = _open(click)
        shown = {role: incident.roles.get(role) for role in svc.config.roles}
        meta = json.dumps({"incident": incident.id, "channel": click.channel, "shown": shown})
        view = controls.roles_modal(incident, svc.config, private_metadata=meta)
        await click.open_form(view, instead="/incident role")

    @app.view(controls.ROLES_CALLBACK)
    @submitted(svc)
    async def roles_submitted(form: Form) -> None:
        incident = form.incident
        # only what the form changed: a role changed meanwhile by someone else stays theirs
        user, channel = form.user, form.channel
        for role, was in (form.meta.get("shown") or {}).items():
            field = form.values.element(controls.role_field(role))
            if field is None:
                continue  # not in the form
            wanted = field.selected_user or None  # None: cleared
            if wanted == was:
                continue
            try:
                if await allowed(svc, role_action(incident, role), incident, user, channel):
                    incident = await svc.incidents.assign_role(
                        incident, by=user, role=role, user=wanted, held_by=was
                    )
            except IncidentError as exc:  # this role's; the others are still assigned
                await tell(svc, channel, user, refusal(exc))

    # raising or lowering, as `/incident severity` asks the policy (the select names only
    # configured severities: incident_in_option refuses any other before this is asked)
    @app.action(controls.ACTION_SEVERITY)
    @guarded(
        svc,
        lambda i, a: severity_action(svc.config, i, _picked(a)[1]) if i else "raise_severity",
        incident_in_option,
    )
    async def severity(click: Click) -> None:
        assert click.incident is not None
        _, wanted = _picked(click.action)
        await svc.incidents.set_severity(click.incident, by=click.user, severity=wanted)
