"""The `/incident` grammar: text in, a `Command` or a `UsageError` out. Pure.

Slack sends the text as it sends every message's (the manifest sets `should_escape:
true`): what was typed with `&`, `<`, `>` escaped, and real mentions, channels, user groups,
`@here` and links as tokens (`<@U123|name>`, `<!here>`, `<https://…|label>`). A person
is taken only from a whole real mention token (a bare `@name` cannot be resolved and gets
a usage error); free text is stored as its reader saw it (`blocks.mrkdwn.readable`), so a
typed `&lt;!here&gt;` or a real `<!here>` is text from then on, never markup.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from blocks.incident import USAGE
from blocks.mrkdwn import mention_id, readable
from bot.config import IncidentConfig
from bot.models import STATUSES
from bot.severity import looks_like_severity

# verbs whose handlers later issues add; the parser already knows their shape
EXTRA_USAGE = {
    "runbook": "/incident runbook [id]",
    "escalate": "/incident escalate",
    "postmortem": "/incident postmortem [done]",
    "note": "/incident note <text>",
}
ALL_USAGE = {**USAGE, **EXTRA_USAGE}
# verbs registered by feature handlers (handlers/verbs.py): parsed as `<verb> <rest>`
REGISTERED: set[str] = set()


def register_usage(verb: str, usage: str) -> None:
    REGISTERED.add(verb)
    ALL_USAGE[verb] = usage


class UsageError(Exception):
    def __init__(self, problem: str, verb: str | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.usage = ALL_USAGE.get(verb or "help", ALL_USAGE["help"]) if verb else "/incident help"


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

    @property
    def needs_incident_channel(self) -> bool:
        return self.verb not in ("declare", "list", "help")


def _user(token: str, verb: str) -> str:
    user = mention_id(token)
    if user is None:
        shown = readable(token)
        raise UsageError(f"“{shown}” is not a Slack mention; type @ and pick the person.", verb)
    return user


def parse(text: str, config: IncidentConfig) -> Command:
    words = text.split()
    if not words:
        return Command("help")
    verb, args = words[0].lower(), words[1:]
    rest = text.strip()[len(words[0]) :].strip()

    if verb in ("help", "list", "timeline", "escalate"):
        if args and verb not in ("help",):
            raise UsageError(f"`{verb}` takes no arguments.", verb)
        return Command(verb)

    if verb == "declare":
        private = False
        while args and args[0].lower() in ("--private", "-p"):
            private, args = True, args[1:]
        severity = None
        if args and (sev := config.resolve_severity(args[0])):
            severity, args = sev, args[1:]
        elif args and looks_like_severity(args[0]):
            raise UsageError(f"Unknown severity “{args[0]}”; use {_sev_names(config)}.", verb)
        title = " ".join(args)
        return Command(
            "declare", text=readable(title), wire=title, severity=severity, private=private
        )

    if verb in ("update", "note"):
        if not rest:
            raise UsageError(f"Say what the {verb} is.", verb)
        return Command(verb, text=readable(rest), wire=rest)

    if verb == "status":
        if len(args) != 1 or args[0].lower() not in STATUSES:
            raise UsageError(f"Give one of {', '.join(STATUSES)}.", verb)
        return Command("status", status=args[0].lower())

    if verb in ("severity", "sev"):
        if len(args) != 1:
            raise UsageError("Give one severity.", "severity")
        severity = config.resolve_severity(args[0])
        if not severity:
            shown = readable(args[0])
            raise UsageError(f"Unknown severity “{shown}”; use {_sev_names(config)}.", "severity")
        return Command("severity", severity=severity)

    if verb in ("commander", "ic"):
        if len(args) != 1:
            raise UsageError("Name one person.", "commander")
        return Command("role", role="commander", user=_user(args[0], "commander"))

    if verb == "role":
        if len(args) != 2:
            raise UsageError("Give a role and one person.", verb)
        role = args[0].lower().replace("-", "_")
        if role not in config.roles:
            known = ", ".join(r.replace("_", "-") for r in config.roles)
            raise UsageError(f"Unknown role “{readable(args[0])}”; roles here: {known}.", verb)
        return Command("role", role=role, user=_user(args[1], verb))

    if verb == "resolve":
        return Command("resolve", text=readable(rest), wire=rest)

    if verb == "runbook":
        if len(args) > 1:
            raise UsageError("Give one runbook id, or none to list them.", verb)
        return Command("runbook", text=readable(args[0]).lower() if args else "")

    if verb in REGISTERED:
        return Command(verb, text=readable(rest), wire=rest)

    raise UsageError(f"Unknown command “{readable(words[0])}”.")


def _sev_names(config: IncidentConfig) -> str:
    return ", ".join(s.name for s in config.severities)
