"""Domain models that cross module boundaries: what we store and what blocks/ render."""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import BaseModel, Field, model_validator

from blocks.mrkdwn import Mrkdwn

Status = Literal["investigating", "identified", "monitoring", "resolved"]
# The status vocabulary, defined here once: the lifecycle in order, the last one closing
# the incident; a status update (not a resolve) moves among the open ones.
STATUSES: tuple[Status, ...] = get_args(Status)
OPEN_STATUSES: tuple[Status, ...] = STATUSES[:-1]

# The declare saga's steps, in the order they are attempted. Each finished step is
# recorded on the incident so a retry resumes instead of repeating (DESIGN rule 2).
SETUP_STEPS = ("channel", "invite", "card", "pin", "topic", "announce")

# The timeline kind of PagerDuty's acknowledgement of the page (bot/paging/ writes it,
# the response numbers read it: bot/stats.py). Other page events are kind "page".
PAGE_ACKNOWLEDGED = "page_acknowledged"


class TimelineEntry(BaseModel):
    """One line of an incident's timeline. `text` is Slack mrkdwn the bot wrote (its
    mentions live, user text escaped: build it with `md`); `mrkdwn` says so once stored. A
    plain `str` given as text, or an entry stored before entries were mrkdwn, is escaped
    whole on the way in, so it can never be read as markup."""

    at: float  # epoch seconds, UTC
    actor: str | None  # Slack user ID, or None for the bot itself
    kind: str  # declared, status, severity, role, update, resolved, note, page, ...
    text: str
    mrkdwn: bool = False

    @model_validator(mode="before")
    @classmethod
    def _as_mrkdwn(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("mrkdwn") and "text" in data:
            data = {**data, "text": str(Mrkdwn(data["text"])), "mrkdwn": True}
        return data

    @property
    def shown(self) -> Mrkdwn:
        return Mrkdwn.stored(self.text)


class StatusUpdate(BaseModel):
    at: float
    by: str
    text: str
    status: Status
    severity: str
    next_due: float | None = None


PageStatus = Literal["pending", "triggered", "acknowledged", "resolved", "failed"]


class PageState(BaseModel):
    """The incident's PagerDuty page (bot/paging/): what was paged, who has it, and where
    the automatic escalation stands."""

    status: PageStatus = "pending"  # pending: asked for, not yet accepted by PagerDuty
    incident_key: str  # one per incident: a retried page finds the open PagerDuty incident
    requested_at: float
    pd_incident_id: str | None = None
    pd_number: int | None = None
    html_url: str | None = None
    service: str | None = None  # the PagerDuty service's name
    service_id: str | None = None  # and its ID
    level: int = 1  # escalation level the page is at
    # who has it: mrkdwn the bot wrote (a mention, or an escaped name), blocks/paging.py
    oncall: list[str] = Field(default_factory=list)
    paged_at: float | None = None
    acked_at: float | None = None
    acked_by: str | None = None
    failing_told: bool = False  # the channel was told that paging keeps failing
    # the channel was there when the page was recorded: the page's handler says who was
    # paged; else the set-up does, once it has made the channel
    page_tells: bool = False
    last_level_told: bool = False  # the channel was told nobody is left to escalate to


class DueItem(BaseModel):
    """A durable due-item (bot/core/schedule.py): one pending (incident, kind, key), stored in
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


class EscalationFired(BaseModel):
    """One escalation step that came due (bot/escalations.py): whom it reached."""

    key: str  # "matrix:<severity>:<index>" or "runbook:<runbook id>"
    since: float  # the start it counts from: declared, raised to the severity, runbook posted
    at: float
    after: float  # seconds after `since`
    severity: str | None = None  # the matrix's severity (None: a runbook's escalation)
    note: str = ""
    notified: list[str] = Field(default_factory=list)  # targets reached: U…, S…, C…/#name
    paged: str | None = None  # PagerDuty policy or schedule paged
    pd_incident_id: str | None = None  # the PagerDuty incident that page opened
    unfilled: list[str] = Field(default_factory=list)  # roles named but held by nobody
    skipped: bool = False  # every target had been reached by an earlier step
    token: str  # the due-item occurrence that fired it (its deliveries are keyed by it)


class EscalationState(BaseModel):
    """Where the incident's escalation stands: whose matrix runs since when, and what fired."""

    severity: str  # the severity whose matrix runs
    since: float  # declared, or raised/lowered to that severity
    fired: list[EscalationFired] = Field(default_factory=list)
    # everyone notified or paged so far: a later step does not notify them again
    reached: list[str] = Field(default_factory=list)


class EscalationRow(BaseModel):
    """One line of `/incident escalations` and `/incident procedure` (blocks render it)."""

    label: str  # the step's note, or "Step 2"
    after: float  # seconds after its start
    targets: list[str]  # as configured: U…, S…, C…, #name, role names
    page: str | None = None
    severity: str | None = None  # None: a runbook's escalation
    runbook: str | None = None
    state: Literal["fired", "skipped", "due", "stopped"]
    at: float | None = None  # fired (or skipped) at, or due at
    reached: list[str] = Field(default_factory=list)  # fired: whom it reached
    unfilled: list[str] = Field(default_factory=list)


class DrillInfo(BaseModel):
    """What makes an incident a game-day drill (bot/drills/). A drill is an exercise, not
    an outage: its channel is `drill-…`, everything about it that leaves the channel says
    "[DRILL]" (`Incident.drill_tag`), it pages only `drills.pagerduty_service_id` (or
    nobody), and it never counts in stats, MTTA/MTTR or the normal metric labels."""

    scenario: str  # the drills/<scenario>.yaml it plays
    speed: float = 1.0  # time runs this many times faster (the `fast` option)
    time_limit: float  # seconds after the declaration (already divided by speed)
    started_by: str  # Slack user ID of who started it
    # the scenario's targets, seconds after the declaration (divided by speed): acknowledge,
    # first_update, resolve, or a runbook phase id
    targets: dict[str, float] = Field(default_factory=dict)
    scripted: bool = False  # the script's due-items are scheduled (a crash before: reconcile)
    ended_by: Literal["resolve", "time_limit"] | None = None


# The /incident private saga's steps (bot/privacy.py), in order; each finished one is
# recorded so a retry resumes (DESIGN rule 2).
PRIVATE_STEPS = (
    "announce",
    "members",
    "channel",
    "invite",
    "card",
    "pin",
    "switch",
    "topic",
    "notice",
    "pointer",
    "archive",
)


class PrivateConversion(BaseModel):
    """Making a public incident private (bot/privacy.py): its people move from the public
    channel to a new private one, which then takes over; the public one is archived."""

    by: str  # Slack user ID of who made it private
    at: float
    old_channel: str | None  # the public channel (None: the incident never had one)
    old_name: str = ""
    new_name: str  # the private channel's name
    new_channel: str | None = None
    members: list[str] = Field(default_factory=list)  # moved from the public channel
    card_ts: str | None = None  # the summary card in the private channel
    done: list[str] = Field(default_factory=list)  # PRIVATE_STEPS finished
    error: str | None = None  # why the last attempt stopped (step: Slack error)

    @property
    def missing(self) -> list[str]:
        return [s for s in PRIVATE_STEPS if s not in self.done]


class MessageRef(BaseModel):
    """A Slack message the bot points back to: the one an incident was declared from (a
    message shortcut), or the alert message in an alert channel that declared it."""

    channel: str
    ts: str
    user: str | None = None  # its author; None for a bot's or an integration's
    permalink: str | None = None  # chat.getPermalink's; None when Slack would not give it


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
    source: str = "slack"  # slack | modal | message (a message shortcut) | alert | drill
    runbook: str | None = None  # posted as a checklist once the channel exists
    alertname: str | None = None  # the alert that raised it: ranks the runbook list
    origin: MessageRef | None = None  # the message it was declared from (a message shortcut)
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
    escalation: EscalationState | None = None  # the escalation matrix (bot/escalations.py)
    # stakeholder audience key -> when its last update was sent (bot/stakeholders.py)
    stakeholder_sent: dict[str, float] = Field(default_factory=dict)
    # Set for a game-day drill (bot/drills/), None for a real incident. Stats, MTTA/MTTR
    # and anything that counts real incidents must skip incidents with `drill` set.
    drill: DrillInfo | None = None
    # A private (security) incident: a private channel, and everything that leaves it is
    # redacted by bot/core/redaction.py. `conversion`: it was made private after declaring.
    private: bool = False
    conversion: PrivateConversion | None = None
    # True only on the copy bot/core/redaction.py makes for surfaces outside a private
    # incident's channel (no title, no description); never stored
    redacted: bool = Field(default=False, exclude=True)
    # bumped on every change: due-items carry it so stale reminders are dropped
    generation: int = 0
    # a fresh token on every write: after a dropped connection, tells whether it landed
    rev: str = ""

    @property
    def drill_tag(self) -> str:
        """The prefix of every message about the incident that leaves its channel
        (announcement, DMs, stakeholder posts, PagerDuty titles): `[DRILL] ` for a drill,
        else empty. bot/core/redaction.py's `outside()` applies it to the title."""
        return "[DRILL] " if self.drill is not None else ""

    @property
    def commander(self) -> str | None:
        return self.roles.get("commander")

    @property
    def is_open(self) -> bool:
        return self.status != "resolved"

    @property
    def setup_missing(self) -> list[str]:
        return [s for s in SETUP_STEPS if s not in self.setup_done]


StepStatus = Literal["open", "taken", "done", "skipped"]


class StepState(BaseModel):
    """What happened to one step of a posted runbook (the bot stores one per step)."""

    status: StepStatus = "open"
    by: str | None = None  # Slack user ID of who took, finished or skipped it
    at: int | None = None  # epoch seconds


class RunbookRun(BaseModel):
    """A runbook posted as a checklist in an incident channel (its step states are
    stored beside it, one per step; see bot/core/store/runbooks.py)."""

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


# -- set-up checks (bot/doctor/ runs them; blocks/doctor.py renders them) ----------------

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


# -- alerts (bot/alerts/ ingests them; blocks/alerts.py renders them) --------------------

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
    message: MessageRef | None = None  # the alert message in Slack it came from, if one


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
    # firing alerts beyond the ones the group tracks (alerts.max_instances), about
    untracked: int = 0
    incident: str | None = None  # the incident the group declared or joined


# -- after the incident (bot/postmortem.py, bot/followups.py, bot/stats.py) ----------------

FollowUpStatus = Literal["open", "done"]


class FollowUp(BaseModel):
    """An action item that came out of an incident (`/incident followup`)."""

    id: str  # "<incident id>.<n>"; n counts the incident's follow-ups from 1
    incident_id: str
    number: int
    text: str
    owner: str | None = None  # Slack user ID
    due: str | None = None  # the due date as agreed, YYYY-MM-DD (UTC)
    due_at: float | None = None  # when the owner is reminded (None: no reminder)
    status: FollowUpStatus = "open"
    created_by: str
    created_at: float
    done_by: str | None = None
    done_at: float | None = None


class PostmortemState(BaseModel):
    """An incident's post-mortem: drafts uploaded so far, and whether the review is done."""

    incident_id: str
    drafts: int = 0
    last_draft_at: float | None = None
    last_file_id: str | None = None
    auto_token: str | None = None  # the due-item that uploaded the automatic draft
    done_at: float | None = None
    done_by: str | None = None


AckSource = Literal["pagerduty", "human"]


class IncidentTimes(BaseModel):
    """One incident's response times, worked out from its timeline (bot/stats.py)."""

    incident_id: str
    title: str
    severity: str
    declared_at: float
    acknowledged_at: float | None = None
    ack_source: AckSource | None = None
    resolved_at: float | None = None

    @property
    def time_to_acknowledge(self) -> float | None:
        if self.acknowledged_at is None:
            return None
        return max(0.0, self.acknowledged_at - self.declared_at)

    @property
    def time_to_resolve(self) -> float | None:
        if self.resolved_at is None:
            return None
        return max(0.0, self.resolved_at - self.declared_at)


class Spread(BaseModel):
    """How a set of durations spreads: count, median and 90th percentile (seconds)."""

    count: int = 0
    median: float | None = None
    p90: float | None = None


class SeverityStats(BaseModel):
    severity: str  # a severity's name, or "All"
    declared: int
    resolved: int
    acknowledge: Spread
    resolve: Spread


class StatsReport(BaseModel):
    since: float
    until: float
    rows: list[SeverityStats]  # one per configured severity that had incidents, worst first
    total: SeverityStats
    incidents: list[IncidentTimes]  # newest first


# -- game-day drills (bot/drills/ measures them; blocks/drills.py renders the report) ----


class DrillMeasure(BaseModel):
    """One figure of a drill report: how long after the start something happened, and the
    scenario's target for it."""

    name: str  # "Acknowledge", "First update", a runbook phase's title, "Resolve"
    seconds: float | None  # after the drill started; None: it did not happen
    target: float | None = None  # seconds (scaled like the drill's clock); None: no target
    how: str = ""  # e.g. "in PagerDuty", "first human action", "time limit"

    @property
    def met(self) -> bool | None:
        """True/False against the target; None when there is no target."""
        if self.target is None:
            return None
        return self.seconds is not None and self.seconds <= self.target


class DrillReport(BaseModel):
    incident_id: str
    scenario: str
    title: str
    channel_id: str | None = None
    started_at: float
    ended_at: float
    ended_by: Literal["resolve", "time_limit"]
    speed: float = 1.0
    measures: list[DrillMeasure]
    timeline: list[TimelineEntry]


class LifecycleEvent(BaseModel):
    """A change of an incident that features react to (bot/core/events.py), written to the
    event stream in the same transaction as the change itself."""

    type: str  # declared, updated, status, severity, role, private, resolved, reopened, ...
    incident: Incident  # as the change left it
    at: float
    data: dict[str, Any] = Field(default_factory=dict)
    id: str = Field(default="", exclude=True)  # the stream entry's id, once read
    attempt: int = Field(default=1, exclude=True)  # how often it was taken up, this time too
