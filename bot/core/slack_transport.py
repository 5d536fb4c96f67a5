"""How Slack's requests reach Bolt: signed HTTP on `/slack/events`, or Socket Mode.

HTTP: one check, here, on the raw bytes before anything is parsed: the timestamp is
fresh (Slack's five minutes) and the `v0` HMAC under the signing secret matches. Only
then is the body parsed (400 for what does not parse); a command's or an interaction's
signature is claimed once in Redis, so a captured request replayed while it is still
fresh is dropped on every replica; and it goes to Bolt, whose own verification is off
(events are deduplicated by their `event_id` where they act). Without a signing secret
the route answers 404 to everything: Socket Mode's traffic is authenticated by the
app-level token that opened the WebSocket, and no unsigned door may stand beside it.

Either way Slack's answer goes back the moment the listener acks (`answer`): Bolt's own
runner looks for the ack every 10 ms, so under load each request's answer waited for
those polls' loop turns behind everything else the process was doing.
"""

from __future__ import annotations

import asyncio
import binascii
import functools
import hashlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiohttp import web
from pydantic_core import from_json
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.adapter.socket_mode.async_internals import send_async_response
from slack_bolt.adapter.socket_mode.internals import build_headers
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.middleware.authorization.async_single_team_authorization import (
    AsyncSingleTeamAuthorization,
)
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest

from bot.core.activity import Activity
from bot.core.errors import STORE_ERRORS
from bot.core.slack import Slack
from bot.core.store import Once, Store

log = logging.getLogger(__name__)

FRESHNESS = 300  # seconds a request's timestamp may be off from our clock (Slack's rule)
# A signature stays acceptable while its timestamp is within FRESHNESS either side of now,
# so its once-marker must outlive that whole span.
REPLAY_WINDOW = 2 * FRESHNESS
# What parsing a signed but malformed body raises (bad UTF-8 or JSON, nesting too deep,
# JSON of the wrong shape for Bolt's field lookups).
PARSE_ERRORS = (ValueError, RecursionError, LookupError, TypeError, AttributeError)

Route = Callable[[web.Request], Awaitable[web.StreamResponse]]


def timestamp_problem(timestamp: str, signature: str, now: float) -> str | None:
    """Why the signature headers cannot be right whatever the body is, or None."""
    if not timestamp or not signature:
        return "missing signature"
    # bounded and ASCII before int(): a 5000-digit or non-ASCII "number" is no timestamp
    if len(timestamp) > 12 or not (timestamp.isascii() and timestamp.isdigit()):
        return "bad timestamp"
    if abs(now - int(timestamp)) > FRESHNESS:
        return "stale timestamp"
    return None


def signature_matches(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    """Slack's `v0` scheme over the raw bytes. (slack_sdk's SignatureVerifier decodes the
    body as UTF-8 first, so it cannot tell a signed non-UTF-8 body from a forged one.)"""
    base = b"v0:" + timestamp.encode() + b":" + body
    expected = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    # aiohttp hands non-ASCII header bytes over as surrogates; compare bytes to bytes
    return hmac.compare_digest(expected.encode(), signature.encode("utf-8", "surrogateescape"))


def slack_events_route(
    bolt: AsyncApp, *, signing_secret: str | None, store: Store, activity: Activity
) -> Route:
    """The `/slack/events` handler: verify, refuse replays, parse, dispatch to Bolt."""

    async def slack_events(request: web.Request) -> web.StreamResponse:
        if not signing_secret:
            return web.json_response({"ok": False, "error": "not found"}, status=404)
        timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
        signature = request.headers.get("X-Slack-Signature", "")
        problem = timestamp_problem(timestamp, signature, time.time())
        body = b""
        if problem is None:
            body = await request.read()
            if not signature_matches(signing_secret, timestamp, body, signature):
                problem = "bad signature"
        if problem is not None:
            log.warning("Slack request refused: %s", problem, extra={"remote": request.remote})
            return web.json_response({"ok": False, "error": "invalid request"}, status=401)
        headers: dict[str, str | Sequence[str]] = dict(request.headers)
        try:
            payload = interaction_json(body)
            if payload is None:
                bolt_request = AsyncBoltRequest(
                    body=body.decode("utf-8"), query=request.query_string, headers=headers
                )
            else:  # handed over read, as Socket Mode's envelopes are (see interaction)
                bolt_request = AsyncBoltRequest(
                    body=interaction(payload),
                    query=request.query_string,
                    headers=headers,
                    mode="socket_mode",
                )
        except PARSE_ERRORS as exc:
            log.warning("malformed Slack request: %s", type(exc).__name__)
            return web.json_response({"ok": False, "error": "malformed request"}, status=400)
        replayable = bolt_request.body.get("type") != "event_callback"
        if replayable and not await first_sight(store, signature):
            log.warning("Slack request refused: replayed", extra={"remote": request.remote})
            return web.json_response({"ok": False, "error": "replayed request"}, status=401)
        return await to_aiohttp_response(await answer(bolt, bolt_request, activity))

    return slack_events


class _Ack(AsyncAck):
    """Bolt's `ack`, which also hands its response to the waiting `answer`. What the
    listener does after it is background work: it goes on at its `turn()`, after the
    requests waiting for their answer (of a burst of declares, the incidents' writes)."""

    def __init__(self, answered: asyncio.Future[BoltResponse], activity: Activity) -> None:
        super().__init__()
        self._answered = answered
        self._activity = activity

    async def __call__(self, *args: Any, **kwargs: Any) -> BoltResponse:
        response = await super().__call__(*args, **kwargs)
        if not self._answered.done():
            self._answered.set_result(response)
            await self._activity.turn()
        return response


async def answer(bolt: AsyncApp, request: AsyncBoltRequest, activity: Activity) -> BoltResponse:
    """Bolt's response to `request`, as soon as its listener calls `ack()` (Bolt's own
    dispatch returns it only at the next of its 10 ms looks) or, without an ack (an error,
    no listener), when the dispatch ends. The dispatch runs on by itself, as tracked work.
    Meanwhile the request counts as waiting for its answer (`Activity.answering`): called
    only once a request is authenticated, so one trickling in unsigned holds nothing."""
    answered: asyncio.Future[BoltResponse] = asyncio.get_running_loop().create_future()
    # the ack Bolt's context would make, and the listener is handed
    request.context["ack"] = _Ack(answered, activity)
    with activity.answering():
        task = activity.spawn(bolt.async_dispatch(request))
        task.add_done_callback(functools.partial(_dispatched, answered))
        return await answered


def _dispatched(
    answered: asyncio.Future[BoltResponse], task: asyncio.Task[BoltResponse | None]
) -> None:
    if answered.done():
        if not task.cancelled() and task.exception() is not None:
            log.error("Slack request failed after its answer", exc_info=task.exception())
    elif task.cancelled():
        answered.cancel()
    elif (exc := task.exception()) is not None:
        answered.set_exception(exc)
    else:  # Bolt answers None when a listener never acked
        answered.set_result(task.result() or BoltResponse(status=500, body=""))


class _SocketModeHandler(AsyncSocketModeHandler):
    """Bolt's Socket Mode handler, acking each envelope through `answer`."""

    def __init__(self, bolt: AsyncApp, app_token: str, activity: Activity) -> None:
        super().__init__(bolt, app_token)
        self.activity = activity

    async def handle(self, client: SocketModeClient, req: SocketModeRequest) -> None:  # type: ignore[override]
        start = time.time()
        request = AsyncBoltRequest(mode="socket_mode", body=req.payload, headers=build_headers(req))
        response = await answer(self.app, request, self.activity)
        await send_async_response(client, req, response, start)


def interaction_json(body: bytes) -> str | None:
    """An interaction's form body (`payload=<JSON>&...`: a click, a menu choice, a form)
    decoded to its JSON, as Bolt's own parsing would decode it; None for any other body
    (Bolt parses those itself). urllib's unquote is a Python loop per `%XX`, and a click
    on a 60-step checklist carries its whole message, most of it escapes: ~3 ms each,
    most of the bot's CPU in a burst of clicks. Here the escapes are decoded in C, as
    quoted-printable's `=XX` (binascii.a2b_qp), the same split on `&` and `=`, `+` as a
    space, bad UTF-8 replaced; a body this cannot read exactly (no plain `payload` name,
    a name escaped, a `%` without two hex digits after it, a raw `=` or line break in the
    value, which quoted-printable reads otherwise, non-ASCII bytes) is left to Bolt."""
    if not body.isascii() or body.startswith(b"{"):
        return None
    value = None
    for piece in body.split(b"&"):
        name, _, raw = piece.partition(b"=")
        if b"%" in name or b"+" in name:
            return None
        if name == b"payload":
            value = raw
    # none, or empty (Bolt refuses that one: not JSON)
    if not value or b"=" in value or b"\n" in value or b"\r" in value:
        return None
    decoded = binascii.a2b_qp(value.replace(b"+", b" ").replace(b"%", b"="))
    # each `%XX` is one byte; any other `%` (which urllib keeps as it is) is read otherwise
    if len(decoded) != len(value) - 2 * value.count(b"%"):
        return None
    return decoded.decode("utf-8", "replace")


def interaction(text: str) -> dict[str, Any]:
    """An interaction's JSON read, by pydantic-core's parser: twice as fast as the json
    module on a click's payload (it carries its whole message), to the same values (a
    string's lone surrogate, or nesting past 200 levels, is refused: no Slack payload has
    them). Bolt is handed the object as Socket Mode hands it one: in that mode it neither
    parses nor verifies the body (we did both), and copies the object, not the text, for a
    lazy listener. Anything but an object is malformed (TypeError), as Bolt would fail on it."""
    value = from_json(text)
    if not isinstance(value, dict):
        raise TypeError(f"an interaction payload is a JSON object, not {type(value).__name__}")
    return value


async def first_sight(store: Store, signature: str) -> bool:
    """True the first time a (verified) signature is seen within REPLAY_WINDOW, on any
    replica. Slack never resends a slash command or an interaction, so a signature seen
    twice there is a copy. (Events are not asked: Slack's retries of one may come within
    the same second, signature and all, and every event listener acts once per event
    anyway.) With Redis unreachable the request goes on: every effect it could have (an
    incident, a page) needs Redis too, and its handler answers "store unreachable"."""
    try:
        return await store.claim_once(Once.SLACK_REQUEST, signature, ttl=REPLAY_WINDOW)
    except STORE_ERRORS as exc:
        log.warning("replay check skipped: store unreachable", extra={"error": str(exc)})
        return True


async def connect_socket_mode(
    bolt: AsyncApp, app_token: str, activity: Activity
) -> AsyncSocketModeHandler:
    """Open Slack's WebSocket: `apps.connections.open` with the app-level token through the
    bot's Web API client (so SLACK_API_URL), then Bolt acks each envelope and reconnects
    whenever Slack asks it to."""
    handler = _SocketModeHandler(bolt, app_token, activity)
    await handler.connect_async()
    return handler


async def tell_bolt_who_we_are(bolt: AsyncApp, slack: Slack, *, cap: float = 30.0) -> None:
    """Ask Slack who the bot is once, at start-up, and hand the answer to Bolt. Bolt would
    otherwise call `auth.test` on its first request, before that request's ack: a slow or
    rate-limited Slack would push the ack past its 3 s. Runs in the background (in the
    sandbox, Slack is served by this very app) and tries again until Slack answers."""
    delay = 0.2
    while True:
        try:
            answer = await bolt.client.auth_test()
            break
        except Exception as exc:  # not up yet, rate limited, a network error
            log.info("auth.test at start-up failed, trying again", extra={"error": repr(exc)})
            await asyncio.sleep(delay)
            delay = min(cap, delay * 2)
    for middleware in bolt._async_middleware_list:  # Bolt's own cache of that answer
        if isinstance(middleware, AsyncSingleTeamAuthorization):
            middleware.auth_test_result = answer
    slack.know_bot_user(str(answer.get("user_id") or ""))
