"""Block Kit around the post-mortem draft: its buttons, the done notice, the reminder."""

from __future__ import annotations

from blocks.common import (
    Message,
    Mrkdwn,
    actions,
    button,
    context,
    date_token,
    md,
    mention,
    section,
)
from blocks.stats import duration
from bot.core.models import Incident, PostmortemState

ACTION_DONE = "postmortem_done"
ACTION_DRAFT = "postmortem_draft"


def draft_comment(incident: Incident, *, by: str | None) -> Mrkdwn:
    """The comment Slack shows with the uploaded file (plain mrkdwn, no blocks)."""
    who = md("{} asked for it", mention(by)) if by else md("the incident is resolved")
    return md(
        ":memo: Post-mortem draft for *{}* ({}), built from the timeline as it stands now. "
        "Copy it into your review doc; `/incident postmortem` rebuilds it.",
        incident.id,
        who,
    )


def draft_posted(incident: Incident, state: PostmortemState) -> Message:
    if state.done_at is not None:
        text = md(
            "Post-mortem draft {} of {}; the post-mortem was marked done by {} {}.",
            state.drafts,
            incident.id,
            mention(state.done_by),
            date_token(state.done_at),
        )
        return text, [context(text)]
    text = md(
        "Post-mortem draft {} of {} is above. Fill in impact, root cause and lessons with the "
        "team, record action items with `/incident followup`, then mark the post-mortem done.",
        state.drafts,
        incident.id,
    )
    buttons = [button("Regenerate draft", ACTION_DRAFT, incident.id)]
    if not incident.is_open:
        buttons.insert(
            0, button("Mark post-mortem done", ACTION_DONE, incident.id, style="primary")
        )
    return text, [section(text), actions(*buttons)]


def marked_done(by: str) -> Message:
    text = md(":white_check_mark: {} marked the post-mortem done.", mention(by))
    return text, [section(text)]


def reminder(incident: Incident, *, overdue_for: float) -> Message:
    text = md(
        ":alarm_clock: {}, the post-mortem of *{}* is not marked done yet, {} after the "
        "incident was resolved.",
        mention(incident.commander),
        incident.id,
        duration(overdue_for),
    )
    return text, [
        section(text),
        actions(
            button("Draft post-mortem", ACTION_DRAFT, incident.id),
            button("Mark post-mortem done", ACTION_DONE, incident.id, style="primary"),
        ),
        context(md("The reminder comes back until the post-mortem is marked done.")),
    ]
