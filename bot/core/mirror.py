"""The mirror: keeps a set of Slack messages in line with stored state, the one way every
feature does it (an incident's card and announcement, a checklist's messages, an alert
group's message, the announce channel's boards).

A feature describes what it shows as `Surfaces`: its `lease` (a `Lease` and the object it
is of; its `name` in logs and digests), `read()` (one
consistent read of the state, rendered: its version, its `Part`s, and what Slack shows of
each now, a `Shown`), `version()` (the state's version, cheaply) and `record()` (where a
part's refs live: its channel, ts and digest). `Mirror.sync()` does the rest:

- **One holder.** Only the holder of the lease `Store.held(*lease)` talks to Slack for the
  set, so edits of one message are never in flight concurrently and the last one sent
  renders the last stored state. A sync that finds the lease taken returns at once
  (`busy`; taken by this very process, it does not even ask Redis): the holder re-checks
  the version after each pass and once more after letting go, so a change made while it
  worked is shown by it or by a later caller who then gets the lease (no lost wake-up).
  A burst of changes coalesces into a few calls.
- **A digest per part.** A pass edits only the parts whose rendering differs from the
  digest recorded of what Slack shows, posts parts not posted yet in order (a later part
  never precedes an earlier), and repeats while the version moved under it.
- **Gone is posted again** when the part asks for it (`repost`): Slack answering
  `message_not_found`, `channel_not_found`, ... (GONE) to an edit.
- **Pacing** (`Pacing`): a part's posts and edits book Slack budgets shared by every
  replica (`Store.alerts_pace`), and its edits wait `every` seconds after the last one
  unless its `state` changed; a budget spent raises `Later`, for the caller to come back.

`show()` is the one place a part reaches Slack and `hold()` the one lease-and-re-check
loop; features with more to do under their lease than showing (an alert group's
reconcile declares and pages too) use those two directly. A part is a message, or a
user's Home tab (a view, published with views.publish to the user `where`; its `ts` is
the view's id): one call whether it was shown before or not.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from blocks.common import Message
from bot.core.slack import Slack, SlackError
from bot.core.store import Lease, Store

log = logging.getLogger(__name__)

LEASE = 60.0  # seconds a holder that died keeps others from syncing its set
# an edit refused so: the message (or its channel) is not there to edit any more
# (is_archived: the incident moved to a private channel)
GONE = ("message_not_found", "cant_update_message", "channel_not_found", "is_archived")
# a Home tab's view (views.publish), as a part shows it instead of a message
View = dict[str, Any]


@dataclass(frozen=True)
class Budget:
    interval: float  # seconds between calls, sustained
    burst: int  # calls allowed at once

    def without(self, reserved: int) -> Budget:
        """The same budget with `reserved` of its burst kept for others: a caller booking
        this never takes those, so whoever books the whole budget goes first."""
        return Budget(self.interval, max(1, self.burst - reserved))


class Later(Exception):
    """A Slack budget is spent: come back at `at`."""

    def __init__(self, at: float) -> None:
        super().__init__(at)
        self.at = at


@dataclass(frozen=True)
class Pacing:
    """The budgets a part's posts and edits book, and the least time between its edits."""

    post: tuple[str, Budget]
    update: tuple[str, Budget]
    every: float = 0.0
    max_wait: float = 0.5  # longer waits are not slept on: Later


@dataclass(frozen=True)
class Part:
    """One message of a set (or a Home tab), rendered from the stored state."""

    key: str  # names it within its set, for its refs
    where: str  # the channel it is posted in (a Home tab: its user)
    message: Message | View
    state: str = ""  # a change of it is shown at once, however recent the last edit
    post: bool = True  # the mirror posts it when it is not posted (else its owner does)
    repost: bool = False  # ... and posts it again when Slack says it is gone
    pacing: Pacing | None = None


@dataclass(frozen=True)
class Shown:
    """What Slack shows of a part: where it is, and a digest of what it shows."""

    where: str = ""
    ts: str = ""
    digest: str = ""
    at: float = 0.0  # when it was last posted or edited
    state: str = ""


@dataclass
class Frame:
    """One read of a set's state: its version, the parts it renders, what Slack shows."""

    version: object
    parts: Sequence[Part]
    shown: Mapping[str, Shown]
    error: str | None = None  # nothing can be shown, and why (the parts are empty)


class Surfaces(Protocol):
    """A set of Slack messages kept in line with one piece of stored state."""

    @property
    def lease(self) -> tuple[Lease, str]: ...  # who syncs the set: a lease, of one object

    async def read(self) -> Frame | None: ...  # None: the state is no longer stored

    async def version(self) -> object: ...

    async def record(self, part: Part, shown: Shown) -> None: ...


@dataclass
class Synced:
    busy: bool = False  # another worker holds the set's lease and is showing it
    error: str | None = None  # Slack's error code for a part that could not be posted


def digest_of(message: Message | View) -> str:
    shown = message if isinstance(message, dict) else list(message)
    return hashlib.sha1(json.dumps(shown, sort_keys=True).encode()).hexdigest()


class Mirror:
    def __init__(
        self,
        store: Store,
        slack: Slack,
        *,
        clock: Callable[[], float] = time.time,
        lease: float = LEASE,
    ) -> None:
        self.store = store
        self.slack = slack
        self.clock = clock
        self.lease = lease
        # leases this process holds now (in `hold`): a sync of one of them would be refused
        # the lease by Redis, so it is refused here, without asking (Redis holds the truth:
        # a lease is only in here while the lock is ours, and leaves before it is let go)
        self._holding: set[tuple[Lease, str]] = set()

    async def hold(
        self,
        lease: Lease,
        of: str,
        turn: Callable[[], Awaitable[bool]],
        *,
        turns: int | None = None,
        ttl: float | None = None,
    ) -> bool:
        """Under the lease (`lease` of `of`), run `turn` until it answers True (what it showed is
        still the stored state), at most `turns` times. False: another holder has it."""
        async with self.store.held(lease, of, ttl=ttl or self.lease) as mine:
            if not mine:
                return False
            self._holding.add((lease, of))
            try:
                n = 0
                while not await turn():
                    n += 1
                    if turns is not None and n >= turns:
                        break
            finally:
                self._holding.discard((lease, of))
            return True

    async def sync(self, surfaces: Surfaces) -> Synced:
        """Bring the set's messages in line with its stored state (see the docstring)."""
        if surfaces.lease in self._holding:  # ours, busy: the holder re-checks after
            return Synced(busy=True)
        outcome = Synced()
        seen: list[Frame | None] = [None]

        async def turn() -> bool:
            frame = seen[0] = await surfaces.read()
            if frame is None:
                outcome.error = "not_found"
                return True
            outcome.error = frame.error or await self._pass(surfaces, frame)
            return await surfaces.version() == frame.version

        worked = False
        while await self.hold(*surfaces.lease, turn):
            worked = True
            # a change that landed between the last check and the release found the
            # lease taken and left itself to us
            last = seen[0]
            if last is None or await surfaces.version() == last.version:
                return outcome
        outcome.busy = not worked
        return outcome

    async def _pass(self, surfaces: Surfaces, frame: Frame) -> str | None:
        now = self.clock()
        shown = {p.key: frame.shown.get(p.key) or Shown() for p in frame.parts}
        posted = [p for p in frame.parts if shown[p.key].ts]
        results = await asyncio.gather(
            *(self.show(p, shown[p.key], now) for p in posted), return_exceptions=True
        )
        for part, result in zip(posted, results, strict=True):
            if isinstance(result, SlackError):
                log.warning(
                    "mirror edit failed",
                    extra={"surface": name(surfaces), "part": part.key, "error": result.code},
                )
            elif isinstance(result, BaseException):
                raise result
            elif result[0] is not None:
                await surfaces.record(part, result[0])
        # not posted yet: in order, so a later part never precedes an earlier one
        for part in frame.parts:
            if shown[part.key].ts or not part.post:
                continue
            try:
                new, _ = await self.show(part, shown[part.key], now)
            except SlackError as exc:
                log.warning(
                    "mirror post failed",
                    extra={"surface": name(surfaces), "part": part.key, "error": exc.code},
                )
                return exc.code
            if new is not None:
                await surfaces.record(part, new)
        return None

    async def show(self, part: Part, shown: Shown, now: float) -> tuple[Shown | None, float | None]:
        """Post or edit one part: (what Slack shows now, to record, or None when nothing
        was sent; when to come back because its edit must wait, or None). Raises Later
        when a budget is spent and SlackError when Slack refuses (gone, unless reposted)."""
        digest = digest_of(part.message)
        if digest == shown.digest:
            return None, None
        pacing = part.pacing
        if isinstance(part.message, dict):  # a Home tab: published, shown before or not
            if pacing is not None:
                await self.pace(now, pacing.update, max_wait=pacing.max_wait)
            view_id = await self.slack.publish_home(part.where, part.message)
            return Shown(part.where, view_id, digest, now, part.state), None
        text, blocks = part.message
        where, ts = shown.where, shown.ts
        if ts and where:
            waits = pacing is not None and now - shown.at < pacing.every
            if pacing is not None and waits and shown.state == part.state:
                return None, shown.at + pacing.every
            if pacing is not None:
                await self.pace(now, pacing.update, max_wait=pacing.max_wait)
            try:
                await self.slack.update(where, ts, text, blocks)
            except SlackError as exc:
                if not part.repost or exc.code not in GONE:
                    raise
                ts = ""  # gone: post it again below
        if not ts or not where:
            if pacing is not None:
                await self.pace(now, pacing.post, max_wait=pacing.max_wait)
            where, ts = await self.slack.post(part.where, text, blocks)
        return Shown(where, ts, digest, now, part.state), None

    async def pace(self, now: float, *budgets: tuple[str, Budget], max_wait: float) -> None:
        """Wait for the call's turn on its budgets, or come back later (Later)."""
        wait = await self.store.alerts_pace(
            [(name, b.interval, b.burst) for name, b in budgets], now=now, max_wait=max_wait
        )
        if wait < 0:
            raise Later(now - wait)
        if wait > 0:
            await asyncio.sleep(wait)


def name(surfaces: Surfaces) -> str:
    """The set's name in logs and digests: its lease and the object it is of."""
    lease, of = surfaces.lease
    return f"{lease}:{of}"
