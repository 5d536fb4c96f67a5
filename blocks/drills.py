"""Block Kit for game-day drills: the scenario list, the drill's notice and scripted
messages, the Acknowledge page stand-in, and the drill report. Pure functions."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from blocks.common import (
    Block,
    Message,
    Mrkdwn,
    actions,
    button,
    channel_link,
    clip,
    context,
    date_token,
    divider,
    fields_section,
    header,
    md,
    mention,
    section,
)
from blocks.mrkdwn import join
from bot.core.durations import format_duration
from bot.core.models import DrillInfo, DrillMeasure, DrillReport, Incident

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
        text = md("No drill scenarios are loaded (drills/*.yaml).")
        return text, [section(md(":information_source: {}", text))]
    blocks: list[Block] = [header("Game-day drills")]
    for row in rows[:MAX_LISTED]:
        lines = [
            md("*{}* · `{}`", row.title, row.id),
            md(
                "{} · {} · {} scripted events",
                row.severity,
                format_duration(row.seconds),
                row.steps,
            ),
        ]
        if row.summary:
            lines.append(md("_{}_", clip(" ".join(row.summary.split()), 400)))
        blocks.append(section(join(lines, "\n")))
        blocks.append(
            actions(
                button("Start", f"{ACTION_START}:{row.id}", row.id, style="primary"),
                button(f"Start fast (×{fast:g})", f"{ACTION_START_FAST}:{row.id}", row.id),
            )
        )
    if len(rows) > MAX_LISTED:
        blocks.append(context(md("…and {} more: `{}`.", len(rows) - MAX_LISTED, USAGE)))
    blocks.append(
        context(
            md(
                "`{}` starts one: a channel `drill-…`, marked DRILL everywhere, no real pages. "
                "`fast` runs the clock faster, for a demo.",
                USAGE,
            )
        )
    )
    return md("{} drill scenarios", len(rows)), blocks


def started(incident: Incident) -> Message:
    where = channel_link(incident.channel_id, incident.channel_name)
    drill = incident.drill
    limit = f", time limit {format_duration(drill.time_limit)}" if drill else ""
    text = md("[DRILL] Drill {} started: {} → {}{}", incident.id, incident.title, where, limit)
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
    targets = " · ".join(f"{target_name(k)} {format_duration(v)}" for k, v in drill.targets.items())
    blocks: list[Block] = [
        header(f"Game-day drill · {incident.title}"),
        section(
            md(
                ":performing_arts: This is a *drill* (scenario `{}`): nothing real is broken. "
                "Work it as you would the real thing: take command, follow the runbook, post "
                "updates, resolve when it is fixed. Alerts and messages will arrive here as the "
                "scenario plays.",
                drill.scenario,
            )
        ),
        fields_section(
            [
                md("*Time limit*\n{} (ends {})", format_duration(drill.time_limit), ends),
                md("*Script*\n{} scripted events", steps),
                md("*Targets*\n{}", targets or "none set"),
                md("*Started by*\n{}", mention(drill.started_by)),
            ]
        ),
    ]
    if drill_service and pages:
        blocks.append(
            context(
                md(
                    ":rotating_light: Drill pages go only to the drill PagerDuty service `{}`; "
                    "nobody else is paged.",
                    drill_service,
                )
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
                md(
                    ":no_bell: *Drill: no real page sent* ({}). Acknowledge here as you would "
                    "the page:",
                    why,
                )
            )
        )
        blocks.append(actions(button("Acknowledge page", ACTION_ACK, incident.id, style="primary")))
    if drill.speed != 1:
        speed = md(":fast_forward: Fast: the scenario's clock runs ×{:g}.", drill.speed)
        blocks.append(context(speed))
    paging = "Pages go to the drill service." if drill_service and pages else "No real page sent."
    text = md("Drill: {} (scenario {}). {}", incident.title, drill.scenario, paging)
    return text, blocks


def drill_message(text: str, *, at: float) -> Message:
    """A scripted message of the scenario (a report from support, a status page, ...),
    `at` seconds after the start."""
    body = md(":speech_balloon: *Scenario update* · `{}`\n>{}", offset(at), text)
    return md("Scenario update: {}", text), [section(body)]


def acknowledged(user: str, *, at: float) -> Message:
    when = date_token(at, "{time}")
    text = md(":white_check_mark: {} acknowledged the drill page {}.", mention(user), when)
    return text, [section(text)]


def _measure_line(m: DrillMeasure) -> Mrkdwn:
    icon = {True: ":white_check_mark:", False: ":x:", None: ":small_blue_diamond:"}[m.met]
    value = format_duration(m.seconds) if m.seconds is not None else "not done"
    parts = [md("{} *{}* · {}", icon, m.name, value)]
    if m.target is not None:
        parts.append(md("target {}", format_duration(m.target)))
    if m.how:
        parts.append(Mrkdwn(m.how))
    return join(parts, " · ")


def drill_report(report: DrillReport) -> Message:
    ran = format_duration(report.ended_at - report.started_at)
    ended = "time limit reached" if report.ended_by == "time_limit" else "resolved"
    lead = md("Scenario `{}` · ran {} · {}", report.scenario, ran, ended)
    if report.speed != 1:
        lead += md(" · fast ×{:g} (targets scaled)", report.speed)
    met = [m.met for m in report.measures if m.met is not None]
    if met:
        lead += md("\n*{} of {} targets met.*", sum(met), len(met))
    blocks: list[Block] = [
        header(f"Drill report · {report.title}"),
        section(lead),
        section(join((_measure_line(m) for m in report.measures), "\n")),
        divider(),
    ]
    lines = []
    for e in report.timeline:
        who = md(" {}", mention(e.actor)) if e.actor else md("")
        at = offset(e.at - report.started_at)
        lines.append(clip(md("`{}`{} · {}", at, who, e.shown), 2900))
    chunks: list[list[Mrkdwn]] = [[]]
    for line in lines:
        if sum(len(c) + 1 for c in chunks[-1]) + len(line) > 2900:
            chunks.append([])
        chunks[-1].append(line)
    sections = [section(md("*Timeline*\n{}", join(chunks[0], "\n")))]
    sections += [section(join(c, "\n")) for c in chunks[1:] if c]
    if len(sections) > TIMELINE_SECTIONS:
        sections = sections[:TIMELINE_SECTIONS]
        sections.append(context(md("Timeline truncated: {} entries in all.", len(lines))))
    blocks += sections
    blocks.append(
        context(
            md(
                "Figures are times since the drill started, from its timeline. Drills never "
                "count in `/incident stats` or MTTA/MTTR."
            )
        )
    )
    summary = "; ".join(
        f"{m.name} {format_duration(m.seconds) if m.seconds is not None else 'not done'}"
        for m in report.measures
    )
    text = md("Drill report for {} ({}): {}", report.incident_id, ended, summary)
    return text, blocks
