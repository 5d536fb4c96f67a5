"""The real app on a real port, against the fake Slack (real HTTP) and a real Redis."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler

from bot import guard
from bot.config import IncidentConfig, Settings
from bot.fakes.pagerduty import FakePagerDuty
from bot.fakes.slack import FakeSlack, Message
from bot.models import Incident
from bot.server import Bot, build
from bot.slack_transport import connect_socket_mode


@dataclass
class Harness:
    fake: FakeSlack
    bot: Bot
    url: str
    runner: web.AppRunner
    pd: FakePagerDuty | None = None  # with start(..., pagerduty=...)
    socket_mode: AsyncSocketModeHandler | None = None  # with start(..., socket_mode=True)

    @property
    def store(self) -> Any:
        return self.bot.services.store

    async def command(self, text: str, *, user: str = "U0ALICE", channel: str | None = None) -> Any:
        channel = channel or self.fake.channel_by_name("general").id  # type: ignore[union-attr]
        return await self.fake.slash_command(user, channel, "/incident", text)

    def channel(self, name: str) -> str:
        ch = self.fake.channel_by_name(name)
        assert ch is not None, f"no channel {name}"
        return ch.id

    def ephemerals(self, user: str = "U0ALICE") -> list[Message]:
        return [m for msgs in self.fake.messages.values() for m in msgs if m.ephemeral_to == user]

    async def incident(self, incident_id: str) -> Incident:
        incident = await self.store.get(incident_id)
        assert incident is not None
        return incident

    async def stop_bot(self) -> None:
        """Stop only the bot (its due-items stay in Redis); the fakes keep serving, so
        `start(..., fake=h.fake)` brings up a new bot against the same workspace."""
        if self.socket_mode is not None:
            await self.socket_mode.close_async()
        await self.runner.cleanup()

    async def stop(self) -> None:
        if self.socket_mode is not None:
            await self.socket_mode.close_async()
        await self.runner.cleanup()
        await self.fake.stop()
        if self.pd is not None:
            await self.pd.stop()


async def start(
    redis_url: str,
    config: IncidentConfig | None = None,
    *,
    pagerduty: FakePagerDuty | bool = False,
    fake: FakeSlack | None = None,
    socket_mode: bool = False,
    **env: Any,
) -> Harness:
    """`pagerduty=True` (or a FakePagerDuty of the test's own) also serves a fake PagerDuty
    and points the bot's PAGERDUTY_* settings at it; its webhooks go to the bot. `fake`:
    a running FakeSlack to use (e.g. a restarted bot's workspace) instead of a new one.
    `socket_mode=True`: SLACK_APP_TOKEN set and no signing secret, the bot connected as
    `serve()` connects it, and the fake's humans speaking over the WebSocket."""
    if fake is None:
        fake = FakeSlack()
        await fake.start()
    pd = FakePagerDuty(webhook_secret="whsec-test") if pagerduty is True else pagerduty or None
    if pd is not None:
        if not pd.base_url:
            await pd.start()
        env = {
            "pagerduty_api_key": pd.api_key,
            "pagerduty_api_url": pd.api_url,
            "pagerduty_events_url": pd.events_url,
            "pagerduty_from_email": "alice@example.com",
            "pagerduty_webhook_secret": pd.webhook_secret or "whsec-test",
            **env,
        }
        pd.webhook_secret = env["pagerduty_webhook_secret"]
    slack: dict[str, Any] = {"slack_signing_secret": fake.signing_secret}
    if socket_mode:
        slack = {"slack_signing_secret": None, "slack_app_token": fake.app_token}
    settings = Settings(
        slack_bot_token=fake.bot_token,
        slack_api_url=fake.api_url,
        redis_url=redis_url,
        **{**slack, **env},
    )
    bot = build(settings, config or IncidentConfig())
    # the production front door: read timeouts, body caps
    runner = guard.runner(bot.web, settings, registry=bot.services.metrics.registry)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    url = f"http://127.0.0.1:{port}"
    fake.app_url = f"{url}/slack/events"
    if pd is not None:
        pd.webhook_url = f"{url}/webhooks/pagerduty"
    handler = None
    if settings.slack_app_token:
        fake.transport = "socket"
        handler = await connect_socket_mode(bot.bolt, settings.slack_app_token)
    return Harness(fake=fake, bot=bot, url=url, runner=runner, pd=pd, socket_mode=handler)


async def eventually(check: Callable[[], Any], *, timeout: float = 5.0) -> Any:  # noqa: ASYNC109
    """Wait until `check()` returns something truthy (awaiting it if needed): the bot
    works after ack(), so effects land shortly after the HTTP answer."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


async def metric(url: str, name: str, **labels: str) -> float:
    """A sample's value on the app's GET /metrics (0 while it has none)."""
    async with aiohttp.ClientSession() as http, http.get(f"{url}/metrics") as r:
        text = await r.text()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0
