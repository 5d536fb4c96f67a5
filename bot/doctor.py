"""The set-up checklist behind `python -m bot doctor` and `/incident doctor`.

It owns the checks: each is a small async function that looks at one thing (a token, a
scope list, a channel, a PagerDuty object, Redis, a file, a clock) and returns one
`CheckResult` with the exact fix when something is wrong. Nothing here prints; the CLI
(`report_text`) and blocks/doctor.py render the results.

All checks run at once, each under its own timeout, so one hanging dependency costs its
own lines a timeout and nothing else. Checks that need the same answer (auth.test, the
channel list, the PagerDuty token) share one request; a check whose input failed says
"not checked" (`skip`) instead of repeating the failure.

The scopes the bot needs are read from `manifest.yaml` at the repository root, found
beside the package the way the shipped runbooks are (`manifest_path()`): that works
from a checkout and from `pip install -e .`, which is how the bot is installed.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import partial
from pathlib import Path
from typing import Any

import yaml

from bot.config import IncidentConfig, Settings, target_kind
from bot.logs import redact_url
from bot.models import CheckResult, CheckStatus
from bot.paging import OnCallEntry, PagerDuty, PagingError, PDService
from bot.preflight import SetupError, preflight
from bot.runbooks import RunbookError, default_runbooks_dir, load_runbooks
from bot.slack import Slack, SlackError
from bot.store import RedisFacts, Store, StoreUnavailable

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 5.0  # seconds each check may take
SKEW_WARN = 30.0  # seconds of clock skew worth a warning
SKEW_FAIL = 300.0  # Slack refuses signed requests more than 5 minutes off

SYMBOLS: dict[CheckStatus, str] = {"ok": "✓", "warn": "!", "fail": "✗", "skip": "-"}

# What stops working without each scope manifest.yaml asks for (shown next to a gap).
SCOPE_USES = {
    "channels:history": "reading alert messages",
    "channels:join": "joining channels",
    "channels:manage": "creating incident channels",
    "channels:read": "finding channels by name",
    "chat:write": "posting anything",
    "chat:write.public": "posting to channels the bot is not in",
    "commands": "slash commands",
    "files:write": "uploading post-mortems",
    "groups:history": "reading private channels",
    "groups:read": "finding private channels",
    "groups:write": "private incident channels",
    "im:write": "direct messages",
    "pins:read": "reading pins",
    "pins:write": "pinning the incident card",
    "reactions:read": "reading reactions",
    "usergroups:read": "notifying user groups",
    "users:read": "user names",
    "users:read.email": "matching on-call people to Slack users",
}
_AUTH_CODES = {
    "invalid_auth",
    "not_authed",
    "account_inactive",
    "token_revoked",
    "token_expired",
    "no_permission",
}
_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{6,}$")

SLACK_APPS = "api.slack.com/apps → your app"


# -- the manifest ------------------------------------------------------------------------


def manifest_path() -> Path:
    """`<repo>/manifest.yaml`, beside the package like `<repo>/runbooks`."""
    return default_runbooks_dir().parent / "manifest.yaml"


def manifest_scopes(path: Path) -> list[str]:
    """The bot scopes the manifest asks for; OSError or ValueError when unreadable."""
    try:
        data = yaml.safe_load(path.read_text())
        scopes = data["oauth_config"]["scopes"]["bot"]
    except (yaml.YAMLError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: no oauth_config.scopes.bot list ({exc})") from exc
    if not isinstance(scopes, list):
        raise ValueError(f"{path}: oauth_config.scopes.bot is not a list")
    return [str(s) for s in scopes]


# -- what is checked -----------------------------------------------------------------------


@dataclass
class Setup:
    """The parts the doctor looks at: the running bot's, or ones the CLI built."""

    settings: Settings
    store: Store
    slack: Slack | None  # None: SLACK_BOT_TOKEN is not set
    pagerduty: PagerDuty | None  # None: PAGERDUTY_API_KEY is not set
    # the running bot's config; None (the CLI): whatever INCIDENT_CONFIG holds now
    config: IncidentConfig | None = None
    manifest: Path = field(default_factory=manifest_path)
    clock: Callable[[], float] = time.time  # for the clock-skew lines; tests shift it


@dataclass(frozen=True)
class _Auth:
    data: dict[str, Any]
    headers: dict[str, str]
    sent: float
    received: float

    @property
    def handle(self) -> str:
        return f"@{self.data.get('user') or 'your-bot'}"

    @property
    def scopes(self) -> set[str] | None:
        raw = self.headers.get("x-oauth-scopes")
        if raw is None:
            return None
        return {s.strip() for s in raw.split(",") if s.strip()}


class _Context:
    """One doctor run: the setup, the config in effect, and answers checks share."""

    def __init__(self, setup: Setup) -> None:
        self.setup = setup
        self.settings = setup.settings
        path = self.settings.incident_config
        self.config_where = (
            f"{path} (INCIDENT_CONFIG)" if path else "a config file (INCIDENT_CONFIG)"
        )
        self.config_error: str | None = None
        self.on_disk: IncidentConfig | None = None
        try:  # exactly what start-up checks (bot/preflight.py)
            self.on_disk = preflight(path).config
        except SetupError as exc:
            self.config_error = str(exc)
            self.on_disk = exc.config  # the file parsed; what it refers to did not pass
        # The running bot's config is what is live; the CLI has only the file.
        self.config = setup.config if setup.config is not None else self.on_disk
        self._shared: dict[str, asyncio.Future[Any]] = {}

    async def shared(self, key: str, make: Callable[[], Awaitable[Any]]) -> Any:
        """One request for every check that needs it. Shielded: a check that times out
        does not cancel the request the others are waiting on."""
        task = self._shared.get(key)
        if task is None:
            task = self._shared[key] = asyncio.ensure_future(make())
        return await asyncio.shield(task)

    def close(self) -> None:
        for task in self._shared.values():
            if not task.done():
                task.cancel()

    # -- shared answers: a failure comes back as a value, for the checks to word

    async def auth(self) -> _Auth | SlackError:
        slack = self.setup.slack
        assert slack is not None

        async def call() -> _Auth | SlackError:
            sent = self.setup.clock()
            try:
                data, headers = await slack.auth_test_with_headers()
            except SlackError as exc:
                return exc
            return _Auth(data, headers, sent, self.setup.clock())

        result: _Auth | SlackError = await self.shared("auth", call)
        return result

    async def channels(self) -> dict[str, dict[str, Any]] | SlackError:
        """The channels the config names (not by ID), by name: one listing for them all."""
        slack = self.setup.slack
        assert slack is not None and self.config is not None
        names = {u.ref for u in channel_uses(self.config) if not _CHANNEL_ID.match(u.ref)}

        async def call() -> dict[str, dict[str, Any]] | SlackError:
            try:
                return await slack.channels_named(names)
            except SlackError as exc:
                return exc

        result: dict[str, dict[str, Any]] | SlackError = await self.shared("channels", call)
        return result

    async def pd_token(self) -> PagingError | None:
        pd = self.setup.pagerduty
        assert pd is not None

        async def call() -> PagingError | None:
            try:
                await pd.check()
            except PagingError as exc:
                return exc
            return None

        result: PagingError | None = await self.shared("pd_token", call)
        return result

    async def pd_service(self) -> PDService | PagingError | None:
        pd, config = self.setup.pagerduty, self.config
        assert pd is not None
        service_id = config.pagerduty.service_id if config else None
        if service_id is None:
            return None

        async def call() -> PDService | PagingError:
            try:
                return await pd.service(service_id)
            except PagingError as exc:
                return exc

        result: PDService | PagingError = await self.shared("pd_service", call)
        return result

    async def redis(self) -> RedisFacts | StoreUnavailable:
        async def call() -> RedisFacts | StoreUnavailable:
            try:
                return await self.setup.store.server_facts()
            except StoreUnavailable as exc:
                return exc

        result: RedisFacts | StoreUnavailable = await self.shared("redis", call)
        return result


class _Line:
    """Builds one check's CheckResult: the group and name are fixed, the verdict is not."""

    def __init__(self, group: str, name: str) -> None:
        self.group, self.name = group, name

    def _result(self, status: CheckStatus, detail: str, fix: str = "") -> CheckResult:
        return CheckResult(group=self.group, name=self.name, status=status, detail=detail, fix=fix)

    def ok(self, detail: str) -> CheckResult:
        return self._result("ok", detail)

    def warn(self, detail: str, fix: str) -> CheckResult:
        return self._result("warn", detail, fix)

    def fail(self, detail: str, fix: str) -> CheckResult:
        return self._result("fail", detail, fix)

    def skip(self, detail: str) -> CheckResult:
        return self._result("skip", detail)


CheckFn = Callable[[_Context, _Line], Awaitable[CheckResult]]


@dataclass(frozen=True)
class _Check:
    line: _Line
    run: CheckFn
    timeout_fix: str  # what to look at when this check gets no answer in time


# -- Slack ---------------------------------------------------------------------------------

SLACK_UNREACHABLE = (
    "Check SLACK_API_URL (default https://slack.com/api/) and that this host can make "
    "outbound HTTPS requests (proxy, firewall)."
)
NO_TOKEN = "not checked: SLACK_BOT_TOKEN is not set"
TOKEN_FAILED = "not checked: auth.test failed (see the Slack token line)"


def _slack_failure(line: _Line, ctx: _Context, exc: SlackError, what: str) -> CheckResult:
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


async def check_slack_token(ctx: _Context, line: _Line) -> CheckResult:
    token = ctx.settings.slack_bot_token
    if ctx.setup.slack is None or not token:
        return line.fail(
            "SLACK_BOT_TOKEN is not set",
            f"Set SLACK_BOT_TOKEN to the Bot User OAuth Token (xoxb-…) from {SLACK_APPS} → "
            "OAuth & Permissions (install the app to the workspace first).",
        )
    auth = await ctx.auth()
    if isinstance(auth, SlackError):
        return _slack_failure(line, ctx, auth, "auth.test")
    who = f"{auth.handle} in {auth.data.get('team') or '?'} ({auth.data.get('team_id') or '?'})"
    if not token.startswith("xoxb-"):
        return line.warn(
            f"works as {who}, but it is not a bot token (xoxb-…)",
            f"Use the Bot User OAuth Token from {SLACK_APPS} → OAuth & Permissions.",
        )
    return line.ok(f"valid: {who}")


async def check_slack_scopes(ctx: _Context, line: _Line) -> CheckResult:
    if ctx.setup.slack is None:
        return line.skip(NO_TOKEN)
    auth = await ctx.auth()
    if isinstance(auth, SlackError):
        return line.skip(TOKEN_FAILED)
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


async def check_signing_secret(ctx: _Context, line: _Line) -> CheckResult:
    if ctx.settings.slack_signing_secret:
        return line.ok("set: every request to /slack/events is verified (HTTP mode)")
    return line.fail(
        "SLACK_SIGNING_SECRET is not set: in HTTP mode every request from Slack is refused",
        f"Set SLACK_SIGNING_SECRET to the Signing Secret under {SLACK_APPS} → Basic "
        "Information → App Credentials, or set SLACK_APP_TOKEN (xapp-…) to use Socket Mode.",
    )


async def check_socket_mode(ctx: _Context, line: _Line) -> CheckResult:
    token = ctx.settings.slack_app_token or ""
    if token.startswith("xapp-"):
        return line.ok("SLACK_APP_TOKEN is an app-level token: Slack traffic uses Socket Mode")
    return line.fail(
        "SLACK_APP_TOKEN does not look like an app-level token (xapp-…)",
        f"Generate an app-level token with the connections:write scope under {SLACK_APPS} → "
        "Basic Information → App-Level Tokens, turn Socket Mode on, and set SLACK_APP_TOKEN "
        "to it (or unset SLACK_APP_TOKEN to receive Slack's requests over HTTP).",
    )


async def check_unknown_channels(ctx: _Context, line: _Line) -> CheckResult:
    return line.skip("not checked: the config file, which names them, is invalid")


@dataclass(frozen=True)
class _ChannelUse:
    ref: str  # name, #name or ID, as configured
    purposes: tuple[str, ...]  # announce, alert, stakeholder
    keys: tuple[str, ...]  # where in the config it is set
    any_bot: bool = False  # an alert channel that reads alert messages from any bot or app

    @property
    def reads(self) -> bool:
        """Alert channels are read (message events arrive only where the bot is a member)."""
        return "alert" in self.purposes

    @property
    def display(self) -> str:
        return self.ref if _CHANNEL_ID.match(self.ref) else "#" + self.ref.lstrip("#")


def channel_uses(config: IncidentConfig) -> list[_ChannelUse]:
    """Every channel the config names, once, with what it is used for."""
    found: dict[str, tuple[list[str], list[str]]] = {}

    def add(ref: str, purpose: str, key: str) -> None:
        purposes, keys = found.setdefault(ref.lstrip("#"), ([], []))
        if purpose not in purposes:
            purposes.append(purpose)
        if key not in keys:
            keys.append(key)

    add(config.announce_channel, "announce", "announce_channel")
    any_bot = set()
    for entry in config.alerts.channels:
        add(entry.channel, "alert", "alerts.channels")
        if not entry.senders:
            any_bot.add(entry.channel.lstrip("#"))
    for severity, audiences in config.stakeholders.items():
        for audience in audiences:
            if target_kind(audience.channel) in ("channel", "role"):  # (a bare name)
                add(audience.channel, "stakeholder", f"stakeholders.{severity}")
    for severity, steps in config.escalation.matrix.items():
        for step in steps:
            for target in step.notify:
                if target_kind(target) == "channel":
                    add(target, "escalation", f"escalation.matrix.{severity}")
    return [
        _ChannelUse(ref, tuple(p), tuple(k), any_bot=ref in any_bot)
        for ref, (p, k) in found.items()
    ]


@dataclass(frozen=True)
class _TargetUse:
    """A user or user group the procedure notifies (escalation steps, stakeholder DMs)."""

    ref: str  # U… / W… / S…
    kind: str  # user | group
    keys: tuple[str, ...]  # where in the config it is named


def target_uses(config: IncidentConfig) -> list[_TargetUse]:
    """Every user and user group the config names, once, with where."""
    found: dict[str, list[str]] = {}
    for severity, steps in config.escalation.matrix.items():
        for step in steps:
            for target in step.notify:
                if target_kind(target) in ("user", "group"):
                    keys = found.setdefault(target, [])
                    if f"escalation.matrix.{severity}" not in keys:
                        keys.append(f"escalation.matrix.{severity}")
    for severity, audiences in config.stakeholders.items():
        for audience in audiences:
            if target_kind(audience.channel) in ("user", "group"):
                keys = found.setdefault(audience.channel, [])
                if f"stakeholders.{severity}" not in keys:
                    keys.append(f"stakeholders.{severity}")
    return [_TargetUse(ref, target_kind(ref), tuple(keys)) for ref, keys in found.items()]


async def check_usergroup(use: _TargetUse, ctx: _Context, line: _Line) -> CheckResult:
    if ctx.setup.slack is None:
        return line.skip(NO_TOKEN)
    if isinstance(await ctx.auth(), SlackError):
        return line.skip(TOKEN_FAILED)
    slack = ctx.setup.slack

    async def call() -> dict[str, dict[str, Any]] | SlackError:
        try:
            return await slack.usergroups()
        except SlackError as exc:
            return exc

    groups = await ctx.shared("usergroups", call)
    if isinstance(groups, SlackError):
        return _slack_failure(line, ctx, groups, "usergroups.list")
    where = f"{' / '.join(use.keys)} in {ctx.config_where}"
    group = groups.get(use.ref)
    if group is None:
        return line.fail(
            f"no user group {use.ref} in this workspace",
            f"Copy the group's ID (S…) from its page in Slack (People → User groups), or "
            f"fix {where}.",
        )
    handle = f"@{group.get('handle') or use.ref}"
    if group.get("date_delete"):
        return line.fail(f"{handle} is disabled", f"Enable {handle} in Slack, or fix {where}.")
    count = group.get("user_count")
    if count == 0 or count == "0":
        return line.warn(
            f"{handle} has no members: its mention reaches nobody",
            f"Add people to {handle}, or fix {where}.",
        )
    return line.ok(f"{handle} exists ({count} members)" if count is not None else handle)


async def check_user(use: _TargetUse, ctx: _Context, line: _Line) -> CheckResult:
    if ctx.setup.slack is None:
        return line.skip(NO_TOKEN)
    if isinstance(await ctx.auth(), SlackError):
        return line.skip(TOKEN_FAILED)
    where = f"{' / '.join(use.keys)} in {ctx.config_where}"
    try:
        user = await ctx.setup.slack.user_info(use.ref)
    except SlackError as exc:
        if exc.code != "user_not_found":
            return _slack_failure(line, ctx, exc, "users.info")
        return line.fail(
            f"no user {use.ref} in this workspace",
            f"Copy the person's member ID (profile → ⋮ → Copy member ID) into {where}.",
        )
    name = f"@{user.get('name') or use.ref}"
    if user.get("deleted"):
        return line.fail(f"{name} is deactivated", f"Name someone else in {where}.")
    return line.ok(f"{name} exists")


def target_checks(
    config: IncidentConfig, *, procedure_only: bool = False
) -> list[tuple[str, CheckFn]]:
    """(line name, check) for every channel, user group and user the config names (with
    `procedure_only`, those of the escalation matrix and stakeholders only)."""
    checks: list[tuple[str, CheckFn]] = []
    for use in channel_uses(config):
        if procedure_only and not {"escalation", "stakeholder"} & set(use.purposes):
            continue
        what = " and ".join(use.purposes).capitalize()
        checks.append((f"{what} channel {use.display}", partial(check_channel, use)))
    for target in target_uses(config):
        if target.kind == "group":
            checks.append((f"User group {target.ref}", partial(check_usergroup, target)))
        else:
            checks.append((f"User {target.ref}", partial(check_user, target)))
    return checks


async def check_channel(use: _ChannelUse, ctx: _Context, line: _Line) -> CheckResult:
    if ctx.setup.slack is None:
        return line.skip(NO_TOKEN)
    auth = await ctx.auth()
    if isinstance(auth, SlackError):
        return line.skip(TOKEN_FAILED)
    where = f"{' / '.join(use.keys)} in {ctx.config_where}"
    invite = f"In {use.display}, type `/invite {auth.handle}`."
    if _CHANNEL_ID.match(use.ref):
        try:
            channel: dict[str, Any] | None = await ctx.setup.slack.channel_info(use.ref)
        except SlackError as exc:
            if exc.code != "channel_not_found":
                return _slack_failure(line, ctx, exc, "conversations.info")
            channel = None
    else:
        listed = await ctx.channels()
        if isinstance(listed, SlackError):
            return _slack_failure(line, ctx, listed, "conversations.list")
        channel = listed.get(use.ref)
    if channel is None:
        return line.fail(
            f"no channel {use.display} that the bot can see",
            f"Create {use.display} in Slack, or set {where} to an existing channel's name or "
            f"ID. A private channel must invite the bot first (`/invite {auth.handle}`).",
        )
    shown = f"#{channel.get('name') or use.ref}"
    if channel.get("is_archived"):
        return line.fail(
            f"{shown} is archived", f"Unarchive {shown}, or set {where} to another channel."
        )
    if channel.get("is_member"):
        detail = f"{shown} exists and the bot is a member"
        if use.any_bot:
            detail += (
                "; alert messages posted there by any bot or app are read (list the ones "
                "that post alerts under `from:` in alerts.channels to read only theirs)"
            )
        return line.ok(detail)
    if use.reads:
        return line.fail(
            f"the bot is not in {shown}, so it never sees the alert messages posted there",
            invite,
        )
    scopes = auth.scopes
    if not channel.get("is_private") and scopes is not None and "chat:write.public" in scopes:
        return line.warn(
            f"the bot is not in {shown}; it can post there only through chat:write.public",
            invite,
        )
    return line.fail(f"the bot is not in {shown}, so it cannot post there", invite)


# -- PagerDuty -----------------------------------------------------------------------------

PD_UNREACHABLE = (
    "Check PAGERDUTY_API_URL (default https://api.pagerduty.com) and that this host can "
    "make outbound HTTPS requests."
)
PD_FAILED = "not checked: the PagerDuty token check failed (see its line)"
PD_IDS = "the P… ID in its PagerDuty URL"


def _pd_failure(line: _Line, ctx: _Context, exc: PagingError, what: str) -> CheckResult:
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


async def check_pd_off(ctx: _Context, line: _Line) -> CheckResult:
    return line.warn(
        "not configured: paging and /oncall are off",
        "To turn them on, set PAGERDUTY_API_KEY (a REST API key: PagerDuty → Integrations → "
        "API Access Keys) and PAGERDUTY_FROM_EMAIL (a PagerDuty user's email), and "
        f"pagerduty.service_id in {ctx.config_where}; escalation_policy_id and schedules "
        "are optional.",
    )


async def check_pd_token(ctx: _Context, line: _Line) -> CheckResult:
    error = await ctx.pd_token()
    if error is not None:
        return _pd_failure(line, ctx, error, "GET /abilities")
    return line.ok(f"valid ({redact_url(ctx.settings.pagerduty_api_url)})")


async def check_pd_from(ctx: _Context, line: _Line) -> CheckResult:
    if ctx.settings.pagerduty_from_email:
        return line.ok(f"pages are opened as {ctx.settings.pagerduty_from_email}")
    return line.fail(
        "PAGERDUTY_FROM_EMAIL is not set: PagerDuty refuses to open incidents without it",
        "Set PAGERDUTY_FROM_EMAIL to the email of a PagerDuty user; pages are opened in "
        "their name.",
    )


async def check_pd_service(ctx: _Context, line: _Line) -> CheckResult:
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
        if service.status == 404:
            return line.fail(
                f"service {sid} does not exist",
                f"Set pagerduty.service_id in {ctx.config_where} to an existing service "
                f"({PD_IDS}, under Services → Service Directory).",
            )
        return _pd_failure(line, ctx, service, f"GET /services/{sid}")
    policy = service.escalation_policy_name or service.escalation_policy_id or "none"
    return line.ok(f"{service.name} ({service.id}), escalation policy {policy}")


async def check_pd_policy(ctx: _Context, line: _Line) -> CheckResult:
    pd, config = ctx.setup.pagerduty, ctx.config
    assert pd is not None
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
        if exc.status == 404:
            return line.fail(
                f"escalation policy {policy_id} does not exist",
                f"Set pagerduty.escalation_policy_id in {ctx.config_where} to an existing "
                f"policy ({PD_IDS}, under People → Escalation Policies), or remove it to use "
                "the service's.",
            )
        return _pd_failure(line, ctx, exc, f"escalation policy {policy_id}")
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


async def check_pd_schedule(name: str, schedule_id: str, ctx: _Context, line: _Line) -> CheckResult:
    pd = ctx.setup.pagerduty
    assert pd is not None
    if await ctx.pd_token() is not None:
        return line.skip(PD_FAILED)
    try:
        found = await pd.schedule_name(schedule_id)
    except PagingError as exc:
        if exc.status == 404:
            return line.fail(
                f"schedule {schedule_id} (for `/oncall {name}`) does not exist",
                f"Set pagerduty.schedules.{name} in {ctx.config_where} to an existing schedule "
                f"({PD_IDS}, under People → On-Call Schedules).",
            )
        return _pd_failure(line, ctx, exc, f"schedule {schedule_id}")
    return line.ok(f"`/oncall {name}` → {found} ({schedule_id})")


# -- Redis ---------------------------------------------------------------------------------

REDIS_FIX = (
    "Start Redis, or set REDIS_URL to where it runs (redis://host:6379/0; rediss:// for TLS)."
)
PERSIST_FIX = (
    "Turn on AOF: `redis-cli CONFIG SET appendonly yes` then `redis-cli CONFIG REWRITE` (or "
    "`appendonly yes` in redis.conf); on a managed Redis, turn on its persistence option."
)


async def check_redis(ctx: _Context, line: _Line) -> CheckResult:
    facts = await ctx.redis()
    url = redact_url(ctx.settings.redis_url)
    if isinstance(facts, StoreUnavailable):
        return line.fail(f"cannot reach Redis at {url} ({facts})", REDIS_FIX)
    if facts.embedded:
        return line.ok("the sandbox's embedded Redis (in this process) answers")
    return line.ok(f"reachable at {url}, Redis {facts.version or '(version not reported)'}")


async def check_redis_persistence(ctx: _Context, line: _Line) -> CheckResult:
    facts = await ctx.redis()
    if isinstance(facts, StoreUnavailable):
        return line.skip("not checked: Redis does not answer")
    if facts.embedded:
        return line.warn(
            "embedded in-memory Redis: every incident, reminder and escalation is lost when "
            "the process stops",
            "Set REDIS_URL to a Redis that persists (appendonly yes).",
        )
    if facts.aof:
        return line.ok("AOF is on (appendonly yes)")
    if facts.rdb_save:
        return line.ok(f"RDB snapshots (save {facts.rdb_save}); AOF would lose less on a crash")
    if facts.aof is False and facts.rdb_save == "":
        return line.warn(
            "no persistence (appendonly no, no RDB snapshots): a Redis restart loses every "
            "incident, reminder and escalation",
            PERSIST_FIX,
        )
    return line.warn(
        "cannot tell whether Redis persists (it does not answer CONFIG GET; AOF "
        + ("is off)" if facts.aof is False else "is unknown)"),
        "Make sure the server has appendonly yes, or RDB snapshots (save …), in its configuration.",
    )


async def check_store_continuity(ctx: _Context, line: _Line) -> CheckResult:
    facts = await ctx.redis()
    if isinstance(facts, StoreUnavailable):
        return line.skip("not checked: Redis does not answer")
    record = await ctx.setup.store.install()
    if not record:
        return line.ok("no install record yet: the bot writes one when it first starts")
    if record.get("lost_at"):
        when = datetime.fromtimestamp(float(record["lost_at"]), UTC).strftime("%Y-%m-%d %H:%M")
        return line.fail(
            f"the store lost its data (found out {when} UTC): incidents from before are "
            "unknown to the bot; new ids and PagerDuty keys never repeat old ones",
            "Restore Redis from a backup if you have one, and give it persistence. Once "
            f"dealt with, clear the warning: redis-cli HDEL {ctx.setup.store.keys.install} "
            "lost_at",
        )
    return line.ok(
        f"the store has kept its data since the bot first started (epoch {record['epoch']})"
    )


# -- configuration -------------------------------------------------------------------------


async def check_config(ctx: _Context, line: _Line) -> CheckResult:
    path = ctx.settings.incident_config
    if ctx.config_error is not None:
        running = (
            "; the running bot keeps the version it started with, and its next start will fail"
            if ctx.setup.config is not None
            else ""
        )
        return line.fail(
            f"{ctx.config_error}{running}",
            f"Fix the lines above; `python -m bot check-config {path}` checks the file again.",
        )
    if path is None:
        return line.ok("built-in defaults (INCIDENT_CONFIG is not set)")
    if ctx.setup.config is not None and ctx.on_disk != ctx.setup.config:
        return line.warn(
            f"{path} is valid but changed since the bot started",
            "Restart the bot to use the file as it is now.",
        )
    return line.ok(f"{path} is valid")


async def check_runbooks(ctx: _Context, line: _Line) -> CheckResult:
    dirs = [default_runbooks_dir()]
    if ctx.config is not None and ctx.config.runbooks_dir:
        dirs.append(ctx.config.runbooks_dir)
    try:
        books = load_runbooks(*dirs, severities=ctx.config.severity_names if ctx.config else None)
    except RunbookError as exc:
        return line.fail(
            str(exc),
            "Fix the lines above; `python -m bot check-runbooks DIR` checks a folder again.",
        )
    where = ", ".join(str(d) for d in dirs)
    return line.ok(f"{len(books)} runbook(s) valid ({where})")


# -- clocks --------------------------------------------------------------------------------


def clock_skew(sent: float, received: float, server_date: float) -> float:
    """Seconds this machine's clock is ahead of a server's (negative: behind).

    The server's `Date` is whole seconds, truncated, stamped between our send and receipt:
    compare the midpoint of the round trip with the middle of that second."""
    return (sent + received) / 2 - (server_date + 0.5)


def _skew_result(line: _Line, skew: float, whose: str, *, fatal: bool) -> CheckResult:
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


async def check_slack_clock(ctx: _Context, line: _Line) -> CheckResult:
    if ctx.setup.slack is None:
        return line.skip(NO_TOKEN)
    auth = await ctx.auth()
    if isinstance(auth, SlackError):
        return line.skip(TOKEN_FAILED)
    try:
        date = parsedate_to_datetime(auth.headers["date"]).timestamp()
    except (KeyError, TypeError, ValueError):
        return line.skip("not checked: Slack sent no readable Date header")
    skew = clock_skew(auth.sent, auth.received, date)
    # Signatures matter only when Slack's requests come over HTTP.
    return _skew_result(line, skew, "Slack's", fatal=not ctx.settings.slack_app_token)


async def check_pd_clock(ctx: _Context, line: _Line) -> CheckResult:
    pd = ctx.setup.pagerduty
    assert pd is not None
    if await ctx.pd_token() is not None:
        return line.skip(PD_FAILED)
    sent = ctx.setup.clock()
    try:
        date = await pd.server_date()
    except PagingError:
        return line.skip("not checked: PagerDuty did not say its time")
    skew = clock_skew(sent, ctx.setup.clock(), date)
    return _skew_result(line, skew, "PagerDuty's", fatal=False)


# -- running -------------------------------------------------------------------------------


def plan(ctx: _Context) -> list[_Check]:
    """The checks for this set-up, in report order."""
    s = ctx.settings
    slack_late = "Slack did not answer in time: " + SLACK_UNREACHABLE
    pd_late = "PagerDuty did not answer in time: " + PD_UNREACHABLE
    redis_late = (
        f"Redis did not answer in time: check REDIS_URL ({redact_url(s.redis_url)}) and that "
        "this host can reach it."
    )
    checks: list[_Check] = []

    def add(group: str, name: str, run: CheckFn, late: str) -> None:
        checks.append(_Check(_Line(group, name), run, late))

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


async def _run_one(ctx: _Context, check: _Check, seconds: float) -> CheckResult:
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


async def run_checks(setup: Setup, *, per_check: float = DEFAULT_TIMEOUT) -> list[CheckResult]:
    """Every check, concurrently, each within `per_check` seconds; results in report order."""
    ctx = _Context(setup)
    try:
        return list(await asyncio.gather(*(_run_one(ctx, c, per_check) for c in plan(ctx))))
    finally:
        ctx.close()


# -- summing up ----------------------------------------------------------------------------


async def check_procedure_targets(
    setup: Setup, *, per_check: float = DEFAULT_TIMEOUT
) -> list[CheckResult]:
    """Only the channels, user groups and users the escalation matrix and stakeholders
    name (the start-up check: a typo in the matrix is found now, not when the step fires
    at 3 a.m.). No targets, no Slack calls."""
    ctx = _Context(setup)
    try:
        checks = [
            _Check(_Line("Slack", name), run, "Slack did not answer in time")
            for name, run in (
                target_checks(ctx.config, procedure_only=True) if ctx.config is not None else []
            )
        ]
        return list(await asyncio.gather(*(_run_one(ctx, c, per_check) for c in checks)))
    finally:
        ctx.close()


def exit_code(results: Iterable[CheckResult]) -> int:
    """0 only when nothing failed (warnings and skipped checks do not count)."""
    return 1 if any(r.status == "fail" for r in results) else 0


def summary(results: list[CheckResult]) -> str:
    counts = {s: sum(1 for r in results if r.status == s) for s in SYMBOLS}
    parts = []
    if counts["fail"]:
        parts.append(f"{counts['fail']} to fix")
    if counts["warn"]:
        parts.append(f"{counts['warn']} warning{'s' if counts['warn'] != 1 else ''}")
    parts.append(f"{counts['ok']} passed")
    if counts["skip"]:
        parts.append(f"{counts['skip']} not checked")
    return ", ".join(parts) + "."


def report_text(results: list[CheckResult]) -> str:
    """The plain-text checklist the CLI prints: one line a check, its fix under it."""
    lines: list[str] = []
    for group in dict.fromkeys(r.group for r in results):  # in report order
        mine = [r for r in results if r.group == group]
        lines.append(group)
        for r in mine:
            lines.append(f"  {SYMBOLS[r.status]} {r.name}: {_indent(r.detail, 6)}")
            if r.fix:
                lines.append(f"      fix: {_indent(r.fix, 11)}")
    lines.append("")
    lines.append(summary(results))
    return "\n".join(lines)


def _indent(text: str, width: int) -> str:
    return text.replace("\n", "\n" + " " * width)
