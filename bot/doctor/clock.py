"""The clock lines: this machine's clock against Slack's and PagerDuty's, from the `Date`
of an answer each (Slack's is auth.test's, asked once for every Slack line)."""

from __future__ import annotations

from email.utils import parsedate_to_datetime

from bot.core.models import CheckResult
from bot.core.pagerduty import PagingError
from bot.doctor.context import Context, Line
from bot.doctor.pagerduty import PD_FAILED
from bot.doctor.slack import authed

SKEW_WARN = 30.0  # seconds of clock skew worth a warning
SKEW_FAIL = 300.0  # Slack refuses signed requests more than 5 minutes off


def clock_skew(sent: float, received: float, server_date: float) -> float:
    """Seconds this machine's clock is ahead of a server's (negative: behind).

    The server's `Date` is whole seconds, truncated, stamped between our send and receipt:
    compare the midpoint of the round trip with the middle of that second."""
    return (sent + received) / 2 - (server_date + 0.5)


def _skew_result(line: Line, skew: float, whose: str, *, fatal: bool) -> CheckResult:
    off = abs(skew)
    if off <= SKEW_WARN:
        return line.ok(f"within {max(off, 1):.0f} s of {whose}")
    way = "ahead of" if skew > 0 else "behind"
    detail = f"this machine's clock is {off:.0f} s {way} {whose}"
    fix = (
        "Sync the clock with NTP (`timedatectl set-ntp true`, or chrony): reminders and "
        "escalations fire at the wrong time"
    )
    if fatal and off > SKEW_FAIL:
        return line.fail(
            f"{detail}: Slack's signed requests are refused beyond 5 minutes",
            fix + ", and Slack's requests are refused.",
        )
    return line.warn(detail, fix + ".")


async def check_slack_clock(ctx: Context, line: Line) -> CheckResult:
    auth = await authed(ctx, line)
    if isinstance(auth, CheckResult):
        return auth
    try:
        date = parsedate_to_datetime(auth.headers["date"]).timestamp()
    except (KeyError, TypeError, ValueError):
        return line.skip("not checked: Slack sent no readable Date header")
    skew = clock_skew(auth.sent, auth.received, date)
    # Signatures matter only when Slack's requests come over HTTP.
    return _skew_result(line, skew, "Slack's", fatal=not ctx.settings.slack_app_token)


async def check_pd_clock(ctx: Context, line: Line) -> CheckResult:
    pd = ctx.pagerduty
    if await ctx.pd_token() is not None:
        return line.skip(PD_FAILED)
    sent = ctx.setup.clock()
    try:
        date = await pd.server_date()
    except PagingError:
        return line.skip("not checked: PagerDuty did not say its time")
    skew = clock_skew(sent, ctx.setup.clock(), date)
    return _skew_result(line, skew, "PagerDuty's", fatal=False)
