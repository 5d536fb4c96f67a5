"""Escalation by elapsed time: the config's escalation matrix, and runbooks' own escalations.

Owns `Incident.escalation` (whose matrix runs since when, what fired, who was reached) and
three due-item kinds of bot/core/schedule.py:

- `escalation_step` (lane "matrix"): one item per step of the incident's severity, due
  `after` the start of the run: the declaration, or the moment the severity changed (the
  matrix of the new severity applies from then). A severity change re-schedules the lane
  with the incident's new generation, which drops the old severity's pending steps.
- `runbook_escalation` (lane "runbook:<id>"): a runbook's `escalate:` block, due `after`
  the runbook was posted in the incident (bot/runbooks/checklists.py tells us).
- `escalation_unpage`: resolving the incident resolves the PagerDuty incidents its
  escalation steps opened.

A step that comes due notifies its targets (mentions in the incident channel; a DM with
the incident link to each person; a post in each channel; user groups by their mention)
and/or pages a PagerDuty escalation policy or schedule, and says so on the timeline. The
step's record is written before anything is sent, keyed by (step, start), so it fires once
whatever the redeliveries; its deliveries are keyed by the item's token so a retry after a
crash sends only what had not gone out. Whoever a step reaches is remembered: a later step
(another severity's, after a change) that names only people already reached is recorded
as skipped and sends nothing.

Resolving cancels everything pending; reopening starts the current severity's matrix
again. `reconcile()` (periodic, one replica at a time) restores runs lost to a crash
between an incident change and its listener.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import KW_ONLY, dataclass, field

import blocks.escalations as ui
import blocks.mrkdwn as mk
from blocks.incident import Message
from blocks.mrkdwn import Mrkdwn, md
from bot.core import redaction
from bot.core.config import role_name, target_kind
from bot.core.feature import Scheduled
from bot.core.identity import Identity
from bot.core.models import (
    DueItem,
    EscalationFired,
    EscalationRow,
    EscalationState,
    Incident,
    LifecycleEvent,
    TimelineEntry,
)
from bot.core.pagerduty import PagerDuty, PagingError
from bot.core.schedule import Retry, post_for_item
from bot.core.slack import SlackError, is_transient
from bot.core.store import Lease, Once
from bot.paging.base import paging_problem
from bot.runbooks.library import Runbook

log = logging.getLogger(__name__)

STEP = "escalation_step"
RUNBOOK = "runbook_escalation"
UNPAGE = "escalation_unpage"
LANE = "matrix"
SENT_TTL = 7 * 86400


@dataclass(frozen=True)
class _Spec:
    """What is about to fire: a matrix step or a runbook's escalation."""

    key: str
    since: float
    after: float
    targets: list[str]
    page: str | None = None
    note: str = ""
    severity: str | None = None
    step: int | None = None
    steps: int | None = None


@dataclass
class _Targets:
    reach: list[str] = field(default_factory=list)  # U…, S…, C…/#name
    unfilled: list[str] = field(default_factory=list)  # roles nobody holds


def _same(a: float, b: float) -> bool:
    return abs(a - b) < 1e-3


def _matrix_key(severity: str, index: int) -> str:
    return f"matrix:{severity}:{index}"


@dataclass(eq=False)
class Escalations(Scheduled):
    runbooks: Mapping[str, Runbook]
    pagerduty: PagerDuty | None
    _: KW_ONLY
    identity: Identity  # the install record: a page's incident_key never repeats

    def install(self) -> None:
        self.scheduler.on(STEP, self._step)
        self.scheduler.on(RUNBOOK, self._runbook)
        self.scheduler.on(UNPAGE, self._unpage)

    @property
    def paging_problem(self) -> str | None:
        return paging_problem(self.pagerduty, self.config)

    # -- lifecycle ----------------------------------------------------------------------------
    async def at_declare(self, incident: Incident, now: float) -> list[TimelineEntry]:
        """The matrix runs from the declaration (bot/incidents/ `at_declare`): its state is
        written with it, so `start` at the `declared` event finds nothing to write."""
        incident.escalation = EscalationState(severity=incident.severity, since=now)
        return []

    async def on_incident_event(self, event: str, incident: Incident) -> None:
        if event == "declared" and incident.escalation is not None:
            # written with the declaration (`at_declare`): nothing to write, nothing older
            # in the lane to drop, and the declaration's generation orders its steps (a
            # later change's run has a newer one, which drops these)
            await self._schedule_matrix(incident, first=True)
        elif event == "declared":
            await self.start(incident, since=incident.declared_at)
        elif event == "severity":
            await self.start(incident, since=self.clock())
        elif event == "reopened":
            await self.start(incident, since=self.clock())
            await self._runbooks_due(incident)
        elif event == "resolved":
            await self.stop(incident)

    async def start(self, incident: Incident, *, since: float, repair: bool = False) -> None:
        """Run the matrix of the incident's severity from `since`; the previous run's
        pending steps are dropped. `repair` (reconcile): only if no run of the current
        severity was started meanwhile (its listener may be running right now)."""
        severity = incident.severity
        current = True

        def mutate(inc: Incident) -> None:
            nonlocal current
            # a newer severity change's listener runs its own matrix
            current = inc.is_open and inc.severity == severity
            state = inc.escalation
            if repair and state is not None and state.severity == inc.severity:
                current = False
            if not current:
                return
            if state is None:
                inc.escalation = EscalationState(severity=severity, since=since)
            else:
                state.severity, state.since = severity, since

        # the fresh incident: its generation (not the event's) orders this run's items
        incident = await self.store.update(incident.id, mutate)
        if current:
            await self._schedule_matrix(incident)

    async def _schedule_matrix(self, incident: Incident, *, first: bool = False) -> None:
        """`first`: the declaration's own run, which has no earlier run to drop."""
        state = incident.escalation
        assert state is not None
        steps = self.config.matrix_for(state.severity)
        if not steps and not first:
            # raises the lane's floor to this generation: the old run's steps are dropped
            await self.scheduler.cancel(incident.id, lane=LANE, generation=incident.generation)
        # Otherwise the first schedule with a newer generation drops the old run's steps
        # in the same script; no separate cancel, which (it removes whatever the lane holds)
        # could wipe a newer run scheduled between a stale reader's read and its cancel.
        for index, step in enumerate(steps):
            key = _matrix_key(state.severity, index)
            if any(f.key == key and _same(f.since, state.since) for f in state.fired):
                continue
            await self.scheduler.schedule(
                STEP,
                incident.id,
                state.since + step.after.total_seconds(),
                key=f"{state.severity}:{index}",
                payload={"severity": state.severity, "index": index, "since": state.since},
                generation=incident.generation,
                lane=LANE,
            )

    async def stop(self, incident: Incident) -> None:
        await self.scheduler.cancel(incident.id, lane=LANE, generation=incident.generation)
        await self.scheduler.cancel(incident.id, RUNBOOK, generation=incident.generation)
        state = incident.escalation
        if state is not None and any(f.pd_incident_id for f in state.fired):
            await self.scheduler.schedule(
                UNPAGE, incident.id, self.clock(), generation=incident.generation
            )

    async def on_runbook_posted(self, event: LifecycleEvent) -> None:
        """A runbook with `escalate:` starts its clock when posted (`runbook_posted`)."""
        runbook = self.runbooks.get(str(event.data.get("runbook")))
        if runbook is None or runbook.escalate is None or not event.incident.is_open:
            return
        since = float(event.data.get("posted_at") or event.at)
        await self._schedule_runbook(event.incident, runbook, since=since)

    async def _schedule_runbook(
        self, incident: Incident, runbook: Runbook, *, since: float
    ) -> None:
        assert runbook.escalate is not None
        await self.scheduler.schedule(
            RUNBOOK,
            incident.id,
            since + runbook.escalate.after.total_seconds(),
            key=runbook.id,
            payload={"runbook": runbook.id, "since": since},
            generation=incident.generation,
            lane=f"runbook:{runbook.id}",
        )

    # -- due-item handlers --------------------------------------------------------------------
    async def _step(self, item: DueItem) -> None:
        incident = await self.store.get(item.incident_id)
        if incident is None or not incident.is_open:
            return
        severity = str(item.payload.get("severity"))
        index = int(item.payload.get("index", -1))
        since = float(item.payload.get("since", 0))
        state = incident.escalation
        if (
            incident.severity != severity
            or state is None
            or state.severity != severity
            or not _same(state.since, since)
        ):
            return  # a later start (severity change) scheduled its own steps
        steps = self.config.matrix_for(severity)
        if not 0 <= index < len(steps):
            return  # the config changed under a pending item (a deploy)
        step = steps[index]
        spec = _Spec(
            key=_matrix_key(severity, index),
            since=since,
            after=step.after.total_seconds(),
            targets=list(step.notify),
            page=step.page,
            note=step.note,
            severity=severity,
            step=index + 1,
            steps=len(steps),
        )
        await self._fire(incident, item, spec)

    async def _runbook(self, item: DueItem) -> None:
        incident = await self.store.get(item.incident_id)
        if incident is None or not incident.is_open:
            return
        runbook = self.runbooks.get(str(item.payload.get("runbook")))
        if runbook is None or runbook.escalate is None:
            return
        escalate = runbook.escalate
        spec = _Spec(
            key=f"runbook:{runbook.id}",
            since=float(item.payload.get("since", item.due_at)),
            after=escalate.after.total_seconds(),
            targets=list(escalate.to),
            note=escalate.note or f"{runbook.title} runbook escalation",
        )
        await self._fire(incident, item, spec)

    def _resolve(self, incident: Incident, targets: list[str]) -> _Targets:
        """Roles become their holders; roles nobody holds are reported, not notified."""
        out = _Targets()
        for target in targets:
            kind = target_kind(target)
            if kind == "role":
                holder = incident.roles.get(role_name(target))
                if holder:
                    target = holder
                else:
                    out.unfilled.append(role_name(target))
                    continue
            if target not in out.reach:
                out.reach.append(target)
        return out

    async def _fire(self, incident: Incident, item: DueItem, spec: _Spec) -> None:
        resolved = self._resolve(incident, spec.targets)
        page = self.config.page_target(spec.page) if spec.page else None
        now = self.clock()
        record: EscalationFired | None = None

        def mutate(inc: Incident) -> list[TimelineEntry] | None:
            nonlocal record
            record = None
            if not inc.is_open or (spec.severity is not None and inc.severity != spec.severity):
                return None
            state = inc.escalation or EscalationState(severity=inc.severity, since=inc.declared_at)
            for fired in state.fired:
                if fired.key == spec.key and _same(fired.since, spec.since):
                    record = fired  # fired already (by this occurrence, or another)
                    return None
            new = [t for t in resolved.reach if t not in state.reached]
            paged = page if page and f"page:{page}" not in state.reached else None
            record = EscalationFired(
                key=spec.key,
                since=spec.since,
                at=now,
                after=spec.after,
                severity=spec.severity,
                note=spec.note,
                notified=new,
                paged=paged,
                unfilled=resolved.unfilled,
                skipped=not new and not paged and not resolved.unfilled,
                token=item.token,
            )
            state.fired.append(record)
            state.reached += [*new, *([f"page:{paged}"] if paged else [])]
            inc.escalation = state
            if record.skipped:
                return None  # bookkeeping: nobody new to tell
            return [TimelineEntry(at=now, actor=None, kind="escalation", text=_timeline(record))]

        incident = await self.store.update(incident.id, mutate)
        if record is None or record.token != item.token or record.skipped:
            return
        log.info(
            "escalation fired",
            extra={"incident": incident.id, "step": spec.key, "targets": record.notified},
        )
        await self._deliver(incident, item, record, spec)

    async def _deliver(
        self, incident: Incident, item: DueItem, record: EscalationFired, spec: _Spec
    ) -> None:
        """Send what this step owes; on a retry, only what has not gone out yet."""
        if incident.channel_id:
            notice = ui.escalation_notice(
                incident, record, step=spec.step, steps=spec.steps, roles=self.config.roles
            )
            await self._once(item, "channel", incident.channel_id, notice, marked=True)
        for target in record.notified:
            kind = target_kind(target)
            if kind == "user" or (kind == "channel" and target != incident.channel_id):
                # outside the incident's channel: a private incident shows redacted
                shown = redaction.for_destination(incident, self.config, target)
                message = ui.escalation_dm(shown, record, self.config, to_channel=kind != "user")
                await self._once(item, target, target.lstrip("#"), message)
        if record.paged and record.pd_incident_id is None:
            await self._page(incident, item, record)

    async def _once(
        self, item: DueItem, what: str, channel: str, message: Message, *, marked: bool = False
    ) -> None:
        key = f"{item.token}:{what}"
        if await self.store.once_value(Once.ESCALATION_SENT, key):
            return
        text, blocks = message
        if marked:
            await post_for_item(self.slack, channel, item, message, what="escalation message")
            await self.store.claim_once(Once.ESCALATION_SENT, key, ttl=SENT_TTL)
            return
        try:
            await self.slack.post(channel, text, blocks)
        except SlackError as exc:
            if is_transient(exc):
                raise Retry(f"Slack: {exc.code}") from exc
            log.warning(
                "escalation message not delivered",
                extra={"incident": item.incident_id, "to": channel, "error": exc.code},
            )
        await self.store.claim_once(Once.ESCALATION_SENT, key, ttl=SENT_TTL)

    async def _page(self, incident: Incident, item: DueItem, record: EscalationFired) -> None:
        assert record.paged is not None
        problem = self.paging_problem
        if incident.drill is not None:  # a game-day drill (bot/drills/) pages nobody real
            problem = "Drill: no real page sent."
        if problem is not None:
            if incident.channel_id:
                await self._once(
                    item, "page", incident.channel_id, ui.page_failed(record.paged, problem)
                )
            return
        assert self.pagerduty is not None and self.config.pagerduty.service_id
        target = record.paged
        paged_as = redaction.for_pagerduty(incident, self.config)  # private: a generic title
        try:
            kind = await self.pagerduty.target_kind(target)
            assignees = await self.pagerduty.oncall_user_ids(target) if kind == "schedule" else None
            if kind == "schedule" and not assignees:
                raise PagingError(f"nobody is on call in schedule {target}", retryable=False)
            if self.identity.epoch is None:
                await self.identity.ensure()
            result = await self.pagerduty.page(
                service_id=self.config.pagerduty.service_id,
                escalation_policy_id=target if kind == "escalation_policy" else None,
                incident_key=self.identity.page_key(f"{incident.id}-escalation-{target}"),
                title=f"[{incident.severity}] {paged_as.title} (escalation: {record.note})",
                details=f"Incident {incident.id} escalated: {record.note}".strip(),
                assignee_ids=assignees,
            )
        except PagingError as exc:
            reason = f"HTTP {exc.status}" if exc.status else str(exc)[:200]
            if exc.retryable and item.attempts < 5:
                raise Retry(f"PagerDuty: {reason}", after=exc.retry_after) from exc
            log.warning("escalation page failed", extra={"incident": incident.id, "error": reason})
            if incident.channel_id:
                await self._once(item, "page", incident.channel_id, ui.page_failed(target, reason))
            return

        def paged(inc: Incident) -> None:
            for fired in inc.escalation.fired if inc.escalation else []:
                if fired.token == record.token:
                    fired.pd_incident_id = result.incident_id

        await self.store.update(incident.id, paged)

    async def _unpage(self, item: DueItem) -> None:
        incident = await self.store.get(item.incident_id)
        if incident is None or incident.escalation is None or self.pagerduty is None:
            return
        for fired in incident.escalation.fired:
            if not fired.pd_incident_id:
                continue
            if await self.store.once_value(Once.ESCALATION_SENT, f"unpage:{fired.pd_incident_id}"):
                continue
            note = incident.resolution or f"Resolved in Slack (incident {incident.id})"
            try:
                await self.pagerduty.resolve(fired.pd_incident_id, note=note)
            except PagingError as exc:
                if exc.retryable:
                    raise Retry(f"PagerDuty: {exc}", after=exc.retry_after) from exc
                log.warning(
                    "escalation page not resolved",
                    extra={"incident": incident.id, "error": str(exc)[:200]},
                )
            await self.store.claim_once(
                Once.ESCALATION_SENT, f"unpage:{fired.pd_incident_id}", ttl=SENT_TTL
            )

    # -- what fired, what is due ----------------------------------------------------------------
    async def plan(self, incident: Incident) -> list[EscalationRow]:
        """Rows for `/incident escalations`: every step that fired or was skipped, then the
        current matrix's steps still to come and pending runbook escalations, by time."""
        rows: list[EscalationRow] = []
        state = incident.escalation
        done: set[tuple[str, float]] = set()
        for fired in state.fired if state else []:
            done.add((fired.key, fired.since))
            rows.append(
                EscalationRow(
                    label=fired.note or "Escalation",
                    after=fired.after,
                    targets=fired.notified,
                    page=fired.paged,
                    severity=fired.severity,
                    runbook=fired.key.removeprefix("runbook:") if not fired.severity else None,
                    state="skipped" if fired.skipped else "fired",
                    at=fired.at,
                    reached=fired.notified,
                    unfilled=fired.unfilled,
                )
            )
        coming = "due" if incident.is_open else "stopped"
        if state is not None:
            for index, step in enumerate(self.config.matrix_for(state.severity)):
                key = _matrix_key(state.severity, index)
                if any(k == key and _same(s, state.since) for k, s in done):
                    continue
                after = step.after.total_seconds()
                rows.append(
                    EscalationRow(
                        label=step.note or f"Step {index + 1}",
                        after=after,
                        targets=list(step.notify),
                        page=step.page,
                        severity=state.severity,
                        state=coming,
                        at=state.since + after,
                    )
                )
        for item in await self.scheduler.pending(incident.id):
            runbook = self.runbooks.get(str(item.payload.get("runbook")))
            if item.kind != RUNBOOK or runbook is None or runbook.escalate is None:
                continue
            rows.append(
                EscalationRow(
                    label=runbook.escalate.note or f"{runbook.title} runbook escalation",
                    after=runbook.escalate.after.total_seconds(),
                    targets=list(runbook.escalate.to),
                    runbook=runbook.id,
                    state="due",
                    at=item.due_at,
                )
            )
        return sorted(rows, key=lambda r: r.at or 0.0)

    # -- repair -------------------------------------------------------------------------------
    async def reconcile(self) -> int:
        """Restore escalation runs lost to a crash (a listener that never ran): each open
        incident gets its matrix and its runbooks' escalations back. One replica at a time."""
        fixed = 0
        async with self.store.held(Lease.ESCALATIONS_RECONCILE, ttl=60) as mine:
            if not mine:
                return 0
            for incident in await self.store.open_incidents(limit=10_000):
                fixed += await self._reconcile_one(incident)
        if fixed:
            log.info("escalation runs restored", extra={"count": fixed})
        return fixed

    async def _reconcile_one(self, incident: Incident) -> int:
        state = incident.escalation
        if state is None or state.severity != incident.severity:
            since = incident.declared_at
            if state is not None:  # the severity changed and its listener never ran
                timeline = await self.store.timeline(incident.id)
                changes = [e.at for e in timeline if e.kind == "severity"]
                since = max([since, *changes[-1:]])
            await self.start(incident, since=since, repair=True)
            return 1
        pending = await self.scheduler.pending(incident.id)
        fixed = 0
        if not any(i.lane == LANE for i in pending):
            unfired = [
                i
                for i in range(len(self.config.matrix_for(state.severity)))
                if not any(
                    f.key == _matrix_key(state.severity, i) and _same(f.since, state.since)
                    for f in state.fired
                )
            ]
            if unfired:
                await self._schedule_matrix(incident)
                fixed += 1
        fixed += await self._runbooks_due(incident, pending=pending)
        return fixed

    async def _runbooks_due(
        self, incident: Incident, *, pending: list[DueItem] | None = None
    ) -> int:
        """Schedule the escalations of runbooks posted in the incident that neither fired
        nor are pending (a crash, or a resolve and reopen in between)."""
        if pending is None:
            pending = await self.scheduler.pending(incident.id)
        waiting = {i.key for i in pending if i.kind == RUNBOOK}
        fired = {f.key for f in (incident.escalation.fired if incident.escalation else [])}
        fixed = 0
        for runbook_id, run_id in (await self.store.incident_runs(incident.id)).items():
            runbook = self.runbooks.get(runbook_id)
            if runbook is None or runbook.escalate is None or runbook_id in waiting:
                continue
            if f"runbook:{runbook_id}" in fired:
                continue
            run = await self.store.get_run(run_id)
            if run is not None:
                await self._schedule_runbook(incident, runbook, since=run.posted_at)
                fixed += 1
        return fixed


def _timeline(record: EscalationFired) -> Mrkdwn:
    who = [ui.target_text(t) for t in record.notified]
    if record.paged:
        who.append(md("paged {}", record.paged))
    if record.unfilled:
        unfilled = ", ".join(r.replace("_", " ") for r in record.unfilled)
        who.append(md("nobody holds {}", unfilled))
    origin = f"{record.severity}, " if record.severity else "runbook, "
    note = f": {record.note}" if record.note else ""
    after = ui.after_text(record.after)
    return md("Escalation ({}{}){} → {}", origin, after, note, mk.join(who, "; "))
