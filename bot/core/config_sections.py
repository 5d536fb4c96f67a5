"""The sections of the procedure file (bot/core/config.py `IncidentConfig`): severities,
roles, escalation, stakeholders, PagerDuty, alerts, reminders, the scheduler, post-mortems,
follow-ups, drills, private incidents and permissions. Each field's `description` is its
meaning in the configuration reference (docs/configuration.md, `python -m bot
config-reference`).
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bot.core.config_names import (
    GROUP_ID,
    NO_INCIDENT_ACTIONS,
    ROLE_NAME,
    SENDER_ID,
    TEMPLATE_NAME,
    Destination,
    EscalationTarget,
    Principals,
    role_name,
)
from bot.core.durations import Delay, Duration, format_duration
from bot.core.severity import DEFAULT_NAMES


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Severity(_Strict):
    name: str
    label: str
    update_every: Duration
    page: bool = False

    @field_validator("name")
    @classmethod
    def _upper(cls, name: str) -> str:
        return name.upper()


class RoleSpec(_Strict):
    """A role people can hold in an incident (`/incident role <name> @user`). Written as
    a bare name, or `{name: security_lead, required_for: [SEV1]}`: the summary card
    flags a required role until someone holds it."""

    name: str
    required_for: list[str] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _bare_name(cls, data: Any) -> Any:
        return {"name": data} if isinstance(data, str) else data

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        name = role_name(name)
        if not ROLE_NAME.match(name):
            raise ValueError(
                f"{name!r} is not a role name: lowercase letters, digits and _ (like tech_lead)"
            )
        return name


class EscalationStep(_Strict):
    """One step of the escalation matrix: `after` this long unresolved (since declared, or
    since raised to this severity), notify these and/or page this."""

    after: Delay
    notify: list[EscalationTarget] = Field(default_factory=list)
    # a PagerDuty escalation policy or schedule ID, or a schedule named in pagerduty.schedules
    page: str | None = None
    note: str = ""

    @model_validator(mode="after")
    def _someone(self) -> EscalationStep:
        if not self.notify and not self.page:
            raise ValueError("a step must notify someone or page (give notify: or page:)")
        return self


class Escalation(_Strict):
    ack_timeout: Duration = timedelta(minutes=15)
    # keys: severity names (or aliases: sev1, P0); see IncidentConfig.matrix_for
    matrix: dict[str, list[EscalationStep]] = Field(default_factory=dict)


class StakeholderAudience(_Strict):
    """Who must hear about an incident of a severity, where, and how often."""

    audience: str  # management, customers, ...: one cadence per audience and incident
    # where the update goes: a channel (name or ID); a user group (S…): a DM to each
    # member; a user (U…): a DM
    channel: Destination
    every: Duration
    template: str = "internal"  # <templates_dir or the shipped ones>/stakeholders/<name>.j2
    first: Delay | None = None  # the first update is due this long after the start (default: every)
    owner: str | None = None  # the role reminded (default: comms lead, else commander)

    @field_validator("audience")
    @classmethod
    def _audience(cls, value: str) -> str:
        value = " ".join(value.split())
        if not re.search(r"[A-Za-z0-9]", value) or len(value) > 60:
            raise ValueError("name the audience in 1-60 characters, like management")
        return value

    @field_validator("template")
    @classmethod
    def _template(cls, value: str) -> str:
        value = value.strip().removesuffix(".j2")
        if not TEMPLATE_NAME.match(value):
            raise ValueError(f"{value!r} is not a template name like executive or status_page")
        return value

    @field_validator("owner")
    @classmethod
    def _owner(cls, value: str | None) -> str | None:
        return role_name(value) if value is not None else None

    @property
    def key(self) -> str:
        """The audience's stable key (due-items, button values): `management`."""
        return re.sub(r"[^a-z0-9]+", "-", self.audience.lower()).strip("-")

    @property
    def first_due(self) -> timedelta:
        return self.first if self.first is not None else self.every


class PagerDutyConfig(_Strict):
    service_id: str | None = None
    escalation_policy_id: str | None = None
    schedules: dict[str, str] = Field(default_factory=dict)


class AlertRule(_Strict):
    alertname: str
    severity: str
    runbook: str | None = None


# Common detection rules, each with a shipped runbook whose `alerts:` names it.
# docs/prometheus/alert-rules.yml produces exactly these alerts.
DEFAULT_ALERT_RULES: tuple[tuple[str, str, str], ...] = (
    ("ServiceDown", "SEV1", "service-down"),
    ("HighErrorRate", "SEV1", "high-error-rate"),
    ("DatabaseConnectionFailures", "SEV2", "database-down"),
    ("HighLatency", "SEV2", "high-latency"),
    ("HighMemory", "SEV2", "memory-leak"),
    ("RedisConnectionIssues", "SEV3", "redis-down"),
    ("ExternalIntegrationCircuitOpen", "SEV3", "external-integration-down"),
    ("HighCPU", "SEV3", "high-traffic"),
    ("SlowResponse", "SEV4", "high-latency"),
    ("LowCacheHitRate", "SEV4", "redis-down"),
)


def _default_alert_rules() -> list[AlertRule]:
    return [AlertRule(alertname=a, severity=s, runbook=r) for a, s, r in DEFAULT_ALERT_RULES]


class AlertChannel(_Strict):
    """A channel whose alert messages are read, and which machines may post them: bot
    (B…) and app (A…) IDs; none listed means any bot or app. Written as a bare name or ID,
    or `{channel: alerts, from: [B0123, A0456]}`. A person's message is never an alert."""

    channel: str  # name or ID
    senders: list[str] = Field(default_factory=list, alias="from")

    @model_validator(mode="before")
    @classmethod
    def _bare_channel(cls, data: Any) -> Any:
        return {"channel": data} if isinstance(data, str) else data

    @field_validator("senders")
    @classmethod
    def _sender_ids(cls, senders: list[str]) -> list[str]:
        for sender in senders:
            if not SENDER_ID.match(sender):
                raise ValueError(
                    f"{sender!r} is not a bot ID (B…) or an app ID (A…): a message's bot_id "
                    "or app_id"
                )
        return senders


class AlertsConfig(_Strict):
    """Alert ingestion (bot/alerts.py): Alertmanager's webhook and alert channels."""

    channels: list[AlertChannel] = Field(default_factory=list)
    # one alert group opens at most one incident within this window
    dedupe_window: Duration = timedelta(minutes=5)
    # a resolved incident whose alert fires again within this window is reopened
    flap_window: Duration = timedelta(minutes=30)
    # every alert resolved and quiet this long: the bot resolves the incident (unset: a
    # person does, with the Resolve incident button)
    auto_resolve: Duration | None = None
    # an alert no rule matches declares an incident too, at unmatched_severity (unset: the
    # default declare severity); otherwise it is posted with a Declare incident button
    declare_unmatched: bool = False
    unmatched_severity: str | None = None
    # one alert message is edited at most this often, however fast alerts arrive
    update_every: Duration = timedelta(seconds=10)
    rules: list[AlertRule] = Field(default_factory=_default_alert_rules)
    # Storms (README: Alerts from Prometheus). POSTs a sender (its token and address) may
    # make; beyond it the webhook answers 429 with Retry-After.
    webhook_rate: RateLimit = Field(
        default_factory=lambda: RateLimit(count=600, per=timedelta(minutes=1))
    )
    # alert groups: at most this many in one payload (rules' first), new ones a minute and
    # remembered at once (each of rule-matched and unmatched groups); beyond them a group is
    # counted (alert_groups_dropped_total) and the announce channel gets one notice
    groups_per_payload: int = Field(default=100, gt=0)
    groups_per_minute: int = Field(default=300, gt=0)
    max_groups: int = Field(default=500, gt=0)
    # alerts a group tracks one by one; beyond them they are only counted
    max_instances: int = Field(default=200, gt=0)
    # unmatched groups firing within this window share one digest message
    digest_window: Duration = timedelta(minutes=5)
    # MB of accepted alerts not yet applied; beyond it the webhook answers 503 (retried)
    max_queued_mb: int = Field(default=64, gt=0)


class RemindersConfig(_Strict):
    """Update reminders (bot/reminders.py)."""

    snooze: Duration = timedelta(minutes=10)  # what the Snooze button defers a reminder by
    # no update this fraction of the interval after the reminder: ping the channel too
    grace: float = Field(default=0.5, gt=0, le=10)


class SchedulerConfig(_Strict):
    """Durable due-items (bot/core/schedule.py). Numbers are seconds, so 0.2 works for tests."""

    tick: Duration = timedelta(seconds=1)  # how often each replica looks for due items
    lease: Duration = timedelta(seconds=60)  # a claimed item is retried after this if unacked
    retry: Duration = timedelta(seconds=1)  # first retry delay; doubles, at most 5 min
    # a lifecycle event a replica took and did not finish (it died) is taken over after this
    reclaim: Duration = timedelta(seconds=10)


class PostmortemConfig(_Strict):
    """Post-mortem drafts and their reminder (bot/postmortem.py)."""

    # a jinja2 Markdown template of the team's own (it may `{% extends
    # "builtin/postmortem.md.j2" %}` and replace blocks); unset: the shipped one
    template: Path | None = None
    draft_on_resolve: bool = True  # upload a draft into the channel when the incident resolves
    # paging severities: not marked done this long after resolution, remind the commander,
    due_after: Duration = timedelta(hours=24)
    remind_every: Duration = timedelta(days=1)  # then again this often until it is

    @field_validator("template")
    @classmethod
    def _template(cls, path: Path | None) -> Path | None:
        if path is None:
            return None
        import jinja2  # only when a team brings its own template

        try:
            source = path.read_text()
        except OSError as exc:
            raise ValueError(f"cannot read {str(path)!r} ({exc.strerror})") from None
        try:
            jinja2.Environment().parse(source)
        except jinja2.TemplateSyntaxError as exc:
            raise ValueError(f"{path}:{exc.lineno}: {exc.message}") from None
        return path


class FollowupsConfig(_Strict):
    """Post-incident action items (bot/followups.py)."""

    # a due date (2026-12-01, tomorrow, fri) means this time of that day, UTC: the owner's
    # reminder goes out then
    remind_at: str = Field(default="09:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")


class DrillsConfig(_Strict):
    """Game-day drills (bot/drills.py): scenarios from drills/*.yaml played as incidents."""

    # the PagerDuty service a drill pages (a test service whose escalation policy reaches
    # the drill's players); null: a drill pages nobody, and its channel says so
    pagerduty_service_id: str | None = None
    # a team's own scenarios, <scenarios_dir>/*.yaml (they win over the shipped ones of
    # the same id)
    scenarios_dir: Path | None = None
    # `/incident drill <scenario> fast` runs the scenario's clock this many times faster
    fast: float = Field(default=10.0, gt=1, le=1000)


class PrivateConfig(_Strict):
    """Private (security) incidents (bot/core/redaction.py, bot/privacy.py): which incidents are
    private without `--private`, who is invited, and what PagerDuty may see."""

    # incidents declared with one of these runbooks (the form's pick, an alert rule's) are
    # private by default
    runbooks: list[str] = Field(default_factory=list)
    # an alert carrying any one of these labels (name: value) declares a private incident
    labels: dict[str, str] = Field(default_factory=dict)
    # a Slack user group (S…) whose members are invited into every private incident
    security_group: str | None = None
    # the role whose holder is invited and named in the announcement ("ask … for access")
    role: str = "security_lead"
    # PagerDuty sees "Private incident <id>" and no description; false: the real title
    generic_page_title: bool = True

    @field_validator("labels", mode="before")
    @classmethod
    def _label_values(cls, value: Any) -> Any:
        # YAML reads `security: true` as a bool; alert labels are strings
        if isinstance(value, dict):
            return {
                str(k): (str(v).lower() if isinstance(v, bool) else str(v))
                for k, v in value.items()
            }
        return value

    @field_validator("security_group")
    @classmethod
    def _group(cls, value: str | None) -> str | None:
        if value is not None and not GROUP_ID.match(value.strip()):
            raise ValueError(f"{value!r} is not a Slack user group ID (S…)")
        return value.strip() if value is not None else None

    @field_validator("role")
    @classmethod
    def _role(cls, value: str) -> str:
        return role_name(value)


_RATE = re.compile(r"^\s*(\d+)\s*/\s*(.+?)\s*$")


class RateLimit(_Strict):
    """`10/1m`: at most `count` in any `per`, in bursts (GCRA: then one every per/count)."""

    count: int = Field(gt=0)
    per: Duration

    @model_validator(mode="before")
    @classmethod
    def _text(cls, data: Any) -> Any:
        if isinstance(data, str):
            match = _RATE.match(data)
            if not match:
                raise ValueError(f"{data!r} is not a rate like 10/1m (a count per a duration)")
            return {"count": int(match.group(1)), "per": match.group(2)}
        return data

    def __str__(self) -> str:
        return f"{self.count}/{format_duration(self.per)}"


class PermissionsConfig(_Strict):
    """Who may do what inside an incident. Enforced in one place, bot/core/policy.py; the
    defaults and the reasons for them are in the README (Who may do what)."""

    # what stops paging and tells everyone it is over: the people accountable for it
    resolve: Principals = ["roles"]
    lower_severity: Principals = ["roles"]
    # the safe direction: whoever sees it is worse must be able to say so (as declaring)
    raise_severity: Principals = ["channel_members"]
    status: Principals = ["channel_members"]  # investigating / identified / monitoring
    # the commander role while someone holds it; and becoming commander while nobody does
    # (an alert or a drill declares without one): the first responder, from wherever they
    # see the incident (they are invited into its channel as they take command)
    hand_over: Principals = ["roles"]
    take_command: Principals = ["anyone"]
    # the other roles: a role grants what `roles` grants, so only role holders hand them out
    assign_role: Principals = ["roles"]
    snooze: Principals = ["roles"]  # silencing the update reminder
    escalate: Principals = ["channel_members"]  # page the next level now: the safe direction
    # post a runbook, tick its steps: whoever is helping, also from a public channel they
    # view without having joined (a click is bound to the incident all the same)
    runbook: Principals = ["anyone"]
    stakeholder_update: Principals = ["roles"]  # what management and customers read
    close_private_followups: Principals = ["channel_members"]
    doctor: Principals = ["anyone"]
    declare_per_user: RateLimit = Field(
        default_factory=lambda: RateLimit(count=10, per=timedelta(minutes=1))
    )

    @field_validator(*NO_INCIDENT_ACTIONS)
    @classmethod
    def _incidentless(cls, principals: list[str]) -> list[str]:
        words = [p for p in principals if p in ("channel_members", "roles")]
        if words:
            raise ValueError(
                f"{', '.join(words)} means nothing here (it runs outside any incident); "
                "use anyone, a user group ID (S…) or user IDs (U…)"
            )
        return principals


def _default_severities() -> list[Severity]:
    sev1, sev2, sev3, sev4 = DEFAULT_NAMES
    return [
        Severity(name=sev1, label="Critical", update_every=timedelta(minutes=15), page=True),
        Severity(name=sev2, label="High", update_every=timedelta(minutes=30), page=True),
        Severity(name=sev3, label="Medium", update_every=timedelta(hours=2)),
        Severity(name=sev4, label="Low", update_every=timedelta(days=1)),
    ]


DEFAULT_ROLES = ("commander", "tech_lead", "comms_lead")
