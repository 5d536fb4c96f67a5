"""Block Kit for an incident's own surfaces: card, announcement, updates, lists, modal.

Every builder returns `(fallback_text, blocks)` or a view dict; pure functions of the
domain objects, nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence

import blocks.mrkdwn as mk
from blocks.common import (
    Block,
    Message,
    Mrkdwn,
    actions,
    button,
    channel_link,
    context,
    date_token,
    escape,
    fields_section,
    header,
    md,
    mention,
    mrkdwn,
    option,
    plain,
    role_title,
    section,
    shown_title,
)
from blocks.incident_controls import (
    ACTION_RESOLVE,
    ACTION_SEVERITY,
    CONTROLS_BLOCK,
    RESOLVE_CALLBACK,
    RESOLVE_SUMMARY,
    card_controls,
    parse_severity_value,
    resolve_modal,
    severity_value,
)
from blocks.mrkdwn import clip, join
from blocks.policy import ACTION_TAKE_COMMAND
from blocks.privacy import LOCK, PRIVATE_FIELD
from blocks.privacy import announcement as private_announcement
from blocks.privacy import declared_ack as private_declared_ack
from blocks.privacy import list_row as private_list_row
from blocks.reminders import ACTION_POST_UPDATE
from bot.core.config import IncidentConfig
from bot.core.durations import format_duration
from bot.core.models import STATUSES, Incident, StatusUpdate, TimelineEntry

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
# the declare form's "I'll command it" checkbox (block_id, action_id and value): ticked, the
# declarer commands the incident; unticked, it has no commander and its card offers Take command
COMMAND_FIELD = "command_it"


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


def topic(incident: Incident, config: IncidentConfig) -> Mrkdwn:
    """The channel topic: severity · status · commander (Slack allows 250 characters)."""
    who = mention(incident.commander) if incident.commander else md("none")
    label = config.severity(incident.severity).label
    status = incident.status.title()
    return clip(
        md(
            "{}{} {} · {} · Commander {}",
            incident.drill_tag,
            incident.severity,
            label,
            status,
            who,
        ),
        250,
    )


def summary_card(incident: Incident, config: IncidentConfig) -> Message:
    fields = [
        md("*Severity*\n{}", severity_text(incident, config)),
        md("*Status*\n{}", status_text(incident.status)),
    ]
    # a role the procedure requires at this severity is flagged until someone holds it
    required = set(config.required_roles(incident.severity)) if incident.is_open else set()
    for role in config.roles:
        holder = incident.roles.get(role)
        value = mention(holder)
        if not holder and role in required:
            value = md(":warning: _needed for {}_", incident.severity)
        fields.append(md("*{}*\n{}", role_title(role), value))
    fields.append(
        md("*Declared*\n{} by {}", date_token(incident.declared_at), mention(incident.declared_by))
    )
    if incident.resolved_at:
        fields.append(md("*Resolved*\n{}", date_token(incident.resolved_at)))
    blocks: list[Block] = [header(f"{incident.drill_tag}{incident.id} · {incident.title}")]
    if incident.drill is not None:  # a game-day drill (bot/drills/): the banner comes first
        blocks.append(
            section(
                md(
                    ":performing_arts: *DRILL* · a game-day exercise (scenario `{}`): nothing "
                    "real is broken and no real page is sent.",
                    incident.drill.scenario,
                )
            )
        )
    # Slack takes 10 fields a section: a team with many roles gets a second one
    blocks += [fields_section(fields[i : i + 10]) for i in range(0, len(fields), 10)]
    if incident.description:
        blocks.append(section(md("*Description*\n{}", incident.description)))
    if incident.resolution:
        blocks.append(section(md("*Resolution*\n{}", incident.resolution)))
    if incident.last_update:
        u = incident.last_update
        blocks.append(
            section(md("*Latest update* ({}, {})\n{}", date_token(u.at), mention(u.by), u.text))
        )
    blocks += card_controls(incident, config)  # blocks/incident_controls.py
    source = md("Source: {}", incident.source)
    if incident.origin is not None and incident.origin.permalink:  # a message shortcut
        source = md("Declared from {}", mk.link(incident.origin.permalink, "this message"))
        if incident.origin.user:
            source += md(" by {}", mention(incident.origin.user))
    if incident.runbook:
        source += md(" · runbook `{}`", incident.runbook)
    blocks.append(
        context(md("Summary card, kept current by the bot. `/incident help` for commands."), source)
    )
    text = md("{} {} ({})", incident.severity, incident.title, incident.status)
    return text, blocks


def announcement(incident: Incident, config: IncidentConfig) -> Message:
    if incident.redacted:  # a private incident, as bot/core/redaction.py lets it out
        return private_announcement(incident, config)
    where = channel_link(incident.channel_id, incident.channel_name)
    if incident.is_open:
        lead = md(
            "*{}*\n{} · {} · Commander {}\nJoin {} to help.",
            shown_title(incident),
            severity_text(incident, config),
            status_text(incident.status),
            mention(incident.commander),
            where,
        )
    else:
        duration = format_duration(
            (incident.resolved_at or incident.declared_at) - incident.declared_at
        )
        lead = md(
            "*{}*\n:white_check_mark: *Resolved* {} after {}. Details in {}.",
            shown_title(incident),
            date_token(incident.resolved_at or incident.declared_at),
            duration,
            where,
        )
    blocks: list[Block] = [
        header(
            f"{incident.drill_tag}{'Incident' if incident.is_open else 'Resolved'} {incident.id}"
        ),
        section(lead),
        context(
            md("Declared {} by {}", date_token(incident.declared_at), mention(incident.declared_by))
        ),
    ]
    state = "resolved" if not incident.is_open else incident.status
    text = md(
        "{} incident {}: {} ({})", incident.severity, incident.id, shown_title(incident), state
    )
    return text, blocks


def status_update(incident: Incident, update: StatusUpdate, config: IncidentConfig) -> Message:
    body = md(
        "*Status:* {}    *Severity:* {}\n{}",
        status_text(update.status),
        severity_text(incident, config),
        update.text,
    )
    blocks: list[Block] = [
        header(f"Status update · {incident.id}"),
        section(body),
    ]
    meta = [md("Posted by {} {}", mention(update.by), date_token(update.at))]
    if update.next_due:
        meta.append(md("Next update due {}", date_token(update.next_due, "{time}")))
    blocks.append(context(*meta))
    return md("Status update for {}: {}", incident.id, update.text), blocks


def change_notice(text: Mrkdwn) -> Message:
    return text, [section(text)]


def setup_failure(incident: Incident) -> Message:
    failed = ", ".join(f"{step} ({err})" for step, err in incident.setup_errors.items())
    text = md(
        ":warning: Part of this incident's set-up failed: {}. The incident itself is "
        "declared and every command works; *Retry set-up* completes only what is missing.",
        failed,
    )
    return text, [
        section(text),
        actions(button("Retry set-up", ACTION_RETRY_SETUP, incident.id, style="primary")),
    ]


def timeline(incident: Incident, entries: Sequence[TimelineEntry]) -> Message:
    lines = []
    # by time: a pinned message joins the timeline later, with its own (earlier) time
    for e in sorted(entries, key=lambda e: e.at):
        who = md(" {}", mention(e.actor)) if e.actor else md("")
        lines.append(md("{}{} · {}", date_token(e.at, "{time}"), who, e.shown))
    blocks: list[Block] = [header(f"Timeline · {incident.id}")]
    # pack lines into sections under the 3000-char limit, keeping to 50 blocks
    chunk: list[Mrkdwn] = []
    for line in lines:
        if sum(len(c) + 1 for c in chunk) + len(line) > 2900:
            blocks.append(section(join(chunk, "\n")))
            chunk = []
        chunk.append(clip(line, 2900))
    if chunk:
        blocks.append(section(join(chunk, "\n")))
    if len(blocks) > 49:
        truncated = md("Timeline truncated: {} entries in all.", len(entries))
        blocks = [*blocks[:48], context(truncated)]
    if not entries:
        blocks.append(section(md("_No entries yet._")))
    return md("Timeline of {} ({} entries)", incident.id, len(entries)), blocks


def incident_list(incidents: Sequence[Incident], config: IncidentConfig) -> Message:
    if not incidents:
        return md("No open incidents."), [section(md(":sunny: No open incidents."))]
    blocks: list[Block] = [header(f"Open incidents ({len(incidents)})")]
    for inc in incidents[:45]:
        if inc.redacted:  # a private incident the reader is not in
            blocks.append(private_list_row(inc, config))
            continue
        where = mk.channel(inc.channel_id) if inc.channel_id else escape(inc.channel_name)
        lock = f"{LOCK} " if inc.private else ""
        blocks.append(
            section(
                md(
                    "*{}* · {}{}\n{} · {} · Commander {} · {} · since {}",
                    inc.id,
                    lock,
                    shown_title(inc),
                    severity_text(inc, config),
                    status_text(inc.status),
                    mention(inc.commander),
                    where,
                    date_token(inc.declared_at),
                )
            )
        )
    if len(incidents) > 45:
        blocks.append(context(md("…and {} more.", len(incidents) - 45)))
    return md("{} open incidents", len(incidents)), blocks


USAGE = {
    "declare": "/incident declare [--private] [SEV1-4] <title>   (no text: open the form)",
    "update": "/incident update <what changed, what is next>",
    "status": f"/incident status {'|'.join(STATUSES)}",
    "severity": "/incident severity SEV1|SEV2|SEV3|SEV4   (P0-P3 work too)",
    "commander": "/incident commander @user",
    "role": "/incident role <role> @user",
    "resolve": "/incident resolve [summary]",
    "timeline": "/incident timeline",
    "list": "/incident list",
    "help": "/incident help",
}


def help_message(usages: Sequence[str]) -> Message:
    """Every verb's usage line, in the registry's order (handlers/verbs.py)."""
    usage = join((md("`{}`", u) for u in usages), "\n")
    return md("Incident commands"), [
        header("Incident commands"),
        section(usage),
        context(md("Commands other than declare, list and help work inside an incident channel.")),
    ]


def usage_error(problem: str, usage: str) -> Message:
    text = md("{}\nUsage: `{}`", problem, usage)
    return text, [section(md(":warning: {}\n*Usage:* `{}`", problem, usage))]


def _checkbox(field: str, label: str, text: str, description: str, *, ticked: bool) -> Block:
    """An optional input of one checkbox; `field` is its block_id, action_id and value."""
    box = {"text": plain(text), "description": plain(description), "value": field}
    return {
        "type": "input",
        "block_id": field,
        "optional": True,
        "label": plain(label),
        "element": {
            "type": "checkboxes",
            "action_id": field,
            "options": [box],
            **({"initial_options": [box]} if ticked else {}),
        },
    }


def declare_modal(
    config: IncidentConfig,
    *,
    severity: str | None = None,
    title: str = "",
    runbooks: Sequence[tuple[str, str]] = (),
    private_metadata: str = "",
    callback_id: str = DECLARE_CALLBACK,
    description: str = "",
    runbook: str | None = None,
    private: bool = False,
    note: Mrkdwn | None = None,
) -> dict[str, object]:
    """The declare form, filled in with what is known (a message shortcut's text, an
    alert's title and suggestions); `note` says first where it comes from. Each caller
    that fills it has its own `callback_id`: its submission knows what it declares from.
    Every one has "I'll command it" (COMMAND_FIELD) ticked: the declarer commands unless
    they untick it (handlers/interactions.py `read_declare_form`)."""
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
        title_input["initial_value"] = clip(title, 150)
    blocks: list[Block] = [context(note)] if note else []
    blocks += [
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
                **({"initial_value": clip(description, 2500)} if description else {}),
            },
        },
    ]
    blocks.append(
        _checkbox(
            COMMAND_FIELD,
            "Commander",
            "I'll command it",
            "Untick to leave it to whoever takes command from the card",
            ticked=True,
        )
    )
    blocks.append(
        _checkbox(
            PRIVATE_FIELD,
            "Private",
            "Private: a security incident",
            "A private channel, and nothing about it shown elsewhere",
            ticked=private,
        )
    )
    if runbooks:
        books = [option(t, rid) for rid, t in runbooks[:100]]
        picked = next((o for o in books if o["value"] == runbook), None)
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
                    "options": books,
                    **({"initial_option": picked} if picked else {}),
                },
            }
        )
    return {
        "type": "modal",
        "callback_id": callback_id,
        "title": plain("Declare an incident", 24),
        "submit": plain("Declare", 24),
        "close": plain("Cancel", 24),
        "private_metadata": private_metadata,
        "blocks": blocks,
    }


def declared_ack(incident: Incident) -> Message:
    if incident.redacted:
        return private_declared_ack(incident)
    where = channel_link(incident.channel_id, incident.channel_name)
    text = md("Declared {} ({}): {} → {}", incident.id, incident.severity, incident.title, where)
    return text, [section(text)]


__all__ = [
    "ACTION_OPEN_CHANNEL",
    "ACTION_POST_UPDATE",
    "ACTION_RESOLVE",
    "ACTION_RETRY_SETUP",
    "ACTION_SEVERITY",
    "ACTION_TAKE_COMMAND",
    "COMMAND_FIELD",
    "CONTROLS_BLOCK",
    "DECLARE_CALLBACK",
    "RESOLVE_CALLBACK",
    "RESOLVE_SUMMARY",
    "USAGE",
    "announcement",
    "card_controls",
    "change_notice",
    "declare_modal",
    "declared_ack",
    "help_message",
    "incident_list",
    "mrkdwn",
    "parse_severity_value",
    "resolve_modal",
    "setup_failure",
    "severity_value",
    "shown_title",
    "status_update",
    "summary_card",
    "timeline",
    "topic",
    "usage_error",
]
