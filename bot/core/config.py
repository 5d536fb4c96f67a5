"""Configuration: environment settings and the team's procedure file (INCIDENT_CONFIG).

Environment variables are read by pydantic-settings (`Settings`). The YAML file is
validated by pydantic models (`IncidentConfig`) whose defaults are our built-in
procedure, so an absent file and an empty file mean the same thing. An invalid file
raises `ConfigError` naming the line and key path of each problem (bot/core/yamlload.py).
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import jinja2
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.core import yamlload
from bot.core.durations import Delay, Duration, format_duration
from bot.core.severity import DEFAULT_NAMES, resolve_severity
from bot.core.yamlload import Problem


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


# -- the procedure: roles, escalation, stakeholders -------------------------------------------
# Who a step or an audience names: a Slack ID (U…/W… user, S… user group, C…/G… channel),
# a channel by #name, or (escalation targets only) a role of the incident, by name.
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_GROUP_ID = re.compile(r"^S[A-Z0-9]{2,}$")
_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{2,}$")
_CHANNEL_NAME = re.compile(r"^#?[a-z0-9][a-z0-9_-]{0,79}$")
_ROLE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_TEMPLATE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_PD_ID = re.compile(r"^P[A-Z0-9_]{2,}$")

TargetKind = Literal["user", "group", "channel", "role"]


def target_kind(target: str) -> TargetKind:
    """What an escalation target or stakeholder destination names (see the patterns above).
    A bare lowercase word is a role for escalation targets and a channel name for
    stakeholder destinations; `#name` is always a channel."""
    if _USER_ID.match(target):
        return "user"
    if _GROUP_ID.match(target):
        return "group"
    if _CHANNEL_ID.match(target) or target.startswith("#"):
        return "channel"
    return "role"


def role_name(text: str) -> str:
    return text.strip().lower().replace("-", "_")


def _escalation_target(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    value = value.strip()
    if _USER_ID.match(value) or _GROUP_ID.match(value) or _CHANNEL_ID.match(value):
        return value
    if value.startswith("#") and _CHANNEL_NAME.match(value):
        return value
    if _ROLE_NAME.match(role_name(value)):
        return role_name(value)
    raise PydanticCustomError(
        "target",
        "{value} is not a Slack ID (U… user, S… user group, C… channel), a #channel or a role name",
        {"value": repr(value)},
    )


def _destination(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    value = value.strip()
    if _USER_ID.match(value) or _GROUP_ID.match(value) or _CHANNEL_ID.match(value):
        return value
    if _CHANNEL_NAME.match(value):
        return value.lstrip("#")
    raise PydanticCustomError(
        "destination",
        "{value} is not a channel name or ID, a user group ID (S…) or a user ID (U…)",
        {"value": repr(value)},
    )


EscalationTarget = Annotated[str, BeforeValidator(_escalation_target)]


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
        if not _ROLE_NAME.match(name):
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
    channel: Annotated[str, BeforeValidator(_destination)]
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
        if not _TEMPLATE_NAME.match(value):
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


_SENDER_ID = re.compile(r"^[BA][A-Z0-9]{2,}$")


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
            if not _SENDER_ID.match(sender):
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
        if value is not None and not _GROUP_ID.match(value.strip()):
            raise ValueError(f"{value!r} is not a Slack user group ID (S…)")
        return value.strip() if value is not None else None

    @field_validator("role")
    @classmethod
    def _role(cls, value: str) -> str:
        return role_name(value)


# -- who may do what (bot/core/policy.py) ---------------------------------------------------------
# A principal: `anyone`, `channel_members` (of the incident's channel), `roles` (whoever
# holds one of the incident's roles right now), a user group (S…) or a user (U…/W…).
PRINCIPAL_WORDS = ("anyone", "channel_members", "roles")
# actions that name no incident: only principals that need none make sense for them
NO_INCIDENT_ACTIONS = ("doctor",)
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(.+?)\s*$")


def _principal(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    value = value.strip()
    word = value.lower().replace("-", "_")
    if word in PRINCIPAL_WORDS:
        return word
    if _USER_ID.match(value) or _GROUP_ID.match(value):
        return value
    raise PydanticCustomError(
        "principal",
        "{value} is not anyone, channel_members, roles, a user group ID (S…) or a user ID (U…)",
        {"value": repr(value)},
    )


Principal = Annotated[str, BeforeValidator(_principal)]
Principals = Annotated[list[Principal], Field(min_length=1)]


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
BUILTIN_TEMPLATES = Path(__file__).parent.parent / "templates" / "stakeholders"


def template_dirs(templates_dir: Path | None) -> list[Path]:
    """Where stakeholder templates are looked for, first match wins."""
    dirs = [templates_dir / "stakeholders"] if templates_dir is not None else []
    return [*dirs, BUILTIN_TEMPLATES]


def template_path(templates_dir: Path | None, name: str) -> Path | None:
    for folder in template_dirs(templates_dir):
        if (folder / f"{name}.j2").is_file():
            return folder / f"{name}.j2"
    return None


def template_syntax_problem(templates_dir: Path | None, name: str) -> str | None:
    """Why a stakeholder template does not parse as jinja2, or None (checked at load, so a
    broken template stops the start instead of the first stakeholder update)."""
    path = template_path(templates_dir, name)
    if path is None:
        return None
    try:
        jinja2.Environment().parse(path.read_text())
    except jinja2.TemplateSyntaxError as exc:
        return f"{path}: line {exc.lineno}: {exc.message}"
    except (OSError, UnicodeDecodeError) as exc:
        return f"{path}: cannot read it ({exc})"
    return None


def available_templates(templates_dir: Path | None) -> set[str]:
    names: set[str] = set()
    for folder in template_dirs(templates_dir):
        if folder.is_dir():
            names |= {f.stem for f in folder.glob("*.j2")}
    return names


class IncidentConfig(_Strict):
    """The procedure file. Every key optional; defaults are the CONTRACT.md values."""

    announce_channel: str = "incidents"
    channel_prefix: str = "inc"
    severities: list[Severity] = Field(default_factory=_default_severities, min_length=1)
    # written `roles:` (names, or {name, required_for}); `config.roles` gives the names
    role_specs: list[RoleSpec] = Field(
        default_factory=lambda: [RoleSpec(name=n) for n in DEFAULT_ROLES], alias="roles"
    )
    escalation: Escalation = Field(default_factory=Escalation)
    stakeholders: dict[str, list[StakeholderAudience]] = Field(default_factory=dict)
    pagerduty: PagerDutyConfig = Field(default_factory=PagerDutyConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    reminders: RemindersConfig = Field(default_factory=RemindersConfig)
    scheduler: SchedulerConfig = Field(default_factory=SchedulerConfig)
    private: PrivateConfig = Field(default_factory=PrivateConfig)
    postmortem: PostmortemConfig = Field(default_factory=PostmortemConfig)
    followups: FollowupsConfig = Field(default_factory=FollowupsConfig)
    drills: DrillsConfig = Field(default_factory=DrillsConfig)
    permissions: PermissionsConfig = Field(default_factory=PermissionsConfig)
    runbooks_dir: Path | None = None
    # a team's own stakeholder templates: <templates_dir>/stakeholders/<name>.j2 (they win
    # over the shipped ones of the same name)
    templates_dir: Path | None = None

    @field_validator("channel_prefix")
    @classmethod
    def _prefix(cls, prefix: str) -> str:
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,20}", prefix):
            raise ValueError("use 1-21 lowercase letters, digits, '-' or '_' (Slack channel rules)")
        return prefix

    @field_validator("role_specs")
    @classmethod
    def _roles(cls, roles: list[RoleSpec]) -> list[RoleSpec]:
        names = [r.name for r in roles]
        if len(set(names)) != len(names):
            raise ValueError("roles must be unique")
        if "commander" not in names:
            roles.insert(0, RoleSpec(name="commander"))
        return roles

    @model_validator(mode="after")
    def _known_severities(self) -> IncidentConfig:
        names = [s.name for s in self.severities]
        if len(set(names)) != len(names):
            raise ValueError("severities: names must be unique")
        problems: list[Problem] = []
        problems += self._procedure_problems()
        # The built-in rules name SEV1-4; with fewer severities configured they fall back
        # to the mildest (bot/alerts.py), so only rules a team wrote are checked here.
        if "rules" in self.alerts.model_fields_set:
            for i, rule in enumerate(self.alerts.rules):
                if self.resolve_severity(rule.severity) is None:
                    problems.append(
                        (
                            ("alerts", "rules", i, "severity"),
                            f"unknown severity {rule.severity!r}",
                        )
                    )
        unmatched = self.alerts.unmatched_severity
        if unmatched is not None and self.resolve_severity(unmatched) is None:
            problems.append((("alerts", "unmatched_severity"), f"unknown severity {unmatched!r}"))
        if problems:
            raise yamlload.problems(problems)
        return self

    def _procedure_problems(self) -> list[Problem]:
        """Names the procedure uses that the config does not define: severities in the
        matrix, stakeholders and roles; roles in escalation targets and audiences;
        stakeholder templates; PagerDuty page targets."""
        out: list[Problem] = []
        known = ", ".join(s.name for s in self.severities)
        roles = self.roles
        role_list = ", ".join(roles)

        def severity_keys(where: tuple[str, ...], keys: Any) -> None:
            seen: dict[str, str] = {}
            for key in keys:
                name = self.resolve_severity(str(key))
                if name is None:
                    out.append(((*where, key), f"unknown severity {key!r} (known: {known})"))
                elif name in seen:
                    out.append(((*where, key), f"{key!r} is {name} again (as {seen[name]!r})"))
                else:
                    seen[name] = key

        severity_keys(("escalation", "matrix"), self.escalation.matrix)
        severity_keys(("stakeholders",), self.stakeholders)
        for i, spec in enumerate(self.role_specs):
            for j, sev in enumerate(spec.required_for):
                if self.resolve_severity(sev) is None:
                    out.append(
                        (
                            ("roles", i, "required_for", j),
                            f"unknown severity {sev!r} (known: {known})",
                        )
                    )
        schedules = self.pagerduty.schedules
        for key, steps in self.escalation.matrix.items():
            for i, step in enumerate(steps):
                loc: tuple[str | int, ...] = ("escalation", "matrix", key, i)
                for j, target in enumerate(step.notify):
                    if target_kind(target) == "role" and target not in roles:
                        out.append(
                            (
                                (*loc, "notify", j),
                                f"unknown role {target!r} (roles: {role_list}; or a Slack "
                                "ID: U… user, S… user group, C… channel)",
                            )
                        )
                if step.page and step.page not in schedules and not _PD_ID.match(step.page):
                    out.append(
                        (
                            (*loc, "page"),
                            f"{step.page!r} is neither a PagerDuty escalation policy or "
                            "schedule ID (P…) nor a schedule named in pagerduty.schedules",
                        )
                    )
        templates = available_templates(self.templates_dir)
        if self.templates_dir is not None and not self.templates_dir.is_dir():
            out.append((("templates_dir",), f"no directory {str(self.templates_dir)!r}"))
        for key, audiences in self.stakeholders.items():
            seen: set[str] = set()
            for i, audience in enumerate(audiences):
                where: tuple[str | int, ...] = ("stakeholders", key, i)
                if audience.key in seen:
                    out.append(((*where, "audience"), f"{audience.audience!r} appears twice"))
                seen.add(audience.key)
                if audience.template not in templates:
                    have = ", ".join(sorted(templates)) or "none"
                    out.append(
                        (
                            (*where, "template"),
                            f"no template {audience.template!r} (have: {have})",
                        )
                    )
                elif problem := template_syntax_problem(self.templates_dir, audience.template):
                    out.append(((*where, "template"), problem))
                if audience.owner is not None and audience.owner not in roles:
                    out.append(
                        ((*where, "owner"), f"unknown role {audience.owner!r} (roles: {role_list})")
                    )
        return out

    @model_validator(mode="after")
    def _private_role(self) -> IncidentConfig:
        """A security role the team named must be one of its roles."""
        role = self.private.role
        if "role" in self.private.model_fields_set and role not in self.roles:
            msg = f"unknown role {role!r} (roles: {', '.join(self.roles)})"
            raise yamlload.problems([(("private", "role"), msg)])
        return self

    # -- lookups -----------------------------------------------------------------------
    def resolve_severity(self, text: str) -> str | None:
        """SEV1/sev1/P0 -> the configured name, or None (bot/core/severity.py: the one rule)."""
        return resolve_severity(text, self.severity_names)

    @property
    def severity_names(self) -> list[str]:
        """The configured severity names, worst first."""
        return [s.name for s in self.severities]

    def severity(self, name: str) -> Severity:
        for sev in self.severities:
            if sev.name == name:
                return sev
        raise KeyError(name)

    def severity_rank(self, name: str) -> int:
        """0 for the worst severity; higher is milder."""
        return [s.name for s in self.severities].index(name)

    @property
    def roles(self) -> list[str]:
        """The configured role names, commander first if the file did not place it."""
        return [r.name for r in self.role_specs]

    def required_roles(self, severity: str) -> list[str]:
        """Roles that must be filled in an incident of this severity."""
        return [
            r.name
            for r in self.role_specs
            if any(self.resolve_severity(s) == severity for s in r.required_for)
        ]

    def matrix_for(self, severity: str) -> list[EscalationStep]:
        """The escalation steps of a severity (matrix keys may be aliases), by `after`."""
        for key, steps in self.escalation.matrix.items():
            if self.resolve_severity(key) == severity:
                return sorted(steps, key=lambda s: s.after)
        return []

    def stakeholders_for(self, severity: str) -> list[StakeholderAudience]:
        for key, audiences in self.stakeholders.items():
            if self.resolve_severity(key) == severity:
                return list(audiences)
        return []

    def audience(self, key: str) -> StakeholderAudience | None:
        """An audience by its key, from any severity (the first one configured)."""
        for audiences in self.stakeholders.values():
            for audience in audiences:
                if audience.key == key:
                    return audience
        return None

    def page_target(self, page: str) -> str:
        """A step's `page:` as a PagerDuty ID (a schedule name resolved)."""
        return self.pagerduty.schedules.get(page, page)


class ConfigError(Exception):
    """An invalid configuration file; the message lists each problem with its key path."""


def load_config(path: str | Path | None) -> IncidentConfig:
    """The configuration file as validated (no file: the built-in defaults). Raises
    ConfigError with one `file:line: key: problem` line a problem."""
    if path is None:
        return IncidentConfig()
    config, errors = yamlload.load(
        Path(path), IncidentConfig, what="config file", shape=" of keys", empty=True
    )
    if config is None:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(errors))
    return config


class Settings(BaseSettings):
    """Environment (CONTRACT.md). Unset tokens mean: run the local sandbox."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    slack_bot_token: str | None = None
    slack_signing_secret: str | None = None
    slack_app_token: str | None = None
    slack_api_url: str = "https://slack.com/api/"
    redis_url: str = "redis://localhost:6379/0"
    # "host:port,host:port": find the primary through these Sentinels (REDIS_URL then gives
    # only the db and password) and follow its failovers
    redis_sentinels: str | None = None
    redis_sentinel_master: str = "mymaster"
    incident_config: str | None = None
    pagerduty_api_key: str | None = None
    pagerduty_api_url: str = "https://api.pagerduty.com"
    pagerduty_events_url: str = "https://events.pagerduty.com"
    pagerduty_from_email: str | None = None
    pagerduty_webhook_secret: str | None = None
    # /oncall answers from a cache at most this old (seconds); refreshed every half of it
    oncall_cache_ttl: float = 300.0
    alertmanager_token: str | None = None
    port: int = 3000
    host: str = "0.0.0.0"
    # seconds a client has to send a request's headers, and then its body (bot/core/guard.py)
    http_read_timeout: float = Field(default=10.0, gt=0)
    # requests that may be sending their body (not yet authenticated) at once; more: 503
    http_max_unauthenticated: int = Field(default=512, ge=1)
    # the store's answer budget: a command must get its "store unreachable" reply in < 3 s
    redis_timeout: float = 1.0
    log_level: str = "INFO"
    # "json": one JSON object a line (bot/core/logs.py), for a log pipeline to read
    log_format: Literal["text", "json"] = "text"

    @field_validator(
        "slack_bot_token",
        "slack_signing_secret",
        "slack_app_token",
        "pagerduty_api_key",
        "pagerduty_webhook_secret",
        "alertmanager_token",
    )
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        # `SLACK_SIGNING_SECRET=` (or spaces, or a pasted newline) is no secret: an HMAC under
        # an empty key is one anybody can compute, and a blank token authenticates nothing
        value = value.strip() if value is not None else None
        return value or None

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        if value.strip().upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError("use DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return value.strip()

    @property
    def has_slack_tokens(self) -> bool:
        return bool(self.slack_bot_token or self.slack_app_token)
