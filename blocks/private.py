"""Block Kit for private (security) incidents: what the redacted copy of an incident
(bot/redaction.py, `Incident.redacted`) looks like outside its channel, and the notices of
making an incident private. Pure functions; never shown a title they could leak, because
they are only ever handed the redacted copy or the channel's own view.
"""

from __future__ import annotations

from blocks.common import Block, context, date_token, header, mention, section
from bot.config import IncidentConfig
from bot.models import Incident

Message = tuple[str, list[Block]]

PRIVATE_FIELD = "private"  # the declare form's checkbox: block_id, action_id and value
LOCK = ":lock:"


def _severity(incident: Incident, config: IncidentConfig) -> str:
    try:
        return f"{incident.severity} · {config.severity(incident.severity).label}"
    except KeyError:
        return incident.severity


def access_contact(incident: Incident, config: IncidentConfig) -> str:
    """Whom people outside ask for access: the security role's holder, else the security
    group, else the commander."""
    holder = incident.roles.get(config.private.role)
    if holder:
        return f"the security lead {mention(holder)}"
    if config.private.security_group:
        return f"the security lead (<!subteam^{config.private.security_group}>)"
    if incident.commander:
        return f"the security lead or {mention(incident.commander)}"
    return "the security lead"


def announcement(incident: Incident, config: IncidentConfig) -> Message:
    """The announcement of a private incident: that one exists, how bad, whom to ask."""
    sev = _severity(incident, config)
    who = access_contact(incident, config)
    if incident.is_open:
        lead = f"{LOCK} A private {incident.severity} incident was declared; ask {who} for access."
        state = f"{sev} · {incident.status.title()}"
    else:
        lead = f"{LOCK} A private {incident.severity} incident was resolved."
        state = f"{sev} · Resolved {date_token(incident.resolved_at or incident.declared_at)}"
    blocks: list[Block] = [
        header(f"Private incident {incident.id}"),
        section(lead),
        context(state, f"Declared {date_token(incident.declared_at)}"),
    ]
    word = "resolved" if not incident.is_open else "declared"
    return f"A private {incident.severity} incident was {word} ({incident.id})", blocks


def list_row(incident: Incident, config: IncidentConfig) -> Block:
    """`/incident list` for someone outside a private incident."""
    return section(
        f"*{incident.id}* · {LOCK} _Private incident_\n{_severity(incident, config)} · "
        f"{incident.status.title()} · since {date_token(incident.declared_at)} · "
        f"ask {access_contact(incident, config)} for access"
    )


def declared_ack(incident: Incident) -> Message:
    """The declarer's confirmation, which Slack shows where they typed, outside the channel."""
    where = f"<#{incident.channel_id}>" if incident.channel_id else "its private channel"
    text = f"Declared private incident {incident.id} ({incident.severity}) → {where}"
    return text, [section(f"{LOCK} {text}")]


def moved_pointer(incident: Incident, config: IncidentConfig, *, by: str) -> Message:
    """Posted in the public channel before it is archived: where the incident went (the
    link reads "private channel" to anyone not invited) and whom to ask."""
    where = f"<#{incident.channel_id}>" if incident.channel_id else "a private channel"
    text = (
        f"{LOCK} {mention(by)} made this incident private. It continues in {where}, and "
        f"this channel is archived. Everyone here was invited; anyone else: ask "
        f"{access_contact(incident, config)}."
    )
    return "This incident is private now and continues in a private channel.", [section(text)]


def moved_here(incident: Incident, *, by: str, old_channel: str | None) -> Message:
    """The first notice in the new private channel."""
    where = f" from <#{old_channel}>" if old_channel else ""
    text = (
        f"{LOCK} {mention(by)} made this incident private: it moved here{where}, whose "
        "history stays in that archived channel. Outside this channel it now shows without "
        "its title or description; only people invited here can see it."
    )
    return "This incident is private now.", [section(text)]


def made_private(incident: Incident) -> Message:
    """The answer to `/incident private`."""
    where = f"<#{incident.channel_id}>" if incident.channel_id else "its private channel"
    text = (
        f"{LOCK} Incident {incident.id} is private now and continues in {where}. Outside "
        "it, the announcement, lists, pages and updates no longer show its title."
    )
    return text, [section(text)]


def conversion_stopped(step: str, error: str) -> str:
    return (
        f"Making the incident private stopped at step {step} ({error}). Run "
        "`/incident private` again to finish; it picks up where it stopped."
    )
