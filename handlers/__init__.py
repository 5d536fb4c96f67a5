"""Slack listeners: parse the request, call one service, render, reply. Thin on purpose."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.services import Services


def register(app: AsyncApp, services: Services) -> None:
    from handlers import alerts, doctor, events, incident, interactions, oncall, reminders, runbooks

    incident.register(app, services)
    interactions.register(app, services)
    events.register(app, services)
    runbooks.register(app, services)
    oncall.register(app, services)
    reminders.register(app, services)
    doctor.register(app, services)
    alerts.register(app, services)
