"""The real app on a real port, against the fake Slack (real HTTP) and a real Redis.

Waiting is on the app's settle signal (bot/core/activity.py), never on a wall-clock deadline:
`eventually(check)` re-checks whenever the bot or a fake starts or finishes work, and fails
at once when everything has settled (nothing running, nothing due) with `check` still
false; `settled()` returns when everything is idle, before a negative assertion ("nothing
more was posted"). HANG_GUARD only stops a test that hangs.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler

from bot.core import activity, guard
from bot.core.config import IncidentConfig, Settings
from bot.core.models import Incident
from bot.core.slack_transport import connect_socket_mode
from bot.fakes.pagerduty import FakePagerDuty
from bot.fakes.slack import FakeSlack, Message
from bot.sandbox import build_sandbox
from bot.sandbox.pagerduty_panel import FAKE_PAGERDUTY
from bot.sandbox.web import sandbox_feed
from bot.server import Bot, build
from tests.sandbox_process import free_port


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

    async def settled(self, *, until: float | None = None) -> None:
        """Until this bot, its fakes (and any other running in this process) are idle with
        nothing due now; with `until` (epoch seconds), also nothing due before then."""
        await settled(until=until)

    async def command(self, text: str, *, user: str = "U0ALICE", channel: str | None = None) -> Any:
        channel = channel or self.fake.channel_by_name("general").id  # type: ignore[union-attr]
        return await self.fake.slash_command(user, channel, "/incident", text)

    async def declare(self, text: str) -> Incident:
        """`/incident declare <text>`: the incident, once its new channel is stored on it."""
        known = set(self.fake.channels)
        await self.command(f"declare {text}")
        channel = await eventually(
            lambda: next(
                (
                    c
                    for c, ch in self.fake.channels.items()
                    if c not in known and ch.name.startswith("inc-")
                ),
                None,
            )
        )
        return await eventually(lambda: self.store.by_channel(channel))

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
        await self._undelivered()
        await self.runner.cleanup()

    async def stop(self) -> None:
        if self.socket_mode is not None:
            await self.socket_mode.close_async()
        await self._undelivered()
        await self.runner.cleanup()
        await self.fake.stop()
        if self.pd is not None:
            await self.pd.stop()

    async def _undelivered(self) -> None:
        # a webhook on its way when the server shuts down would wait out aiohttp's
        # shutdown timeout (a minute): let the fake PagerDuty deliver what it sends first
        if self.pd is not None:
            await self.pd.drain()


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
        # Slack drops an ack after 3 s: `python -m bench` measures ours; here that bound
        # would measure how loaded the machine is (tests of a missing ack set their own)
        fake.ack_timeout = HANG_GUARD
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
        # Redis's answer may wait on a starved CPU: the production 1 s would turn a loaded
        # test machine into "store unreachable" (tests of a silent Redis set their own)
        **{"redis_timeout": 5.0, **slack, **env},
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
        handler = await connect_socket_mode(
            bot.bolt, settings.slack_app_token, bot.services.activity
        )
    return Harness(fake=fake, bot=bot, url=url, runner=runner, pd=pd, socket_mode=handler)


HANG_GUARD = 60.0  # seconds; a settled app fails a wait at once, this only stops a hang
RECHECK = 0.25  # while work is under way, a missed wake-up costs at most this


async def eventually(
    check: Callable[[], Any],
    *,
    timeout: float = 5.0,  # noqa: ASYNC109
    settle: bool = True,
) -> Any:
    """Wait until `check()` returns something truthy (awaiting it if needed): the bot
    works after ack(), so effects land after the HTTP answer. Checks again whenever work
    starts or ends; fails as soon as everything has settled with `check()` still false and
    nothing is due within the hang guard. `settle=False`: the effect comes from outside this
    process (a real Alertmanager, a child process), so only the guard (at least `timeout`)
    ends the wait; with no app running in this process (only fakes), that holds anyway."""
    with _Watch(max(timeout, HANG_GUARD)) as watch:
        while True:
            since = await watch.begin()
            result = check()
            if asyncio.iscoroutine(result):
                result = await result
            if result:
                return result
            quiet, next_at = await _quiet(since) if settle else (False, None)
            if quiet and (next_at is None or next_at - time.time() > watch.left):
                raise AssertionError(
                    "condition still false and everything has settled "
                    "(nothing running, nothing due)"
                )
            if watch.left <= 0:
                raise AssertionError(f"condition not met in {watch.guard:.0f} s")
            await watch.pause(next_at if quiet else None, RECHECK if settle else 0.05)


async def settled(*, until: float | None = None) -> None:
    """Until every running bot and fake in this process is idle with nothing due now, or,
    with `until` (epoch seconds), with nothing due before then either (due-items, alert
    groups and jobs due earlier run first, at their time)."""
    with _Watch(HANG_GUARD) as watch:
        while True:
            quiet, next_at = await _quiet(await watch.begin())
            if quiet and (until is None or next_at is None or next_at > until):
                return
            if watch.left <= 0:
                raise AssertionError(f"did not settle in {watch.guard:.0f} s")
            await watch.pause(next_at if quiet else None, RECHECK)


class _Watch:
    """Rounds of looking at the activities, each after work started or ended."""

    def __init__(self, guard: float) -> None:
        self.guard = guard
        self._end = time.monotonic() + guard
        self._woken = asyncio.Event()
        self._unwatch: Callable[[], None] = lambda: None

    def __enter__(self) -> _Watch:
        self._unwatch = activity.watch(self._woken.set)
        return self

    def __exit__(self, *_: object) -> None:
        self._unwatch()

    @property
    def left(self) -> float:
        return self._end - time.monotonic()

    async def begin(self) -> int:
        """Let tasks created just now take their first step (where they start counting
        as work); the generation to compare against."""
        for _ in range(3):
            await asyncio.sleep(0)
        self._woken.clear()
        return activity.generation()

    async def pause(self, next_at: float | None, recheck: float) -> None:
        """Until work starts or ends; when all is quiet, until the next timed work is due
        (`next_at`), else at most `recheck` seconds (a wake-up missed costs no more)."""
        wait = recheck if next_at is None else max(0.0, next_at - time.time())
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(0.0, min(wait, self.left))):
                await self._woken.wait()


async def _quiet(since: int) -> tuple[bool, float | None]:
    """Whether every running activity has been idle since generation `since`, with
    nothing due now; and when the next timed work comes due."""
    parts = activity.running()
    if all(a.fake for a in parts) or any(a.working for a in parts):
        return False, None  # no app here (it runs in a child process), or work under way
    seen = await asyncio.gather(*(a.outlook() for a in parts))
    if activity.generation() != since or any(o.busy for o in seen):
        return False, None
    return True, min((o.next_at for o in seen if o.next_at is not None), default=None)


async def promtool_check(metrics: str) -> tuple[int, str]:
    """`promtool check metrics` on a /metrics body: its exit code and what it said (Debian's
    prometheus package ships promtool; tests/run.sh installs it)."""
    binary = shutil.which("promtool")
    assert binary, "promtool is not installed (tests/run.sh installs Debian's prometheus)"
    proc = await asyncio.create_subprocess_exec(
        binary,
        "check",
        "metrics",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    said, _ = await proc.communicate(metrics.encode())
    return proc.returncode or 0, said.decode()


async def metric(url: str, name: str, **labels: str) -> float:
    """A sample's value on the app's GET /metrics (0 while it has none)."""
    async with aiohttp.ClientSession() as http, http.get(f"{url}/metrics") as r:
        text = await r.text()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


@dataclass
class ServedSandbox:
    """The sandbox served in this process (`served_sandbox`), driven over HTTP as its page
    drives it: its fakes inside, waited on as the harness waits."""

    app: web.Application
    url: str
    http: aiohttp.ClientSession

    @property
    def slack(self) -> FakeSlack:
        return sandbox_feed(self.app).fake

    @property
    def pd(self) -> FakePagerDuty:
        return self.app[FAKE_PAGERDUTY]

    def channel(self, name: str) -> str:
        ch = self.slack.channel_by_name(name)
        assert ch is not None, f"no channel {name}"
        return ch.id

    async def declare(self, text: str) -> str:
        """`/incident declare <text>` typed in #general: the new incident channel's ID."""
        known = set(self.slack.channels)
        await self.compose(self.channel("general"), f"/incident declare {text}")
        return await eventually(
            lambda: next(
                (
                    c
                    for c, ch in self.slack.channels.items()
                    if c not in known and ch.name.startswith("inc-")
                ),
                None,
            )
        )

    async def appeared(self, part: str) -> str:
        """The ID of a channel whose name has `part`, once there is one."""
        return await eventually(
            lambda: next((c for c, ch in self.slack.channels.items() if part in ch.name), None)
        )

    async def post(self, path: str, body: dict[str, Any], *, status: int = 200) -> dict[str, Any]:
        """POST `body` to the page's route `path`: its JSON answer, sent with `status`."""
        async with self.http.post(self.url + path, json=body) as response:
            assert response.status == status, await response.text()
            return dict(await response.json())

    async def compose(self, channel: str, text: str, *, user: str = "U0ALICE") -> None:
        """`user` types `text` into `channel` (an ID) on the page, and the page took it."""
        body = {"user": user, "channel": channel, "text": text}
        assert await self.post("/sandbox/compose", body) == {"ok": True}


@contextlib.asynccontextmanager
async def served_sandbox(redis_url: str, config: IncidentConfig) -> AsyncIterator[ServedSandbox]:
    """The sandbox built in this process on the Redis at `redis_url` (without the start-up
    checks) and served on a free port, for tests that look inside (its fakes, its parts)."""
    port = free_port()
    app = build_sandbox(Settings(redis_url=redis_url, port=port), config, port=port)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
        async with aiohttp.ClientSession() as http:
            yield ServedSandbox(app, f"http://127.0.0.1:{port}", http)
    finally:
        await runner.cleanup()
