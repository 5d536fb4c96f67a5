"""A fake Slack: the Web API over real HTTP, plus the humans who click, type and submit.

It owns a whole pretend workspace in memory (users, channels, messages, pins, reactions,
modals, uploaded files, user groups) and serves it the way slack.com does: every method on
``/api/<method>`` answers HTTP 200 JSON ``{"ok": ...}``, arguments arrive as JSON, form or
query string, tokens are checked, and what Slack rejects is rejected with Slack's error
codes (Block Kit limits included). Tests and the local sandbox point the real
``AsyncWebClient`` at ``api_url``.

The other direction is here too: ``slash_command``, ``click``, ``submit_view``,
``post_message`` and friends build the payloads Slack would send and deliver them over
``transport``: "http" signs them with the signing secret and POSTs them to the bot's
``app_url`` (each request as sent is kept in ``sent``); "socket" sends them as Socket Mode
envelopes over the WebSocket the bot opened with ``apps.connections.open`` and its
app-level token (bot/fakes/socket_mode.py). Either way the ack is applied as Slack does.

``subscribe`` feeds every visible change (a new message, a pin, a modal opening) to the
sandbox UI as JSON-able dicts.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import hmac
import inspect
import json
import logging
import random
import re
import string
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import aiohttp
from aiohttp import web

from blocks.limits import (
    BLOCK_TYPES,
    block_problems,
    check_blocks,
    view_problems,
)
from bot.activity import Activity
from bot.fakes.socket_mode import SocketModeServer

log = logging.getLogger(__name__)

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
_METHOD_SCOPES: dict[str, tuple[str, ...]] = {
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
_TYPED_NAME = re.compile(r"(?<![\w<&@#;])([@#])([a-z0-9](?:[a-z0-9._-]*[a-z0-9])?)", re.IGNORECASE)


# --------------------------------------------------------------------------- what Slack reads


_TOKEN = re.compile(r"<([^<>]*)>")
_ENTITY = re.compile(r"&(amp|lt|gt);")


@dataclass(frozen=True)
class Notice:
    """Whom a message (or topic) would notify and what it would link, read the way Slack
    reads mrkdwn: only real `<…>` tokens count; `&lt;!here&gt;` is text."""

    users: frozenset[str] = frozenset()  # <@U…>
    groups: frozenset[str] = frozenset()  # <!subteam^S…>
    broadcasts: frozenset[str] = frozenset()  # here / channel / everyone
    links: tuple[tuple[str, str], ...] = ()  # (url, label) of every <url|label> and <url>

    @property
    def disguised_links(self) -> list[tuple[str, str]]:
        """Links whose label is not their own URL (what a reader cannot see through)."""
        return [(u, label) for u, label in self.links if label and _bare(label) != _bare(u)]

    def __or__(self, other: Notice) -> Notice:
        return Notice(
            self.users | other.users,
            self.groups | other.groups,
            self.broadcasts | other.broadcasts,
            self.links + other.links,
        )


def _bare(url: str) -> str:
    return re.sub(r"^(?:https?://|mailto:)", "", _unescape(url), flags=re.IGNORECASE).rstrip("/")


def _unescape(text: str) -> str:
    return _ENTITY.sub(lambda m: {"amp": "&", "lt": "<", "gt": ">"}[m.group(1)], text)


def notice(text: str) -> Notice:
    """What one mrkdwn string would notify and link in Slack."""
    users: set[str] = set()
    groups: set[str] = set()
    broadcasts: set[str] = set()
    links: list[tuple[str, str]] = []
    for m in _TOKEN.finditer(text):
        target, _, label = m.group(1).partition("|")
        if target.startswith("@"):
            users.add(target[1:])
        elif target.startswith("!subteam^"):
            groups.add(target.removeprefix("!subteam^"))
        elif target.startswith("!"):
            name = target[1:]
            if name in ("here", "channel", "everyone", "group"):
                broadcasts.add("channel" if name == "group" else name)
        elif not target.startswith("#"):
            links.append((_unescape(target), _unescape(label)))
    return Notice(frozenset(users), frozenset(groups), frozenset(broadcasts), tuple(links))


def shown(text: str) -> str:
    """A mrkdwn string as its reader sees it: tokens as their labels, entities decoded."""

    def token(m: re.Match[str]) -> str:
        target, _, label = m.group(1).partition("|")
        if label:
            return _unescape(label)
        return _unescape(target.lstrip("@#!"))

    out, pos = [], 0
    for m in _TOKEN.finditer(text):
        out.append(_unescape(text[pos : m.start()]))
        out.append(token(m))
        pos = m.end()
    out.append(_unescape(text[pos:]))
    return "".join(out)


def _mrkdwn_texts(value: Any) -> Iterable[str]:
    """Every mrkdwn text object's text in a block tree (plain_text is never parsed)."""
    if isinstance(value, dict):
        if value.get("type") == "mrkdwn" and isinstance(value.get("text"), str):
            yield value["text"]
        for v in value.values():
            yield from _mrkdwn_texts(v)
    elif isinstance(value, list):
        for v in value:
            yield from _mrkdwn_texts(v)


# --------------------------------------------------------------------------- the workspace


@dataclass
class User:
    id: str
    name: str
    real_name: str
    email: str | None
    is_bot: bool = False
    tz: str = "UTC"


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
        for text in _mrkdwn_texts(self.blocks):
            out = out | notice(text)
        return out

    @property
    def shown(self) -> str:
        """Everything a reader sees of it, one text a line: `text`, then the blocks'."""
        return "\n".join([shown(self.text), *(shown(t) for t in _mrkdwn_texts(self.blocks))])

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
class _Failure:
    error: str | None
    status: int
    retry_after: int | None
    remaining: int
    took_effect: bool = False


@dataclass
class _Trigger:
    user: str
    expires_at: float
    used: bool = False
    view_id: str | None = None  # set when the trigger came from inside a modal


@dataclass
class _ResponseTarget:
    channel: str
    user: str
    message_ts: str | None  # the message the interaction came from (None for slash commands)
    uses: int = 0


class SlackError(Exception):
    """A Web API error answer: ``{"ok": false, "error": error, **extra}``."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


# --------------------------------------------------------------------------- arguments


class _Args:
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
                error, response_metadata=_messages([f"missing required field: {name}"])
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


def _messages(lines: list[str]) -> dict[str, Any]:
    return {"messages": lines}


# --------------------------------------------------------------------------- method registry

_Handler = Callable[["FakeSlack", _Args], dict[str, Any]]
_METHODS: dict[str, _Handler] = {}


def _method(name: str) -> Callable[[_Handler], _Handler]:
    def register(fn: _Handler) -> _Handler:
        _METHODS[name] = fn
        return fn

    return register


_NAME_OK = re.compile(r"^[a-z0-9_-]+$")


def _check_channel_name(name: str | None) -> str:
    if not name:
        raise SlackError("invalid_name_required")
    if len(name) > CHANNEL_NAME_LIMIT:
        raise SlackError("invalid_name_maxlength")
    if not _NAME_OK.match(name):
        raise SlackError("invalid_name_specials")
    if not name.strip("-_"):
        raise SlackError("invalid_name_punctuation")
    return name


# --------------------------------------------------------------------------- the fake


class FakeSlack:
    """One pretend Slack workspace, served over HTTP, with humans who act toward the bot."""

    def __init__(
        self,
        *,
        bot_token: str = "xoxb-fake",
        signing_secret: str = "fake-signing-secret",
        app_token: str = "xapp-1-A0FAKE-1-fake",
        app_url: str | None = None,
        bot_user_id: str = "U0BOT",
        team_id: str = "T0FAKE",
        scopes: Iterable[str] = DEFAULT_SCOPES,
        seed: bool = True,
    ) -> None:
        self.bot_token = bot_token
        self.signing_secret = signing_secret
        self.app_token = app_token
        self.app_url = app_url
        self.transport: Literal["http", "socket"] = "http"
        self.socket_mode = SocketModeServer(APP_ID)
        self.sent: deque[Sent] = deque(maxlen=100)  # the latest; the sandbox runs for days
        self.bot_user_id = bot_user_id
        self.team_id = team_id
        self.scopes: list[str] = list(scopes)
        self.latency: float = 0.0
        self.latency_for: dict[str, float] = {}
        self._holds: dict[str, Hold] = {}
        self.trigger_ttl: float = TRIGGER_TTL
        self.ack_timeout: float = ACK_TIMEOUT
        # wall clock for trigger expiry; tests may replace it to age triggers without sleeping
        self.clock: Callable[[], float] = time.monotonic

        self.users: dict[str, User] = {}
        self.channels: dict[str, Channel] = {}
        self.messages: dict[str, list[Message]] = {}
        self.views: dict[str, dict[str, Any]] = {}
        self.files: dict[str, dict[str, Any]] = {}
        self.usergroups: dict[str, dict[str, Any]] = {}
        self.calls: list[Call] = []

        self.base_url: str = ""
        self.api_url: str = ""
        self._failures: dict[str, list[_Failure]] = {}
        self._triggers: dict[str, _Trigger] = {}
        self._responses: dict[str, _ResponseTarget] = {}
        self._view_user: dict[str, str] = {}
        self._stacks: dict[str, list[str]] = {}  # root view id -> open views, bottom first
        self._subscribers: list[Callable[[dict[str, Any]], Any]] = []
        self._tasks: set[asyncio.Future[Any]] = set()
        # what it is sending the app (requests, subscribers' work): the settle signal
        self.activity = Activity("fake slack", fake=True)
        self._rng = random.Random(20240101)  # deterministic ids from one fake to the next
        self._seq = 0x1000
        self._last_ts_micros = 0
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None

        self.users[bot_user_id] = User(bot_user_id, "incident-bot", "Incident Bot", None, True)
        self.bots: dict[str, Bot] = {BOT_ID: Bot(BOT_ID, "incident-bot", APP_ID, bot_user_id)}
        if seed:
            self._seed()

        self.app = web.Application()
        self.app.router.add_route("POST", "/api/{method}", self._handle_api)
        self.app.router.add_route("GET", "/api/{method}", self._handle_api)
        self.app.router.add_post("/response/{token}", self._handle_response_url)
        self.app.router.add_post("/upload/{file_id}", self._handle_upload)
        self.app.router.add_get("/files/{file_id}", self._handle_file)
        self.app.router.add_get("/link/", self.socket_mode.handle)

    def _seed(self) -> None:
        for uid, name in (("U0ALICE", "alice"), ("U0BOB", "bob"), ("U0CAROL", "carol")):
            self.add_user(uid, name, email=f"{name}@example.com")
        self.add_user("U0DAVE", "dave", email="dave@example.com")
        everyone = list(self.users)
        for name in ("incidents", "alerts", "general"):
            self.add_channel(name, members=everyone)

    # ----------------------------------------------------------------- serving

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve standalone on host:port (0 = any free port); returns base_url."""
        self._runner = web.AppRunner(self.app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound_host, bound_port = self._runner.addresses[0][:2]
        self._set_base_url(f"http://{bound_host}:{bound_port}/")
        self.activity.start()
        return self.base_url

    async def stop(self) -> None:
        await self.socket_mode.close()
        await self._close_session()
        for task in list(self._tasks):
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self.activity.stop()

    def mount(self, parent: web.Application, prefix: str, base_url: str) -> None:
        """Serve inside another aiohttp app under prefix; base_url is its public address."""
        parent.add_subapp(prefix, self.app)
        self._set_base_url(base_url)

        async def begin(_: web.Application) -> None:
            self.activity.start()

        async def close(_: web.Application) -> None:
            await self._close_session()
            self.activity.stop()

        parent.on_startup.append(begin)
        parent.on_cleanup.append(close)

    def _set_base_url(self, base_url: str) -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.api_url = self.base_url + "api/"

    async def _close_session(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # ----------------------------------------------------------------- workspace helpers

    def add_user(
        self, id: str, name: str, *, real_name: str | None = None, email: str | None = None
    ) -> User:
        user = User(id, name, real_name or name.capitalize(), email)
        self.users[id] = user
        return user

    def add_channel(
        self,
        name: str,
        *,
        is_private: bool = False,
        members: Iterable[str] = (),
        creator: str = "",
    ) -> Channel:
        channel = Channel(
            id=self._new_id("G" if is_private else "C"),
            name=name,
            is_private=is_private,
            is_archived=False,
            members=set(members),
            topic="",
            purpose="",
            created=int(time.time()),
            creator=creator,
        )
        self.channels[channel.id] = channel
        self.messages[channel.id] = []
        self._emit({"type": "channel_created", "channel": self.serialize_channel(channel)})
        return channel

    def add_bot(self, name: str, *, app: bool = True, app_id: str | None = None) -> Bot:
        """Another app that can `post_as_bot`. `app=False`: a classic integration or an
        incoming webhook, with no bot user (and no app ID, unless it is `app_id`'s)."""
        bot = Bot(self._new_id("B"), name, app_id=app_id)
        if app:
            bot.app_id, bot.user_id = self._new_id("A"), self._new_id("U")
            self.users[bot.user_id] = User(bot.user_id, name, name, None, True)
        self.bots[bot.id] = bot
        return bot

    def add_usergroup(
        self, handle: str, users: Iterable[str], *, name: str | None = None
    ) -> dict[str, Any]:
        group: dict[str, Any] = {
            "id": self._new_id("S"),
            "team_id": self.team_id,
            "handle": handle,
            "name": name or handle,
            "description": "",
            "users": list(users),
            "date_create": int(time.time()),
        }
        self.usergroups[group["id"]] = group
        return group

    def channel_by_name(self, name: str) -> Channel | None:
        name = name.lstrip("#")
        return next((c for c in self.channels.values() if c.name == name and not c.is_im), None)

    def typed(self, text: str, *, with_names: bool = False) -> str:
        """What the Slack client sends when someone types `text` in the composer: `&`, `<`,
        `>` escaped; `@bob` and `#general` as the mention and channel tokens they become
        when picked from its autocomplete (slash commands, whose manifest sets
        should_escape, get `<@U0BOB|bob>`); `@here`, `@channel`, `@everyone` as Slack's
        special mentions. Names that match nobody stay as typed."""
        users = {u.name.lower(): u.id for u in self.users.values()}

        def link(m: re.Match[str]) -> str:
            sigil, name = m.group(1), m.group(2)
            if sigil == "@" and name.lower() in BROADCASTS:
                return f"<!{name.lower()}>"
            if sigil == "@":
                target = users.get(name.lower())
            else:
                channel = self.channel_by_name(name)
                target = channel.id if channel else None
            if target is None:
                return m.group(0)
            return f"<{sigil}{target}|{name}>" if with_names else f"<{sigil}{target}>"

        escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        return _TYPED_NAME.sub(link, escaped)

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def message(self, channel: str, ts: str) -> Message | None:
        return next((m for m in self.messages.get(channel, []) if m.ts == ts), None)

    def view_owner(self, view_id: str) -> str | None:
        """The user an open modal belongs to (only they see it), or None if not open."""
        return self._view_user.get(view_id)

    def trigger_user(self, trigger_id: str) -> str | None:
        """The user whose action made a trigger_id: the only one who sees a view opened with it."""
        trigger = self._triggers.get(trigger_id)
        return trigger.user if trigger is not None else None

    def hold(self, method: str) -> Hold:
        """Hold the next call of `method` until `release()`: it arrives (`arrived` is set),
        Slack does nothing, and then it is carried out and answered, to whoever still
        listens (a client killed meanwhile never hears that it took effect)."""
        hold = self._holds[method] = Hold()
        return hold

    def fail(
        self,
        method: str,
        *,
        error: str | None = None,
        status: int = 200,
        retry_after: int | None = None,
        times: int = 1,
        took_effect: bool = False,
    ) -> None:
        """Make the next `times` calls of method fail (429 ratelimited, 5xx, or an error).
        `took_effect`: the call is carried out, and only its answer is the error (Slack's
        `internal_error` and `fatal_error`: "some aspect of the operation" may have succeeded)."""
        failure = _Failure(error, status, retry_after, times, took_effect)
        self._failures.setdefault(method, []).append(failure)

    def subscribe(self, callback: Callable[[dict[str, Any]], Any]) -> Callable[[], None]:
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

        return unsubscribe

    # ----------------------------------------------------------------- serialization

    def serialize_message(self, m: Message) -> dict[str, Any]:
        """Slack's message shape, plus channel, pinned and ephemeral_to for the sandbox."""
        out: dict[str, Any] = {
            "type": "message",
            "ts": m.ts,
            "channel": m.channel,
            "user": m.user,
            "text": m.text,
            "blocks": m.blocks,
            "team": self.team_id,
            "pinned": m.pinned,
            "ephemeral_to": m.ephemeral_to,
        }
        bot = self.bots.get(m.bot_id or "")
        if bot is not None:
            out["bot_id"] = bot.id
            if bot.app_id:
                out["app_id"] = bot.app_id
            if bot.user_id is None:  # a classic integration: no user, its own name
                out.update(subtype="bot_message", username=m.username or bot.name, icons={})
                del out["user"]
            else:
                out["bot_profile"] = self._bot_profile(bot)
        if m.attachments:
            out["attachments"] = m.attachments
        replies = [
            r
            for r in self.messages.get(m.channel, [])
            if r.thread_ts == m.ts and r.ts != m.ts and r.ephemeral_to is None
        ]
        if m.thread_ts:
            out["thread_ts"] = m.thread_ts
        elif replies:
            out["thread_ts"] = m.ts
        if replies:
            out["reply_count"] = len(replies)
            out["latest_reply"] = replies[-1].ts
        if m.edited:
            out["edited"] = {"user": m.user, "ts": m.ts}
        if m.pinned:
            out["pinned_to"] = [m.channel]
        if m.files:
            out["files"] = m.files
        if m.reactions:
            out["reactions"] = [
                {"name": name, "users": sorted(users), "count": len(users)}
                for name, users in m.reactions.items()
            ]
        return out

    def _bot_profile(self, bot: Bot) -> dict[str, Any]:
        return {
            "id": bot.id,
            "deleted": False,
            "name": bot.name,
            "updated": 0,
            "app_id": bot.app_id,
            "icons": {"image_48": f"https://example.com/bots/{bot.id}.png"},
            "team_id": self.team_id,
        }

    def serialize_channel(self, c: Channel) -> dict[str, Any]:
        return {
            "id": c.id,
            "name": c.name,
            "name_normalized": c.name,
            "is_channel": not c.is_private and not c.is_im,
            "is_group": c.is_private and not c.is_im,
            "is_im": c.is_im,
            "is_mpim": False,
            "is_private": c.is_private,
            "is_archived": c.is_archived,
            "is_general": c.name == "general",
            "is_member": self.bot_user_id in c.members,
            "created": c.created,
            "creator": c.creator,
            "user": next((u for u in c.members if u != self.bot_user_id), None)
            if c.is_im
            else None,
            "topic": {"value": c.topic, "creator": "", "last_set": 0},
            "purpose": {"value": c.purpose, "creator": "", "last_set": 0},
            "num_members": len(c.members),
        }

    def serialize_user(self, u: User) -> dict[str, Any]:
        offset = ZoneInfo(u.tz).utcoffset(datetime.now(UTC).replace(tzinfo=None))
        profile: dict[str, Any] = {
            "real_name": u.real_name,
            "display_name": u.name,
            "real_name_normalized": u.real_name,
            "display_name_normalized": u.name,
            "image_48": f"https://example.com/avatars/{u.id}.png",
            "team": self.team_id,
        }
        if u.email:
            profile["email"] = u.email
        if u.is_bot:
            profile["bot_id"] = next((b.id for b in self.bots.values() if b.user_id == u.id), "")
        return {
            "id": u.id,
            "team_id": self.team_id,
            "name": u.name,
            "deleted": False,
            "real_name": u.real_name,
            "tz": u.tz,
            "tz_label": u.tz,
            "tz_offset": int(offset.total_seconds()) if offset else 0,
            "is_bot": u.is_bot,
            "is_admin": False,
            "is_app_user": False,
            "updated": 0,
            "profile": profile,
        }

    # ----------------------------------------------------------------- internals

    def _new_id(self, prefix: str) -> str:
        self._seq += 1
        return f"{prefix}{self._seq:08X}"

    def _random_token(self, n: int = 24) -> str:
        return "".join(self._rng.choices(string.ascii_letters + string.digits, k=n))

    def _next_ts(self) -> str:
        # strictly increasing, like Slack's per-channel ts, so ts orders and identifies
        micros = max(int(time.time() * 1_000_000), self._last_ts_micros + 1)
        self._last_ts_micros = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _emit(self, event: dict[str, Any]) -> None:
        for callback in list(self._subscribers):
            try:
                result = callback(event)
            except Exception:
                log.exception("fake slack subscriber failed on %s", event.get("type"))
                continue
            if inspect.isawaitable(result):
                try:
                    task = asyncio.ensure_future(result)
                except RuntimeError:  # no running loop: nobody to run it
                    if inspect.iscoroutine(result):
                        result.close()
                    continue
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                self.activity.track(task)

    def _new_trigger(self, user: str, view_id: str | None = None) -> str:
        trigger_id = f"{self._seq}.{self._rng.randrange(10**9)}.{self._random_token(32).lower()}"
        self._seq += 1
        self._triggers[trigger_id] = _Trigger(
            user, self.clock() + self.trigger_ttl, view_id=view_id
        )
        return trigger_id

    def _new_response_url(self, channel: str, user: str, message_ts: str | None) -> str:
        token = self._random_token()
        self._responses[token] = _ResponseTarget(channel, user, message_ts)
        return f"{self.base_url}response/{token}"

    def _with_ids(self, blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Copy blocks, giving every block a block_id and every element an action_id, as Slack
        does, so clicks and state values can address them."""
        out = copy.deepcopy(blocks)
        for block in out:
            block.setdefault("block_id", self._random_token(5))
            elements = list(block.get("elements") or []) if block["type"] == "actions" else []
            for key in ("accessory", "element"):
                if isinstance(block.get(key), dict):
                    elements.append(block[key])
            for el in elements:
                if isinstance(el, dict) and el.get("type") != "image":
                    el.setdefault("action_id", self._random_token(5))
        return out

    def _store_message(
        self,
        channel: Channel,
        user: str | None,
        text: str,
        blocks: list[dict[str, Any]],
        *,
        thread_ts: str | None = None,
        ephemeral_to: str | None = None,
        files: list[dict[str, Any]] | None = None,
        bot: Bot | None = None,
        attachments: list[dict[str, Any]] | None = None,
    ) -> Message:
        if bot is None and user == self.bot_user_id:
            bot = self.bots[BOT_ID]
        m = Message(
            ts=self._next_ts(),
            channel=channel.id,
            user=user,
            text=text,
            blocks=self._with_ids(blocks),
            thread_ts=thread_ts,
            ephemeral_to=ephemeral_to,
            files=files or [],
            bot_id=bot.id if bot else None,
            attachments=copy.deepcopy(attachments or []),
        )
        self.messages.setdefault(channel.id, []).append(m)
        self._emit({"type": "message", "message": self.serialize_message(m)})
        return m

    def _open_im(self, user_ids: list[str]) -> Channel:
        others = sorted(set(user_ids) - {self.bot_user_id})
        members = {self.bot_user_id, *others}
        for c in self.channels.values():
            if c.is_im and c.members == members:
                return c
        channel = Channel(
            id=self._new_id("D"),
            name=others[0] if len(others) == 1 else "mpdm-" + "--".join(others),
            is_private=True,
            is_archived=False,
            members=members,
            topic="",
            purpose="",
            created=int(time.time()),
            is_im=True,
        )
        self.channels[channel.id] = channel
        self.messages[channel.id] = []
        self._emit({"type": "channel_created", "channel": self.serialize_channel(channel)})
        return channel

    def _channel(self, ref: str | None, *, allow_user: bool = False) -> Channel:
        """Resolve a channel argument: ID, name, #name, or (for posting) a user ID's DM."""
        if not ref:
            raise SlackError("channel_not_found")
        if ref in self.channels:
            return self.channels[ref]
        if allow_user and ref in self.users:
            return self._open_im([ref])
        if allow_user:
            by_name = self.channel_by_name(ref)
            if by_name is not None:
                return by_name
        raise SlackError("channel_not_found")

    def _visible(self, channel: Channel) -> None:
        # the bot cannot see private channels it is not in: they do not exist for it
        if channel.is_private and self.bot_user_id not in channel.members:
            raise SlackError("channel_not_found")

    def _check_can_post(self, channel: Channel) -> None:
        if channel.is_archived:
            raise SlackError("is_archived")
        if self.bot_user_id in channel.members:
            return
        if channel.is_private or "chat:write.public" not in self.scopes:
            raise SlackError("not_in_channel")

    def _check_member(self, channel: Channel) -> None:
        self._visible(channel)
        if self.bot_user_id not in channel.members:
            raise SlackError("not_in_channel")

    def _message_content(
        self, a: _Args, *, required: bool = True
    ) -> tuple[str | None, list[dict[str, Any]] | None]:
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
                raise SlackError("invalid_blocks", response_metadata=_messages(problems))
        return text, blocks

    def _permalink(self, channel: str, ts: str) -> str:
        base = self.base_url or "https://fake.slack.com/"
        return f"{base}archives/{channel}/p{ts.replace('.', '')}"

    # ----------------------------------------------------------------- HTTP: the Web API

    async def _read_args(self, request: web.Request) -> dict[str, Any]:
        args: dict[str, Any] = dict(request.query)
        if request.method != "POST" or not request.can_read_body:
            return args
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                raise SlackError("invalid_json") from None
            if not isinstance(body, dict):
                raise SlackError("invalid_json")
            args.update(body)
        elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            args.update({k: v for k, v in form.items() if isinstance(v, str)})
        return args

    def _take_failure(self, method: str) -> _Failure | None:
        queue = self._failures.get(method)
        if not queue:
            return None
        failure = queue[0]
        failure.remaining -= 1
        if failure.remaining <= 0:
            queue.pop(0)
        return failure

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        status, headers = 200, {}
        args: dict[str, Any] = {}
        try:
            args = await self._read_args(request)
            token = args.pop("token", None)
            auth = request.headers.get("Authorization", "")
            in_header = auth.startswith("Bearer ")
            if in_header:
                token = auth[len("Bearer ") :].strip()
            delay = self.latency_for.get(method, self.latency)
            if delay > 0:
                await asyncio.sleep(delay)  # simulated network/server time, not synchronisation
            hold = self._holds.pop(method, None)
            if hold is not None:  # Slack is slow right now: the test decides when it answers
                hold.arrived.set()
                await hold.released.wait()
            failure = self._take_failure(method)
            if failure is not None:
                if failure.took_effect and method in _METHODS:
                    _METHODS[method](self, _Args(args))
                status = failure.status
                if status == 429:
                    headers["Retry-After"] = str(
                        1 if failure.retry_after is None else failure.retry_after
                    )
                    raise SlackError("ratelimited")
                raise SlackError(
                    failure.error or ("fatal_error" if status >= 500 else "ratelimited")
                )
            handler = _METHODS.get(method)
            if handler is None:
                raise SlackError("unknown_method")
            if method != "api.test":
                self._check_token(method, token, in_header)
            needed = _METHOD_SCOPES.get(method)
            if needed and not set(needed) & set(self.scopes):
                raise SlackError("missing_scope", needed=needed[0], provided=",".join(self.scopes))
            body = {"ok": True, **handler(self, _Args(args))}
            if method == "auth.test":
                headers["x-oauth-scopes"] = ",".join(self.scopes)
        except SlackError as e:
            body = {"ok": False, "error": e.error, **e.extra}
        self.calls.append(
            Call(method, args, bool(body["ok"]), body.get("error"), status, time.time())
        )
        return web.json_response(body, status=status, headers=headers)

    def _check_token(self, method: str, token: str | None, in_header: bool) -> None:
        if not token:
            raise SlackError("not_authed")
        if method == "apps.connections.open":
            if token == self.bot_token:
                raise SlackError("not_allowed_token_type")
            # the app-level token counts only in the Authorization header, never as an argument
            if token != self.app_token or not in_header:
                raise SlackError("invalid_auth")
        elif token == self.app_token:
            raise SlackError("not_allowed_token_type")
        elif token != self.bot_token:
            raise SlackError("invalid_auth")

    # ----------------------------------------------------------------- methods: auth, team

    @_method("apps.connections.open")
    def _apps_connections_open(self, a: _Args) -> dict[str, Any]:
        return {"url": self.socket_mode.open_url(self.base_url)}

    @_method("api.test")
    def _api_test(self, a: _Args) -> dict[str, Any]:
        if a.opt("error"):
            raise SlackError(a.req("error"), args=a.data)
        return {"args": a.data}

    @_method("auth.test")
    def _auth_test(self, a: _Args) -> dict[str, Any]:
        return {
            "url": "https://fake.slack.com/",
            "team": "Fake Workspace",
            "user": self.users[self.bot_user_id].name,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    @_method("team.info")
    def _team_info(self, a: _Args) -> dict[str, Any]:
        return {
            "team": {
                "id": self.team_id,
                "name": "Fake Workspace",
                "domain": "fake",
                "email_domain": "example.com",
                "icon": {"image_default": True},
            }
        }

    @_method("bots.info")
    def _bots_info(self, a: _Args) -> dict[str, Any]:
        bot = self.bots.get(a.opt("bot") or BOT_ID)
        if bot is None:
            raise SlackError("bot_not_found")
        info = {k: v for k, v in self._bot_profile(bot).items() if k != "team_id"}
        if bot.user_id:
            info["user_id"] = bot.user_id
        return {"bot": info}

    # ----------------------------------------------------------------- methods: chat

    @_method("chat.postMessage")
    def _chat_post_message(self, a: _Args) -> dict[str, Any]:
        channel = self._channel(a.req("channel", "channel_not_found"), allow_user=True)
        self._check_can_post(channel)
        text, blocks = self._message_content(a)
        thread_ts = a.opt("thread_ts")
        m = self._store_message(
            channel, self.bot_user_id, text or "", blocks or [], thread_ts=thread_ts
        )
        # Slack previews links in a bot's message unless both are turned off
        m.unfurls = a.flag("unfurl_links", False) or a.flag("unfurl_media", True)
        return {"channel": channel.id, "ts": m.ts, "message": self.serialize_message(m)}

    @_method("chat.postEphemeral")
    def _chat_post_ephemeral(self, a: _Args) -> dict[str, Any]:
        channel = self._channel(a.req("channel", "channel_not_found"), allow_user=True)
        user = a.req("user", "user_not_found")
        if user not in self.users:
            raise SlackError("user_not_found")
        self._check_can_post(channel)
        if user not in channel.members:
            raise SlackError("user_not_in_channel")
        text, blocks = self._message_content(a)
        m = self._store_message(
            channel,
            self.bot_user_id,
            text or "",
            blocks or [],
            thread_ts=a.opt("thread_ts"),
            ephemeral_to=user,
        )
        return {"message_ts": m.ts}

    def _own_message(self, a: _Args, error: str) -> tuple[Channel, Message]:
        channel = self._channel(a.req("channel", "channel_not_found"))
        self._visible(channel)
        m = self.message(channel.id, a.req("ts", "message_not_found"))
        if m is None or m.ephemeral_to is not None:
            raise SlackError("message_not_found")
        if m.user != self.bot_user_id:
            raise SlackError(error)
        return channel, m

    @_method("chat.update")
    def _chat_update(self, a: _Args) -> dict[str, Any]:
        channel, m = self._own_message(a, "cant_update_message")
        if channel.is_archived:
            raise SlackError("is_archived")
        text, blocks = self._message_content(a, required=False)
        if text is not None:
            m.text = text
        if blocks is not None:
            m.blocks = self._with_ids(blocks)
        m.edited = True
        message = self.serialize_message(m)
        self._emit({"type": "message_changed", "message": message})
        return {"channel": channel.id, "ts": m.ts, "text": m.text, "message": message}

    @_method("chat.delete")
    def _chat_delete(self, a: _Args) -> dict[str, Any]:
        channel, m = self._own_message(a, "cant_delete_message")
        self.messages[channel.id].remove(m)
        self._emit({"type": "message_deleted", "channel": channel.id, "ts": m.ts})
        return {"channel": channel.id, "ts": m.ts}

    @_method("chat.getPermalink")
    def _chat_get_permalink(self, a: _Args) -> dict[str, Any]:
        channel = self._channel(a.req("channel", "channel_not_found"))
        self._visible(channel)
        ts = a.req("message_ts", "message_not_found")
        if self.message(channel.id, ts) is None:
            raise SlackError("message_not_found")
        return {"channel": channel.id, "permalink": self._permalink(channel.id, ts)}

    # ----------------------------------------------------------------- methods: conversations

    @_method("conversations.create")
    def _conversations_create(self, a: _Args) -> dict[str, Any]:
        name = _check_channel_name(a.opt("name"))
        # names are unique among all channels: archived ones and private ones the bot
        # cannot see hold theirs too (and Slack says no more than this)
        if self.channel_by_name(name) is not None:
            raise SlackError("name_taken")
        channel = self.add_channel(
            name,
            is_private=a.flag("is_private"),
            members=[self.bot_user_id],
            creator=self.bot_user_id,
        )
        return {"channel": self.serialize_channel(channel)}

    def _member_change_target(self, a: _Args) -> Channel:
        channel = self._channel(a.req("channel", "channel_not_found"))
        self._visible(channel)
        if channel.is_archived:
            raise SlackError("is_archived")
        if self.bot_user_id not in channel.members:
            raise SlackError("not_in_channel")
        return channel

    @_method("conversations.invite")
    def _conversations_invite(self, a: _Args) -> dict[str, Any]:
        channel = self._member_change_target(a)
        users = a.csv("users")
        if not users:
            raise SlackError("no_user")
        for uid in users:
            if uid == self.bot_user_id:
                raise SlackError("cant_invite_self")
            if uid not in self.users:
                raise SlackError("user_not_found")
        new = [u for u in dict.fromkeys(users) if u not in channel.members]
        if not new:
            raise SlackError("already_in_channel")
        for uid in new:
            channel.members.add(uid)
            self._emit({"type": "member_joined", "channel": channel.id, "user": uid})
        return {"channel": self.serialize_channel(channel)}

    @_method("conversations.join")
    def _conversations_join(self, a: _Args) -> dict[str, Any]:
        channel = self._channel(a.req("channel", "channel_not_found"))
        self._visible(channel)
        if channel.is_private or channel.is_im:
            raise SlackError("method_not_supported_for_channel_type")
        if channel.is_archived:
            raise SlackError("is_archived")
        if self.bot_user_id in channel.members:
            return {
                "channel": self.serialize_channel(channel),
                "warning": "already_in_channel",
                "response_metadata": {"warnings": ["already_in_channel"]},
            }
        channel.members.add(self.bot_user_id)
        self._emit({"type": "member_joined", "channel": channel.id, "user": self.bot_user_id})
        return {"channel": self.serialize_channel(channel)}

    @_method("conversations.kick")
    def _conversations_kick(self, a: _Args) -> dict[str, Any]:
        channel = self._member_change_target(a)
        user = a.req("user", "user_not_found")
        if user == self.bot_user_id:
            raise SlackError("cant_kick_self")
        if user not in self.users:
            raise SlackError("user_not_found")
        if user not in channel.members:
            raise SlackError("not_in_channel")
        channel.members.discard(user)
        self._emit({"type": "member_left", "channel": channel.id, "user": user})
        return {}

    @_method("conversations.archive")
    def _conversations_archive(self, a: _Args) -> dict[str, Any]:
        channel = self._channel(a.req("channel", "channel_not_found"))
        self._visible(channel)
        if channel.is_archived:
            raise SlackError("already_archived")
        if channel.name == "general":
            raise SlackError("cant_archive_general")
        if channel.is_im:
            raise SlackError("method_not_supported_for_channel_type")
        if self.bot_user_id not in channel.members:
            raise SlackError("not_in_channel")
        channel.is_archived = True
        self._emit({"type": "channel_archived", "channel": channel.id})
        return {}

    @_method("conversations.rename")
    def _conversations_rename(self, a: _Args) -> dict[str, Any]:
        channel = self._member_change_target(a)
        name = _check_channel_name(a.opt("name"))
        existing = self.channel_by_name(name)
        if existing is not None and existing is not channel:
            raise SlackError("name_taken")
        channel.name = name
        serialized = self.serialize_channel(channel)
        self._emit({"type": "channel_renamed", "channel": serialized})
        return {"channel": serialized}

    @_method("conversations.setTopic")
    def _conversations_set_topic(self, a: _Args) -> dict[str, Any]:
        channel = self._member_change_target(a)
        topic = a.opt("topic") or ""
        if len(topic) > TOPIC_LIMIT:
            raise SlackError("too_long")
        channel.topic = topic
        self._emit({"type": "topic_changed", "channel": channel.id, "topic": topic})
        return {"channel": self.serialize_channel(channel)}

    @_method("conversations.setPurpose")
    def _conversations_set_purpose(self, a: _Args) -> dict[str, Any]:
        channel = self._member_change_target(a)
        purpose = a.opt("purpose") or ""
        if len(purpose) > TOPIC_LIMIT:
            raise SlackError("too_long")
        channel.purpose = purpose
        self._emit({"type": "purpose_changed", "channel": channel.id, "purpose": purpose})
        return {"channel": self.serialize_channel(channel)}

    @_method("conversations.info")
    def _conversations_info(self, a: _Args) -> dict[str, Any]:
        channel = self._channel(a.req("channel", "channel_not_found"))
        self._visible(channel)
        return {"channel": self.serialize_channel(channel)}

    def _page(self, items: list[Any], a: _Args) -> tuple[list[Any], str]:
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
        next_cursor = (
            base64.b64encode(f"offset:{end}".encode()).decode() if end < len(items) else ""
        )
        return items[start:end], next_cursor

    @_method("conversations.list")
    def _conversations_list(self, a: _Args) -> dict[str, Any]:
        types = set(a.csv("types") or ["public_channel"])
        exclude_archived = a.flag("exclude_archived")

        def wanted(c: Channel) -> bool:
            if exclude_archived and c.is_archived:
                return False
            if c.is_im:
                return "im" in types and self.bot_user_id in c.members
            if c.is_private:
                return "private_channel" in types and self.bot_user_id in c.members
            return "public_channel" in types

        chosen = [self.serialize_channel(c) for c in self.channels.values() if wanted(c)]
        page, next_cursor = self._page(chosen, a)
        return {"channels": page, "response_metadata": {"next_cursor": next_cursor}}

    @_method("conversations.members")
    def _conversations_members(self, a: _Args) -> dict[str, Any]:
        channel = self._channel(a.req("channel", "channel_not_found"))
        self._visible(channel)
        page, next_cursor = self._page(sorted(channel.members), a)
        return {"members": page, "response_metadata": {"next_cursor": next_cursor}}

    @_method("conversations.history")
    def _conversations_history(self, a: _Args) -> dict[str, Any]:
        channel = self._channel(a.req("channel", "channel_not_found"))
        self._check_member(channel)
        oldest, latest = float(a.opt("oldest") or 0), float(a.opt("latest") or "inf")
        inclusive = a.flag("inclusive")

        def in_range(ts: float) -> bool:
            if inclusive:
                return oldest <= ts <= latest
            return oldest < ts < latest

        chosen = [
            self.serialize_message(m)
            for m in reversed(self.messages.get(channel.id, []))
            if m.ephemeral_to is None
            and (m.thread_ts is None or m.thread_ts == m.ts)
            and in_range(float(m.ts))
        ]
        page, next_cursor = self._page(chosen, a)
        return {
            "messages": page,
            "has_more": bool(next_cursor),
            "response_metadata": {"next_cursor": next_cursor},
        }

    @_method("conversations.replies")
    def _conversations_replies(self, a: _Args) -> dict[str, Any]:
        channel = self._channel(a.req("channel", "channel_not_found"))
        self._check_member(channel)
        ts = a.req("ts", "thread_not_found")
        parent = self.message(channel.id, ts)
        if parent is None:
            raise SlackError("thread_not_found")
        thread = [parent] + [
            m
            for m in self.messages[channel.id]
            if m.thread_ts == ts and m.ts != ts and m.ephemeral_to is None
        ]
        page, next_cursor = self._page([self.serialize_message(m) for m in thread], a)
        return {
            "messages": page,
            "has_more": bool(next_cursor),
            "response_metadata": {"next_cursor": next_cursor},
        }

    @_method("conversations.open")
    def _conversations_open(self, a: _Args) -> dict[str, Any]:
        if a.opt("channel"):
            channel = self._channel(a.opt("channel"))
            self._visible(channel)
        else:
            users = a.csv("users")
            if not users:
                raise SlackError("users_list_not_supplied")
            if len(users) > 8:
                raise SlackError("too_many_users")
            for uid in users:
                if uid not in self.users:
                    raise SlackError("user_not_found")
            channel = self._open_im(users)
        if a.flag("return_im"):
            return {"channel": self.serialize_channel(channel)}
        return {"channel": {"id": channel.id}}

    # ----------------------------------------------------------------- methods: pins, reactions

    def _target_message(self, a: _Args, ts_arg: str = "timestamp") -> tuple[Channel, Message]:
        channel = self._channel(a.req("channel", "channel_not_found"))
        self._visible(channel)
        m = self.message(channel.id, a.req(ts_arg, "no_item_specified"))
        if m is None or m.ephemeral_to is not None:
            raise SlackError("message_not_found")
        return channel, m

    @_method("pins.add")
    def _pins_add(self, a: _Args) -> dict[str, Any]:
        channel, m = self._target_message(a)
        if self.bot_user_id not in channel.members:
            raise SlackError("not_in_channel")
        if m.pinned:
            raise SlackError("already_pinned")
        m.pinned = True
        self._emit({"type": "pinned", "channel": channel.id, "ts": m.ts, "user": self.bot_user_id})
        return {}

    @_method("pins.remove")
    def _pins_remove(self, a: _Args) -> dict[str, Any]:
        channel, m = self._target_message(a)
        if not m.pinned:
            raise SlackError("no_pin")
        m.pinned = False
        self._emit(
            {"type": "unpinned", "channel": channel.id, "ts": m.ts, "user": self.bot_user_id}
        )
        return {}

    @_method("pins.list")
    def _pins_list(self, a: _Args) -> dict[str, Any]:
        channel = self._channel(a.req("channel", "channel_not_found"))
        self._visible(channel)
        items = [
            {
                "type": "message",
                "channel": channel.id,
                "created": int(float(m.ts)),
                "created_by": self.bot_user_id,
                "message": self.serialize_message(m),
            }
            for m in self.messages[channel.id]
            if m.pinned
        ]
        return {"items": items}

    @_method("reactions.add")
    def _reactions_add(self, a: _Args) -> dict[str, Any]:
        channel, m = self._target_message(a)
        name = a.req("name", "invalid_name").strip(":")
        if self.bot_user_id in m.reactions.get(name, set()):
            raise SlackError("already_reacted")
        self._react(channel, m, self.bot_user_id, name)
        return {}

    def _react(self, channel: Channel, m: Message, user: str, name: str) -> None:
        m.reactions.setdefault(name, set()).add(user)
        self._emit(
            {
                "type": "reaction_added",
                "channel": channel.id,
                "ts": m.ts,
                "reaction": name,
                "user": user,
            }
        )

    @_method("reactions.remove")
    def _reactions_remove(self, a: _Args) -> dict[str, Any]:
        channel, m = self._target_message(a)
        name = a.req("name", "invalid_name").strip(":")
        users = m.reactions.get(name, set())
        if self.bot_user_id not in users:
            raise SlackError("no_reaction")
        users.discard(self.bot_user_id)
        if not users:
            del m.reactions[name]
        self._emit(
            {
                "type": "reaction_removed",
                "channel": channel.id,
                "ts": m.ts,
                "reaction": name,
                "user": self.bot_user_id,
            }
        )
        return {}

    @_method("reactions.get")
    def _reactions_get(self, a: _Args) -> dict[str, Any]:
        channel, m = self._target_message(a)
        return {"type": "message", "channel": channel.id, "message": self.serialize_message(m)}

    # ----------------------------------------------------------------- methods: users, groups

    @_method("users.info")
    def _users_info(self, a: _Args) -> dict[str, Any]:
        user = self.users.get(a.req("user", "user_not_found"))
        if user is None:
            raise SlackError("user_not_found")
        return {"user": self.serialize_user(user)}

    @_method("users.list")
    def _users_list(self, a: _Args) -> dict[str, Any]:
        page, next_cursor = self._page([self.serialize_user(u) for u in self.users.values()], a)
        return {
            "members": page,
            "cache_ts": int(time.time()),
            "response_metadata": {"next_cursor": next_cursor},
        }

    @_method("users.lookupByEmail")
    def _users_lookup_by_email(self, a: _Args) -> dict[str, Any]:
        email = a.req("email", "users_not_found").lower()
        for user in self.users.values():
            if user.email and user.email.lower() == email:
                return {"user": self.serialize_user(user)}
        raise SlackError("users_not_found")

    @_method("usergroups.list")
    def _usergroups_list(self, a: _Args) -> dict[str, Any]:
        include_users = a.flag("include_users")
        groups = []
        for g in self.usergroups.values():
            out = {k: v for k, v in g.items() if k != "users"}
            out["user_count"] = len(g["users"])
            if include_users:
                out["users"] = list(g["users"])
            groups.append(out)
        return {"usergroups": groups}

    @_method("usergroups.users.list")
    def _usergroups_users_list(self, a: _Args) -> dict[str, Any]:
        group = self.usergroups.get(a.req("usergroup", "no_such_subteam"))
        if group is None:
            raise SlackError("no_such_subteam")
        return {"users": list(group["users"])}

    # ----------------------------------------------------------------- methods: views

    def _view_arg(self, a: _Args) -> dict[str, Any]:
        view = a.structured("view", "invalid_arguments")
        if view is None:
            raise SlackError("invalid_arguments", response_metadata=_messages(["view is required"]))
        problems = view_problems(view)
        if problems:
            raise SlackError("invalid_arguments", response_metadata=_messages(problems))
        assert isinstance(view, dict)  # view_problems refuses anything else
        external_id = view.get("external_id")
        if external_id and any(v.get("external_id") == external_id for v in self.views.values()):
            raise SlackError("duplicate_external_id")
        return view

    def _use_trigger(self, a: _Args) -> _Trigger:
        trigger_id = a.opt("trigger_id") or a.opt("interactivity_pointer")
        if trigger_id is None:
            raise SlackError(
                "invalid_arguments", response_metadata=_messages(["trigger_id is required"])
            )
        trigger = self._triggers.get(trigger_id)
        if trigger is None:
            raise SlackError("invalid_trigger_id")
        if self.clock() > trigger.expires_at:
            raise SlackError("expired_trigger_id")
        if trigger.used:
            raise SlackError("exchanged_trigger_id")
        trigger.used = True
        return trigger

    def _build_view(
        self, spec: dict[str, Any], *, view_id: str, root_id: str, previous: str | None
    ) -> dict[str, Any]:
        return {
            "id": view_id,
            "team_id": self.team_id,
            "type": spec.get("type", "modal"),
            "title": spec.get("title"),
            "close": spec.get("close"),
            "submit": spec.get("submit"),
            "blocks": self._with_ids(spec.get("blocks", [])),
            "private_metadata": spec.get("private_metadata", ""),
            "callback_id": spec.get("callback_id", ""),
            "external_id": spec.get("external_id", ""),
            "state": {"values": {}},
            "hash": f"{int(time.time())}.{self._random_token(8)}",
            "clear_on_close": bool(spec.get("clear_on_close", False)),
            "notify_on_close": bool(spec.get("notify_on_close", False)),
            "root_view_id": root_id,
            "previous_view_id": previous,
            "app_id": APP_ID,
            "bot_id": BOT_ID,
        }

    def _open_view(self, spec: dict[str, Any], user: str, stack: list[str] | None) -> dict:
        view_id = self._new_id("V")
        root_id = stack[0] if stack else view_id
        view = self._build_view(
            spec, view_id=view_id, root_id=root_id, previous=stack[-1] if stack else None
        )
        self.views[view_id] = view
        self._view_user[view_id] = user
        self._stacks.setdefault(root_id, []).append(view_id)
        self._emit({"type": "view_opened", "view": view, "user": user})
        return view

    def _replace_view(self, old: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
        view = self._build_view(
            spec, view_id=old["id"], root_id=old["root_view_id"], previous=old["previous_view_id"]
        )
        self.views[old["id"]] = view
        self._emit({"type": "view_updated", "view": view, "user": self._view_user[old["id"]]})
        return view

    def _close_views(self, view_id: str, *, whole_stack: bool) -> None:
        view = self.views.get(view_id)
        if view is None:
            return
        stack = self._stacks.get(view["root_view_id"], [])
        closing = list(stack) if whole_stack else stack[stack.index(view_id) :]
        for vid in reversed(closing):
            stack.remove(vid)
            self.views.pop(vid, None)
            user = self._view_user.pop(vid, None)
            self._emit({"type": "view_closed", "view_id": vid, "user": user})
        if not stack:
            self._stacks.pop(view["root_view_id"], None)

    @_method("views.open")
    def _views_open(self, a: _Args) -> dict[str, Any]:
        view = self._view_arg(a)
        trigger = self._use_trigger(a)
        return {"view": self._open_view(view, trigger.user, None)}

    @_method("views.push")
    def _views_push(self, a: _Args) -> dict[str, Any]:
        spec = self._view_arg(a)
        trigger = self._use_trigger(a)
        stack = self._user_stack(trigger)
        if stack is None:
            raise SlackError("not_found")
        if len(stack) >= VIEW_STACK_LIMIT:
            raise SlackError("push_limit_reached")
        return {"view": self._open_view(spec, trigger.user, stack)}

    def _user_stack(self, trigger: _Trigger) -> list[str] | None:
        if trigger.view_id and trigger.view_id in self.views:
            return self._stacks.get(self.views[trigger.view_id]["root_view_id"])
        for stack in reversed(list(self._stacks.values())):
            if stack and self._view_user.get(stack[0]) == trigger.user:
                return stack
        return None

    @_method("views.update")
    def _views_update(self, a: _Args) -> dict[str, Any]:
        spec = a.structured("view", "invalid_arguments")
        if not isinstance(spec, dict):
            raise SlackError("invalid_arguments", response_metadata=_messages(["view is required"]))
        view_id, external_id = a.opt("view_id"), a.opt("external_id")
        if view_id is None and external_id is None:
            raise SlackError(
                "invalid_arguments", response_metadata=_messages(["view_id or external_id"])
            )
        old = self.views.get(view_id) if view_id else None
        if old is None and external_id:
            old = next((v for v in self.views.values() if v["external_id"] == external_id), None)
        if old is None:
            raise SlackError("not_found")
        problems = view_problems(spec)
        if problems:
            raise SlackError("invalid_arguments", response_metadata=_messages(problems))
        if a.opt("hash") is not None and a.opt("hash") != old["hash"]:
            raise SlackError("hash_conflict")
        return {"view": self._replace_view(old, spec)}

    # ----------------------------------------------------------------- methods: files

    @_method("files.getUploadURLExternal")
    def _files_get_upload_url(self, a: _Args) -> dict[str, Any]:
        filename = a.req("filename")
        length = a.num("length", -1)
        if length < 0:
            raise SlackError("invalid_arguments", response_metadata=_messages(["length"]))
        file_id = self._new_id("F")
        self.files[file_id] = {
            "id": file_id,
            "name": filename,
            "title": filename,
            "length": length,
            "content": None,
            "user": self.bot_user_id,
            "created": int(time.time()),
            "channels": [],
        }
        return {"upload_url": f"{self.base_url}upload/{file_id}", "file_id": file_id}

    async def _handle_upload(self, request: web.Request) -> web.Response:
        f = self.files.get(request.match_info["file_id"])
        if f is None:
            return web.Response(status=404, text="file_not_found")
        if request.content_type == "multipart/form-data":
            reader = await request.multipart()
            part = await reader.next()
            content = await part.read() if isinstance(part, aiohttp.BodyPartReader) else b""
        else:
            content = await request.read()
        f["content"] = bytes(content)
        return web.Response(text=f"OK - {len(content)}")

    async def _handle_file(self, request: web.Request) -> web.Response:
        """A shared file's bytes at its permalink, as plain text (the sandbox links to it)."""
        f = self.files.get(request.match_info["file_id"])
        if f is None or f["content"] is None or not f["channels"]:
            return web.Response(status=404, text="file_not_found")
        return web.Response(
            body=f["content"],
            content_type="text/plain",
            charset="utf-8",
            headers={"Content-Disposition": f'inline; filename="{f["name"]}"'},
        )

    def _file_object(self, f: dict[str, Any]) -> dict[str, Any]:
        public = {k: v for k, v in f.items() if k != "content"}
        public["size"] = len(f["content"] or b"")
        public["permalink"] = f"{self.base_url or 'https://fake.slack.com/'}files/{f['id']}"
        return public

    @_method("files.completeUploadExternal")
    def _files_complete_upload(self, a: _Args) -> dict[str, Any]:
        wanted = a.structured("files", "invalid_arguments")
        if not isinstance(wanted, list) or not wanted:
            raise SlackError("invalid_arguments", response_metadata=_messages(["files"]))
        found = []
        for item in wanted:
            f = self.files.get(item.get("id", "")) if isinstance(item, dict) else None
            if f is None or f["content"] is None:
                raise SlackError("file_not_found")
            if item.get("title"):
                f["title"] = item["title"]
            found.append(f)
        channel_id = a.opt("channel_id") or next(iter(a.csv("channels")), None)
        if channel_id:
            channel = self._channel(channel_id, allow_user=True)
            self._check_can_post(channel)
            for f in found:
                f["channels"].append(channel.id)
            objects = [self._file_object(f) for f in found]
            m = self._store_message(
                channel,
                self.bot_user_id,
                a.opt("initial_comment") or "",
                [],
                thread_ts=a.opt("thread_ts"),
                files=objects,
            )
            for obj in objects:
                self._emit({"type": "file_shared", "file": obj, "channel": channel.id, "ts": m.ts})
        return {"files": [self._file_object(f) for f in found]}

    # ----------------------------------------------------------------- response_url

    async def _handle_response_url(self, request: web.Request) -> web.Response:
        target = self._responses.get(request.match_info["token"])
        args: dict[str, Any] = {}
        status, error = 200, None
        try:
            try:
                args = await request.json()
            except ValueError:
                raise SlackError("invalid_json") from None
            if target is None:
                status = 404
                raise SlackError("expired_url")
            target.uses += 1
            if target.uses > RESPONSE_URL_USES:
                status = 404
                raise SlackError("used_url")
            status = 400  # from here on a refusal is the caller's payload
            self._apply_response(target, args)
            status = 200
        except SlackError as e:
            error = e.error
            extra = e.extra
        self.calls.append(Call("response_url", args, error is None, error, status, time.time()))
        if error is None:
            return web.json_response({"ok": True})
        return web.json_response({"ok": False, "error": error, **extra}, status=status)

    def _apply_response(self, target: _ResponseTarget, body: dict[str, Any]) -> None:
        channel = self.channels[target.channel]
        source = self.message(channel.id, target.message_ts) if target.message_ts else None
        if body.get("delete_original") and source is not None:
            self.messages[channel.id].remove(source)
            self._emit({"type": "message_deleted", "channel": channel.id, "ts": source.ts})
            return
        text, blocks = self._message_content(_Args(body))
        if body.get("replace_original") and source is not None:
            source.text = text or ""
            source.blocks = self._with_ids(blocks or [])
            source.edited = True
            self._emit({"type": "message_changed", "message": self.serialize_message(source)})
            return
        in_channel = body.get("response_type") == "in_channel"
        self._store_message(
            channel,
            self.bot_user_id,
            text or "",
            blocks or [],
            thread_ts=body.get("thread_ts"),
            ephemeral_to=None if in_channel else target.user,
        )

    # ----------------------------------------------------------------- acting as a human

    def signed_headers(self, body: bytes) -> dict[str, str]:
        """Slack's signature headers for body, as of now."""
        timestamp = str(int(time.time()))
        base = f"v0:{timestamp}:".encode() + body
        digest = hmac.new(self.signing_secret.encode(), base, hashlib.sha256).hexdigest()
        return {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": f"v0={digest}"}

    @property
    def _app_reachable(self) -> bool:
        return self.transport == "socket" or bool(self.app_url)

    async def _deliver(
        self,
        kind: Literal["slash_commands", "interactive", "events_api"],
        payload: dict[str, Any],
        *,
        retry_num: int | None = None,
    ) -> tuple[int, str]:
        """Hand the bot a request as Slack would, over the transport; (status, ack body),
        (0, "") when no answer came in time."""
        with self.activity.busy():  # on its way to the bot until the ack: the settle signal
            return await self._handed(kind, payload, retry_num=retry_num)

    async def _handed(
        self,
        kind: Literal["slash_commands", "interactive", "events_api"],
        payload: dict[str, Any],
        *,
        retry_num: int | None = None,
    ) -> tuple[int, str]:
        if self.transport == "socket":
            ack = await self.socket_mode.deliver(
                kind, payload, timeout=self.ack_timeout, retry_attempt=retry_num
            )
            if ack is None:
                return 0, ""
            return 200, json.dumps(ack.payload) if ack.payload else ""
        headers: dict[str, str] = {}
        if kind == "events_api":
            body, content_type = json.dumps(payload).encode(), "application/json"
            if retry_num:
                headers = {
                    "X-Slack-Retry-Num": str(retry_num),
                    "X-Slack-Retry-Reason": "http_timeout",
                }
        elif kind == "interactive":
            body = urlencode({"payload": json.dumps(payload)}).encode()
            content_type = "application/x-www-form-urlencoded"
        else:
            body, content_type = urlencode(payload).encode(), "application/x-www-form-urlencoded"
        return await self._post_to_app(body, content_type, headers)

    async def _post_to_app(
        self, body: bytes, content_type: str, extra_headers: dict[str, str]
    ) -> tuple[int, str]:
        """POST a signed request to the bot as Slack would; (0, "") when no answer in time."""
        if not self.app_url:
            raise RuntimeError("FakeSlack.app_url is not set: nowhere to send the request")
        if self._session is None:
            self._session = aiohttp.ClientSession()
        headers = {
            "Content-Type": content_type,
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
            **self.signed_headers(body),
            **extra_headers,
        }
        self.sent.append(Sent(self.app_url, headers, body))
        try:
            async with self._session.post(
                self.app_url,
                data=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.ack_timeout),
            ) as response:
                return response.status, await response.text()
        except TimeoutError:
            return 0, ""

    def _user_obj(self, user: str) -> dict[str, Any]:
        u = self._human(user)
        return {"id": u.id, "username": u.name, "name": u.name, "team_id": self.team_id}

    def _human(self, user: str) -> User:
        if user not in self.users:
            raise ValueError(f"no such user {user!r} in the fake workspace")
        return self.users[user]

    def _human_channel(self, channel: str) -> Channel:
        found = self.channels.get(channel) or self.channel_by_name(channel)
        if found is None:
            raise ValueError(f"no such channel {channel!r} in the fake workspace")
        return found

    @staticmethod
    def _parse_ack(text: str) -> Any:
        if not text:
            return None
        try:
            return json.loads(text)
        except ValueError:
            return text

    async def slash_command(self, user: str, channel: str, command: str, text: str) -> AckResult:
        """A human types `command text` in channel; the ack body is shown as Slack shows it."""
        u, ch = self._human(user), self._human_channel(channel)
        fields = {
            "token": VERIFICATION_TOKEN,
            "team_id": self.team_id,
            "team_domain": "fake",
            "channel_id": ch.id,
            "channel_name": "directmessage" if ch.is_im else ch.name,
            "user_id": u.id,
            "user_name": u.name,
            "command": command,
            "text": text,
            "api_app_id": APP_ID,
            "is_enterprise_install": "false",
            "response_url": self._new_response_url(ch.id, u.id, None),
            "trigger_id": self._new_trigger(u.id),
        }
        status, raw = await self._deliver("slash_commands", fields)
        body = self._parse_ack(raw)
        result = AckResult(status, body)
        if status != 200 or body is None:
            return result
        reply = body if isinstance(body, dict) else {"text": str(body)}
        if not reply.get("text") and not reply.get("blocks"):
            return result
        try:
            text_out, blocks = self._message_content(_Args(reply))
        except SlackError as e:
            result.errors = {
                e.error: "; ".join(e.extra.get("response_metadata", {}).get("messages", []))
            }
            return result
        in_channel = reply.get("response_type") == "in_channel"
        self._store_message(
            ch,
            self.bot_user_id,
            text_out or "",
            blocks or [],
            ephemeral_to=None if in_channel else u.id,
        )
        return result

    async def post_message(
        self,
        user: str,
        channel: str,
        text: str,
        *,
        retry_num: int | None = None,
        event_id: str | None = None,
        thread_ts: str | None = None,
    ) -> Message:
        """A human posts text; the bot gets the message event if it is in the channel."""
        u, ch = self._human(user), self._human_channel(channel)
        if u.id not in ch.members:
            if ch.is_private:
                raise ValueError(f"{u.name} is not in private channel {ch.name}")
            # a human posting in a public channel joins it first, as the Slack client offers
            await self.join(u.id, ch.id)
        m = self._store_message(ch, u.id, text, [], thread_ts=thread_ts)
        if self._app_reachable and self.bot_user_id in ch.members:
            event: dict[str, Any] = {
                "type": "message",
                "channel": ch.id,
                "user": u.id,
                "text": text,
                "ts": m.ts,
                "event_ts": m.ts,
                "team": self.team_id,
                "channel_type": "im" if ch.is_im else ("group" if ch.is_private else "channel"),
            }
            if thread_ts:
                event["thread_ts"] = thread_ts
            await self.send_event(event, event_id=event_id, retry_num=retry_num)
            if f"<@{self.bot_user_id}>" in text and not ch.is_im:
                mention = {k: v for k, v in event.items() if k != "channel_type"}
                await self.send_event({**mention, "type": "app_mention"})
        return m

    async def join(self, user: str, channel: str) -> None:
        """A human joins a public channel; the bot hears member_joined_channel if it is in it."""
        u, ch = self._human(user), self._human_channel(channel)
        if ch.is_private or ch.is_im:
            raise ValueError(f"{u.name} cannot join private channel {ch.name} uninvited")
        if u.id in ch.members:
            return
        ch.members.add(u.id)
        self._emit({"type": "member_joined", "channel": ch.id, "user": u.id})
        await self._member_event("member_joined_channel", u.id, ch)

    async def leave(self, user: str, channel: str) -> None:
        """A human leaves a channel; the bot hears member_left_channel if it is in it."""
        u, ch = self._human(user), self._human_channel(channel)
        if u.id not in ch.members:
            return
        ch.members.discard(u.id)
        self._emit({"type": "member_left", "channel": ch.id, "user": u.id})
        await self._member_event("member_left_channel", u.id, ch)

    async def _member_event(self, kind: str, user: str, ch: Channel) -> None:
        if self._app_reachable and self.bot_user_id in ch.members:
            event = {
                "type": kind,
                "user": user,
                "channel": ch.id,
                "channel_type": "G" if ch.is_private else "C",
                "team": self.team_id,
                "event_ts": self._next_ts(),
            }
            await self.send_event(event)

    async def post_as_bot(
        self,
        bot: Bot | str,
        channel: str,
        text: str = "",
        *,
        attachments: list[dict[str, Any]] | None = None,
        event_id: str | None = None,
    ) -> Message:
        """Another app or integration posts (a `Bot` of `add_bot`, or its ID); the bot gets
        the message event as Slack sends it, if it is in the channel: an app's message
        carries `bot_id`, `app_id` and `bot_profile` beside its bot user; a classic
        integration's is `subtype: bot_message` with its `bot_id` and no user."""
        b = self.bots[bot] if isinstance(bot, str) else bot
        ch = self._human_channel(channel)
        if b.user_id and b.user_id not in ch.members:
            if ch.is_private:
                raise SlackError("not_in_channel")
            ch.members.add(b.user_id)  # an app posting in a public channel (chat:write.public)
        m = self._store_message(ch, b.user_id, text, [], bot=b, attachments=attachments)
        if self.app_url and self.bot_user_id in ch.members:
            event = {
                k: v
                for k, v in self.serialize_message(m).items()
                if k not in ("pinned", "ephemeral_to")
            }
            event["event_ts"] = m.ts
            event["channel_type"] = "group" if ch.is_private else "channel"
            await self.send_event(event, event_id=event_id)
        return m

    async def send_event(
        self, event: dict[str, Any], *, event_id: str | None = None, retry_num: int | None = None
    ) -> int:
        """Send an Events API event_callback; a retry (retry_num) carries Slack's retry
        headers over HTTP, its `retry_attempt` over Socket Mode."""
        envelope = {
            "token": VERIFICATION_TOKEN,
            "team_id": self.team_id,
            "api_app_id": APP_ID,
            "event": event,
            "type": "event_callback",
            "event_id": event_id or f"Ev{self._new_id('')}{self._random_token(4).upper()}",
            "event_time": int(time.time()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self.team_id,
                    "user_id": self.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
        }
        status, _ = await self._deliver("events_api", envelope, retry_num=retry_num)
        return status

    async def add_reaction(self, user: str, channel: str, ts: str, name: str) -> None:
        ch = self._human_channel(channel)
        m = self.message(ch.id, ts)
        if m is None:
            raise ValueError(f"no message {ts} in {ch.name}")
        self._react(ch, m, self._human(user).id, name)
        if self._app_reachable and self.bot_user_id in ch.members:
            await self.send_event(
                {
                    "type": "reaction_added",
                    "user": user,
                    "reaction": name,
                    "item_user": m.user,
                    "item": {"type": "message", "channel": ch.id, "ts": ts},
                    "event_ts": self._next_ts(),
                }
            )

    def create_channel_as_user(self, user: str, name: str, *, is_private: bool = False) -> Channel:
        """A human creates a channel, under the rules conversations.create applies (a valid
        name, not taken); they are its creator and only member."""
        u = self._human(user)
        name = _check_channel_name(name)
        if self.channel_by_name(name) is not None:
            raise SlackError("name_taken")
        return self.add_channel(name, is_private=is_private, members=[u.id], creator=u.id)

    def invite_as_user(self, user: str, channel: str, users: Iterable[str]) -> None:
        """A member invites people (the bot too) into a channel, as `/invite` does."""
        u, ch = self._human(user), self._human_channel(channel)
        if ch.is_archived:
            raise SlackError("is_archived")
        if u.id not in ch.members:
            raise SlackError("not_in_channel")
        for uid in users:
            self._human(uid)
            if uid not in ch.members:
                ch.members.add(uid)
                self._emit({"type": "member_joined", "channel": ch.id, "user": uid})

    async def pin_as_user(self, user: str, channel: str, ts: str) -> None:
        ch = self._human_channel(channel)
        m = self.message(ch.id, ts)
        if m is None:
            raise ValueError(f"no message {ts} in {ch.name}")
        m.pinned = True
        self._emit({"type": "pinned", "channel": ch.id, "ts": ts, "user": self._human(user).id})
        if self._app_reachable and self.bot_user_id in ch.members:
            await self.send_event(
                {
                    "type": "pin_added",
                    "user": user,
                    "channel_id": ch.id,
                    "item": {
                        "type": "message",
                        "channel": ch.id,
                        "created": int(time.time()),
                        "created_by": user,
                        "message": self.serialize_message(m),
                    },
                    "event_ts": self._next_ts(),
                }
            )

    async def click(
        self,
        user: str,
        channel: str,
        message_ts: str,
        action_id: str,
        *,
        value: str | None = None,
        block_id: str | None = None,
        forged_value: str | None = None,
    ) -> AckResult:
        """A human clicks (or picks from) the element `action_id` on a stored message.

        `forged_value`: an attacker's crafted request: the real block_actions of this
        click, but its action carries another value than the button's (e.g. another
        incident's id). Attack tests only."""
        u, ch = self._human(user), self._human_channel(channel)
        m = self.message(ch.id, message_ts)
        if m is None:
            raise ValueError(f"no message {message_ts} in {ch.name}")
        if m.ephemeral_to not in (None, u.id):
            raise ValueError(f"{u.name} cannot see the ephemeral message {message_ts}")
        found_block, element = _find_element(m.blocks, action_id, value, block_id)
        action = _action_payload(found_block, element, value)
        action["action_ts"] = self._next_ts()
        if forged_value is not None:
            action["value"] = forged_value
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": self._user_obj(u.id),
            "api_app_id": APP_ID,
            "token": VERIFICATION_TOKEN,
            "container": {
                "type": "message",
                "message_ts": m.ts,
                "channel_id": ch.id,
                "is_ephemeral": m.ephemeral_to is not None,
            },
            "trigger_id": self._new_trigger(u.id),
            "team": {"id": self.team_id, "domain": "fake"},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": ch.id, "name": "directmessage" if ch.is_im else ch.name},
            "state": {"values": {}},
            "response_url": self._new_response_url(ch.id, u.id, m.ts),
            "actions": [action],
        }
        if m.ephemeral_to is None:
            # Slack sends the message only for normal ones; ephemeral ones are not stored there
            payload["message"] = self.serialize_message(m)
        status, raw = await self._deliver("interactive", payload)
        return AckResult(status, self._parse_ack(raw))

    async def click_view(
        self,
        user: str,
        view_id: str,
        action_id: str,
        *,
        value: str | None = None,
        block_id: str | None = None,
        values: dict[str, dict[str, Any]] | None = None,
    ) -> AckResult:
        """A human clicks (or picks from) `action_id` inside their open modal view_id.

        `values` is what the modal's inputs hold at that moment (as for submit_view); Slack
        sends it as view.state, empty required inputs included, since nothing is submitted.
        """
        u = self._human(user)
        view = self.views.get(view_id)
        if view is None or self._view_user.get(view_id) != u.id:
            raise ValueError(f"{u.name} has no open view {view_id}")
        found_block, element = _find_element(view["blocks"], action_id, value, block_id)
        action = _action_payload(found_block, element, value)
        action["action_ts"] = self._next_ts()
        view["state"] = {"values": _state_values(view, values or {}, submitting=False)}
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": self._user_obj(u.id),
            "api_app_id": APP_ID,
            "token": VERIFICATION_TOKEN,
            "container": {"type": "view", "view_id": view_id},
            # a trigger from inside a modal may views.push onto its stack
            "trigger_id": self._new_trigger(u.id, view_id=view_id),
            "team": {"id": self.team_id, "domain": "fake"},
            "enterprise": None,
            "is_enterprise_install": False,
            "view": view,
            "actions": [action],
        }
        status, raw = await self._deliver("interactive", payload)
        return AckResult(status, self._parse_ack(raw))

    async def submit_view(
        self, user: str, view_id: str, values: dict[str, dict[str, Any]]
    ) -> AckResult:
        """A human fills the open modal view_id with values and presses submit."""
        u = self._human(user)
        view = self.views.get(view_id)
        if view is None:
            raise ValueError(f"no open view {view_id}")
        state = _state_values(view, values)
        view["state"] = {"values": state}
        payload = {
            "type": "view_submission",
            "team": {"id": self.team_id, "domain": "fake"},
            "user": self._user_obj(u.id),
            "api_app_id": APP_ID,
            "token": VERIFICATION_TOKEN,
            "trigger_id": self._new_trigger(u.id, view_id=view_id),
            "view": view,
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": None,
        }
        status, raw = await self._deliver("interactive", payload)
        body = self._parse_ack(raw)
        result = AckResult(status, body)
        if status != 200:
            return result  # Slack shows "We had some trouble connecting"; the modal stays
        action = body.get("response_action") if isinstance(body, dict) else None
        if action is None:
            self._close_views(view_id, whole_stack=False)
        elif action == "errors":
            result.errors = dict(body.get("errors") or {})
        elif action == "clear":
            self._close_views(view_id, whole_stack=True)
        elif action in ("update", "push"):
            problems = view_problems(body.get("view"))
            if problems:
                result.errors = {"view": "; ".join(problems)}
            elif action == "update":
                self._replace_view(view, body["view"])
            else:
                stack = self._stacks[view["root_view_id"]]
                if len(stack) >= VIEW_STACK_LIMIT:
                    result.errors = {"view": "push_limit_reached"}
                else:
                    self._open_view(body["view"], u.id, stack)
        else:
            result.errors = {"response_action": f"unknown response_action {action!r}"}
        return result

    async def close_view(self, user: str, view_id: str) -> AckResult | None:
        """A human presses Cancel; the bot hears view_closed only if notify_on_close is set."""
        view = self.views.get(view_id)
        if view is None:
            raise ValueError(f"no open view {view_id}")
        notify = view.get("notify_on_close")
        self._close_views(view_id, whole_stack=bool(view.get("clear_on_close")))
        if not notify:
            return None
        payload = {
            "type": "view_closed",
            "team": {"id": self.team_id, "domain": "fake"},
            "user": self._user_obj(user),
            "api_app_id": APP_ID,
            "token": VERIFICATION_TOKEN,
            "view": view,
            "is_cleared": bool(view.get("clear_on_close")),
        }
        status, raw = await self._deliver("interactive", payload)
        return AckResult(status, self._parse_ack(raw))


# --------------------------------------------------------------------------- payload shaping


def _interactive_elements(blocks: list[dict[str, Any]]) -> Iterable[tuple[dict, dict]]:
    for block in blocks:
        if block.get("type") == "actions":
            for el in block.get("elements") or []:
                yield block, el
        for key in ("accessory", "element"):
            if isinstance(block.get(key), dict):
                yield block, block[key]


def _all_options(element: dict[str, Any]) -> list[dict[str, Any]]:
    options = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        options.extend(group.get("options") or [])
    return options


def _option_for(element: dict[str, Any], value: Any) -> dict[str, Any]:
    for option in _all_options(element):
        if option.get("value") == value:
            return option
    if element.get("type", "").startswith(("external", "multi_external")):
        return {"text": {"type": "plain_text", "text": str(value)}, "value": value}
    raise ValueError(f"element {element.get('action_id')} has no option with value {value!r}")


def _find_element(
    blocks: list[dict[str, Any]], action_id: str, value: str | None, block_id: str | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    for block, el in _interactive_elements(blocks):
        if el.get("action_id") != action_id:
            continue
        if block_id is not None and block.get("block_id") != block_id:
            continue
        if value is not None and el.get("type") == "button" and el.get("value") != value:
            continue
        return block, el
    raise ValueError(f"no element with action_id {action_id!r} (value {value!r}) in the message")


_SELECTED_KEY = {
    "users_select": "selected_user",
    "multi_users_select": "selected_users",
    "conversations_select": "selected_conversation",
    "multi_conversations_select": "selected_conversations",
    "channels_select": "selected_channel",
    "multi_channels_select": "selected_channels",
    "datepicker": "selected_date",
    "timepicker": "selected_time",
    "datetimepicker": "selected_date_time",
}
_TEXT_INPUTS = {
    "plain_text_input",
    "email_text_input",
    "url_text_input",
    "number_input",
    "rich_text_input",
}


def _shaped_value(element: dict[str, Any], value: Any) -> dict[str, Any]:
    """The state/action shape Slack uses for element's type holding value (None: empty)."""
    kind = element.get("type", "")
    out: dict[str, Any] = {"type": kind}
    if kind in _TEXT_INPUTS:
        out["value"] = None if value is None else str(value)
    elif kind in _SELECTED_KEY:
        key = _SELECTED_KEY[kind]
        out[key] = list(value or []) if kind.startswith("multi_") else value
    elif kind in ("multi_static_select", "multi_external_select", "checkboxes"):
        out["selected_options"] = [_option_for(element, v) for v in value or []]
    elif kind in ("static_select", "external_select", "radio_buttons", "overflow"):
        out["selected_option"] = None if value is None else _option_for(element, value)
    else:
        raise ValueError(f"cannot fill an element of type {kind!r}")
    return out


def _action_payload(
    block: dict[str, Any], element: dict[str, Any], value: str | None
) -> dict[str, Any]:
    base = {"action_id": element["action_id"], "block_id": block["block_id"]}
    if element.get("type") == "button":
        action = {**base, "type": "button", "text": element.get("text")}
        if element.get("value") is not None:
            action["value"] = element["value"]
        if element.get("style"):
            action["style"] = element["style"]
        return action
    if value is None:
        raise ValueError(f"pick a value for the {element.get('type')} {element['action_id']!r}")
    picked: Any = [value] if element.get("type", "").startswith("multi_") else value
    if element.get("type") == "checkboxes":
        picked = [value]
    return {**base, **_shaped_value(element, picked)}


def _initial(el: dict[str, Any]) -> Any:
    """An element's pre-filled value, in the plain form submit_view takes."""
    if "initial_option" in el:
        return el["initial_option"].get("value")
    if "initial_options" in el:
        return [o.get("value") for o in el["initial_options"]]
    for key in (
        "initial_value",
        "initial_user",
        "initial_users",
        "initial_date",
        "initial_channel",
    ):
        if key in el:
            return el[key]
    return None


def _state_values(
    view: dict[str, Any], values: dict[str, dict[str, Any]], *, submitting: bool = True
) -> dict[str, Any]:
    """view.state.values: every input of the view, filled from values (on submission,
    an empty required input is refused, as the Slack client refuses it)."""
    elements = {
        (block["block_id"], el["action_id"]): (block, el)
        for block, el in _interactive_elements(view.get("blocks") or [])
        if el.get("type") not in ("button", "image")
    }
    for block_id, by_action in values.items():
        for action_id in by_action:
            if (block_id, action_id) not in elements:
                raise ValueError(f"view {view['id']} has no input {block_id}/{action_id}")
    state: dict[str, dict[str, Any]] = {}
    for (block_id, action_id), (block, el) in elements.items():
        given = values.get(block_id, {})
        if block.get("type") != "input" and action_id not in given:
            continue  # accessories appear in state only once touched
        # what the user left untouched keeps the element's initial value, as in Slack
        value = given[action_id] if action_id in given else _initial(el)
        empty = value is None or value == "" or value == []
        if submitting and block.get("type") == "input" and empty and not block.get("optional"):
            # the Slack client refuses to submit a modal with an empty required input
            raise ValueError(f"required input {block_id}/{action_id} left empty")
        state.setdefault(block_id, {})[action_id] = _shaped_value(el, value)
    return state


__all__ = [
    "BLOCK_TYPES",
    "DEFAULT_SCOPES",
    "AckResult",
    "Call",
    "Channel",
    "FakeSlack",
    "Message",
    "SlackError",
    "User",
    "block_problems",
    "view_problems",
]
