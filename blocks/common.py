"""Small Block Kit pieces shared by every builder. Pure: plain dicts, no I/O."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

Block = dict[str, Any]

SECTION_TEXT_MAX = 3000
HEADER_TEXT_MAX = 150
BUTTON_TEXT_MAX = 75


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def escape(text: str) -> str:
    """Slack's three control characters; user text must never become markup."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_SLACK_TOKEN = re.compile(
    r"&lt;([@#][UWCG][A-Z0-9]+(?:\|[^&]*?)?|!subteam\^S[A-Z0-9]+|!date\^[^&]*?)&gt;"
)


def escape_keeping_mentions(text: str) -> str:
    """Escape text but keep the user/channel/user group mentions and date tokens the bot
    wrote into it (timeline entries mix both)."""
    return _SLACK_TOKEN.sub(r"<\1>", escape(text))


def mention(user_id: str | None) -> str:
    return f"<@{user_id}>" if user_id else "_unassigned_"


def channel_link(channel_id: str | None, fallback: str = "") -> str:
    return f"<#{channel_id}>" if channel_id else f"#{fallback}"


def date_token(epoch: float, fmt: str = "{date_short_pretty} {time}") -> str:
    """A Slack date token: every reader sees their own timezone (DESIGN rule 4)."""
    fallback = datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(epoch)}^{fmt}|{fallback}>"


def header(text: str) -> Block:
    return {"type": "header", "text": {"type": "plain_text", "text": clip(text, HEADER_TEXT_MAX)}}


def section(text: str, *, fields: list[str] | None = None, accessory: Block | None = None) -> Block:
    block: Block = {"type": "section", "text": mrkdwn(clip(text, SECTION_TEXT_MAX))}
    if fields:
        block["fields"] = [mrkdwn(clip(f, 2000)) for f in fields[:10]]
    if accessory:
        block["accessory"] = accessory
    return block


def fields_section(fields: list[str]) -> Block:
    return {"type": "section", "fields": [mrkdwn(clip(f, 2000)) for f in fields[:10]]}


def context(*texts: str) -> Block:
    return {"type": "context", "elements": [mrkdwn(clip(t, 3000)) for t in texts[:10]]}


def divider() -> Block:
    return {"type": "divider"}


def mrkdwn(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": text}


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
