"""What the bench's processes share: a fake's serving as a process of its own; and for the
load generator, Slack's request signing, sending a request as Slack does, the fake
Slack's feed of calls, a process's CPU time and RSS from /proc, Redis's command counts,
and percentiles."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import hmac
import json
import math
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote_plus, urlencode

import aiohttp
import redis.asyncio as aioredis

TICK = os.sysconf("SC_CLK_TCK")


class Fake(Protocol):
    async def start(self, host: str = ..., port: int = ...) -> str: ...
    async def stop(self) -> None: ...


async def serve(fake: Fake) -> None:
    """Serve a fake on a free port until the process is stopped; the first line on stdout
    is `READY <its base url>`."""
    url = await fake.start()
    print(f"READY {url}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await fake.stop()


def p99(values: Sequence[float]) -> float:
    """The 99th percentile (nearest rank); nan for no values."""
    return percentile(values, 99)


def percentile(values: Sequence[float], p: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


# -- sending as Slack does ------------------------------------------------------------------


def signed(secret: str, body: bytes) -> dict[str, str]:
    """Slack's signature headers for body, as of now."""
    ts = str(int(time.time()))
    digest = hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


def interaction_body(payload: dict[str, Any]) -> bytes:
    """`payload=<JSON>` form-encoded, byte for byte as urlencode() writes it, with the
    encoding of each large field (the message a click carries, its state) reused while
    it is the same: urllib's quoting is a Python loop per byte, and at 50 clicks at once
    on a 60-step checklist it took more of the machine's CPU than the bot's decoding.
    (json.dumps of an object is its fields' dumps between `{`, `, ` and `}`.)"""
    fields = []
    for key, value in payload.items():
        dumped = json.dumps(value)
        quoted = _quoted(dumped) if len(dumped) > 1000 else quote_plus(dumped)
        fields.append(quote_plus(f"{json.dumps(key)}: ") + quoted)
    return f"payload=%7B{'%2C+'.join(fields)}%7D".encode()


@functools.lru_cache(maxsize=16)
def _quoted(text: str) -> str:
    return quote_plus(text)


@dataclass
class Sent:
    at: float  # epoch seconds, when the request went
    ack: float  # seconds until the answer
    status: int


async def send_slack(
    http: aiohttp.ClientSession, url: str, secret: str, payload: dict[str, Any]
) -> Sent:
    """POST what Slack sends for a slash command (its fields) or an interaction (a payload
    with `type`), signed; how long the ack took."""
    body = interaction_body(payload) if "type" in payload else urlencode(payload).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded", **signed(secret, body)}
    at, began = time.time(), time.perf_counter()
    async with http.post(url, data=body, headers=headers) as r:
        await r.read()
        return Sent(at, time.perf_counter() - began, r.status)


async def burst(
    http: aiohttp.ClientSession,
    url: str,
    secret: str,
    payloads: Sequence[dict[str, Any]],
    concurrency: int,
) -> list[Sent]:
    """Send every payload, `concurrency` at a time; in the payloads' order."""
    gate = asyncio.Semaphore(concurrency)

    async def one(payload: dict[str, Any]) -> Sent:
        async with gate:
            return await send_slack(http, url, secret, payload)

    return await asyncio.gather(*(one(p) for p in payloads))


# -- what the fake Slack saw ---------------------------------------------------------------


@dataclass
class Feed:
    """The fake Slack's calls as they come (bench/slack_process.py's `/bench/feed`, long
    polled), indexed the ways the bench looks them up. Times are the fake's (`at`)."""

    http: aiohttp.ClientSession
    base: str
    calls: list[dict[str, Any]] = field(default_factory=list)
    channels: dict[str, str] = field(default_factory=dict)  # made: title slug -> id
    cards: dict[str, str] = field(default_factory=dict)  # channel -> incident (card marker)
    pins: dict[str, float] = field(default_factory=dict)  # channel -> first pins.add
    marked: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # marker -> posts
    told: dict[str, float] = field(default_factory=dict)  # response token / user -> "Declared"
    updates: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        while True:
            async with self.http.get(
                f"{self.base}bench/feed", params={"since": len(self.calls), "wait": 5}
            ) as r:
                got = await r.json()
            for call in got["calls"]:
                self._index(call)
            self.calls.extend(got["calls"])
            if got["calls"]:
                self._changed.set()
                self._changed = asyncio.Event()

    def _index(self, c: dict[str, Any]) -> None:
        method, at = c["m"], c["at"]
        if not c["ok"]:
            return
        if method == "conversations.create":
            channel = (c.get("ans") or {}).get("channel") or {}
            slug = SLUG.search(str(channel.get("name", "")))
            if slug is not None:
                self.channels.setdefault(slug.group(0), str(channel.get("id")))
        elif method == "pins.add":
            self.pins.setdefault(c["ch"], at)
        elif method == "chat.postMessage" and c.get("mk"):
            answer = c.get("ans") or {}
            post = {"at": at, "channel": answer.get("channel"), "ts": answer.get("ts")}
            self.marked.setdefault(c["mk"], []).append(post)
            if str(c["mk"]).startswith("card:") and post["channel"]:
                self.cards.setdefault(post["channel"], c["mk"].removeprefix("card:"))
        elif method in ("response_url", "chat.postEphemeral") and "Declared" in c["text"]:
            self.told.setdefault(c.get("tok") or f"{c['ch']}/{c['user']}", at)
        elif method == "chat.update":
            self.updates.setdefault((c["ch"], c["ts"]), []).append(c)

    async def until(self, check: Callable[[], bool], timeout: float) -> bool:  # noqa: ASYNC109
        """Wait until check() holds (looked at whenever new calls came); False at timeout.
        A bench's bound on a wait for another process, not a test's synchronisation."""
        deadline = time.monotonic() + timeout
        while not check():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), min(left, 1.0))
        return True


# the bench's incident titles are `Bench <tag> <5 digits>`: their channels' names carry this
SLUG = re.compile(r"bench-[a-z0-9]+-\d{5}")


# -- reading the processes -----------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """The process's user + system CPU time, all its threads."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return math.nan


async def command_counts(r: aioredis.Redis) -> Counter[str]:
    """Redis's calls per command so far (INFO commandstats), INFO itself left out."""
    stats = await r.info("commandstats")
    counts: Counter[str] = Counter()
    for name, value in stats.items():
        command = name.removeprefix("cmdstat_")
        if command != "info":
            counts[command] = int(value["calls"])
    return counts


async def quiet(pid: int, idle_cpu: float, *, limit: float = 60.0) -> None:
    """Until the process's CPU use falls back to about its idle rate (`idle_cpu`, CPU
    seconds a second) over half a second: its work after the answers is done."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        before = cpu_seconds(pid)
        await asyncio.sleep(0.5)  # a sampling interval of the bench's own measurement
        if cpu_seconds(pid) - before <= max(2 * idle_cpu * 0.5, 2 / TICK):
            return
