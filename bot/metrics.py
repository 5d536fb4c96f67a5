"""Prometheus metrics, one registry per app so tests and replicas in one process don't mix."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.incidents_declared = Counter(
            "incidents_declared_total",
            "Incidents declared",
            ["severity", "source"],
            registry=self.registry,
        )
        self.commands = Counter(
            "slash_commands_total", "Slash commands received", ["verb"], registry=self.registry
        )
        self.command_errors = Counter(
            "slash_command_errors_total",
            "Slash commands answered with an error",
            ["reason"],
            registry=self.registry,
        )
        self.slack_errors = Counter(
            "slack_api_errors_total",
            "Slack Web API errors",
            ["method", "error"],
            registry=self.registry,
        )
        self.declare_seconds = Histogram(
            "incident_declare_seconds",
            "Time to run the declare saga (store + Slack set-up)",
            registry=self.registry,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10),
        )

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
