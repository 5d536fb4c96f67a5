"""Block Kit for an incident's own surfaces: card, announcement, updates, lists, modal.

Every builder returns `(fallback_text, blocks)` or a view dict; pure functions of the
domain objects, nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence

from blocks.common import (
    Block,
    actions,
    button,
    clip,
    context,
    date_token,
    escape,
    escape_keeping_mentions,
    fields_section,
    header,
    mention,
    mrkdwn,
    option,
    plain,
    section,
)
from blocks.private import LOCK, PRIVATE_FIELD
from blocks.private import announcement as private_announcement
from blocks.private import declared_ack as private_declared_ack
from blocks.private import list_row as private_list_row
from bot.config import STATUSES, IncidentConfig
from bot.models import Incident, StatusUpdate, TimelineEntry

Message = tuple[str, list[Block]]

STATUS_EMOJI = {
    "investigating": ":mag:",
    "identified": ":dart:",
    "monitoring": ":eyes:",
    "resolved": ":white_check_mark:",
}
SEVERITY_EMOJI = [
    ":red_circle:",
    ":large_orange_circle:",
    ":large_yellow_circle:",
    ":white_circle:",
]

ACTION_RETRY_SETUP = "incident_retry_setup"
ACTION_OPEN_CHANNEL = "incident_open_channel"
DECLARE_CALLBACK = "incident_declare"


def role_title(role: str) -> str:
    return role.replace("_", " ").title()


def severity_text(incident: Incident, config: IncidentConfig) -> str:
    try:
        sev = config.severity(incident.severity)
        rank = config.severity_rank(sev.name)
    except (KeyError, ValueError):
        return incident.severity
    emoji = SEVERITY_EMOJI[min(rank, len(SEVERITY_EMOJI) - 1)]
    return f"{emoji} {sev.name} · {sev.label}"


def status_text(status: str) -> str:
    return f"{STATUS_EMOJI.get(status, '')} {status.title()}".strip()


def shown_title(incident: Incident) -> str:
    """The title with "[DRILL] " before it for a game-day drill (once: bot/redaction.py may
    have added it already)."""
    tag = incident.drill_tag
    return incident.title if incident.title.startswith(tag) else tag + incident.title


def topic(incident: Incident, config: IncidentConfig) -> str:
    """The channel topic: severity · status · commander (Slack allows 250 characters)."""
    who = f"<@{incident.commander}>" if incident.commander else "none"
    label = config.severity(incident.severity).label
    status = incident.status.title()
    return clip(
        f"{incident.drill_tag}{incident.severity} {label} · {status} · Commander {who}", 250
    )


def summary_card(incident: Incident, config: IncidentConfig) -> Message:
    fields = [
        f"*Severity*\n{severity_text(incident, config)}",
        f"*Status*\n{status_text(incident.status)}",
    ]
    # a role the procedure requires at this severity is flagged until someone holds it
    required = set(config.required_roles(incident.severity)) if incident.is_open else set()
    for role in config.roles:
        holder = incident.roles.get(role)
        value = mention(holder)
        if not holder and role in required:
            value = f":warning: _needed for {incident.severity}_"
        fields.append(f"*{role_title(role)}*\n{value}")
    fields.append(
        f"*Declared*\n{date_token(incident.declared_at)} by {mention(incident.declared_by)}"
    )
    if incident.resolved_at:
        fields.append(f"*Resolved*\n{date_token(incident.resolved_at)}")
    blocks: list[Block] = [header(f"{incident.drill_tag}{incident.id} · {incident.title}")]
    if incident.drill is not None:  # a game-day drill (bot/drills.py): the banner comes first
        blocks.append(
            section(
                f":performing_arts: *DRILL* · a game-day exercise (scenario "
                f"`{incident.drill.scenario}`): nothing real is broken and no real page is sent."
            )
        )
    # Slack takes 10 fields a section: a team with many roles gets a second one
    blocks += [fields_section(fields[i : i + 10]) for i in range(0, len(fields), 10)]
    if incident.description:
        blocks.append(section(f"*Description*\n{escape(incident.description)}"))
    if incident.resolution:
        blocks.append(section(f"*Resolution*\n{escape(incident.resolution)}"))
    if incident.last_update:
        u = incident.last_update
        blocks.append(
            section(f"*Latest update* ({date_token(u.at)}, {mention(u.by)})\n{escape(u.text)}")
        )
    blocks.append(
        context(
            "Summary card, kept current by the bot. `/incident help` for commands.",
            f"Source: {incident.source}"
            + (f" · runbook `{incident.runbook}`" if incident.runbook else ""),
        )
    )
    text = f"{incident.severity} {incident.title} ({incident.status})"
    return text, blocks


def announcement(incident: Incident, config: IncidentConfig) -> Message:
    if incident.redacted:  # a private incident, as bot/redaction.py lets it out
        return private_announcement(incident, config)
    where = f"<#{incident.channel_id}>" if incident.channel_id else f"#{incident.channel_name}"
    if incident.is_open:
        lead = (
            f"*{escape(shown_title(incident))}*\n{severity_text(incident, config)} · "
            f"{status_text(incident.status)} · Commander {mention(incident.commander)}\n"
            f"Join {where} to help."
        )
    else:
        duration = _duration((incident.resolved_at or incident.declared_at) - incident.declared_at)
        lead = (
            f"*{escape(shown_title(incident))}*\n:white_check_mark: *Resolved* "
            f"{date_token(incident.resolved_at or incident.declared_at)} after {duration}. "
            f"Details in {where}."
        )
    blocks: list[Block] = [
        header(
            f"{incident.drill_tag}{'Incident' if incident.is_open else 'Resolved'} {incident.id}"
        ),
        section(lead),
        context(f"Declared {date_token(incident.declared_at)} by {mention(incident.declared_by)}"),
    ]
    state = "resolved" if not incident.is_open else incident.status
    title = shown_title(incident)
    return f"{incident.severity} incident {incident.id}: {title} ({state})", blocks


def status_update(incident: Incident, update: StatusUpdate, config: IncidentConfig) -> Message:
    lines = [
        f"*Status:* {status_text(update.status)}    *Severity:* {severity_text(incident, config)}",
        escape(update.text),
    ]
    blocks: list[Block] = [
        header(f"Status update · {incident.id}"),
        section("\n".join(lines)),
    ]
    meta = [f"Posted by {mention(update.by)} {date_token(update.at)}"]
    if update.next_due:
        meta.append(f"Next update due {date_token(update.next_due, '{time}')}")
    blocks.append(context(*meta))
    return f"Status update for {incident.id}: {update.text}", blocks


def change_notice(text: str) -> Message:
    return text, [section(text)]


def setup_failure(incident: Incident) -> Message:
    failed = ", ".join(f"{step} ({err})" for step, err in incident.setup_errors.items())
    text = (
        f":warning: Part of this incident's set-up failed: {failed}. The incident itself is "
        "declared and every command works; *Retry set-up* completes only what is missing."
    )
    return text, [
        section(text),
        actions(button("Retry set-up", ACTION_RETRY_SETUP, incident.id, style="primary")),
    ]


def timeline(incident: Incident, entries: Sequence[TimelineEntry]) -> Message:
    lines = []
    # by time: a pinned message joins the timeline later, with its own (earlier) time
    for e in sorted(entries, key=lambda e: e.at):
        who = f" {mention(e.actor)}" if e.actor else ""
        lines.append(f"{date_token(e.at, '{time}')}{who} · {escape_keeping_mentions(e.text)}")
    blocks: list[Block] = [header(f"Timeline · {incident.id}")]
    # pack lines into sections under the 3000-char limit, keeping to 50 blocks
    chunk: list[str] = []
    for line in lines:
        if sum(len(c) + 1 for c in chunk) + len(line) > 2900:
            blocks.append(section("\n".join(chunk)))
            chunk = []
        chunk.append(clip(line, 2900))
    if chunk:
        blocks.append(section("\n".join(chunk)))
    if len(blocks) > 49:
        blocks = [*blocks[:48], context(f"Timeline truncated: {len(entries)} entries in all.")]
    if not entries:
        blocks.append(section("_No entries yet._"))
    return f"Timeline of {incident.id} ({len(entries)} entries)", blocks


def incident_list(incidents: Sequence[Incident], config: IncidentConfig) -> Message:
    if not incidents:
        return "No open incidents.", [section(":sunny: No open incidents.")]
    blocks: list[Block] = [header(f"Open incidents ({len(incidents)})")]
    for inc in incidents[:45]:
        if inc.redacted:  # a private incident the reader is not in
            blocks.append(private_list_row(inc, config))
            continue
        where = f"<#{inc.channel_id}>" if inc.channel_id else inc.channel_name
        lock = f"{LOCK} " if inc.private else ""
        blocks.append(
            section(
                f"*{inc.id}* · {lock}{escape(shown_title(inc))}\n{severity_text(inc, config)} · "
                f"{status_text(inc.status)} · Commander {mention(inc.commander)} · {where} · "
                f"since {date_token(inc.declared_at)}"
            )
        )
    if len(incidents) > 45:
        blocks.append(context(f"…and {len(incidents) - 45} more."))
    return f"{len(incidents)} open incidents", blocks


USAGE = {
    "declare": "/incident declare [--private] [SEV1-4] <title>   (no text: open the form)",
    "update": "/incident update <what changed, what is next>",
    "status": "/incident status investigating|identified|monitoring|resolved",
    "severity": "/incident severity SEV1|SEV2|SEV3|SEV4   (P0-P3 work too)",
    "commander": "/incident commander @user",
    "role": "/incident role <role> @user",
    "resolve": "/incident resolve [summary]",
    "timeline": "/incident timeline",
    "list": "/incident list",
    "help": "/incident help",
}


def help_message(extra: Sequence[str] = ()) -> Message:
    usage = "\n".join(f"`{u}`" for u in [*USAGE.values(), *extra])
    return "Incident commands", [
        header("Incident commands"),
        section(usage),
        context("Commands other than declare, list and help work inside an incident channel."),
    ]


def usage_error(problem: str, usage: str) -> Message:
    text = f"{problem}\nUsage: `{usage}`"
    return text, [section(f":warning: {escape(problem)}\n*Usage:* `{usage}`")]


def declare_modal(
    config: IncidentConfig,
    *,
    severity: str | None = None,
    title: str = "",
    runbooks: Sequence[tuple[str, str]] = (),
    private_metadata: str = "",
) -> dict[str, object]:
    sev_options = [option(f"{s.name} · {s.label}", s.name) for s in config.severities]
    initial = next(
        (o for o in sev_options if o["value"] == severity),
        sev_options[-2 if len(sev_options) > 1 else 0],
    )
    title_input: Block = {
        "type": "plain_text_input",
        "action_id": "title",
        "max_length": 150,
        "placeholder": plain("What is broken, in a few words"),
    }
    if title:
        title_input["initial_value"] = title
    blocks: list[Block] = [
        {"type": "input", "block_id": "title", "label": plain("Title"), "element": title_input},
        {
            "type": "input",
            "block_id": "severity",
            "label": plain("Severity"),
            "element": {
                "type": "static_select",
                "action_id": "severity",
                "options": sev_options,
                "initial_option": initial,
            },
        },
        {
            "type": "input",
            "block_id": "description",
            "optional": True,
            "label": plain("Description"),
            "element": {
                "type": "plain_text_input",
                "action_id": "description",
                "multiline": True,
                "max_length": 2500,
                "placeholder": plain("Impact, what you have seen so far"),
            },
        },
    ]
    blocks.append(
        {
            "type": "input",
            "block_id": PRIVATE_FIELD,
            "optional": True,
            "label": plain("Private"),
            "element": {
                "type": "checkboxes",
                "action_id": PRIVATE_FIELD,
                "options": [
                    {
                        "text": plain("Private: a security incident"),
                        "description": plain(
                            "A private channel, and nothing about it shown elsewhere"
                        ),
                        "value": PRIVATE_FIELD,
                    }
                ],
            },
        }
    )
    if runbooks:
        blocks.append(
            {
                "type": "input",
                "block_id": "runbook",
                "optional": True,
                "label": plain("Runbook"),
                "element": {
                    "type": "static_select",
                    "action_id": "runbook",
                    "placeholder": plain("Post a runbook checklist"),
                    "options": [option(t, rid) for rid, t in runbooks[:100]],
                },
            }
        )
    return {
        "type": "modal",
        "callback_id": DECLARE_CALLBACK,
        "title": plain("Declare an incident", 24),
        "submit": plain("Declare", 24),
        "close": plain("Cancel", 24),
        "private_metadata": private_metadata,
        "blocks": blocks,
    }


def declared_ack(incident: Incident) -> Message:
    if incident.redacted:
        return private_declared_ack(incident)
    where = f"<#{incident.channel_id}>" if incident.channel_id else f"#{incident.channel_name}"
    text = f"Declared {incident.id} ({incident.severity}): {escape(incident.title)} → {where}"
    return text, [section(text)]


def _duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{max(minutes, 0)} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min"
    return f"{hours // 24} days {hours % 24} h"


__all__ = [
    "ACTION_OPEN_CHANNEL",
    "ACTION_RETRY_SETUP",
    "DECLARE_CALLBACK",
    "STATUSES",
    "USAGE",
    "announcement",
    "change_notice",
    "declare_modal",
    "declared_ack",
    "help_message",
    "incident_list",
    "mrkdwn",
    "setup_failure",
    "status_update",
    "summary_card",
    "timeline",
    "topic",
    "usage_error",
]
