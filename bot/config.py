"""Configuration: environment settings and the team's procedure file (INCIDENT_CONFIG).

Environment variables are read by pydantic-settings (`Settings`). The YAML file is
validated by pydantic models (`IncidentConfig`) whose defaults are our built-in
procedure, so an absent file and an empty file mean the same thing. An invalid file
raises `ConfigError` naming the key path (and line, when YAML knows it) of each problem.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d|w)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: Any) -> timedelta:
    """`30s`, `15m`, `2h`, `1d`, `1w` (or a number of seconds) -> timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"{value!r} is not a duration like 30s, 15m, 2h or 1d")
        seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds <= 0:
        raise ValueError(f"{value!r} must be longer than zero")
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    """The inverse of parse_duration, for showing configured values back to people."""
    seconds = int(delta.total_seconds())
    for unit in ("w", "d", "h", "m"):
        size = _UNIT_SECONDS[unit]
        if seconds % size == 0 and seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]

STATUSES = ("investigating", "identified", "monitoring", "resolved")
_SEVERITY_ALIAS = re.compile(r"^(?:sev([1-9])|p([0-8]))$", re.IGNORECASE)


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


class EscalationStep(_Strict):
    after: Duration
    notify: list[str] = Field(default_factory=list)
    page: str | None = None
    note: str = ""


class Escalation(_Strict):
    ack_timeout: Duration = timedelta(minutes=15)
    matrix: dict[str, list[EscalationStep]] = Field(default_factory=dict)


class StakeholderAudience(_Strict):
    audience: str
    channel: str
    every: Duration
    template: str = "internal"


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


class AlertsConfig(_Strict):
    """Alert ingestion (bot/alerts.py): Alertmanager's webhook and alert channels."""

    channels: list[str] = Field(default_factory=list)  # names or IDs of alert channels
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


class RemindersConfig(_Strict):
    """Update reminders (bot/reminders.py)."""

    snooze: Duration = timedelta(minutes=10)  # what the Snooze button defers a reminder by
    # no update this fraction of the interval after the reminder: ping the channel too
    grace: float = Field(default=0.5, gt=0, le=10)


class SchedulerConfig(_Strict):
    """Durable due-items (bot/schedule.py). Numbers are seconds, so 0.2 works for tests."""

    tick: Duration = timedelta(seconds=1)  # how often each replica looks for due items
    lease: Duration = timedelta(seconds=60)  # a claimed item is retried after this if unacked
    retry: Duration = timedelta(seconds=1)  # first retry delay; doubles, at most 5 min


def _default_severities() -> list[Severity]:
    return [
        Severity(name="SEV1", label="Critical", update_every=timedelta(minutes=15), page=True),
        Severity(name="SEV2", label="High", update_every=timedelta(minutes=30), page=True),
        Severity(name="SEV3", label="Medium", update_every=timedelta(hours=2)),
        Severity(name="SEV4", label="Low", update_every=timedelta(days=1)),
    ]


class IncidentConfig(_Strict):
    """The procedure file. Every key optional; defaults are the CONTRACT.md values."""

    announce_channel: str = "incidents"
    channel_prefix: str = "inc"
    severities: list[Severity] = Field(default_factory=_default_severities, min_length=1)
    roles: list[str] = Field(default_factory=lambda: ["commander", "tech_lead", "comms_lead"])
    escalation: Escalation = Field(default_factory=Escalation)
    stakeholders: dict[str, list[StakeholderAudience]] = Field(default_factory=dict)
    pagerduty: PagerDutyConfig = Field(default_factory=PagerDutyConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    reminders: RemindersConfig = Field(default_factory=RemindersConfig)
    scheduler: SchedulerConfig = Field(default_factory=SchedulerConfig)
    runbooks_dir: Path | None = None

    @field_validator("channel_prefix")
    @classmethod
    def _prefix(cls, prefix: str) -> str:
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,20}", prefix):
            raise ValueError("use 1-21 lowercase letters, digits, '-' or '_' (Slack channel rules)")
        return prefix

    @field_validator("roles")
    @classmethod
    def _roles(cls, roles: list[str]) -> list[str]:
        roles = [r.strip().lower().replace("-", "_") for r in roles]
        if "commander" not in roles:
            roles.insert(0, "commander")
        if len(set(roles)) != len(roles):
            raise ValueError("roles must be unique")
        return roles

    @model_validator(mode="after")
    def _known_severities(self) -> IncidentConfig:
        names = [s.name for s in self.severities]
        if len(set(names)) != len(names):
            raise ValueError("severities: names must be unique")
        for where, keys in (
            ("escalation.matrix", self.escalation.matrix),
            ("stakeholders", self.stakeholders),
        ):
            for key in keys:
                if key.upper() not in names:
                    raise ValueError(
                        f"{where}: unknown severity {key!r} (known: {', '.join(names)})"
                    )
        # The built-in rules name SEV1-4; with fewer severities configured they fall back
        # to the mildest (bot/alerts.py), so only rules a team wrote are checked here.
        if "rules" in self.alerts.model_fields_set:
            for i, rule in enumerate(self.alerts.rules):
                if self.resolve_severity(rule.severity) is None:
                    raise ValueError(
                        f"alerts.rules[{i}].severity: unknown severity {rule.severity!r}"
                    )
        unmatched = self.alerts.unmatched_severity
        if unmatched is not None and self.resolve_severity(unmatched) is None:
            raise ValueError(f"alerts.unmatched_severity: unknown severity {unmatched!r}")
        return self

    # -- lookups -----------------------------------------------------------------------
    def resolve_severity(self, text: str) -> str | None:
        """SEV1/sev1/P0 -> the configured name, or None. P0 is the first severity."""
        word = text.strip().upper()
        names = [s.name for s in self.severities]
        if word in names:
            return word
        match = _SEVERITY_ALIAS.match(word)
        if match:
            index = int(match.group(1)) - 1 if match.group(1) else int(match.group(2))
            if 0 <= index < len(names):
                return names[index]
        return None

    def severity(self, name: str) -> Severity:
        for sev in self.severities:
            if sev.name == name:
                return sev
        raise KeyError(name)

    def severity_rank(self, name: str) -> int:
        """0 for the worst severity; higher is milder."""
        return [s.name for s in self.severities].index(name)


class ConfigError(Exception):
    """An invalid configuration file; the message lists each problem with its key path."""


def _line_of(source: str, path: tuple[Any, ...]) -> int | None:
    """Best-effort line number of a key path in the YAML source (for error messages)."""
    try:
        node: Any = yaml.compose(source)
    except yaml.YAMLError:
        return None
    for key in path:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if k.value == key:
                    node = v
                    break
            else:
                return node.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
        else:
            break
    return node.start_mark.line + 1 if node is not None else None


def load_config(path: str | Path | None) -> IncidentConfig:
    if path is None:
        return IncidentConfig()
    file = Path(path)
    try:
        source = file.read_text()
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read the config file ({exc.strerror})") from exc
    try:
        data = yaml.safe_load(source) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{file}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{file}: the top level must be a mapping of keys")
    try:
        return IncidentConfig.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            key = ".".join(str(p) for p in loc) or "(top level)"
            line = _line_of(source, loc)
            where = f"{file}:{line}" if line else str(file)
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown key"
            lines.append(f"{where}: {key}: {msg}")
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines)) from None


class Settings(BaseSettings):
    """Environment (CONTRACT.md). Unset tokens mean: run the local sandbox."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    slack_bot_token: str | None = None
    slack_signing_secret: str | None = None
    slack_app_token: str | None = None
    slack_api_url: str = "https://slack.com/api/"
    redis_url: str = "redis://localhost:6379/0"
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
    # the store's answer budget: a command must get its "store unreachable" reply in < 3 s
    redis_timeout: float = 1.0
    log_level: str = "INFO"

    @property
    def has_slack_tokens(self) -> bool:
        return bool(self.slack_bot_token or self.slack_app_token)
