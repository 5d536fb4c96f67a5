"""The team's procedure in Slack: `/incident roles` and `/incident procedure [SEV]`
(bot/procedure.py words it). Ack first (DESIGN rule 1)."""

from __future__ import annotations

import logging

from slack_bolt.async_app import AsyncApp

import blocks.procedure as ui
from bot.services import Services
from handlers.parse import UsageError, no_args
from handlers.replies import ephemeral
from handlers.verbs import VerbContext, verb

log = logging.getLogger(__name__)


@verb("roles", usage="/incident roles", grammar=no_args)
async def roles_verb(ctx: VerbContext) -> None:
    assert ctx.incident is not None
    await ctx.respond(**ephemeral(ui.roles(ctx.incident, ctx.svc.config)))


@verb("procedure", usage="/incident procedure [SEV1-4]", in_incident=False)
async def procedure_verb(ctx: VerbContext) -> None:
    config = ctx.svc.config
    words = ctx.cmd.text.split()
    if len(words) > 1:
        raise UsageError("Give at most one severity.")
    severity = config.resolve_severity(words[0]) if words else None
    if words and severity is None:
        names = ", ".join(s.name for s in config.severities)
        raise UsageError(f"Unknown severity “{words[0]}”; use {names}.")
    if severity is None and ctx.incident is not None:
        severity = ctx.incident.severity
    await ctx.respond(**ephemeral(ui.procedure(config, severity)))


def register(app: AsyncApp, svc: Services) -> None:
    """Nothing to wire: the verbs above are marked for the registry (handlers/verbs.py)."""
