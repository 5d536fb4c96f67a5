"""Block Kit for `/incident stats`, and how durations are written after the incident
(the post-mortem's Markdown uses the same words). Pure functions of bot/core/models.py objects.
"""

from __future__ import annotations

from collections.abc import Sequence

from blocks.common import Block, Message, Mrkdwn, clip, context, fields_section, header, md, section
from blocks.mrkdwn import join
from bot.core.durations import format_duration
from bot.core.models import IncidentTimes, SeverityStats, Spread, StatsReport

ACK_DEFINITION = md(
    "*Time to acknowledge*: declared → the PagerDuty acknowledgement; with no page (or "
    "one nobody acknowledged), declared → the first human action on the timeline (an "
    "update, a status, severity or role change, a note, a runbook step, a pin, the "
    "resolve). *Time to resolve*: declared → resolved. Median and p90 interpolate "
    "linearly between the nearest values."
)
MAX_LISTED = 40


def duration(seconds: float | None) -> str:
    """A duration as every duration is shown (bot/core/durations.py); `—` for no value."""
    return "—" if seconds is None else format_duration(seconds)


def offset(seconds: float) -> str:
    """Time since declaration as `+1:23:05` (hours may pass 24); negative before it."""
    sign = "-" if seconds < 0 else "+"
    total = abs(round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{sign}{hours}:{minutes:02d}:{secs:02d}"


def spread_text(s: Spread) -> str:
    if not s.count:
        return "no data"
    return f"median {duration(s.median)} · p90 {duration(s.p90)} (n={s.count})"


def window_label(seconds: float) -> str:
    days = round(seconds / 86400)
    return f"last {days} days" if days != 1 else "last day"


def _row(row: SeverityStats) -> Mrkdwn:
    open_count = row.declared - row.resolved
    counts = f"{row.declared} declared, {row.resolved} resolved"
    if open_count:
        counts += f", {open_count} open"
    return md(
        "*{}* · {}\nAcknowledge: {}\nResolve: {}",
        row.severity,
        counts,
        spread_text(row.acknowledge),
        spread_text(row.resolve),
    )


def _incident_line(t: IncidentTimes) -> Mrkdwn:
    ack = duration(t.time_to_acknowledge)
    if t.ack_source == "pagerduty":
        ack += " (PagerDuty)"
    resolved = duration(t.time_to_resolve) if t.resolved_at is not None else "open"
    title = clip(t.title, 80)
    return md(
        "`{}` {} · {} · ack {} · resolved {}", t.incident_id, t.severity, title, ack, resolved
    )


def stats_message(report: StatsReport) -> Message:
    span = window_label(report.until - report.since)
    text = md(
        "Incidents, {}: {} declared; time to acknowledge {}; time to resolve {}",
        span,
        report.total.declared,
        spread_text(report.total.acknowledge),
        spread_text(report.total.resolve),
    )
    blocks: list[Block] = [header(f"Incident response · {span}")]
    if not report.incidents:
        blocks.append(section(md(":sunny: No incidents were declared in the {}.", span)))
        return text, blocks
    blocks.append(section(_row(report.total)))
    cells = [_row(r) for r in report.rows]
    for i in range(0, len(cells), 10):
        blocks.append(fields_section(cells[i : i + 10]))
    blocks.append(section(md("*Incidents behind these numbers* (newest first)")))
    lines = [_incident_line(t) for t in report.incidents[:MAX_LISTED]]
    chunk: list[Mrkdwn] = []
    for line in lines:
        if sum(len(c) + 1 for c in chunk) + len(line) > 2900:
            blocks.append(section(join(chunk, "\n")))
            chunk = []
        chunk.append(line)
    if chunk:
        blocks.append(section(join(chunk, "\n")))
    if len(report.incidents) > MAX_LISTED:
        blocks.append(context(md("…and {} more.", len(report.incidents) - MAX_LISTED)))
    blocks.append(context(ACK_DEFINITION))
    return text, blocks


__all__: Sequence[str] = ["duration", "offset", "spread_text", "stats_message"]
