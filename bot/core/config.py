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
from typing import Any

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
    PermissionsConfig,
    PostmortemConfig,
    PrivateConfig,
    RateLimit,
    RemindersConfig,
    RoleSpec,
    SchedulerConfig,
    Severity,
    StakeholderAudience,
    _default_severities,
    _Strict,
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
