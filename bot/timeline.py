"""Timeline capture: messages people pin (or mark with 📌) in an incident channel,
manual notes (`/incident note`), and messages anyone puts there with the *Add to incident
timeline* shortcut (from any channel, once each: `add_message`) go on the incident's
timeline.

A pinned or 📌-reacted message is entered with its own time (its ts) and its author, as
`Pinned: “…”`, once: the store keeps the channel's captured message ts beside the
timeline and writes marker and entry together (`Store.capture`), so a second pin, a
second 📌, Slack's retries or two replicas change nothing more. The entry credits whoever
pinned or reacted first by Slack's event time (`event_ts`), whatever order the events are
handled in: an earlier one handled later (another replica, a retry) takes the credit
over, in the same script. One replica handles one message's events in the order they
came, so the confirmation goes to the first, not to whoever's event won a race.

Unpinning and removing the reaction are **ignored**: the timeline is an append-only record
of what happened, and a message someone thought worth keeping stays on it; pinning it
again does not add it twice. The bot's own pins (the summary card) and reactions are not
captured. Captured entries, like notes, are appended without bumping the incident's
generation: they are records, not changes of its state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import blocks.mrkdwn as mk
from blocks.mrkdwn import Mrkdwn, md
from bot.core.models import Incident, TimelineEntry
from bot.core.slack import Slack, SlackError
from bot.core.store import Once, Store
from bot.incidents import IncidentError

log = logging.getLogger(__name__)

REACTION = "pushpin"
TEXT_MAX = 300
NOTE_MAX = 2000
ADDED_TTL = 90 * 86400  # a message added by the shortcut is remembered this long


def message_text(message: dict[str, Any]) -> Mrkdwn:
    """A Slack message's text as a timeline line: one line, its real user and channel
    mentions kept live, everything else as its reader saw it (links as their label and
    URL, broadcasts as `@here`, typed markup as typed)."""
    text = str(message.get("text") or "")
    if not text.strip() and message.get("files"):
        names = ", ".join(str(f.get("title") or f.get("name") or "file") for f in message["files"])
        text = str(mk.escape(f"[file: {names}]"))
    line = mk.sanitize(" ".join(text.split()))
    return mk.clip(line, TEXT_MAX) or md("(no text)")


def event_micros(event_ts: object, fallback: float) -> int:
    """Slack's event time (`event_ts`, "1360782804.083113") as integer microseconds, so it
    compares exactly, with no float rounding; `fallback` (epoch seconds) when it has none."""
    seconds, _, fraction = str(event_ts or "").partition(".")
    if seconds.isdigit() and (fraction.isdigit() or not fraction):
        return int(seconds) * 1_000_000 + int((fraction + "000000")[:6])
    return int(fallback * 1_000_000)


def added_entry(message: dict[str, Any], *, by: str, link: str | None) -> TimelineEntry:
    """A message someone put on the timeline with the shortcut, at its own time: its text,
    where it is (`link`), who added it when that is not its author."""
    author = message.get("user") or None
    text = md("Message: “{}”", message_text(message))
    if link:
        text += md(" ({})", mk.link(link, "in Slack"))
    if by and by != author:
        text += md(" (added by {})", mk.user(by))
    return TimelineEntry(at=float(message["ts"]), actor=author, kind="message", text=text)


def pinned_entry(message: dict[str, Any], *, by: str) -> TimelineEntry:
    author = message.get("user") or None
    text = md("Pinned: “{}”", message_text(message))
    if by and by != author:
        text += md(" (pinned by {})", mk.user(by))
    return TimelineEntry(at=float(message["ts"]), actor=author, kind="pinned", text=text)


class TimelineCapture:
    def __init__(
        self, store: Store, slack: Slack, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.slack = slack
        self.clock = clock
        self._handling: dict[tuple[str, str], tuple[asyncio.Lock, int]] = {}

    async def entries(self, incident: Incident) -> list[TimelineEntry]:
        """The incident's timeline, in the order it was written (`/incident timeline`)."""
        return await self.store.timeline(incident.id)

    async def note(
        self, incident: Incident, *, by: str, wire: str, about: str | None = None
    ) -> TimelineEntry:
        """`/incident note <text>`: a manual timeline entry, now, by `by`. `wire` is the
        text as Slack sent it: its real mentions stay live on the timeline. `about`: what
        the note is on (a checklist step's Add a note: `step 4 (p3-s1) of service-down`)."""
        text = mk.sanitize(wire.strip())
        if not text:
            raise IncidentError("Say what to note.")
        if len(mk.readable(wire)) > NOTE_MAX:
            raise IncidentError(f"Keep a note under {NOTE_MAX} characters.")
        said = md("Note on {}: {}", about, text) if about else md("Note: {}", text)
        entry = TimelineEntry(at=self.clock(), actor=by, kind="note", text=said)
        await self.store.append(incident.id, entry)
        return entry

    async def add_message(
        self,
        incident: Incident,
        message: dict[str, Any],
        *,
        by: str,
        channel: str,
        link: str | None,
    ) -> bool:
        """The *Add to incident timeline* shortcut: `message` (of `channel`) on the
        timeline once, however often it is added (a resubmitted form, Slack's retry,
        another person): the marker and the entry are written together. True when added."""
        entry = added_entry(message, by=by, link=link)
        key = f"{incident.id}:{channel}:{message['ts']}"
        scope = Once.TIMELINE_MESSAGE
        return await self.store.append_marked(
            incident.id, entry, scope=scope, key=key, ttl=ADDED_TTL
        )

    async def pinned(
        self,
        channel: str,
        message: dict[str, Any] | None,
        *,
        by: str,
        bot_user: str | None,
        at: str | None = None,
    ) -> Incident | None:
        """A message was pinned (pin_added carries it) at Slack time `at` (its event_ts):
        the incident when it went on the timeline or its credit moved to `by`, None when
        there was nothing (more) to capture."""
        if not message or not message.get("ts") or (bot_user and by == bot_user):
            return None
        async with self._in_turn(channel, str(message["ts"])):
            incident = await self.store.by_channel(channel)
            if incident is None:
                return None
            if not message.get("text") and not message.get("files"):
                message = await self._fetch(channel, str(message["ts"])) or message
            return await self._capture(incident, message, by=by, at=at)

    async def reacted(
        self,
        channel: str,
        ts: str,
        reaction: str,
        *,
        by: str,
        bot_user: str | None,
        at: str | None = None,
    ) -> Incident | None:
        """Someone reacted to a message at Slack time `at`: 📌 puts it on the timeline
        (reaction_added carries only the message's ts, so its text is fetched)."""
        if reaction != REACTION or not ts or (bot_user and by == bot_user):
            return None
        async with self._in_turn(channel, ts):
            incident = await self.store.by_channel(channel)
            if incident is None:
                return None
            message = await self._fetch(channel, ts)
            if message is None:
                return None
            return await self._capture(incident, message, by=by, at=at)

    @contextlib.asynccontextmanager
    async def _in_turn(self, channel: str, ts: str) -> AsyncIterator[None]:
        """One message's events one at a time, in the order they came (asyncio.Lock is
        first come, first served; the listeners take it before their first await)."""
        key = (channel, ts)
        lock, users = self._handling.get(key, (asyncio.Lock(), 0))
        self._handling[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._handling[key]
            if users > 1:
                self._handling[key] = (lock, users - 1)
            else:
                del self._handling[key]

    async def _fetch(self, channel: str, ts: str) -> dict[str, Any] | None:
        try:
            return await self.slack.message(channel, ts)
        except SlackError as exc:
            log.warning("captured message not found", extra={"error": exc.code, "ts": ts})
            return None

    async def _capture(
        self, incident: Incident, message: dict[str, Any], *, by: str, at: str | None
    ) -> Incident | None:
        entry = pinned_entry(message, by=by)
        micros = event_micros(at, self.clock())
        done = await self.store.capture(incident.id, str(message["ts"]), entry, at=micros, by=by)
        if done is None:
            return None
        log.info(f"message {done} on the timeline", extra={"incident": incident.id})
        return incident
