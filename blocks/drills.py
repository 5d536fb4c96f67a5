"""Block Kit for game-day drills: the scenario list, the drill's notice and scripted
messages, the Acknowledge page stand-in, and the drill report. Pure functions."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from blocks.common import (
    Block,
    actions,
    button,
    clip,
    context,
    date_token,
    divider,
    escape,
    escape_keeping_mentions,
    fields_section,
    header,
    mention,
    section,
)
from blocks.incident import Message
from bot.models import DrillInfo, DrillMeasure, DrillReport, Incident

ACTION_ACK = "drill_ack"
ACTION_START = "drill_start"  # action ids `drill_start:<id>` and `drill_start_fast:<id>`
ACTION_START_FAST = "drill_start_fast"
START_PATTERN = re.compile(r"^drill_start(?:_fast)?:")
USAGE = "/incident drill [scenario] [fast]"
MAX_LISTED = 15  # three blocks each, within a message's 50
TIMELINE_SECTIONS = 30


@dataclass(frozen=True)
class ScenarioRow:
    """A scenario as the list shows it."""

    id: str
    title: str
    severity: str
    seconds: float  # time limit
    steps: int
    summary: str = ""


def span(seconds: float) -> str:
    """`45 s`, `2 min 05 s`, `1 h 02 min`: a drill's durations, to the second."""
    total = max(0, round(seconds))
    if total < 60:
        return f"{total} s"
    if total < 3600:
        minutes, secs = divmod(total, 60)
        return f"{minutes} min" if secs == 0 else f"{minutes} min {secs:02d} s"
    hours, rest = divmod(total, 3600)
    return f"{hours} h {rest // 60:02d} min"


def offset(seconds: float) -> str:
    """`+2:05`, `+1:02:05`: time since the drill started."""
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"+{hours}:{minutes:02d}:{secs:02d}" if hours else f"+{minutes}:{secs:02d}"


def target_name(key: str) -> str:
    return key.replace("_", " ").capitalize()


def scenario_list(rows: Sequence[ScenarioRow], *, fast: float) -> Message:
    if not rows:
        text = "No drill scenarios are loaded (drills/*.yaml)."
        return text, [section(f":information_source: {text}")]
    blocks: list[Block] = [header("Game-day drills")]
    for row in rows[:MAX_LISTED]:
        lines = [
            f"*{escape(row.title)}* · `{row.id}`",
            f"{row.severity} · {span(row.seconds)} · {row.steps} scripted events",
        ]
        if row.summary:
            lines.append(f"_{escape(clip(' '.join(row.summary.split()), 400))}_")
        blocks.append(section("\n".join(lines)))
        blocks.append(
            actions(
                button("Start", f"{ACTION_START}:{row.id}", row.id, style="primary"),
                button(f"Start fast (×{fast:g})", f"{ACTION_START_FAST}:{row.id}", row.id),
            )
        )
    if len(rows) > MAX_LISTED:
        blocks.append(context(f"…and {len(rows) - MAX_LISTED} more: `{USAGE}`."))
    blocks.append(
        context(
            f"`{USAGE}` starts one: a channel `drill-…`, marked DRILL everywhere, no real pages. "
            "`fast` runs the clock faster, for a demo."
        )
    )
    return f"{len(rows)} drill scenarios", blocks


def started(incident: Incident) -> Message:
    where = f"<#{incident.channel_id}>" if incident.channel_id else f"#{incident.channel_name}"
    drill = incident.drill
    limit = f", time limit {span(drill.time_limit)}" if drill else ""
    text = f"[DRILL] Drill {incident.id} started: {escape(incident.title)} → {where}{limit}"
    return text, [section(text)]


def drill_notice(
    incident: Incident,
    drill: DrillInfo,
    *,
    steps: int,
    drill_service: str | None,
    pages: bool,
) -> Message:
    """The drill's first message in its channel: what it is, its clock, and paging."""
    ends = date_token(incident.declared_at + drill.time_limit, "{time}")
    targets = " · ".join(f"{target_name(k)} {span(v)}" for k, v in drill.targets.items())
    blocks: list[Block] = [
        header(f"Game-day drill · {incident.title}"),
        section(
            f":performing_arts: This is a *drill* (scenario `{drill.scenario}`): nothing real is "
            "broken. Work it as you would the real thing: take command, follow the runbook, "
            "post updates, resolve when it is fixed. Alerts and messages will arrive here as "
            "the scenario plays."
        ),
        fields_section(
            [
                f"*Time limit*\n{span(drill.time_limit)} (ends {ends})",
                f"*Script*\n{steps} scripted events",
                f"*Targets*\n{targets or 'none set'}",
                f"*Started by*\n{mention(drill.started_by)}",
            ]
        ),
    ]
    if drill_service and pages:
        blocks.append(
            context(
                f":rotating_light: Drill pages go only to the drill PagerDuty service "
                f"`{escape(drill_service)}`; nobody else is paged."
            )
        )
    else:
        why = (
            f"{incident.severity} does not page"
            if drill_service
            else "no drill PagerDuty service is configured (`drills.pagerduty_service_id`)"
        )
        blocks.append(
            section(
                f":no_bell: *Drill: no real page sent* ({why}). Acknowledge here as you would "
                "the page:"
            )
        )
        blocks.append(actions(button("Acknowledge page", ACTION_ACK, incident.id, style="primary")))
    if drill.speed != 1:
        blocks.append(context(f":fast_forward: Fast: the scenario's clock runs ×{drill.speed:g}."))
    paging = "Pages go to the drill service." if drill_service and pages else "No real page sent."
    text = f"Drill: {incident.title} (scenario {drill.scenario}). {paging}"
    return text, blocks


def drill_message(text: str, *, at: float) -> Message:
    """A scripted message of the scenario (a report from support, a status page, ...),
    `at` seconds after the start."""
    body = f":speech_balloon: *Scenario update* · `{offset(at)}`\n>{escape(text)}"
    return f"Scenario update: {text}", [section(body)]


def acknowledged(user: str, *, at: float) -> Message:
    when = date_token(at, "{time}")
    text = f":white_check_mark: {mention(user)} acknowledged the drill page {when}."
    return text, [section(text)]


def _measure_line(m: DrillMeasure) -> str:
    icon = {True: ":white_check_mark:", False: ":x:", None: ":small_blue_diamond:"}[m.met]
    value = span(m.seconds) if m.seconds is not None else "not done"
    parts = [f"{icon} *{escape(m.name)}* · {value}"]
    if m.target is not None:
        parts.append(f"target {span(m.target)}")
    if m.how:
        parts.append(escape(m.how))
    return " · ".join(parts)


def drill_report(report: DrillReport) -> Message:
    ran = span(report.ended_at - report.started_at)
    ended = "time limit reached" if report.ended_by == "time_limit" else "resolved"
    lead = f"Scenario `{report.scenario}` · ran {ran} · {ended}"
    if report.speed != 1:
        lead += f" · fast ×{report.speed:g} (targets scaled)"
    met = [m.met for m in report.measures if m.met is not None]
    if met:
        lead += f"\n*{sum(met)} of {len(met)} targets met.*"
    blocks: list[Block] = [
        header(f"Drill report · {report.title}"),
        section(lead),
        section("\n".join(_measure_line(m) for m in report.measures)),
        divider(),
    ]
    lines = []
    for e in report.timeline:
        who = f" {mention(e.actor)}" if e.actor else ""
        at = offset(e.at - report.started_at)
        lines.append(clip(f"`{at}`{who} · {escape_keeping_mentions(e.text)}", 2900))
    chunks: list[list[str]] = [[]]
    for line in lines:
        if sum(len(c) + 1 for c in chunks[-1]) + len(line) > 2900:
            chunks.append([])
        chunks[-1].append(line)
    sections = [section("*Timeline*\n" + "\n".join(chunks[0]))]
    sections += [section("\n".join(c)) for c in chunks[1:] if c]
    if len(sections) > TIMELINE_SECTIONS:
        sections = sections[:TIMELINE_SECTIONS]
        sections.append(context(f"Timeline truncated: {len(lines)} entries in all."))
    blocks += sections
    blocks.append(
        context(
            "Figures are times since the drill started, from its timeline. Drills never count "
            "in `/incident stats` or MTTA/MTTR."
        )
    )
    summary = "; ".join(
        f"{m.name} {span(m.seconds) if m.seconds is not None else 'not done'}"
        for m in report.measures
    )
    return f"Drill report for {report.incident_id} ({ended}): {summary}", blocks
