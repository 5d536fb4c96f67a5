"""The fake workspace's records (users, bots, channels, messages) and Slack's constants."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from bot.fakes.slack.mrkdwn import Notice, mrkdwn_texts, notice, shown

MESSAGE_TEXT_LIMIT = 40_000
TOPIC_LIMIT = 250
CHANNEL_NAME_LIMIT = 80
TRIGGER_TTL = 3.0  # seconds a trigger_id stays usable, as on Slack
ACK_TIMEOUT = 3.0  # Slack gives up on an ack after 3 s
RESPONSE_URL_USES = 5
VIEW_STACK_LIMIT = 3
BOT_ID = "B0BOT"
APP_ID = "A0FAKE"
VERIFICATION_TOKEN = "fake-verification-token"  # the deprecated `token` field in payloads
BROADCASTS = ("here", "channel", "everyone")


@dataclass
class User:
    id: str
    name: str
    real_name: str
    email: str | None
    is_bot: bool = False
    tz: str = "UTC"
    deleted: bool = False  # deactivated: users.info still answers, with `deleted: true`


@dataclass
class Bot:
    """A machine in the workspace that posts messages: an app (an app ID and a bot user,
    posting with chat.postMessage), or a classic integration or incoming webhook (a bot
    ID only; Slack delivers its messages as `subtype: bot_message`)."""

    id: str  # B…
    name: str
    app_id: str | None = None  # A…
    user_id: str | None = None  # the app's bot user


@dataclass
class Channel:
    id: str
    name: str
    is_private: bool
    is_archived: bool
    members: set[str]
    topic: str
    purpose: str
    created: int
    is_im: bool = False
    creator: str = ""  # the user who made it (conversations.create: the bot)


@dataclass
class Message:
    """A message as the workspace holds it; `notice` and `shown` read it as Slack would."""

    @property
    def notice(self) -> Notice:
        """Whom it notifies and what it links: its `text` (the notification) and every
        mrkdwn text in its blocks."""
        out = notice(self.text)
        for text in mrkdwn_texts(self.blocks):
            out = out | notice(text)
        return out

    @property
    def shown(self) -> str:
        """Everything a reader sees of it, one text a line: `text`, then the blocks'."""
        return "\n".join([shown(self.text), *(shown(t) for t in mrkdwn_texts(self.blocks))])

    ts: str
    channel: str
    user: str | None
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None = None
    pinned: bool = False
    ephemeral_to: str | None = None
    edited: bool = False
    unfurls: bool = False  # whether Slack would preview its links (unfurl_links/_media)
    files: list[dict[str, Any]] = field(default_factory=list)
    reactions: dict[str, set[str]] = field(default_factory=dict)
    bot_id: str | None = None  # posted by a bot or app (ours included)
    username: str | None = None  # a classic integration's display name
    attachments: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Hold:
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    released: asyncio.Event = field(default_factory=asyncio.Event)

    def release(self) -> None:
        self.released.set()


@dataclass
class Call:
    """One Web API (or response_url) request as the fake saw it."""

    method: str
    args: dict[str, Any]
    ok: bool
    error: str | None
    status: int
    at: float


@dataclass
class AckResult:
    """What the bot answered to a request the fake sent it (status 0: no answer in 3 s)."""

    status: int
    body: Any
    errors: dict[str, str] | None = None


@dataclass
class Sent:
    """One signed HTTP request the fake sent to the bot, byte for byte."""

    url: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Failure:
    error: str | None
    status: int
    retry_after: int | None
    remaining: int
    took_effect: bool = False


@dataclass
class Trigger:
    user: str
    expires_at: float
    used: bool = False
    view_id: str | None = None  # set when the trigger came from inside a modal


@dataclass
class ResponseTarget:
    channel: str
    user: str
    message_ts: str | None  # the message the interaction came from (None for slash commands)
    uses: int = 0
