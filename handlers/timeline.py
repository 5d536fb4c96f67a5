"""Timeline capture: pins and 📌 reactions in incident channels (Events API), and
`/incident note <text>`. The rules (what is captured, once, and why removals are ignored)
live in bot/timeline.py."""

from __future__ import annotations

import logging
from typing import Any, TypeVar

from slack_bolt.async_app import AsyncApp, AsyncBoltContext

import blocks.incident as ui
from blocks.mrkdwn import md
from bot.core.errors import STORE_ERRORS
from bot.core.models import Incident
from bot.core.slack import SlackError
from bot.services import Services
from handlers.parse import required_text
from handlers.payloads import EventCallback, Malformed, Payload, PinAdded, ReactionAdded, parse
from handlers.replies import ephemeral
from handlers.verbs import VerbContext, verb

log = logging.getLogger(__name__)

E = TypeVar("E", bound=Payload)

CAPTURED = md(":pushpin: Added to the incident's timeline, with the message's own time.")


@verb("note", usage="/incident note <text>", grammar=required_text)
async def note_verb(ctx: VerbContext) -> None:
    assert ctx.incident is not None
    await ctx.svc.capture.note(ctx.incident, by=ctx.user, wire=ctx.cmd.wire)
    await ctx.respond(**ephemeral(ui.change_notice(md(":memo: Noted on the incident's timeline."))))


def _bot_user(context: AsyncBoltContext, envelope: EventCallback) -> str | None:
    return str(context.bot_user_id) if context.bot_user_id else envelope.bot_user


def _event_time(envelope: EventCallback, event_ts: str | None) -> str | None:
    # the event's own Slack time; the envelope's whole seconds if it has none
    found = event_ts or envelope.event_time
    return str(found) if found else None


def _read(
    body: dict[str, Any], event: dict[str, Any], model: type[E]
) -> tuple[EventCallback, E] | None:
    """The envelope and the event, or None for one Slack sent malformed (logged: the
    Events API has nobody to tell)."""
    try:
        return parse(EventCallback, body), parse(model, event)
    except Malformed:
        return None


def register(app: AsyncApp, svc: Services) -> None:
    async def tell(incident: Incident | None, channel: str, user: str) -> None:
        if incident is None:
            return
        try:
            await svc.slack.ephemeral(channel, user, CAPTURED)
        except SlackError as exc:
            log.info("capture not confirmed", extra={"error": exc.code})

    @app.event("pin_added")
    async def pin_added(
        body: dict[str, Any], event: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        read = _read(body, event, PinAdded)
        if read is None:
            return
        envelope, pin = read
        channel, user = pin.channel, pin.user
        if pin.item.type != "message" or not channel:
            return
        try:
            incident = await svc.capture.pinned(
                channel,
                pin.item.message,
                by=user,
                bot_user=_bot_user(context, envelope),
                at=_event_time(envelope, pin.event_ts),
            )
        except STORE_ERRORS as exc:
            # Bolt has acked; Slack will not retry. Logged for the operator.
            log.warning("pin not captured", extra={"error": str(exc)})
            return
        await tell(incident, channel, user)

    @app.event("reaction_added")
    async def reaction_added(
        body: dict[str, Any], event: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        read = _read(body, event, ReactionAdded)
        if read is None:
            return
        envelope, reaction = read
        if reaction.item.type != "message":
            return
        channel, user = reaction.item.channel or "", reaction.user
        try:
            incident = await svc.capture.reacted(
                channel,
                reaction.item.ts or "",
                reaction.reaction,
                by=user,
                bot_user=_bot_user(context, envelope),
                at=_event_time(envelope, reaction.event_ts),
            )
        except STORE_ERRORS as exc:
            log.warning("reaction not captured", extra={"error": str(exc)})
            return
        await tell(incident, channel, user)

    # Removing a pin or the 📌 leaves the timeline as it is (bot/timeline.py). The manifest
    # does not subscribe these; if a workspace does, they are acknowledged and ignored.
    @app.event("pin_removed")
    async def pin_removed() -> None:
        return

    @app.event("reaction_removed")
    async def reaction_removed() -> None:
        return
