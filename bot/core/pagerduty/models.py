"""PagerDuty as the bot sees it: plain pydantic models and `PagingError`, whatever client
library is underneath (bot/core/pagerduty/client.py); and `split_now_next`, the pure half
of the on-call walk.

On-call "now and next" takes ONE /oncalls walk: `since=now, until=now+horizon`. PagerDuty
returns every on-call span overlapping the window with its real start and end, so the span
covering `now` is the current on-call, its end is the handover, and the earliest span starting
after `now` (per policy, level and schedule) is who is next. `split_now_next` does that split.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel


class PagingError(Exception):
    """A PagerDuty call failed. `retryable` says whether trying again later may succeed."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status
        self.retry_after = retry_after


class PagerDutyUser(BaseModel):
    id: str
    name: str
    email: str | None = None


class OnCallEntry(BaseModel):
    level: int
    user: PagerDutyUser
    schedule_id: str | None
    schedule_name: str | None
    policy_id: str
    policy_name: str | None = None
    start: int | None  # epoch seconds UTC; None for a user targeted directly (always on call)
    end: int | None


class PageResult(BaseModel):
    incident_id: str
    incident_number: int | None
    html_url: str | None
    status: str
    escalation_level: int
    assignees: list[PagerDutyUser]
    created: bool  # False when an open incident with this incident_key already existed


class PDIncident(BaseModel):
    id: str
    status: Literal["triggered", "acknowledged", "resolved"]
    escalation_level: int
    assignees: list[PagerDutyUser]
    acknowledged_by: list[PagerDutyUser]
    html_url: str | None
    incident_number: int | None = None
    incident_key: str | None = None
    service_id: str | None = None


class EscalationLevel(BaseModel):
    level: int
    targets: list[str]  # "schedule:<id>" / "user:<id>"


class PDService(BaseModel):
    """A PagerDuty service and the escalation policy it pages (for the doctor)."""

    id: str
    name: str
    escalation_policy_id: str | None
    escalation_policy_name: str | None = None


class WebhookEvent(BaseModel):
    id: str
    event_type: str  # incident.acknowledged / .resolved / .escalated / .triggered / ...
    occurred_at: datetime
    resource_type: str
    incident_id: str  # data.id: the PagerDuty incident the event is about
    status: str | None = None
    incident_key: str | None = None
    service_id: str | None = None  # data.service.id, when the payload carries it
    agent_id: str | None = None
    agent_name: str | None = None
    agent_email: str | None = None  # v3 agents are references: usually no email


class InvalidWebhook(ValueError):
    """The webhook body is not a PagerDuty v3 event."""


def split_now_next(
    entries: list[OnCallEntry], now: datetime
) -> tuple[list[OnCallEntry], list[OnCallEntry]]:
    """(on call now, on call next) from one windowed `oncalls()` walk.

    Next is, per (policy, level, schedule), the earliest span starting after `now`; users
    targeted directly have no next. Both lists are sorted by policy, level, schedule."""
    t = int(now.timestamp())
    current = [
        e for e in entries if (e.start is None or e.start <= t) and (e.end is None or t < e.end)
    ]
    upcoming: dict[tuple[str, int, str | None], OnCallEntry] = {}
    for e in entries:
        if e.start is not None and e.start > t:
            key = (e.policy_id, e.level, e.schedule_id)
            if key not in upcoming or e.start < (upcoming[key].start or 0):
                upcoming[key] = e

    def order(e: OnCallEntry) -> tuple[str, int, str]:
        return (e.policy_id, e.level, e.schedule_id or "")

    return sorted(current, key=order), sorted(upcoming.values(), key=order)
