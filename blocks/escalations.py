"""Block Kit for the escalation matrix: the notice in the incident channel, the DM and the
channel post to whoever is pulled in, and `/incident escalations`. Pure functions."""

from __future__ import annotations

from collections.abc import Sequence

from blocks.common import Block, context, date_token, escape, header, mention, section
from blocks.incident import Message, role_title
from blocks.reminders import human_duration
from bot.config import IncidentConfig, target_kind
from bot.models import EscalationFired, EscalationRow, Incident

STATE_EMOJI = {
    "fired": ":white_check_mark:",
    "skipped": ":heavy_minus_sign:",
    "due": ":hourglass_flowing_sand:",
    "stopped": ":no_entry_sign:",
}


def after_text(seconds: float) -> str:
    return "at once" if seconds < 1 else f"after {human_duration(seconds)}"


def target_text(target: str) -> str:
    """A target as Slack shows it: a mention, a user group mention, a channel link, or
    (a role not yet resolved to its holder) the role's name."""
    kind = target_kind(target)
    if kind == "user":
        return f"<@{target}>"
    if kind == "group":
        return f"<!subteam^{target}>"
    if kind == "channel":
        return target if target.startswith("#") else f"<#{target}>"
    return f"the {role_title(target).lower()}"


def _targets(targets: Sequence[str]) -> str:
    return ", ".join(target_text(t) for t in targets)


def _reach(record: EscalationFired) -> str:
    """Who this step reaches: mentions, channels, the page, roles nobody holds."""
    parts = []
    people = [t for t in record.notified if target_kind(t) in ("user", "group")]
    channels = [t for t in record.notified if target_kind(t) == "channel"]
    if people:
        parts.append(_targets(people))
    if channels:
        parts.append(f"posted in {_targets(channels)}")
    if record.paged:
        parts.append(f"paging `{escape(record.paged)}` in PagerDuty")
    return " · ".join(parts)


def _origin(record: EscalationFired, incident: Incident) -> str:
    if record.severity is None:
        return "after its runbook was posted"
    if abs(record.since - incident.declared_at) < 1:
        return "since it was declared"
    return f"since it became {record.severity}"


def escalation_notice(
    incident: Incident,
    record: EscalationFired,
    *,
    step: int | None,
    steps: int | None,
    roles: Sequence[str] = (),
) -> Message:
    """In the incident channel: this escalation step fired, and whom it pulls in."""
    why = f"unresolved {human_duration(record.after)} {_origin(record, incident)}"
    if record.after < 1:
        why = f"{record.severity or 'runbook'} procedure: at once"
    what = f"*{escape(record.note)}*" if record.note else "the next level"
    lines = [f":rotating_light: *Escalation* ({why}): {what}"]
    reach = _reach(record)
    if reach:
        lines.append(f"Notifying {reach}.")
    if record.unfilled:
        # `roles`: the configured ones; a runbook may name a role this team does not have
        names = ", ".join(role_title(r).lower() for r in record.unfilled)
        assignable = [r for r in record.unfilled if r in roles]
        how = (
            f"assign someone with `/incident role {assignable[0].replace('_', '-')} @user`"
            if assignable
            else "pull the right person in"
        )
        lines.append(f":warning: Nobody holds {names}: {mention(incident.commander)}, {how}.")
    where = f"{incident.severity} escalation matrix" if record.severity else "runbook escalation"
    if step and steps:
        where += f", step {step} of {steps}"
    text = "\n".join(lines)
    return text, [section(text), context(f"{where} · `/incident escalations` shows the plan")]


def escalation_dm(
    incident: Incident, record: EscalationFired, config: IncidentConfig, *, to_channel: bool = False
) -> Message:
    """To a person (DM) or a channel (post) the step pulls in: what, why, where to go."""
    label = _label(incident, config)
    why = f"unresolved {human_duration(record.after)}" if record.after >= 1 else "its procedure"
    note = f" ({escape(record.note)})" if record.note else ""
    where = f"<#{incident.channel_id}>" if incident.channel_id else f"#{incident.channel_name}"
    who = "This channel is" if to_channel else "You are"
    text = (
        f":rotating_light: {who} being pulled into incident *{incident.id}* ({label}): "
        f"{escape(incident.title)}. Escalated by {why}{note}. Join {where}; "
        f"the commander is {mention(incident.commander)}."
    )
    return text, [section(text)]


def page_failed(target: str, reason: str) -> Message:
    text = f":warning: Escalation could not page `{escape(target)}` in PagerDuty: {escape(reason)}"
    return text, [section(text)]


def _label(incident: Incident, config: IncidentConfig) -> str:
    try:
        return f"{incident.severity} · {config.severity(incident.severity).label}"
    except KeyError:
        return incident.severity


def _row(row: EscalationRow) -> str:
    # fired: whom it reached (and what it paged); otherwise whom it names
    who = _targets(row.reached if row.state == "fired" else row.targets)
    if row.page:
        who = f"{who}, page `{escape(row.page)}`" if who else f"page `{escape(row.page)}`"
    label = escape(row.label)
    when = ""
    if row.at is not None:
        verb = {"fired": "fired", "skipped": "reached already", "due": "due", "stopped": "was due"}
        when = f" · {verb[row.state]} {date_token(row.at, '{date_short_pretty} {time}')}"
    detail = f"{STATE_EMOJI[row.state]} *{label}* ({after_text(row.after)}) → {who or 'nobody'}"
    if row.unfilled:
        detail += f" · nobody holds {', '.join(role_title(r).lower() for r in row.unfilled)}"
    return detail + when


def escalations(
    incident: Incident, rows: Sequence[EscalationRow], config: IncidentConfig
) -> Message:
    """`/incident escalations`: what fired, what was skipped, what is due when."""
    blocks: list[Block] = [header(f"Escalations · {incident.id}")]
    state = incident.escalation
    if state is not None:
        since = date_token(state.since)
        blocks.append(context(f"{state.severity} escalation matrix, counting from {since}"))
    matrix = [r for r in rows if r.runbook is None]
    books = [r for r in rows if r.runbook is not None]
    if matrix:
        blocks.append(section("\n".join(_row(r) for r in matrix[:40])))
    else:
        sev = incident.severity
        blocks.append(section(f"_No escalation matrix for {sev}_ (`/incident procedure {sev}`)."))
    if books:
        lines = [f"_Runbook {escape(r.runbook or '')}_: {_row(r)}" for r in books[:20]]
        blocks.append(section("\n".join(lines)))
    if not incident.is_open:
        blocks.append(context("Resolved: escalation stopped."))
    text = f"Escalations of {incident.id}: {sum(r.state == 'fired' for r in rows)} fired"
    return text, blocks[:50]
