"""`/incident …`: one dispatch for every verb of the registry (handlers/verbs.py), and the
core verbs themselves (declare, list, help, update, status, severity, commander, role,
resolve, timeline). Ack first (DESIGN rule 1)."""

from __future__ import annotations

import json
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

import blocks.incident as ui
import blocks.policy as policy_ui
import handlers.parse as grammar
from bot.core.errors import STORE_ERRORS
from bot.core.logs import about
from bot.core.models import Incident
from bot.core.policy import Where, role_action, severity_action, status_action
from bot.incidents import IncidentError
from bot.services import Services
from handlers import payloads
from handlers.parse import UsageError
from handlers.payloads import Malformed, SlashCommand
from handlers.replies import answering, ephemeral
from handlers.verbs import Verb, VerbContext, Verbs, verb

USAGE = ui.USAGE


def register(app: AsyncApp, svc: Services, verbs: Verbs) -> None:
    @app.command("/incident")
    async def incident_command(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        try:
            command = payloads.parse(SlashCommand, body)
        except Malformed as exc:
            await ack(**ephemeral(exc.message))
            return
        try:
            found, cmd = verbs.parse(command.text, svc.config)
        except UsageError as err:
            svc.metrics.command_errors.labels("usage").inc()
            await ack(**ephemeral(ui.usage_error(err.problem, err.usage)))
            return
        svc.metrics.commands.labels(cmd.verb).inc()
        if found.name == "help":  # answered in the ack itself: nothing to wait for
            await ack(**ephemeral(ui.help_message(verbs.usages())))
            return
        await ack()
        ctx = VerbContext(
            svc,
            cmd,
            None,
            command.user_id,
            command.channel_id,
            respond,
            trigger_id=command.trigger_id,
            response_url=command.response_url,
        )
        async with answering(respond, what=cmd.verb):
            await dispatch(found, ctx)


async def dispatch(found: Verb, ctx: VerbContext) -> None:
    """Find the channel's incident, ask the policy, run the verb's handler."""
    try:
        if found.channel_incident:
            ctx.incident = await ctx.svc.incidents.in_channel(ctx.channel)
    except STORE_ERRORS:
        if found.in_incident:
            raise
        ctx.incident = None  # a verb that works anywhere still runs: /incident doctor says why
    if found.in_incident and ctx.incident is None:
        raise IncidentError(
            f"`/incident {found.name}` works inside an incident channel. "
            "Run it there, or see `/incident list` for the open incidents."
        )
    with about(ctx.incident.id if ctx.incident else None):  # on each line of the verb's work
        if not await permitted(ctx, found.action_for(ctx)):
            return
        try:
            await found.handler(ctx)
        except UsageError as err:  # the handler found its arguments wrong: the verb's usage
            err.usage = found.usage
            raise


async def permitted(ctx: VerbContext, action: str | None) -> bool:
    """The one permissions check of every `/incident` verb; a refusal is answered here."""
    if action is None:
        return True
    where = Where(ctx.channel, typed=True)
    decision = await ctx.svc.policy.check(action, ctx.incident, ctx.user, where=where)
    if not decision.allowed:
        await ctx.respond(**ephemeral(policy_ui.refusal(decision)))
    return decision.allowed


# -- the core verbs --------------------------------------------------------------------------


async def open_declare_form(
    svc: Services, trigger_id: str, *, channel: str | None, severity: str | None = None
) -> None:
    """The declare form (`/incident declare` without a title, the App Home's button).
    `channel`: where the declarer is told the outcome (none from the App Home, which shows
    it). Called first: the trigger_id dies in about 3 s."""
    meta = json.dumps({"channel": channel}) if channel else ""
    choices = sorted((b.id, b.title) for b in svc.runbooks.values())
    modal = ui.declare_modal(svc.config, severity=severity, runbooks=choices, private_metadata=meta)
    await svc.slack.open_view(trigger_id, modal)


# with a title it declares (counted against the user's rate); without, it opens the form,
# whose submission is counted
@verb(
    "declare",
    usage=USAGE["declare"],
    in_incident=False,
    action=lambda ctx: "declare" if ctx.cmd.text else None,
    grammar=grammar.declare,
    channel_incident=False,  # a new incident, wherever it is declared
)
async def declare(ctx: VerbContext) -> None:
    svc, cmd = ctx.svc, ctx.cmd
    if not cmd.text:
        await open_declare_form(
            svc, str(ctx.trigger_id), channel=ctx.channel, severity=cmd.severity
        )
        return
    # the set-up tells the declarer where the incident is, whichever replica runs it
    reply = {"response_url": ctx.response_url} if ctx.response_url else {"channel": ctx.channel}
    await svc.incidents.declare(
        title=cmd.text,
        severity=cmd.severity,
        by=ctx.user,
        private=cmd.private or None,
        reply={**reply, "user": ctx.user},
    )


@verb("update", usage=USAGE["update"], grammar=grammar.required_text)
async def update(ctx: VerbContext) -> None:
    await ctx.svc.incidents.post_update(_incident(ctx), by=ctx.user, text=ctx.cmd.text)


def _status_action(ctx: VerbContext) -> str | None:
    return status_action(ctx.cmd.status) if ctx.cmd.status else None


@verb("status", usage=USAGE["status"], action=_status_action, grammar=grammar.status)
async def status(ctx: VerbContext) -> None:
    assert ctx.cmd.status
    await ctx.svc.incidents.set_status(_incident(ctx), by=ctx.user, status=ctx.cmd.status)


def _severity_action(ctx: VerbContext) -> str | None:
    wanted, incident = ctx.cmd.severity, ctx.incident
    if not wanted or incident is None or wanted == incident.severity:
        return None
    return severity_action(ctx.svc.config, incident, wanted)


@verb(
    "severity",
    usage=USAGE["severity"],
    aliases=("sev",),
    grammar=grammar.severity,
    action=_severity_action,
)
async def severity(ctx: VerbContext) -> None:
    assert ctx.cmd.severity
    await ctx.svc.incidents.set_severity(_incident(ctx), by=ctx.user, severity=ctx.cmd.severity)


def _role_action(ctx: VerbContext) -> str | None:
    return role_action(ctx.incident, ctx.cmd.role) if ctx.cmd.role and ctx.incident else None


@verb(
    "commander",
    usage=USAGE["commander"],
    aliases=("ic",),
    grammar=grammar.commander,
    action=_role_action,
)
async def commander(ctx: VerbContext) -> None:
    await _assign(ctx)


@verb("role", usage=USAGE["role"], grammar=grammar.role, action=_role_action)
async def role(ctx: VerbContext) -> None:
    await _assign(ctx)


async def _assign(ctx: VerbContext) -> None:
    cmd = ctx.cmd
    assert cmd.role and cmd.user
    await ctx.svc.incidents.assign_role(_incident(ctx), by=ctx.user, role=cmd.role, user=cmd.user)


@verb("resolve", usage=USAGE["resolve"], action="resolve")
async def resolve(ctx: VerbContext) -> None:
    await ctx.svc.incidents.resolve(_incident(ctx), by=ctx.user, summary=ctx.cmd.text)


@verb("timeline", usage=USAGE["timeline"], grammar=grammar.no_args)
async def timeline(ctx: VerbContext) -> None:
    incident = _incident(ctx)
    entries = await ctx.svc.capture.entries(incident)
    await ctx.respond(**ephemeral(ui.timeline(incident, entries)))


@verb("list", usage=USAGE["list"], in_incident=False, grammar=grammar.no_args)
async def list_verb(ctx: VerbContext) -> None:
    shown = await ctx.svc.privacy.open_for(ctx.user)
    await ctx.respond(**ephemeral(ui.incident_list(shown, ctx.svc.config)))


@verb("help", usage=USAGE["help"], in_incident=False, grammar=grammar.free_text)
async def help_verb(ctx: VerbContext) -> None:  # answered in the ack (register above)
    raise AssertionError("help is answered in the ack")


def _incident(ctx: VerbContext) -> Incident:
    assert ctx.incident is not None  # in_incident verbs run only with their incident
    return ctx.incident
