"""The running bot's parts, built once by bot/server.py `build()` and handed to handlers
(no globals). Frozen: every part exists from the start; the one that may be absent says
so in its type (PagerDuty, off without PAGERDUTY_API_KEY)."""

from __future__ import annotations

from dataclasses import dataclass

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
from bot.home import Home
from bot.incidents import Incidents
from bot.oncall import OnCall
from bot.paging import Pager
from bot.postmortem import Postmortems
from bot.privacy import Privacy
from bot.reminders import Reminders
from bot.runbooks.checklists import Checklists
from bot.runbooks.library import Runbook
from bot.shortcuts import Shortcuts
from bot.stakeholders import Stakeholders
from bot.stats import Stats
from bot.timeline import TimelineCapture


@dataclass(frozen=True)
class Core:
    """What every feature is built on."""

    settings: Settings
    config: IncidentConfig
    store: Store
    slack: Slack
    metrics: Metrics
    # the work in flight after its request was answered, and the settle signal
    activity: Activity
    # The process's one in-memory APScheduler (DESIGN rule 3): periodic jobs such as the
    # on-call cache refresh, never durable state. Started with the app.
    jobs: AsyncIOScheduler
    runbooks: dict[str, Runbook]
    # None when PAGERDUTY_API_KEY is unset: paging and /oncall say so plainly
    pagerduty: PagerDuty | None
    incidents: Incidents
    # the durable lifecycle events every feature reacts to (bot/core/events.py)
    events: Events
    # durable due-items: every feature's timed work
    scheduler: Scheduler


@dataclass(frozen=True)
class Services(Core):
    """The core and every feature on it."""

    # runbooks posted as checklists in incident channels
    checklists: Checklists
    # who is on call, cached from PagerDuty
    oncall: OnCall
    # private incidents: who is inside one, and /incident private
    privacy: Privacy
    # who may do what: every command, button and modal asks it
    policy: Policy
    # update reminders, PagerDuty paging
    reminders: Reminders
    pager: Pager
    # after the incident: response numbers, post-mortems, follow-ups, timeline capture
    stats: Stats
    postmortems: Postmortems
    followups: FollowUps
    capture: TimelineCapture
    # the team's procedure: escalation matrix and runbook escalations, stakeholder updates
    escalations: Escalations
    stakeholders: Stakeholders
    # Alertmanager's webhook and alert channels
    alerts: Alerts
    # game-day drills: scenarios played as incidents marked DRILL
    drills: Drills
    # Slack's shortcuts: declare from a message, a message onto a timeline
    shortcuts: Shortcuts
    # the App Home: each viewer's Home tab, kept current
    home: Home
