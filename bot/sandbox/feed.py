"""The sandbox page's live feed: every FakeSlack event fanned out to each open page,
rendered for that page's user (bot/sandbox/render/). Ephemeral messages reach only the
user they belong to, modals only the user who opened them, private channels only their
members; a page that changes who it acts as gets a fresh snapshot.

Server → page messages: snapshot, channels, message (new or changed, same shape),
message_deleted, view (opened or updated), view_closed, home (the user's Home tab, as the
app last published it), panel, notice (`text`, and `tone`: "ok" shows it as a success,
anything else as an error).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from bot.fakes.slack import FakeSlack
from bot.sandbox.render import (
    RenderContext,
    render_home,
    render_message,
    render_mrkdwn,
    render_view,
)

log = logging.getLogger(__name__)

JSON = dict[str, Any]
# A panel's initial HTML, computed when a page connects (e.g. the PagerDuty schedule).
PanelSource = Callable[[], str | Awaitable[str]]

# Fake events that change the channel list (names, membership, topics, archival).
CHANNEL_EVENTS = {
    "channel_created",
    "channel_archived",
    "channel_unarchived",
    "channel_renamed",
    "member_joined",
    "member_left",
    "topic_changed",
    "purpose_changed",
}
# Fake events about one message; the page is sent the message as it now stands.
MESSAGE_EVENTS = {
    "message",
    "message_changed",
    "pinned",
    "unpinned",
    "reaction_added",
    "reaction_removed",
    "file_shared",
}


@dataclass(eq=False)
class Viewer:
    """One open page: who it acts as, what it can see, and its outgoing queue."""

    ws: web.WebSocketResponse
    user: str
    queue: asyncio.Queue[JSON | None] = field(default_factory=asyncio.Queue)  # None: closed
    visible: set[str] = field(default_factory=set)  # channel ids in its sidebar


class SandboxFeed:
    """Fans FakeSlack events out to every open page, rendered for that page's user."""

    def __init__(self, fake: FakeSlack, panels: Mapping[str, PanelSource] | None = None) -> None:
        self.fake = fake
        self.panel_sources = dict(panels or {})
        self.panels: dict[str, str] = {}  # latest HTML published for each panel
        self.viewers: set[Viewer] = set()
        self._unsubscribe: Callable[[], Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- lifecycle

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._unsubscribe = self.fake.subscribe(self._on_fake_event)

    async def stop(self) -> None:
        if self._unsubscribe:
            self._unsubscribe()
            self._unsubscribe = None
        for viewer in list(self.viewers):
            await viewer.ws.close()

    # -- input

    def publish(self, event: JSON) -> None:
        """Send an event to every page, e.g. {"type": "panel", "panel": name, "html": ...}."""
        kind = event.get("type")
        if kind == "panel":
            self.panels[str(event["panel"])] = str(event.get("html") or "")
        for viewer in list(self.viewers):
            viewer.queue.put_nowait(event)

    def _on_fake_event(self, event: JSON) -> None:
        # FakeSlack may call back from a request handler or, in theory, another thread.
        try:
            same_loop = asyncio.get_running_loop() is self._loop
        except RuntimeError:
            same_loop = False
        if same_loop or self._loop is None:
            self.publish(event)
        else:
            self._loop.call_soon_threadsafe(self.publish, event)

    # -- what one viewer sees

    def context(self, viewer: str) -> RenderContext:
        fake = self.fake
        bot = fake.users.get(fake.bot_user_id)
        groups = getattr(fake, "usergroups", None) or {}
        return RenderContext(
            users={uid: attr(u, "name", uid) for uid, u in fake.users.items()},
            # as Slack: a private channel's name only to its members
            channels={
                cid: attr(c, "name", cid) if self.can_see_channel(viewer, c) else "private-channel"
                for cid, c in fake.channels.items()
            },
            usergroups={gid: str(attr(g, "handle", gid)) for gid, g in groups.items()},
            viewer=viewer,
            bot_user_id=fake.bot_user_id,
            bot_name=attr(bot, "real_name", "") or attr(bot, "name", "") or "Incident Bot",
        )

    def can_see_channel(self, user: str, channel: Any) -> bool:
        private = attr(channel, "is_private", False) or attr(channel, "is_im", False)
        return not private or user in (attr(channel, "members", None) or ())

    def visible_channels(self, user: str) -> list[JSON]:
        ctx = self.context(user)
        # The topic is mrkdwn (the bot names the commander as <@U…>): render it here too.
        return [
            {**self.fake.serialize_channel(c), "topic_html": render_mrkdwn(c.topic, ctx)}
            for c in self.fake.channels.values()
            if self.can_see_channel(user, c)
        ]

    def message_html(self, m: Any, user: str, ctx: RenderContext) -> str | None:
        """The message as `user` sees it, or None when it is not theirs to see."""
        data = _message_dict(self.fake, m)
        to = data.get("ephemeral_to")
        if to and to != user:
            return None
        return render_message(data, ctx)

    def channel_messages(self, channel_id: str, user: str, ctx: RenderContext) -> list[JSON]:
        out = []
        for m in self.fake.messages.get(channel_id, []):
            html = self.message_html(m, user, ctx)
            if html is not None:
                out.append({"ts": attr(m, "ts", ""), "html": html})
        return out

    async def snapshot(self, viewer: Viewer) -> JSON:
        user = viewer.user
        ctx = self.context(user)
        channels = self.visible_channels(user)
        viewer.visible = {c["id"] for c in channels}
        panels = dict(self.panels)
        for name, source in self.panel_sources.items():
            try:
                result = source()
                panels[name] = await result if inspect.isawaitable(result) else str(result)
            except Exception:
                log.exception("sandbox panel %s failed to render", name)
                panels[name] = f"<p>The {name} panel could not be shown; see the log.</p>"
        return {
            "type": "snapshot",
            "me": user,
            "bot_user_id": self.fake.bot_user_id,
            "users": [_user_json(u, self.fake.bot_user_id) for u in self.fake.users.values()],
            "channels": channels,
            "messages": {c["id"]: self.channel_messages(c["id"], user, ctx) for c in channels},
            "views": [
                {"view_id": vid, "html": render_view(view, ctx, view_id=vid)}
                for vid, view in self.fake.views.items()
                if self.fake.view_owner(vid) == user
            ],
            "panels": {k: v for k, v in panels.items() if v},
            "home": self.home_html(user, ctx),
        }

    def home_html(self, user: str, ctx: RenderContext) -> str:
        return render_home(self.fake.serialize_home(user), ctx)

    def translate(self, event: JSON, viewer: Viewer) -> list[JSON]:
        """A fake (or published) event -> what this viewer's page should be told."""
        kind = event.get("type")
        user = viewer.user
        if kind in CHANNEL_EVENTS:
            channels = self.visible_channels(user)
            ids = {c["id"] for c in channels}
            ctx = self.context(user)
            # A channel this user can now see (created, or they were invited) comes with
            # its history, as Slack shows it on joining.
            fresh = {cid: self.channel_messages(cid, user, ctx) for cid in ids - viewer.visible}
            viewer.visible = ids
            return [{"type": "channels", "channels": channels, "messages": fresh}]
        if kind in MESSAGE_EVENTS:
            m = self._current_message(event)
            if m is None:
                return []
            channel = str(attr(m, "channel", "") or event.get("channel", ""))
            if channel not in viewer.visible:
                return []
            html = self.message_html(m, user, self.context(user))
            if html is None:
                return []
            return [{"type": "message", "channel": channel, "ts": attr(m, "ts", ""), "html": html}]
        if kind == "message_deleted":
            return [
                {
                    "type": "message_deleted",
                    "channel": event.get("channel"),
                    "ts": event.get("ts") or attr(event.get("message"), "ts", None),
                }
            ]
        if kind in ("view_opened", "view_updated"):
            vid = _view_id(event)
            view = self.fake.views.get(vid)  # as it stands now; None once closed
            if view is None or self.fake.view_owner(vid) != user:
                return []
            return [
                {
                    "type": "view",
                    "view_id": vid,
                    "html": render_view(view, self.context(user), view_id=vid),
                }
            ]
        if kind == "home_published":
            if event.get("user") != user:
                return []  # only its user sees a Home tab
            return [{"type": "home", "html": self.home_html(user, self.context(user))}]
        if kind == "view_closed":
            return [{"type": "view_closed", "view_id": event.get("view_id")}]
        if kind in ("panel", "notice"):
            return [event]
        return []

    def _current_message(self, event: JSON) -> Any:
        """The message as it stands now (a pin or reaction event may carry only its ts)."""
        m = event.get("message")
        channel = event.get("channel") or attr(m, "channel", None)
        ts = event.get("ts") or attr(m, "ts", None) or event.get("message_ts")
        for candidate in self.fake.messages.get(str(channel), []):
            if attr(candidate, "ts", None) == ts:
                return candidate
        return m

    # -- one page

    async def serve(self, viewer: Viewer) -> None:
        """Send the snapshot, then everything that happens, until the page goes away."""
        self.viewers.add(viewer)
        reader = asyncio.create_task(self._read(viewer))
        try:
            await viewer.ws.send_json(await self.snapshot(viewer))
            while not viewer.ws.closed:
                event = await viewer.queue.get()
                if event is None:
                    break
                if event.get("type") == "_as":
                    await viewer.ws.send_json(await self.snapshot(viewer))
                    continue
                for out in self.translate(event, viewer):
                    await viewer.ws.send_json(out)
        except (ConnectionResetError, RuntimeError) as exc:
            log.debug("sandbox page went away: %s", exc)
        finally:
            self.viewers.discard(viewer)
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader

    async def _read(self, viewer: Viewer) -> None:
        """Hear the page (who it acts as); when its socket closes, stop its sender."""
        try:
            async for msg in viewer.ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    data = json.loads(msg.data)
                except ValueError:
                    continue
                if data.get("type") == "as" and str(data.get("user")) in self.fake.users:
                    viewer.user = str(data["user"])
                    viewer.queue.put_nowait({"type": "_as"})
        finally:
            viewer.queue.put_nowait(None)


def _view_id(event: JSON) -> str:
    return str(event.get("view_id") or attr(event.get("view"), "id", ""))


def attr(obj: Any, name: str, default: Any) -> Any:
    """Read a field from a FakeSlack dataclass or an already serialised dict."""
    if obj is None:
        return default
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _message_dict(fake: FakeSlack, m: Any) -> JSON:
    """A message as the renderer wants it: the wire form plus the fake's own marks."""
    data = dict(m) if isinstance(m, Mapping) else dict(fake.serialize_message(m))
    for key in ("channel", "ts", "user", "ephemeral_to", "pinned", "edited", "files"):
        value = attr(m, key, None)
        if value is not None and data.get(key) in (None, "", [], False):
            data[key] = value
    return data


def _user_json(u: Any, bot_user_id: str) -> JSON:
    uid = str(attr(u, "id", ""))
    return {
        "id": uid,
        "name": attr(u, "name", uid),
        "real_name": attr(u, "real_name", ""),
        "is_bot": uid == bot_user_id or bool(attr(u, "is_bot", False)),
    }
