"""`/oncall [name] [share]` and its **Invite to this incident** buttons. Ack first, then
answer through the response_url (DESIGN rule 1): a cold cache waits on PagerDuty."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, Field, ValidationError
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

import blocks.oncall as ui
from bot.core.models import Incident
from bot.incidents import IncidentError
from bot.oncall import OnCallError
from bot.services import Services
from handlers import payloads
from handlers.payloads import Action, Malformed, SlashCommand
from handlers.policy import Click, guarded, incident_named
from handlers.replies import answering, ephemeral, reply


def parse(text: str) -> tuple[str | None, bool]:
    """`[name…] [share]` -> (name or None, share)."""
    words = text.split()
    share = bool(words) and words[-1].lower() == "share"
    if share:
        words = words[:-1]
    return (" ".join(words) or None), share


def register(app: AsyncApp, svc: Services) -> None:
    @app.command("/oncall")
    async def oncall_command(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        try:
            command = payloads.parse(SlashCommand, body)
        except Malformed as exc:
            await ack(**ephemeral(exc.message))
            return
        name, share = parse(command.text)
        svc.metrics.commands.labels("oncall").inc()
        problem = svc.oncall.problem()
        if problem:
            await ack(**ephemeral(ui.problem(problem)))
            return
        if name and name.lower() == "help":
            await ack(**ephemeral(ui.usage()))
            return
        await ack()
        async with answering(respond, what="oncall"):
            try:
                answer = await svc.oncall.answer(name)
            except OnCallError as exc:
                await respond(**ephemeral(ui.problem(str(exc))))
                return
            incident = await svc.incidents.in_channel(command.channel_id)
            live = incident.id if incident is not None and incident.is_open else None
            text, blocks = ui.oncall_message(answer, incident_id=live)
            kind = "in_channel" if share else "ephemeral"
            await respond(**reply((text, blocks), response_type=kind, replace_original=False))

    @app.action(re.compile(f"^{ui.ACTION_INVITE}_"))
    @guarded(svc, "invite", _invited_into, name="oncall invite")
    async def invite(click: Click) -> None:
        assert click.incident is not None
        value = _invite_value(click.action)
        incident = await svc.incidents.invite(
            click.incident.id, by=click.user, user=value.user, why=value.why or ""
        )
        text, blocks = ui.invited(value.user, incident.channel_id)
        await click.respond(
            **reply((text, blocks), response_type="ephemeral", replace_original=False)
        )


class Invite(BaseModel):
    """An *Invite* button's value (blocks/oncall.py writes it as JSON)."""

    incident: str = Field(min_length=1)
    user: str = Field(min_length=1)
    why: str | None = None


def _invite_value(action: Action) -> Invite:
    try:
        return Invite.model_validate_json(action.value or "")
    except ValidationError:
        raise IncidentError("That button no longer knows whom to invite.") from None


async def _invited_into(svc: Services, action: Action) -> Incident:
    return await incident_named(svc, _invite_value(action).incident)
