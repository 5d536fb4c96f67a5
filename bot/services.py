"""The running bot's parts, built once and handed to handlers (no globals)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.checklists import Checklists
from bot.config import IncidentConfig, Settings
from bot.incidents import Incidents
from bot.metrics import Metrics
from bot.paging import PagerDuty
from bot.runbooks import Runbook
from bot.slack import Slack
from bot.store import Store


@dataclass
class Services:
    settings: Settings
    config: IncidentConfig
    store: Store
    slack: Slack
    incidents: Incidents
    metrics: Metrics
    runbooks: dict[str, Runbook]
    # None when PAGERDUTY_API_KEY is unset: paging and /oncall say so plainly
    pagerduty: PagerDuty | None
    # runbooks posted as checklists in incident channels (build() always sets it)
    checklists: Checklists | None = None
