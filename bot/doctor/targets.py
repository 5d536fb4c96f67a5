"""The Slack lines for what the config names: every channel (announcements, alerts,
stakeholders, escalation steps), user group and user, one line each.

`channel_uses` and `target_uses` read the config only; the checks look each one up in
Slack (channels by name share one listing). `target_checks` is also the start-up check of
the procedure's targets (bot/server.py, through `check_procedure_targets`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import partial
from typing import Any

from bot.core.config import IncidentConfig, target_kind
from bot.core.models import CheckResult
from bot.core.slack import SlackError
from bot.doctor.context import CheckFn, Context, Line
from bot.doctor.slack import authed, slack_failure

_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{6,}$")


@dataclass(frozen=True)
class ChannelUse:
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


def channel_uses(config: IncidentConfig) -> list[ChannelUse]:
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
        ChannelUse(ref, tuple(p), tuple(k), any_bot=ref in any_bot) for ref, (p, k) in found.items()
    ]


@dataclass(frozen=True)
class TargetUse:
    """A user or user group the procedure notifies (escalation steps, stakeholder DMs)."""

    ref: str  # U… / W… / S…
    kind: str  # user | group
    keys: tuple[str, ...]  # where in the config it is named


def target_uses(config: IncidentConfig) -> list[TargetUse]:
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
    return [TargetUse(ref, target_kind(ref), tuple(keys)) for ref, keys in found.items()]


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


async def check_unknown_channels(ctx: Context, line: Line) -> CheckResult:
    return line.skip("not checked: the config file, which names them, is invalid")


async def _listed_channels(ctx: Context) -> dict[str, dict[str, Any]] | SlackError:
    """The channels the config names (not by ID), by name: one listing for them all."""
    assert ctx.config is not None
    names = {u.ref for u in channel_uses(ctx.config) if not _CHANNEL_ID.match(u.ref)}
    return await ctx.answer("channels", partial(ctx.slack.channels_named, names), SlackError)


async def check_channel(use: ChannelUse, ctx: Context, line: Line) -> CheckResult:
    auth = await authed(ctx, line)
    if isinstance(auth, CheckResult):
        return auth
    where = ctx.where(use.keys)
    invite = f"In {use.display}, type `/invite {auth.handle}`."
    if _CHANNEL_ID.match(use.ref):
        try:
            channel: dict[str, Any] | None = await ctx.slack.channel_info(use.ref)
        except SlackError as exc:
            if exc.code != "channel_not_found":
                return slack_failure(line, ctx, exc, "conversations.info")
            channel = None
    else:
        listed = await _listed_channels(ctx)
        if isinstance(listed, SlackError):
            return slack_failure(line, ctx, listed, "conversations.list")
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


async def check_usergroup(use: TargetUse, ctx: Context, line: Line) -> CheckResult:
    auth = await authed(ctx, line)
    if isinstance(auth, CheckResult):
        return auth
    groups = await ctx.answer("usergroups", ctx.slack.usergroups, SlackError)
    if isinstance(groups, SlackError):
        return slack_failure(line, ctx, groups, "usergroups.list")
    where = ctx.where(use.keys)
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


async def check_user(use: TargetUse, ctx: Context, line: Line) -> CheckResult:
    auth = await authed(ctx, line)
    if isinstance(auth, CheckResult):
        return auth
    where = ctx.where(use.keys)
    try:
        user = await ctx.slack.user_info(use.ref)
    except SlackError as exc:
        if exc.code != "user_not_found":
            return slack_failure(line, ctx, exc, "users.info")
        return line.fail(
            f"no user {use.ref} in this workspace",
            f"Copy the person's member ID (profile → ⋮ → Copy member ID) into {where}.",
        )
    name = f"@{user.get('name') or use.ref}"
    if user.get("deleted"):
        return line.fail(f"{name} is deactivated", f"Name someone else in {where}.")
    return line.ok(f"{name} exists")
