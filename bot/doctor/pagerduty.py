"""The PagerDuty lines: the token, the From address, the service to page, its escalation
policy (someone on call at every level, now) and each `/oncall` schedule.

Without PAGERDUTY_API_KEY there is one line, a warning that paging is off. The clock
against PagerDuty's is in clock.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from bot.core.logs import redact_url
from bot.core.models import CheckResult
from bot.core.pagerduty import OnCallEntry, PagingError, PDService
from bot.doctor.context import Context, Line

PD_UNREACHABLE = (
    "Check PAGERDUTY_API_URL (default https://api.pagerduty.com) and that this host can "
    "make outbound HTTPS requests."
)
PD_FAILED = "not checked: the PagerDuty token check failed (see its line)"
PD_IDS = "the P… ID in its PagerDuty URL"


def pd_failure(
    line: Line, ctx: Context, exc: PagingError, what: str, *, unknown: tuple[str, str] | None = None
) -> CheckResult:
    """A failed PagerDuty call. With `unknown` (detail, fix): a 404 means the ID the config
    gives names nothing, worded so."""
    if exc.status == 404 and unknown is not None:
        return line.fail(*unknown)
    if exc.status in (401, 403):
        return line.fail(
            f"PagerDuty refused PAGERDUTY_API_KEY (HTTP {exc.status})",
            "Create a REST API key under PagerDuty → Integrations → API Access Keys (not a "
            "read-only one: paging writes) and set PAGERDUTY_API_KEY to it.",
        )
    return line.fail(
        f"{what}: cannot reach PagerDuty at {redact_url(ctx.settings.pagerduty_api_url)} ({exc})",
        PD_UNREACHABLE,
    )


async def check_pd_off(ctx: Context, line: Line) -> CheckResult:
    return line.warn(
        "not configured: paging and /oncall are off",
        "To turn them on, set PAGERDUTY_API_KEY (a REST API key: PagerDuty → Integrations → "
        "API Access Keys) and PAGERDUTY_FROM_EMAIL (a PagerDuty user's email), and "
        f"pagerduty.service_id in {ctx.config_where}; escalation_policy_id and schedules "
        "are optional.",
    )


async def check_pd_token(ctx: Context, line: Line) -> CheckResult:
    error = await ctx.pd_token()
    if error is not None:
        return pd_failure(line, ctx, error, "GET /abilities")
    return line.ok(f"valid ({redact_url(ctx.settings.pagerduty_api_url)})")


async def check_pd_from(ctx: Context, line: Line) -> CheckResult:
    if ctx.settings.pagerduty_from_email:
        return line.ok(f"pages are opened as {ctx.settings.pagerduty_from_email}")
    return line.fail(
        "PAGERDUTY_FROM_EMAIL is not set: PagerDuty refuses to open incidents without it",
        "Set PAGERDUTY_FROM_EMAIL to the email of a PagerDuty user; pages are opened in "
        "their name.",
    )


async def check_pd_service(ctx: Context, line: Line) -> CheckResult:
    if ctx.config is None:
        return line.skip("not checked: the config file is invalid")
    if await ctx.pd_token() is not None:
        return line.skip(PD_FAILED)
    service = await ctx.pd_service()
    sid = ctx.config.pagerduty.service_id
    if service is None:
        return line.warn(
            "no pagerduty.service_id in the config: declaring an incident pages nobody",
            f"Set pagerduty.service_id in {ctx.config_where} to the service to page ({PD_IDS}).",
        )
    if isinstance(service, PagingError):
        return pd_failure(
            line,
            ctx,
            service,
            f"GET /services/{sid}",
            unknown=(
                f"service {sid} does not exist",
                f"Set pagerduty.service_id in {ctx.config_where} to an existing service "
                f"({PD_IDS}, under Services → Service Directory).",
            ),
        )
    policy = service.escalation_policy_name or service.escalation_policy_id or "none"
    return line.ok(f"{service.name} ({service.id}), escalation policy {policy}")


async def check_pd_policy(ctx: Context, line: Line) -> CheckResult:
    pd, config = ctx.pagerduty, ctx.config
    if config is None:
        return line.skip("not checked: the config file is invalid")
    if await ctx.pd_token() is not None:
        return line.skip(PD_FAILED)
    policy_id = config.pagerduty.escalation_policy_id
    name: str | None = None
    if policy_id is None:
        service = await ctx.pd_service()
        if not isinstance(service, PDService):
            return line.skip("not checked: no escalation_policy_id and no service to take it from")
        policy_id, name = service.escalation_policy_id, service.escalation_policy_name
        if policy_id is None:
            return line.fail(
                f"service {service.name} has no escalation policy",
                f"Give the service an escalation policy in PagerDuty, or set "
                f"pagerduty.escalation_policy_id in {ctx.config_where}.",
            )
    try:
        levels, oncalls = await asyncio.gather(
            pd.escalation_policy(policy_id),
            pd.oncalls(schedule_ids=[], escalation_policy_ids=[policy_id]),
        )
    except PagingError as exc:
        return pd_failure(
            line,
            ctx,
            exc,
            f"escalation policy {policy_id}",
            unknown=(
                f"escalation policy {policy_id} does not exist",
                f"Set pagerduty.escalation_policy_id in {ctx.config_where} to an existing "
                f"policy ({PD_IDS}, under People → Escalation Policies), or remove it to use "
                "the service's.",
            ),
        )
    name = name or next((e.policy_name for e in oncalls if e.policy_name), None) or policy_id
    if not levels:
        return line.fail(
            f"{name} has no escalation levels: a page reaches nobody",
            f"Add a level with a schedule or a user to {name} (People → Escalation Policies).",
        )
    who = _on_call_by_level(oncalls)
    empty = [lv for lv in levels if not who.get(lv.level)]
    if empty:
        gaps = "; ".join(
            f"level {lv.level} ({', '.join(lv.targets) or 'no targets'})" for lv in empty
        )
        return line.fail(
            f"{name}: nobody is on call now at {gaps}",
            f"In PagerDuty → People → Escalation Policies → {name}, give each of those levels "
            "a schedule with someone on call now (fill the gap or add an override), or a user "
            "directly.",
        )
    summary = ", ".join(f"L{lv.level} {', '.join(who[lv.level])}" for lv in levels)
    return line.ok(f"{name}: someone on call at every level ({summary})")


def _on_call_by_level(entries: Iterable[OnCallEntry]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    for e in entries:
        names = found.setdefault(e.level, [])
        if e.user.name not in names:
            names.append(e.user.name)
    return found


async def check_pd_schedule(name: str, schedule_id: str, ctx: Context, line: Line) -> CheckResult:
    pd = ctx.pagerduty
    if await ctx.pd_token() is not None:
        return line.skip(PD_FAILED)
    try:
        found = await pd.schedule_name(schedule_id)
    except PagingError as exc:
        return pd_failure(
            line,
            ctx,
            exc,
            f"schedule {schedule_id}",
            unknown=(
                f"schedule {schedule_id} (for `/oncall {name}`) does not exist",
                f"Set pagerduty.schedules.{name} in {ctx.config_where} to an existing schedule "
                f"({PD_IDS}, under People → On-Call Schedules).",
            ),
        )
    return line.ok(f"`/oncall {name}` → {found} ({schedule_id})")
