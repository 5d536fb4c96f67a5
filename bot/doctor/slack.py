"""The Slack lines: the bot token, its scopes against manifest.yaml, and how Slack's
requests reach the bot (the signing secret over HTTP, or the Socket Mode token).

The channels, user groups and users the config names are in targets.py; the clock
against Slack's in clock.py. Both use `authed` and `slack_failure` from here.
"""

from __future__ import annotations

from bot.core.logs import redact_url
from bot.core.models import CheckResult
from bot.core.slack import SlackError
from bot.doctor.context import Auth, Context, Line
from bot.doctor.manifest import SCOPE_USES, manifest_scopes

SLACK_APPS = "api.slack.com/apps → your app"
SLACK_UNREACHABLE = (
    "Check SLACK_API_URL (default https://slack.com/api/) and that this host can make "
    "outbound HTTPS requests (proxy, firewall)."
)
NO_TOKEN = "not checked: SLACK_BOT_TOKEN is not set"
TOKEN_FAILED = "not checked: auth.test failed (see the Slack token line)"

_AUTH_CODES = {
    "invalid_auth",
    "not_authed",
    "account_inactive",
    "token_revoked",
    "token_expired",
    "no_permission",
}


def slack_failure(line: Line, ctx: Context, exc: SlackError, what: str) -> CheckResult:
    """A failed Slack call, worded by what the code means."""
    code = exc.code
    if code in _AUTH_CODES:
        return line.fail(
            f"Slack rejected the token ({code})",
            f"Copy the Bot User OAuth Token (xoxb-…) from {SLACK_APPS} → OAuth & Permissions "
            "into SLACK_BOT_TOKEN; reinstall the app if it was removed from the workspace.",
        )
    if code == "missing_scope":
        return line.fail(
            f"{what}: the token lacks a scope ({code})",
            f"Grant the scopes manifest.yaml lists under {SLACK_APPS} → OAuth & Permissions, "
            "then reinstall the app.",
        )
    if code[:1].isupper() or code.startswith("http_"):  # an exception name or an HTTP status
        where = redact_url(ctx.settings.slack_api_url)
        return line.fail(f"cannot reach Slack at {where} ({code})", SLACK_UNREACHABLE)
    return line.fail(f"{what}: Slack answered {code}", SLACK_UNREACHABLE)


async def authed(ctx: Context, line: Line) -> Auth | CheckResult:
    """auth.test's shared answer, or this check's "not checked" line when there is no
    token or it failed (the Slack token line says why)."""
    if ctx.setup.slack is None:
        return line.skip(NO_TOKEN)
    auth = await ctx.auth()
    if isinstance(auth, SlackError):
        return line.skip(TOKEN_FAILED)
    return auth


async def check_slack_token(ctx: Context, line: Line) -> CheckResult:
    token = ctx.settings.slack_bot_token
    if ctx.setup.slack is None or not token:
        return line.fail(
            "SLACK_BOT_TOKEN is not set",
            f"Set SLACK_BOT_TOKEN to the Bot User OAuth Token (xoxb-…) from {SLACK_APPS} → "
            "OAuth & Permissions (install the app to the workspace first).",
        )
    auth = await ctx.auth()
    if isinstance(auth, SlackError):
        return slack_failure(line, ctx, auth, "auth.test")
    who = f"{auth.handle} in {auth.data.get('team') or '?'} ({auth.data.get('team_id') or '?'})"
    if not token.startswith("xoxb-"):
        return line.warn(
            f"works as {who}, but it is not a bot token (xoxb-…)",
            f"Use the Bot User OAuth Token from {SLACK_APPS} → OAuth & Permissions.",
        )
    return line.ok(f"valid: {who}")


async def check_slack_scopes(ctx: Context, line: Line) -> CheckResult:
    auth = await authed(ctx, line)
    if isinstance(auth, CheckResult):
        return auth
    granted = auth.scopes
    if granted is None:
        return line.warn(
            "Slack did not report the token's scopes (no x-oauth-scopes header)",
            f"Compare {SLACK_APPS} → OAuth & Permissions → Bot Token Scopes with manifest.yaml.",
        )
    try:
        wanted = manifest_scopes(ctx.setup.manifest)
    except (OSError, ValueError) as exc:
        return line.warn(
            f"{len(granted)} scopes granted; cannot read the manifest to compare ({exc})",
            "Run the doctor from an install of the repository (`pip install -e .`), so "
            "manifest.yaml sits beside the bot package.",
        )
    missing = [s for s in wanted if s not in granted]
    if missing:
        gaps = ", ".join(f"{s} ({SCOPE_USES[s]})" if s in SCOPE_USES else s for s in missing)
        return line.fail(
            f"missing {len(missing)} of the {len(wanted)} scopes manifest.yaml asks for: {gaps}",
            f"Add them under {SLACK_APPS} → OAuth & Permissions → Bot Token Scopes (or paste "
            "manifest.yaml into App Manifest), then reinstall the app to the workspace: Slack "
            "grants new scopes only on reinstall.",
        )
    return line.ok(f"all {len(wanted)} scopes manifest.yaml asks for are granted")


async def check_signing_secret(ctx: Context, line: Line) -> CheckResult:
    if ctx.settings.slack_signing_secret:
        return line.ok("set: every request to /slack/events is verified (HTTP mode)")
    return line.fail(
        "SLACK_SIGNING_SECRET is not set: in HTTP mode every request from Slack is refused",
        f"Set SLACK_SIGNING_SECRET to the Signing Secret under {SLACK_APPS} → Basic "
        "Information → App Credentials, or set SLACK_APP_TOKEN (xapp-…) to use Socket Mode.",
    )


async def check_socket_mode(ctx: Context, line: Line) -> CheckResult:
    token = ctx.settings.slack_app_token or ""
    if token.startswith("xapp-"):
        return line.ok("SLACK_APP_TOKEN is an app-level token: Slack traffic uses Socket Mode")
    return line.fail(
        "SLACK_APP_TOKEN does not look like an app-level token (xapp-…)",
        f"Generate an app-level token with the connections:write scope under {SLACK_APPS} → "
        "Basic Information → App-Level Tokens, turn Socket Mode on, and set SLACK_APP_TOKEN "
        "to it (or unset SLACK_APP_TOKEN to receive Slack's requests over HTTP).",
    )
