"""Runbook files: their models, loading, validation and matching to incidents.

A runbook is data (`runbooks/<id>.yaml`): phases of steps a responder ticks off in the
incident channel. This module reads and validates those files (the shipped defaults and
a team's own `runbooks_dir`), ranks them for an incident, and defines the per-step state
the bot keeps. It knows nothing of Redis or Slack.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from bot.core import yamlload
from bot.core.config_names import role_name, target_kind
from bot.core.config_sections import DEFAULT_ROLES
from bot.core.durations import Duration
from bot.core.models import StepState
from bot.core.severity import DEFAULT_NAMES, resolve_severity, severity_problem

PhaseId = Literal[
    "symptoms",
    "immediate",
    "investigation",
    "mitigation",
    "recovery",
    "validation",
    "post_incident",
]

PHASE_TITLES: dict[str, str] = {
    "symptoms": "Symptoms",
    "immediate": "Immediate actions (first 5 minutes)",
    "investigation": "Investigation",
    "mitigation": "Mitigation (pick one option)",
    "recovery": "Recovery",
    "validation": "Validation",
    "post_incident": "Post-incident",
}

# Lengths are capped here, at load time, so that every valid runbook renders within
# Slack's Block Kit limits (3000 characters a section) and authors learn it early.
MAX_TEXT = 1000
MAX_COMMAND = 1500
MAX_TITLE = 120
# a checklist is one Slack message (blocks/runbooks.py): 50 blocks hold about 330 steps
MAX_STEPS = 200

_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
# Step ids travel in button values as `<run id>|<step id>`, so no `|` and kept short.
_STEP_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
_ROLE = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
_SLACK_ID = re.compile(r"^[UWSCG][A-Z0-9]{2,}$")
_LINK = re.compile(r"^https?://[^\s<>|]{1,500}$")


def known_severity(value: str, info: ValidationInfo) -> str:
    """A file's severity as a configured name: the configured ones come in the validation
    context (`severities`, worst first), else the built-in SEV1-SEV4."""
    names = (info.context or {}).get("severities") or DEFAULT_NAMES
    name = resolve_severity(value, names)
    if name is None:
        raise PydanticCustomError(
            "severity", "{problem}", {"problem": severity_problem(value, names)}
        )
    return name


def _text(value: str) -> str:
    value = value.strip()
    if not value:
        raise PydanticCustomError("empty", "must not be empty", {})
    return value


Text = Annotated[str, BeforeValidator(lambda v: _text(v) if isinstance(v, str) else v)]


class _Strict(BaseModel):
    # Unknown keys are typos ("comand:") that would silently drop content.
    model_config = ConfigDict(extra="forbid", frozen=True)


class Step(_Strict):
    id: str
    text: Annotated[Text, Field(max_length=MAX_TEXT)]
    command: Annotated[str | None, Field(max_length=MAX_COMMAND)] = None
    link: str | None = None
    owner: str | None = None  # a role the config defines: commander, tech_lead, ...

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not _STEP_ID.match(value):
            raise PydanticCustomError(
                "step_id",
                "step id {value} must be lowercase letters, digits, - _ .",
                {"value": repr(value)},
            )
        return value

    @field_validator("command")
    @classmethod
    def _command(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip("\n").rstrip()
        if not value.strip():
            raise PydanticCustomError("empty", "must not be empty (leave it out instead)", {})
        return value

    @field_validator("link")
    @classmethod
    def _link(cls, value: str | None) -> str | None:
        if value is not None and not _LINK.match(value):
            raise PydanticCustomError(
                "link",
                "{value} is not an http(s) URL (up to 500 characters, no spaces, <, > or |)",
                {"value": repr(value)},
            )
        return value

    @field_validator("owner")
    @classmethod
    def _owner(cls, value: str | None) -> str | None:
        if value is not None and not _ROLE.match(value):
            raise PydanticCustomError(
                "role", "owner {value} must be a role name like tech_lead", {"value": repr(value)}
            )
        return value


class Phase(_Strict):
    id: PhaseId
    title: Annotated[Text, Field(max_length=MAX_TITLE)]
    steps: Annotated[list[Step], Field(min_length=1)]

    @model_validator(mode="before")
    @classmethod
    def _default_title(cls, data: Any) -> Any:
        # An unknown id still gets a title, so its one error is not joined by a second.
        if isinstance(data, dict) and "title" not in data:
            phase_id = data.get("id")
            return {**data, "title": PHASE_TITLES.get(str(phase_id), str(phase_id))}
        return data


class RunbookEscalation(_Strict):
    after: Duration
    to: Annotated[list[str], Field(min_length=1)]
    note: str = ""

    @field_validator("to", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("to")
    @classmethod
    def _targets(cls, value: list[str]) -> list[str]:
        for target in value:
            if not (_SLACK_ID.match(target) or _ROLE.match(target)):
                raise PydanticCustomError(
                    "target",
                    "{target} is neither a Slack user/group/channel ID (U…, S…, C…) "
                    "nor a role name",
                    {"target": repr(target)},
                )
        return value


def _derive_step_ids(data: Any) -> Any:
    """Steps without an id get `p<phase>-s<step>` (1-based), stable while the file is."""
    if not isinstance(data, dict) or not isinstance(data.get("phases"), list):
        return data
    phases = []
    for p, phase in enumerate(data["phases"], start=1):
        if isinstance(phase, dict) and isinstance(phase.get("steps"), list):
            steps = [
                {"id": f"p{p}-s{s}", **step} if isinstance(step, dict) else step
                for s, step in enumerate(phase["steps"], start=1)
            ]
            phase = {**phase, "steps": steps}
        phases.append(phase)
    return {**data, "phases": phases}


class Runbook(_Strict):
    id: str
    title: Annotated[Text, Field(max_length=MAX_TITLE)]
    alerts: list[str] = []
    severity: str = "SEV3"
    rto: Duration | None = None
    stakeholders: list[str] = []
    summary: str = ""
    phases: Annotated[list[Phase], Field(min_length=1)]
    escalate: RunbookEscalation | None = None

    @model_validator(mode="before")
    @classmethod
    def _default_step_ids(cls, data: Any) -> Any:
        return _derive_step_ids(data)

    @field_validator("id")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not _SLUG.match(value) or len(value) > 64:
            raise PydanticCustomError(
                "slug", "id {value} must be a slug like database-down", {"value": repr(value)}
            )
        return value

    @field_validator("severity")
    @classmethod
    def _severity(cls, value: str, info: ValidationInfo) -> str:
        return known_severity(value, info)

    @model_validator(mode="after")
    def _known_roles(self, info: ValidationInfo) -> Runbook:
        """Step owners and escalation roles must be roles the config defines (those come in
        the validation context, `roles`; else the built-in ones)."""
        roles = (info.context or {}).get("roles") or DEFAULT_ROLES
        named: list[tuple[yamlload.Loc, str]] = [
            (("phases", p, "steps", s, "owner"), step.owner)
            for p, phase in enumerate(self.phases)
            for s, step in enumerate(phase.steps)
            if step.owner
        ]
        if self.escalate:
            named += [
                (("escalate", "to", i), target)
                for i, target in enumerate(self.escalate.to)
                if target_kind(target) == "role"
            ]
        known = ", ".join(roles)
        unknown = [
            (loc, f"unknown role {role!r} (roles: {known})")
            for loc, role in named
            if role_name(role) not in roles
        ]
        if unknown:
            raise yamlload.problems(unknown)
        return self

    @model_validator(mode="after")
    def _unique(self) -> Runbook:
        seen_phases: set[str] = set()
        seen_steps: dict[str, str] = {}
        for p, phase in enumerate(self.phases):
            if phase.id in seen_phases:
                raise yamlload.problems([(("phases", p), f"phase {phase.id!r} appears twice")])
            seen_phases.add(phase.id)
            for s, step in enumerate(phase.steps):
                where = f"phases[{p}].steps[{s}]"
                if step.id in seen_steps:
                    raise yamlload.problems(
                        [
                            (
                                ("phases", p, "steps", s),
                                f"duplicate step id, already used by {seen_steps[step.id]}",
                            )
                        ]
                    )
                seen_steps[step.id] = where
        return self

    @field_validator("phases")
    @classmethod
    def _not_too_many_steps(cls, phases: list[Phase]) -> list[Phase]:
        if sum(len(p.steps) for p in phases) > MAX_STEPS:
            raise PydanticCustomError(
                "steps", "at most {most} steps in a runbook", {"most": MAX_STEPS}
            )
        return phases

    def steps(self) -> list[Step]:
        """Every step, in the order a responder meets them."""
        return [step for phase in self.phases for step in phase.steps]


StepAction = Literal["done", "skip", "take", "undo"]
STEP_ACTIONS: tuple[StepAction, ...] = ("done", "skip", "take", "undo")


def next_step_state(
    state: StepState, action: StepAction, *, user: str, at: int
) -> StepState | None:
    """What a click does to a step, or None when it changes nothing.

    Clicks come from messages that may be a moment stale, so each action says what the
    clicker wants rather than toggling: Done on a finished step, Undo on an open one, or
    "I'm on it" by the person already on it change nothing (and make no timeline entry).
    Undo reopens a step; taking a step someone else has taken hands it over.
    """
    if action in ("done", "skip"):
        if state.status in ("done", "skipped"):
            return None
        return StepState(status="done" if action == "done" else "skipped", by=user, at=at)
    if action == "take":
        if state.status in ("done", "skipped") or (state.status == "taken" and state.by == user):
            return None
        return StepState(status="taken", by=user, at=at)
    if state.status in ("done", "skipped"):
        return StepState()
    return None


class RunbookError(Exception):
    """Invalid runbook file(s); the message has one line a problem: file, step, problem."""


# -- loading -----------------------------------------------------------------------


def default_runbooks_dir() -> Path:
    """The runbooks shipped with the bot: `<repo>/runbooks` (this file is `<repo>/bot/…`)."""
    return Path(__file__).resolve().parents[2] / "runbooks"


def _describe(loc: tuple[Any, ...], data: Any) -> tuple[str, str]:
    """('phases[1].steps[3] (p2-s4)', 'text') from a pydantic error location."""
    where: list[str] = []
    field: list[str] = []
    node = _derive_step_ids(data)
    i = 0
    while i < len(loc):
        key = loc[i]
        nxt = loc[i + 1] if i + 1 < len(loc) else None
        if key in ("phases", "steps") and isinstance(nxt, int) and not field:
            where.append(f"{key}[{nxt}]")
            node = node.get(key) if isinstance(node, dict) else None
            node = node[nxt] if isinstance(node, list) and nxt < len(node) else None
            i += 2
            continue
        field.append(str(key) if not isinstance(key, int) else f"[{key}]")
        i += 1
    label = ".".join(where)
    if where and where[-1].startswith("steps[") and isinstance(node, dict) and "id" in node:
        label += f" ({node['id']})"
    return label, ".".join(field).replace(".[", "[")


Names = Sequence[str] | None


def _parse(file: Path, severities: Names, roles: Names) -> tuple[Runbook | None, list[str]]:
    return yamlload.load(
        file,
        Runbook,
        context={"severities": severities, "roles": roles},
        shape=" (id:, title:, phases: ...)",
        named=True,
        describe=lambda loc, data: ": ".join(p for p in _describe(loc, data) if p),
    )


def load_runbook_file(path: Path, *, severities: Names = None, roles: Names = None) -> Runbook:
    runbook, errors = _parse(path, severities, roles)
    if runbook is None:
        raise RunbookError("\n".join(errors))
    return runbook


def _load(
    dirs: Iterable[Path], severities: Names, roles: Names
) -> tuple[dict[str, Runbook], list[str], dict[str, Path]]:
    runbooks: dict[str, Runbook] = {}
    origin: dict[str, Path] = {}
    errors: list[str] = []
    # the shipped runbooks are written for the built-in severities and roles (like the
    # built-in alert rules); a team's own name the configured ones
    found = yamlload.folders(dirs, what="runbooks", shipped=default_runbooks_dir(), errors=errors)
    for files, shipped in found:
        in_this_dir: dict[str, Path] = {}
        for file in files:
            if shipped:
                runbook, problems = _parse(file, None, None)
            else:
                runbook, problems = _parse(file, severities, roles)
            errors += problems
            if runbook is None:
                continue
            if runbook.id in in_this_dir:
                errors.append(
                    f"{file}: id {runbook.id!r} already defined in {in_this_dir[runbook.id]}"
                )
                continue
            in_this_dir[runbook.id] = file
            runbooks[runbook.id] = runbook  # a later folder overrides an earlier one
            origin[runbook.id] = file
    return runbooks, errors, origin


def load_runbooks(*dirs: Path, severities: Names = None, roles: Names = None) -> dict[str, Runbook]:
    """All runbooks in `dirs`, by id; a later folder wins on the same id. `severities`
    and `roles`: the configured names a team's runbook's severity, step owners and
    escalation roles must be among (default and for the shipped runbooks: SEV1-SEV4 and
    the built-in roles).

    Raises RunbookError listing every problem in every file, so one start-up shows all.
    """
    runbooks, errors, _ = _load(dirs, severities, roles)
    if errors:
        raise RunbookError(f"{len(errors)} runbook problem(s):\n" + "\n".join(errors))
    return runbooks


def check_runbooks(
    directory: Path | None, *, severities: Names = None, roles: Names = None
) -> tuple[int, str]:
    """Validate a runbooks folder (default: the shipped one) against the configured
    severities and roles (as load_runbooks does): exit code and a report.

    0 all valid, 1 a file is invalid or there is nothing to check, 2 no such folder.
    """
    directory = directory or default_runbooks_dir()
    if not directory.is_dir():
        return 2, f"{directory}: runbooks folder not found"
    runbooks, errors, origin = _load([directory], severities, roles)
    shipped = {f.stem for f in yamlload.yaml_files(default_runbooks_dir())}
    lines = []
    for rid in sorted(runbooks):
        book = runbooks[rid]
        note = ""
        if rid in shipped and directory.resolve() != default_runbooks_dir().resolve():
            note = " (overrides the shipped runbook)"
        lines.append(f"ok     {origin[rid].name}: {book.title} ({len(book.steps())} steps){note}")
    lines += [f"error  {e}" for e in errors]
    if not runbooks and not errors:
        return 1, f"{directory}: no runbooks (*.yaml) found"
    summary = f"{len(runbooks)} valid, {len(errors)} problem(s) in {directory}"
    return (1 if errors else 0), "\n".join([*lines, summary])


# -- matching ----------------------------------------------------------------------

# Words too common in incident titles to say which runbook fits.
_STOP = frozenset(
    {"a", "an", "and", "are", "at", "be", "by", "for", "from", "in", "is", "it", "of", "on"}
    | {"or", "our", "the", "to", "too", "with", "high", "low", "incident", "issue", "problem"}
    | {"sev1", "sev2", "sev3", "sev4", "return", "get", "got", "see", "seeing", "all", "some"}
)
# What a responder types for the same thing, read as one word: "Checkout returns 500s" is
# the 5xx runbook's, "API unreachable" a service down, "slow" the latency one.
_SAME = {
    **dict.fromkeys(["500", "502", "503", "504", "5xx", "http5xx"], "5xx"),
    **dict.fromkeys(["error", "erroring", "fail", "failing", "failure", "exception"], "error"),
    **dict.fromkeys(["down", "outage", "unavailable", "unreachable", "offline"], "down"),
    **dict.fromkeys(["slow", "latency", "timeout", "timing", "lag", "lagging"], "latency"),
    **dict.fromkeys(["disk", "volume", "storage"], "disk"),
    **dict.fromkeys(["database", "postgre", "postgres", "mysql", "db"], "database"),
    **dict.fromkeys(["deploy", "deployment", "release", "rollout"], "deploy"),
}


def _words(text: str) -> set[str]:
    # Split camelCase alert names too: HighErrorRate -> high, error, rate.
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", text)
    found = (w.removesuffix("s") for w in re.findall(r"[a-z0-9]+", spaced.lower()))
    return {_SAME.get(w, w) for w in found if (len(w) > 2 or w in _SAME) and w not in _STOP}


SUGGESTED = 3  # at most this many runbooks are suggested for an incident
Fit = tuple[int, int, int, int, int]


def runbook_fit(
    book: Runbook,
    *,
    alertname: str | None,
    title: str,
    description: str = "",
    severity: str | None = None,
) -> Fit:
    """How well a runbook fits an incident, compared as a tuple (larger fits better): it is
    the runbook of the incident's alert; the words its title, id and alerts share with the
    incident's title; the words it shares, its summary included, with the title and the
    description; of runbooks named alike, the one whose name says least else (a title
    "Checkout is down" is a service down before a database down); the same severity."""
    alert = (alertname or "").strip().lower()
    names = _words(" ".join([book.title, book.id.replace("-", " "), *book.alerts]))
    told = _words(title)
    about = told | _words(description)
    return (
        int(bool(alert) and alert in (a.lower() for a in book.alerts)),
        len(told & names),
        len(about & (names | _words(book.summary))),
        -len(names - told) if told & names else 0,  # the closest name: "Service down"
        int(book.severity == severity),
    )


def _scored(
    runbooks: Iterable[Runbook],
    alertname: str | None,
    title: str,
    description: str,
    severity: str | None,
) -> list[tuple[Fit, Runbook]]:
    """Each runbook with its fit, best first, then by id: the order never depends on the
    input order."""
    scored = [
        (
            runbook_fit(
                book, alertname=alertname, title=title, description=description, severity=severity
            ),
            book,
        )
        for book in runbooks
    ]
    return sorted(scored, key=lambda fb: (*(-f for f in fb[0]), fb[1].id))


def rank_runbooks(
    runbooks: Iterable[Runbook],
    *,
    alertname: str | None,
    title: str,
    description: str = "",
    severity: str | None = None,
) -> list[Runbook]:
    """Runbooks for an incident, the best fit (`runbook_fit`) first."""
    return [book for _, book in _scored(runbooks, alertname, title, description, severity)]


def suggest_runbooks(
    runbooks: Iterable[Runbook],
    *,
    alertname: str | None,
    title: str,
    description: str = "",
    severity: str | None = None,
) -> tuple[list[Runbook], list[Runbook]]:
    """(suggested, the others), each ranked as `rank_runbooks` does: up to SUGGESTED
    runbooks that fit by the incident's alert or by words (a severity alone suggests
    nothing), then the rest."""
    scored = _scored(runbooks, alertname, title, description, severity)
    fits = [book for fit, book in scored[:SUGGESTED] if any(fit[:3])]
    return fits, [book for _, book in scored[len(fits) :]]
