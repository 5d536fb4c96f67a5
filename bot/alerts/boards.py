"""The announce channel's boards: one message a window for all unmatched alert groups (the
digest), and one for the alert groups a storm's limits kept out (the notice).

However many groups no rule matches, the announce channel gets one digest message per
`alerts.digest_window`, edited at most every `update_every` on a budget of its own, so
unmatched noise costs a few Slack calls and never the posting budget declarations use.
A group that fires joins the window's digest; a new window starts a new message (the
old one stays as it last was). Each board is a due member (`~digest`, `~notice`) of the
rest lane, reconciled like a group: one replica at a time, settled only if its version
did not move meanwhile.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import blocks.alerts as ui
from bot.alerts.shown import Later, SlackBudgets, group_view, keep
from bot.core import redaction
from bot.core.config import IncidentConfig
from bot.core.mirror import Mirror, Pacing, Part
from bot.core.models import AlertGroupView, Incident
from bot.core.store import BOARD_MARK, AlertGroupState, Lease, Store

log = logging.getLogger(__name__)

LEASE = 60.0  # seconds a dead holder keeps a board's lease


class Boards:
    def __init__(
        self,
        store: Store,
        mirror: Mirror,
        config: IncidentConfig,
        budgets: SlackBudgets,
        *,
        clock: Callable[[], float],
        ttl: Callable[[], int],
    ) -> None:
        self.store = store
        self.mirror = mirror
        self.config = config
        self.settings = config.alerts
        self.budgets = budgets
        self.clock = clock
        self.ttl = ttl

    @property
    def window(self) -> float:
        return self.settings.digest_window.total_seconds()

    async def show_unmatched(self, g: AlertGroupState, view: AlertGroupView, now: float) -> bool:
        """An unmatched group in the digest: a firing one joins this window's (True when it
        joined just now); a member that changed makes the digest due."""
        join = view.firing > 0 and not view.incident
        start = await self.store.alerts_digest_join(
            g.gid, join=join, now=now, window=self.window, ttl=self.ttl()
        )
        hold = now + self.settings.update_every.total_seconds()
        fields: dict[str, str] = {"hold_until": repr(hold)} if start else {}
        joined = bool(start) and start != g.text("digest")
        if joined:
            fields["digest"] = start
        if fields:
            await self.store.alerts_group_set(g.gid, **fields)
            g.fields.update(fields)
        return joined

    async def dropped(self, reason: str, n: int) -> None:
        """`n` alert groups kept out for `reason`: counted on this window's notice."""
        await self.store.alerts_dropped(
            reason, n, now=self.clock(), window=self.window, ttl=self.ttl()
        )

    async def reconcile(self, member: str) -> None:
        name = member.removeprefix(BOARD_MARK)

        async def turn() -> bool:
            fields, gids, total = await self.store.alerts_board(name, members=ui.DIGEST_CHOICES)
            if not fields.get("start"):
                await self.store.alerts_forget_due(member)
                return True
            try:
                next_at = await self._show(name, fields, gids, total)
            except Later as later:
                next_at = later.at
            version = fields.get("version", "")
            return await self.store.alerts_settle(
                member, version, next_at, self.clock(), board=name
            )

        await self.mirror.hold(Lease.ALERT_BOARD, name, turn, turns=10, ttl=LEASE)

    async def _show(
        self, name: str, fields: dict[str, str], gids: list[str], total: int
    ) -> float | None:
        now = self.clock()
        start = fields["start"]
        if name == "digest":
            views = await self._views(gids, full=total == 1)
            if not views:
                return None
            ids = {v.incident for v in views if v.incident}
            incidents: dict[str, Incident] = {}
            for incident_id in ids:
                found = await self.store.get(incident_id)
                if found is not None:
                    incidents[incident_id] = found
            # in the announce channel: an alert that makes a private incident shows no details
            shown = [redaction.alert_view(v, self.config) for v in views]
            message = ui.unmatched_digest(shown, incidents, total=total, since=float(start))
            state = "firing" if any(v.firing for v in views) else "resolved"
            # a declaration is shown at once: its Declare goes, "Declared as … by …" comes
            state += f":{len(incidents)}"
        else:
            counts = {k[2:]: int(v) for k, v in fields.items() if k.startswith("n:")}
            message = ui.storm_notice(counts, since=float(start))
            state = "firing"

        async def save(done: dict[str, str]) -> None:
            await self.store.alerts_board_set(name, start, **done)

        board = ("board", self.budgets.board)
        every = self.settings.update_every.total_seconds()
        pacing = Pacing(board, board, every, self.budgets.max_wait)
        where = self.config.announce_channel
        part = Part("msg", where, message, state, repost=True, pacing=pacing)
        return await keep(self.mirror, fields, "msg", part, now, save)

    async def _views(self, gids: list[str], *, full: bool) -> list[AlertGroupView]:
        if full:
            found = [await self.store.alerts_group(gid) for gid in gids]
            return [group_view(g) for g in found if g is not None]
        briefs = await self.store.alerts_groups_brief(gids)
        return [
            group_view(AlertGroupState(gid=gid, fields=briefs[gid], sample=[]))
            for gid in gids
            if gid in briefs
        ]
