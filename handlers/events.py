"""Events API listeners: messages in the configured alert channels are read as alerts;
people joining and leaving channels keep the membership cache (bot/privacy.py) current."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext

from bot.core.errors import STORE_ERRORS
from bot.services import Services
from handlers.payloads import EventCallback, Malformed, MemberChannel, parse

log = logging.getLogger(__name__)


def register(app: AsyncApp, services: Services) -> None:
    @app.event("message")
    async def on_message(
        body: dict[str, Any], event: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        # Bolt has acked already; Slack's retries carry the same event_id, which the
        # store accepts once. Other messages need nothing.
        # the bot's own posts carry a bot_id too (Bolt drops most of them already)
        try:
            envelope = parse(EventCallback, body)
        except Malformed:
            return  # logged; there is nobody to tell
        own = {context.bot_user_id, context.bot_id, envelope.api_app_id}
        try:
            await services.alerts.on_slack_message(
                event, event_id=envelope.event_id, own={i for i in own if i}
            )
        except STORE_ERRORS as exc:
            log.warning("alert message not stored", extra={"error": str(exc)})

    @app.event("member_joined_channel")
    async def on_joined(event: dict[str, Any]) -> None:
        with contextlib.suppress(Malformed):  # logged; there is nobody to tell
            member = parse(MemberChannel, event)
            services.privacy.joined(member.channel, member.user)

    @app.event("member_left_channel")
    async def on_left(event: dict[str, Any]) -> None:
        with contextlib.suppress(Malformed):
            member = parse(MemberChannel, event)
            services.privacy.left(member.channel, member.user)
