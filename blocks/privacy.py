"""Block Kit for private (security) incidents: what the redacted copy of an incident
(bot/core/redaction.py, `Incident.redacted`) looks like outside its channel, and the notices of
making an incident private. Pure functions; never shown a title they could leak, because
they are only ever handed the redacted copy or the channel's own view.
"""

from __future__ import annotations

import blocks.mrkdwn as mk
from blocks.common import (
    Block,
    Message,
    Mrkdwn,
    context,
    date_token,
    escape,
    header,
    md,
    mention,
    section,
)
from bot.core.config import IncidentConfig
from bot.core.models import Incident

PRIVATE_FIELD = "private"  # the declare form's checkbox: block_id, action_id and value
LOCK = ":lock:"


def _severity(incident: Incident, config: IncidentConfig) -> str:
    try:
        return f"{incident.severity} · {config.severity(incident.severity).label}"
    except KeyError:
        return incident.severity


def access_contact(incident: Incident, config: IncidentConfig) -> Mrkdwn:
    """Whom people outside ask for access: the security role's holder, else the security
    group, else the commander."""
    holder = incident.roles.get(config.private.role)
    if holder:
        return md("the security lead {}", mention(holder))
    if config.private.security_group:
        return md("the security lead ({})", mk.usergroup(config.private.security_group))
    if incident.commander:
        return md("the security lead or {}", mention(incident.commander))
    return md("the security lead")


def announcement(incident: Incident, config: IncidentConfig) -> Message:
    """The announcement of a private incident: that one exists, how bad, whom to ask."""
    sev = _severity(incident, config)
    who = access_contact(incident, config)
    if incident.is_open:
        lead = md(
            "{} A private {} incident was declared; ask {} for access.",
            LOCK,
            incident.severity,
            who,
        )
        state = md("{} · {}", sev, incident.status.title())
    else:
        lead = md("{} A private {} incident was resolved.", LOCK, incident.severity)
        state = md(
            "{} · Resolved {}", sev, date_token(incident.resolved_at or incident.declared_at)
        )
    blocks: list[Block] = [
        header(f"Private incident {incident.id}"),
        section(lead),
        context(state, md("Declared {}", date_token(incident.declared_at))),
    ]
    word = "resolved" if not incident.is_open else "declared"
    return md("A private {} incident was {} ({})", incident.severity, word, incident.id), blocks


def list_row(incident: Incident, config: IncidentConfig) -> Block:
    """`/incident list` for someone outside a private incident."""
    return section(
        md(
            "*{}* · {} _Private incident_\n{} · {} · since {} · ask {} for access",
            incident.id,
            LOCK,
            _severity(incident, config),
            incident.status.title(),
            date_token(incident.declared_at),
            access_contact(incident, config),
        )
    )


def declared_ack(incident: Incident) -> Message:
    """The declarer's confirmation, which Slack shows where they typed, outside the channel."""
    where = _where(incident.channel_id, "its private channel")
    text = md("Declared private incident {} ({}) → {}", incident.id, incident.severity, where)
    return text, [section(md("{} {}", LOCK, text))]


def moved_pointer(incident: Incident, config: IncidentConfig, *, by: str) -> Message:
    """Posted in the public channel before it is archived: where the incident went (the
    link reads "private channel" to anyone not invited) and whom to ask."""
    text = md(
        "{} {} made this incident private. It continues in {}, and this channel is archived. "
        "Everyone here was invited; anyone else: ask {}.",
        LOCK,
        mention(by),
        _where(incident.channel_id, "a private channel"),
        access_contact(incident, config),
    )
    return md("This incident is private now and continues in a private channel."), [section(text)]


def moved_here(incident: Incident, *, by: str, old_channel: str | None) -> Message:
    """The first notice in the new private channel."""
    where = md(" from {}", mk.channel(old_channel)) if old_channel else md("")
    text = md(
        "{} {} made this incident private: it moved here{}, whose history stays in that "
        "archived channel. Outside this channel it now shows without its title or "
        "description; only people invited here can see it.",
        LOCK,
        mention(by),
        where,
    )
    return md("This incident is private now."), [section(text)]


def made_private(incident: Incident) -> Message:
    """The answer to `/incident private`."""
    text = md(
        "{} Incident {} is private now and continues in {}. Outside it, the announcement, "
        "lists, pages and updates no longer show its title.",
        LOCK,
        incident.id,
        _where(incident.channel_id, "its private channel"),
    )
    return text, [section(text)]


def _where(channel_id: str | None, otherwise: str) -> Mrkdwn:
    return mk.channel(channel_id) if channel_id else escape(otherwise)


def conversion_stopped(step: str, error: str) -> str:
    return (
        f"Making the incident private stopped at step {step} ({error}). Run "
        "`/incident private` again to finish; it picks up where it stopped."
    )
