"""Block Kit for the escalation matrix: the notice in the incident channel, the DM and the
channel post to whoever is pulled in, and `/incident escalations`. Pure functions."""

from __future__ import annotations

from collections.abc import Sequence

import blocks.mrkdwn as mk
from blocks.common import (
    Block,
    Message,
    Mrkdwn,
    channel_link,
    context,
    date_token,
    header,
    md,
    mention,
    section,
)
from blocks.incident import role_title
from blocks.mrkdwn import join
from bot.core.config import IncidentConfig, target_kind
from bot.core.durations import format_duration
from bot.core.models import EscalationFired, EscalationRow, Incident

STATE_EMOJI = {
    "fired": ":white_check_mark:",
    "skipped": ":heavy_minus_sign:",
    "due": ":hourglass_flowing_sand:",
    "stopped": ":no_entry_sign:",
}


def after_text(seconds: float) -> str:
    return "at once" if seconds < 1 else f"after {format_duration(seconds)}"


def target_text(target: str) -> Mrkdwn:
    """A target as Slack shows it: a mention, a user group mention, a channel link, or
    (a role not yet resolved to its holder) the role's name."""
    kind = target_kind(target)
    if kind == "user":
        return mk.user(target)
    if kind == "group":
        return mk.usergroup(target)
    if kind == "channel":
        return mk.escape(target) if target.startswith("#") else mk.channel(target)
    return md("the {}", role_title(target).lower())


def _targets(targets: Sequence[str]) -> Mrkdwn:
    return join(target_text(t) for t in targets)


def _reach(record: EscalationFired) -> Mrkdwn:
    """Who this step reaches: mentions, channels, the page, roles nobody holds."""
    parts = []
    people = [t for t in record.notified if target_kind(t) in ("user", "group")]
    channels = [t for t in record.notified if target_kind(t) == "channel"]
    if people:
        parts.append(_targets(people))
    if channels:
        parts.append(md("posted in {}", _targets(channels)))
    if record.paged:
        parts.append(md("paging `{}` in PagerDuty", record.paged))
    return join(parts, " · ")


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
    why = f"unresolved {format_duration(record.after)} {_origin(record, incident)}"
    if record.after < 1:
        why = f"{record.severity or 'runbook'} procedure: at once"
    what = md("*{}*", record.note) if record.note else md("the next level")
    lines = [md(":rotating_light: *Escalation* ({}): {}", why, what)]
    reach = _reach(record)
    if reach:
        lines.append(md("Notifying {}.", reach))
    if record.unfilled:
        # `roles`: the configured ones; a runbook may name a role this team does not have
        names = ", ".join(role_title(r).lower() for r in record.unfilled)
        assignable = [r for r in record.unfilled if r in roles]
        how = (
            f"assign someone with `/incident role {assignable[0].replace('_', '-')} @user`"
            if assignable
            else "pull the right person in"
        )
        lines.append(
            md(":warning: Nobody holds {}: {}, {}.", names, mention(incident.commander), how)
        )
    where = f"{incident.severity} escalation matrix" if record.severity else "runbook escalation"
    if step and steps:
        where += f", step {step} of {steps}"
    text = join(lines, "\n")
    return text, [section(text), context(md("{} · `/incident escalations` shows the plan", where))]


def escalation_dm(
    incident: Incident, record: EscalationFired, config: IncidentConfig, *, to_channel: bool = False
) -> Message:
    """To a person (DM) or a channel (post) the step pulls in: what, why, where to go."""
    label = _label(incident, config)
    why = f"unresolved {format_duration(record.after)}" if record.after >= 1 else "its procedure"
    note = f" ({record.note})" if record.note else ""
    where = channel_link(incident.channel_id, incident.channel_name)
    who = "This channel is" if to_channel else "You are"
    text = md(
        ":rotating_light: {} being pulled into incident *{}* ({}): {}. Escalated by {}{}. "
        "Join {}; the commander is {}.",
        who,
        incident.id,
        label,
        incident.title,
        why,
        note,
        where,
        mention(incident.commander),
    )
    return text, [section(text)]


def page_failed(target: str, reason: str) -> Message:
    text = md(":warning: Escalation could not page `{}` in PagerDuty: {}", target, reason)
    return text, [section(text)]


def _label(incident: Incident, config: IncidentConfig) -> str:
    try:
        return f"{incident.severity} · {config.severity(incident.severity).label}"
    except KeyError:
        return incident.severity


def _row(row: EscalationRow) -> Mrkdwn:
    # fired: whom it reached (and what it paged); otherwise whom it names
    who = _targets(row.reached if row.state == "fired" else row.targets)
    if row.page:
        who = md("{}, page `{}`", who, row.page) if who else md("page `{}`", row.page)
    when = md("")
    if row.at is not None:
        verb = {"fired": "fired", "skipped": "reached already", "due": "due", "stopped": "was due"}
        when = md(" · {} {}", verb[row.state], date_token(row.at, "{date_short_pretty} {time}"))
    detail = md(
        "{} *{}* ({}) → {}",
        STATE_EMOJI[row.state],
        row.label,
        after_text(row.after),
        who or md("nobody"),
    )
    if row.unfilled:
        detail += md(" · nobody holds {}", ", ".join(role_title(r).lower() for r in row.unfilled))
    return detail + when


def escalations(
    incident: Incident, rows: Sequence[EscalationRow], config: IncidentConfig
) -> Message:
    """`/incident escalations`: what fired, what was skipped, what is due when."""
    blocks: list[Block] = [header(f"Escalations · {incident.id}")]
    state = incident.escalation
    if state is not None:
        since = date_token(state.since)
        blocks.append(context(md("{} escalation matrix, counting from {}", state.severity, since)))
    matrix = [r for r in rows if r.runbook is None]
    books = [r for r in rows if r.runbook is not None]
    if matrix:
        blocks.append(section(join((_row(r) for r in matrix[:40]), "\n")))
    else:
        sev = incident.severity
        blocks.append(
            section(md("_No escalation matrix for {}_ (`/incident procedure {}`).", sev, sev))
        )
    if books:
        lines = [md("_Runbook {}_: {}", r.runbook or "", _row(r)) for r in books[:20]]
        blocks.append(section(join(lines, "\n")))
    if not incident.is_open:
        blocks.append(context(md("Resolved: escalation stopped.")))
    fired = sum(r.state == "fired" for r in rows)
    return md("Escalations of {}: {} fired", incident.id, fired), blocks[:50]
