"""The App Home: each person's Home tab shows the open incidents (those where they hold a
role first), who is on call now, and a *Declare incident* button, and it is kept current
for the people who opened it lately.

- Opening it (`app_home_opened`, handlers/home.py) records the viewer in the store (the
  latest `VIEWERS_MOST`, for `VIEWERS_KEEP` seconds) and publishes their tab at once.
- Every lifecycle event (bot/core/events.py, the subscriber "home") marks Home behind and
  makes one refresh due `coalesce` seconds after the first change not yet shown (a
  due-item of its own owner, bot/core/schedule.py): a burst of changes is one refresh.
- A tab is shown through the mirror (bot/core/mirror.py): one holder per viewer (a
  lease), the version re-checked after each pass, and a tab whose rendering has not
  changed is not published again (its digest). One change costs at most one
  views.publish a viewer; a change Home does not show (a status update's text) none.
- views.publish is Slack's Tier 4 (100+ a minute per workspace): every publish books the
  shared budget `PUBLISH`. Refreshes leave part of its burst to people opening their tab;
  a refresh that finds it spent, or that has published for `SLICE` seconds, comes back
  later (Retry) and publishes only the tabs still behind.
- Private incidents are shown as `/incident list` shows them (bot/privacy.py `for_reader`:
  members see them whole, everyone else the redacted copy of bot/core/redaction.py).
- On call comes from the on-call cache (bot/oncall.py); PagerDuty off, or failing with
  nothing known, is one line saying so. A handover shows at the next publish.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import KW_ONLY, dataclass, field

import blocks.home as ui
from bot.core.feature import Scheduled
from bot.core.mirror import Budget, Frame, Later, Mirror, Pacing, Part, Shown, name
from bot.core.models import DueItem, Incident, LifecycleEvent, OnCallAnswer
from bot.core.schedule import Retry
from bot.core.store import Lease
from bot.oncall import OnCall, OnCallError
from bot.privacy import Privacy

log = logging.getLogger(__name__)

REFRESH = "home-refresh"  # the due-item kind
OWNER = "app-home"  # what the refresh is due for (not an incident)
COALESCE = 1.0  # seconds from the first change not yet shown to the refresh
VIEWERS_KEEP = 86400.0  # a tab opened longer ago is shown afresh when opened again
VIEWERS_MOST = 200
OPEN_READ = 500  # open incidents read for the list (it shows fewer, and says how many more)
SLICE = 10.0  # seconds one refresh publishes before it comes back for the rest
PUBLISH = Budget(0.6, 20)  # views.publish: Tier 4, 100 a minute, short bursts
KEPT_FOR_OPENERS = 5  # of its burst, never booked by refreshes
OPENING = Pacing(("views.publish", PUBLISH), ("views.publish", PUBLISH), max_wait=2.0)
_REFRESHING = ("views.publish", PUBLISH.without(KEPT_FOR_OPENERS))
REFRESHING = Pacing(_REFRESHING, _REFRESHING, max_wait=1.0)
PART = "home"


@dataclass(eq=False)
class Home(Scheduled):
    privacy: Privacy
    oncall: OnCall
    _: KW_ONLY
    coalesce: float = COALESCE

    def __post_init__(self) -> None:
        self.mirror = Mirror(self.store, self.slack, clock=self.clock)

    def install(self) -> None:
        # a big workspace's refresh comes back a slice at a time
        self.scheduler.on(REFRESH, self._refresh, max_attempts=100)

    async def opened(self, user: str) -> None:
        """`user` opened their Home tab: remember them, and show it to them now."""
        await self.store.home_opened(user, now=self.clock(), keep=VIEWERS_KEEP, most=VIEWERS_MOST)
        try:
            await self._show(user, _Reading(self), OPENING)
        except Later as exc:  # the refresh shows it when the budget has room
            await self._due(exc.at)

    async def on_incident_event(self, event: LifecycleEvent) -> None:
        """The event subscriber: Home is behind; its refresh is due shortly."""
        await self.changed()

    async def changed(self) -> None:
        """Mark Home behind and make its refresh due (nothing while nobody has it open)."""
        if not await self.store.home_viewers(now=self.clock(), keep=VIEWERS_KEEP):
            return
        first = await self.store.home_changed(now=self.clock())
        await self._due(first + self.coalesce)

    async def reconcile(self) -> int:
        """After Redis lost writes (bot/core/consistency.py): the refresh due then may be
        lost, so the tabs of whoever is left as a viewer are refreshed; how many."""
        viewers = await self.store.home_viewers(now=self.clock(), keep=VIEWERS_KEEP)
        if viewers:
            await self.changed()
        return len(viewers)

    async def _due(self, at: float) -> None:
        await self.scheduler.schedule(REFRESH, OWNER, at, generation=0)

    async def _refresh(self, item: DueItem) -> None:
        """Every recent viewer's tab, in line with the incidents as they are now."""
        await self.store.home_showing()  # changes from here on make the next refresh due
        start = self.clock()
        reading = _Reading(self)
        for user in await self.store.home_viewers(now=start, keep=VIEWERS_KEEP):
            if self.clock() - start >= SLICE:
                raise Retry("more Home tabs to publish", after=0.0)
            try:
                await self._show(user, reading, REFRESHING)
            except Later as exc:
                raise Retry("views.publish budget spent", after=exc.at - self.clock()) from exc

    async def _show(self, user: str, reading: _Reading, pacing: Pacing) -> None:
        synced = await self.mirror.sync(_Tab(self, user, reading, pacing))
        if synced.error:
            log.info("Home tab not published", extra={"user": user, "error": synced.error})


@dataclass
class _Reading:
    """One refresh's reads shared by its tabs: the open incidents of one version, and who
    is on call."""

    home: Home
    _incidents: dict[int, list[Incident]] = field(default_factory=dict)
    _oncall: list[OnCallAnswer | str] = field(default_factory=list)

    async def incidents(self, version: int) -> list[Incident]:
        if version not in self._incidents:
            found = await self.home.store.open_incidents(limit=OPEN_READ)
            self._incidents = {version: found}
        return self._incidents[version]

    async def oncall(self) -> OnCallAnswer | str:
        if not self._oncall:
            try:
                self._oncall.append(await self.home.oncall.answer())
            except OnCallError as exc:  # PagerDuty off, or failing with nothing known
                self._oncall.append(str(exc))
        return self._oncall[0]


@dataclass
class _Tab:
    """One viewer's Home tab as the mirror keeps it: one part, its digest in the mirror's
    store, the version Home's."""

    home: Home
    user: str
    reading: _Reading
    pacing: Pacing

    @property
    def lease(self) -> tuple[Lease, str]:
        return Lease.HOME, self.user

    async def read(self) -> Frame:
        home = self.home
        version = await home.store.home_version()
        incidents: Sequence[Incident] = await self.reading.incidents(version)
        shown = await home.privacy.for_reader(incidents, user=self.user)
        view = ui.home_view(shown, self.user, home.config, await self.reading.oncall())
        where, ts, digest = (await home.store.mirror_shown(name(self))).get(PART, ("", "", ""))
        part = Part(PART, self.user, view, pacing=self.pacing)
        return Frame(version, [part], {PART: Shown(where, ts, digest)})

    async def version(self) -> object:
        return await self.home.store.home_version()

    async def record(self, part: Part, shown: Shown) -> None:
        await self.home.store.mirror_record(
            name(self), part.key, shown.where, shown.ts, shown.digest
        )
