"""Which checks this set-up gets, in report order (`plan`), and running them: all at
once, each under its own timeout, so one hanging dependency costs its own lines a timeout
and nothing else, and one broken check costs only its own line."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from functools import partial

from bot.core.logs import redact_url
from bot.core.models import CheckResult
from bot.doctor.clock import check_pd_clock, check_slack_clock
from bot.doctor.config import check_config, check_runbooks
from bot.doctor.context import DEFAULT_TIMEOUT, Check, CheckFn, Context, Line, Setup
from bot.doctor.pagerduty import (
    PD_UNREACHABLE,
    check_pd_from,
    check_pd_off,
    check_pd_policy,
    check_pd_schedule,
    check_pd_service,
    check_pd_token,
)
from bot.doctor.slack import (
    SLACK_UNREACHABLE,
    check_signing_secret,
    check_slack_scopes,
    check_slack_token,
    check_socket_mode,
)
from bot.doctor.store import check_redis, check_redis_persistence, check_store_continuity
from bot.doctor.targets import check_unknown_channels, target_checks

log = logging.getLogger("bot.doctor")  # the checklist logs as one, whichever file runs it


def plan(ctx: Context) -> list[Check]:
    """The checks for this set-up, in report order."""
    s = ctx.settings
    slack_late = "Slack did not answer in time: " + SLACK_UNREACHABLE
    pd_late = "PagerDuty did not answer in time: " + PD_UNREACHABLE
    redis_late = (
        f"Redis did not answer in time: check REDIS_URL ({redact_url(s.redis_url)}) and that "
        "this host can reach it."
    )
    checks: list[Check] = []

    def add(group: str, name: str, run: CheckFn, late: str) -> None:
        checks.append(Check(Line(group, name), run, late))

    add("Slack", "Slack token", check_slack_token, slack_late)
    add("Slack", "Slack scopes", check_slack_scopes, slack_late)
    if s.slack_app_token:
        add("Slack", "Socket Mode token", check_socket_mode, "")
    else:
        add("Slack", "Signing secret", check_signing_secret, "")
    if ctx.config is not None:
        for name, check in target_checks(ctx.config):
            add("Slack", name, check, slack_late)
    else:
        add("Slack", "Channels", check_unknown_channels, "")
    if ctx.setup.pagerduty is None:
        add("PagerDuty", "PagerDuty", check_pd_off, "")
    else:
        add("PagerDuty", "PagerDuty token", check_pd_token, pd_late)
        add("PagerDuty", "PagerDuty From address", check_pd_from, "")
        add("PagerDuty", "PagerDuty service", check_pd_service, pd_late)
        add("PagerDuty", "Escalation policy", check_pd_policy, pd_late)
        if ctx.config is not None:
            for name, sid in ctx.config.pagerduty.schedules.items():
                add("PagerDuty", f"Schedule {name}", partial(check_pd_schedule, name, sid), pd_late)
    add("Redis", "Redis", check_redis, redis_late)
    add("Redis", "Redis persistence", check_redis_persistence, redis_late)
    add("Redis", "Store continuity", check_store_continuity, redis_late)
    add("Configuration", "Config file", check_config, "")
    add("Configuration", "Runbooks", check_runbooks, "")
    add("Clock", "Clock vs Slack", check_slack_clock, slack_late)
    if ctx.setup.pagerduty is not None:
        add("Clock", "Clock vs PagerDuty", check_pd_clock, pd_late)
    return checks


def _procedure_plan(ctx: Context) -> list[Check]:
    """Only the checks of the procedure's targets (`check_procedure_targets`)."""
    if ctx.config is None:
        return []
    return [
        Check(Line("Slack", name), run, "Slack did not answer in time")
        for name, run in target_checks(ctx.config, procedure_only=True)
    ]


async def _run_one(ctx: Context, check: Check, seconds: float) -> CheckResult:
    try:
        async with asyncio.timeout(seconds):
            return await check.run(ctx, check.line)
    except TimeoutError:
        return check.line.fail(f"no answer within {seconds:g} s", check.timeout_fix)
    except Exception as exc:  # one broken check must not hide the others' lines
        log.exception("doctor check failed", extra={"check": check.line.name})
        return check.line.fail(
            f"the check itself failed ({type(exc).__name__}: {exc})",
            "This is a bug in the bot: please report it with the log line.",
        )


async def _run(
    setup: Setup, per_check: float, checks: Callable[[Context], list[Check]]
) -> list[CheckResult]:
    ctx = Context(setup)
    try:
        return list(await asyncio.gather(*(_run_one(ctx, c, per_check) for c in checks(ctx))))
    finally:
        ctx.close()


async def run_checks(setup: Setup, *, per_check: float = DEFAULT_TIMEOUT) -> list[CheckResult]:
    """Every check, concurrently, each within `per_check` seconds; results in report order."""
    return await _run(setup, per_check, plan)


async def check_procedure_targets(
    setup: Setup, *, per_check: float = DEFAULT_TIMEOUT
) -> list[CheckResult]:
    """Only the channels, user groups and users the escalation matrix and stakeholders
    name (the start-up check: a typo in the matrix is found now, not when the step fires
    at 3 a.m.). No targets, no Slack calls."""
    return await _run(setup, per_check, _procedure_plan)
