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
from handlers.payloads import AppHomeOpened, BlockActions, Malformed, parse, reply_to
from handlers.replies import ephemeral, responder

log = logging.getLogger(__name__)


def register(app: AsyncApp, svc: Services) -> None:
    @app.event("app_home_opened")
    async def home_opened(event: dict[str, Any]) -> None:
        # Bolt has acked already; the Messages tab needs nothing
        try:
            opened = parse(AppHomeOpened, event)
        except Malformed:
            return  # logged; there is nobody to tell
        if opened.tab != "home":
            return
        try:
            await svc.home.opened(opened.user)
        except STORE_ERRORS as exc:
            log.warning("Home tab not published", extra={"error": str(exc)})

    @app.action(ui.ACTION_DECLARE)
    async def declare(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        try:
            click = parse(BlockActions, body)
        except Malformed as exc:  # the Home tab has no response_url: said in the bot's DM
            await responder(svc, reply_to(body))(**ephemeral(exc.message))
            return
        # a Home tab has no channel to answer in: a failure is the log's
        try:
            await open_declare_form(svc, click.trigger_id, channel=None)
        except SlackError as exc:
            log.warning("declare form not opened", extra={"error": exc.code})
