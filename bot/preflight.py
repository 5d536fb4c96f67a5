"""What the bot validates before it serves, in one place: the config file, the stakeholder
templates it names, the runbooks (shipped and `runbooks_dir`), the drill scenarios (shipped
and `drills.scenarios_dir`) against those runbooks, and the alert rules' runbooks.

Start-up (`build()`), `python -m bot check-config` and the doctor's config line all call
`preflight`/`verify`, so a file one of them accepts the others accept too. Each problem is
one line naming the file, the line and the key.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.core.config import ConfigError, IncidentConfig, load_config
from bot.core.yamlload import key_path, line_of
from bot.drills.scenarios import Scenario, default_drills_dir, load_scenarios
from bot.runbooks.library import Runbook, RunbookError, default_runbooks_dir, load_runbooks


@dataclass(frozen=True)
class Ready:
    """A set-up that passed: the config and what it refers to, loaded."""

    config: IncidentConfig
    runbooks: dict[str, Runbook]
    scenarios: dict[str, Scenario]


class SetupError(Exception):
    """The set-up would not start: one line a problem. `config`: the parsed config when
    the file itself is valid and only what it refers to is not."""

    def __init__(self, problems: list[str], config: IncidentConfig | None = None) -> None:
        super().__init__(problems)
        self.problems = problems
        self.config = config

    def __str__(self) -> str:
        if len(self.problems) == 1:
            return self.problems[0]
        return f"{len(self.problems)} problems:\n  " + "\n  ".join(self.problems)


def _lines(exc: Exception) -> list[str]:
    """The problem lines of a loader's error: after its header line ("N problem(s):"), one
    a line; a message without that header is one problem, put on one line."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if len(lines) > 1 and lines[0].endswith(":"):
        return lines[1:]
    return [" ".join(lines)]


class _Where:
    """`file:line: key` for a key path of the config file (just the key without one)."""

    def __init__(self, path: str | Path | None) -> None:
        self.file = Path(path) if path is not None else None
        try:
            self.root = yaml.compose(self.file.read_text()) if self.file is not None else None
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            self.root = None

    def __call__(self, loc: tuple[Any, ...], message: str) -> str:
        if self.file is None:
            return f"{key_path(loc)}: {message}"
        line = line_of(self.root, loc)
        where = f"{self.file}:{line}" if line else str(self.file)
        return f"{where}: {key_path(loc)}: {message}"


def preflight(path: str | Path | None) -> Ready:
    """Load the config file at `path` (None: the built-in defaults) and everything it
    refers to; SetupError listing every problem start-up would refuse."""
    try:
        config = load_config(path)
    except ConfigError as exc:
        raise SetupError(_lines(exc)) from None
    return verify(config, path)


def verify(config: IncidentConfig, path: str | Path | None = None) -> Ready:
    """Everything a parsed config refers to (`path`: its file, for the line numbers)."""
    from bot.stakeholders import check_templates

    where = _Where(path)
    problems = [where(loc, msg) for loc, msg in check_templates(config)]
    runbook_dirs = [default_runbooks_dir()]
    drill_dirs = [default_drills_dir()]
    for key, folder, dirs in (
        (("runbooks_dir",), config.runbooks_dir, runbook_dirs),
        (("drills", "scenarios_dir"), config.drills.scenarios_dir, drill_dirs),
    ):
        if folder is None:
            continue
        if folder.is_dir():
            dirs.append(folder)  # the team's own win over the shipped ones of the same id
        else:
            problems.append(where(key, f"no folder {str(folder)!r}"))
    try:
        runbooks = load_runbooks(*runbook_dirs, severities=config.severity_names)
    except RunbookError as exc:
        # the scenarios and rules name runbooks: checked against a broken set they would
        # report runbooks as missing that are only invalid
        problems += _lines(exc)
        raise SetupError(problems, config) from None
    for i, rule in enumerate(config.alerts.rules):
        if rule.runbook and rule.runbook not in runbooks:
            known = ", ".join(sorted(runbooks))
            loc = ("alerts", "rules", i, "runbook")
            problems.append(where(loc, f"no runbook {rule.runbook!r} (known: {known})"))
    scenarios: dict[str, Scenario] = {}
    try:
        scenarios = load_scenarios(*drill_dirs, runbooks=runbooks, severities=config.severity_names)
    except RunbookError as exc:  # ScenarioError
        problems += _lines(exc)
    if problems:
        raise SetupError(problems, config)
    return Ready(config=config, runbooks=runbooks, scenarios=scenarios)
