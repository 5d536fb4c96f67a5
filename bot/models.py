"""Domain models that cross module boundaries: what we store and what blocks/ render."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Status = Literal["investigating", "identified", "monitoring", "resolved"]

# The declare saga's steps, in the order they are attempted. Each finished step is
# recorded on the incident so a retry resumes instead of repeating (DESIGN rule 2).
SETUP_STEPS = ("channel", "invite", "card", "pin", "topic", "announce")


class TimelineEntry(BaseModel):
    at: float  # epoch seconds, UTC
    actor: str | None  # Slack user ID, or None for the bot itself
    kind: str  # declared, status, severity, role, update, resolved, note, setup_failed, ...
    text: str


class StatusUpdate(BaseModel):
    at: float
    by: str
    text: str
    status: Status
    severity: str
    next_due: float | None = None


class Incident(BaseModel):
    id: str  # "<yyyymmdd>-<n>", unique across replicas
    title: str
    severity: str
    status: Status = "investigating"
    description: str = ""
    declared_by: str
    declared_at: float
    resolved_at: float | None = None
    resolution: str | None = None
    roles: dict[str, str] = Field(default_factory=dict)  # role -> Slack user ID
    source: str = "slack"  # slack | modal | alert
    runbook: str | None = None
    # Slack resources made by the declare saga
    channel_id: str | None = None
    channel_name: str = ""
    card_ts: str | None = None
    announce_channel: str | None = None
    announce_ts: str | None = None
    topic: str | None = None
    setup_done: list[str] = Field(default_factory=list)
    setup_errors: dict[str, str] = Field(default_factory=dict)
    last_update: StatusUpdate | None = None
    # bumped on every change: due-items carry it so stale reminders are dropped
    generation: int = 0

    @property
    def commander(self) -> str | None:
        return self.roles.get("commander")

    @property
    def is_open(self) -> bool:
        return self.status != "resolved"

    @property
    def setup_missing(self) -> list[str]:
        return [s for s in SETUP_STEPS if s not in self.setup_done]
