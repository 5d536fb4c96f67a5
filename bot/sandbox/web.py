"""The sandbox page's server side: static files, the live feed and the user's actions.

`mount_sandbox_ui` adds to the sandbox's aiohttp app:

- `GET /` and `GET /static/{name}`: the page (bot/sandbox/static), no build step, no CDN.
- `GET /sandbox/ws`: the live feed. On connect it sends a snapshot for the default user;
  the page then says who it acts as (`{"type": "as", "user": ...}`) and gets a snapshot
  for that user. After that, every FakeSlack event is forwarded, rendered *for that
  viewer* (bot/sandbox/feed.py).
- `GET /sandbox/shortcuts`: the manifest's shortcuts, for the page's menus; `POST
  /sandbox/shortcut` plays one (a message's: channel and ts; the global one).
- `POST /sandbox/compose | click | submit | close | home`: what the user does, played
  against the fake as that user (which sends real signed requests to the bot). A click
  names a message (channel, ts) or an open modal or the Home tab (view_id, plus its
  inputs' values); `home` opens the app's Home tab (app_home_opened). Typed
  `@name` and `#channel` are sent as mentions, as Slack's autocomplete would. Failures
  come back as `{"ok": false, "error": "one sentence"}`; never a stack trace.

`local_only(port)` is the middleware build_sandbox puts in front of the whole app (the
bot's routes and the fakes' too): only this machine's browser, on this page, gets in.
"""

from __future__ import annotations

import logging
import mimetypes
import re
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from bot.doctor.manifest import manifest_shortcuts
from bot.fakes.slack import FakeSlack
from bot.sandbox.feed import JSON, PanelSource, SandboxFeed, Viewer, attr

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
DEFAULT_USER = "U0ALICE"


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
    app.router.add_get("/sandbox/shortcuts", routes.shortcuts)
    for name, action in routes.actions().items():
        app.router.add_post(f"/sandbox/{name}", routes.guarded(action))


# what the user does: the page's JSON object in, the answer it shows out
Action = Callable[[JSON], Awaitable[web.Response]]

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
    status = attr(result, "status", None)
    if status is None or 200 <= int(status) < 400:
        errors = attr(result, "errors", None)
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

    def actions(self) -> dict[str, Action]:
        """What the user does, each at `POST /sandbox/<name>` with a JSON object."""
        return {
            "compose": self._compose,
            "click": self._click,
            "submit": self._submit,
            "close": self._close,
            "react": self._react,
            "shortcut": self._shortcut,
            "home": self._home,
        }

    @staticmethod
    def guarded(action: Action) -> Handler:
        """`action` on the request's JSON object; what the page sent wrong is a 400 with
        the reason, what failed past it an error the page shows."""

        async def handle(request: web.Request) -> web.Response:
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

        return handle

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
            # a tick on checkboxes: the group's whole selection, as the page holds it
            selected = body.get("selected")
            if selected is not None and not isinstance(selected, list):
                raise BadRequest("selected must be a list of option values.")
            result = await self.fake.click(
                user,
                channel,
                ts,
                action_id,
                value=value,
                block_id=block_id,
                selected=None if selected is None else [str(v) for v in selected],
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
        errors = attr(result, "errors", None)
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

    async def shortcuts(self, request: web.Request) -> web.Response:
        """The manifest's shortcuts, for the page's menus (a message's, and ⚡ Shortcuts)."""
        return _ok(shortcuts=manifest_shortcuts())

    async def _shortcut(self, body: JSON) -> web.Response:
        """A shortcut picked from a menu: a message's (channel and ts) or the global one,
        sent to the bot as Slack sends it (bot/fakes/slack/shortcuts.py)."""
        user, callback = self._user(body), str(body.get("callback_id") or "")
        kind = {s["callback_id"]: s["type"] for s in manifest_shortcuts()}.get(callback)
        if kind is None:
            raise BadRequest(f"The app's manifest has no shortcut {callback!r}.")
        if kind == "global":
            result = await self.fake.global_shortcut(user, callback)
        else:
            channel, ts = self._channel(body), str(body.get("ts") or "")
            if not ts:
                raise BadRequest("A message shortcut needs the message's ts.")
            result = await self.fake.message_shortcut(user, channel, ts, callback)
        error = _ack_error(result)
        return _fail(error) if error else _ok()

    async def _home(self, body: JSON) -> web.Response:
        """The user opens the app's Home tab: the bot hears app_home_opened."""
        status = await self.fake.open_home(self._user(body))
        return _ok() if status == 200 else _fail(_ack_error({"status": status}) or "")

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
