"""`python -m bot [sandbox | check-runbooks [DIR] | check-config [FILE] | doctor]`."""

from __future__ import annotations

import argparse
import asyncio
import sys

from bot.config import ConfigError, Settings, load_config
from bot.logs import setup_logging


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bot", description="Slack incident-response bot"
    )
    sub = parser.add_subparsers(dest="command")
    sub.add_parser(
        "serve", help="run the bot (the default; the sandbox when no Slack tokens are set)"
    )
    sub.add_parser("sandbox", help="run the local sandbox even when Slack tokens are set")
    check_config = sub.add_parser("check-config", help="validate a config file")
    check_config.add_argument("file", nargs="?")
    check_runbooks = sub.add_parser("check-runbooks", help="validate a folder of runbooks")
    check_runbooks.add_argument("dir", nargs="?")
    doctor = sub.add_parser(
        "doctor",
        help="check the set-up (Slack, PagerDuty, Redis, config, clocks); exit 1 on a problem",
    )
    doctor.add_argument(
        "--timeout", type=float, default=5.0, help="seconds each check may take (default 5)"
    )
    args = parser.parse_args(argv)

    settings = Settings()
    setup_logging(settings.log_level)
    if args.command == "check-config":
        return _check_config(args.file or settings.incident_config)
    if args.command == "doctor":  # before loading the config: the doctor reports on it
        return asyncio.run(_doctor(settings, args.timeout))
    if args.command == "check-runbooks":
        from pathlib import Path

        from bot.runbooks import check_runbooks as check

        try:  # a runbook's severity must be one the configuration names
            names = load_config(settings.incident_config).severity_names
        except ConfigError as exc:
            print(f"Cannot check the runbooks: {exc}", file=sys.stderr)
            return 2
        code, report = check(Path(args.dir) if args.dir else None, severities=names)
        print(report)
        return code

    try:
        config = load_config(settings.incident_config)
    except ConfigError as exc:
        print(f"Cannot start: {exc}", file=sys.stderr)
        return 2

    if args.command == "sandbox" or not settings.has_slack_tokens:
        try:
            from bot.sandbox import run_sandbox
        except ImportError:
            print(
                "SLACK_BOT_TOKEN is not set (and SLACK_APP_TOKEN neither): set them to run the "
                "bot against Slack. The local sandbox is not available in this build.",
                file=sys.stderr,
            )
            return 2
        from bot.runbooks import RunbookError

        try:
            return asyncio.run(run_sandbox(settings, config))
        except RunbookError as exc:  # a broken runbook stops the sandbox as it stops the bot
            print(f"Cannot start: {exc}", file=sys.stderr)
            return 2

    missing = []
    if not settings.slack_bot_token:
        missing.append("SLACK_BOT_TOKEN")
    if not settings.slack_app_token and not settings.slack_signing_secret:
        missing.append(
            "SLACK_SIGNING_SECRET (HTTP mode checks every request from Slack with it; a blank "
            "value counts as unset) or SLACK_APP_TOKEN for Socket Mode"
        )
    if missing:
        print(f"Cannot start: set {' and '.join(missing)}.", file=sys.stderr)
        return 2

    from bot.runbooks import RunbookError
    from bot.server import build, serve

    try:
        bot = build(settings, config)
    except RunbookError as exc:
        print(f"Cannot start: {exc}", file=sys.stderr)
        return 2
    asyncio.run(serve(bot, settings))
    return 0


async def _doctor(settings: Settings, seconds: float) -> int:
    """Build the parts the bot would use, run every check, print the checklist."""
    from bot.doctor import Setup, exit_code, report_text, run_checks
    from bot.server import connect_redis, make_pagerduty
    from bot.slack import Slack, make_client
    from bot.store import Store

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
    try:
        config = load_config(path)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    from bot.procedure import procedure_text
    from bot.stakeholders import check_templates

    # templates render against sample incidents, undefined names failing (a typo in review,
    # not an empty line in a status page post)
    problems = check_templates(config)
    if problems:
        print(f"{path}: stakeholder templates fail:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    print(f"{path or 'built-in defaults'}: valid\n")
    print(procedure_text(config))
    return 0


if __name__ == "__main__":
    sys.exit(main())
