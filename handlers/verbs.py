"""A registry of `/incident` verbs that features add, so each feature's handler module
declares its own verbs instead of every feature editing one dispatch chain.

    @verb("postmortem", usage="/incident postmortem")
    async def postmortem(ctx: VerbContext) -> None: ...

`in_incident=True` (the default) means the verb runs only inside an incident channel
and gets the incident; `False` means it runs anywhere (`ctx.incident` is the channel's
incident or None). The parser hands a registered verb the rest of the text as
`ctx.cmd.text` (as its reader saw it) and `ctx.cmd.wire` (as Slack sent it, with its real
mention tokens); the handler parses it further and raises UsageError for bad input.

`action` names what the verb does in the permissions policy (bot/policy.py): the
dispatch asks the policy before the handler runs. A function of the command and the
incident when it depends on them; None: nothing to ask.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from slack_bolt.async_app import AsyncRespond

from bot.models import Incident
from bot.services import Services
from handlers.parse import Command, register_usage


@dataclass
class VerbContext:
    svc: Services
    cmd: Command
    incident: Incident | None
    user: str
    channel: str
    respond: AsyncRespond
    trigger_id: str | None = None


VerbHandler = Callable[[VerbContext], Awaitable[None]]
VerbAction = str | Callable[[Command, Incident | None], str | None] | None


@dataclass(frozen=True)
class Verb:
    handler: VerbHandler
    in_incident: bool
    action: VerbAction = None

    def action_for(self, cmd: Command, incident: Incident | None) -> str | None:
        return self.action(cmd, incident) if callable(self.action) else self.action


VERBS: dict[str, Verb] = {}


def verb(
    name: str, *, usage: str, in_incident: bool = True, action: VerbAction = None
) -> Callable[[VerbHandler], VerbHandler]:
    def register(fn: VerbHandler) -> VerbHandler:
        VERBS[name] = Verb(fn, in_incident, action)
        register_usage(name, usage)
        return fn

    return register
