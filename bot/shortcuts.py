"""Shortcuts: incidents from Slack's own menus (manifest.yaml `features.shortcuts`).

- *Declare incident* on a message: the declare form, filled in from the message; the
  incident keeps the message (`Incident.origin`, with its permalink from
  chat.getPermalink), so its card and its timeline's first entry link back to it.
- *Add to incident timeline* on a message, from any channel: the form offers the open
  incidents whose channel the user is in (bot/privacy.py); the message goes on the chosen
  one's timeline once (bot/timeline.py `add_message`), and its channel is told.
- The global *Declare incident*: the declare form, as `/incident declare` opens it.

Who may add is the permissions policy's `timeline` (handlers/shortcuts.py asks it); a
private incident's messages are never put on another incident's timeline; a permalink
Slack will not give (a private channel the bot is not in) leaves the link out
and changes nothing else.
"""

from __future__ import annotations

import logging
from typing import Any

import blocks.shortcuts as ui
from bot.core.models import Incident, MessageRef
from bot.core.slack import Slack, SlackError
from bot.incidents import IncidentError, Incidents
from bot.privacy import Privacy
from bot.timeline import TimelineCapture

log = logging.getLogger(__name__)


class Shortcuts:
    def __init__(
        self, slack: Slack, incidents: Incidents, privacy: Privacy, capture: TimelineCapture
    ) -> None:
        self.slack = slack
        self.incidents = incidents
        self.privacy = privacy
        self.capture = capture

    async def permalink(self, channel: str, ts: str) -> str | None:
        """The message's permalink, or None when Slack will not say (logged)."""
        try:
            return await self.slack.permalink(channel, ts)
        except SlackError as exc:
            log.info("no permalink", extra={"channel": channel, "error": exc.code})
            return None

    async def declare_from_message(self, message: MessageRef, **declare: Any) -> Incident:
        """Declare (as `Incidents.declare` takes it) from `message`, linked back to it."""
        link = await self.permalink(message.channel, message.ts)
        origin = message.model_copy(update={"permalink": link})
        return await self.incidents.declare(source="message", origin=origin, **declare)

    async def choices(self, user: str) -> list[Incident]:
        """The open incidents `user` may add a message to: those whose channel they are in."""
        return await self.privacy.joined_open(user)

    async def add_to_timeline(
        self, incident: Incident, message: dict[str, Any], *, by: str, channel: str
    ) -> bool:
        """`message` (Slack's shape: ts, text, user, files) of `channel` on the incident's
        timeline, once; True when added now, False when it was there already. A private
        incident's messages stay in it (bot/core/redaction.py): never on another's."""
        source = await self.incidents.in_channel(channel)
        if source is not None and source.private and source.id != incident.id:
            raise IncidentError(
                "That message is in a private incident's channel: it stays there, so it was "
                "not added."
            )
        link = await self.permalink(channel, str(message["ts"]))
        added = await self.capture.add_message(incident, message, by=by, channel=channel, link=link)
        if added:
            notice = ui.added_notice(by, channel, link)
            await self.slack.notice(
                incident.channel_id, notice, what="timeline notice", incident=incident.id
            )
        return added
