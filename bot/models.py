"""Domain models that cross module boundaries: what we store and what blocks/ render."""

from __future__ import annotations

from typing import Any, Literal

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


PageStatus = Literal["pending", "triggered", "acknowledged", "resolved", "failed"]


class PageState(BaseModel):
    """The incident's PagerDuty page (bot/pager.py): what was paged, who has it, and where
    the automatic escalation stands."""

    status: PageStatus = "pending"  # pending: asked for, not yet accepted by PagerDuty
    incident_key: str  # one per incident: a retried page finds the open PagerDuty incident
    requested_at: float
    pd_incident_id: str | None = None
    pd_number: int | None = None
    html_url: str | None = None
    service: str | None = None  # the PagerDuty service's name
    level: int = 1  # escalation level the page is at
    oncall: list[str] = Field(default_factory=list)  # who has it: Slack mentions or names
    paged_at: float | None = None
    acked_at: float | None = None
    acked_by: str | None = None
    failing_told: bool = False  # the channel was told that paging keeps failing
    last_level_told: bool = False  # the channel was told nobody is left to escalate to


class DueItem(BaseModel):
    """A durable due-item (bot/schedule.py): one pending (incident, kind, key), stored in
    Redis until a replica has handled it."""

    id: str  # "<incident>|<kind>|<key>"
    kind: str
    incident_id: str
    key: str = ""
    lane: str  # items of one lane go stale together when one is scheduled newer
    token: str  # new on every (re)schedule: names this occurrence, keys its send record
    generation: int  # the incident's generation when scheduled
    due_at: float
    payload: dict[str, Any] = Field(default_factory=dict)
    attempts: int = 0  # claims so far, this one included
    first_claimed_at: float | None = None
    last_error: str | None = None


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
    page: PageState | None = None  # the PagerDuty page, once one was asked for
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


# -- set-up checks (bot/doctor.py runs them; blocks/doctor.py renders them) ----------------

CheckStatus = Literal["ok", "warn", "fail", "skip"]


class CheckResult(BaseModel):
    """One line of the doctor's checklist. `fail` is what makes `python -m bot doctor`
    exit 1; `warn` works but will hurt; `skip` was not checked because an earlier check
    it depends on failed (the detail says which)."""

    group: str  # Slack, PagerDuty, Redis, Configuration, Clock
    name: str
    status: CheckStatus
    detail: str
    fix: str = ""  # the exact change that turns this line into a pass


# -- alerts (bot/alerts.py ingests them; blocks/alerts.py renders them) --------------------

AlertStatus = Literal["firing", "resolved"]


class AlertInstance(BaseModel):
    """One alert as its source last reported it."""

    fingerprint: str  # Alertmanager's, or derived from the labels; `slack:<n>` from a message
    status: AlertStatus
    alertname: str
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)  # summary, description, ...
    starts_at: float | None = None  # epoch seconds, UTC
    ends_at: float | None = None
    generator_url: str | None = None  # the expression's page in Prometheus


class AlertGroupView(BaseModel):
    """An alert group as Slack shows it: one message with counts and the first alerts."""

    group_id: str
    alertname: str
    title: str  # the alert name and the group's label values: `ServiceDown checkout`
    labels: dict[str, str] = Field(default_factory=dict)  # the group's labels, alertname aside
    source: str  # alertmanager | slack
    firing: int
    resolved: int
    sample: list[AlertInstance] = Field(default_factory=list)  # firing first, oldest first
    updated_at: float
    link: str | None = None  # Alertmanager's page, or the alert message in Slack
