"""The local sandbox: the real bot, an in-process fake Slack (and PagerDuty), one port.

Everything runs in this process on 127.0.0.1:$PORT: the bot's own routes, the fake
Slack Web API under /fake/slack/, and the Slack-like page at /. The page's actions
reach the bot as real signed Slack requests, so the sandbox exercises the same code
path as production. State lives in an embedded fakeredis unless REDIS_URL is set.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import signal

from aiohttp.web import Application, AppRunner, TCPSite
from redis.asyncio import Redis

from bot.config import IncidentConfig, Settings
from bot.fakes.slack import FakeSlack

# (bot.sandbox.web shadows the name `web` in this package: aiohttp's names are imported)
from bot.sandbox.web import mount_sandbox_ui
from bot.server import build, connect_redis

log = logging.getLogger(__name__)

SANDBOX_HOST = "127.0.0.1"


def sandbox_redis(settings: Settings) -> Redis:
    """A real Redis only when REDIS_URL is set explicitly; else an embedded one."""
    if "REDIS_URL" in os.environ:
        return connect_redis(settings)
    import fakeredis

    return fakeredis.FakeAsyncRedis(decode_responses=True)


def redis_note(settings: Settings) -> str:
    if "REDIS_URL" in os.environ:
        return f"Redis at {settings.redis_url}"
    return "an embedded in-memory Redis: state is lost on exit (set REDIS_URL to keep it)"


def build_sandbox(settings: Settings, config: IncidentConfig, *, port: int) -> Application:
    base = f"http://{SANDBOX_HOST}:{port}"
    token = "xoxb-sandbox-" + secrets.token_hex(8)
    secret = secrets.token_hex(16)
    fake = FakeSlack(bot_token=token, signing_secret=secret, app_url=f"{base}/slack/events")
    redis = sandbox_redis(settings)
    bot_settings = settings.model_copy(
        update={
            "slack_bot_token": token,
            "slack_signing_secret": secret,
            "slack_app_token": None,
            "slack_api_url": f"{base}/fake/slack/api/",
        }
    )
    bot = build(bot_settings, config, redis=redis)
    fake.mount(bot.web, "/fake/slack/", f"{base}/fake/slack/")
    mount_sandbox_ui(bot.web, fake)
    return bot.web


async def run_sandbox(settings: Settings, config: IncidentConfig) -> None:
    port = settings.port
    app = build_sandbox(settings, config, port=port)
    runner = AppRunner(app)
    await runner.setup()
    await TCPSite(runner, SANDBOX_HOST, port).start()
    print(f"Incident bot sandbox: open http://localhost:{port}/", flush=True)
    log.info(
        "sandbox: fake Slack in this process, listening on 127.0.0.1 only; state in %s",
        redis_note(settings),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
