"""Paging: an incident's PagerDuty page, and escalating it until someone acknowledges.

Owns `Incident.page` (a PageState) and four due-item kinds of bot/core/schedule.py, so every
PagerDuty call is durable, retried with backoff from Redis and never holds up a command:

- `page`: declaring at a paging severity, or raising an incident to one, asks for a page.
  The page is a PagerDuty incident on the configured service (and escalation policy) with
  one incident_key per incident, so a retry after a lost answer finds it instead of paging
  twice. 5xx, 429 (its Retry-After) and timeouts are retried; after a few failures the
  channel is told, and told again if it gives up. The channel says who was paged, as Slack
  mentions (PagerDuty user -> Slack user by email), once: the page's handler says it if the
  channel was there as it recorded the page, else the set-up once it has made it. The
  escalation it starts is stored with the page's done (one due-item script call).
- `escalate`: `escalation.ack_timeout` after a page or escalation, if PagerDuty still says
  triggered, escalate to the policy's next level and say so; again until the last level.
  `/incident escalate` schedules it now. It always asks PagerDuty first, so a lost
  acknowledgement webhook never causes an escalation.
- `pd_poll`: without PAGERDUTY_WEBHOOK_SECRET, poll the PagerDuty incident for
  acknowledgements, resolves and escalations made in PagerDuty.
- `pd_resolve`: resolving the incident (even as it is paged) resolves the PagerDuty one.

Webhooks (v3, signature checked in bot/server.py) are handled once per event id, and are
idempotent by state besides: PagerDuty also reports our own API changes (escalations we
made are recognised by a short-lived marker; a resolve of an incident we resolved is only
recorded). A webhook is bound to the PagerDuty incident it is about (`data.id`): it acts
on a page only when that is the page's recorded PagerDuty incident. Its incident_key names
our incident (nothing links them in Redis); it binds a page's PagerDuty incident not
recorded yet, and only on our service.
PagerDuty is called only through bot/core/pagerduty/; the pager's wiring and shared calls
are in bot/paging/base.py."""

from __future__ import annotations

import logging

import blocks.paging as ui
from blocks.mrkdwn import md
from bot.core import redaction
from bot.core.identity import incident_of_key
from bot.core.models import (
    PAGE_ACKNOWLEDGED,
    DueItem,
    Incident,
    LifecycleEvent,
    PageState,
    TimelineEntry,
)
from bot.core.pagerduty import (
    PagingError,
    PDIncident,
    WebhookEvent,
)
from bot.core.schedule import Retry
from bot.core.store import Lease, Once
from bot.incidents import IncidentError
from bot.paging.base import PagerBase, page_details, user_names

log = logging.getLogger(__name__)

PAGE = "page"
ESCALATE = "escalate"
POLL = "pd_poll"
RESOLVE = "pd_resolve"
TELL_FAILING_AFTER = 3  # failed page attempts before the channel hears about it
PAGE_ATTEMPTS = 10  # then the page is given up (about 10 min with the default backoff)
WEBHOOK_TTL = 3 * 86400
OURS_TTL = 600  # how long an escalation we made is recognised when PagerDuty reports it
ESCALATE_ASKED_TTL = 60  # seconds an "escalate now" from one level stands for every other
MOVED = ("incident.escalated", "incident.reassigned", "incident.unacknowledged")
HEARD = ("incident.acknowledged", "incident.resolved", *MOVED)  # the webhooks acted on


def _active(page: PageState | None) -> bool:
    return page is not None and page.status in ("pending", "triggered", "acknowledged")


class Pager(PagerBase):
    """Pages, escalations, polls and resolves as due-items; what PagerDuty reports."""

    def install(self) -> None:
        self.scheduler.on(PAGE, self._page, max_attempts=PAGE_ATTEMPTS + 1)
        self.scheduler.on(ESCALATE, self._escalate)
        self.scheduler.on(POLL, self._poll)
        self.scheduler.on(RESOLVE, self._resolve)

    # -- lifecycle events ---------------------------------------------------------------------
    async def at_declare(self, incident: Incident, now: float) -> list[TimelineEntry]:
        """Declared at a paging severity (bot/incidents/ `at_declare`): the page is asked
        for in the declaration's own write; its `declared` event queues it (`on_event`)."""
        if not self.pages(incident.severity) or self._cannot_page(incident):
            return []
        incident.page = PageState(incident_key=await self._page_key(incident), requested_at=now)
        return [TimelineEntry(at=now, actor=None, kind="page", text="Paging PagerDuty")]

    async def on_event(self, event: LifecycleEvent) -> None:
        """The `pager` subscriber (bot/core/events.py)."""
        incident = event.incident
        if event.type == "declared" and incident.page and incident.page.status == "pending":
            # asked for with the declaration: queued now (again after a crash that may
            # have kept it from being queued, unless it was sent meanwhile)
            if event.attempt > 1:
                incident = await self.store.get(incident.id) or incident
                if not await self._unqueued(incident):
                    return
            else:
                self._declared[incident.id] = incident
            await self.scheduler.schedule(
                PAGE, incident.id, self.clock(), generation=incident.generation
            )
            return
        await self.on_incident_event(event.type, incident)

    async def on_incident_event(self, event: str, incident: Incident) -> None:
        # a reopened incident whose page was resolved is paged again (a new PD incident)
        if event in ("declared", "severity", "reopened") and self.pages(incident.severity):
            if not _active(incident.page):
                await self.request(incident)
        elif event == "resolved":
            await self._stop(incident)

    async def on_set_up(self, event: str, incident: Incident, *, redelivered: bool) -> None:
        """After the set-up: a paging incident that could not page says why, now that it
        has a channel to say it in. `redelivered`: this event's notice may be posted."""
        if event != "declared" or not self.pages(incident.severity):
            return
        if _active(incident.page):
            await self._tell_paged(incident, redelivered=redelivered)
        else:
            await self.request(incident)

    async def request(self, incident: Incident) -> None:
        """Ask for a page: recorded on the incident, sent by the `page` due-item."""
        if incident.drill is not None and not self.service_id(incident):
            return  # a drill without a drill service pages nobody (its channel says so)
        problem = self.problem_for(incident)
        if problem:
            if incident.channel_id and await self.store.claim_once(
                Once.PAGING_OFF, incident.id, ttl=30 * 86400
            ):
                await self._say(incident, ui.paging_off(problem))
            return
        now = self.clock()
        asked = False
        key = await self._page_key(incident)

        def mutate(inc: Incident) -> list[TimelineEntry] | None:
            nonlocal asked
            if _active(inc.page) or not inc.is_open:
                return None
            inc.page = PageState(incident_key=key, requested_at=now)
            asked = True
            return [TimelineEntry(at=now, actor=None, kind="page", text="Paging PagerDuty")]

        incident = await self.store.update(incident.id, mutate, current=incident)
        # asked now, or asked before a crash that may have kept the page from being queued
        if asked or await self._unqueued(incident):
            await self.scheduler.schedule(PAGE, incident.id, now, generation=incident.generation)

    def _cannot_page(self, incident: Incident) -> bool:
        # a drill without a drill service pages nobody; paging off is said in the channel
        lone_drill = incident.drill is not None and not self.service_id(incident)
        return lone_drill or self.problem_for(incident) is not None

    async def _page_key(self, incident: Incident) -> str:
        if self.identity.epoch is None:
            await self.identity.ensure()
        return self.identity.page_key(incident.id)  # never one an earlier install used

    async def _unqueued(self, incident: Incident) -> bool:
        if incident.page is None or incident.page.status != "pending":
            return False
        return not any(i.kind == PAGE for i in await self.scheduler.pending(incident.id))

    async def escalate_now(self, incident: Incident, *, by: str) -> None:
        """`/incident escalate` and the card's *Escalate*: escalate to the next level at
        once. Asked again from the same level within ESCALATE_ASKED_TTL, it is the same
        request (one escalation)."""
        if problem := self.problem_for(incident):
            raise IncidentError(f"Paging is off: {problem}")
        page = incident.page
        if page is None or page.status in ("resolved", "failed"):
            raise IncidentError(
                "This incident has no open PagerDuty page to escalate. Raise it to a paging "
                "severity (`/incident severity SEV1`) to page."
            )
        if page.status == "pending":
            raise IncidentError("The page has not reached PagerDuty yet; try again in a moment.")
        # asked twice at once (a double click): the first escalates, the second is the same
        asked = f"{page.pd_incident_id}:{page.level}"
        if not await self.store.claim_once(Once.ESCALATE_ASKED, asked, ttl=ESCALATE_ASKED_TTL):
            return
        await self.scheduler.schedule(
            ESCALATE,
            incident.id,
            self.clock(),
            payload={"from_level": page.level, "by": by},
            generation=incident.generation,
        )

    async def _stop(self, incident: Incident) -> None:
        for kind in (PAGE, ESCALATE, POLL):
            await self.scheduler.cancel(incident.id, kind, generation=incident.generation)
        page = incident.page
        if page is not None and page.pd_incident_id and page.status != "resolved":
            await self.scheduler.schedule(
                RESOLVE, incident.id, self.clock(), generation=incident.generation
            )

    async def reconcile(self) -> int:
        """Send pages asked for whose due-item was lost (a crash between recording the
        request and scheduling it); returns how many. One replica at a time."""
        fixed = 0
        async with self.store.held(Lease.PAGER_RECONCILE, ttl=60) as mine:
            if not mine:
                return 0
            for incident in await self.store.open_incidents(limit=10_000):
                if incident.page is None or incident.page.status != "pending":
                    continue
                if not any(i.kind == PAGE for i in await self.scheduler.pending(incident.id)):
                    await self.scheduler.schedule(
                        PAGE, incident.id, self.clock(), generation=incident.generation
                    )
                    fixed += 1
        return fixed

    # -- due-item handlers --------------------------------------------------------------------
    async def _page(self, item: DueItem) -> None:
        incident = await self._paging(item)
        if incident is None or not incident.is_open or incident.page is None or self.pd is None:
            return
        page = incident.page
        if page.status == "pending":
            shown = redaction.for_pagerduty(incident, self.config)  # private: a generic title
            try:
                service = await self._get_service(self.service_id(incident))
                result = await self.pd.page(
                    service_id=service.id,
                    # a drill's page follows the drill service's own policy
                    escalation_policy_id=(
                        None if incident.drill else self.config.pagerduty.escalation_policy_id
                    ),
                    incident_key=page.incident_key,
                    title=f"[{incident.severity}] {shown.title}",
                    details=page_details(shown),
                )
            except PagingError as exc:
                await self._page_failed(incident, item, exc)
                return
            oncall = await self._mentions(result.assignees)
            now = self.clock()
            recorded = False

            def paged(inc: Incident) -> list[TimelineEntry] | None:
                nonlocal recorded
                p = inc.page
                recorded = p is not None and p.status == "pending"
                if p is None or not recorded:
                    return None
                p.page_tells = bool(inc.channel_id)
                p.status = "acknowledged" if result.status == "acknowledged" else "triggered"
                p.pd_incident_id, p.pd_number = result.incident_id, result.incident_number
                p.html_url, p.service, p.service_id = result.html_url, service.name, service.id
                p.level, p.oncall, p.paged_at = result.escalation_level, oncall, now
                number = f" #{result.incident_number}" if result.incident_number else ""
                text = md("Paged PagerDuty{} ({}): {}", number, service.name, ui.holders(p))
                return [TimelineEntry(at=now, actor=None, kind="page", text=text)]

            incident = await self.store.update(incident.id, paged)
            if not recorded:
                return  # another occurrence recorded this page: it says so and goes on
            if not incident.is_open:
                return await self._stop(incident)
        elif not (item.attempts > 1 and page.pd_incident_id):
            return  # paged already, by an earlier occurrence that finished
        assert incident.page is not None
        if incident.page.page_tells:  # marked: a redelivery looks for its own post first
            await self._post(incident, item, ui.paged(incident.page))
        await self._after_page(incident, item)

    async def _after_page(self, incident: Incident, item: DueItem | None = None) -> None:
        """Start the acknowledgement clock (and polling, without webhooks); in a handler's
        `item`, stored with its done."""
        page = incident.page
        assert page is not None
        if page.status == "triggered":
            await self.scheduler.schedule(
                ESCALATE,
                incident.id,
                self.clock() + self.ack_timeout,
                payload={"from_level": page.level},
                generation=incident.generation,
                after=item,
            )
        if not self.webhooks:
            await self.scheduler.schedule(
                POLL,
                incident.id,
                self.clock() + self.poll_every,
                generation=incident.generation,
                after=item,
            )

    async def _page_failed(self, incident: Incident, item: DueItem, exc: PagingError) -> None:
        reason = f"HTTP {exc.status}" if exc.status else str(exc)[:200]
        if exc.retryable and item.attempts < PAGE_ATTEMPTS:
            log.warning(
                "page failed, will retry",
                extra={"incident": incident.id, "attempt": item.attempts, "error": reason},
            )
            if item.attempts >= TELL_FAILING_AFTER and await self.store.claim_once(
                Once.PAGING_FAILING, incident.id, ttl=86400
            ):
                await self._say(incident, ui.paging_failing(reason, item.attempts))
            raise Retry(reason, after=exc.retry_after)
        log.error("page failed", extra={"incident": incident.id, "error": reason})
        now = self.clock()

        def failed(inc: Incident) -> list[TimelineEntry] | None:
            if inc.page is None or inc.page.status != "pending":
                return None
            inc.page.status = "failed"
            return [TimelineEntry(at=now, actor=None, kind="page", text=f"Paging failed: {reason}")]

        await self.store.update(incident.id, failed)
        await self._say(incident, ui.paging_failed(reason))

    async def _escalate(self, item: DueItem) -> None:
        incident = await self.store.get(item.incident_id)
        if incident is None or not incident.is_open or self.pd is None:
            return
        page = incident.page
        by = item.payload.get("by")
        if page is None or page.pd_incident_id is None:
            return
        if page.status not in ("triggered", "acknowledged"):
            return
        target = int(item.payload.get("from_level", page.level)) + 1
        if page.level >= target:
            if item.attempts > 1:  # we escalated, then crashed before saying so
                await self._post(incident, item, ui.escalated(page, waited=self.ack_timeout, by=by))
                await self._after_page(incident, item)
            return
        if page.status == "acknowledged" and not by:
            return
        current = await self._call(self.pd.get_incident(page.pd_incident_id))
        if current.status == "resolved":
            await self.resolved_in_pagerduty(incident.id, by_name=None)
            return
        if current.status == "acknowledged" and not by:
            await self.acknowledged(incident.id, by_name=user_names(current.acknowledged_by))
            return
        if current.escalation_level < target:
            if target > await self._call(self._policy_levels(incident)):
                if by or await self.store.claim_once(
                    Once.LAST_LEVEL, page.pd_incident_id, ttl=86400
                ):
                    await self._post(
                        incident, item, ui.last_level(page, waited=self.ack_timeout, by=by)
                    )
                return
            # PagerDuty will report this escalation back; it is ours, not news
            await self.store.claim_once(
                Once.PD_ESCALATING, f"{page.pd_incident_id}:{target}", ttl=OURS_TTL
            )
            current = await self._call(self.pd.escalate(page.pd_incident_id, target))
            self._escalated("manual" if by else "ack_timeout")
        incident = await self._moved(incident.id, current, by=by, why="Escalated")
        page = incident.page
        assert page is not None
        await self._post(incident, item, ui.escalated(page, waited=self.ack_timeout, by=by))
        await self._after_page(incident, item)

    async def _moved(
        self, incident_id: str, current: PDIncident, *, by: str | None, why: str
    ) -> Incident:
        """Record that the page is now at `current`'s level, with its assignees."""
        oncall = await self._mentions(current.assignees)
        now = self.clock()

        def mutate(inc: Incident) -> list[TimelineEntry] | None:
            p = inc.page
            if p is None or p.level >= current.escalation_level:
                return None
            p.level, p.oncall = current.escalation_level, oncall
            p.status = "acknowledged" if current.status == "acknowledged" else "triggered"
            p.acked_at = p.acked_by = None
            text = md("{} to level {}: {}", why, p.level, ui.holders(p))
            return [TimelineEntry(at=now, actor=by, kind="page", text=text)]

        return await self.store.update(incident_id, mutate)

    async def _poll(self, item: DueItem) -> None:
        incident = await self.store.get(item.incident_id)
        if incident is None or not incident.is_open or self.pd is None:
            return
        page = incident.page
        if page is None or page.pd_incident_id is None or not _active(page):
            return
        current = await self._call(self.pd.get_incident(page.pd_incident_id))
        await self._absorb(incident, current, by_name=user_names(current.acknowledged_by))
        incident = await self.store.get(item.incident_id) or incident
        if incident.is_open and _active(incident.page):
            await self.scheduler.schedule(
                POLL,
                incident.id,
                self.clock() + self.poll_every,
                generation=item.generation,
                after=item,
            )

    async def _resolve(self, item: DueItem) -> None:
        incident = await self.store.get(item.incident_id)
        if incident is None or self.pd is None:
            return
        page = incident.page
        if page is None or page.pd_incident_id is None or page.status == "resolved":
            return
        shown = redaction.for_pagerduty(incident, self.config)
        note = shown.resolution or f"Resolved in Slack (incident {incident.id})"
        await self._call(self.pd.resolve(page.pd_incident_id, note=note))
        now = self.clock()

        def mutate(inc: Incident) -> list[TimelineEntry] | None:
            if inc.page is None or inc.page.status == "resolved":
                return None
            inc.page.status = "resolved"
            text = "Resolved the PagerDuty incident"
            return [TimelineEntry(at=now, actor=None, kind="page", text=text)]

        incident = await self.store.update(incident.id, mutate)
        if incident.is_open and self.pages(incident.severity):
            # reopened while this resolve was under way: the reopen found the old page
            # still active and left it; the new episode gets a page of its own
            await self.request(incident)

    # -- what PagerDuty tells us (webhooks, polls) --------------------------------------------
    async def on_webhook(self, event: WebhookEvent) -> None:
        """A signed v3 webhook; each event id is handled once (a failure lets it retry)."""
        if event.event_type not in HEARD:
            return
        if not await self.store.claim_once(Once.PD_WEBHOOK, event.id, ttl=WEBHOOK_TTL):
            return
        try:
            incident = await self._page_of(event)
            if incident is None:
                return
            incident_id = incident.id
            kind = event.event_type
            if kind == "incident.acknowledged":
                await self.acknowledged(incident_id, by_name=event.agent_name)
            elif kind == "incident.resolved":
                await self.resolved_in_pagerduty(incident_id, by_name=event.agent_name)
            elif kind in MOVED:
                await self._pd_moved(incident_id)
        except Exception:
            await self.store.release_once(Once.PD_WEBHOOK, event.id)
            raise

    async def _page_of(self, event: WebhookEvent) -> Incident | None:
        """The incident whose page is the PagerDuty incident `event` is about, or None.

        A signed webhook about another PagerDuty incident (another service's, or an old
        page's) may carry our incident_key or title; it must not acknowledge our page or
        stop its escalation. So the event's `data.id` must be the page's recorded
        PagerDuty incident. The key names the incident to look at; it binds a page whose
        PagerDuty incident is not recorded yet (paged, but our record of the answer lost
        or not written yet) only when the incident is on our service; it is recorded then."""
        key = event.incident_key or ""
        # every v3 incident payload has the key; links (releases before 2026-12) only else
        incident_id = incident_of_key(key) if key else None
        if incident_id is None and not key:
            incident_id = await self.store.incident_for_pd(event.incident_id)
        if incident_id is None:
            return None  # not about a page of ours
        incident = await self.store.get(incident_id)
        page = incident.page if incident is not None else None
        if incident is None or page is None:
            return self._ignored(event, incident_id, "no page of ours has it")
        if page.pd_incident_id == event.incident_id:
            return incident
        if page.pd_incident_id is not None:
            why = f"our page is PagerDuty incident {page.pd_incident_id}"
            return self._ignored(event, incident_id, why)
        if key != page.incident_key or self.pd is None:
            return self._ignored(event, incident_id, "its incident_key is not our page's")
        service = event.service_id
        if service is None:  # a trimmed payload: PagerDuty's REST API says (errors: redeliver)
            try:
                service = (await self.pd.get_incident(event.incident_id)).service_id
            except PagingError as exc:
                if exc.status != 404:
                    raise
                return self._ignored(event, incident_id, "PagerDuty has no such incident")
        ours = {sid for sid in (page.service_id, self.service_id(incident)) if sid}
        if service not in ours:
            why = f"it is on service {service}, ours is {' or '.join(sorted(ours)) or 'unset'}"
            return self._ignored(event, incident_id, why)

        def found(inc: Incident) -> list[TimelineEntry] | None:
            if inc.page is not None and inc.page.pd_incident_id is None:
                inc.page.pd_incident_id = event.incident_id
            return None

        log.info(
            "PagerDuty incident of our page found by its incident_key",
            extra={"incident": incident_id, "pd_incident": event.incident_id},
        )
        return await self.store.update(incident_id, found)

    @staticmethod
    def _ignored(event: WebhookEvent, incident_id: str, why: str) -> None:
        log.info(
            "PagerDuty webhook ignored: %s",
            why,
            extra={
                "incident": incident_id,
                "pd_incident": event.incident_id,
                "event": event.id,
                "event_type": event.event_type,
            },
        )

    async def acknowledged(self, incident_id: str, *, by_name: str | None) -> None:
        now = self.clock()
        changed = False

        def mutate(inc: Incident) -> list[TimelineEntry] | None:
            nonlocal changed
            p = inc.page
            if p is None or p.status != "triggered":
                return None
            p.status, p.acked_at, p.acked_by = "acknowledged", now, by_name
            changed = True
            text = f"Acknowledged in PagerDuty by {by_name or 'someone'}"
            return [TimelineEntry(at=now, actor=None, kind=PAGE_ACKNOWLEDGED, text=text)]

        incident = await self.store.update(incident_id, mutate)
        if changed and incident.page is not None:
            await self.scheduler.cancel(incident.id, ESCALATE, generation=incident.generation)
            if incident.is_open:
                await self._say(incident, ui.acknowledged(incident.page))

    async def resolved_in_pagerduty(self, incident_id: str, *, by_name: str | None) -> None:
        now = self.clock()
        changed = False

        def mutate(inc: Incident) -> list[TimelineEntry] | None:
            nonlocal changed
            p = inc.page
            if p is None or p.status in ("resolved", "failed", "pending"):
                return None
            p.status = "resolved"
            changed = True
            if not inc.is_open:
                # our own resolve, echoed back before _resolve recorded it: record it here
                # (whichever of the two runs first writes the one entry)
                text = "Resolved the PagerDuty incident"
                return [TimelineEntry(at=now, actor=None, kind="page", text=text)]
            text = f"Resolved in PagerDuty by {by_name}" if by_name else "Resolved in PagerDuty"
            return [TimelineEntry(at=now, actor=None, kind="page", text=text)]

        incident = await self.store.update(incident_id, mutate)
        if changed and incident.page is not None and incident.is_open:
            for kind in (ESCALATE, POLL):
                await self.scheduler.cancel(incident.id, kind, generation=incident.generation)
            await self._say(incident, ui.resolved_in_pagerduty(incident.page, by_name))

    async def _pd_moved(self, incident_id: str) -> None:
        incident = await self.store.get(incident_id)
        if incident is None or not incident.is_open or self.pd is None:
            return
        page = incident.page
        if page is None or page.pd_incident_id is None or not _active(page):
            return
        current = await self._call(self.pd.get_incident(page.pd_incident_id))
        await self._absorb(incident, current, by_name=user_names(current.acknowledged_by))

    async def _absorb(
        self, incident: Incident, current: PDIncident, *, by_name: str | None
    ) -> None:
        """Bring our page state in line with PagerDuty's incident (an escalation,
        acknowledgement or resolve made there)."""
        page = incident.page
        assert page is not None and page.pd_incident_id is not None
        if current.status == "resolved":
            await self.resolved_in_pagerduty(incident.id, by_name=None)
        elif current.escalation_level > page.level:
            ours = await self.store.once_value(
                Once.PD_ESCALATING, f"{page.pd_incident_id}:{current.escalation_level}"
            )
            if ours:
                return  # our own escalation; its handler records it
            incident = await self._moved(incident.id, current, by=None, why="PagerDuty escalated")
            if incident.page is not None and incident.page.level == current.escalation_level:
                self._escalated("pagerduty")
                await self._say(incident, ui.escalated_in_pagerduty(incident.page))
                await self._after_page(incident)
        elif current.status == "acknowledged" and page.status == "triggered":
            await self.acknowledged(incident.id, by_name=by_name)
