"""The sandbox page's server side: static files, the live feed and the user's actions.

`mount_sandbox_ui` adds to the sandbox's aiohttp app:

- `GET /` and `GET /static/{name}`: the page (bot/sandbox/static), no build step, no CDN.
- `GET /sandbox/ws`: the live feed. On connect it sends a snapshot for the default user;
  the page then says who it acts as (`{"type": "as", "user": ...}`) and gets a snapshot
  for that user. After that, every FakeSlack event is forwarded, with messages and modals
  rendered to HTML *for that viewer* (bot/sandbox/render/): ephemeral messages reach only
  the user they belong to, modals only the user who opened them, private channels only
  members.
- `POST /sandbox/compose | click | submit | close`: what the user does, played against
  the fake as that user (which sends real signed requests to the bot). A click names a
  message (channel, ts) or an open modal (view_id, plus its inputs' values). Typed
  `@name` and `#channel` are sent as mentions, as Slack's autocomplete would. Failures
  come back as `{"ok": false, "error": "one sentence"}`; never a stack trace.

Server → page messages: snapshot, channels, message (new or changed, same shape),
message_deleted, view (opened or updated), view_closed, panel, notice.

`local_only(port)` is the middleware build_sandbox puts in front of the whole app (the
bot's routes and the fakes' too): only this machine's browser, on this page, gets in.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import mimetypes
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web
from aiohttp.typedefs import Handler, Middleware

from bot.fakes.slack import FakeSlack
from bot.sandbox.render import RenderContext, render_message, render_mrkdwn, render_view

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
DEFAULT_USER = "U0ALICE"
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


# ----------------------------------------------------------------------------- the feed


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
            users={uid: _attr(u, "name", uid) for uid, u in fake.users.items()},
            # as Slack: a private channel's name only to its members
            channels={
                cid: _attr(c, "name", cid) if self.can_see_channel(viewer, c) else "private-channel"
                for cid, c in fake.channels.items()
            },
            usergroups={gid: str(_attr(g, "handle", gid)) for gid, g in groups.items()},
            viewer=viewer,
            bot_user_id=fake.bot_user_id,
            bot_name=_attr(bot, "real_name", "") or _attr(bot, "name", "") or "Incident Bot",
        )

    def can_see_channel(self, user: str, channel: Any) -> bool:
        private = _attr(channel, "is_private", False) or _attr(channel, "is_im", False)
        return not private or user in (_attr(channel, "members", None) or ())

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
                out.append({"ts": _attr(m, "ts", ""), "html": html})
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
        }

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
            channel = str(_attr(m, "channel", "") or event.get("channel", ""))
            if channel not in viewer.visible:
                return []
            html = self.message_html(m, user, self.context(user))
            if html is None:
                return []
            return [{"type": "message", "channel": channel, "ts": _attr(m, "ts", ""), "html": html}]
        if kind == "message_deleted":
            return [
                {
                    "type": "message_deleted",
                    "channel": event.get("channel"),
                    "ts": event.get("ts") or _attr(event.get("message"), "ts", None),
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
        if kind == "view_closed":
            return [{"type": "view_closed", "view_id": event.get("view_id")}]
        if kind in ("panel", "notice"):
            return [event]
        return []

    def _current_message(self, event: JSON) -> Any:
        """The message as it stands now (a pin or reaction event may carry only its ts)."""
        m = event.get("message")
        channel = event.get("channel") or _attr(m, "channel", None)
        ts = event.get("ts") or _attr(m, "ts", None) or event.get("message_ts")
        for candidate in self.fake.messages.get(str(channel), []):
            if _attr(candidate, "ts", None) == ts:
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
    return str(event.get("view_id") or _attr(event.get("view"), "id", ""))


def _attr(obj: Any, name: str, default: Any) -> Any:
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
        value = _attr(m, key, None)
        if value is not None and data.get(key) in (None, "", [], False):
            data[key] = value
    return data


def _user_json(u: Any, bot_user_id: str) -> JSON:
    uid = str(_attr(u, "id", ""))
    return {
        "id": uid,
        "name": _attr(u, "name", uid),
        "real_name": _attr(u, "real_name", ""),
        "is_bot": uid == bot_user_id or bool(_attr(u, "is_bot", False)),
    }


# ----------------------------------------------------------------------------- who gets in

PAGE_ROUTES = "/sandbox/"  # the page's own actions: JSON only
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def local_only(port: int) -> Middleware:
    """Refuse what another web site could make a browser send to the sandbox's port.

    - Host must be 127.0.0.1 or localhost with this port: a DNS-rebinding page (its own
      name resolving to 127.0.0.1) names itself and gets 421.
    - An Origin, when sent, must be this page's: browsers send one with every POST and
      WebSocket handshake, so cross-site requests and sockets get 403. Without one the
      caller is no browser (the fakes, the bot, tests) and no other site is behind it.
    - A POST to the page's routes must be application/json (415 otherwise), a type a
      cross-site form cannot send and a cross-site fetch cannot send without a preflight.
    """
    hosts = {f"127.0.0.1:{port}", f"localhost:{port}"}
    if port == 80:
        hosts |= {"127.0.0.1", "localhost"}
    origins = {f"http://{host}" for host in hosts}

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        host = request.headers.get("Host", "").lower()
        if host not in hosts:
            log.warning("sandbox: refused a request for host %r", host)
            return _fail(f"This sandbox answers only at http://localhost:{port}/.", status=421)
        origin = request.headers.get("Origin")
        if origin is not None and origin.lower() not in origins:
            log.warning("sandbox: refused a request from origin %r", origin)
            return _fail("Requests from other sites are refused.", status=403)
        if (
            request.method not in SAFE_METHODS
            and request.path.startswith(PAGE_ROUTES)
            and request.content_type != "application/json"
        ):
            return _fail("Send JSON (Content-Type: application/json).", status=415)
        return await handler(request)

    return guard


# ----------------------------------------------------------------------------- routes

SANDBOX_FEED: web.AppKey[SandboxFeed] = web.AppKey("sandbox_feed", SandboxFeed)


def sandbox_feed(app: web.Application) -> SandboxFeed:
    """The feed mount_sandbox_ui installed; later code publishes panel events on it."""
    return app[SANDBOX_FEED]


def mount_sandbox_ui(
    app: web.Application,
    fake: FakeSlack,
    *,
    extra_panels: Mapping[str, PanelSource] | None = None,
) -> None:
    """Serve the sandbox page on `app`, driven by `fake` (see the module docstring).

    `extra_panels` maps a side-panel name to a function giving its HTML when a page
    connects; later changes are pushed with `sandbox_feed(app).publish({"type": "panel",
    "panel": name, "html": html})`. Panel forms with `data-post="/url"` are posted as JSON.
    """
    feed = SandboxFeed(fake, extra_panels)
    app[SANDBOX_FEED] = feed
    routes = _Routes(feed)

    async def on_startup(_: web.Application) -> None:
        feed.start()

    async def on_shutdown(_: web.Application) -> None:
        await feed.stop()

    app.on_startup.append(on_startup)
    app.on_shutdown.append(on_shutdown)
    app.router.add_get("/", routes.index)
    app.router.add_get("/static/{name}", routes.static)
    app.router.add_get("/sandbox/ws", routes.websocket)
    app.router.add_post("/sandbox/compose", routes.compose)
    app.router.add_post("/sandbox/click", routes.click)
    app.router.add_post("/sandbox/submit", routes.submit)
    app.router.add_post("/sandbox/close", routes.close)
    app.router.add_post("/sandbox/react", routes.react)


_REQUIRED_RE = re.compile(r"required input (\S+?)/\S+ left empty")


class BadRequest(Exception):
    """The page sent something unusable; the message is shown to the user."""


def _ok(**extra: Any) -> web.Response:
    return web.json_response({"ok": True, **extra})


def _fail(error: str, status: int = 200, **extra: Any) -> web.Response:
    # 200 on bot-side failures: the page shows `error`; only malformed requests get a 4xx.
    return web.json_response({"ok": False, "error": error, **extra}, status=status)


def _ack_error(result: Any) -> str | None:
    """A one-sentence reason when the bot's answer (AckResult) was not a success."""
    status = _attr(result, "status", None)
    if status is None or 200 <= int(status) < 400:
        errors = _attr(result, "errors", None)
        return "; ".join(f"{k}: {v}" for k, v in errors.items()) if errors else None
    if status == 0:
        return "The bot did not answer within 3 seconds, so Slack would show a timeout."
    if status == 401 or status == 403:
        return f"The bot rejected the request's signature (HTTP {status})."
    return f"The bot answered HTTP {status}; see the bot's log for why."


class _Routes:
    def __init__(self, feed: SandboxFeed) -> None:
        self.feed = feed
        self.fake = feed.fake

    async def index(self, request: web.Request) -> web.StreamResponse:
        return self._file("index.html")

    async def static(self, request: web.Request) -> web.StreamResponse:
        return self._file(request.match_info["name"])

    def _file(self, name: str) -> web.StreamResponse:
        # Only files that really sit in static/ are served: no path tricks.
        allowed = {p.name: p for p in STATIC_DIR.iterdir() if p.is_file()}
        path = allowed.get(name)
        if path is None:
            raise web.HTTPNotFound(text=f"no such file: {name}")
        ctype = mimetypes.guess_type(name)[0] or "application/octet-stream"
        if name.endswith(".js"):
            ctype = "text/javascript"
        return web.Response(
            body=path.read_bytes(),
            content_type=ctype,
            charset="utf-8" if ctype.startswith("text/") else None,
            headers={
                "Cache-Control": "no-cache",
                # No inline scripts anywhere: message HTML can never run code.
                "Content-Security-Policy": (
                    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                    "img-src 'self' data:; connect-src 'self'"
                ),
            },
        )

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(heartbeat=30)
        await ws.prepare(request)
        user = DEFAULT_USER if DEFAULT_USER in self.fake.users else _first_human(self.fake)
        await self.feed.serve(Viewer(ws=ws, user=user))
        return ws

    # -- actions

    async def compose(self, request: web.Request) -> web.Response:
        return await self._guarded(request, self._compose)

    async def click(self, request: web.Request) -> web.Response:
        return await self._guarded(request, self._click)

    async def submit(self, request: web.Request) -> web.Response:
        return await self._guarded(request, self._submit)

    async def close(self, request: web.Request) -> web.Response:
        return await self._guarded(request, self._close)

    async def react(self, request: web.Request) -> web.Response:
        return await self._guarded(request, self._react)

    async def _guarded(
        self, request: web.Request, action: Callable[[JSON], Awaitable[web.Response]]
    ) -> web.Response:
        try:
            body = await request.json()
            if not isinstance(body, dict):
                raise BadRequest("Expected a JSON object.")
            return await action(body)
        except (BadRequest, ValueError) as exc:
            return _fail(str(exc) or "Malformed request.", status=400)
        except Exception as exc:
            log.exception("sandbox action %s failed", request.path)
            return _fail(f"That did not work: {type(exc).__name__}: {exc}".strip())

    def _user(self, body: JSON) -> str:
        user = str(body.get("user") or "")
        if user not in self.fake.users:
            raise BadRequest(f"Unknown user {user!r}.")
        return user

    def _channel(self, body: JSON) -> str:
        channel = str(body.get("channel") or "")
        if channel not in self.fake.channels:
            raise BadRequest(f"Unknown channel {channel!r}.")
        return channel

    async def _compose(self, body: JSON) -> web.Response:
        user, channel = self._user(body), self._channel(body)
        text = str(body.get("text") or "").strip()
        if not text:
            raise BadRequest("Type a message or a /command first.")
        if text.startswith("/"):
            command, _, rest = text.partition(" ")
            rest = self.fake.typed(rest.strip(), with_names=True)
            result = await self.fake.slash_command(user, channel, command, rest)
            error = _ack_error(result)
            return _fail(error) if error else _ok()
        await self.fake.post_message(user, channel, self.fake.typed(text))
        return _ok()

    async def _click(self, body: JSON) -> web.Response:
        user, action_id = self._user(body), str(body.get("action_id") or "")
        value, block_id = body.get("value"), body.get("block_id")
        value = None if value is None else str(value)
        block_id = None if block_id is None else str(block_id)
        if body.get("view_id"):
            # A button inside a modal: block_actions from the view, with its inputs' state.
            view_id, values = str(body["view_id"]), body.get("values") or {}
            if self.fake.view_owner(view_id) != user:
                raise BadRequest("That form is no longer open.")
            if not action_id or not isinstance(values, dict):
                raise BadRequest("A click in a form needs the action_id (and values as an object).")
            result = await self.fake.click_view(
                user, view_id, action_id, value=value, block_id=block_id, values=values
            )
        else:
            channel, ts = self._channel(body), str(body.get("ts") or "")
            if not ts or not action_id:
                raise BadRequest("A click needs the message ts and the action_id.")
            result = await self.fake.click(
                user, channel, ts, action_id, value=value, block_id=block_id
            )
        error = _ack_error(result)
        return _fail(error) if error else _ok()

    async def _submit(self, body: JSON) -> web.Response:
        user = self._user(body)
        view_id = str(body.get("view_id") or "")
        values = body.get("values") or {}
        if view_id not in self.fake.views:
            raise BadRequest("That form is no longer open.")
        if not isinstance(values, dict):
            raise BadRequest("values must be an object of {block_id: {action_id: value}}.")
        try:
            result = await self.fake.submit_view(user, view_id, values)
        except ValueError as exc:
            # The Slack client itself refuses an empty required input; say so under it.
            empty = _REQUIRED_RE.search(str(exc))
            if empty:
                return web.json_response(
                    {"ok": False, "errors": {empty.group(1): "Please fill out this field."}}
                )
            raise
        errors = _attr(result, "errors", None)
        if errors:
            # response_action: errors — the modal stays open and shows them.
            return web.json_response({"ok": False, "errors": dict(errors)})
        error = _ack_error(result)
        return _fail(error) if error else _ok()

    async def _react(self, body: JSON) -> web.Response:
        """A reaction on a message (the page offers 📌: it puts the message on the incident's
        timeline); the bot gets the reaction_added event."""
        user, channel = self._user(body), self._channel(body)
        ts, name = str(body.get("ts") or ""), str(body.get("name") or "pushpin")
        if not ts or not re.fullmatch(r"[a-z0-9_+-]{1,50}", name):
            raise BadRequest("A reaction needs the message ts and an emoji name.")
        await self.fake.add_reaction(user, channel, ts, name)
        return _ok()

    async def _close(self, body: JSON) -> web.Response:
        view_id = str(body.get("view_id") or "")
        if view_id in self.fake.views:
            # The fake closes it (emitting view_closed) and tells the bot if it asked.
            result = await self.fake.close_view(self._user(body), view_id)
            error = _ack_error(result) if result is not None else None
            if error:
                return _fail(error)
        else:
            # Already gone (closed elsewhere): make sure every page stops showing it.
            self.feed.publish({"type": "view_closed", "view_id": view_id})
        return _ok()


def _first_human(fake: FakeSlack) -> str:
    for uid in fake.users:
        if uid != fake.bot_user_id:
            return str(uid)
    return DEFAULT_USER
