"""The declare saga (DESIGN rule 2): the incident is stored first (bot/incidents/), then
its Slack steps are made and recorded. The channel comes first, alone (everything else
needs it; a lease keeps it to one); then invite, card and pin, topic and announcement run
at once and are recorded together in one write, with whatever failed (a wave: one write
of the incident, not one per step racing on the same key). `run()` makes only the missing
steps, so Retry set-up resumes; after a crash between Slack's answer and the record, the
card and announcement are looked for by their markers, and the channel is the incident's
only if the bot made it after the declaration (bot/incidents/channel.py)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import blocks.incident as ui
from blocks.mrkdwn import Mrkdwn, md
from bot.core import redaction
from bot.core.config import IncidentConfig
from bot.core.errors import STORE_ERRORS
from bot.core.models import Incident, TimelineEntry
from bot.core.slack import Slack, SlackError
from bot.core.store import Lease, Mutation, Store
from bot.incidents.channel import channel_names, own_orphan
from bot.incidents.errors import IncidentError, SetupBusy

log = logging.getLogger(__name__)

# one channel creation at a time per incident (a double-clicked Retry makes one channel);
# renewed while held, so it only bounds how long a set-up that died holds up the next one
CHANNEL_LEASE = 3.0
# a set-up record (what Slack made) is retried this often, backing off to the cap: about a
# minute, longer than a Redis restart or a Sentinel failover
RECORD_ATTEMPTS = 15
RECORD_BACKOFF_CAP = 5.0


class Setup:
    """Makes and records an incident's Slack set-up; `post` tells its channel."""

    def __init__(
        self,
        store: Store,
        slack: Slack,
        config: IncidentConfig,
        *,
        post: Callable[[Incident, Mrkdwn], Awaitable[None]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.slack = slack
        self.config = config
        self.post = post
        self.clock = clock

    async def _get(self, incident_id: str) -> Incident:
        incident = await self.store.get(incident_id)
        if incident is None:
            raise IncidentError(f"No incident {incident_id}.")
        return incident

    async def run(
        self,
        incident_id: str,
        *,
        resumed: bool = False,
        with_channel: Callable[[Incident], Awaitable[None]] | None = None,
        declared: Incident | None = None,
    ) -> Incident:
        """Run the declare saga's missing steps: the channel (`channel`), then the rest
        (`rest`), with `with_channel(incident)` beside them (telling the declarer where
        it is: as soon as the channel exists, not once the rest is made; it is not called
        when the channel could not be made, and its failure is raised once the rest is
        recorded)."""
        incident = await self.channel(incident_id, resumed=resumed, declared=declared)
        if "channel" not in incident.setup_done:
            return incident
        return await self.rest(incident, resumed=resumed, beside=with_channel)

    async def channel(
        self, incident_id: str, *, resumed: bool = False, declared: Incident | None = None
    ) -> Incident:
        """The saga's first step, which everything else needs: the incident's channel,
        unless it has one. `resumed`: an earlier run may have been cut short after a Slack
        call and before its record, so what it may have made is looked for before it is
        made again. `declared`: the incident as declared, when no set-up can have run
        since (the first delivery of its event): the channel step reads it under its
        lease anyway, so it is not read first."""
        incident = declared or await self._get(incident_id)
        if "channel" not in incident.setup_done:
            maybe_made = resumed or bool(incident.setup_errors)
            incident = await self._channel_step(incident, maybe_made=maybe_made)
        return incident

    async def rest(
        self,
        incident: Incident,
        *,
        resumed: bool = False,
        beside: Callable[[Incident], Awaitable[None]] | None = None,
    ) -> Incident:
        """The steps after the channel, at once: invite, card+pin, topic and announcement,
        recorded together in one write (and `beside(incident)` with them)."""
        retrying = bool(incident.setup_errors)
        maybe_made = resumed or retrying
        since = incident.declared_at if maybe_made else None
        made: dict[str, dict[str, object]] = {}  # step -> what it recorded, in one write

        async def card() -> None:
            assert incident.channel_id
            card_ts = incident.card_ts
            if "card" not in incident.setup_done:
                text, blocks = ui.summary_card(incident, self.config)
                _, card_ts = await self.slack.post_once(
                    incident.channel_id,
                    text,
                    blocks,
                    marker=f"card:{incident.id}",
                    maybe_sent_since=since,
                )
                made["card"] = {"card_ts": card_ts}
            if "pin" not in incident.setup_done:
                assert card_ts
                await self.slack.pin(incident.channel_id, card_ts)
                made["pin"] = {}

        async def invite() -> None:
            assert incident.channel_id
            # the declarer too, commander or not (an alert's is the bot: not invited)
            people = [incident.declared_by, *incident.roles.values()]
            await self.slack.invite(incident.channel_id, people)
            if incident.private and self.config.private.security_group:
                # nobody else can join a private channel: the security group comes in now
                group = await self.slack.usergroup_members(self.config.private.security_group)
                await self.slack.invite(incident.channel_id, group)
            made["invite"] = {}

        async def topic() -> None:
            assert incident.channel_id
            text = ui.topic(incident, self.config)
            await self.slack.set_topic(incident.channel_id, text)
            made["topic"] = {"topic": text}

        async def announce() -> None:
            text, blocks = ui.announcement(redaction.outside(incident, self.config), self.config)
            channel, ts = await self.slack.post_once(
                self.config.announce_channel,
                text,
                blocks,
                marker=f"announce:{incident.id}",
                maybe_sent_since=since,
            )
            made["announce"] = {"announce_channel": channel, "announce_ts": ts}

        steps = {"card": card, "invite": invite, "topic": topic, "announce": announce}
        todo = {
            name: fn
            for name, fn in steps.items()
            if name not in incident.setup_done
            or (name == "card" and "pin" not in incident.setup_done)
        }
        wave: list[Awaitable[None]] = [fn() for fn in todo.values()]
        if beside is not None:
            wave.append(beside(incident))
        results = await asyncio.gather(*wave, return_exceptions=True)
        besides = results[len(todo) :]
        failed = {
            # a card posted whose pin failed is the pin's failure
            ("pin" if name == "card" and "card" in made else name): r
            for name, r in zip(todo, results[: len(todo)], strict=True)
            if isinstance(r, BaseException)
        }
        incident = await self._record_wave(incident.id, made, failed, clear=retrying)
        if failed:
            await self._tell_setup_failed(incident)
        elif retrying:
            done = ", ".join(incident.setup_done)
            await self.post(incident, md(":white_check_mark: Set-up complete: {}.", done))
        for besides_failed in besides:
            if isinstance(besides_failed, BaseException):
                raise besides_failed
        return incident

    async def _channel_step(self, incident: Incident, *, maybe_made: bool) -> Incident:
        """Make the incident's channel and record its id and name at once. Under a lease:
        a second set-up meanwhile would find the name taken and make a second channel, so
        it leaves the set-up to the one under way.

        Every name is recorded on the incident before it is asked for, so after a crash
        between Slack's answer and the record (`maybe_made`) the channel of the recorded
        name is the incident's own if and only if the bot itself made it, after the
        incident was declared: nobody else can make a channel whose creator is the bot.
        A channel someone else holds under that name is never adopted."""
        async with self.store.held(Lease.CHANNEL, incident.id, ttl=CHANNEL_LEASE) as mine:
            if not mine:
                # another set-up is making it (or died doing so, and its lease runs out
                # within CHANNEL_LEASE): this one's event comes back later
                raise SetupBusy(incident.id)
            incident = await self._get(incident.id)
            if "channel" in incident.setup_done:
                return incident
            try:
                made = await own_orphan(self.slack, incident) if maybe_made else None
                if made is None:
                    made = await self.new_channel(incident, incident.channel_name)
            except SlackError as exc:
                return await self._setup_failed(incident, "channel", exc)
            channel_id, name = made
            recorded = await self._record(
                incident.id,
                step="channel",
                current=incident,
                channel_id=channel_id,
                channel_name=name,
            )
            # recorded: a later holder finds the channel made and does nothing with it
            mine.lapse()
            return recorded

    async def new_channel(self, incident: Incident, name: str) -> tuple[str, str]:
        """Make a channel for the incident (private if it is), named `name` or, when that
        is taken, a fresh name (recorded before it is asked for); returns its (id, name)."""

        async def asking(fresh: str) -> None:
            if fresh != incident.channel_name:
                await self._record(incident.id, channel_name=fresh)
                incident.channel_name = fresh

        return await self.slack.create_channel(
            channel_names(incident, name, self.config.channel_prefix),
            private=incident.private,
            before=asking,
        )

    async def _record(
        self,
        incident_id: str,
        *,
        step: str | None = None,
        current: Incident | None = None,
        **fields: object,
    ) -> Incident:
        """Record what Slack made (see `_keep_recording`); `current`: the incident as last
        read, if nothing else is likely to have written it since."""

        def mutate(inc: Incident) -> None:
            for key, value in fields.items():
                setattr(inc, key, value)
            if step is not None:
                _step_made(inc, step)

        return await self._keep_recording(incident_id, mutate, step, current=current)

    async def _record_wave(
        self,
        incident_id: str,
        made: dict[str, dict[str, object]],
        failed: dict[str, BaseException],
        *,
        clear: bool,
    ) -> Incident:
        """Record a wave of set-up steps in one write: what each made, what failed (on the
        timeline too), and, when a retry completed the set-up, that nothing is missing."""
        now = self.clock()
        reasons = {step: _reason(exc) for step, exc in failed.items()}
        for step, reason in reasons.items():
            log.warning(
                "declare step failed",
                extra={"incident": incident_id, "step": step, "error": reason},
            )

        def mutate(inc: Incident) -> list[TimelineEntry]:
            for step, fields in made.items():
                for key, value in fields.items():
                    setattr(inc, key, value)
                _step_made(inc, step)
            entries = []
            for step, reason in reasons.items():
                inc.setup_errors[step] = reason
                entries.append(_failed(now, step, reason))
            if clear and not reasons:
                entries.extend(_clear_setup_errors(now)(inc))
            return entries

        steps = ",".join(made) or None
        return await self._keep_recording(incident_id, mutate, steps)

    async def _keep_recording(
        self,
        incident_id: str,
        mutate: Mutation,
        step: str | None,
        *,
        current: Incident | None = None,
    ) -> Incident:
        """The store may be failing over right now: this process alone knows what Slack
        answered, so it keeps trying for a while rather than lose it."""
        for attempt in range(RECORD_ATTEMPTS):
            try:
                return await self.store.update(incident_id, mutate, current=current)
            except STORE_ERRORS as exc:
                if attempt == RECORD_ATTEMPTS - 1:
                    raise
                log.warning(
                    "store unavailable, keeping a set-up record",
                    extra={"incident": incident_id, "step": step, "error": str(exc)},
                )
                await asyncio.sleep(min(RECORD_BACKOFF_CAP, 0.2 * 2**attempt))
        raise AssertionError("unreachable")

    async def _setup_failed(self, incident: Incident, step: str, exc: BaseException) -> Incident:
        incident = await self._record_wave(incident.id, {}, {step: exc}, clear=False)
        await self._tell_setup_failed(incident)
        return incident

    async def _tell_setup_failed(self, incident: Incident) -> None:
        text, blocks = ui.setup_failure(incident)
        where = incident.channel_id or self.config.announce_channel
        try:
            await self.slack.post(where, text, blocks)
        except SlackError:
            log.warning("could not report set-up failure", extra={"incident": incident.id})

    # -- lifecycle -----------------------------------------------------------------------


def _failed(now: float, step: str, reason: str) -> TimelineEntry:
    failed = md("Set-up step {} failed: {}", step, reason)
    return TimelineEntry(at=now, actor=None, kind="setup_failed", text=failed)


def _step_made(inc: Incident, step: str) -> None:
    if step not in inc.setup_done:
        inc.setup_done.append(step)
    inc.setup_errors.pop(step, None)


def _reason(exc: BaseException) -> str:
    """A failed step's reason as the channel shows it: Slack's error code, else the type."""
    return exc.code if isinstance(exc, SlackError) else type(exc).__name__


def _clear_setup_errors(now: float) -> Callable[[Incident], list[TimelineEntry]]:
    def mutate(inc: Incident) -> list[TimelineEntry]:
        inc.setup_errors.clear()
        return [
            TimelineEntry(
                at=now, actor=None, kind="setup_complete", text=md("Set-up completed on retry")
            )
        ]

    return mutate
