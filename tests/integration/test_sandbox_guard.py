"""The sandbox stays a sandbox: only this machine's browser gets in, and it never touches
a Redis that holds the bot's data.

Attacks over the wire against `python -m bot` started as a process: a DNS-rebinding page
(its own name in Host), a cross-site WebSocket, cross-site form POSTs; then a Redis that
holds production keys, which stops the start; then, sharing that Redis anyway (built
in-process), the sandbox's scheduler and alert worker run and leave every production key
as it was.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from redis.asyncio import Redis

from bot import reminders
from bot.core.config import IncidentConfig
from bot.core.models import DueItem, Incident, TimelineEntry
from bot.core.store import SANDBOX_PREFIX, Store
from bot.sandbox import SANDBOX_SERVICES
from bot.sandbox.alerts_panel import FIRE_ROUTE
from tests.integration.harness import eventually, served_sandbox
from tests.sandbox_process import ROOT, SandboxProcess, child_env, free_port

EVIL = "https://evil.example"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxProcess]:
    with SandboxProcess() as process:
        yield process


def local(sandbox: SandboxProcess) -> str:
    return f"http://localhost:{sandbox.port}"


async def general_id(http: aiohttp.ClientSession, sandbox: SandboxProcess) -> str:
    async with http.ws_connect(f"{local(sandbox)}/sandbox/ws", origin=local(sandbox)) as ws:
        snapshot: dict[str, Any] = await ws.receive_json(timeout=10)
    return str(next(c["id"] for c in snapshot["channels"] if c["name"] == "general"))


# ----------------------------------------------------------------------------- who gets in


@pytest.mark.parametrize(
    "path", ["/", "/static/app.js", "/sandbox/ws", "/fake/slack/api/auth.test", "/healthz"]
)
async def test_a_dns_rebinding_page_is_misdirected(sandbox: SandboxProcess, path: str) -> None:
    # evil.example resolves to 127.0.0.1 now: the browser reaches the port, naming evil.example
    async with aiohttp.ClientSession() as http:
        rebound = {"Host": f"evil.example:{sandbox.port}"}
        async with http.get(f"http://127.0.0.1:{sandbox.port}{path}", headers=rebound) as r:
            assert r.status == 421
            assert await r.json() == {
                "ok": False,
                "error": f"This sandbox answers only at http://localhost:{sandbox.port}/.",
            }
        async with http.get(f"{local(sandbox)}/", headers={"Host": "localhost"}) as r:
            assert r.status == 421  # the port is part of the name
        for name in ("localhost", "127.0.0.1"):
            async with http.get(f"http://{name}:{sandbox.port}/") as r:
                assert r.status == 200 and "Message" in await r.text()


async def test_a_rebinding_page_cannot_reach_the_fakes_or_act(sandbox: SandboxProcess) -> None:
    rebound = {"Host": f"evil.example:{sandbox.port}"}
    base = f"http://127.0.0.1:{sandbox.port}"
    async with aiohttp.ClientSession() as http:
        general = await general_id(http, sandbox)
        act = {"user": "U0ALICE", "channel": general, "text": "rebound"}
        for method, path, body in [
            ("POST", "/sandbox/compose", act),
            ("POST", "/fake/slack/api/conversations.list", {}),
            ("GET", "/fake/pagerduty/users", None),
            ("POST", "/fake/pagerduty/incidents", {}),
        ]:
            async with http.request(method, base + path, json=body, headers=rebound) as r:
                assert r.status == 421, path


async def test_a_cross_site_websocket_is_refused(sandbox: SandboxProcess) -> None:
    url = f"{local(sandbox)}/sandbox/ws"
    async with aiohttp.ClientSession() as http:
        for origin in (EVIL, f"http://localhost:{sandbox.port + 1}", "null"):
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(url, origin=origin)
            assert refused.value.status == 403, origin
        # the page's own origin (either name) gets the feed
        for origin in (local(sandbox), f"http://127.0.0.1:{sandbox.port}"):
            async with http.ws_connect(url, origin=origin) as ws:
                assert (await ws.receive_json(timeout=10))["type"] == "snapshot"


async def test_cross_site_form_posts_are_refused(sandbox: SandboxProcess) -> None:
    async with aiohttp.ClientSession() as http:
        general = await general_id(http, sandbox)
        attack = {"user": "U0ALICE", "channel": general, "text": "pwned by evil.example"}
        # <form enctype="text/plain"> smuggles a JSON body; urlencoded and multipart are
        # what other forms send
        smuggled = json.dumps(attack)
        forms = [
            ("text/plain", smuggled),
            ("application/x-www-form-urlencoded", smuggled),
            ("multipart/form-data; boundary=x", smuggled),
        ]
        async with http.ws_connect(f"{local(sandbox)}/sandbox/ws", origin=local(sandbox)) as ws:
            await ws.receive_json(timeout=10)  # the snapshot
            for content_type, body in forms:
                for origin, status in ((EVIL, 403), (None, 415)):
                    headers = {"Content-Type": content_type}
                    if origin:
                        headers["Origin"] = origin
                    async with http.post(
                        f"{local(sandbox)}/sandbox/compose", data=body, headers=headers
                    ) as r:
                        assert r.status == status, (content_type, origin)
                        assert (await r.json())["ok"] is False
            # JSON from another site: the Origin gives it away
            async with http.post(
                f"{local(sandbox)}/sandbox/compose", json=attack, headers={"Origin": EVIL}
            ) as r:
                assert r.status == 403
            # the panels' routes and the fake Slack's API are guarded alike
            for path, body in [
                (FIRE_ROUTE, json.dumps({"alert": "ServiceDown", "status": "firing"})),
                ("/fake/slack/api/chat.postMessage", f"channel={general}&text=pwned"),
            ]:
                async with http.post(
                    local(sandbox) + path,
                    data=body,
                    headers={"Origin": EVIL, "Content-Type": "application/x-www-form-urlencoded"},
                ) as r:
                    assert r.status == 403, path
            async with http.post(
                local(sandbox) + FIRE_ROUTE,
                data=json.dumps({"alert": "ServiceDown", "status": "firing"}),
                headers={"Content-Type": "text/plain"},
            ) as r:
                assert r.status == 415
            # the page's own JSON POST works, and is the first message the feed brings
            legit = {**attack, "text": "all clear from localhost"}
            async with http.post(
                f"{local(sandbox)}/sandbox/compose", json=legit, headers={"Origin": local(sandbox)}
            ) as r:
                assert r.status == 200 and await r.json() == {"ok": True}
            while True:
                event = await ws.receive_json(timeout=10)
                if event["type"] == "message":
                    break
            assert "all clear from localhost" in event["html"]


# ----------------------------------------------------------------------------- its Redis


async def plant_production(redis: Redis) -> str:
    """What a running bot leaves in its Redis: an open incident, its update reminder due
    now, an alert batch waiting for the workers."""
    store = Store(redis)
    now = time.time()
    incident = Incident(
        id="20240101-1", title="Checkout down", severity="SEV1", declared_by="U1", declared_at=now
    )
    await store.create(incident, TimelineEntry(at=now, actor="U1", kind="declared", text="x"))
    due = DueItem(
        id=f"{incident.id}|{reminders.DUE}|",
        kind=reminders.DUE,
        incident_id=incident.id,
        lane=reminders.LANE,
        token="t0",
        generation=0,
        due_at=now - 60,
    )
    await store.due_schedule(due)
    await store.alerts_consumer_group()
    await store.alerts_accept('{"alerts": []}')
    return incident.id


async def dump(url: str) -> dict[bytes, bytes]:
    """Every key's serialised value (DUMP: a stream's consumer groups and pending entries
    included), so a read by a consumer group or a claim shows as a change."""
    async with Redis.from_url(url) as raw:
        return {key: await raw.dump(key) async for key in raw.scan_iter()}


async def test_a_redis_holding_the_bots_data_stops_the_sandbox(redis_url: str) -> None:
    redis = Redis.from_url(redis_url, decode_responses=True)
    try:
        await plant_production(redis)
        before = await dump(redis_url)
        env = child_env(PORT=str(free_port()), REDIS_URL=redis_url)
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "bot", "sandbox"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 2 and done.stdout == ""
        (line,) = done.stderr.splitlines()
        assert line.startswith(
            f"Cannot start the sandbox: the Redis at {redis_url} holds data that is not the "
            "sandbox's (e.g. the key 'ir:"
        )
        assert line.endswith(
            "point REDIS_URL at an empty database (another db number), or unset it to use an "
            "embedded one."
        )
        assert await dump(redis_url) == before  # not one key written, not one read by a group
    finally:
        await redis.aclose()


CONFIG = IncidentConfig.model_validate(
    {"scheduler": {"tick": 0.1}, "alerts": {"update_every": 0.2}}
)


async def test_sharing_a_redis_anyway_the_sandbox_never_touches_the_bots_keys(
    redis_url: str,
) -> None:
    """Built in-process (no start-up check): the key prefix alone keeps it apart."""
    redis = Redis.from_url(redis_url, decode_responses=True)
    production = Store(redis)
    incident_id = await plant_production(redis)
    before = await dump(redis_url)
    try:
        async with served_sandbox(redis_url, CONFIG) as sandbox:
            services = sandbox.app[SANDBOX_SERVICES]
            scheduler = services.scheduler
            await sandbox.declare("SEV1 Ok")
            fire = {"alert": "ServiceDown", "status": "firing", "user": "U0ALICE"}
            assert (await sandbox.post(FIRE_ROUTE, fire))["ok"] is True
            await eventually(services.alerts.settled, timeout=10)

            # A probe due now: once the sandbox's scheduler has run it, every claim that would
            # have taken the (earlier due) production reminder has been made.
            ran = asyncio.Event()

            async def probe(item: DueItem) -> None:
                ran.set()

            scheduler.on("probe", probe)
            await scheduler.schedule("probe", "sandbox-probe", time.time(), generation=0)
            await asyncio.wait_for(ran.wait(), timeout=10)
            await scheduler.idle()

            (reminder,) = await production.due_pending(incident_id)
            assert reminder.kind == reminders.DUE and reminder.attempts == 0  # never claimed
            after = await dump(redis_url)
            assert {k: v for k, v in after.items() if k in before} == before
            made = set(after) - set(before)
            assert made and all(k.startswith(SANDBOX_PREFIX.encode()) for k in made), sorted(made)
            assert await Store(redis, prefix=SANDBOX_PREFIX).open_incidents()
            assert [i.title for i in await production.open_incidents()] == ["Checkout down"]
    finally:
        await redis.aclose()
