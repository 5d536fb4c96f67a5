"""The fake Slack as a process of its own, for the bench (`python -m bench.slack_process`).

It serves bot/fakes/slack over real HTTP on a free port, with the bench's people and
places added (`--users` declarers, the `leadership` channel, the `eng-managers` group),
and three things for the load generator under `/bench/`:

- `GET /bench/info`: the tokens, the signing secret and the ids the bench needs;
- `POST /bench/prepare`: what the fake's humans (bot/fakes/slack/humans.py) would send for
  a slash command or a click, built by them but not sent (`{"kind": "slash"|"click",
  ...their arguments}`): the load generator signs and sends it itself, from its own
  process, so this one only serves the Web API during the load;
- `GET /bench/feed?since=N&wait=S`: the Web API and response_url calls seen from index N
  on, as compact records with the fake's own clock (`at`, epoch seconds), waiting up to S
  seconds for one to come; `GET /bench/message?channel=&ts=`: one message as Slack shows it;
- `POST /bench/latency {"seconds": S}`: every Web API call answered S seconds late.

The first line on stdout is `READY <base url>`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import contextvars
import json
from typing import Any

from aiohttp import web

from bench.wire import serve
from bot.fakes.slack import FakeSlack
from bot.fakes.slack.transport import Kind

BENCH_USER = "U0B{:05d}"
CAPTURED: contextvars.ContextVar[list[dict[str, Any]] | None] = contextvars.ContextVar(
    "captured", default=None
)
# methods whose answer says what the call made: the channel's id, the message's ts
ANSWERED = ("conversations.create", "chat.postMessage")


class BenchSlack(FakeSlack):
    """The fake Slack whose humans never send (the load generator does) and whose calls
    are kept as a feed."""

    def __init__(self, users: int) -> None:
        super().__init__()
        self.feed: list[dict[str, Any]] = []
        self._changed = asyncio.Event()
        for i in range(users):
            self.add_user(BENCH_USER.format(i), f"bench{i}")
        self.group = self.add_usergroup("eng-managers", ["U0CAROL"])["id"]
        self.leadership = self.add_channel("leadership", members=list(self.users)).id

    def _routes(self) -> list[web.AbstractRouteDef]:
        return [
            *super()._routes(),
            web.get("/bench/info", self._info),
            web.post("/bench/prepare", self._prepare),
            web.get("/bench/feed", self._feed),
            web.get("/bench/message", self._message),
            web.post("/bench/latency", self._latency),
        ]

    async def _deliver(
        self, kind: Kind, payload: dict[str, Any], *, retry_num: int | None = None
    ) -> tuple[int, str]:
        captured = CAPTURED.get()
        if captured is not None:
            captured.append(payload)
        return 200, ""

    # -- observation ---------------------------------------------------------------------
    async def _handle_api(self, request: web.Request) -> web.Response:
        response = await super()._handle_api(request)
        self._record(request.match_info["method"], response)
        return response

    async def _handle_response_url(self, request: web.Request) -> web.Response:
        response = await super()._handle_response_url(request)
        self._record("response_url", response, token=request.match_info["token"])
        return response

    def _record(self, method: str, response: web.Response, token: str | None = None) -> None:
        call = self.calls[-1]  # appended by the handler just now, with no await since
        args = call.args
        blocks = args.get("blocks") or []
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        entry: dict[str, Any] = {
            "m": method,
            "at": call.at,
            "ok": call.ok,
            "ch": args.get("channel"),
            "ts": args.get("ts") or args.get("timestamp"),
            "user": args.get("user"),
            "mk": blocks[0].get("block_id") if blocks else None,
            "text": str(args.get("text") or "")[:200],
        }
        if token is not None:
            entry["tok"] = token
        if method == "chat.update":
            entry["blocks"] = blocks
        if method in ANSWERED and call.ok and isinstance(response.body, bytes):
            answer = json.loads(response.body)
            entry["ans"] = {
                "channel": answer.get("channel"),
                "ts": answer.get("ts"),
            }
        self.feed.append(entry)
        self._changed.set()
        self._changed = asyncio.Event()

    async def _feed(self, request: web.Request) -> web.Response:
        since = int(request.query.get("since", 0))
        wait = float(request.query.get("wait", 0))
        if len(self.feed) <= since and wait > 0:
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), wait)
        return web.json_response({"next": len(self.feed), "calls": self.feed[since:]})

    async def _latency(self, request: web.Request) -> web.Response:
        self.latency = float((await request.json())["seconds"])
        return web.json_response({"ok": True})

    async def _message(self, request: web.Request) -> web.Response:
        m = self.message(request.query["channel"], request.query["ts"])
        if m is None:
            raise web.HTTPNotFound()
        return web.json_response(self.serialize_message(m))

    # -- what the humans would send ----------------------------------------------------------
    async def _prepare(self, request: web.Request) -> web.Response:
        spec = await request.json()
        captured: list[dict[str, Any]] = []
        CAPTURED.set(captured)
        try:
            if spec["kind"] == "slash":
                await self.slash_command(
                    spec["user"], spec["channel"], spec.get("command", "/incident"), spec["text"]
                )
            else:
                await self.click(
                    spec["user"],
                    spec["channel"],
                    spec["ts"],
                    spec["action_id"],
                    value=spec.get("value"),
                    block_id=spec.get("block_id"),
                )
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"payload": captured[0]})

    async def _info(self, _: web.Request) -> web.Response:
        general = self.channel_by_name("general")
        announce = self.channel_by_name("incidents")
        assert general is not None and announce is not None
        return web.json_response(
            {
                "api_url": self.api_url,
                "bot_token": self.bot_token,
                "signing_secret": self.signing_secret,
                "general": general.id,
                "announce": announce.id,
                "group": self.group,
                "leadership": self.leadership,
            }
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description="the fake Slack, for the bench")
    parser.add_argument("--users", type=int, default=1100)
    args = parser.parse_args()
    fake = BenchSlack(args.users)
    await serve(fake)


if __name__ == "__main__":
    asyncio.run(main())
