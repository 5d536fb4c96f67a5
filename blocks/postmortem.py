"""Block Kit around the post-mortem draft: its buttons, the done notice, the reminder."""

from __future__ import annotations

from blocks.common import Block, actions, button, context, date_token, mention, section
from blocks.stats import duration
from bot.models import Incident, PostmortemState

Message = tuple[str, list[Block]]

ACTION_DONE = "postmortem_done"
ACTION_DRAFT = "postmortem_draft"


def draft_comment(incident: Incident, *, by: str | None) -> str:
    """The comment Slack shows with the uploaded file (plain mrkdwn, no blocks)."""
    who = f"{mention(by)} asked for it" if by else "the incident is resolved"
    return (
        f":memo: Post-mortem draft for *{incident.id}* ({who}), built from the timeline as "
        "it stands now. Copy it into your review doc; `/incident postmortem` rebuilds it."
    )


def draft_posted(incident: Incident, state: PostmortemState) -> Message:
    if state.done_at is not None:
        text = (
            f"Post-mortem draft {state.drafts} of {incident.id}; the post-mortem was marked "
            f"done by {mention(state.done_by)} {date_token(state.done_at)}."
        )
        return text, [context(text)]
    text = (
        f"Post-mortem draft {state.drafts} of {incident.id} is above. Fill in impact, root "
        "cause and lessons with the team, record action items with `/incident followup`, "
        "then mark the post-mortem done."
    )
    buttons = [button("Regenerate draft", ACTION_DRAFT, incident.id)]
    if not incident.is_open:
        buttons.insert(
            0, button("Mark post-mortem done", ACTION_DONE, incident.id, style="primary")
        )
    return text, [section(text), actions(*buttons)]


def marked_done(by: str) -> Message:
    text = f":white_check_mark: {mention(by)} marked the post-mortem done."
    return text, [section(text)]


def reminder(incident: Incident, *, overdue_for: float) -> Message:
    text = (
        f":alarm_clock: {mention(incident.commander)}, the post-mortem of *{incident.id}* is "
        f"not marked done yet, {duration(overdue_for)} after the incident was resolved."
    )
    return text, [
        section(text),
        actions(
            button("Draft post-mortem", ACTION_DRAFT, incident.id),
            button("Mark post-mortem done", ACTION_DONE, incident.id, style="primary"),
        ),
        context("The reminder comes back until the post-mortem is marked done."),
    ]
