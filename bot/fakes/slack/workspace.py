"""The pretend workspace's state: users, bots, channels, messages, modals, files, user
groups, and what Slack does to it whoever asks (ids and timestamps, storing a message,
opening a DM, the modal stacks, who may see and post where); every visible change goes to
subscribers (the sandbox page)."""

from __future__ import annotations

import asyncio
import copy
import inspect
import logging
import random
import re
import string
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, Literal

import aiohttp
from aiohttp import web

from bot.core.activity import Activity
from bot.fakes.slack.model import (
    ACK_TIMEOUT,
    APP_ID,
    BOT_ID,
    BROADCASTS,
    TRIGGER_TTL,
    Bot,
    Call,
    Channel,
    Failure,
    Hold,
    Message,
    ResponseTarget,
    Sent,
    Trigger,
    User,
)
from bot.fakes.slack.serialize import Serialization
from bot.fakes.slack.wire import DEFAULT_SCOPES, SlackError
from bot.fakes.socket_mode import SocketModeServer

log = logging.getLogger(__name__)

_TYPED_NAME = re.compile(r"(?<![\w<&@#;])([@#])([a-z0-9](?:[a-z0-9._-]*[a-z0-9])?)", re.IGNORECASE)


class Workspace(Serialization):
    """One pretend Slack workspace's state and the rules every way into it shares."""

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
        self.homes: dict[str, dict[str, Any]] = {}  # user -> the Home tab published to them
        self.home_tab_enabled = True  # the manifest's features.app_home.home_tab_enabled
        self.files: dict[str, dict[str, Any]] = {}
        self.usergroups: dict[str, dict[str, Any]] = {}
        self.calls: list[Call] = []

        self.base_url: str = ""
        self.api_url: str = ""
        self._failures: dict[str, list[Failure]] = {}
        self._triggers: dict[str, Trigger] = {}
        self._responses: dict[str, ResponseTarget] = {}
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
        self.app.add_routes(self._routes())

    def _routes(self) -> list[web.AbstractRouteDef]:
        """The HTTP routes it serves (FakeSlack names them: the method families own them)."""
        return []

    def _seed(self) -> None:
        for uid, name in (("U0ALICE", "alice"), ("U0BOB", "bob"), ("U0CAROL", "carol")):
            self.add_user(uid, name, email=f"{name}@example.com")
        self.add_user("U0DAVE", "dave", email="dave@example.com")
        everyone = list(self.users)
        for name in ("incidents", "alerts", "general"):
            self.add_channel(name, members=everyone)

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
        return self._new_channel(
            "G" if is_private else "C", name, is_private, set(members), creator=creator
        )

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
        """The user an open modal (or a Home tab) belongs to (only they see it), or None."""
        return self._view_user.get(view_id) or self.home_owner(view_id)

    def home_owner(self, view_id: str) -> str | None:
        """Whose Home tab the view `view_id` is, or None."""
        return next((u for u, v in self.homes.items() if v["id"] == view_id), None)

    def trigger_user(self, trigger_id: str) -> str | None:
        """The user whose action made a trigger_id: the only one who sees a view opened with it."""
        trigger = self._triggers.get(trigger_id)
        return trigger.user if trigger is not None else None

    def subscribe(self, callback: Callable[[dict[str, Any]], Any]) -> Callable[[], None]:
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

        return unsubscribe

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
        self._triggers[trigger_id] = Trigger(user, self.clock() + self.trigger_ttl, view_id=view_id)
        return trigger_id

    def _new_response_url(self, channel: str, user: str, message_ts: str | None) -> str:
        token = self._random_token()
        self._responses[token] = ResponseTarget(channel, user, message_ts)
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
        parent = self.message(channel.id, thread_ts) if thread_ts and not ephemeral_to else None
        if parent is not None and parent is not m:  # its reply count, as clients show it
            self._emit({"type": "message_changed", "message": self.serialize_message(parent)})
        return m

    def _open_im(self, user_ids: list[str]) -> Channel:
        others = sorted(set(user_ids) - {self.bot_user_id})
        members = {self.bot_user_id, *others}
        for c in self.channels.values():
            if c.is_im and c.members == members:
                return c
        name = others[0] if len(others) == 1 else "mpdm-" + "--".join(others)
        return self._new_channel("D", name, True, members, is_im=True)

    def _new_channel(
        self,
        prefix: str,
        name: str,
        is_private: bool,
        members: set[str],
        *,
        is_im: bool = False,
        creator: str = "",
    ) -> Channel:
        channel = Channel(
            id=self._new_id(prefix),
            name=name,
            is_private=is_private,
            is_archived=False,
            members=members,
            topic="",
            purpose="",
            created=int(time.time()),
            is_im=is_im,
            creator=creator,
        )
        self.channels[channel.id] = channel
        self.messages[channel.id] = []
        self._emit({"type": "channel_created", "channel": self.serialize_channel(channel)})
        return channel

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

    # ----------------------------------------------------------------- modal stacks

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

    # ----------------------------------------------------------------- who may see and post

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
