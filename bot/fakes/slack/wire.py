"""What arrives on the wire and what Slack refuses there: method arguments read the way
Slack reads them (query string, form or JSON), Slack's error answer, the scopes each method
needs, channel names, message content (Block Kit through blocks/limits.py), cursor paging,
and the registry of Web API methods the families in bot/fakes/slack/methods/ fill."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from typing import Any

from blocks.limits import check_blocks
from bot.fakes.slack.model import CHANNEL_NAME_LIMIT, MESSAGE_TEXT_LIMIT

DEFAULT_SCOPES: tuple[str, ...] = (
    "app_mentions:read",
    "bots:read",
    "channels:history",
    "channels:join",
    "channels:manage",
    "channels:read",
    "chat:write",
    "chat:write.public",
    "commands",
    "files:read",
    "files:write",
    "groups:history",
    "groups:read",
    "groups:write",
    "im:history",
    "im:read",
    "im:write",
    "mpim:write",
    "pins:read",
    "pins:write",
    "reactions:read",
    "reactions:write",
    "team:read",
    "usergroups:read",
    "users:read",
    "users:read.email",
)

# Any one of these scopes lets the token call the method (Slack's public/private variants).
METHOD_SCOPES: dict[str, tuple[str, ...]] = {
    "chat.postMessage": ("chat:write",),
    "chat.postEphemeral": ("chat:write",),
    "chat.update": ("chat:write",),
    "chat.delete": ("chat:write",),
    "conversations.create": ("channels:manage", "groups:write"),
    "conversations.invite": ("channels:manage", "groups:write"),
    "conversations.kick": ("channels:manage", "groups:write"),
    "conversations.archive": ("channels:manage", "groups:write"),
    "conversations.rename": ("channels:manage", "groups:write"),
    "conversations.setTopic": ("channels:manage", "groups:write"),
    "conversations.setPurpose": ("channels:manage", "groups:write"),
    "conversations.join": ("channels:join",),
    "conversations.info": ("channels:read", "groups:read", "im:read"),
    "conversations.list": ("channels:read", "groups:read", "im:read"),
    "conversations.members": ("channels:read", "groups:read", "im:read"),
    "conversations.history": ("channels:history", "groups:history", "im:history"),
    "conversations.replies": ("channels:history", "groups:history", "im:history"),
    "conversations.open": ("im:write", "mpim:write"),
    "pins.add": ("pins:write",),
    "pins.remove": ("pins:write",),
    "pins.list": ("pins:read",),
    "reactions.add": ("reactions:write",),
    "reactions.remove": ("reactions:write",),
    "reactions.get": ("reactions:read",),
    "users.info": ("users:read",),
    "users.list": ("users:read",),
    "users.lookupByEmail": ("users:read.email",),
    "usergroups.list": ("usergroups:read",),
    "usergroups.users.list": ("usergroups:read",),
    "files.getUploadURLExternal": ("files:write",),
    "files.completeUploadExternal": ("files:write",),
    "team.info": ("team:read",),
    "bots.info": ("users:read", "bots:read"),
}


class SlackError(Exception):
    """A Web API error answer: ``{"ok": false, "error": error, **extra}``."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


class Args:
    """Method arguments from query string, form or JSON, read the way Slack reads them."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def opt(self, name: str) -> str | None:
        value = self.data.get(name)
        if value is None or value == "":
            return None
        return value if isinstance(value, str) else str(value)

    def req(self, name: str, error: str = "invalid_arguments") -> str:
        value = self.opt(name)
        if value is None:
            raise SlackError(
                error, response_metadata=metadata_messages([f"missing required field: {name}"])
            )
        return value

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.data.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return value
        return str(value).lower() in ("1", "true", "yes")

    def num(self, name: str, default: int, error: str = "invalid_arguments") -> int:
        value = self.data.get(name)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except (TypeError, ValueError):
            raise SlackError(error) from None

    def structured(self, name: str, error: str = "invalid_arguments") -> Any:
        """A JSON argument: a real list/dict in JSON bodies, a JSON string in forms."""
        value = self.data.get(name)
        if isinstance(value, str):
            if value == "":
                return None
            try:
                return json.loads(value)
            except ValueError:
                raise SlackError(error) from None
        return value

    def csv(self, name: str) -> list[str]:
        value = self.data.get(name)
        if value is None:
            return []
        if isinstance(value, list):
            return [str(v).strip() for v in value if str(v).strip()]
        return [v.strip() for v in str(value).split(",") if v.strip()]


def metadata_messages(lines: list[str]) -> dict[str, Any]:
    return {"messages": lines}


# A Web API method: the fake (a FakeSlack) and the call's arguments in, the answer's fields out.
Handler = Callable[[Any, "Args"], dict[str, Any]]
METHODS: dict[str, Handler] = {}


def method(name: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        METHODS[name] = fn
        return fn

    return register


_NAME_OK = re.compile(r"^[a-z0-9_-]+$")


def check_channel_name(name: str | None) -> str:
    if not name:
        raise SlackError("invalid_name_required")
    if len(name) > CHANNEL_NAME_LIMIT:
        raise SlackError("invalid_name_maxlength")
    if not _NAME_OK.match(name):
        raise SlackError("invalid_name_specials")
    if not name.strip("-_"):
        raise SlackError("invalid_name_punctuation")
    return name


def message_content(
    a: Args, *, required: bool = True
) -> tuple[str | None, list[dict[str, Any]] | None]:
    """A message's text and blocks from chat.* arguments (or a response_url or slash-command
    answer), refused as Slack refuses them."""
    text = a.opt("text")
    blocks = a.structured("blocks", "invalid_blocks_format")
    if blocks is not None and not isinstance(blocks, list):
        raise SlackError("invalid_blocks_format")
    attachments = a.structured("attachments", "invalid_attachments")
    if required and not text and not blocks and not attachments:
        raise SlackError("no_text")
    if text is not None and len(text) > MESSAGE_TEXT_LIMIT:
        raise SlackError("msg_too_long")
    if blocks is not None:
        problems = check_blocks(blocks)
        if problems:
            raise SlackError("invalid_blocks", response_metadata=metadata_messages(problems))
    return text, blocks


def paged(items: list[Any], a: Args) -> tuple[list[Any], str]:
    """One page of items and the next cursor ("" at the end), by `limit` and `cursor`."""
    limit = a.num("limit", 100, "invalid_limit")
    if limit <= 0:
        limit = 100
    cursor = a.opt("cursor")
    start = 0
    if cursor:
        try:
            kind, _, offset = base64.b64decode(cursor).decode().partition(":")
            start = int(offset)
            if kind != "offset" or start < 0:
                raise ValueError(cursor)
        except ValueError:
            raise SlackError("invalid_cursor") from None
    end = start + min(limit, 1000)
    next_cursor = base64.b64encode(f"offset:{end}".encode()).decode() if end < len(items) else ""
    return items[start:end], next_cursor
