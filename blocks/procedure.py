"""Block Kit for the team's procedure as configured: `/incident procedure [SEV]` and
`/incident roles`. Pure functions of the config (and the incident)."""

from __future__ import annotations

from blocks.common import Block, context, escape, header, mention, section
from blocks.escalations import after_text, target_text
from blocks.incident import Message, role_title
from blocks.reminders import human_duration
from blocks.stakeholders import destination_text
from bot.config import IncidentConfig, Severity
from bot.models import Incident


def _roles_text(roles: list[str]) -> str:
    return ", ".join(role_title(r).lower() for r in roles)


def severity_lines(config: IncidentConfig, sev: Severity) -> list[str]:
    """The procedure of one severity, one mrkdwn paragraph per part."""
    every = human_duration(sev.update_every.total_seconds())
    paging = (
        f"pages PagerDuty when declared (unacknowledged for "
        f"{human_duration(config.escalation.ack_timeout.total_seconds())}: next level)"
        if sev.page
        else "no page"
    )
    parts = [f"*Status updates* every {every} in the incident channel · *Paging:* {paging}"]
    steps = config.matrix_for(sev.name)
    if steps:
        lines = []
        for step in steps:
            who = [target_text(t) for t in step.notify]
            if step.page:
                who.append(f"page `{escape(step.page)}`")
            note = f" — {escape(step.note)}" if step.note else ""
            lines.append(f"• {after_text(step.after.total_seconds())}: {', '.join(who)}{note}")
        parts.append(
            "*Escalation* (unresolved since declared or since it became "
            f"{sev.name}):\n" + "\n".join(lines)
        )
    else:
        parts.append("*Escalation:* no matrix for this severity")
    audiences = config.stakeholders_for(sev.name)
    if audiences:
        lines = []
        for a in audiences:
            first = ""
            if a.first is not None and a.first != a.every:
                first = f" (first {after_text(a.first.total_seconds())})"
            owner = role_title(a.owner).lower() if a.owner else "comms lead, else commander"
            lines.append(
                f"• *{escape(a.audience)}* → {destination_text(a)} every "
                f"{human_duration(a.every.total_seconds())}{first}, template "
                f"`{escape(a.template)}`, reminds the {owner}"
            )
        parts.append("*Stakeholder updates:*\n" + "\n".join(lines))
    else:
        parts.append("*Stakeholder updates:* none configured")
    required = config.required_roles(sev.name)
    parts.append(
        f"*Required roles:* {_roles_text(required)}" if required else "*Required roles:* none"
    )
    return parts


def procedure(config: IncidentConfig, severity: str | None) -> Message:
    """One severity's procedure, or (no severity) every severity's, as configured."""
    sevs = [config.severity(severity)] if severity else list(config.severities)
    blocks: list[Block] = []
    for sev in sevs:
        blocks.append(header(f"Procedure · {sev.name} ({sev.label})"))
        blocks.extend(section(part) for part in severity_lines(config, sev))
    blocks.append(
        context(
            f"Roles: {_roles_text(config.roles)} · as configured in INCIDENT_CONFIG · "
            "`/incident procedure SEV1` shows one severity"
        )
    )
    names = ", ".join(s.name for s in sevs)
    return f"Incident procedure ({names})", blocks[:50]


def roles(incident: Incident, config: IncidentConfig) -> Message:
    """`/incident roles`: who holds each configured role, and which are empty."""
    required = set(config.required_roles(incident.severity))
    lines = []
    for role in config.roles:
        holder = incident.roles.get(role)
        line = f"*{role_title(role)}*: {mention(holder) if holder else '_empty_'}"
        if not holder and role in required:
            line += f" :warning: required for {incident.severity}"
        lines.append(line)
    extra = sorted(set(incident.roles) - set(config.roles))
    for role in extra:  # a role held before the config dropped it
        lines.append(f"*{role_title(role)}*: {mention(incident.roles[role])} _(not configured)_")
    empty = [r for r in config.roles if not incident.roles.get(r)]
    text = f"Roles of {incident.id}: {len(config.roles) - len(empty)} held, {len(empty)} empty"
    return text, [
        header(f"Roles · {incident.id}"),
        section("\n".join(lines)),
        context("`/incident role <role> @user` assigns one; `/incident procedure` shows the rest."),
    ]
