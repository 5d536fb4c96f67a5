"""The commands of `python -m bot`: serve (the sandbox without Slack tokens), sandbox,
check-config, check-runbooks, check-drills, doctor, config-reference.

Whatever stops the start is one line on stderr and exit code 2, never a traceback: an
invalid environment variable, a config that `check-config` would refuse (the same
function decides both: bot/preflight.py), a Redis that does not answer, a port in use.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import Counter
from pathlib import Path

import yaml
from pydantic import ValidationError

from bot.core.config import ConfigError, Settings, load_config
from bot.core.durations import format_duration
from bot.core.logs import setup_logging
from bot.core.yamlload import yaml_files
from bot.preflight import SetupError, preflight

CLI = "python -m bot"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=CLI, description="Slack incident-response bot")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser(
        "serve", help="run the bot (the default; the sandbox when no Slack tokens are set)"
    )
    sub.add_parser("sandbox", help="run the local sandbox even when Slack tokens are set")
    check_config = sub.add_parser(
        "check-config",
        help="validate a config file and all it refers to, exactly as start-up does",
    )
    check_config.add_argument("file", nargs="?", help="default: $INCIDENT_CONFIG")
    check_runbooks = sub.add_parser("check-runbooks", help="validate a folder of runbooks")
    check_runbooks.add_argument("dir", nargs="?", help="default: the shipped runbooks/")
    check_drills = sub.add_parser(
        "check-drills",
        help="validate a folder of drill scenarios (against the shipped runbooks and "
        "$INCIDENT_CONFIG's runbooks_dir)",
    )
    check_drills.add_argument("dir", nargs="?", help="default: the shipped drills/")
    sub.add_parser(
        "config-reference",
        help="print the configuration reference (docs/configuration.md) as Markdown",
    )
    doctor = sub.add_parser(
        "doctor",
        help="check the set-up (Slack, PagerDuty, Redis, config, clocks); exit 1 on a problem",
    )
    doctor.add_argument(
        "--timeout", type=float, default=5.0, help="seconds each check may take (default 5)"
    )
    return parser


def settings_problem(exc: ValidationError) -> str:
    """`PORT='abc': Input should be a valid integer…` for each invalid variable."""
    problems = []
    for err in exc.errors():
        name = "_".join(str(part) for part in err["loc"]).upper() or "environment"
        value = f"={err['input']!r}" if not isinstance(err["input"], dict) else ""
        problems.append(f"{name}{value}: {err['msg'].removeprefix('Value error, ')}")
    return "; ".join(problems)


def _fail(text: str) -> int:
    print(text, file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "config-reference":  # made from the models: needs no environment
        from bot.config_reference import reference_markdown

        print(reference_markdown(), end="")
        return 0
    try:
        settings = Settings()
    except ValidationError as exc:
        return _fail(f"Cannot start: invalid environment: {settings_problem(exc)}")
    setup_logging(settings.log_level, settings.log_format)
    if args.command == "check-config":
        return _check_config(args.file or settings.incident_config)
    if args.command == "doctor":  # before loading the config: the doctor reports on it
        return asyncio.run(_doctor(settings, args.timeout))
    if args.command == "check-runbooks":
        return _check_runbooks(Path(args.dir) if args.dir else None, settings)
    if args.command == "check-drills":
        return _check_drills(Path(args.dir) if args.dir else None, settings)
    return _start(settings, sandbox=args.command == "sandbox")


def _start(settings: Settings, *, sandbox: bool) -> int:
    try:
        ready = preflight(settings.incident_config)
    except SetupError as exc:
        return _fail(f"Cannot start: {exc}")

    if sandbox or not settings.has_slack_tokens:
        try:
            from bot.sandbox import run_sandbox
        except ImportError:
            return _fail(
                "SLACK_BOT_TOKEN is not set (and SLACK_APP_TOKEN neither): set them to run the "
                "bot against Slack. The local sandbox is not available in this build."
            )
        try:
            return asyncio.run(run_sandbox(settings, ready.config))
        except SetupError as exc:  # the sandbox's demo additions to the config, checked
            return _fail(f"Cannot start: {exc}")

    missing = []
    if not settings.slack_bot_token:
        missing.append("SLACK_BOT_TOKEN")
    if not settings.slack_app_token and not settings.slack_signing_secret:
        missing.append(
            "SLACK_SIGNING_SECRET (HTTP mode checks every request from Slack with it; a blank "
            "value counts as unset) or SLACK_APP_TOKEN for Socket Mode"
        )
    if missing:
        return _fail(f"Cannot start: set {' and '.join(missing)}.")

    from bot.server import CannotStart, build, serve

    bot = build(settings, ready.config, ready=ready)
    try:
        asyncio.run(serve(bot, settings))
    except CannotStart as exc:
        return _fail(f"Cannot start: {exc}")
    return 0


async def _doctor(settings: Settings, seconds: float) -> int:
    """Build the parts the bot would use, run every check, print the checklist."""
    from bot.core.slack import Slack, make_client
    from bot.core.store import Store
    from bot.doctor import Setup, exit_code, report_text, run_checks
    from bot.server import connect_redis, make_pagerduty

    redis = connect_redis(settings)
    token = settings.slack_bot_token
    slack = Slack(make_client(token, settings.slack_api_url)) if token else None
    # A PagerDuty call runs in a thread a timeout cannot stop: bound it by the check's.
    pagerduty = make_pagerduty(settings, timeout=max(0.5, seconds / 2))
    print(f"Checking the incident bot's set-up ({settings.incident_config or 'built-in config'})")
    try:
        results = await run_checks(
            Setup(settings=settings, store=Store(redis), slack=slack, pagerduty=pagerduty),
            per_check=seconds,
        )
    finally:
        await redis.aclose()
        await redis.connection_pool.disconnect()
    print(report_text(results))
    return exit_code(results)


def _check_config(path: str | None) -> int:
    """What start-up checks, and the procedure the file sets up. 0 valid, 1 not."""
    label = path or "built-in defaults"
    try:
        ready = preflight(path)
    except SetupError as exc:
        print(
            f"{label}: invalid, the bot would not start ({len(exc.problems)} problem(s)):\n  "
            + "\n  ".join(exc.problems),
            file=sys.stderr,
        )
        return 1
    from bot.procedure import procedure_text

    print(
        f"{label}: valid ({len(ready.runbooks)} runbooks, {len(ready.scenarios)} drill scenarios)\n"
    )
    print(procedure_text(ready.config))
    return 0


# -- folders of runbooks and of drill scenarios ---------------------------------------------


def folder_kind(directory: Path) -> str | None:
    """ "runbooks" or "drills" by what most of its YAML files hold (`phases:` or
    `script:`), None when it tells neither."""
    kinds: Counter[str] = Counter()
    for file in yaml_files(directory):
        try:
            data = yaml.safe_load(file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue
        if isinstance(data, dict) and ("script" in data) != ("phases" in data):
            kinds["drills" if "script" in data else "runbooks"] += 1
    return kinds.most_common(1)[0][0] if kinds else None


def _wrong_folder(directory: Path, kind: str) -> int:
    if kind == "drills":
        print(
            f"{directory}: a folder of drill scenarios (their files have script:), not "
            f"runbooks; check it with `{CLI} check-drills {directory}`"
        )
    else:
        print(
            f"{directory}: a folder of runbooks (their files have phases:), not drill "
            f"scenarios; check it with `{CLI} check-runbooks {directory}`"
        )
    return 2


def _check_runbooks(directory: Path | None, settings: Settings) -> int:
    from bot.runbooks.library import check_runbooks

    if directory is not None and directory.is_dir() and folder_kind(directory) == "drills":
        return _wrong_folder(directory, "drills")
    try:  # a team's runbook names severities and roles the configuration has
        config = load_config(settings.incident_config)
    except ConfigError as exc:
        print(f"error  cannot check the runbooks against the configuration: {exc}")
        return 1
    code, report = check_runbooks(directory, severities=config.severity_names, roles=config.roles)
    print(report)
    return code


def _check_drills(directory: Path | None, settings: Settings) -> int:
    """Validate a folder of scenarios against the runbooks they may name: the shipped
    ones and INCIDENT_CONFIG's runbooks_dir. 0 all valid, 1 a problem, 2 no such folder."""
    from bot.drills.scenarios import ScenarioError, default_drills_dir, load_scenarios
    from bot.runbooks.library import RunbookError, default_runbooks_dir, load_runbooks

    directory = directory or default_drills_dir()
    if not directory.is_dir():
        print(f"{directory}: drill scenarios folder not found")
        return 2
    if folder_kind(directory) == "runbooks":
        return _wrong_folder(directory, "runbooks")
    dirs = [default_runbooks_dir()]
    try:
        config = load_config(settings.incident_config)
        if config.runbooks_dir is not None:
            dirs.append(config.runbooks_dir)
        runbooks = load_runbooks(*dirs, severities=config.severity_names, roles=config.roles)
    except (ConfigError, RunbookError) as exc:
        print(f"error  cannot check the scenarios against their runbooks: {exc}")
        return 1
    try:
        scenarios = load_scenarios(directory, runbooks=runbooks, severities=config.severity_names)
    except ScenarioError as exc:
        errors = str(exc).splitlines()[1:]
        print(
            "\n".join(
                [*(f"error  {e}" for e in errors), f"{len(errors)} problem(s) in {directory}"]
            )
        )
        return 1
    if not scenarios:
        print(f"{directory}: no drill scenarios (*.yaml) found")
        return 1
    lines = [
        f"ok     {sid}: {s.title} ({s.severity}, runbook {s.runbook or 'none'}, "
        f"{len(s.script)} script steps in {format_duration(s.time_limit)})"
        for sid, s in sorted(scenarios.items())
    ]
    print("\n".join([*lines, f"{len(scenarios)} valid, 0 problem(s) in {directory}"]))
    return 0
