"""Block Kit for follow-ups: the recorded notice, the open list with **Done** buttons, the
owner's reminder and the done notice."""

from __future__ import annotations

import re
from collections.abc import Sequence

import blocks.mrkdwn as mk
from blocks.common import (
    Block,
    Message,
    Mrkdwn,
    actions,
    button,
    clip,
    context,
    header,
    md,
    mention,
    section,
)
from bot.core.models import FollowUp, Incident

ACTION_DONE = "followup_done"  # in the list: `followup_done:<id>`, value `<id>|<scope>`
ACTION_DONE_PATTERN = re.compile(rf"^{ACTION_DONE}:.+$")
ACTION_DONE_REMINDER = "followup_reminder_done"
ALL = "*"
MAX_LISTED = 45


def _what(f: FollowUp) -> Mrkdwn:
    return mk.escape(clip(f.text, 500))


def _facts(f: FollowUp) -> Mrkdwn:
    due = f"due {f.due}" if f.due else "no due date"
    return md("owner {} · {}", mention(f.owner), due)


def recorded(f: FollowUp) -> Message:
    text = md(
        ":clipboard: Follow-up #{} recorded by {}: {}", f.number, mention(f.created_by), _what(f)
    )
    return text, [
        section(md("{}\n{}", text, _facts(f))),
        context(md("`/incident followups` lists the open ones; they go into the post-mortem.")),
    ]


def list_value(f: FollowUp, scope: str) -> str:
    return f"{f.id}|{scope}"


def parse_list_value(value: str) -> tuple[str, str]:
    followup_id, _, scope = value.partition("|")
    return followup_id, scope or ALL


def followup_list(followups: Sequence[FollowUp], incident: Incident | None) -> Message:
    scope = incident.id if incident else ALL
    where = f" · {incident.id}" if incident else " (all incidents)"
    if not followups:
        text = md("No open follow-ups{}.", where)
        return text, [section(md(":sunny: {}", text))]
    blocks: list[Block] = [header(f"Open follow-ups{where}")]
    for f in followups[:MAX_LISTED]:
        label = md("*#{}*", f.number) if incident else md("*{} #{}*", f.incident_id, f.number)
        blocks.append(
            section(
                md("{} {}\n{}", label, _what(f), _facts(f)),
                accessory=button(
                    "Done", f"{ACTION_DONE}:{f.id}", list_value(f, scope), style="primary"
                ),
            )
        )
    if len(followups) > MAX_LISTED:
        blocks.append(context(md("…and {} more.", len(followups) - MAX_LISTED)))
    return md("{} open follow-ups{}", len(followups), where), blocks


def reminder(f: FollowUp, incident: Incident | None) -> Message:
    """The owner's DM. `incident` as it may be shown there (redacted when private: then
    the follow-up's text stays in the channel too)."""
    where = md(" of incident *{}*", incident.id) if incident else md("")
    if incident and incident.channel_id:
        where += md(" ({})", mk.channel(incident.channel_id))
    hidden = incident is not None and incident.redacted
    what = md("open it in the incident's channel") if hidden else _what(f)
    text = md(":alarm_clock: A follow-up{} is due ({}): {}", where, f.due, what)
    return text, [
        section(text),
        actions(button("Done", ACTION_DONE_REMINDER, f.id, style="primary")),
    ]


def done_notice(f: FollowUp) -> Message:
    text = md(
        ":white_check_mark: Follow-up #{} done ({}): {}", f.number, mention(f.done_by), _what(f)
    )
    return text, [section(text)]
