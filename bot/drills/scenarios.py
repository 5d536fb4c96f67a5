"""Game-day drill scenarios (`drills/*.yaml`, and a team's own `drills.scenarios_dir`): their
models, and loading and validating them at start-up and in `check-drills`, one precise
`file:line: key: problem` line a problem, like runbooks. Played by bot/drills/."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from bot.alerts import DRILL_LABEL
from bot.core import yamlload
from bot.core.durations import Delay, Duration, format_duration
from bot.runbooks.library import PHASE_TITLES, Runbook, RunbookError, known_severity

STANDARD_TARGETS = ("acknowledge", "first_update", "resolve")
_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_ALERTNAME = re.compile(r"^[A-Za-z_:][A-Za-z0-9_:]*$")
_LABEL = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ScenarioError(RunbookError):
    """Invalid scenario file(s): one line a problem, `file:line: key: problem`. A kind of
    RunbookError, so start-up stops on it exactly as it does on a broken runbook."""


class _Strict(BaseModel):
    # unknown keys are typos ("mesage:") that would silently drop a step
    model_config = ConfigDict(extra="forbid", frozen=True)


class ScriptAlert(_Strict):
    """A synthetic alert, as Alertmanager would send it."""

    alertname: str
    status: Literal["firing", "resolved"] = "firing"
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)  # summary, description, ...

    @field_validator("labels", "annotations", mode="before")
    @classmethod
    def _as_text(cls, values: Any) -> Any:
        # YAML reads `code: 500` as a number; Alertmanager's labels are strings
        if isinstance(values, dict):
            return {
                k: str(v) if isinstance(v, int | float) and not isinstance(v, bool) else v
                for k, v in values.items()
            }
        return values

    @field_validator("alertname")
    @classmethod
    def _alertname(cls, value: str) -> str:
        if not _ALERTNAME.match(value):
            raise ValueError(f"{value!r} is not an alert name (letters, digits, _ and :)")
        return value

    @field_validator("labels")
    @classmethod
    def _labels(cls, labels: dict[str, str]) -> dict[str, str]:
        for name in labels:
            if not _LABEL.match(name):
                raise ValueError(f"{name!r} is not a label name (letters, digits and _)")
            if name in ("alertname", DRILL_LABEL):
                raise ValueError(f"the label {name!r} is set by the bot; leave it out")
        return labels


class ScriptStep(_Strict):
    """One event of the script: `at` after the start, an alert or a message."""

    at: Delay
    alert: ScriptAlert | None = None
    message: Annotated[str, Field(min_length=1, max_length=2000)] | None = None

    @model_validator(mode="after")
    def _one(self) -> ScriptStep:
        if (self.alert is None) == (self.message is None):
            raise ValueError("a step has either alert: or message: (one of them)")
        return self


class Scenario(_Strict):
    id: str
    title: Annotated[str, Field(min_length=1, max_length=120)]
    severity: str = "SEV2"
    summary: str = ""  # what the players read at the start
    runbook: str | None = None  # posted as the checklist; its phases are timed
    time_limit: Duration = timedelta(minutes=30)
    # acknowledge, first_update, resolve, or a phase id of the runbook -> a duration
    targets: dict[str, Duration] = Field(default_factory=dict)
    script: Annotated[list[ScriptStep], Field(min_length=1)]

    @field_validator("id")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not _SLUG.match(value) or len(value) > 64:
            raise ValueError(f"id {value!r} must be a slug like latency-spike")
        return value

    @field_validator("severity")
    @classmethod
    def _severity(cls, value: str, info: ValidationInfo) -> str:
        return known_severity(value, info)

    @field_validator("targets")
    @classmethod
    def _target_names(cls, targets: dict[str, Any]) -> dict[str, Any]:
        allowed = (*STANDARD_TARGETS, *PHASE_TITLES)
        for name in targets:
            if name not in allowed:
                raise ValueError(
                    f"unknown target {name!r} (use {', '.join(STANDARD_TARGETS)} or a runbook "
                    f"phase: {', '.join(PHASE_TITLES)})"
                )
        return targets

    @model_validator(mode="after")
    def _within_time_limit(self) -> Scenario:
        for i, step in enumerate(self.script):
            if step.at >= self.time_limit:
                raise yamlload.problems(
                    [
                        (
                            ("script", i, "at"),
                            f"{format_duration(step.at)} is not before the time limit "
                            f"({format_duration(self.time_limit)})",
                        )
                    ]
                )
        return self

    @model_validator(mode="after")
    def _runbook_known(self, info: ValidationInfo) -> Scenario:
        """With the runbooks in the validation context (`runbooks`): the runbook exists and
        has the phases the targets name."""
        runbooks: Mapping[str, Runbook] | None = (info.context or {}).get("runbooks")
        if runbooks is None:
            return self
        problems: list[yamlload.Problem] = []
        runbook = runbooks.get(self.runbook) if self.runbook else None
        if self.runbook and runbook is None:
            known = ", ".join(sorted(runbooks)) or "none"
            problems.append((("runbook",), f"no runbook {self.runbook!r} (known: {known})"))
        phases = {p.id for p in runbook.phases} if runbook else set()
        for name in self.targets:
            if name in STANDARD_TARGETS or (runbook is None and self.runbook):
                continue
            if runbook is None:
                problems.append(
                    (("targets", name), "a phase target needs a runbook: give runbook:")
                )
            elif name not in phases:
                problems.append((("targets", name), f"runbook {runbook.id} has no {name} phase"))
        if problems:
            raise yamlload.problems(problems)
        return self

    @property
    def duration(self) -> float:
        return self.time_limit.total_seconds()


def default_drills_dir() -> Path:
    """The scenarios shipped with the bot: `<repo>/drills` (this file is `<repo>/bot/drills/…`)."""
    return Path(__file__).resolve().parents[2] / "drills"


def load_scenarios(
    *dirs: Path, runbooks: Mapping[str, Runbook], severities: Sequence[str] | None = None
) -> dict[str, Scenario]:
    """Every scenario in `dirs`, by id (a later folder wins on the same id), checked against
    the runbooks and the configured severity names (default and for the shipped scenarios:
    SEV1-SEV4). Raises
    ScenarioError listing every problem of every file, so one start-up shows them all."""
    scenarios: dict[str, Scenario] = {}
    errors: list[str] = []
    # the shipped scenarios are written for the built-in severities (a drill of a severity
    # not configured plays at the mildest one); a team's own name configured ones
    found = yamlload.folders(
        dirs, what="drill scenarios", shipped=default_drills_dir(), errors=errors
    )
    for files, shipped in found:
        for file in files:
            scenario, problems = yamlload.load(
                file,
                Scenario,
                shape=" (id:, title:, script: ...)",
                named=True,
                context={"runbooks": runbooks, "severities": None if shipped else severities},
            )
            errors += problems
            if scenario is not None:
                scenarios[scenario.id] = scenario
    if errors:
        raise ScenarioError(f"{len(errors)} drill scenario problem(s):\n" + "\n".join(errors))
    return scenarios
