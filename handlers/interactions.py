"""Buttons and modals of the incident lifecycle: the declare form (and `read_declare_form`,
which every declare form's submission goes through), *Retry set-up*, and the card's
*Severity* select, *Resolve* and the resolve form. The card's other controls are
handled where the bot offered them first: *Take command* in handlers/policy.py, *Post
update* in handlers/reminders.py."""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

import blocks.incident as ui
import blocks.policy as policy_ui
from blocks.mrkdwn import Mrkdwn
from blocks.privacy import PRIVATE_FIELD
from bot.core.errors import STORE_ERRORS
from bot.core.models import Incident
from bot.core.policy import severity_action
from bot.core.slack import SlackError
from bot.incidents import AlreadyDeclaring, IncidentError, SetupBusy
from bot.services import Services
from handlers.policy import Click, allowed, guarded, incident_in_value, incident_named
from handlers.replies import STORE_DOWN, refusal, tell

log = logging.getLogger(__name__)


def _value(state: dict[str, Any], block: str) -> Any:
    element = state.get(block, {}).get(block, {})
    if "selected_option" in element:
        return (element["selected_option"] or {}).get("value")
    return element.get("value")


def _ticked(state: dict[str, Any], block: str) -> bool:
    element = state.get(block, {}).get(block, {})
    return bool(element.get("selected_options"))


def _picked(action: dict[str, Any]) -> tuple[str, str]:
    """The card's severity select: (incident id, severity) of the option picked."""
    return ui.parse_severity_value(str((action.get("selected_option") or {}).get("value") or ""))


async def incident_in_option(svc: Services, action: dict[str, Any]) -> Incident:
    incident_id, severity = _picked(action)
    incident = await incident_named(svc, incident_id)
    if severity not in {s.name for s in svc.config.severities}:
        raise IncidentError(f"Unknown severity {severity}.")
    return incident


@dataclass(frozen=True)
class DeclareForm:
    """A declare form's submission, checked and acknowledged (`read_declare_form`): what
    `Incidents.declare` takes from it (`fields`), and where it was opened."""

    user: str
    fields: dict[str, Any]  # title, severity, description, runbook, private, key, by
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
    svc: Services, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]
) -> DeclareForm | None:
    """Every declare form's submission (the command's, a shortcut's, an alert's): a
    missing title or the user's declare rate is answered in the form, which stays open,
    filled in (None); otherwise it is acknowledged and read."""
    state = view["state"]["values"]
    title = " ".join((_value(state, "title") or "").split())
    if not title:
        await ack(response_action="errors", errors={"title": "Give the incident a title."})
        return None
    user = body["user"]["id"]
    try:
        decision = await svc.policy.check("declare", None, user)
    except STORE_ERRORS:
        await ack(response_action="errors", errors={"title": STORE_DOWN.removeprefix(":warning: ")})
        return None
    if not decision.allowed:
        await ack(response_action="errors", errors={"title": policy_ui.rate_text(decision)})
        return None
    await ack()
    fields = {
        "title": title,
        "severity": _value(state, "severity"),
        "by": user,
        "description": _value(state, "description") or "",
        "runbook": _value(state, "runbook"),
        # unticked: as the config says for the runbook (private.runbooks)
        "private": _ticked(state, PRIVATE_FIELD) or None,
        # one incident per form, however often Slack or the user sends it
        "key": f"view:{view['id']}",
    }
    return DeclareForm(user, fields, json.loads(view.get("private_metadata") or "{}"))


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
    async def declare_submitted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        form = await read_declare_form(svc, ack, body, view)
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

    @app.action(ui.ACTION_RESOLVE)
    @guarded(svc, "resolve", incident_in_value)
    async def resolve(click: Click) -> None:
        incident = click.incident
        assert incident is not None
        if not incident.is_open:
            raise IncidentError(f"Incident {incident.id} is resolved already.")
        meta = json.dumps({"incident": incident.id, "channel": click.channel})
        try:  # the trigger_id dies in ~3 s: nothing stands before this call
            await svc.slack.open_view(
                click.body["trigger_id"], ui.resolve_modal(incident, private_metadata=meta)
            )
        except SlackError as exc:
            log.warning("resolve form did not open", extra={"error": exc.code})
            raise IncidentError("The form did not open; use `/incident resolve`.") from exc

    @app.view(ui.RESOLVE_CALLBACK)
    async def resolve_submitted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        await ack()
        user = body["user"]["id"]
        meta = json.loads(view.get("private_metadata") or "{}")
        channel = meta.get("channel")
        # one resolve per form, however often it is submitted (DESIGN rule 2)
        if not await svc.policy.first_submission(view["id"]):
            return
        summary = (_value(view["state"]["values"], ui.RESOLVE_SUMMARY) or "").strip()
        try:
            # asked again: the roles may have changed while the form was open
            incident = await incident_named(svc, meta.get("incident", ""))
            if await allowed(svc, "resolve", incident, user, channel):
                await svc.incidents.resolve(incident, by=user, summary=summary)
        except IncidentError as exc:
            await tell(svc, channel, user, refusal(exc))

    # raising or lowering, as `/incident severity` asks the policy (the select names only
    # configured severities: incident_in_option refuses any other before this is asked)
    @app.action(ui.ACTION_SEVERITY)
    @guarded(
        svc,
        lambda i, a: severity_action(svc.config, i, _picked(a)[1]) if i else "raise_severity",
        incident_in_option,
    )
    async def severity(click: Click) -> None:
        assert click.incident is not None
        _, wanted = _picked(click.action)
        await svc.incidents.set_severity(click.incident, by=click.user, severity=wanted)
