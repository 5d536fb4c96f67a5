"""The incident lifecycle: declare, update, status, severity, roles, resolve.

The rules live here. Every change is one atomic `Store.update` (state + timeline), then
`sync()` brings Slack's copies (card, topic, announcement: bot/incidents/copies.py) in
line with the stored state, so a failed Slack call never leaves the store wrong, and a
later change heals it. The channel's naming: bot/incidents/channel.py.

Declaring is a saga (DESIGN rule 2): the incident is stored first, then each Slack
step (channel, invite, card, pin, topic, announce) is recorded on the incident as it
finishes. `setup()` runs only the missing steps, so a retry resumes. The channel is the
incident's only by the id recorded from Slack's answer: a taken name means a fresh name
(`new_channel`), never adopting whatever channel has it.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime

from cachetools import TTLCache

import blocks.incident as ui
import blocks.mrkdwn as mk
from blocks.mrkdwn import Mrkdwn, md
from bot.core import redaction
from bot.core.config import IncidentConfig
from bot.core.errors import STORE_ERRORS
from bot.core.events import Subscriber
from bot.core.identity import Identity
from bot.core.metrics import Metrics
from bot.core.models import (
    DrillInfo,
    Incident,
    LifecycleEvent,
    MessageRef,
    StatusUpdate,
    TimelineEntry,
)
from bot.core.slack import Slack, SlackError
from bot.core.store import Once, Store
from bot.incidents.channel import channel_name
from bot.incidents.copies import Copies
from bot.incidents.errors import AlreadyDeclaring, DeclareUncertain, IncidentError, SetupBusy
from bot.incidents.roles import ANYONE, RoleChange, check_person
from bot.incidents.setup import Setup

log = logging.getLogger(__name__)

__all__ = [
    "AlreadyDeclaring",
    "DeclareUncertain",
    "IncidentError",
    "Incidents",
    "SetupBusy",
    "channel_name",
]

KEY_TTL = 7 * 86400  # how long a declare key (see declare) names its incident
SET_UP_KEPT = 60.0  # seconds a set-up's result serves the subscribers after it (after_set_up)


# a feature's part of a declaration (Incidents.at_declare)
Prepare = Callable[[Incident, float], Awaitable[list[TimelineEntry]]]


def _entry(at: float, actor: str | None, kind: str, text: Mrkdwn) -> TimelineEntry:
    return TimelineEntry(at=at, actor=actor, kind=kind, text=text)


class Incidents:
    def __init__(
        self,
        store: Store,
        slack: Slack,
        config: IncidentConfig,
        *,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.metrics = metrics or Metrics()
        self.store = store
        self.slack = slack
        self.config = config
        self.clock = clock
        # this install's identity: numbers and PagerDuty keys never repeat an earlier one's
        self.identity = Identity(store, slack, prefixes=(config.channel_prefix, "drill"))
        self.copies = Copies(store, slack, config, clock=clock)
        self.saga = Setup(store, slack, config, post=self._post, clock=clock)
        # (incident, event id, attempt) -> the incident as on_declared's set-up left it
        self._set_up: TTLCache[tuple[str, str, int], Incident] = TTLCache(256, SET_UP_KEPT)
        self._at_declare: list[Prepare] = []

    # -- declare -------------------------------------------------------------------------
    async def declare(
        self,
        *,
        title: str,
        severity: str | None,
        by: str,
        description: str = "",
        source: str = "slack",
        runbook: str | None = None,
        alertname: str | None = None,
        roles: dict[str, str] | None = None,
        key: str | None = None,
        private: bool | None = None,
        labels: Mapping[str, str] | None = None,
        drill: DrillInfo | None = None,
        reply: Mapping[str, str] | None = None,
        origin: MessageRef | None = None,
    ) -> Incident:
        """Record an incident and its `declared` event; the set-up follows from the event
        (`on_declared`), so this returns before the channel exists. `reply`: how to tell
        the declarer once it is set up (`response_url`, or `channel` and `user`). `roles`
        defaults to the declarer as commander (an alert declares with none). With `key`,
        declaring is idempotent: a retry with the same key (a redelivered alert) gets that
        incident instead of a second one.
        `private`: a private (security) incident; None: as the config's `private:` says
        for its runbook and alert `labels`. `drill`: a game-day drill (bot/drills/), in a
        `drill-…` channel. `origin`: the message it is declared from (its card links it)."""
        title = " ".join(title.split())
        if not title:
            raise IncidentError("An incident needs a title.")
        if len(title) > 150:
            raise IncidentError(
                "Keep the title under 150 characters; details go in the description."
            )
        severity = severity or self.config.severities[min(2, len(self.config.severities) - 1)].name
        now = self.clock()
        day = datetime.fromtimestamp(now, UTC).strftime("%Y%m%d")
        incident_id: str | None = None
        if key is not None:
            incident_id = await self.store.once_value(Once.DECLARE, key)
            if incident_id and (existing := await self.store.get(incident_id)):
                return existing  # its `declared` event sets it up (or has)
        if incident_id:  # the key was taken, then the process died before storing it
            day, number = incident_id.split("-", 1)[0], int(incident_id.split("-", 1)[1])
        else:
            number = await self._number(day)
            incident_id = f"{day}-{number}"
            if key is not None and not await self.store.claim_once(
                Once.DECLARE, key, ttl=KEY_TTL, value=incident_id
            ):  # another worker is declaring it this very moment (callers hold a lease)
                raise AlreadyDeclaring("That incident is being declared right now.")
        incident = Incident(
            id=incident_id,
            title=title,
            severity=severity,
            description=description.strip(),
            declared_by=by,
            declared_at=now,
            roles={"commander": by} if roles is None else dict(roles),
            source=source,
            runbook=runbook,
            alertname=alertname,
            origin=origin,
            channel_name=channel_name(
                "drill" if drill else self.config.channel_prefix, day, number, title
            ),
            drill=drill,
        )
        if private is None:
            private = redaction.private_by_default(self.config, runbook=runbook, labels=labels)
        if private:
            incident.private = True
            incident.channel_name = redaction.private_channel_name(
                "drill" if drill else self.config.channel_prefix, day, number
            )
        label = self.config.severity(severity).label
        text = md("Declared {} ({}){}: {}", severity, label, " private" if private else "", title)
        if origin is not None and origin.permalink:
            text += md(" (from {})", mk.link(origin.permalink, "this message"))
        entry = _entry(now, by, "declared", text)
        more = [e for prepare in self._at_declare for e in await prepare(incident, now)]
        await self._create(incident, [entry, *more], reply)
        log.info("incident declared", extra={"incident": incident.id, "severity": severity})
        self.metrics.incidents_declared.labels(severity, source).inc()
        return incident

    async def _number(self, day: str) -> int:
        number = await self.store.next_number(day)
        if number is None:  # a store without an install record: new, or it lost its data
            await self.identity.ensure()
            number = await self.store.next_number(day)
        if number is None:
            raise IncidentError("The incident store was reset just now; declare again.")
        return number

    def at_declare(self, prepare: Prepare) -> None:
        """A feature's part of every declaration, written with it: `prepare(incident, now)`
        edits the new incident and returns the timeline entries that adds (the pager asks
        for the page there, so the request is not a write of its own)."""
        self._at_declare.append(prepare)

    async def _create(
        self, incident: Incident, entries: list[TimelineEntry], reply: Mapping[str, str] | None
    ) -> None:
        """Store the incident with its `declared` event. A store that fails meanwhile may
        have taken the write: the revision read back says which, so the declarer hears the
        truth (recorded, set-up continues; or nothing recorded)."""
        incident.rev = uuid.uuid4().hex
        first, *more = entries
        try:
            data = {"reply": dict(reply or {})}
            if await self.store.create(incident, first, more=more, data=data):
                return
            # its id is taken: by this very write, retried after a dropped connection, or
            # by an incident the day's counter forgot (a failover lost its last increment)
            stored = await self.store.get(incident.id)
            if stored is None or stored.rev != incident.rev:
                raise IncidentError(f"Incident {incident.id} exists already; declare again.")
        except STORE_ERRORS as exc:
            try:
                stored = await self.store.get(incident.id)
            except STORE_ERRORS:
                raise DeclareUncertain(incident.id) from exc
            if stored is None or stored.rev != incident.rev:
                raise
            log.info("incident recorded despite a store error", extra={"incident": incident.id})

    async def on_declared(self, event: LifecycleEvent) -> None:
        """The urgent `setup` subscriber (bot/core/events.py): whichever replica takes the
        `declared` event makes the incident's channel (resuming what an interrupted set-up
        left) and tells the declarer where it is, or that it could not be made. The rest
        of the set-up is `on_declared_rest`'s, among the subscribers that are not urgent:
        in a burst, every declarer hears of their channel before the cards and
        announcements of the others are made."""
        first = event.attempt == 1  # nothing but this set-up changed it since, but the page
        incident = await self.saga.channel(
            event.incident.id, resumed=not first, declared=event.incident if first else None
        )
        self._set_up[_delivery(event)] = incident
        reply = event.data.get("reply") or {}
        if reply:
            await self._tell_declarer(incident, reply)

    async def on_declared_rest(self, event: LifecycleEvent) -> None:
        """The `setup-rest` subscriber, the first that is not urgent: the set-up's steps
        after the channel (invite, card and pin, topic, announcement)."""
        incident = await self._as_set_up(event)
        if "channel" not in incident.setup_done:
            return  # it could not be made; the declarer was told, Retry set-up is offered
        incident = await self.saga.rest(incident, resumed=event.attempt > 1)
        self._set_up[_delivery(event)] = incident
        self.metrics.declare_seconds.observe(max(0.0, self.clock() - incident.declared_at))

    def after_set_up(
        self, on_incident_event: Callable[..., Awaitable[None]], *, redelivered: bool = False
    ) -> Subscriber:
        """A feature's `on_incident_event(kind, incident)` as a subscriber that runs after
        the set-up and posts in its channel: it sees the incident as set up, not as the
        change left it. For a `declared` event, as this process's set-up of this delivery
        left it (every later write saw the channel: a read would tell nothing more); else,
        and when another replica set it up, as stored now. With `redelivered`, it is also
        told whether the event was delivered before (what it posts may be there already)."""

        async def handler(event: LifecycleEvent) -> None:
            extra = {"redelivered": event.attempt > 1} if redelivered else {}
            await on_incident_event(event.type, await self._as_set_up(event), **extra)

        return handler

    async def _as_set_up(self, event: LifecycleEvent) -> Incident:
        """The incident as this process's set-up of this delivery left it (a `declared`
        event's); else, and when another delivery or replica set it up, as stored now."""
        incident = self._set_up.get(_delivery(event))
        if event.type != "declared" or incident is None:
            incident = await self.store.get(event.incident.id) or event.incident
        return incident

    async def _tell_declarer(self, incident: Incident, reply: Mapping[str, str]) -> None:
        # shown where it was asked for, outside the incident's channel
        text, blocks = ui.declared_ack(redaction.outside(incident, self.config))
        try:
            if reply.get("response_url"):
                await self.slack.respond(reply["response_url"], text, blocks)
            elif reply.get("channel") and reply.get("user"):
                await self.slack.ephemeral(reply["channel"], reply["user"], text, blocks)
        except SlackError as exc:
            # e.g. a modal opened from a DM the bot cannot post in; the incident stands
            log.info("declarer not told", extra={"incident": incident.id, "error": exc.code})

    async def setup(
        self,
        incident_id: str,
        *,
        resumed: bool = False,
        with_channel: Callable[[Incident], Awaitable[None]] | None = None,
    ) -> Incident:
        """Run the declare saga's missing steps (bot/incidents/setup.py)."""
        return await self.saga.run(incident_id, resumed=resumed, with_channel=with_channel)

    async def new_channel(self, incident: Incident, name: str) -> tuple[str, str]:
        return await self.saga.new_channel(incident, name)

    async def post_update(self, incident: Incident, *, by: str, text: str) -> Incident:
        now = self.clock()
        every = self.config.severity(incident.severity).update_every.total_seconds()

        def mutate(inc: Incident) -> list[TimelineEntry]:
            _require_open(inc)
            inc.last_update = StatusUpdate(
                at=now,
                by=by,
                text=text,
                status=inc.status,
                severity=inc.severity,
                next_due=now + every,
            )
            return [_entry(now, by, "update", md("Status update: {}", text))]

        incident = await self.store.update(incident.id, mutate, emit="updated")
        assert incident.last_update
        msg = ui.status_update(incident, incident.last_update, self.config)
        await asyncio.gather(self._post_blocks(incident, msg), self.sync(incident))
        return incident

    async def set_status(self, incident: Incident, *, by: str, status: str) -> Incident:
        if status == "resolved":
            return await self.resolve(incident, by=by, summary="")
        now = self.clock()

        def mutate(inc: Incident) -> list[TimelineEntry]:
            _require_open(inc)
            if inc.status == status:
                raise IncidentError(f"The incident is already {status}.")
            old, inc.status = inc.status, status  # type: ignore[assignment]
            return [_entry(now, by, "status", md("Status {} → {}", old, status))]

        incident = await self.store.update(incident.id, mutate, emit="status")
        await self._changed(incident, md("{} set the status to *{}*.", mk.user(by), status))
        return incident

    async def set_severity(self, incident: Incident, *, by: str, severity: str) -> Incident:
        now = self.clock()

        def mutate(inc: Incident) -> list[TimelineEntry]:
            _require_open(inc)
            if inc.severity == severity:
                raise IncidentError(f"The incident is already {severity}.")
            old, inc.severity = inc.severity, severity
            return [_entry(now, by, "severity", md("Severity {} → {}", old, severity))]

        before = incident.severity
        incident = await self.store.update(incident.id, mutate, emit="severity")
        worse = self.config.severity_rank(severity) < self.config.severity_rank(before)
        verb = "raised" if worse else "lowered"
        label = self.config.severity(severity).label
        note = md("{} {} the severity to *{}* ({}).", mk.user(by), verb, severity, label)
        await self._changed(incident, note)
        return incident

    async def assign_role(
        self,
        incident: Incident,
        *,
        by: str,
        role: str,
        user: str | None,
        held_by: str | None = ANYONE,
    ) -> Incident:
        """Give `role` to `user` (None: leave it unassigned) as bot/incidents/roles.py's
        `RoleChange` says; `held_by` None: only while nobody holds it (a *Take command*
        click: of two at once, the first takes it and the second is told who did). Anyone
        but `by` must be a person Slack knows (`check_person`)."""
        if role not in self.config.roles:
            raise IncidentError(f"Unknown role {role}.")
        if user is not None and user != by:
            await check_person(self.slack, user)
        change = RoleChange(role, user, by=by, at=self.clock(), held_by=held_by)

        def mutate(inc: Incident) -> list[TimelineEntry]:
            _require_open(inc)
            return change.apply(inc)

        incident = await self.store.update(incident.id, mutate, emit="role")
        if incident.channel_id and user:
            try:
                await self.slack.invite(incident.channel_id, [user])
            except SlackError as exc:
                log.warning("invite failed", extra={"incident": incident.id, "error": exc.code})
        await self._changed(incident, change.note())
        return incident

    async def invite(self, incident_id: str, *, by: str, user: str, why: str = "") -> Incident:
        """Bring someone into the incident channel (e.g. from /oncall) and say so on the
        timeline. Not a change of the incident itself: the timeline entry is appended
        without bumping the generation, so pending reminders stay valid."""
        incident = await self._get(incident_id)
        _require_open(incident)
        if not incident.channel_id:
            raise IncidentError("The incident has no channel yet; retry its set-up first.")
        key = f"{incident.id}:{user}"
        if not await self.store.claim_once(Once.INVITE, key, ttl=10):
            return incident  # a double click or Slack's retry asks Slack once
        try:
            await self.slack.invite(incident.channel_id, [user])
        except SlackError as exc:
            refusal = md("Slack would not invite {} ({}).", mk.user(user), exc.code)
            raise IncidentError(refusal) from exc
        reason = f", {why}" if why else ""
        invited = _entry(self.clock(), by, "invite", md("Invited {}{}", mk.user(user), reason))
        if await self.store.append_marked(
            incident.id, invited, scope=Once.INVITED, key=key, ttl=10
        ):
            await self._post(incident, md("{} invited {}{}.", mk.user(by), mk.user(user), reason))
        return incident

    async def resolve(self, incident: Incident, *, by: str, summary: str) -> Incident:
        now = self.clock()

        def mutate(inc: Incident) -> list[TimelineEntry]:
            _require_open(inc)
            inc.status = "resolved"
            inc.resolved_at = now
            inc.resolution = summary or None
            text = md("Resolved: {}", summary) if summary else md("Resolved")
            return [_entry(now, by, "resolved", text)]

        incident = await self.store.update(incident.id, mutate, emit="resolved")
        note = md(":white_check_mark: {} resolved the incident.", mk.user(by))
        if summary:
            note += md("\n>{}", summary)
        await self._changed(incident, note)
        return incident

    async def reopen(self, incident: Incident, *, by: str, reason: str) -> Incident:
        """Bring a resolved incident back (its alert fired again within the flap window):
        investigating again, the resolution cleared, a `reopened` timeline entry. Emits
        "reopened" so reminders and paging can pick it up again."""
        now = self.clock()

        def mutate(inc: Incident) -> list[TimelineEntry]:
            if inc.is_open:
                raise IncidentError(f"Incident {inc.id} is still open.")
            inc.status = "investigating"
            inc.resolved_at = None
            inc.resolution = None
            return [_entry(now, by, "reopened", md("Reopened: {}", reason))]

        incident = await self.store.update(incident.id, mutate, emit="reopened")
        await self._changed(incident, md(":repeat: Incident reopened: {}", reason))
        return incident

    async def _changed(self, incident: Incident, note: Mrkdwn) -> None:
        await asyncio.gather(self._post(incident, note), self.sync(incident))

    # -- Slack's copies of the state: bot/incidents/copies.py ---------------------------
    async def sync(self, incident: Incident) -> None:
        await self.copies.sync(incident)

    async def _post(self, incident: Incident, text: Mrkdwn) -> None:
        await self._post_blocks(incident, ui.change_notice(text))

    async def _post_blocks(self, incident: Incident, message: ui.Message) -> None:
        if not incident.channel_id:
            return
        text, blocks = message
        try:
            await self.slack.post(incident.channel_id, text, blocks)
        except SlackError as exc:
            log.warning("post failed", extra={"incident": incident.id, "error": exc.code})

    # -- queries -------------------------------------------------------------------------
    async def _get(self, incident_id: str) -> Incident:
        incident = await self.store.get(incident_id)
        if incident is None:
            raise IncidentError(f"No incident {incident_id}.")
        return incident

    async def in_channel(self, channel_id: str) -> Incident | None:
        return await self.store.by_channel(channel_id)

    async def get(self, incident_id: str) -> Incident | None:
        """The incident a click or a modal names, or None when it names none (or one gone)."""
        return await self.store.get(incident_id) if incident_id else None


def _delivery(event: LifecycleEvent) -> tuple[str, str, int]:
    return event.incident.id, event.id, event.attempt


def _require_open(incident: Incident) -> None:
    if not incident.is_open:
        raise IncidentError(f"Incident {incident.id} is resolved; declare a new one if it is back.")
