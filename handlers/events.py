"""Events API listeners (message events in alert channels arrive with the alerts work)."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.services import Services


def register(app: AsyncApp, services: Services) -> None:
    @app.event("message")
    async def on_message() -> None:
        # Messages in incident and alert channels need nothing yet; acking keeps Slack
        # from retrying them.
        return None
