"""Slack's copies of an incident's state: the summary card in its channel, the channel's
topic and the announcement. The set-up saga (bot/incidents/) posts them once, marked
and recorded; after every change `Copies.sync` brings them in line.

The card and the announcement are a mirror set (bot/core/mirror.py, lease
`incident:{id}`, the incident's `rev` its version): one holder at a time edits them, only
the one whose rendering changed, and renders again when the incident changed meanwhile.
Their refs are on the incident (`card_ts`, `announce_ts`), their digests in the mirror's
store. The mirror never posts them: only the saga does, with its marker and the pin. The
topic is not a message: it is set when it differs from the one recorded.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import blocks.incident as ui
from blocks.mrkdwn import Mrkdwn
from bot.core import redaction
from bot.core.config import IncidentConfig
from bot.core.mirror import Frame, Mirror, Part, Shown, name
from bot.core.models import Incident
from bot.core.slack import Slack
from bot.core.store import Lease, Store

log = logging.getLogger(__name__)


class Copies:
    def __init__(
        self,
        store: Store,
        slack: Slack,
        config: IncidentConfig,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.slack = slack
        self.config = config
        self.mirror = Mirror(store, slack, clock=clock)

    async def sync(self, incident: Incident) -> None:
        """Update card, topic and announcement in place. Failures are logged, not raised:
        the store is the truth and the next change repairs the copies."""
        jobs: list[Awaitable[object]] = [self.mirror.sync(_Messages(self, incident.id))]
        topic = ui.topic(incident, self.config)
        if incident.channel_id and topic != incident.topic and "topic" in incident.setup_done:
            jobs.append(self._set_topic(incident, topic))
        for result in await asyncio.gather(*jobs, return_exceptions=True):
            if isinstance(result, BaseException):
                log.warning("sync failed", extra={"incident": incident.id, "error": str(result)})

    async def _set_topic(self, incident: Incident, topic: Mrkdwn) -> None:
        assert incident.channel_id
        await self.slack.set_topic(incident.channel_id, topic)

        def mutate(inc: Incident) -> None:
            inc.topic = topic

        await self.store.update(incident.id, mutate)


@dataclass
class _Messages:
    """The card and the announcement as the mirror keeps them."""

    copies: Copies
    incident_id: str

    @property
    def lease(self) -> tuple[Lease, str]:
        return Lease.INCIDENT_COPIES, self.incident_id

    async def read(self) -> Frame | None:
        incident = await self.copies.store.get(self.incident_id)
        if incident is None:
            return None
        config = self.copies.config
        recorded = {
            key: Shown(where, ts, digest)
            for key, (where, ts, digest) in (
                await self.copies.store.mirror_shown(name(self))
            ).items()
        }
        parts: list[Part] = []
        shown: dict[str, Shown] = {}

        def add(key: str, where: str | None, ts: str | None, message: ui.Message) -> None:
            if not (where and ts):
                return
            parts.append(Part(key, where, message, post=False))
            known = recorded.get(key)
            # a digest is of the message it was recorded with (a card moved is new)
            same = known is not None and (known.where, known.ts) == (where, ts)
            shown[key] = Shown(where, ts, known.digest if known and same else "")

        add("card", incident.channel_id, incident.card_ts, ui.summary_card(incident, config))
        outside = redaction.outside(incident, config)
        announcement = ui.announcement(outside, config)
        add("announce", incident.announce_channel, incident.announce_ts, announcement)
        return Frame(incident.rev, parts, shown)

    async def version(self) -> object:
        incident = await self.copies.store.get(self.incident_id)
        return incident.rev if incident else None

    async def record(self, part: Part, shown: Shown) -> None:
        await self.copies.store.mirror_record(
            name(self), part.key, shown.where, shown.ts, shown.digest
        )
