"""Events API listeners: messages in the configured alert channels are read as alerts;
people joining and leaving channels keep the membership cache (bot/privacy.py) current."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext

from bot.core.errors import STORE_ERRORS
from bot.services import Services

log = logging.getLogger(__name__)


def register(app: AsyncApp, services: Services) -> None:
    @app.event("message")
    async def on_message(
        body: dict[str, Any], event: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        # Bolt has acked already; Slack's retries carry the same event_id, which the
        # store accepts once. Other messages need nothing.
        # the bot's own posts carry a bot_id too (Bolt drops most of them already)
        own = {context.bot_user_id, context.bot_id, body.get("api_app_id")}
        try:
            await services.alerts.on_slack_message(
                event, event_id=body.get("event_id"), own={i for i in own if i}
            )
        except STORE_ERRORS as exc:
            log.warning("alert message not stored", extra={"error": str(exc)})

    @app.event("member_joined_channel")
    async def on_joined(event: dict[str, Any]) -> None:
        if event.get("channel") and event.get("user"):
            services.privacy.joined(str(event["channel"]), str(event["user"]))

    @app.event("member_left_channel")
    async def on_left(event: dict[str, Any]) -> None:
        if event.get("channel") and event.get("user"):
            services.privacy.left(str(event["channel"]), str(event["user"]))
