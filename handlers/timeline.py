"""Timeline capture: pins and 📌 reactions in incident channels (Events API), and
`/incident note <text>`. The rules (what is captured, once, and why removals are ignored)
live in bot/timeline.py."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext

import blocks.incident as ui
from blocks.mrkdwn import md
from bot.core.errors import STORE_ERRORS
from bot.core.models import Incident
from bot.core.slack import SlackError
from bot.services import Services
from handlers.parse import required_text
from handlers.replies import ephemeral
from handlers.verbs import VerbContext, verb

log = logging.getLogger(__name__)

CAPTURED = md(":pushpin: Added to the incident's timeline, with the message's own time.")


@verb("note", usage="/incident note <text>", grammar=required_text)
async def note_verb(ctx: VerbContext) -> None:
    assert ctx.incident is not None
    await ctx.svc.capture.note(ctx.incident, by=ctx.user, wire=ctx.cmd.wire)
    await ctx.respond(**ephemeral(ui.change_notice(md(":memo: Noted on the incident's timeline."))))


def _bot_user(context: AsyncBoltContext, body: dict[str, Any]) -> str | None:
    if context.bot_user_id:
        return str(context.bot_user_id)
    for auth in body.get("authorizations") or []:
        if auth.get("is_bot"):
            return str(auth.get("user_id") or "") or None
    return None


def _event_time(body: dict[str, Any], event: dict[str, Any]) -> str | None:
    # the event's own Slack time; the envelope's whole seconds if it has none
    found = event.get("event_ts") or body.get("event_time")
    return str(found) if found else None


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
        item = event.get("item") or {}
        channel = str(event.get("channel_id") or item.get("channel") or "")
        user = str(event.get("user") or "")
        if item.get("type") != "message" or not channel:
            return
        try:
            incident = await svc.capture.pinned(
                channel,
                item.get("message"),
                by=user,
                bot_user=_bot_user(context, body),
                at=_event_time(body, event),
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
        item = event.get("item") or {}
        if item.get("type") != "message":
            return
        channel, user = str(item.get("channel") or ""), str(event.get("user") or "")
        try:
            incident = await svc.capture.reacted(
                channel,
                str(item.get("ts") or ""),
                str(event.get("reaction") or ""),
                by=user,
                bot_user=_bot_user(context, body),
                at=_event_time(body, event),
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
