"""Slack listeners: parse the request, call one service, render, reply. Thin on purpose."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.services import Services


def register(app: AsyncApp, services: Services) -> None:
    from handlers import (
        alerts,
        doctor,
        drills,
        events,
        followups,
        incident,
        interactions,
        oncall,
        policy,
        postmortem,
        privacy,
        procedure,
        reminders,
        runbooks,
        timeline_capture,
    )

    incident.register(app, services)
    interactions.register(app, services)
    events.register(app, services)
    runbooks.register(app, services)
    oncall.register(app, services)
    reminders.register(app, services)
    doctor.register(app, services)
    alerts.register(app, services)
    postmortem.register(app, services)
    followups.register(app, services)
    timeline_capture.register(app, services)
    procedure.register(app, services)
    privacy.register(app, services)
    drills.register(app, services)
    policy.register(app, services)
