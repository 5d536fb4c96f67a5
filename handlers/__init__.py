"""Slack listeners: parse the request, call one service, render, reply. Thin on purpose."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.services import Services


def register(app: AsyncApp, services: Services) -> None:
    from handlers import events, incident, interactions, runbooks

    incident.register(app, services)
    interactions.register(app, services)
    events.register(app, services)
    runbooks.register(app, services)
