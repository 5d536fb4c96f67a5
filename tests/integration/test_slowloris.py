"""Slowloris: connections that send part of a request and stall. They are closed after the
read timeout, they cannot starve /healthz or a signed slash command, a flood of them costs
a log line a minute rather than one each, and running out of file descriptors is neither
the default nor the end of the bot.

The in-process tests run the app behind the same front door as production (bot/core/guard.py,
via the harness); the file-descriptor tests run `python -m bot` as a child process with a
low RLIMIT_NOFILE, against the fake Slack served from this test's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import resource
import sys
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from bot.fakes.slack import FakeSlack
from tests.integration import raw_http
from tests.integration.harness import Harness, eventually, start
from tests.sandbox_process import ROOT, child_env, free_port

TOKEN = "am-slowloris-token"
SECRET = "whsec-slowloris"

# every way to stall: before the request line ends, inside the headers, inside a body
STALLS: dict[str, bytes] = {
    "silent": b"",
    "request line": b"POST /slack/ev",
    "headers": b"POST /slack/events HTTP/1.1\r\nHost: bot\r\nX-Slack-Signature: v0=",
    # signature headers that look right (a fresh timestamp): the body must be read to tell
    "slack body": b"POST /slack/events HTTP/1.1\r\nHost: bot\r\nContent-Length: 400\r\n"
    b"X-Slack-Request-Timestamp: {now}\r\nX-Slack-Signature: v0=" + b"0" * 64 + b"\r\n"
    b"Content-Type: application/x-www-form-urlencoded\r\n\r\ntoken=abc&team_id=T0",
    "pagerduty body": b"POST /webhooks/pagerduty HTTP/1.1\r\nHost: bot\r\nContent-Length: 400"
    b"\r\nX-PagerDuty-Signature: v1=00\r\n\r\n" + b'{"event": {"id": ',
    "alertmanager body": b"POST /alerts/alertmanager HTTP/1.1\r\nHost: bot\r\nContent-Length: 400"
    b"\r\nAuthorization: Bearer " + TOKEN.encode() + b'\r\n\r\n{"version": ',
}
BODY_STALLS = [kind for kind in STALLS if kind.endswith("body")]
ROUTES_ON = {"alertmanager_token": TOKEN, "pagerduty_webhook_secret": SECRET}
IN_FLIGHT = "incident_bot_http_unauthenticated_requests_in_flight"


class Stall:
    """One attacker connection: opened, sent its part, stalled."""

    def __init__(self, kind: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.kind, self.reader, self.writer = kind, reader, writer

    @classmethod
    async def open(cls, url: str, kind: str) -> Stall:
        reader, writer = await asyncio.open_connection(*raw_http.address(url))
        writer.write(STALLS[kind].replace(b"{now}", str(int(time.time())).encode()))
        await writer.drain()
        return cls(kind, reader, writer)

    async def until_closed(self) -> bytes:
        """Everything the server sends until it closes the connection."""
        return await self.reader.read()

    def close(self) -> None:
        self.writer.close()


async def open_stalls(url: str, each: int) -> list[Stall]:
    return [await Stall.open(url, kind) for kind in STALLS for _ in range(each)]


async def metric(h_url: str, name: str) -> float:
    async with aiohttp.ClientSession() as http, http.get(f"{h_url}/metrics") as r:
        text = await r.text()
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


async def healthz(url: str) -> int:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/healthz") as r:
        return r.status


async def declared(h: Harness, title: str) -> Any:
    """Declare over the fake Slack's signed slash command; the incident's channel."""
    ack = await h.command(f"declare SEV2 {title}")
    assert ack.status == 200
    slug = title.lower().split()[0]
    return await eventually(
        lambda: next((c for c in h.fake.channels.values() if slug in c.name), None)
    )


async def test_300_stalled_connections_leave_healthz_and_slash_commands_answering(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    # a read timeout far longer than the test: the stalls are surely still open at its end
    h = await start(redis_url, http_read_timeout=300, **ROUTES_ON)
    try:
        stalls = await open_stalls(h.url, each=50)
        assert len(stalls) == 300
        # the server holds every one of them: the body stalls are counted as in flight
        await eventually(lambda: _equals(metric(h.url, IN_FLIGHT), 150.0), timeout=20)
        assert await healthz(h.url) == 200
        assert await declared(h, "Checkout failing under load")
        # and all 300 are still open, none answered: this was no race with the timeout
        assert len(h.runner.server.connections) >= 300  # type: ignore[union-attr]
        assert await metric(h.url, IN_FLIGHT) == 150.0
        # the attacker hangs up: the half-read requests end quietly
        for stall in stalls:
            stall.close()
        await eventually(lambda: _equals(metric(h.url, IN_FLIGHT), 0.0), timeout=20)
    finally:
        await h.stop()
    assert front_door_lines(caplog.records) == []


def front_door_lines(records: list[logging.LogRecord]) -> list[tuple[str, str]]:
    """What the front door and aiohttp's server logged; and that nothing had a traceback."""
    assert not [r for r in records if r.exc_info and r.name.startswith(("aiohttp", "bot"))]
    front = [r for r in records if r.name.startswith(("bot.core.guard", "aiohttp.server"))]
    return [(r.name, r.getMessage()) for r in front]


async def _equals(value: Any, expected: float) -> bool:
    return await value == expected


async def test_stalled_connections_are_closed_after_the_read_timeout(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    h = await start(redis_url, http_read_timeout=0.5, **ROUTES_ON)
    try:
        stalls = await open_stalls(h.url, each=20)
        answers = await asyncio.gather(*(s.until_closed() for s in stalls))
        for stall, answer in zip(stalls, answers, strict=True):
            if stall.kind in BODY_STALLS:
                assert answer.startswith(b"HTTP/1.1 408 "), (stall.kind, answer[:80])
            else:  # no whole request: closed without a word
                assert answer == b"", (stall.kind, answer[:80])
        assert await metric(h.url, IN_FLIGHT) == 0.0
        assert await healthz(h.url) == 200
        assert await declared(h, "Search down after the flood")
    finally:
        await h.stop()
    # 120 stalls: one line for the 60 body timeouts, nothing for the rest, no traceback
    assert front_door_lines(caplog.records) == [
        ("bot.core.guard", "request bodies not sent within 0.5 s; closed")
    ]


@pytest.mark.parametrize("where", ["headers", "slack body"])
async def test_a_drip_fed_request_is_closed_too(redis_url: str, where: str) -> None:
    """One byte at a time keeps the connection busy but never finishes: the timeout counts
    from the start of the headers (or of the body), not from the last byte."""
    h = await start(redis_url, http_read_timeout=0.5)
    try:
        stall = await Stall.open(h.url, where)
        sent = 0
        while not stall.reader.at_eof() and sent < 2000:  # bounded: 2000 bytes, ~100 s
            try:
                stall.writer.write(b"a")
                await stall.writer.drain()
            except ConnectionError:
                break
            sent += 1
            # the attack's pace, and a turn for the reader to see the server's close
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stall.reader.read(1 << 16), 0.05)
        assert sent < 2000, "the server kept a drip-fed request open"
        stall.close()
    finally:
        await h.stop()


async def test_over_the_cap_a_partial_body_gets_503_and_whole_requests_still_pass(
    redis_url: str,
) -> None:
    h = await start(redis_url, http_read_timeout=300, http_max_unauthenticated=5)
    stalls: list[Stall] = []
    try:
        stalls = [await Stall.open(h.url, "slack body") for _ in range(5)]
        await eventually(lambda: _equals(metric(h.url, IN_FLIGHT), 5.0))
        one_more = await Stall.open(h.url, "pagerduty body")
        answer = await one_more.until_closed()
        assert answer.startswith(b"HTTP/1.1 503 "), answer[:80]
        assert b"Retry-After: 1" in answer
        # a signed slash command arrives whole: it never waits for a slot
        assert await declared(h, "Payments degraded")
        assert await healthz(h.url) == 200
        assert await metric(h.url, 'incident_bot_http_requests_refused_total{reason="busy"}') == 1.0
    finally:
        for stall in stalls:
            stall.close()
        await h.stop()


# -- file descriptors: a child process with a low RLIMIT_NOFILE ----------------------------


class BotProcess:
    """`python -m bot` serving HTTP against a FakeSlack; its log lines kept as they come."""

    def __init__(self, fake: FakeSlack, redis_url: str, limits: tuple[int, int], **env: str):
        self.fake, self.limits = fake, limits
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = child_env(
            SLACK_BOT_TOKEN=fake.bot_token,
            SLACK_SIGNING_SECRET=fake.signing_secret,
            SLACK_API_URL=fake.api_url,
            REDIS_URL=redis_url,
            HOST="127.0.0.1",
            PORT=str(self.port),
            **env,
        )
        self.lines: list[str] = []
        self._serving = asyncio.Event()

    async def __aenter__(self) -> BotProcess:
        limits = self.limits
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            cwd=ROOT,
            env=self.env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, limits),
        )
        self._pump = asyncio.create_task(self._read_log())
        waiting = asyncio.create_task(self._serving.wait())
        await asyncio.wait([waiting, self._pump], return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        assert self._serving.is_set(), "the bot stopped before serving:\n" + "".join(self.lines)
        self.fake.app_url = f"{self.url}/slack/events"
        return self

    async def _read_log(self) -> None:
        assert self.proc.stderr is not None
        async for raw in self.proc.stderr:
            line = raw.decode(errors="replace")
            self.lines.append(line)
            if " serving " in line:
                self._serving.set()

    def records(self, has: str) -> list[str]:
        return [line for line in self.lines if has in line]

    async def __aexit__(self, *exc: object) -> None:
        self.proc.terminate()
        try:  # a bot stuck writing a flooded log may not get to its SIGTERM handler
            await asyncio.wait_for(self.proc.wait(), 10)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        await self._pump


def _hard_limit() -> int:
    return resource.getrlimit(resource.RLIMIT_NOFILE)[1]


async def _slash(fake: FakeSlack, text: str) -> int:
    general = fake.channel_by_name("general")
    assert general is not None
    return (await fake.slash_command("U0ALICE", general.id, "/incident", text)).status


def _channel(fake: FakeSlack, has: str) -> Callable[[], Any]:
    return lambda: next((c for c in fake.channels.values() if has in c.name), None)


@pytest.mark.skipif(_hard_limit() < 1024, reason="needs a hard RLIMIT_NOFILE of 1024 or more")
async def test_the_open_files_limit_is_raised_so_more_stalls_than_the_soft_limit_fit(
    fake: FakeSlack, redis_url: str
) -> None:
    soft = 256  # the soft limit the process is started with; 300 stalls are more
    async with BotProcess(fake, redis_url, (soft, _hard_limit()), HTTP_READ_TIMEOUT="300") as bot:
        assert bot.records(f"open files limit raised from={soft} to={_hard_limit()}")
        stalls = [await Stall.open(bot.url, "headers") for _ in range(300)]
        try:
            # all 300 accepted and held: the server's own fds exceed the soft limit
            def open_fds() -> int:
                return len(os.listdir(f"/proc/{bot.proc.pid}/fd"))

            await eventually(lambda: open_fds() > 300, timeout=20)
            assert await healthz(bot.url) == 200
            assert await _slash(fake, "declare SEV2 Login errors") == 200
            assert await eventually(_channel(fake, "login"))
        finally:
            for stall in stalls:
                stall.close()
    assert not bot.records("Too many open files")
    assert not bot.records("Traceback")


async def test_out_of_file_descriptors_the_log_says_so_once_and_the_bot_recovers(
    fake: FakeSlack, redis_url: str
) -> None:
    limit = 128  # soft and hard: the bot cannot raise it, 200 stalls exhaust it
    async with BotProcess(fake, redis_url, (limit, limit), HTTP_READ_TIMEOUT="1") as bot:
        # opened at once: one after another on a loaded machine, the first ones' read
        # timeouts could free descriptors before the last ones arrive
        stalls = list(
            await asyncio.gather(*(Stall.open(bot.url, "request line") for _ in range(200)))
        )
        # every one is closed by the server in the end, the ones that waited in the
        # listen backlog too (accepted once the first ones' timeouts freed descriptors)
        answers = await asyncio.gather(*(s.until_closed() for s in stalls))
        assert answers == [b""] * len(stalls)
        for stall in stalls:
            stall.close()
        assert await healthz(bot.url) == 200
        assert await _slash(fake, "declare SEV2 Queue backlog") == 200
        assert await eventually(_channel(fake, "queue"))
    accept = bot.records("cannot accept connections")
    assert len(accept) == 1, accept  # was: a traceback per failed accept, dozens a second
    assert "Too many open files" in accept[0]
    assert not bot.records("socket.accept() out of system resource")
    # a few lines in all (start-up, a background check that failed for want of a file
    # descriptor, the declaration), not one per connection
    records = [line for line in bot.lines if re.match(r"\d{4}-\d\d-\d\d ", line)]
    assert len(records) < 10, "".join(bot.lines)
