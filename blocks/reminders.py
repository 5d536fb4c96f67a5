"""Block Kit for update reminders: the reminder, its grace-period escalation, the snoozed
notice and the "Post update" modal. Pure functions of the domain objects."""

from __future__ import annotations

from collections.abc import Mapping

import blocks.mrkdwn as mk
from blocks.common import (
    Block,
    Message,
    Mrkdwn,
    actions,
    button,
    context,
    date_token,
    md,
    mention,
    option,
    plain,
    role_title,
    section,
)
from blocks.mrkdwn import join
from bot.core.durations import format_duration
from bot.core.models import OPEN_STATUSES, Incident

ACTION_POST_UPDATE = "reminder_post_update"
ACTION_SNOOZE = "reminder_snooze"
UPDATE_CALLBACK = "reminder_update"
# the modal's fields, in the order they are shown and written into the update
UPDATE_FIELDS = (
    ("impact", "Impact", "Who and what is affected, how badly"),
    ("actions", "Current actions", "What is being done right now"),
    ("next", "Next steps", "What happens next, and who does it"),
    ("eta", "ETA", "When you expect the next change (or resolution)"),
)


def _last(incident: Incident) -> Mrkdwn:
    if incident.last_update:
        return md("the last one was {}", date_token(incident.last_update.at, "{time}"))
    return md("none yet since it was declared {}", date_token(incident.declared_at, "{time}"))


def update_reminder(incident: Incident, *, every: float, snooze: float) -> Message:
    """To the commander: an update is due. Buttons: Post update, Snooze."""
    who = mention(incident.commander) if incident.commander else mk.broadcast("here")
    text = md(
        "{} An update on this {} incident is due: {}. {} incidents get an update every {}.",
        who,
        incident.severity,
        _last(incident),
        incident.severity,
        format_duration(every),
    )
    return (
        text,
        [
            section(md(":alarm_clock: {}", text)),
            actions(
                button("Post update", ACTION_POST_UPDATE, incident.id, style="primary"),
                button(f"Snooze {format_duration(snooze)}", ACTION_SNOOZE, incident.id),
            ),
        ],
    )


def update_overdue(incident: Incident, *, overdue_for: float, leads: Mapping[str, str]) -> Message:
    """The grace period passed without an update: ping the channel and the leads."""
    named = join(
        md("{} ({})", mention(uid), role_title(role).lower()) for role, uid in leads.items()
    )
    ask = md("{}, please", named) if named else md("Someone, please")
    text = md(
        "{} No update on {} for {} past its due time ({}). {} post one: `/incident update …` "
        "or *Post update*.",
        mk.broadcast("channel"),
        incident.id,
        format_duration(overdue_for),
        _last(incident),
        ask,
    )
    return (
        text,
        [
            section(md(":rotating_light: {}", text)),
            actions(button("Post update", ACTION_POST_UPDATE, incident.id, style="primary")),
        ],
    )


def snoozed(by: str, until: float) -> Message:
    until_token = date_token(until, "{time}")
    text = md(":zzz: Update reminder snoozed by {} until {}.", mention(by), until_token)
    return text, [section(text)]


def update_modal(incident: Incident, *, private_metadata: str) -> dict[str, object]:
    status_options = [option(s.title(), s) for s in OPEN_STATUSES]
    initial = next((o for o in status_options if o["value"] == incident.status), None)
    status_element: Block = {
        "type": "static_select",
        "action_id": "status",
        "options": status_options,
    }
    if initial:
        status_element["initial_option"] = initial
    blocks: list[Block] = [
        context(md("*{}* · {}", incident.id, incident.title)),
        {
            "type": "input",
            "block_id": "status",
            "label": plain("Status"),
            "element": status_element,
        },
    ]
    for field, label, hint in UPDATE_FIELDS:
        blocks.append(
            {
                "type": "input",
                "block_id": field,
                "optional": field in ("next", "eta"),
                "label": plain(label),
                "element": {
                    "type": "plain_text_input",
                    "action_id": field,
                    "multiline": field != "eta",
                    "max_length": 150 if field == "eta" else 1000,
                    "placeholder": plain(hint),
                },
            }
        )
    return {
        "type": "modal",
        "callback_id": UPDATE_CALLBACK,
        "title": plain("Post an update", 24),
        "submit": plain("Post", 24),
        "close": plain("Cancel", 24),
        "private_metadata": private_metadata,
        "blocks": blocks,
    }


def update_text(values: Mapping[str, str | None]) -> str:
    """The modal's fields as one update text (the status goes on the update itself)."""
    lines = []
    for field, label, _ in UPDATE_FIELDS:
        value = " ".join((values.get(field) or "").split()) if field == "eta" else values.get(field)
        if value and value.strip():
            lines.append(f"*{label}:* {value.strip()}")
    return "\n".join(lines)
