"""Who may do what: the one place that decides whether a person may act on an incident.

Every slash verb (the dispatch in handlers/incident.py), every button and every modal
(handlers/policy.py) asks `Policy.check(action, incident, user, where=...)` before acting;
nothing else decides. The answer is a `Decision`; blocks/policy.py words a refusal.

A check asks, in order:

1. **Declares** (`declare`) are counted per user against `permissions.declare_per_user`
   (GCRA in Redis, so the limit holds across replicas); a refused declare is told when it
   may try again.
2. **Bound**: an action that names an incident (a button's value, a modal's metadata) is
   taken where the bot offers it: the incident's own channel; a DM with the bot for what
   the bot sends in DMs (a follow-up's reminder); the announce channel for what the
   announcement offers; or, for a public incident, wherever the bot shows it by design
   (the follow-ups list, `shown="anywhere"`). Anywhere else the clicker must be a member
   of the incident's channel. A refusal to a
   non-member of a private incident says nothing about it.
3. **Permitted**: the user is one of the action's principals (`permissions.<action>`):
   `anyone`, `channel_members`, `roles` (whoever holds one of its roles right now), a user
   group (S…, members cached `GROUP_TTL` seconds) or a user (U…). Actions without a key
   (`OPEN_ACTIONS`: posting an update, inviting, the post-mortem, ...) are open to anyone
   bound to the incident.

Membership comes from bot/privacy.py's cache of the channel's members; a "no" is asked
again from Slack once (someone who just joined is not refused for a stale cache). A
command typed in the incident's channel proves its typer is in it.

Every refusal about an incident lands on its timeline (kind `refused`), appended without
bumping the generation (a record, not a change of its state), at most once a minute per
person and action, so a click flood cannot grow the timeline.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import KW_ONLY, dataclass
from typing import Literal, Protocol

from cachetools import TTLCache

import blocks.mrkdwn as mk
from blocks.mrkdwn import Mrkdwn
from blocks.policy import refusal_line
from bot.core.config import IncidentConfig, RateLimit
from bot.core.feature import Feature
from bot.core.metrics import Metrics
from bot.core.models import Incident, TimelineEntry
from bot.core.slack import SlackError
from bot.core.store import Once, Rate

log = logging.getLogger(__name__)


class ChannelMembers(Protocol):
    """Who is in a channel (bot/privacy.py's cache of conversations.members)."""

    async def members(self, channel: str, *, max_age: float | None = None) -> frozenset[str]: ...


GROUP_TTL = 60.0  # seconds a user group's members are trusted
GROUPS_CACHED = 1024
SUBMISSION_TTL = 24 * 3600  # seconds a modal's submission is remembered (Slack may resend)
ASK_EVERY = 300  # seconds: one request in the channel per person and action this often
RECHECK_AGE = 2.0  # a cached "not a member" older than this is asked again
REFUSAL_NOTE_TTL = 60  # at most one timeline entry per person, action and incident this long

# actions whose principals are configured (IncidentConfig.permissions), and how a sentence
# says them: "Only … may <doing>."
DOING: dict[str, str] = {
    "resolve": "resolve it",
    "lower_severity": "lower its severity",
    "raise_severity": "raise its severity",
    "status": "change its status",
    "hand_over": "hand over command",
    "take_command": "take command",
    "assign_role": "assign its roles",
    "snooze": "snooze its update reminder",
    "escalate": "escalate it",
    "runbook": "work its runbooks",
    "stakeholder_update": "send its stakeholder updates",
    "close_private_followups": "close its follow-ups",
    "doctor": "run the set-up checks",
}
# actions open to anyone bound to the incident (no key; the binding still applies)
OPEN_ACTIONS: dict[str, str] = {
    "update": "post an update",
    "invite": "invite people into it",
    "postmortem": "work on its post-mortem",
    "retry_setup": "retry its set-up",
    "drill": "acknowledge the drill's page",
    "followup": "close its follow-ups",
    "ask": "ask for it",
    "timeline": "add to its timeline",  # the Add to incident timeline shortcut
}

Why = Literal["ok", "permission", "channel", "rate"]
# where the bot shows an action: only in the incident's channel; on the announcement too;
# anywhere (a public incident's action may be taken from any channel); in a DM it sends to
# the person concerned (a follow-up's owner)
Shown = Literal["incident", "announcement", "anywhere", "dm"]


@dataclass(frozen=True)
class Where:
    """Where the user acted: the channel (None: unknown, e.g. a modal opened from a
    shortcut), whether they typed a command there, and where the bot shows the action."""

    channel: str | None
    typed: bool = False
    shown: Shown = "incident"


@dataclass(frozen=True)
class Who:
    """One principal, described for the sentence that names who may."""

    kind: Literal["anyone", "channel_members", "roles", "group", "user"]
    id: str | None = None  # the channel, user group or user
    holders: tuple[tuple[str, str], ...] = ()  # roles: (role, user) now holding them


@dataclass(frozen=True)
class Decision:
    action: str
    allowed: bool
    why: Why = "ok"
    incident_id: str | None = None
    # refused by the binding for a private incident the user is not in: say nothing of it
    hidden: bool = False
    channel: str | None = None  # the incident's channel, to point at
    who: tuple[Who, ...] = ()
    ask: tuple[Mrkdwn, ...] = ()  # mentions of whom to ask (<@U…>, <!subteam^S…>)
    offer_command: bool = False  # nobody commands the incident: offer to take command
    retry_after: float = 0.0  # a refused declare: seconds until the next is allowed
    rate: RateLimit | None = None
    where: str | None = None  # the channel acted from

    @property
    def doing(self) -> str:
        return DOING.get(self.action) or OPEN_ACTIONS.get(self.action) or self.action


def severity_action(config: IncidentConfig, incident: Incident, severity: str) -> str:
    worse = config.severity_rank(severity) < config.severity_rank(incident.severity)
    return "raise_severity" if worse else "lower_severity"


def role_action(incident: Incident, role: str) -> str:
    if role != "commander":
        return "assign_role"
    return "hand_over" if incident.commander else "take_command"


def status_action(status: str) -> str:
    return "resolve" if status == "resolved" else "status"


def mentions(who: tuple[Who, ...]) -> tuple[Mrkdwn, ...]:
    """Whom a refused person can ask, as the mentions that ring them: the role holders,
    the named users and groups."""
    out: list[Mrkdwn] = []
    for w in who:
        if w.kind == "roles":
            out += [mk.user(user) for _, user in w.holders]
        elif w.kind == "user" and w.id:
            out.append(mk.user(w.id))
        elif w.kind == "group" and w.id:
            out.append(mk.usergroup(w.id))
    return tuple(dict.fromkeys(out))


@dataclass(eq=False)
class Policy(Feature):
    privacy: ChannelMembers
    _: KW_ONLY
    metrics: Metrics | None = None

    def __post_init__(self) -> None:
        self._groups: TTLCache[str, frozenset[str]] = TTLCache(
            maxsize=GROUPS_CACHED, ttl=GROUP_TTL, timer=time.monotonic
        )

    async def check(
        self, action: str, incident: Incident | None, user: str, *, where: Where | None = None
    ) -> Decision:
        """May `user` do `action` on `incident` (None: an action outside any incident),
        acting from `where` (None: no binding to check, e.g. the bot's own follow-through)?
        A refusal is counted and put on the incident's timeline before it is returned."""
        if action == "declare":
            decision = await self._declare(user)
        elif (
            incident is not None
            and where is not None
            and not await self._bound(incident, user, where)
        ):
            decision = Decision(
                action,
                False,
                "channel",
                incident_id=incident.id,
                hidden=incident.private,
                channel=incident.channel_id,
                where=where.channel,
            )
        else:
            decision = await self._permitted(action, incident, user, where)
        if not decision.allowed:
            await self._refused(decision, incident, user)
        return decision

    async def first_submission(self, view_id: str) -> bool:
        """True the first time a modal's submission is seen, on any replica: one update per
        modal, however often Slack or the user sends it (DESIGN rule 2)."""
        return await self.store.claim_view(view_id, ttl=SUBMISSION_TTL)

    async def first_ask(self, incident: Incident, user: str, action: str) -> bool:
        """True unless `user` asked for `action` in `incident` within ASK_EVERY seconds: a
        second click on a refusal's Ask (or a flood of them) asks once."""
        key = f"{incident.id}:{user}:{action}"
        return await self.store.claim_once(Once.ASK, key, ttl=ASK_EVERY)

    def principals(self, action: str) -> list[str]:
        if action in OPEN_ACTIONS:
            return ["anyone"]
        if action not in DOING:
            raise KeyError(f"no permission {action!r}")
        principals: list[str] = getattr(self.config.permissions, action)
        return principals

    def who(self, action: str, incident: Incident | None) -> tuple[Who, ...]:
        """The action's principals for this incident, described."""
        out: list[Who] = []
        for p in self.principals(action):
            if p == "roles":
                holders = tuple(
                    (r, u) for r, u in (incident.roles if incident else {}).items() if u
                )
                out.append(Who("roles", holders=holders))
            elif p == "channel_members":
                out.append(Who("channel_members", incident.channel_id if incident else None))
            elif p == "anyone":
                out.append(Who("anyone"))
            else:
                out.append(Who("group" if p.startswith("S") else "user", p))
        return tuple(out)

    # -- the three questions -------------------------------------------------------------
    async def _declare(self, user: str) -> Decision:
        rate = self.config.permissions.declare_per_user
        wait = await self.store.take_rate(
            Rate.DECLARE,
            user,
            interval=rate.per.total_seconds() / rate.count,
            burst=rate.count,
            now=self.clock(),
        )
        if wait <= 0:
            return Decision("declare", True)
        return Decision("declare", False, "rate", retry_after=math.ceil(wait), rate=rate)

    async def _bound(self, incident: Incident, user: str, where: Where) -> bool:
        channel = where.channel
        if channel is not None:
            if channel == incident.channel_id:
                return True
            if where.shown == "dm" and channel.startswith("D"):
                # the clicker's DM with the bot, for an action the bot sends there: any
                # other button would not be in a DM, so it is treated as from elsewhere
                return True
            if where.shown == "announcement" and channel == incident.announce_channel:
                return True
        if where.shown == "anywhere" and not incident.private:
            return True
        return await self._member(incident, user, where)

    async def _permitted(
        self, action: str, incident: Incident | None, user: str, where: Where | None
    ) -> Decision:
        principals = self.principals(action)
        if "anyone" in principals or user in principals:
            return Decision(action, True)
        if incident is not None and "roles" in principals and user in incident.roles.values():
            return Decision(action, True)
        if (
            incident is not None
            and "channel_members" in principals
            and await self._member(incident, user, where)
        ):
            return Decision(action, True)
        for group in (p for p in principals if p.startswith("S")):
            if user in await self._group(group):
                return Decision(action, True)
        who = self.who(action, incident)
        vacant = (
            incident is not None
            and not incident.commander
            and "roles" in principals
            and action not in ("take_command", "hand_over")
        )
        return Decision(
            action,
            False,
            "permission",
            incident_id=incident.id if incident else None,
            channel=incident.channel_id if incident else None,
            who=who,
            ask=mentions(who),
            offer_command=vacant,
            where=where.channel if where else None,
        )

    # -- membership ----------------------------------------------------------------------
    async def _member(self, incident: Incident, user: str, where: Where | None) -> bool:
        channel = incident.channel_id
        if channel is None:  # no channel yet: those it will invite
            return user == incident.declared_by or user in incident.roles.values()
        if where is not None and where.typed and where.channel == channel:
            return True  # Slack lets only members type in a channel
        try:
            if user in await self.privacy.members(channel):
                return True
            return user in await self.privacy.members(channel, max_age=RECHECK_AGE)
        except SlackError as exc:
            log.warning(
                "membership unknown, refusing", extra={"incident": incident.id, "error": exc.code}
            )
            return False

    async def _group(self, group: str) -> frozenset[str]:
        cached = self._groups.get(group)
        if cached is not None:
            return cached
        try:
            members = frozenset(await self.slack.usergroup_members(group))
        except SlackError as exc:
            log.warning("user group unknown", extra={"group": group, "error": exc.code})
            return frozenset()  # not cached: asked again next time
        self._groups[group] = members
        return members

    # -- refusals ------------------------------------------------------------------------
    async def _refused(self, decision: Decision, incident: Incident | None, user: str) -> None:
        if self.metrics is not None:
            self.metrics.refusals.labels(decision.action, decision.why).inc()
        log.info(
            "refused",
            extra={
                "incident": incident.id if incident else None,
                "action": decision.action,
                "why": decision.why,
            },
        )
        if incident is None:
            return
        key = f"{incident.id}:{user}:{decision.action}"
        entry = TimelineEntry(
            at=self.clock(), actor=user, kind="refused", text=refusal_line(decision, user)
        )
        await self.store.append_marked(
            incident.id, entry, scope=Once.REFUSED, key=key, ttl=REFUSAL_NOTE_TTL
        )
