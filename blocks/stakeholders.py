"""Block Kit for stakeholder updates: the reminder in the incident channel (with **Draft
update**), the draft modal, the update as its audience sees it, and the confirmation in
the incident channel. Pure functions of the domain objects."""

from __future__ import annotations

from typing import LiteralString

import blocks.mrkdwn as mk
from blocks.common import (
    Block,
    Message,
    Mrkdwn,
    actions,
    button,
    clip,
    context,
    date_token,
    md,
    mention,
    plain,
    section,
)
from bot.core.config import StakeholderAudience, target_kind
from bot.core.durations import format_duration
from bot.core.models import Incident

ACTION_DRAFT = "stakeholder_draft"
DRAFT_CALLBACK = "stakeholder_update"
DRAFT_BLOCK = "text"
DRAFT_MAX = 3000  # Slack's limit for a plain_text_input's value


def destination_text(audience: StakeholderAudience) -> Mrkdwn:
    """Where the audience's updates go, as Slack shows it."""
    where = audience.channel
    kind = target_kind(where)
    if kind == "user":
        return md("a DM to {}", mk.user(where))
    if kind == "group":
        return md("a DM to each member of {}", mk.usergroup(where))
    if kind == "channel" and not where.startswith("#"):
        return mk.channel(where)
    return mk.escape(f"#{where.removeprefix('#')}")


def draft_value(incident_id: str, audience_key: str) -> str:
    return f"{incident_id}|{audience_key}"


def parse_draft_value(value: str) -> tuple[str, str]:
    incident_id, _, audience = value.partition("|")
    return incident_id, audience


def update_due(
    incident: Incident,
    audience: StakeholderAudience,
    *,
    owner: str | None,
    last_sent: float | None,
) -> Message:
    """To the comms lead (or commander): this audience is due an update."""
    who = mention(owner) if owner else mk.broadcast("here")
    last = md("last sent {}", date_token(last_sent, "{time}")) if last_sent else md("none sent yet")
    every = format_duration(audience.every.total_seconds())
    text = md(
        "{} *{}* is due an update on this {} incident ({}, every {}; {}).",
        who,
        audience.audience,
        incident.severity,
        destination_text(audience),
        every,
        last,
    )
    return _asking_for_a_draft(":loudspeaker:", text, incident, audience)


def final_update_due(
    incident: Incident, audience: StakeholderAudience, *, owner: str | None
) -> Message:
    """The incident is resolved: close the loop with an audience that heard about it."""
    who = mention(owner) if owner else mk.broadcast("here")
    text = md(
        "{} The incident is resolved: send *{}* the final update ({}).",
        who,
        audience.audience,
        destination_text(audience),
    )
    return _asking_for_a_draft(":white_check_mark:", text, incident, audience)


def _asking_for_a_draft(
    emoji: LiteralString, text: Mrkdwn, incident: Incident, audience: StakeholderAudience
) -> Message:
    """`text` in the incident channel, with the audience's **Draft update** button."""
    draft = button(
        f"Draft update for {audience.audience}",
        ACTION_DRAFT,
        draft_value(incident.id, audience.key),
        style="primary",
    )
    return text, [section(md("{} {}", md(emoji), text)), actions(draft)]


def draft_modal(
    incident: Incident,
    audience: StakeholderAudience,
    draft: str,
    *,
    problem: str | None = None,
    private_metadata: str,
) -> dict[str, object]:
    """The draft, editable, with where it goes. Sending posts it as shown."""
    blocks: list[Block] = [
        context(
            md("*{}* · {}", incident.id, incident.title),
            md("Goes to {} · template `{}`", destination_text(audience), audience.template),
        )
    ]
    if problem:
        blocks.append(section(md(":warning: {}", problem)))
    element: Block = {
        "type": "plain_text_input",
        "action_id": DRAFT_BLOCK,
        "multiline": True,
        "max_length": DRAFT_MAX,
    }
    if draft.strip():
        element["initial_value"] = clip(draft, DRAFT_MAX)
    blocks.append(
        {
            "type": "input",
            "block_id": DRAFT_BLOCK,
            "label": plain(f"Update for {audience.audience}", 2000),
            "element": element,
            "hint": plain("Drafted from the latest status update; edit it before sending."),
        }
    )
    return {
        "type": "modal",
        "callback_id": DRAFT_CALLBACK,
        "title": plain(f"Update: {audience.audience}", 24),
        "submit": plain("Send", 24),
        "close": plain("Cancel", 24),
        "private_metadata": private_metadata,
        "blocks": blocks,
    }


def mentionable(incident: Incident) -> tuple[set[str], set[str]]:
    """The users and channels a stakeholder draft names (bot/stakeholders.py puts them in
    as mentions): in the update that is sent, only these stay live."""
    users = set(incident.roles.values())
    if incident.last_update:
        users.add(incident.last_update.by)
    return users, {incident.channel_id} if incident.channel_id else set()


def stakeholder_update(incident: Incident, text: str, *, by: str) -> Message:
    """The update as its audience reads it: the text as written (the mentions its draft
    gave it live, nothing else), and where it came from."""
    users, channels = mentionable(incident)
    body = mk.keeping(text.strip(), users=users, channels=channels)
    chunks = mk.pieces(body, 2900)[:45] or [md("_(empty)_")]
    blocks: list[Block] = [section(chunk) for chunk in chunks]
    blocks.append(context(md("Incident {} · sent by {}", incident.id, mention(by))))
    if incident.drill is not None:  # a game-day drill says so first (bot/drills/)
        blocks.insert(0, context(md("*[DRILL]* A game-day drill: nothing real is broken.")))
    tag = incident.drill_tag
    return mk.escape(tag) + (clip(body, 3000 - len(tag)) or md("Incident update")), blocks


def update_sent(audience: StakeholderAudience, *, by: str, next_due: float | None) -> Message:
    """In the incident channel: the audience got its update, and when the next is due."""
    text = md(
        ":outbox_tray: {} sent *{}* an update ({}).",
        mention(by),
        audience.audience,
        destination_text(audience),
    )
    if next_due is not None:
        text += md(" Next one due {}.", date_token(next_due, "{time}"))
    return text, [section(text)]
