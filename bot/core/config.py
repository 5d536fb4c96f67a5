"""Configuration: environment settings and the team's procedure file (INCIDENT_CONFIG).

Environment variables are read by pydantic-settings (`Settings`). The YAML file is
validated by pydantic models (`IncidentConfig`, its sections in bot/core/config_sections.py)
whose defaults are our built-in procedure, so an absent file and an empty file mean the
same thing. An invalid file raises `ConfigError` naming the line and key path of each
problem (bot/core/yamlload.py). The names it may use are bot/core/config_names.py; the
stakeholder templates on disk, bot/core/templates.py. Every field's `description` is its
line in docs/configuration.md (`python -m bot config-reference`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.core import yamlload
from bot.core.config_names import (
    PD_ID,
    PRINCIPAL_WORDS,
    TargetKind,
    role_name,
    target_kind,
)
from bot.core.config_permissions import PermissionsConfig, RateLimit, Strict
from bot.core.config_sections import (
    DEFAULT_ALERT_RULES,
    DEFAULT_ROLES,
    AlertChannel,
    AlertRule,
    AlertsConfig,
    DrillsConfig,
    Escalation,
    EscalationStep,
    FollowupsConfig,
    PagerDutyConfig,
    PostmortemConfig,
    PrivateConfig,
    RemindersConfig,
    RoleSpec,
    SchedulerConfig,
    Severity,
    StakeholderAudience,
    _default_severities,
)
from bot.core.durations import format_duration
from bot.core.severity import resolve_severity
from bot.core.templates import Templates, template_dirs
from bot.core.yamlload import Problem

__all__ = [  # what callers import from here, wherever it is defined
    "DEFAULT_ALERT_RULES",
    "PRINCIPAL_WORDS",
    "AlertChannel",
    "AlertRule",
    "AlertsConfig",
    "ConfigError",
    "DrillsConfig",
    "Escalation",
    "EscalationStep",
    "FollowupsConfig",
    "IncidentConfig",
    "PagerDutyConfig",
    "PermissionsConfig",
    "PostmortemConfig",
    "PrivateConfig",
    "RateLimit",
    "RemindersConfig",
    "RoleSpec",
    "SchedulerConfig",
    "Settings",
    "Severity",
    "StakeholderAudience",
    "TargetKind",
    "format_duration",
    "load_config",
    "role_name",
    "target_kind",
    "template_dirs",
]


class IncidentConfig(Strict):
    """The procedure file. Every key optional; the defaults are the built-in procedure."""

    announce_channel: str = Field(
        default="incidents",
        description="where declarations are announced and kept current (invite the bot)",
    )
    channel_prefix: str = Field(
        default="inc",
        description="incident channels are `<prefix>-<yyyymmdd>-<n>-<slug>` (1-21 lowercase "
        "letters, digits, `-`, `_`)",
    )
    severities: list[Severity] = Field(
        default_factory=_default_severities,
        min_length=1,
        description="the severities, worst first, with their update cadence and whether they page",
    )
    # written `roles:` (names, or {name, required_for}); `config.roles` gives the names
    role_specs: list[RoleSpec] = Field(
        default_factory=lambda: [RoleSpec(name=n) for n in DEFAULT_ROLES],
        alias="roles",
        description="the roles of an incident: names, or `{name: customer_success, "
        "required_for: [SEV1]}`; `commander` is always one",
    )
    escalation: Escalation = Field(
        default_factory=Escalation, description="page escalation and the escalation matrix"
    )
    stakeholders: dict[str, list[StakeholderAudience]] = Field(
        default_factory=dict,
        description="per severity, the audiences that must hear about an incident, where and "
        "how often",
    )
    pagerduty: PagerDutyConfig = Field(
        default_factory=PagerDutyConfig, description="what pages go to, and `/oncall`"
    )
    alerts: AlertsConfig = Field(
        default_factory=AlertsConfig,
        description="alerts from Alertmanager's webhook and alert channels",
    )
    reminders: RemindersConfig = Field(
        default_factory=RemindersConfig, description="update reminders"
    )
    scheduler: SchedulerConfig = Field(
        default_factory=SchedulerConfig,
        description="durable timers; numbers are seconds (0.2 is fine in tests)",
    )
    private: PrivateConfig = Field(
        default_factory=PrivateConfig, description="private (security) incidents"
    )
    postmortem: PostmortemConfig = Field(
        default_factory=PostmortemConfig, description="post-mortem drafts and their reminder"
    )
    followups: FollowupsConfig = Field(
        default_factory=FollowupsConfig, description="post-incident action items"
    )
    drills: DrillsConfig = Field(default_factory=DrillsConfig, description="game-day drills")
    permissions: PermissionsConfig = Field(
        default_factory=PermissionsConfig,
        description="who may do what: each a list of principals (`anyone`, `channel_members`, "
        "`roles`, a user group `S…`, a user `U…`), any one of which is enough",
    )
    runbooks_dir: Path | None = Field(
        default=None,
        description="a folder of the team's own runbooks, `*.yaml` (one with a shipped one's "
        "id replaces it)",
    )
    templates_dir: Path | None = Field(
        default=None,
        description="the team's own stakeholder templates, `<templates_dir>/stakeholders/"
        "<name>.j2` (they win over the shipped ones of the same name)",
    )

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
        # to the mildest (bot/alerts/), so only rules a team wrote are checked here.
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
                if step.page and step.page not in schedules and not PD_ID.match(step.page):
                    out.append(
                        (
                            (*loc, "page"),
                            f"{step.page!r} is neither a PagerDuty escalation policy or "
                            "schedule ID (P…) nor a schedule named in pagerduty.schedules",
                        )
                    )
        templates = Templates(self.templates_dir)
        if problem := templates.folder_problem():
            out.append((("templates_dir",), problem))
        for key, audiences in self.stakeholders.items():
            seen: set[str] = set()
            for i, audience in enumerate(audiences):
                where: tuple[str | int, ...] = ("stakeholders", key, i)
                if audience.key in seen:
                    out.append(((*where, "audience"), f"{audience.audience!r} appears twice"))
                seen.add(audience.key)
                if problem := templates.problem(audience.template):
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
    """The environment variables (each field's name, upper-cased). Unset Slack tokens mean:
    run the local sandbox."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    slack_bot_token: str | None = Field(
        default=None,
        description="the bot token (`xoxb-…`); without it and `SLACK_APP_TOKEN`, the sandbox "
        "starts",
    )
    slack_signing_secret: str | None = Field(
        default=None,
        description="verifies every HTTP request from Slack; required in HTTP mode (unset in "
        "Socket Mode: `/slack/events` answers 404)",
    )
    slack_app_token: str | None = Field(
        default=None, description="the app-level token (`xapp-…`): Socket Mode instead of HTTP"
    )
    slack_api_url: str = Field(
        default="https://slack.com/api/", description="the Slack Web API base URL"
    )
    redis_url: str = Field(
        default="redis://localhost:6379/0", description="the one store of all state"
    )
    redis_sentinels: str | None = Field(
        default=None,
        description="`host:port,host:port,…`: find the Redis primary through these Sentinels "
        "and follow its failovers (`REDIS_URL` then supplies only the db and password)",
    )
    redis_sentinel_master: str = Field(default="mymaster", description="the Sentinel service name")
    incident_config: str | None = Field(
        default=None, description="the path of your procedure file (unset: built-in defaults)"
    )
    pagerduty_api_key: str | None = Field(
        default=None,
        description="PagerDuty REST API token (read-only is enough for `/oncall`); unset: "
        "paging and `/oncall` say PagerDuty is not configured",
    )
    pagerduty_api_url: str = Field(
        default="https://api.pagerduty.com", description="PagerDuty REST API base URL"
    )
    pagerduty_events_url: str = Field(
        default="https://events.pagerduty.com", description="PagerDuty Events API v2 base URL"
    )
    pagerduty_from_email: str | None = Field(
        default=None, description="the `From:` header of PagerDuty REST writes"
    )
    pagerduty_webhook_secret: str | None = Field(
        default=None,
        description="verifies `X-PagerDuty-Signature` on v3 webhooks; unset: "
        "`/webhooks/pagerduty` answers 404 (and pages are polled)",
    )
    oncall_cache_ttl: float = Field(
        default=300.0,
        description="seconds an `/oncall` answer is served from the cache; refreshed every "
        "half of it",
    )
    alertmanager_token: str | None = Field(
        default=None,
        description="the bearer token for `/alerts/alertmanager`; unset: the route answers 404",
    )
    port: int = Field(default=3000, description="the HTTP port (the sandbox's too)")
    host: str = Field(
        default="0.0.0.0",
        description="the address the bot listens on (the sandbox listens on 127.0.0.1 only)",
    )
    http_read_timeout: float = Field(
        default=10.0,
        gt=0,
        description="seconds a client has to send a request's headers, then its body (408)",
    )
    http_max_unauthenticated: int = Field(
        default=512,
        ge=1,
        description="requests that may be sending their body (not yet authenticated) at once; "
        "one more gets 503",
    )
    redis_timeout: float = Field(
        default=1.0,
        description='seconds Redis has to answer: a command gets its "store unreachable" '
        "reply within 3 s",
    )
    log_level: str = Field(
        default="INFO", description="`DEBUG`, `INFO`, `WARNING`, `ERROR` or `CRITICAL`"
    )
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="`json`: one JSON object a line, the incident id on every line of an "
        "incident's work (for a log pipeline to read)",
    )

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
