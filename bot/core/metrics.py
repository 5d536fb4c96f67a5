"""Prometheus metrics, one registry per app so tests and replicas in one process don't mix."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.incidents_declared = Counter(
            "incident_bot_incidents_declared_total",
            "Incidents declared",
            ["severity", "source"],
            registry=self.registry,
        )
        self.commands = Counter(
            "incident_bot_slash_commands_total",
            "Slash commands received",
            ["verb"],
            registry=self.registry,
        )
        self.command_errors = Counter(
            "incident_bot_slash_command_errors_total",
            "Slash commands answered with an error",
            ["reason"],
            registry=self.registry,
        )
        self.slack_errors = Counter(
            "incident_bot_slack_api_errors_total",
            "Slack Web API errors",
            ["method", "error"],
            registry=self.registry,
        )
        self.declare_seconds = Histogram(
            "incident_bot_declare_duration_seconds",
            "Time from a declaration to its Slack set-up made (channel, card, announcement)",
            registry=self.registry,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10),
        )

        # -- after the incident (bot/stats.py observes these once per incident, when it
        # resolves, so a replica exports what it saw and Prometheus sums the replicas)
        self.time_to_acknowledge = Histogram(
            "incident_bot_time_to_acknowledge_seconds",
            "Declared to first acknowledgement (PagerDuty's, else the first human action)",
            ["severity"],
            registry=self.registry,
            buckets=(30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400),
        )
        self.time_to_resolve = Histogram(
            "incident_bot_time_to_resolve_seconds",
            "Declared to resolved",
            ["severity"],
            registry=self.registry,
            buckets=(300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 259200, 604800),
        )
        self.reminders_sent = Counter(
            "incident_bot_reminders_sent_total",
            "Reminders posted (update_due, update_overdue, followup, postmortem)",
            ["kind"],
            registry=self.registry,
        )
        self.escalations = Counter(
            "incident_bot_escalations_total",
            "Escalations made (ack_timeout, manual, pagerduty, matrix)",
            ["source"],
            registry=self.registry,
        )
        self.pagerduty_errors = Counter(
            "incident_bot_pagerduty_api_errors_total",
            "PagerDuty API calls that failed, by HTTP status (or network, invalid)",
            ["status"],
            registry=self.registry,
        )
        self.postmortems = Counter(
            "incident_bot_postmortem_drafts_total",
            "Post-mortem drafts uploaded",
            registry=self.registry,
        )
        self.refusals = Counter(
            "incident_bot_permission_refusals_total",
            "Actions the permissions policy refused (why: permission, channel, rate)",
            ["action", "why"],
            registry=self.registry,
        )
        self.store_data_lost = Gauge(
            "incident_bot_store_data_lost",
            "1 while the incident store is known to have lost its data (bot/core/identity.py)",
            registry=self.registry,
        )

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class DueItemMetrics:
    """The scheduler's (bot/core/schedule.py): how late items start, how they end."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        registry = registry or CollectorRegistry()
        self.lateness = Histogram(
            "incident_bot_due_item_lateness_seconds",
            "From an item's due time to its handler starting",
            ["kind"],
            registry=registry,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
        )
        self.outcomes = Counter(
            "incident_bot_due_items_total",
            "Due-items handled, by outcome (done, retry, gave_up, stale, duplicate)",
            ["kind", "outcome"],
            registry=registry,
        )
