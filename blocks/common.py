"""Small Block Kit pieces shared by every builder. Pure: plain dicts, no I/O.

Every mrkdwn text object is made by `mrkdwn()`, which takes `Mrkdwn` (blocks/mrkdwn.py)
and escapes anything else, so user text cannot become markup by being forgotten; plain_text
objects show their text as it is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import blocks.mrkdwn as mk
from blocks.mrkdwn import Mrkdwn, clip, escape, md

if TYPE_CHECKING:
    from bot.core.models import Incident

Block = dict[str, Any]
Message = tuple[Mrkdwn, list[Block]]

SECTION_TEXT_MAX = 3000
HEADER_TEXT_MAX = 150
BUTTON_TEXT_MAX = 75


def role_title(role: str) -> str:
    return role.replace("_", " ").title()


def shown_title(incident: Incident) -> str:
    """The title with "[DRILL] " before it for a game-day drill (once: bot/core/redaction.py may
    have added it already)."""
    tag = incident.drill_tag
    return incident.title if incident.title.startswith(tag) else tag + incident.title


def mention(user_id: str | None) -> Mrkdwn:
    return mk.user(user_id) if user_id else md("_unassigned_")


def channel_link(channel_id: str | None, fallback: str = "") -> Mrkdwn:
    return mk.channel(channel_id, fallback)


def date_token(epoch: float, fmt: str = "{date_short_pretty} {time}") -> Mrkdwn:
    return mk.date(epoch, fmt)


def header(text: str) -> Block:
    return {"type": "header", "text": {"type": "plain_text", "text": clip(text, HEADER_TEXT_MAX)}}


def section(
    text: Mrkdwn, *, fields: list[Mrkdwn] | None = None, accessory: Block | None = None
) -> Block:
    block: Block = {"type": "section", "text": mrkdwn(clip(text, SECTION_TEXT_MAX))}
    if fields:
        block["fields"] = [mrkdwn(clip(f, 2000)) for f in fields[:10]]
    if accessory:
        block["accessory"] = accessory
    return block


def fields_section(fields: list[Mrkdwn]) -> Block:
    return {"type": "section", "fields": [mrkdwn(clip(f, 2000)) for f in fields[:10]]}


def context(*texts: Mrkdwn) -> Block:
    return {"type": "context", "elements": [mrkdwn(clip(t, 3000)) for t in texts[:10]]}


def divider() -> Block:
    return {"type": "divider"}


def mrkdwn(text: Mrkdwn) -> dict[str, str]:
    return {"type": "mrkdwn", "text": Mrkdwn(text)}


def message(text: Mrkdwn, *blocks: Block) -> Message:
    """A message whose fallback `text` (what notifications show) is also its one section."""
    return text, [section(text), *blocks]


def plain(text: str, limit: int = 3000) -> dict[str, Any]:
    return {"type": "plain_text", "text": clip(text, limit), "emoji": True}


def button(
    text: str, action_id: str, value: str = "", *, style: str | None = None, url: str | None = None
) -> Block:
    b: Block = {"type": "button", "text": plain(text, BUTTON_TEXT_MAX), "action_id": action_id}
    if value:
        b["value"] = value
    if style:
        b["style"] = style
    if url:
        b["url"] = url
    return b


def actions(*elements: Block, block_id: str | None = None) -> Block:
    block: Block = {"type": "actions", "elements": list(elements)}
    if block_id:
        block["block_id"] = block_id
    return block


def option(text: str, value: str) -> Block:
    return {"text": plain(text, 75), "value": value}


__all__ = ["Block", "Message", "Mrkdwn", "clip", "escape", "md"]
