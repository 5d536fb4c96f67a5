"""The alert path's Prometheus metrics (GET /metrics)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter


@dataclass
class AlertMetrics:
    received: Counter
    rejected: Counter
    applied: Counter
    actions: Counter
    dropped: Counter

    @classmethod
    def on(cls, registry: CollectorRegistry) -> AlertMetrics:
        return cls(
            received=Counter(
                "incident_bot_alerts_received_total",
                "Alerts accepted",
                ["source"],
                registry=registry,
            ),
            rejected=Counter(
                "incident_bot_alert_payloads_rejected_total",
                "Payloads refused",
                ["reason"],
                registry=registry,
            ),
            applied=Counter(
                "incident_bot_alert_batches_applied_total",
                "Accepted batches applied",
                registry=registry,
            ),
            actions=Counter(
                "incident_bot_alert_incident_actions_total",
                "What alerts did to incidents (declared, reopened, monitoring, resolved, "
                "unmatched)",
                ["action"],
                registry=registry,
            ),
            dropped=Counter(
                "incident_bot_alert_groups_dropped_total",
                "Alert groups the storm limits kept out (payload, minute, total)",
                ["reason"],
                registry=registry,
            ),
        )
