"""The `/incident` grammars: text in, a `Command` or a `UsageError` out. Pure.

Each verb in the registry (handlers/verbs.py) names its grammar: a function of the words
after the verb. The registry finds the verb; the grammar reads its arguments.

Slack sends the text as it sends every message's (the manifest sets `should_escape:
true`): what was typed with `&`, `<`, `>` escaped, and real mentions, channels, user groups,
`@here` and links as tokens (`<@U123|name>`, `<!here>`, `<https://…|label>`). A person
is taken only from a whole real mention token (a bare `@name` cannot be resolved and gets
a usage error); free text is stored as its reader saw it (`blocks.mrkdwn.readable`), so a
typed `&lt;!here&gt;` or a real `<!here>` is text from then on, never markup.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from blocks.mrkdwn import mention_id, readable
from bot.core.config import IncidentConfig
from bot.core.models import STATUSES
from bot.core.severity import looks_like_severity


class UsageError(Exception):
    """Bad arguments. `usage` is filled in by whoever knows the verb (the registry, when
    a grammar or a verb's handler raises it)."""

    def __init__(self, problem: str, usage: str | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.usage = usage or "/incident help"


@dataclass(frozen=True)
class Command:
    verb: str
    text: str = ""  # free text as its reader saw it (plain: builders escape it)
    # the same text as Slack sent it, for grammars that read real mentions
    wire: str = field(default="", compare=False)
    severity: str | None = None
    status: str | None = None
    role: str | None = None
    user: str | None = None
    private: bool = False


@dataclass(frozen=True)
class Args:
    """What follows the verb: `words` split on whitespace, `rest` the whole remainder as
    Slack sent it."""

    verb: str
    words: list[str]
    rest: str
    config: IncidentConfig


Grammar = Callable[[Args], Command]


def free_text(a: Args) -> Command:
    """The rest as free text, possibly empty; the verb's handler reads it further."""
    return Command(a.verb, text=readable(a.rest), wire=a.rest)


def required_text(a: Args) -> Command:
    if not a.rest:
        raise UsageError(f"Say what the {a.verb} is.")
    return free_text(a)


def no_args(a: Args) -> Command:
    if a.words:
        raise UsageError(f"`{a.verb}` takes no arguments.")
    return Command(a.verb)


def declare(a: Args) -> Command:
    args, private = a.words, False
    while args and args[0].lower() in ("--private", "-p"):
        private, args = True, args[1:]
    severity = None
    if args and (sev := a.config.resolve_severity(args[0])):
        severity, args = sev, args[1:]
    elif args and looks_like_severity(args[0]):
        raise UsageError(f"Unknown severity “{readable(args[0])}”; use {_sev_names(a.config)}.")
    title = " ".join(args)
    return Command("declare", text=readable(title), wire=title, severity=severity, private=private)


def status(a: Args) -> Command:
    if len(a.words) != 1 or a.words[0].lower() not in STATUSES:
        raise UsageError(f"Give one of {', '.join(STATUSES)}.")
    return Command("status", status=a.words[0].lower())


def severity(a: Args) -> Command:
    if len(a.words) != 1:
        raise UsageError("Give one severity.")
    found = a.config.resolve_severity(a.words[0])
    if not found:
        shown = readable(a.words[0])
        raise UsageError(f"Unknown severity “{shown}”; use {_sev_names(a.config)}.")
    return Command("severity", severity=found)


def commander(a: Args) -> Command:
    if len(a.words) != 1:
        raise UsageError("Name one person.")
    return Command("role", role="commander", user=_user(a.words[0]))


def role(a: Args) -> Command:
    if len(a.words) != 2:
        raise UsageError("Give a role and one person.")
    name = a.words[0].lower().replace("-", "_")
    if name not in a.config.roles:
        known = ", ".join(r.replace("_", "-") for r in a.config.roles)
        raise UsageError(f"Unknown role “{readable(a.words[0])}”; roles here: {known}.")
    return Command("role", role=name, user=_user(a.words[1]))


def one_id(a: Args) -> Command:
    """An optional single id (a runbook's), lower-cased."""
    if len(a.words) > 1:
        raise UsageError(f"Give one {a.verb} id, or none to list them.")
    return Command(a.verb, text=readable(a.words[0]).lower() if a.words else "")


def _user(token: str) -> str:
    user = mention_id(token)
    if user is None:
        raise UsageError(f"“{readable(token)}” is not a Slack mention; type @ and pick the person.")
    return user


def _sev_names(config: IncidentConfig) -> str:
    return ", ".join(s.name for s in config.severities)
