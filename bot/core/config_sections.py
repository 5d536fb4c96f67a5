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

from pydantic import Field, field_validator, model_validator

from bot.core.config_names import (
    GROUP_ID,
    ROLE_NAME,
    SENDER_ID,
    TEMPLATE_NAME,
    Destination,
    EscalationTarget,
    role_name,
)
from bot.core.config_permissions import RateLimit, Strict
from bot.core.durations import Delay, Duration
from bot.core.severity import DEFAULT_NAMES


class Severity(Strict):
    """A severity, worst first in `severities:`. `SEVn` and `Pn-1` name the n-th."""

    name: str = Field(description="what people type and read: `SEV1`, `P0`, ... (upper-cased)")
    label: str = Field(description="what it means, shown next to the name: `Critical`")
    update_every: Duration = Field(
        description="the status-update cadence: the commander is reminded this often"
    )
    page: bool = Field(
        default=False,
        description="declaring at (or raising to) this severity opens a PagerDuty incident",
    )

    @field_validator("name")
    @classmethod
    def _upper(cls, name: str) -> str:
        return name.upper()


class RoleSpec(Strict):
    """A role people can hold in an incident (`/incident role <name> @user`). Written as
    a bare name, or `{name: security_lead, required_for: [SEV1]}`: the summary card
    flags a required role until someone holds it."""

    name: str = Field(description="the role's name: lowercase letters, digits and `_`")
    required_for: list[str] = Field(
        default_factory=list,
        description="severities whose card flags this role until someone holds it",
    )

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


class EscalationStep(Strict):
    """One step of the escalation matrix: `after` this long unresolved (since declared, or
    since raised to this severity), notify these and/or page this."""

    after: Delay = Field(
        description="how long unresolved, since declared or raised to this severity (`0m`: at once)"
    )
    notify: list[EscalationTarget] = Field(
        default_factory=list,
        description="users (`U…`), user groups (`S…`), channels (`C…`, `#name`) or a role of "
        "the incident, by name: each gets a DM (a channel a post)",
    )
    page: str | None = Field(
        default=None,
        description="a PagerDuty escalation policy or schedule ID (`P…`), or a schedule named "
        "in `pagerduty.schedules` (its current on-call is paged)",
    )
    note: str = Field(default="", description="why these are pulled in, shown with the step")

    @model_validator(mode="after")
    def _someone(self) -> EscalationStep:
        if not self.notify and not self.page:
            raise ValueError("a step must notify someone or page (give notify: or page:)")
        return self


class Escalation(Strict):
    """Escalation: of an unacknowledged page, and the matrix of who is pulled in when."""

    ack_timeout: Duration = Field(
        default=timedelta(minutes=15),
        description="a page unacknowledged this long is escalated to the policy's next level",
    )
    matrix: dict[str, list[EscalationStep]] = Field(
        default_factory=dict,
        description="per severity (names or aliases: `SEV1`, `sev1`, `P0`), the steps taken "
        "while the incident is unresolved",
    )


class StakeholderAudience(Strict):
    """Who must hear about an incident of a severity, where, and how often."""

    audience: str = Field(
        description="who they are (`management`, `customers`): one cadence per audience and "
        "incident"
    )
    channel: Destination = Field(
        description="where the update goes: a channel (name or ID); a user group (`S…`): a DM "
        "to each member; a user (`U…`): a DM"
    )
    every: Duration = Field(description="an update is due this often")
    template: str = Field(
        default="internal",
        description="the draft's template, `<templates_dir or the shipped "
        "ones>/stakeholders/<name>.j2`: shipped `internal`, `executive`, `status_page`, "
        "`customer_email`",
    )
    first: Delay | None = Field(
        default=None,
        description="the first update is due this long after the declaration or severity "
        "change (unset: `every`)",
    )
    owner: str | None = Field(
        default=None,
        description="the role reminded to send it (unset: the comms lead, else the commander)",
    )

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


class PagerDutyConfig(Strict):
    """Paging and `/oncall` (PAGERDUTY_API_KEY turns them on)."""

    service_id: str | None = Field(
        default=None, description="the PagerDuty service a paging severity opens incidents on"
    )
    escalation_policy_id: str | None = Field(
        default=None,
        description="the escalation policy pages go to and `/oncall` shows, level by level",
    )
    schedules: dict[str, str] = Field(
        default_factory=dict,
        description="your names for PagerDuty schedules (`backend: PDEF456`), for `/oncall "
        "backend` and escalation steps' `page:`",
    )


class AlertRule(Strict):
    """A firing alert of this name declares an incident at this severity."""

    alertname: str = Field(description="the alert's `alertname` label")
    severity: str = Field(description="the incident's severity (one of `severities:`)")
    runbook: str | None = Field(default=None, description="the runbook posted as the checklist")


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


class AlertChannel(Strict):
    """A channel whose alert messages are read, and which machines may post them: bot
    (B…) and app (A…) IDs; none listed means any bot or app. Written as a bare name or ID,
    or `{channel: alerts, from: [B0123, A0456]}`. A person's message is never an alert."""

    channel: str = Field(description="the channel, by name or ID (invite the bot)")
    senders: list[str] = Field(
        default_factory=list,
        alias="from",
        description="the only bots (`B…`, a message's `bot_id`) and apps (`A…`, its `app_id`) "
        "read; none: any bot or app",
    )

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


class AlertsConfig(Strict):
    """Alert ingestion (bot/alerts/): Alertmanager's webhook and alert channels."""

    channels: list[AlertChannel] = Field(
        default_factory=list,
        description="channels whose bots' and apps' alert messages are read (names or IDs, or "
        "`{channel: alerts, from: [B0123, A0456]}`)",
    )
    dedupe_window: Duration = Field(
        default=timedelta(minutes=5),
        description="one alert group opens at most one incident within this window",
    )
    flap_window: Duration = Field(
        default=timedelta(minutes=30),
        description="a resolved incident whose alert fires again within this window is "
        "reopened; a resolved alert is forgotten this long after it resolved",
    )
    auto_resolve: Duration | None = Field(
        default=None,
        description="every alert resolved and quiet this long: the bot resolves the incident "
        "(unset: a person does, with the Resolve incident button)",
    )
    declare_unmatched: bool = Field(
        default=False,
        description="an alert no rule matches declares an incident too, at "
        "`unmatched_severity`; otherwise it joins the digest with a Declare incident button",
    )
    unmatched_severity: str | None = Field(
        default=None,
        description="the severity `declare_unmatched` declares at (unset: the default declare "
        "severity)",
    )
    update_every: Duration = Field(
        default=timedelta(seconds=10),
        description="an alert message (or digest) is edited at most this often, however fast "
        "alerts arrive",
    )
    rules: list[AlertRule] = Field(
        default_factory=_default_alert_rules,
        description="which alerts declare, at what severity, with which runbook; replaces the "
        "built-in ten (`[]` turns them off)",
    )
    webhook_rate: RateLimit = Field(
        default_factory=lambda: RateLimit(count=600, per=timedelta(minutes=1)),
        description="POSTs a sender (its token and address) may make; beyond it the webhook "
        "answers 429 with Retry-After (a paging rule's alert is always taken)",
    )
    groups_per_payload: int = Field(
        default=100,
        gt=0,
        description="alert groups kept of one payload (rules' first); the rest are counted "
        "and told in one notice",
    )
    groups_per_minute: int = Field(
        default=300,
        gt=0,
        description="new alert groups made a minute, rule-matched and unmatched each",
    )
    max_groups: int = Field(
        default=500,
        gt=0,
        description="alert groups remembered, rule-matched and unmatched each (the "
        "longest-quiet group with nothing firing makes room)",
    )
    max_instances: int = Field(
        default=200,
        gt=0,
        description="alerts a group tracks one by one; beyond them they are only counted "
        "(about N more)",
    )
    digest_window: Duration = Field(
        default=timedelta(minutes=5),
        description="unmatched groups firing within this window share one digest message in "
        "the announce channel",
    )
    max_queued_mb: int = Field(
        default=64,
        gt=0,
        description="MB of accepted alerts not applied yet; beyond it the webhook answers 503 "
        "with Retry-After (Alertmanager retries)",
    )


class RemindersConfig(Strict):
    """Update reminders (bot/reminders.py)."""

    snooze: Duration = Field(
        default=timedelta(minutes=10), description="what the Snooze button defers a reminder by"
    )
    grace: float = Field(
        default=0.5,
        gt=0,
        le=10,
        description="no update this fraction of the interval after the reminder: the bot pings "
        "the channel and the comms lead (or the tech lead) too",
    )


class SchedulerConfig(Strict):
    """Durable due-items (bot/core/schedule.py). Numbers are seconds, so 0.2 works for tests."""

    tick: Duration = Field(
        default=timedelta(seconds=1),
        description=(
            "how often each replica polls for what is due;"
            " each also wakes at the next due time it knows of"
        ),
    )
    lease: Duration = Field(
        default=timedelta(seconds=5),
        description="a claimed timer is retried after this if its replica died (renewed "
        "while its replica works on it)",
    )
    retry: Duration = Field(
        default=timedelta(seconds=1),
        description="the first retry after a failure; doubles, at most 5 min",
    )
    reclaim: Duration = Field(
        default=timedelta(seconds=10),
        description="a lifecycle event a replica took and did not finish (it died) is taken "
        "over after this",
    )


class PostmortemConfig(Strict):
    """Post-mortem drafts and their reminder (bot/postmortem.py)."""

    template: Path | None = Field(
        default=None,
        description="a jinja2 Markdown template of the team's own (it may `{% extends "
        '"builtin/postmortem.md.j2" %}` and replace blocks); unset: the shipped one',
    )
    draft_on_resolve: bool = Field(
        default=True, description="upload a draft into the channel when the incident resolves"
    )
    due_after: Duration = Field(
        default=timedelta(hours=24),
        description="paging severities: not marked done this long after resolution, the "
        "commander is reminded",
    )
    remind_every: Duration = Field(
        default=timedelta(days=1), description="then again this often until it is done"
    )

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


class FollowupsConfig(Strict):
    """Post-incident action items (bot/followups.py)."""

    remind_at: str = Field(
        default="09:00",
        pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
        description="a due date (`2026-12-01`, `tomorrow`, `fri`) means this time of that day, "
        "UTC: the owner's reminder goes out then",
    )


class DrillsConfig(Strict):
    """Game-day drills (bot/drills/): scenarios from drills/*.yaml played as incidents."""

    pagerduty_service_id: str | None = Field(
        default=None,
        description="the PagerDuty service a drill pages (a test service whose escalation "
        "policy reaches the players); unset: a drill pages nobody, and its channel says so",
    )
    scenarios_dir: Path | None = Field(
        default=None,
        description="a team's own scenarios, `<scenarios_dir>/*.yaml` (they win over the "
        "shipped ones of the same id)",
    )
    fast: float = Field(
        default=10.0,
        gt=1,
        le=1000,
        description="`/incident drill <scenario> fast` runs the scenario's clock this many "
        "times faster",
    )


class PrivateConfig(Strict):
    """Private (security) incidents (bot/core/redaction.py, bot/privacy.py): which incidents are
    private without `--private`, who is invited, and what PagerDuty may see."""

    runbooks: list[str] = Field(
        default_factory=list,
        description="incidents declared with one of these runbooks (the form's pick, an alert "
        "rule's) are private by default",
    )
    labels: dict[str, str] = Field(
        default_factory=dict,
        description='an alert carrying any one of these labels (`name: value`, `"*"`: any '
        "value) declares a private incident",
    )
    security_group: str | None = Field(
        default=None,
        description="a Slack user group (`S…`) whose members are invited into every private "
        "incident",
    )
    role: str = Field(
        default="security_lead",
        description='the role whose holder is invited and named in the announcement ("ask … '
        'for access"); set it only to one of your `roles:`',
    )
    generic_page_title: bool = Field(
        default=True,
        description='PagerDuty sees "Private incident <id>" and no description; false: the '
        "real title",
    )

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


def _default_severities() -> list[Severity]:
    sev1, sev2, sev3, sev4 = DEFAULT_NAMES
    return [
        Severity(name=sev1, label="Critical", update_every=timedelta(minutes=15), page=True),
        Severity(name=sev2, label="High", update_every=timedelta(minutes=30), page=True),
        Severity(name=sev3, label="Medium", update_every=timedelta(hours=2)),
        Severity(name=sev4, label="Low", update_every=timedelta(days=1)),
    ]


DEFAULT_ROLES = ("commander", "tech_lead", "comms_lead")
