"""Every `/incident` verb, the core ones included, in one registry built at start-up.

A handler module marks each of its verbs where it is written:

    @verb("postmortem", usage="/incident postmortem [done]")
    async def postmortem(ctx: VerbContext) -> None: ...

The mark is only an attribute on the function: importing a module changes nothing.
`Verbs.collect(modules)` reads the marks of the handler modules the app registers
(handlers/__init__.py lists them), so one registry answers for the whole command: what
each verb is called (and its aliases), its usage line, how its arguments are read
(`grammar`, handlers/parse.py; by default the rest as free text in `ctx.cmd.text`, and as
Slack sent it, real mention tokens included, in `ctx.cmd.wire`), where it runs and what
the permissions policy calls it.

`in_incident=True` (the default) means the verb runs only inside an incident channel
and gets the incident; `False` means it runs anywhere (`ctx.incident` is the channel's
incident or None); `channel_incident=False`: it never uses the channel's incident (a
declare makes a new one), so none is looked up (`ctx.incident` is None). `action` names
what the verb does in the permissions policy (bot/core/policy.py): the dispatch asks the
policy before the handler runs. A function of the context (command, incident) when it
depends on them; None: nothing to ask. A handler that finds its arguments wrong raises
`UsageError(problem)`; the answer carries its usage.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from slack_bolt.async_app import AsyncRespond

from blocks.mrkdwn import readable
from bot.core.config import IncidentConfig
from bot.core.models import Incident
from bot.services import Services
from handlers.parse import Args, Command, Grammar, UsageError, free_text


@dataclass
class VerbContext:
    svc: Services
    cmd: Command
    incident: Incident | None
    user: str
    channel: str
    respond: AsyncRespond
    trigger_id: str | None = None
    response_url: str | None = None


VerbHandler = Callable[[VerbContext], Awaitable[None]]
VerbAction = str | Callable[[VerbContext], str | None] | None


@dataclass(frozen=True)
class Verb:
    name: str
    usage: str
    handler: VerbHandler
    in_incident: bool = True
    action: VerbAction = None
    grammar: Grammar = free_text
    aliases: tuple[str, ...] = ()
    channel_incident: bool = True

    def action_for(self, ctx: VerbContext) -> str | None:
        return self.action(ctx) if callable(self.action) else self.action


_MARK = "__incident_verb__"


def verb(
    name: str,
    *,
    usage: str,
    in_incident: bool = True,
    action: VerbAction = None,
    grammar: Grammar = free_text,
    aliases: tuple[str, ...] = (),
    channel_incident: bool = True,
) -> Callable[[VerbHandler], VerbHandler]:
    """Mark `fn` as the handler of `/incident <name>` (read by `Verbs.collect`)."""

    def mark(fn: VerbHandler) -> VerbHandler:
        found = Verb(name, usage, fn, in_incident, action, grammar, aliases, channel_incident)
        setattr(fn, _MARK, found)
        return fn

    return mark


class Verbs:
    """The registry: verbs by name and alias, in the order help lists them."""

    def __init__(self, verbs: Iterable[Verb]) -> None:
        self._listed: list[Verb] = []
        self._by_name: dict[str, Verb] = {}
        for v in verbs:
            for name in (v.name, *v.aliases):
                if name in self._by_name:
                    raise ValueError(f"/incident {name} is registered twice")
                self._by_name[name] = v
            self._listed.append(v)

    @classmethod
    def collect(cls, modules: Iterable[ModuleType]) -> Verbs:
        """Every verb marked in `modules`, in module then definition order."""
        found: list[Verb] = []
        for module in modules:
            for value in vars(module).values():
                mark: Any = getattr(value, _MARK, None)
                if isinstance(mark, Verb) and mark.handler is value:
                    found.append(mark)
        return cls(found)

    def get(self, name: str) -> Verb | None:
        return self._by_name.get(name)

    def usages(self) -> list[str]:
        return [v.usage for v in self._listed]

    def parse(self, text: str, config: IncidentConfig) -> tuple[Verb, Command]:
        """The verb and its arguments read by its grammar; no text is `help`."""
        words = text.split()
        name = words[0].lower() if words else "help"
        found = self._by_name.get(name)
        if found is None:
            raise UsageError(f"Unknown command “{readable(words[0])}”.")
        rest = text.strip()[len(words[0]) :].strip() if words else ""
        try:
            return found, found.grammar(Args(found.name, words[1:], rest, config))
        except UsageError as err:
            err.usage = found.usage
            raise
