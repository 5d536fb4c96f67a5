"""The running bot's parts, built once and handed to handlers (no globals)."""

from __future__ import annotations

from dataclasses import dataclass, field

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.alerts import Alerts
from bot.core.activity import Activity
from bot.core.config import IncidentConfig, Settings
from bot.core.events import Events
from bot.core.metrics import Metrics
from bot.core.pagerduty import PagerDuty
from bot.core.policy import Policy
from bot.core.schedule import Scheduler
from bot.core.slack import Slack
from bot.core.store import Store
from bot.drills import Drills
from bot.escalations import Escalations
from bot.followups import FollowUps
from bot.incidents import Incidents
from bot.oncall import OnCall
from bot.paging import Pager
from bot.postmortem import Postmortems
from bot.privacy import Privacy
from bot.reminders import Reminders
from bot.runbooks.checklists import Checklists
from bot.runbooks.library import Runbook
from bot.stakeholders import Stakeholders
from bot.stats import Stats
from bot.timeline import TimelineCapture


@dataclass
class Services:
    settings: Settings
    config: IncidentConfig
    store: Store
    slack: Slack
    incidents: Incidents
    # the durable lifecycle events every feature reacts to (bot/core/events.py)
    events: Events
    metrics: Metrics
    runbooks: dict[str, Runbook]
    # None when PAGERDUTY_API_KEY is unset: paging and /oncall say so plainly
    pagerduty: PagerDuty | None
    # runbooks posted as checklists in incident channels (build() always sets it)
    checklists: Checklists | None = None
    # who is on call, cached from PagerDuty (build() always sets it)
    oncall: OnCall | None = None
    # The process's one in-memory APScheduler (DESIGN rule 3): periodic jobs such as the
    # on-call cache refresh, never durable state. build() starts it with the app.
    jobs: AsyncIOScheduler = field(default_factory=AsyncIOScheduler)
    # the work in flight after its request was answered, and the settle signal
    activity: Activity = field(default_factory=Activity)
    # durable due-items, update reminders, PagerDuty paging (build() always sets them)
    scheduler: Scheduler | None = None
    reminders: Reminders | None = None
    pager: Pager | None = None
    # Alertmanager's webhook and alert channels (build() always sets it)
    alerts: Alerts | None = None
    # after the incident: post-mortems, follow-ups, timeline capture, response numbers
    # (build() always sets them)
    postmortems: Postmortems | None = None
    followups: FollowUps | None = None
    capture: TimelineCapture | None = None
    stats: Stats | None = None
    # the team's procedure: escalation matrix and runbook escalations, stakeholder updates
    # (build() always sets them)
    escalations: Escalations | None = None
    stakeholders: Stakeholders | None = None
    # private incidents: who is inside one, and /incident private (build() always sets it)
    privacy: Privacy | None = None
    # who may do what: every command, button and modal asks it (build() always sets it)
    policy: Policy | None = None
    # game-day drills: scenarios played as incidents marked DRILL (build() always sets it)
    drills: Drills | None = None
