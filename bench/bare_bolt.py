"""A bare slack-bolt app that only acks `/incident`, as a process of its own: the
baseline of the bench's ack ratio (`python -m bench.bare_bolt`; SLACK_BOT_TOKEN,
SLACK_SIGNING_SECRET, SLACK_API_URL and PORT from the environment, as the bot takes them).
The first line on stdout is `READY <events url>`."""

from __future__ import annotations

import asyncio
import os

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient


def app() -> web.Application:
    # popped: Bolt would take it from the environment too, beside the client
    token = os.environ.pop("SLACK_BOT_TOKEN")
    client = AsyncWebClient(token=token, base_url=os.environ["SLACK_API_URL"])
    bolt = AsyncApp(client=client, signing_secret=os.environ["SLACK_SIGNING_SECRET"])

    @bolt.command("/incident")
    async def only_ack(ack: AsyncAck) -> None:
        await ack()

    async def events(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await bolt.async_dispatch(await to_bolt_request(request)))

    web_app = web.Application()
    web_app.router.add_post("/slack/events", events)
    return web_app


async def main() -> None:
    runner = web.AppRunner(app(), access_log=None)
    await runner.setup()
    port = int(os.environ["PORT"])
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print(f"READY http://127.0.0.1:{port}/slack/events", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
