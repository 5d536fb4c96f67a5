"""What every part of the pager (bot/paging/) stands on: its wiring, the config's answers
(does a severity page, which service, how long to wait for an acknowledgement), and the
calls it makes: PagerDuty through the due-item retry, its service and escalation policy
cached, PagerDuty users as Slack mentions, and the incident channel's notices."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from cachetools import TTLCache

import blocks.mrkdwn as mk
import blocks.paging as ui
from blocks.incident import Message
from bot.core.config import IncidentConfig
from bot.core.identity import Identity
from bot.core.metrics import Metrics
from bot.core.models import DueItem, Incident
from bot.core.pagerduty import PagerDuty, PagerDutyUser, PagingError, PDService
from bot.core.schedule import Retry, Scheduler, post_for_item
from bot.core.slack import Slack, SlackError
from bot.core.store import Store

T = TypeVar("T")

CACHE_SECONDS = 600.0
OFF_NO_KEY = "PagerDuty is not configured (set PAGERDUTY_API_KEY)."
OFF_NO_SERVICE = "no PagerDuty service is configured (set pagerduty.service_id in INCIDENT_CONFIG)."


def paging_problem(pd: PagerDuty | None, config: IncidentConfig) -> str | None:
    """Why paging is off (no key, no service), or None: one answer for every pager."""
    if pd is None:
        return OFF_NO_KEY
    if not config.pagerduty.service_id:
        return OFF_NO_SERVICE
    return None


DECLARED_FRESH = 1.0  # seconds


class PagerBase:
    def __init__(
        self,
        store: Store,
        slack: Slack,
        config: IncidentConfig,
        scheduler: Scheduler,
        pagerduty: PagerDuty | None,
        *,
        webhooks: bool,
        clock: Callable[[], float] = time.time,
        metrics: Metrics | None = None,
        identity: Identity | None = None,
    ) -> None:
        self.metrics = metrics  # incident_bot_escalations_total{source}, when given
        self.identity = identity or Identity(store, slack, prefixes=(config.channel_prefix,))
        self.store = store
        self.slack = slack
        self.config = config
        self.scheduler = scheduler
        self.pd = pagerduty
        self.webhooks = webhooks  # acknowledgements arrive by webhook; else we poll
        self.clock = clock
        # the service last asked for (by id), and the escalation policy's number of levels
        self._service: TTLCache[str, PDService] = TTLCache(1, CACHE_SECONDS, timer=clock)
        self._levels: TTLCache[str, int] = TTLCache(1, CACHE_SECONDS, timer=clock)
        # an incident as its `declared` event gave it, for the page that event queues
        # (a started scheduler runs it at once): only a second old, so it is the incident
        # as it stands, and the page need not read it (bot/paging/ `_page`)
        self._declared: TTLCache[str, Incident] = TTLCache(
            1024, DECLARED_FRESH, timer=time.monotonic
        )

    async def _paging(self, item: DueItem) -> Incident | None:
        """The incident a page is for: on the first run of the page its declaration queued
        a moment ago, as that event gave it (`_declared`); else as stored."""
        declared = self._declared.pop(item.incident_id, None) if item.attempts == 1 else None
        return declared or await self.store.get(item.incident_id)

    @property
    def problem(self) -> str | None:
        """Why paging is off, or None."""
        return paging_problem(self.pd, self.config)

    def problem_for(self, incident: Incident) -> str | None:
        """Why this incident cannot page, or None. A game-day drill (bot/drills/) pages
        only `drills.pagerduty_service_id`, never the real service."""
        if incident.drill is None:
            return self.problem
        return OFF_NO_KEY if self.pd is None else None

    def service_id(self, incident: Incident) -> str | None:
        if incident.drill is not None:
            return self.config.drills.pagerduty_service_id
        return self.config.pagerduty.service_id

    @property
    def ack_timeout(self) -> float:
        return self.config.escalation.ack_timeout.total_seconds()

    @property
    def poll_every(self) -> float:
        return min(60.0, max(self.scheduler.tick_every, self.ack_timeout / 3))

    def pages(self, severity: str) -> bool:
        try:
            return self.config.severity(severity).page
        except KeyError:
            return False

    # -- calls ------------------------------------------------------------------------------
    def _escalated(self, source: str) -> None:
        if self.metrics is not None:
            self.metrics.escalations.labels(source).inc()

    async def _call(self, call: Awaitable[T]) -> T:
        """A PagerDuty call inside a handler: retryable failures re-queue the item."""
        try:
            return await call
        except PagingError as exc:
            reason = f"PagerDuty: HTTP {exc.status}" if exc.status else f"PagerDuty: {exc}"
            if exc.retryable:
                raise Retry(reason, after=exc.retry_after) from exc
            raise

    async def _get_service(self, service_id: str | None = None) -> PDService:
        service_id = service_id or self.config.pagerduty.service_id
        assert self.pd is not None and service_id
        cached = self._service.get(service_id)
        if cached:
            return cached
        service = self._service[service_id] = await self.pd.service(service_id)
        return service

    async def _policy_levels(self, incident: Incident | None = None) -> int:
        assert self.pd is not None
        if incident is not None and incident.drill is not None:  # the drill service's policy
            drill = (await self._get_service(self.service_id(incident))).escalation_policy_id
            return len(await self.pd.escalation_policy(drill)) if drill else 1
        if (cached := self._levels.get("levels")) is not None:
            return cached
        policy = self.config.pagerduty.escalation_policy_id
        if not policy:
            policy = (await self._get_service()).escalation_policy_id
        levels = len(await self.pd.escalation_policy(policy)) if policy else 1
        self._levels["levels"] = levels
        return levels

    async def _mentions(self, users: list[PagerDutyUser]) -> list[str]:
        """PagerDuty users as Slack mentions (matched by email), else by name: mrkdwn, as
        `PageState.oncall` keeps them."""
        emails = [u.email.lower() for u in users if u.email]
        known = await self.store.slack_users_by_email(emails)
        out: list[str] = []
        for user in users:
            email = (user.email or "").lower()
            slack_id = known.get(email) if email else ""
            if email and slack_id is None:
                try:
                    slack_id = await self.slack.user_by_email(email) or ""
                    await self.store.remember_slack_user(email, slack_id, ttl=3600)
                except SlackError:
                    slack_id = ""
            out.append(mk.user(slack_id) if slack_id else mk.escape(user.name))
        return out

    async def _post(self, incident: Incident, item: DueItem, message: Message) -> None:
        """A due-item's message: marked, and looked for first on a retry (no repeats)."""
        if incident.channel_id:
            await post_for_item(
                self.slack, incident.channel_id, item, message, what="paging notice"
            )

    async def _tell_paged(self, incident: Incident, *, redelivered: bool) -> None:
        """The set-up's part of saying who was paged, once. A page goes out without waiting
        for the set-up: the page's handler says it when the channel was there as the page
        was recorded (`page_tells`, its post marked with its item), else the set-up does,
        its post marked too (a `redelivered` event looks for it first). Which of the two
        writes came second decides: each sees the other's, so exactly one of them says it."""
        page = incident.page
        if not incident.channel_id or page is None or page.pd_incident_id is None:
            return
        if page.paged_at is None or page.page_tells:
            return  # not recorded as paged yet, or its handler says it
        await self.slack.notice(
            incident.channel_id,
            ui.paged(page),
            what="paging notice",
            incident=incident.id,
            marker=f"paged:{incident.id}:{page.pd_incident_id}",
            maybe_sent_since=incident.declared_at if redelivered else None,
        )

    async def _say(self, incident: Incident, message: Message) -> None:
        await self.slack.notice(
            incident.channel_id, message, what="paging notice", incident=incident.id
        )


def user_names(users: list[PagerDutyUser]) -> str | None:
    """PagerDuty users by name, for the timeline (None: nobody)."""
    return ", ".join(u.name for u in users) or None


def page_details(incident: Incident) -> str:
    """The PagerDuty incident's details: what it is and where its channel is."""
    parts: list[Any] = [f"Incident {incident.id} ({incident.severity}): {incident.title}"]
    if incident.description:
        parts.append(incident.description)
    if incident.channel_name:
        parts.append(f"Slack: #{incident.channel_name}")
    return "\n\n".join(parts)
