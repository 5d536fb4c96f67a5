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
    runbook: str | None = None  # posted as a checklist once the channel exists
    alertname: str | None = None  # the alert that raised it: ranks the runbook list
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


class RunbookRun(BaseModel):
    """A runbook posted as a checklist in an incident channel (its step states are
    stored beside it, one per step; see bot/store.py)."""

    id: str
    runbook: str  # runbook id
    incident: str  # incident id
    channel: str  # Slack channel ID the checklist is in
    parts: int  # how many Slack messages the checklist takes
    messages: list[str] = Field(default_factory=list)  # ts of each part posted so far, in order
    posted_by: str | None = None  # Slack user ID; None when the bot posted it on its own
    posted_at: float

    @property
    def complete(self) -> bool:
        return len(self.messages) >= self.parts


# -- on-call (bot/oncall.py caches the snapshot; blocks/oncall.py renders the answer) ------


class OnCallSpan(BaseModel):
    """One PagerDuty on-call span: who holds a place in a policy, from when to when."""

    policy_id: str
    policy_name: str | None = None
    level: int
    schedule_id: str | None  # None: a user the policy targets directly
    schedule_name: str | None = None
    user_id: str  # PagerDuty user ID
    user_name: str
    start: int | None  # epoch seconds UTC; None: always (a user targeted directly)
    end: int | None


class OnCallSnapshot(BaseModel):
    """One refresh: every span overlapping [fetched_at, fetched_at + horizon]. Who is on
    call *now* is worked out when someone asks, so a handover within the cache's lifetime
    still comes out right."""

    fetched_at: float
    spans: list[OnCallSpan]
    slack_ids: dict[str, str] = Field(default_factory=dict)  # PagerDuty user -> Slack user


class OnCallPerson(BaseModel):
    name: str  # PagerDuty's name, shown when no Slack user matches
    slack_id: str | None = None


class OnCallSlot(BaseModel):
    """One place in a rota: who holds it now, until when, and who takes over."""

    level: int | None  # escalation level; None in a schedule's own section
    schedule_name: str | None  # None: users the policy targets directly (always on call)
    now: list[OnCallPerson]
    until: int | None = None  # the handover, epoch seconds UTC
    next: OnCallPerson | None = None
    next_from: int | None = None


class OnCallSection(BaseModel):
    """A configured schedule (by its config name) or the escalation policy (by its name)."""

    name: str
    kind: Literal["schedule", "policy"]
    detail: str | None = None  # PagerDuty's name of the schedule
    slots: list[OnCallSlot]


class OnCallAnswer(BaseModel):
    sections: list[OnCallSection]
    as_of: float  # when PagerDuty said so
    unreachable: bool = False  # PagerDuty did not answer: this is the last known answer
