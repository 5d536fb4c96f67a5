"""Slack's Socket Mode over a real WebSocket, for FakeSlack (see `FakeSlack.transport`).

`apps.connections.open`, called with the app-level token, hands out a single-use
`ws://…/link/?ticket=…&app_id=…` URL. The app connects and gets `hello`; from then on
what a FakeSlack human does travels as an envelope instead of a signed HTTP POST:

    {"envelope_id": "…", "type": "slash_commands" | "interactive" | "events_api",
     "payload": {…}, "accepts_response_payload": true | false,
     "retry_attempt": 0, "retry_reason": ""}            # the last two: events_api only

and the app acks with `{"envelope_id": "…", "payload": {…}}`; the payload is kept only
where the envelope accepts one (a slash command's message, a view_submission's
response_action). As on Slack, an event that is not acked within the ack timeout, or
whose connection closes first, is sent again with `retry_attempt` + 1, up to three
times; commands and interactions are never resent (the human sees a time-out).
`disconnect()` sends Slack's `disconnect` message (`refresh_requested`, `warning`), waits
for the app to connect anew and closes the old connection; `drop()` cuts the connection
without a word. What an app sends that Slack would not accept lands in `problems`.

Shapes: docs.slack.dev/apis/events-api/using-socket-mode, and slack_sdk's own Socket
Mode tests (tests/slack_sdk/socket_mode/mock_socket_mode_server.py).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

HOST = "applink-fake"
EVENT_RETRIES = 3  # Slack resends an unacknowledged event three times
RETRY_REASON = "timeout"
# interaction payloads whose ack may carry a response (the others' payload is ignored)
ANSWERABLE = frozenset({"block_actions", "view_submission", "block_suggestion"})


@dataclass
class Connection:
    ws: web.WebSocketResponse
    number: int
    received: list[Any] = field(default_factory=list)  # every frame the app sent, parsed
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    leaving: bool = False  # told to disconnect: nothing new is sent on it


@dataclass
class Ack:
    payload: dict[str, Any] | None


@dataclass
class _Pending:
    future: asyncio.Future[Ack | None]  # None: the connection closed before an ack
    accepts: bool
    connection: Connection


class SocketModeServer:
    """The WebSocket side of one fake Slack app."""

    def __init__(self, app_id: str) -> None:
        self.app_id = app_id
        self.connections: list[Connection] = []
        self.envelopes: list[dict[str, Any]] = []  # everything delivered, retries included
        self.problems: list[str] = []
        self.lose_acks = 0  # the next n acks vanish on the way, so Slack resends (events)
        self._tickets: set[str] = set()
        self._pending: dict[str, _Pending] = {}
        self._expired: set[str] = set()
        self._changed = asyncio.Condition()

    # ------------------------------------------------------------------ connecting

    def open_url(self, base_url: str) -> str:
        """A fresh single-use WebSocket URL (what apps.connections.open answers)."""
        ticket = secrets.token_hex(8)
        self._tickets.add(ticket)
        ws_base = "ws" + base_url.removeprefix("http")
        return f"{ws_base}link/?ticket={ticket}&app_id={self.app_id}"

    def live(self) -> list[Connection]:
        return [c for c in self.connections if not c.closed.is_set() and not c.leaving]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if ticket not in self._tickets:
            # a URL is good for one connection; reconnecting means apps.connections.open
            self.problems.append(f"connection with an unknown or used ticket {ticket!r}")
            return web.Response(status=401, text="invalid ticket")
        self._tickets.discard(ticket)
        ws = web.WebSocketResponse(autoping=True)  # answers the SDK's pings
        await ws.prepare(request)
        conn = Connection(ws, number=len(self.connections) + 1)
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": len(self.live()) + 1,
                "debug_info": {
                    "host": HOST,
                    "build_number": 1,
                    "approximate_connection_time": 3600,
                },
                "connection_info": {"app_id": self.app_id},
            }
        )
        await self._change(lambda: self.connections.append(conn))
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    self._on_frame(conn, message.data)
                else:
                    self.problems.append(f"unexpected {message.type.name} frame")
        finally:
            await self._closed(conn)
        return ws

    async def _closed(self, conn: Connection) -> None:
        def close() -> None:
            conn.closed.set()
            for envelope_id, pending in list(self._pending.items()):
                if pending.connection is conn and not pending.future.done():
                    pending.future.set_result(None)
                    del self._pending[envelope_id]

        await self._change(close)

    async def _change(self, change: Callable[[], None]) -> None:
        async with self._changed:
            change()
            self._changed.notify_all()

    async def _until(self, check: Callable[[], bool], what: str, timeout: float) -> None:  # noqa: ASYNC109
        # the timeout only turns a broken client into a failure instead of a hung test
        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(check)
        except TimeoutError:
            raise AssertionError(f"Socket Mode: {what} within {timeout} s") from None

    async def wait_connected(self, count: int = 1, *, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Until `count` connections have been opened in all (1: the app is connected)."""
        await self._until(
            lambda: len(self.connections) >= count and bool(self.live()),
            f"no connection number {count}",
            timeout,
        )

    async def disconnect(self, reason: str = "refresh_requested", *, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Ask the app to reconnect, as Slack does every few hours; returns once it has."""
        old = self.live()
        opened = len(self.connections)
        for conn in old:
            conn.leaving = True
            await conn.ws.send_json(
                {"type": "disconnect", "reason": reason, "debug_info": {"host": HOST}}
            )
        await self.wait_connected(opened + 1, timeout=timeout)
        for conn in old:
            await conn.ws.close()
            await conn.closed.wait()

    async def drop(self, *, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Cut every connection (a network failure); returns once the app is back."""
        opened = len(self.connections)
        for conn in self.live():
            await conn.ws.close()
        await self.wait_connected(opened + 1, timeout=timeout)

    async def close(self) -> None:
        for conn in self.connections:
            if not conn.closed.is_set():
                await conn.ws.close()

    # ------------------------------------------------------------------ delivering

    async def deliver(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        timeout: float,  # noqa: ASYNC109
        retry_attempt: int | None = None,
    ) -> Ack | None:
        """Send one envelope and wait for its ack (None: none came in `timeout` seconds).
        An event is resent until acked or its retries are used up."""
        accepts = kind == "slash_commands" or (
            kind == "interactive" and payload.get("type") in ANSWERABLE
        )
        attempt = retry_attempt or 0
        last = attempt + EVENT_RETRIES if kind == "events_api" else attempt
        while True:
            ack = await self._send(kind, payload, accepts, attempt, timeout)
            if ack is not None or attempt >= last:
                return ack
            attempt += 1

    async def _send(
        self,
        kind: str,
        payload: dict[str, Any],
        accepts: bool,
        attempt: int,
        timeout: float,  # noqa: ASYNC109
    ) -> Ack | None:
        await self._until(lambda: bool(self.live()), "the app is not connected", timeout)
        conn = self.live()[-1]
        envelope: dict[str, Any] = {
            "envelope_id": str(uuid.uuid4()),
            "payload": payload,
            "type": kind,
            "accepts_response_payload": accepts,
        }
        if kind == "events_api":
            envelope["retry_attempt"] = attempt
            envelope["retry_reason"] = RETRY_REASON if attempt else ""
        future: asyncio.Future[Ack | None] = asyncio.get_running_loop().create_future()
        self._pending[envelope["envelope_id"]] = _Pending(future, accepts, conn)
        self.envelopes.append(envelope)
        await conn.ws.send_json(envelope)
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            self._pending.pop(envelope["envelope_id"], None)
            self._expired.add(envelope["envelope_id"])
            return None

    def _on_frame(self, conn: Connection, data: str) -> None:
        try:
            frame = json.loads(data)
        except ValueError:
            self.problems.append(f"not JSON: {data[:80]!r}")
            return
        conn.received.append(frame)
        envelope_id = frame.get("envelope_id") if isinstance(frame, dict) else None
        if not isinstance(envelope_id, str):
            self.problems.append(f"an ack without an envelope_id: {data[:80]!r}")
            return
        if self.lose_acks > 0:
            self.lose_acks -= 1
            return
        pending = self._pending.pop(envelope_id, None)
        if pending is None:
            if envelope_id not in self._expired:  # a late ack is simply too late
                self.problems.append(f"an ack for no envelope sent: {envelope_id}")
            return
        payload = frame.get("payload")
        if payload is not None and not isinstance(payload, dict):
            self.problems.append(f"an ack payload that is no object: {data[:80]!r}")
            payload = None
        pending.future.set_result(Ack(payload if pending.accepts else None))
