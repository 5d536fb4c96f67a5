"""The running bot's parts, built once and handed to handlers (no globals)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.config import IncidentConfig, Settings
from bot.incidents import Incidents
from bot.metrics import Metrics
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
