"""Block Kit for follow-ups: the recorded notice, the open list with **Done** buttons, the
owner's reminder and the done notice."""

from __future__ import annotations

import re
from collections.abc import Sequence

from blocks.common import (
    Block,
    actions,
    button,
    clip,
    context,
    escape_keeping_mentions,
    header,
    mention,
    section,
)
from bot.models import FollowUp, Incident

Message = tuple[str, list[Block]]

ACTION_DONE = "followup_done"  # in the list: `followup_done:<id>`, value `<id>|<scope>`
ACTION_DONE_PATTERN = re.compile(rf"^{ACTION_DONE}:.+$")
ACTION_DONE_REMINDER = "followup_reminder_done"
ALL = "*"
MAX_LISTED = 45


def _what(f: FollowUp) -> str:
    return escape_keeping_mentions(clip(f.text, 500))


def _facts(f: FollowUp) -> str:
    due = f"due {f.due}" if f.due else "no due date"
    return f"owner {mention(f.owner)} · {due}"


def recorded(f: FollowUp) -> Message:
    text = f":clipboard: Follow-up #{f.number} recorded by {mention(f.created_by)}: {_what(f)}"
    return text, [
        section(f"{text}\n{_facts(f)}"),
        context("`/incident followups` lists the open ones; they go into the post-mortem."),
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
        text = f"No open follow-ups{where}."
        return text, [section(f":sunny: {text}")]
    blocks: list[Block] = [header(f"Open follow-ups{where}")]
    for f in followups[:MAX_LISTED]:
        label = f"*#{f.number}*" if incident else f"*{f.incident_id} #{f.number}*"
        blocks.append(
            section(
                f"{label} {_what(f)}\n{_facts(f)}",
                accessory=button(
                    "Done", f"{ACTION_DONE}:{f.id}", list_value(f, scope), style="primary"
                ),
            )
        )
    if len(followups) > MAX_LISTED:
        blocks.append(context(f"…and {len(followups) - MAX_LISTED} more."))
    return f"{len(followups)} open follow-ups{where}", blocks


def reminder(f: FollowUp, incident: Incident | None) -> Message:
    """The owner's DM. `incident` as it may be shown there (redacted when private: then
    the follow-up's text stays in the channel too)."""
    where = f" of incident *{incident.id}*" if incident else ""
    if incident and incident.channel_id:
        where += f" (<#{incident.channel_id}>)"
    what = "open it in the incident's channel" if incident and incident.redacted else _what(f)
    text = f":alarm_clock: A follow-up{where} is due ({f.due}): {what}"
    return text, [
        section(text),
        actions(button("Done", ACTION_DONE_REMINDER, f.id, style="primary")),
    ]


def done_notice(f: FollowUp) -> Message:
    text = f":white_check_mark: Follow-up #{f.number} done ({mention(f.done_by)}): {_what(f)}"
    return text, [section(text)]
