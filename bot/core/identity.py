"""Who this install is, across a Redis that lost its data (DESIGN rule 7).

A Redis restarted without persistence, or a failover to an empty replica, forgets every
incident, and with them the day's incident counter. Numbering from 1 again would reuse an
earlier incident's id (and its channel names), and paging again with an earlier page's
PagerDuty `incident_key` would attach the new SEV1 to that old, still-open PagerDuty
incident instead of paging anyone. So:

- The store holds an install record (`Store.install`): a random `epoch`, written at the
  first start. Every PagerDuty key carries it (`page_key`), so a key can never be one an
  earlier install used, whatever the ids.
- Incident numbers are handed out only while the record exists (`Store.next_number`). A
  store without one is new or lost its data: `ensure()` makes a new record, and first
  raises each day's counter past the incident channels Slack already holds (their names
  carry the number), so ids never repeat either.
- Incident channels the bot made that this store does not know mean the data was lost, not
  that this is a first start: the record says so (`lost_at`), and `/readyz` (still 200,
  with a warning), `/metrics` and the doctor report it until an operator clears it.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime

from bot.core.slack import Slack, SlackError
from bot.core.store import Store

log = logging.getLogger(__name__)

KEY_PREFIX = "incident-bot-"  # PagerDuty incident_key: KEY_PREFIX + epoch + "-" + incident id
_EPOCH = re.compile(r"[0-9a-f]{8}-")


def incident_of_key(key: str) -> str | None:
    """Our incident id in a PagerDuty incident_key we made, or None."""
    if not key.startswith(KEY_PREFIX):
        return None
    rest = key.removeprefix(KEY_PREFIX)
    return rest[9:] if _EPOCH.match(rest) else rest  # keys made before epochs have none


class Identity:
    def __init__(
        self,
        store: Store,
        slack: Slack,
        *,
        prefixes: tuple[str, ...],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.slack = slack
        self.prefixes = prefixes  # incident channel name prefixes (the config's, "drill")
        self.clock = clock
        self.epoch: str | None = None
        self.lost_at: float | None = None
        self._making = asyncio.Lock()

    def page_key(self, incident_id: str) -> str:
        assert self.epoch, "Identity.ensure() runs before the first page"
        return f"{KEY_PREFIX}{self.epoch}-{incident_id}"

    @property
    def warning(self) -> str | None:
        """What /readyz and the doctor say while the store is known to have lost data."""
        if self.lost_at is None:
            return None
        when = datetime.fromtimestamp(self.lost_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
        return (
            f"the incident store lost its data (found out {when}): incidents from before "
            "are unknown to the bot; new ids continue after those Slack still shows"
        )

    async def ensure(self) -> str:
        """The install's epoch, making the install record first if the store has none."""
        record = await self.store.install()
        if not record:
            async with self._making:  # one lookup in Slack per process
                record = await self.store.install() or await self._make()
        self.epoch = record["epoch"]
        self.lost_at = float(record["lost_at"]) if record.get("lost_at") else None
        return self.epoch

    async def _make(self) -> dict[str, str]:
        had = self.epoch  # this process knew an install: its data is gone now
        seqs, ours = await self._numbers_in_slack()
        now = self.clock()
        lost = now if (had is not None or ours) else None
        epoch = secrets.token_hex(4)
        if await self.store.create_install(epoch, now=now, lost_at=lost, seqs=seqs):
            if lost is not None:
                log.error(
                    "the incident store lost its data; a new install record is made",
                    extra={"channels_in_slack": ours, "seeded_days": len(seqs)},
                )
            else:
                log.info("new install record", extra={"epoch": epoch})
        return await self.store.install()

    async def _numbers_in_slack(self) -> tuple[dict[str, int], int]:
        """Per UTC day, the highest incident number in the names of the channels Slack
        holds; and how many of those channels the bot made itself."""
        pattern = re.compile(
            rf"(?:{'|'.join(re.escape(p) for p in self.prefixes)})-(\d{{8}})-(\d+)(?:-|$)"
        )
        seqs: dict[str, int] = {}
        ours = 0
        try:
            me = await self.slack.bot_user_id()
            async for channel in self.slack.channels():
                m = pattern.match(str(channel.get("name", "")))
                if not m:
                    continue
                day, n = m.group(1), int(m.group(2))
                seqs[day] = max(seqs.get(day, 0), n)
                ours += channel.get("creator") == me
        except SlackError as exc:
            # numbering may then repeat a number of today's; a taken channel name still
            # gets a fresh one, and PagerDuty keys carry the new epoch regardless
            log.warning("could not read Slack's incident channels", extra={"error": exc.code})
        return seqs, ours
