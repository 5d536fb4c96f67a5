"""The running bot's parts, built once and handed to handlers (no globals)."""

from __future__ import annotations

from dataclasses import dataclass, field

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.activity import Activity
from bot.alerts import Alerts
from bot.capture import TimelineCapture
from bot.checklists import Checklists
from bot.config import IncidentConfig, Settings
from bot.drills import Drills
from bot.escalations import Escalations
from bot.events import Events
from bot.followups import FollowUps
from bot.incidents import Incidents
from bot.metrics import Metrics
from bot.oncall import OnCall
from bot.pager import Pager
from bot.paging import PagerDuty
from bot.policy import Policy
from bot.postmortem import Postmortems
from bot.privacy import Privacy
from bot.reminders import Reminders
from bot.runbooks import Runbook
from bot.schedule import Scheduler
from bot.slack import Slack
from bot.stakeholders import Stakeholders
from bot.stats import Stats
from bot.store import Store


@dataclass
class Services:
    settings: Settings
    config: IncidentConfig
    store: Store
    slack: Slack
    incidents: Incidents
    # the durable lifecycle events every feature reacts to (bot/events.py)
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
