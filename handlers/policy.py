"""The permissions policy (bot/core/policy.py) at the doors of buttons and modals, and the
refusal's own buttons (ask whoever may; take command).

Every button that acts on an incident is registered through `guarded`, which acks, finds
the incident the click names, asks the policy, and either answers the refusal (ephemeral,
naming who may) or runs the handler with the incident found:

    @app.action(ui.ACTION_SNOOZE)
    @guarded(svc, "snooze", incident_in_value)
    async def snooze(click: Click) -> None: ...

A modal's submission is checked with `allowed()` after its own validation (a modal acks
with its errors first); a form that names its incident is registered through `submitted`,
which acks, takes each form once and finds the incident. Slash verbs are checked once, in
handlers/incident.py's dispatch.

Both read Slack's payload through handlers/payloads.py: a click Slack sent without what
it needs is answered with one sentence (`answering`), a form turns into that sentence
(`form_payload`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

import blocks.payloads as payloads_ui
import blocks.policy as ui
from bot.core.models import Incident
from bot.core.policy import DOING, Decision, Shown, Where, mentions
from bot.core.slack import SlackError
from bot.incidents import IncidentError
from bot.services import Services
from handlers.payloads import Action, BlockActions, Malformed, State, ViewSubmission, parse
from handlers.replies import answering, ephemeral, refusal, tell

log = logging.getLogger(__name__)


@dataclass
class Click:
    """A click the policy let through: who, where, on which incident."""

    svc: Services
    user: str
    channel: str | None
    incident: Incident | None
    action: Action
    payload: BlockActions
    respond: AsyncRespond

    async def open_form(self, view: dict[str, Any], *, instead: str) -> None:
        """Open the form this click asks for (its trigger_id dies in ~3 s: call this before
        anything slow); Slack refusing is told with the command to use `instead`."""
        try:
            await self.svc.slack.open_view(self.payload.trigger_id, view)
        except SlackError as exc:
            form = view.get("callback_id")
            log.warning("form did not open", extra={"form": form, "error": exc.code})
            raise IncidentError(f"The form did not open; use `{instead}`.") from exc


@dataclass
class Form:
    """A form's submission, once (however often Slack sends it): who sent it, the channel
    it was opened from (told any refusal), the incident it names, its inputs."""

    user: str
    channel: str | None
    incident: Incident
    meta: dict[str, Any]
    values: State


# the incident a click names, read from its action (its value), or None when it names none
Find = Callable[[Services, Action], Awaitable[Incident | None]]
# the policy's action for the click: fixed, or chosen by the incident (None: none found)
# and the action clicked (a select's option)
What = str | Callable[[Incident | None, Action], str]
Handler = Callable[[Click], Awaitable[None]]
FormHandler = Callable[[Form], Awaitable[None]]


async def incident_named(svc: Services, incident_id: str) -> Incident:
    incident = await svc.incidents.get(incident_id)
    if incident is None:
        raise IncidentError("That incident no longer exists.")
    return incident


async def incident_in_value(svc: Services, action: Action) -> Incident:
    """Buttons whose value is the incident id."""
    return await incident_named(svc, action.value or "")


def guarded(
    svc: Services, what: What, find: Find | None, *, shown: Shown = "incident", name: str = ""
) -> Callable[[Handler], Callable[..., Awaitable[None]]]:
    """A block_actions listener around `handler`: ack, find, check, then run (errors after
    ack become one ephemeral sentence, as everywhere). `find=None`: the click names no
    incident (a declare). `shown`: where the bot offers this button (bot/core/policy.py)."""

    def wrap(handler: Handler) -> Callable[..., Awaitable[None]]:
        label = name or handler.__name__

        # Bolt passes arguments by these names (it reads the signature)
        async def listener(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
            await ack()
            async with answering(respond, what=label):
                click = parse(BlockActions, body)
                user, channel, action = click.user.id, click.channel_id, click.action
                incident = await find(svc, action) if find is not None else None
                action_name = what(incident, action) if callable(what) else what
                decision = await svc.policy.check(
                    action_name, incident, user, where=Where(channel, shown=shown)
                )
                if not decision.allowed:
                    await respond(**ephemeral(ui.refusal(decision)), replace_original=False)
                    return
                await handler(Click(svc, user, channel, incident, action, click, respond))

        listener.__name__ = label
        return listener

    return wrap


@dataclass
class Submission:
    """A modal submitted: by whom, and the metadata the bot wrote into it when it opened
    it (`channel`: where it was opened, to answer there)."""

    user: str
    meta: dict[str, Any]

    @property
    def channel(self) -> str | None:
        return self.meta.get("channel")


async def form_payload(ack: AsyncAck, body: dict[str, Any]) -> ViewSubmission | None:
    """A modal's submission read, before its ack; one Slack sent without what the bot
    needs is acked with the form turned into the sentence saying so (None)."""
    try:
        return parse(ViewSubmission, body)
    except Malformed as exc:
        await ack(response_action="update", view=payloads_ui.malformed_form(exc.message))
        return None


async def first_submission(svc: Services, form: ViewSubmission) -> Submission | None:
    """A modal's submission after its ack, once however often it is submitted (DESIGN
    rule 2); None for a repeat."""
    if not await svc.policy.first_submission(form.view.id):
        return None
    return Submission(form.user.id, form.view.meta)


def submitted(svc: Services) -> Callable[[FormHandler], Callable[..., Awaitable[None]]]:
    """A view_submission listener around `handler` for a form whose metadata names the
    incident and the channel it was opened from: ack (the form closes), once per form
    (DESIGN rule 2), the incident found; a refusal is told in that channel. The handler
    asks the policy again (`allowed`): the roles may have changed while the form was open."""

    def wrap(handler: FormHandler) -> Callable[..., Awaitable[None]]:
        async def listener(ack: AsyncAck, body: dict[str, Any]) -> None:
            form = await form_payload(ack, body)
            if form is None:
                return
            await ack()
            user, meta, view = form.user.id, form.view.meta, form.view
            channel = meta.get("channel")
            if not await svc.policy.first_submission(view.id):
                return
            try:
                incident = await incident_named(svc, str(meta.get("incident") or ""))
                await handler(Form(user, channel, incident, meta, view.state))
            except IncidentError as exc:
                await tell(svc, channel, user, refusal(exc))

        listener.__name__ = handler.__name__
        return listener

    return wrap


async def allowed(
    svc: Services, action: str, incident: Incident | None, user: str, channel: str | None
) -> bool:
    """A modal's submission: may `user` do `action`? A refusal is told in `channel` (the
    channel the modal was opened from, which the bot wrote into its metadata)."""
    decision = await svc.policy.check(action, incident, user, where=Where(channel))
    if not decision.allowed:
        await tell_refusal(svc, decision, channel, user)
    return decision.allowed


async def tell_refusal(svc: Services, decision: Decision, channel: str | None, user: str) -> None:
    if not channel:
        return
    text, blocks = ui.refusal(decision)
    try:
        await svc.slack.ephemeral(channel, user, text, blocks)
    except SlackError as exc:
        log.info("refusal not shown", extra={"error": exc.code})


def register(app: AsyncApp, svc: Services) -> None:
    """The refusal's own buttons: ask whoever may, and take command of an incident nobody
    commands."""

    async def find_asked(svc: Services, action: Action) -> Incident:
        incident_id, _ = ui.parse_ask_value(action.value or "")
        return await incident_named(svc, incident_id)

    @app.action(ui.ACTION_ASK)
    @guarded(svc, "ask", find_asked)
    async def ask(click: Click) -> None:
        incident = click.incident
        assert incident is not None
        _, action = ui.parse_ask_value(click.action.value or "")
        if action not in DOING:
            raise IncidentError("That request no longer says what it is for.")
        askees = mentions(svc.policy.who(action, incident))
        if not askees or not incident.channel_id:
            raise IncidentError("There is nobody to ask yet.")
        # a second click (or a flood of them) asks once every few minutes
        if await svc.policy.first_ask(incident, click.user, action):
            text, blocks = ui.asked(click.user, DOING[action], askees)
            await svc.slack.post(incident.channel_id, text, blocks)
        await click.respond(**ephemeral(ui.ask_sent(incident.channel_id)), replace_original=False)

    # on a refusal and on the card while nobody commands; a click that comes after someone
    # took command is told who did (handing over is `/incident commander`, as the policy has it)
    @app.action(ui.ACTION_TAKE_COMMAND)
    @guarded(svc, "take_command", incident_in_value)
    async def take_command(click: Click) -> None:
        assert click.incident is not None
        await svc.incidents.assign_role(
            click.incident, by=click.user, role="commander", user=click.user, held_by=None
        )
