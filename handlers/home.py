"""The App Home: `app_home_opened` publishes the viewer's Home tab (bot/home.py), and its
*Declare incident* button opens the declare form `/incident declare` opens."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

import blocks.home as ui
from bot.core.errors import STORE_ERRORS
from bot.core.slack import SlackError
from bot.services import Services
from handlers.incident import open_declare_form

log = logging.getLogger(__name__)


def register(app: AsyncApp, svc: Services) -> None:
    @app.event("app_home_opened")
    async def home_opened(event: dict[str, Any]) -> None:
        # Bolt has acked already; the Messages tab needs nothing
        user = event.get("user")
        if event.get("tab") != "home" or not isinstance(user, str) or not user:
            return
        try:
            await svc.home.opened(user)
        except STORE_ERRORS as exc:
            log.warning("Home tab not published", extra={"error": str(exc)})

    @app.action(ui.ACTION_DECLARE)
    async def declare(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        # a Home tab has no channel to answer in: a failure is the log's
        try:
            await open_declare_form(svc, str(body.get("trigger_id") or ""), channel=None)
        except SlackError as exc:
            log.warning("declare form not opened", extra={"error": exc.code})
