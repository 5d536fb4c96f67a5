"""Private (security) incidents: who is inside one, and making an incident private.

What may be shown outside a private incident's channel is decided by bot/core/redaction.py;
this module finds out who is inside (for `/incident list`) and owns the `/incident
private` conversion (`Incident.conversion`).

- Membership: conversations.members of the incident's channel, cached for `members_ttl`
  seconds in this process and kept in line by member_joined_channel / member_left_channel
  events (the TTL is the backstop for a missed event, and for other replicas). When Slack
  cannot say, the answer is "not a member" (redacted).
- Making private is a saga like declaring (DESIGN rule 2). The incident is marked
  private first, in one store change with its timeline entry, so every surface redacts it
  from then on; then the announcement is redacted in place, the public channel's members
  are read, a private channel is created (`Incidents.new_channel`: under a fresh name when
  its name is taken, never someone else's channel), they (and the security group) are
  invited, the card is re-posted and pinned there, the incident moves to it (its channel
  mapping with it), the topic is set, both channels are told, and the public one is
  archived. Each finished step is recorded on the incident; running `/incident private`
  again resumes.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import KW_ONLY, dataclass

from cachetools import TTLCache

import blocks.incident as ui
import blocks.mrkdwn as mk
import blocks.privacy as pv
from blocks.mrkdwn import md
from bot.core import redaction
from bot.core.feature import Feature
from bot.core.models import Incident, PrivateConversion, TimelineEntry
from bot.core.slack import SlackError
from bot.core.store import Lease
from bot.incidents import IncidentError, Incidents

log = logging.getLogger(__name__)

MEMBERS_TTL = 15.0
MEMBERS_CACHED = 4096  # channels whose members are remembered at once
LEASE_SECONDS = 120.0  # one conversion at a time per incident, across replicas
# conversations.invite errors about one person, not the call: the others are still moved
CANT_INVITE = frozenset(
    {"user_not_found", "cant_invite", "user_is_restricted", "user_is_ultra_restricted"}
)


@dataclass(eq=False)
class Privacy(Feature):
    incidents: Incidents
    _: KW_ONLY
    members_ttl: float = MEMBERS_TTL

    def __post_init__(self) -> None:
        # channel -> (when fetched, its members); joined/left edit a list, not its age
        self._members: TTLCache[str, tuple[float, frozenset[str]]] = TTLCache(
            maxsize=MEMBERS_CACHED, ttl=self.members_ttl, timer=time.monotonic
        )

    # -- who is inside -----------------------------------------------------------------------
    async def members(self, channel: str, *, max_age: float | None = None) -> frozenset[str]:
        """The channel's members, from a cache at most `max_age` (default members_ttl) old."""
        cached = self._members.get(channel)
        now = time.monotonic()
        if cached is not None and now - cached[0] < min(self.members_ttl, max_age or math.inf):
            return cached[1]
        found = frozenset(await self.slack.channel_members(channel))
        self._members[channel] = (now, found)
        return found

    def joined(self, channel: str, user: str) -> None:
        """Slack said `user` joined `channel` (member_joined_channel): a cached member list
        knows at once, instead of within members_ttl."""
        cached = self._members.get(channel)
        if cached is not None:
            self._members[channel] = (cached[0], cached[1] | {user})

    def left(self, channel: str, user: str) -> None:
        """Slack said `user` left or was removed from `channel`: they are out at once."""
        cached = self._members.get(channel)
        if cached is not None:
            self._members[channel] = (cached[0], cached[1] - {user})

    async def is_member(self, incident: Incident, user: str) -> bool:
        """Whether `user` is inside the incident (always, for one that is not private)."""
        if not incident.private:
            return True
        if not incident.channel_id:  # no channel yet: those it will invite
            return user == incident.declared_by or user in incident.roles.values()
        try:
            return user in await self.members(incident.channel_id)
        except SlackError as exc:
            log.warning(
                "membership unknown, redacting", extra={"incident": incident.id, "error": exc.code}
            )
            return False

    async def open_for(self, user: str) -> list[Incident]:
        """The open incidents, as an answer to `user` may show them (`/incident list`)."""
        return await self.for_reader(await self.store.open_incidents(), user=user)

    async def for_reader(self, incidents: Sequence[Incident], *, user: str) -> list[Incident]:
        """Incidents as an answer to `user` may show them (`/incident list`)."""
        return [
            redaction.for_reader(i, self.config, member=await self.is_member(i, user))
            for i in incidents
        ]

    async def joined_open(self, user: str) -> list[Incident]:
        """The open incidents whose channel `user` is in, newest first (what a message
        shortcut offers to add to). A channel Slack cannot list is left out."""
        open_ = [i for i in await self.store.open_incidents() if i.channel_id]

        async def member(incident: Incident) -> bool:
            assert incident.channel_id
            try:
                return user in await self.members(incident.channel_id)
            except SlackError as exc:
                log.info("members unknown", extra={"incident": incident.id, "error": exc.code})
                return False

        found = await asyncio.gather(*(member(i) for i in open_))
        return [i for i, yes in zip(open_, found, strict=True) if yes]

    # -- making an incident private ----------------------------------------------------------
    async def make_private(self, incident: Incident, *, by: str) -> Incident:
        """Convert the incident to a private one (or finish converting it)."""
        if incident.private and (incident.conversion is None or not incident.conversion.missing):
            raise IncidentError("This incident is private already.")
        async with self.store.held(Lease.PRIVATE, incident.id, ttl=LEASE_SECONDS) as mine:
            if not mine:
                raise IncidentError("This incident is being made private right now.")
            incident = await self._begin(incident.id, by)
            return await self._convert(incident)

    async def _begin(self, incident_id: str, by: str) -> Incident:
        now = self.clock()
        prefix = self.config.channel_prefix

        def mutate(inc: Incident) -> list[TimelineEntry] | None:
            if inc.conversion is not None:
                return None  # resuming
            if inc.private:
                raise IncidentError("This incident is private already.")
            day, _, number = inc.id.partition("-")
            conversion = PrivateConversion(
                by=by,
                at=now,
                old_channel=inc.channel_id,
                old_name=inc.channel_name,
                new_name=redaction.private_channel_name(prefix, day, number),
            )
            if inc.channel_id is None:
                # no channel yet: the declare saga makes a private one when retried
                inc.channel_name = conversion.new_name
                conversion.done = [s for s in conversion.missing if s != "announce"]
            inc.private, inc.conversion = True, conversion
            text = "Made private: the incident moves to a private channel, redacted elsewhere"
            return [TimelineEntry(at=now, actor=by, kind="private", text=text)]

        return await self.store.update(incident_id, mutate, emit="private")

    async def _convert(self, incident: Incident) -> Incident:
        step = ""
        try:
            while incident.conversion is not None and incident.conversion.missing:
                step = incident.conversion.missing[0]
                incident = await self._run(step, incident)
        except SlackError as exc:
            log.warning(
                "making private stopped",
                extra={"incident": incident.id, "step": step, "error": exc.code},
            )
            await self._record(incident.id, error=f"{step}: {exc.code}")
            raise IncidentError(pv.conversion_stopped(step, exc.code)) from exc
        await self.incidents.sync(incident)
        return incident

    async def _run(self, step: str, incident: Incident) -> Incident:
        conv = incident.conversion
        assert conv is not None
        old, new = conv.old_channel, conv.new_channel
        if step == "announce":
            if incident.announce_channel and incident.announce_ts:
                shown = redaction.outside(incident, self.config)
                text, blocks = ui.announcement(shown, self.config)
                await self.slack.update(
                    incident.announce_channel, incident.announce_ts, text, blocks
                )
            return await self._record(incident.id, step)
        if step == "members":
            assert old
            bot = await self.slack.bot_user_id()
            members = [u for u in await self.slack.channel_members(old) if u != bot]
            return await self._record(incident.id, step, members=members)
        if step == "channel":
            # a taken name gets a fresh one: the channel that holds it is not the bot's to use
            channel, name = await self.incidents.new_channel(incident, conv.new_name)
            return await self._record(incident.id, step, new_channel=channel, new_name=name)
        assert new
        if step == "invite":
            people = [*conv.members, *incident.roles.values()]
            if self.config.private.security_group:
                people += await self.slack.usergroup_members(self.config.private.security_group)
            bot = await self.slack.bot_user_id()
            await self._invite(incident, new, [u for u in dict.fromkeys(people) if u != bot])
            return await self._record(incident.id, step)
        if step == "card":
            text, blocks = ui.summary_card(incident, self.config)
            _, ts = await self.slack.post(new, text, blocks)
            return await self._record(incident.id, step, card_ts=ts)
        if step == "pin":
            assert conv.card_ts
            await self.slack.pin(new, conv.card_ts)
            return await self._record(incident.id, step)
        if step == "switch":
            return await self._switch(incident)
        if step == "topic":
            topic = ui.topic(incident, self.config)
            await self.slack.set_topic(new, topic)
            return await self._record(incident.id, step, topic=topic)
        if step == "notice":
            await self.slack.post(new, *pv.moved_here(incident, by=conv.by, old_channel=old))
            return await self._record(incident.id, step)
        if step == "pointer":
            assert old
            await self.slack.post(old, *pv.moved_pointer(incident, self.config, by=conv.by))
            return await self._record(incident.id, step)
        if step == "archive":
            assert old
            await self.slack.archive(old)
            return await self._record(incident.id, step)
        raise AssertionError(f"unknown step {step}")

    async def _invite(self, incident: Incident, channel: str, users: list[str]) -> None:
        """Invite everyone; when Slack refuses the batch for one person (deactivated, a
        guest who may not join), invite the others one by one so they are not held up."""
        try:
            await self.slack.invite(channel, users)
        except SlackError as exc:
            if exc.code not in CANT_INVITE or len(users) < 2:
                raise
            for user in users:
                try:
                    await self.slack.invite(channel, [user])
                except SlackError as one:
                    if one.code not in CANT_INVITE:
                        raise
                    log.warning(
                        "not moved to the private channel",
                        extra={"incident": incident.id, "user": user, "error": one.code},
                    )

    async def _switch(self, incident: Incident) -> Incident:
        """The private channel becomes the incident's: channel, card, and the channel
        mapping (bot/core/store/incidents.py moves it), in one change with its timeline entry."""
        now = self.clock()

        def mutate(inc: Incident) -> list[TimelineEntry] | None:
            conv = inc.conversion
            assert conv is not None and conv.new_channel
            if "switch" in conv.done:
                return None
            inc.channel_id, inc.channel_name = conv.new_channel, conv.new_name
            inc.card_ts, inc.topic = conv.card_ts, None
            conv.done.append("switch")
            conv.error = None
            text = md(
                "Moved to private channel {} with {} people",
                mk.channel(conv.new_channel),
                len(conv.members),
            )
            if conv.old_channel:
                text += md("; {} is archived", mk.channel(conv.old_channel))
            return [TimelineEntry(at=now, actor=conv.by, kind="private", text=text)]

        return await self.store.update(incident.id, mutate)

    async def _record(
        self,
        incident_id: str,
        step: str | None = None,
        *,
        error: str | None = None,
        topic: str | None = None,
        **fields: object,
    ) -> Incident:
        """Record a finished step (and what it made), or why the last attempt stopped."""

        def mutate(inc: Incident) -> None:
            conv = inc.conversion
            assert conv is not None
            for key, value in fields.items():
                setattr(conv, key, value)
            if step is not None and step not in conv.done:
                conv.done.append(step)
            conv.error = error
            if topic is not None:
                inc.topic = topic

        return await self.store.update(incident_id, mutate)
