"""`/incident …`: parse, then call the incident service. Ack first (DESIGN rule 1)."""

from __future__ import annotations

import json
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

import blocks.incident as ui
import blocks.policy as policy_ui
from bot.incidents import IncidentError
from bot.models import Incident
from bot.policy import Where, role_action, severity_action, status_action
from bot.services import Services
from bot.store import STORE_ERRORS
from handlers.parse import ALL_USAGE, EXTRA_USAGE, REGISTERED, Command, UsageError, parse
from handlers.replies import answering, ephemeral
from handlers.verbs import VERBS, VerbContext


def register(app: AsyncApp, svc: Services) -> None:
    @app.command("/incident")
    async def incident_command(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        try:
            cmd = parse(body.get("text", ""), svc.config)
        except UsageError as err:
            svc.metrics.command_errors.labels("usage").inc()
            await ack(**ephemeral(ui.usage_error(err.problem, err.usage)))
            return
        svc.metrics.commands.labels(cmd.verb).inc()
        if cmd.verb == "help":
            extra = [ALL_USAGE[v] for v in sorted(REGISTERED | set(EXTRA_USAGE))]
            await ack(**ephemeral(ui.help_message(extra)))
            return
        await ack()
        user, channel = body["user_id"], body["channel_id"]
        if cmd.verb == "declare" and not cmd.text:
            # the trigger_id dies in ~3 s: open the modal before any other call
            async with answering(respond, what="declare modal"):
                meta = json.dumps({"channel": channel})
                choices = sorted((b.id, b.title) for b in svc.runbooks.values())
                modal = ui.declare_modal(
                    svc.config, severity=cmd.severity, runbooks=choices, private_metadata=meta
                )
                await svc.slack.open_view(body["trigger_id"], modal)
            return
        async with answering(respond, what=cmd.verb):
            await run(
                svc,
                cmd,
                user=user,
                channel=channel,
                respond=respond,
                trigger_id=body.get("trigger_id"),
                response_url=body.get("response_url"),
            )


async def run(
    svc: Services,
    cmd: Command,
    *,
    user: str,
    channel: str,
    respond: AsyncRespond,
    trigger_id: str | None = None,
    response_url: str | None = None,
) -> None:
    incidents = svc.incidents
    if cmd.verb == "declare":
        if not await permitted(svc, "declare", None, user=user, channel=channel, respond=respond):
            return
        # the set-up tells the declarer where the incident is, whichever replica runs it
        reply = {"response_url": response_url} if response_url else {"channel": channel}
        await incidents.declare(
            title=cmd.text,
            severity=cmd.severity,
            by=user,
            private=cmd.private or None,
            reply={**reply, "user": user},
        )
        return
    if cmd.verb == "list":
        assert svc.privacy is not None
        shown = await svc.privacy.for_reader(await svc.store.open_incidents(), user=user)
        await respond(**ephemeral(ui.incident_list(shown, svc.config)))
        return

    registered = VERBS.get(cmd.verb)
    try:
        current = await incidents.in_channel(channel)
    except STORE_ERRORS:
        if registered is None or registered.in_incident:
            raise
        current = None  # a verb that works anywhere still runs: /incident doctor says why
    if registered is not None:
        if registered.in_incident and current is None:
            raise IncidentError(
                f"`/incident {cmd.verb}` works inside an incident channel. "
                "Run it there, or see `/incident list` for the open incidents."
            )
        action = registered.action_for(cmd, current)
        if not await permitted(svc, action, current, user=user, channel=channel, respond=respond):
            return
        ctx = VerbContext(svc, cmd, current, user, channel, respond, trigger_id)
        await registered.handler(ctx)
        return
    if current is None:
        raise IncidentError(
            f"`/incident {cmd.verb}` works inside an incident channel. "
            "Run it there, or see `/incident list` for the open incidents."
        )
    action = in_incident_action(svc, cmd, current)
    if not await permitted(svc, action, current, user=user, channel=channel, respond=respond):
        return
    await in_incident(svc, cmd, current, user=user, respond=respond)


async def permitted(
    svc: Services,
    action: str | None,
    incident: Incident | None,
    *,
    user: str,
    channel: str,
    respond: AsyncRespond,
) -> bool:
    """The one permissions check of every `/incident` verb; a refusal is answered here."""
    if action is None:
        return True
    assert svc.policy is not None
    decision = await svc.policy.check(action, incident, user, where=Where(channel, typed=True))
    if not decision.allowed:
        await respond(**ephemeral(policy_ui.refusal(decision)))
    return decision.allowed


def in_incident_action(svc: Services, cmd: Command, incident: Incident) -> str | None:
    """What a verb of the chain below does, in the policy's words (None: open to all)."""
    if cmd.verb == "status" and cmd.status:
        return status_action(cmd.status)
    if cmd.verb == "severity" and cmd.severity and cmd.severity != incident.severity:
        return severity_action(svc.config, incident, cmd.severity)
    if cmd.verb == "role" and cmd.role:
        return role_action(incident, cmd.role)
    if cmd.verb == "resolve":
        return "resolve"
    return None


async def in_incident(
    svc: Services, cmd: Command, incident: Incident, *, user: str, respond: AsyncRespond
) -> None:
    incidents = svc.incidents
    if cmd.verb == "update":
        await incidents.post_update(incident, by=user, text=cmd.text)
    elif cmd.verb == "status":
        assert cmd.status
        await incidents.set_status(incident, by=user, status=cmd.status)
    elif cmd.verb == "severity":
        assert cmd.severity
        await incidents.set_severity(incident, by=user, severity=cmd.severity)
    elif cmd.verb == "role":
        assert cmd.role and cmd.user
        await incidents.assign_role(incident, by=user, role=cmd.role, user=cmd.user)
    elif cmd.verb == "resolve":
        await incidents.resolve(incident, by=user, summary=cmd.text)
    elif cmd.verb == "timeline":
        entries = await svc.store.timeline(incident.id)
        await respond(**ephemeral(ui.timeline(incident, entries)))
    else:
        raise IncidentError(f"`/incident {cmd.verb}` is not available yet.")
