"""Block Kit for the team's procedure as configured: `/incident procedure [SEV]` and
`/incident roles`. Pure functions of the config (and the incident)."""

from __future__ import annotations

from blocks.common import Block, Message, Mrkdwn, context, header, md, mention, section
from blocks.escalations import after_text, target_text
from blocks.incident import role_title
from blocks.mrkdwn import join
from blocks.stakeholders import destination_text
from bot.core.config import IncidentConfig, Severity
from bot.core.durations import format_duration
from bot.core.models import Incident


def _roles_text(roles: list[str]) -> str:
    return ", ".join(role_title(r).lower() for r in roles)


def severity_lines(config: IncidentConfig, sev: Severity) -> list[Mrkdwn]:
    """The procedure of one severity, one mrkdwn paragraph per part."""
    every = format_duration(sev.update_every.total_seconds())
    paging = (
        f"pages PagerDuty when declared (unacknowledged for "
        f"{format_duration(config.escalation.ack_timeout.total_seconds())}: next level)"
        if sev.page
        else "no page"
    )
    parts = [md("*Status updates* every {} in the incident channel · *Paging:* {}", every, paging)]
    steps = config.matrix_for(sev.name)
    if steps:
        lines = []
        for step in steps:
            who = [target_text(t) for t in step.notify]
            if step.page:
                who.append(md("page `{}`", step.page))
            note = f" — {step.note}" if step.note else ""
            lines.append(md("• {}: {}{}", after_text(step.after.total_seconds()), join(who), note))
        parts.append(
            md(
                "*Escalation* (unresolved since declared or since it became {}):\n{}",
                sev.name,
                join(lines, "\n"),
            )
        )
    else:
        parts.append(md("*Escalation:* no matrix for this severity"))
    audiences = config.stakeholders_for(sev.name)
    if audiences:
        lines = []
        for a in audiences:
            first = ""
            if a.first is not None and a.first != a.every:
                first = f" (first {after_text(a.first.total_seconds())})"
            owner = role_title(a.owner).lower() if a.owner else "comms lead, else commander"
            lines.append(
                md(
                    "• *{}* → {} every {}{}, template `{}`, reminds the {}",
                    a.audience,
                    destination_text(a),
                    format_duration(a.every.total_seconds()),
                    first,
                    a.template,
                    owner,
                )
            )
        parts.append(md("*Stakeholder updates:*\n{}", join(lines, "\n")))
    else:
        parts.append(md("*Stakeholder updates:* none configured"))
    required = config.required_roles(sev.name)
    parts.append(md("*Required roles:* {}", _roles_text(required) if required else "none"))
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
            md(
                "Roles: {} · as configured in INCIDENT_CONFIG · `/incident procedure SEV1` shows "
                "one severity",
                _roles_text(config.roles),
            )
        )
    )
    names = ", ".join(s.name for s in sevs)
    return md("Incident procedure ({})", names), blocks[:50]


def roles(incident: Incident, config: IncidentConfig) -> Message:
    """`/incident roles`: who holds each configured role, and which are empty."""
    required = set(config.required_roles(incident.severity))
    lines = []
    for role in config.roles:
        holder = incident.roles.get(role)
        line = md("*{}*: {}", role_title(role), mention(holder) if holder else md("_empty_"))
        if not holder and role in required:
            line += md(" :warning: required for {}", incident.severity)
        lines.append(line)
    extra = sorted(set(incident.roles) - set(config.roles))
    for role in extra:  # a role held before the config dropped it
        held = mention(incident.roles[role])
        lines.append(md("*{}*: {} _(not configured)_", role_title(role), held))
    empty = [r for r in config.roles if not incident.roles.get(r)]
    held_count = len(config.roles) - len(empty)
    text = md("Roles of {}: {} held, {} empty", incident.id, held_count, len(empty))
    return text, [
        header(f"Roles · {incident.id}"),
        section(join(lines, "\n")),
        context(
            md(
                "`/incident role &lt;role&gt; @user` assigns one; `/incident procedure` shows "
                "the rest."
            )
        ),
    ]
