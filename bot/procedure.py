"""The procedure a config describes, as plain text: what `python -m bot check-config`
prints, so a team reviews its procedure in a pull request the way the bot will run it."""

from __future__ import annotations

from bot.core.config import IncidentConfig, target_kind
from bot.core.durations import format_duration


def _after(seconds: float) -> str:
    return "at once" if seconds < 1 else f"after {format_duration(seconds)}"


def _target(target: str) -> str:
    kind = target_kind(target)
    names = {"user": "user", "group": "user group", "channel": "channel", "role": "role"}
    return f"{names[kind]} {target}"


def _destination(where: str) -> str:
    kind = target_kind(where)
    if kind == "user":
        return f"a DM to user {where}"
    if kind == "group":
        return f"a DM to each member of user group {where}"
    return where if kind == "channel" else f"#{where}"  # (a bare word is a channel name)


def procedure_text(config: IncidentConfig) -> str:
    """Every severity's update cadence, paging, escalation steps, stakeholder cadence and
    required roles, as configured."""
    lines: list[str] = []
    roles = ", ".join(
        f"{r.name} (required for {', '.join(r.required_for)})" if r.required_for else r.name
        for r in config.role_specs
    )
    lines.append(f"Roles: {roles}")
    lines.append(f"Announcements: #{config.announce_channel.lstrip('#')}")
    for sev in config.severities:
        lines.append("")
        page = (
            f"pages PagerDuty (ack within {format_duration(config.escalation.ack_timeout)})"
            if sev.page
            else "no page"
        )
        lines.append(
            f"{sev.name} {sev.label}: status update every {format_duration(sev.update_every)}, "
            f"{page}"
        )
        steps = config.matrix_for(sev.name)
        if steps:
            lines.append("  escalation (unresolved since declared, or since it became this):")
            for step in steps:
                who = [_target(t) for t in step.notify]
                if step.page:
                    who.append(f"page {step.page}")
                note = f"  # {step.note}" if step.note else ""
                lines.append(f"    {_after(step.after.total_seconds())}: {', '.join(who)}{note}")
        else:
            lines.append("  escalation: none")
        audiences = config.stakeholders_for(sev.name)
        if audiences:
            lines.append("  stakeholder updates:")
            for a in audiences:
                first = (
                    f", first {_after(a.first.total_seconds())}"
                    if a.first is not None and a.first != a.every
                    else ""
                )
                owner = a.owner or "comms_lead, else commander"
                lines.append(
                    f"    {a.audience} -> {_destination(a.channel)} every "
                    f"{format_duration(a.every)}{first}, template {a.template}, reminds {owner}"
                )
        else:
            lines.append("  stakeholder updates: none")
        required = config.required_roles(sev.name)
        lines.append(f"  required roles: {', '.join(required) if required else 'none'}")
    return "\n".join(lines)
