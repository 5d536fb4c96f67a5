"""Update reminders: every open incident's update cadence, by severity.

Owns the cadence, two due-item kinds in one lane ("cadence") of bot/core/schedule.py:

- `update_due`: an update is due `every` (the severity's `update_every`) after the anchor:
  the declaration, the last update, or the last severity change. It reminds the
  commander in the channel (buttons **Post update**, **Snooze**), then makes
- `update_overdue` due `grace × every` later: still no update, so it pings the channel
  and the comms lead (else the tech lead), and makes the next `update_due` due `every`
  after the previous due time. The cadence goes on until an update or the resolve.

Declaring, updating and changing severity restart the cadence (`Incidents` listener);
each restart schedules with the incident's new generation, which makes the lane's older
items stale. Snoozing defers the due reminder; resolving cancels the lane.

Self-healing: a handler checks its item against the incident (open? same severity? no
update since the anchor?) before reminding, so a restart lost to a crash between the
incident change and its listener only moves the cadence late, never wrongly. `reconcile()`
(at start-up, then every few minutes, one replica at a time) gives every open incident
without a pending cadence one, e.g. incidents declared before reminders existed.
"""

from __future__ import annotations

import logging
from dataclasses import KW_ONLY, dataclass

import blocks.mrkdwn as mk
import blocks.reminders as ui
from blocks.mrkdwn import Mrkdwn, md
from bot.core.durations import format_duration
from bot.core.feature import Scheduled
from bot.core.metrics import Metrics
from bot.core.models import DueItem, Incident, TimelineEntry
from bot.core.schedule import Retry, post_for_item
from bot.core.store import Lease, Once
from bot.incidents import IncidentError

log = logging.getLogger(__name__)

LANE = "cadence"
DUE = "update_due"
OVERDUE = "update_overdue"
RECONCILE_EVERY = 300.0


@dataclass(eq=False)
class Reminders(Scheduled):
    _: KW_ONLY
    metrics: Metrics | None = None  # incident_bot_reminders_sent_total{kind}, when given

    def install(self) -> None:
        self.scheduler.on(DUE, self._due)
        self.scheduler.on(OVERDUE, self._overdue)

    def every(self, severity: str) -> float:
        return self.config.severity(severity).update_every.total_seconds()

    # -- the cadence --------------------------------------------------------------------------
    async def on_incident_event(self, event: str, incident: Incident) -> None:
        if event == "resolved":
            await self.scheduler.cancel(incident.id, lane=LANE, generation=incident.generation)
        elif event == "declared":
            await self.restart(incident, anchor=incident.declared_at)
        elif event == "updated" and incident.last_update:
            await self.restart(incident, anchor=incident.last_update.at)
        elif event in ("severity", "reopened"):
            await self.restart(incident, anchor=self.clock())

    async def restart(self, incident: Incident, *, anchor: float) -> None:
        """The next update is due `every` after `anchor`; earlier reminders are stale."""
        if not incident.is_open:
            return
        await self.scheduler.schedule(
            DUE,
            incident.id,
            anchor + self.every(incident.severity),
            payload={"anchor": anchor, "severity": incident.severity},
            generation=incident.generation,
            lane=LANE,
        )

    async def snooze(self, incident_id: str, *, by: str) -> float:
        """Defer the due reminder by the configured snooze; returns when it comes back."""
        snooze = self.config.reminders.snooze.total_seconds()
        now = self.clock()
        until = now + snooze

        def mutate(inc: Incident) -> list[TimelineEntry]:
            if not inc.is_open:
                raise IncidentError(f"Incident {inc.id} is resolved: no more reminders.")
            text = f"Update reminder snoozed for {format_duration(snooze)}"
            return [TimelineEntry(at=now, actor=by, kind="reminder", text=text)]

        incident = await self.store.update(incident_id, mutate)
        # the snooze's new generation makes a pending grace-period ping stale
        await self.scheduler.schedule(
            DUE,
            incident.id,
            until,
            payload={"anchor": now, "severity": incident.severity, "snoozed_by": by},
            generation=incident.generation,
            lane=LANE,
        )
        return until

    # -- due-item handlers --------------------------------------------------------------------
    async def _current(self, item: DueItem) -> Incident | None:
        """The incident if this item still stands; else None (healing the cadence)."""
        incident = await self.store.get(item.incident_id)
        if incident is None or not incident.is_open:
            return None
        anchor = float(item.payload.get("anchor", 0))
        severity_changed = item.payload.get("severity") != incident.severity
        updated = incident.last_update is not None and incident.last_update.at > anchor + 1e-6
        if severity_changed or updated:
            await self._heal(incident, item, severity_changed=severity_changed)
            return None
        if not incident.channel_id:
            raise Retry("the incident has no channel yet")
        return incident

    async def _heal(self, incident: Incident, item: DueItem, *, severity_changed: bool) -> None:
        """A change this item predates was made; if its listener's restart was lost (a
        crash in between), restart the cadence from the incident as it is."""
        newer = [
            i
            for i in await self.scheduler.pending(incident.id)
            if i.lane == LANE and i.generation > item.generation
        ]
        if newer:
            return
        anchor = self.clock() if severity_changed else _anchor(incident)
        log.info("reminder cadence healed", extra={"incident": incident.id})
        await self.restart(incident, anchor=anchor)

    async def _due(self, item: DueItem) -> None:
        incident = await self._current(item)
        if incident is None:
            return
        every = self.every(incident.severity)
        text, blocks = ui.update_reminder(
            incident, every=every, snooze=self.config.reminders.snooze.total_seconds()
        )
        await self._post(incident, item, text, blocks)
        await self.scheduler.schedule(
            OVERDUE,
            incident.id,
            item.due_at + self.config.reminders.grace * every,
            payload={**item.payload, "due": item.due_at},
            generation=item.generation,
            lane=LANE,
        )

    async def _overdue(self, item: DueItem) -> None:
        incident = await self._current(item)
        if incident is None:
            return
        due = float(item.payload.get("due", item.due_at))
        overdue_for = max(0.0, self.clock() - due)
        leads = _leads(incident)
        text, blocks = ui.update_overdue(incident, overdue_for=overdue_for, leads=leads)
        await self._post(incident, item, text, blocks)
        who = mk.join((mk.user(uid) for uid in leads.values()), " and ")
        note = md("No update {} past due: pinged the channel", format_duration(overdue_for))
        if who:
            note += md(" and {}", who)
        entry = TimelineEntry(at=self.clock(), actor=None, kind="reminder", text=note)
        await self.store.append_marked(
            incident.id, entry, scope=Once.REMINDER_TIMELINE, key=item.token, ttl=86400
        )
        await self.scheduler.schedule(
            DUE,
            incident.id,
            due + self.every(incident.severity),
            payload={"anchor": item.payload.get("anchor", 0), "severity": incident.severity},
            generation=item.generation,
            lane=LANE,
        )

    async def _post(self, incident: Incident, item: DueItem, text: Mrkdwn, blocks: list) -> None:
        assert incident.channel_id
        posted = await post_for_item(
            self.slack, incident.channel_id, item, (text, blocks), what="reminder"
        )
        if posted and self.metrics is not None:
            self.metrics.reminders_sent.labels(item.kind).inc()

    # -- repair ---------------------------------------------------------------------------
    async def reconcile(self) -> int:
        """Give each open incident without a pending cadence one; returns how many. One
        replica at a time (a lease); the others skip."""
        fixed = 0
        async with self.store.held(Lease.REMINDERS_RECONCILE, ttl=60) as mine:
            if not mine:
                return 0
            for incident in await self.store.open_incidents(limit=10_000):
                pending = await self.scheduler.pending(incident.id)
                if not any(i.lane == LANE for i in pending):
                    await self.restart(incident, anchor=_anchor(incident))
                    fixed += 1
        if fixed:
            log.info("reminder cadences restored", extra={"count": fixed})
        return fixed


def _anchor(incident: Incident) -> float:
    if incident.last_update is not None:
        return max(incident.declared_at, incident.last_update.at)
    return incident.declared_at


def _leads(incident: Incident) -> dict[str, str]:
    """Who the grace-period ping names: the comms lead, else the tech lead."""
    for role in ("comms_lead", "tech_lead"):
        if incident.roles.get(role):
            return {role: incident.roles[role]}
    return {}
