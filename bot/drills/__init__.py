"""Game-day drills: playing a scenario as an incident marked DRILL.

Owns the run of a drill from start to report; its scenarios (`drills/*.yaml`, and a
team's own `drills.scenarios_dir`) are read and checked by bot/drills/scenarios.py. A
drill is a real incident with `Incident.drill` set (bot/core/models.py `DrillInfo`): the
same channel, card, runbook, reminders and commands, so a team rehearses exactly what it
will use. What differs:

- **Marked everywhere.** Its channel is `drill-…`, its card carries a banner, and every
  message about it that leaves the channel starts with "[DRILL]" (`Incident.drill_tag`).
  It is declared with source "drill", so `incident_bot_incidents_declared_total` counts it
  under `source="drill"`, and bot/stats.py leaves it out of stats and MTTA/MTTR.
- **No real page.** bot/paging/ pages only `drills.pagerduty_service_id` for a drill
  (title "[DRILL] …"). Without one, nobody is paged and the channel says "Drill: no real
  page sent", with an **Acknowledge page** button standing in for the page.
- **A script.** Each step of the scenario is a `drill_step` due-item of bot/core/schedule.py at
  its offset (durable: a restart loses nothing), carrying what it plays in its payload, so
  an edited scenario file never changes a drill under way. An alert step goes through the
  alert path (bot/alerts/: the same parse and accept as the Alertmanager webhook) with
  the label `incident_drill=<incident id>`, which ties its alert group to the drill's
  incident: it never declares, reopens or pages anything real. A message step is posted in
  the channel. Each step puts one line on the timeline.
- **An end and a report.** Resolving (a person, or the alerts' auto-resolve) or the
  scenario's time limit (`drill_end` resolves it) schedules `drill_report`, which posts
  the report in the channel: time to acknowledge (bot/stats.py's definition), to the first
  status update, to finish each phase of the scenario's runbook (replayed from the
  checklist's timeline entries), and to resolve, each against the scenario's targets; and
  the timeline.

`fast` divides the scenario's offsets, time limit and targets by `drills.fast`, for a demo.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass
from datetime import UTC, datetime
from typing import Any

import blocks.drills as ui
from bot.alerts import DRILL_LABEL, Alerts, parse_alertmanager
from bot.core.durations import format_duration
from bot.core.feature import Scheduled
from bot.core.models import DrillInfo, DrillMeasure, DrillReport, DueItem, Incident, TimelineEntry
from bot.core.schedule import Retry, post_for_item
from bot.core.slack import SlackError
from bot.core.store import Lease, Once
from bot.drills.scenarios import Scenario, ScriptAlert
from bot.incidents import IncidentError, Incidents
from bot.runbooks.library import Phase, Runbook
from bot.stats import acknowledgement

log = logging.getLogger(__name__)

SOURCE = "drill"  # Incident.source, and the `source` label of incident_bot_incidents_declared_total
STEP = "drill_step"
END = "drill_end"
REPORT = "drill_report"
LANE = "drill"  # the script and the time limit: resolving drops them together
ACK_KIND = "drill_ack"  # timeline kind of the Acknowledge page button
NOTE_KIND = "drill"
KEEP = 30 * 86400

# the checklist's timeline line (bot/runbooks/checklists.py step_entry_text): `Step <id> <verb>: …`
_STEP_ENTRY = re.compile(r"^Step (?P<step>\S+) (?P<verb>done|skipped|taken|reopened): ", re.S)


class DrillError(IncidentError):
    """A drill request we refuse; the message is shown to the user as is."""


# -- the report (pure) -------------------------------------------------------------------------


def phase_finishes(
    runbook: Runbook, entries: Iterable[TimelineEntry]
) -> list[tuple[Phase, float | None]]:
    """When each phase of the runbook was finished (every step done or skipped), replayed
    from the checklist's timeline entries; None when it is not finished. Undo reopens."""
    phase_of = {step.id: phase.id for phase in runbook.phases for step in phase.steps}
    finished: dict[str, bool] = {}
    at: dict[str, float | None] = {phase.id: None for phase in runbook.phases}
    suffix = f"({runbook.id})"
    for entry in entries:
        if entry.kind != "runbook_step" or not entry.text.endswith(suffix):
            continue
        match = _STEP_ENTRY.match(entry.text)
        if match is None or match.group("step") not in phase_of:
            continue
        step = match.group("step")
        finished[step] = match.group("verb") in ("done", "skipped")
        phase = next(p for p in runbook.phases if p.id == phase_of[step])
        complete = all(finished.get(s.id) for s in phase.steps)
        if not complete:
            at[phase.id] = None
        elif at[phase.id] is None:
            at[phase.id] = entry.at
    return [(phase, at[phase.id]) for phase in runbook.phases]


def build_report(
    incident: Incident,
    entries: Sequence[TimelineEntry],
    runbook: Runbook | None,
    *,
    bots: frozenset[str],
    now: float,
) -> DrillReport:
    """The drill's figures, each as seconds after the start, from the timeline alone (so
    the report and `/incident timeline` always agree)."""
    drill = incident.drill
    assert drill is not None
    start = incident.declared_at
    targets = drill.targets
    measures = []
    ack = acknowledgement(incident, entries, bots)
    how = ""
    if ack is not None:
        first = next((e for e in entries if e.at == ack[0]), None)
        how = "in PagerDuty" if ack[1] == "pagerduty" else "first action by a person"
        if first is not None and first.kind == ACK_KIND:
            how = "drill page acknowledged"
    measures.append(
        DrillMeasure(
            name="Acknowledge",
            seconds=ack[0] - start if ack else None,
            target=targets.get("acknowledge"),
            how=how,
        )
    )
    update = next((e.at for e in entries if e.kind == "update"), None)
    measures.append(
        DrillMeasure(
            name="First update",
            seconds=update - start if update is not None else None,
            target=targets.get("first_update"),
        )
    )
    if runbook is not None:
        for phase, done in phase_finishes(runbook, entries):
            measures.append(
                DrillMeasure(
                    name=phase.title,
                    seconds=done - start if done is not None else None,
                    target=targets.get(phase.id),
                )
            )
    ended = incident.resolved_at if incident.resolved_at is not None else now
    by_limit = drill.ended_by == "time_limit"
    measures.append(
        DrillMeasure(
            name="Resolve",
            seconds=None if by_limit or incident.is_open else ended - start,
            target=targets.get("resolve"),
            how="time limit reached" if by_limit else "",
        )
    )
    return DrillReport(
        incident_id=incident.id,
        scenario=drill.scenario,
        title=incident.title,
        channel_id=incident.channel_id,
        started_at=start,
        ended_at=ended,
        ended_by="time_limit" if by_limit else "resolve",
        speed=drill.speed,
        measures=measures,
        timeline=list(entries),
    )


def alertmanager_body(incident_id: str, alert: ScriptAlert, *, now: float) -> bytes:
    """The step's alert as Alertmanager's webhook would POST it (version 4), grouped by
    alert name and the drill label, so it forms its own group, apart from real alerts."""
    stamp = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    labels = {"alertname": alert.alertname, **alert.labels, DRILL_LABEL: incident_id}
    body = {
        "version": "4",
        "status": alert.status,
        "receiver": "drill",
        "groupKey": f"drill:{incident_id}:{alert.alertname}",
        "groupLabels": {"alertname": alert.alertname, DRILL_LABEL: incident_id},
        "alerts": [
            {
                "status": alert.status,
                "labels": labels,
                "annotations": alert.annotations,
                "startsAt": stamp,
                "endsAt": stamp if alert.status == "resolved" else "0001-01-01T00:00:00Z",
            }
        ],
    }
    return json.dumps(body).encode()


# -- the service -------------------------------------------------------------------------------


@dataclass(eq=False)
class Drills(Scheduled):
    incidents: Incidents
    scenarios: Mapping[str, Scenario]
    runbooks: Mapping[str, Runbook]
    _: KW_ONLY
    alerts: Alerts | None

    def __post_init__(self) -> None:
        self.scenarios = dict(self.scenarios)  # a copy: the caller's map may change

    def install(self) -> None:
        self.scheduler.on(STEP, self._step)
        self.scheduler.on(END, self._end)
        self.scheduler.on(REPORT, self._report)

    def listed(self) -> list[ui.ScenarioRow]:
        return [
            ui.ScenarioRow(
                id=s.id,
                title=s.title,
                severity=s.severity,
                seconds=s.duration,
                steps=len(s.script),
                summary=s.summary,
            )
            for s in sorted(self.scenarios.values(), key=lambda s: s.id)
        ]

    @property
    def drill_service(self) -> str | None:
        return self.config.drills.pagerduty_service_id

    def _severity(self, scenario: Scenario) -> str:
        return self.config.resolve_severity(scenario.severity) or self.config.severities[-1].name

    # -- start -----------------------------------------------------------------------------
    async def start(self, scenario_id: str, *, by: str, fast: bool = False) -> Incident:
        """Declare the drill's incident and start its script; returns the incident."""
        scenario = self.scenarios.get(scenario_id)
        if scenario is None:
            known = ", ".join(sorted(self.scenarios)) or "none"
            raise DrillError(f"No drill scenario {scenario_id}; scenarios: {known}.")
        speed = self.config.drills.fast if fast else 1.0
        info = DrillInfo(
            scenario=scenario.id,
            speed=speed,
            time_limit=scenario.duration / speed,
            started_by=by,
            targets={k: v.total_seconds() / speed for k, v in scenario.targets.items()},
        )
        # Nobody holds a role yet, as when an alert declares: taking command is part of
        # the drill (and of the runbook's first steps).
        incident = await self.incidents.declare(
            title=scenario.title,
            severity=self._severity(scenario),
            by=by,
            description=scenario.summary,
            source=SOURCE,
            runbook=scenario.runbook,
            roles={},
            drill=info,
        )
        log.info("drill started", extra={"incident": incident.id, "scenario": scenario.id})
        return await self.store.get(incident.id) or incident

    async def on_incident_event(self, event: str, incident: Incident) -> None:
        if incident.drill is None:
            return
        if event == "declared":
            await self.begin(incident)
        elif event == "resolved":
            await self._ended(incident)

    async def begin(self, incident: Incident) -> None:
        """Tell the channel what this drill is, then schedule its script and time limit
        (once; reconcile() repeats it for a drill whose start was cut short)."""
        drill = incident.drill
        assert drill is not None
        scenario = self.scenarios.get(drill.scenario)
        if incident.channel_id:  # whoever started it is in at once (nobody holds a role)
            try:
                await self.slack.invite(incident.channel_id, [drill.started_by])
            except SlackError as exc:
                log.warning(
                    "drill invite failed", extra={"incident": incident.id, "error": exc.code}
                )
        if incident.channel_id and await self.store.claim_once(
            Once.DRILL_NOTICE, incident.id, ttl=KEEP
        ):
            message = ui.drill_notice(
                incident,
                drill,
                steps=len(scenario.script) if scenario else 0,
                drill_service=self.drill_service,
                pages=self._pages(incident),
            )
            await self.slack.notice(
                incident.channel_id, message, what="drill notice", incident=incident.id
            )
        if scenario is None:
            log.error(
                "drill scenario gone", extra={"incident": incident.id, "scenario": drill.scenario}
            )
        else:
            for i, step in enumerate(scenario.script):
                offset = step.at.total_seconds() / drill.speed
                payload: dict[str, Any] = {"at": offset}
                if step.alert is not None:
                    payload["alert"] = step.alert.model_dump()
                else:
                    payload["message"] = step.message
                await self.scheduler.schedule(
                    STEP,
                    incident.id,
                    incident.declared_at + offset,
                    key=str(i),
                    payload=payload,
                    generation=incident.generation,
                    lane=LANE,
                )
        await self.scheduler.schedule(
            END,
            incident.id,
            incident.declared_at + drill.time_limit,
            generation=incident.generation,
            lane=LANE,
        )

        def scripted(inc: Incident) -> None:
            if inc.drill is not None:
                inc.drill.scripted = True

        await self.store.update(incident.id, scripted)

    def _pages(self, incident: Incident) -> bool:
        try:
            return self.config.severity(incident.severity).page
        except KeyError:
            return False

    async def reconcile(self) -> int:
        """Start the script of open drills whose start was cut short (a crash between the
        declaration and the scheduling); returns how many. One replica at a time."""
        fixed = 0
        async with self.store.held(Lease.DRILLS_RECONCILE, ttl=60) as mine:
            if not mine:
                return 0
            for incident in await self.store.open_incidents(limit=10_000):
                if incident.drill is not None and not incident.drill.scripted:
                    if self.clock() - incident.declared_at < 30:
                        continue  # being started right now
                    await self.begin(incident)
                    fixed += 1
        return fixed

    # -- the script ------------------------------------------------------------------------
    async def _step(self, item: DueItem) -> None:
        incident = await self.store.get(item.incident_id)
        if incident is None or incident.drill is None or not incident.is_open:
            return
        offset = float(item.payload.get("at", 0))
        if "alert" in item.payload:
            alert = ScriptAlert.model_validate(item.payload["alert"])
            await self._note_once(
                incident, item, f"Drill script: alert {alert.alertname} {alert.status}"
            )
            await self._send_alert(incident, alert)
        else:
            text = str(item.payload.get("message", ""))
            await self._note_once(incident, item, f"Drill script: {text}")
            await self._post_once(incident, item, ui.drill_message(text, at=offset))

    async def _send_alert(self, incident: Incident, alert: ScriptAlert) -> None:
        """Through the alert path: what the Alertmanager route does after its token check
        (validate, then persist for the alert workers)."""
        body = alertmanager_body(incident.id, alert, now=self.clock())
        if self.alerts is None:
            raise Retry("the alert path is not running")
        batch = parse_alertmanager(body, now=self.clock())
        await self.alerts.accept(batch)

    async def _note_once(self, incident: Incident, item: DueItem, text: str) -> None:
        entry = TimelineEntry(at=self.clock(), actor=None, kind=NOTE_KIND, text=text)
        key = f"{incident.id}:{item.key}"
        await self.store.append_marked(incident.id, entry, scope=Once.DRILL_STEP, key=key, ttl=KEEP)

    async def _post_once(self, incident: Incident, item: DueItem, message: ui.Message) -> None:
        if not incident.channel_id:
            raise Retry("the drill has no channel yet")
        await post_for_item(self.slack, incident.channel_id, item, message, what="drill post")

    # -- the end ---------------------------------------------------------------------------
    async def _end(self, item: DueItem) -> None:
        """The time limit: the bot ends the drill (resolving it) if nobody has."""
        incident = await self.store.get(item.incident_id)
        if incident is None or incident.drill is None or not incident.is_open:
            return

        def by_limit(inc: Incident) -> None:
            if inc.drill is not None and inc.is_open:
                inc.drill.ended_by = "time_limit"

        incident = await self.store.update(incident.id, by_limit)
        limit = format_duration(incident.drill.time_limit if incident.drill else 0)
        await self.incidents.resolve(
            incident,
            by=await self.slack.acting_user(),
            summary=f"Drill time limit ({limit}) reached.",
        )

    async def _ended(self, incident: Incident) -> None:
        """Resolved (by a person, the alerts or the time limit): stop the script and
        schedule the report."""
        await self.scheduler.cancel(incident.id, lane=LANE, generation=incident.generation)
        if incident.drill is not None and incident.drill.ended_by is None:

            def by_person(inc: Incident) -> None:
                if inc.drill is not None and inc.drill.ended_by is None:
                    inc.drill.ended_by = "resolve"

            incident = await self.store.update(incident.id, by_person)
        await self.scheduler.schedule(
            REPORT, incident.id, self.clock(), generation=incident.generation, lane=REPORT
        )

    async def _report(self, item: DueItem) -> None:
        incident = await self.store.get(item.incident_id)
        if incident is None or incident.drill is None:
            return
        entries = await self.store.timeline(incident.id)
        runbook = self.runbooks.get(incident.runbook) if incident.runbook else None
        report = build_report(
            incident, entries, runbook, bots=await self.slack.bots(), now=self.clock()
        )
        await self._post_once(incident, item, ui.drill_report(report))

    # -- the Acknowledge page button ---------------------------------------------------------
    async def acknowledge(self, incident_id: str, *, by: str) -> Incident:
        """The drill's stand-in for acknowledging the page (none was sent). Once per drill;
        IncidentError when it was already acknowledged or the drill is over."""
        incident = await self.store.get(incident_id)
        if incident is None or incident.drill is None:
            raise DrillError("That drill is no longer stored.")
        if not incident.is_open:
            raise DrillError(f"Drill {incident.id} is over.")
        if not await self.store.claim_once(Once.DRILL_ACK, incident.id, ttl=KEEP):
            raise DrillError("The drill page is already acknowledged.")
        now = self.clock()
        entry = TimelineEntry(at=now, actor=by, kind=ACK_KIND, text="Acknowledged the drill page")
        await self.store.append(incident.id, entry)
        await self.slack.notice(
            incident.channel_id, ui.acknowledged(by, at=now), what="drill ack", incident=incident.id
        )
        return incident
