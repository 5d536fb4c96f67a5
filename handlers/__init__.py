"""Slack listeners: parse the request, call one service, render, reply. Thin on purpose.

`MODULES` is the one list of handler modules: each wires its listeners in `register()`,
and the `/incident` verbs marked in them make the one registry (handlers/verbs.py)."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.services import Services
from handlers import (
    alerts,
    doctor,
    drills,
    escalations,
    events,
    followups,
    home,
    incident,
    interactions,
    oncall,
    paging,
    policy,
    postmortem,
    privacy,
    procedure,
    reminders,
    runbooks,
    shortcuts,
    stakeholders,
    stats,
    timeline,
)
from handlers.verbs import Verbs

# the order of `/incident help` follows the modules' order
MODULES = (
    incident,
    interactions,
    events,
    runbooks,
    oncall,
    reminders,
    paging,
    escalations,
    stakeholders,
    doctor,
    alerts,
    postmortem,
    stats,
    followups,
    timeline,
    procedure,
    privacy,
    drills,
    home,
    policy,
    shortcuts,
)


def all_verbs() -> Verbs:
    """Every `/incident` verb of the handler modules."""
    return Verbs.collect(MODULES)


def register(app: AsyncApp, services: Services) -> None:
    verbs = all_verbs()
    incident.register(app, services, verbs)
    for module in MODULES:
        if module is not incident:
            module.register(app, services)
