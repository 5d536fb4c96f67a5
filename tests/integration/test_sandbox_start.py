"""`python -m bot` in sandbox mode, as a process: its one line, its Redis, its exit.

No browser here: the page's own routes (/sandbox/ws, /sandbox/compose) play the user.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import aiohttp
from redis.asyncio import Redis

from bot.core.store import SANDBOX_PREFIX, Store
from tests.integration.harness import eventually
from tests.sandbox_process import ROOT, SandboxProcess, child_env, free_port


async def declare(sandbox: SandboxProcess, text: str) -> None:
    """Declare from #incidents the way the page does, as alice."""
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(sandbox.url + "sandbox/ws") as ws:
            snapshot: dict[str, Any] = await ws.receive_json(timeout=30)  # a hang guard
        incidents = next(c["id"] for c in snapshot["channels"] if c["name"] == "incidents")
        body = {"user": "U0ALICE", "channel": incidents, "text": f"/incident declare {text}"}
        async with http.post(sandbox.url + "sandbox/compose", json=body) as res:
            assert await res.json() == {"ok": True}


async def test_no_tokens_means_the_sandbox_on_an_embedded_redis(redis_url: str) -> None:
    with SandboxProcess() as sandbox:
        assert sandbox.line == (
            f"Incident bot sandbox: open http://localhost:{sandbox.port}/ · listening on "
            "127.0.0.1 only · state in an embedded Redis, lost on exit (set REDIS_URL to keep it)"
        )
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{sandbox.port}/") as page,
        ):
            assert page.status == 200 and "Message" in await page.text()
        await declare(sandbox, "SEV3 Embedded only")
        assert sandbox.proc.poll() is None
    assert sandbox.returncode == 0  # Ctrl-C is a clean stop, not a traceback
    assert "Traceback" not in sandbox.log_text
    # the session's real Redis was never touched
    redis = Redis.from_url(redis_url, decode_responses=True)
    assert await redis.dbsize() == 0
    await redis.aclose()


async def test_forced_sandbox_with_tokens_uses_the_explicit_redis(redis_url: str) -> None:
    env = {
        "SLACK_BOT_TOKEN": "xoxb-would-be-real",
        "SLACK_SIGNING_SECRET": "would-be-real",
        "REDIS_URL": redis_url,
    }
    redis = Redis.from_url(redis_url, decode_responses=True)
    store = Store(redis, prefix=SANDBOX_PREFIX)
    try:
        with SandboxProcess("sandbox", env=env) as sandbox:
            assert sandbox.line == (
                f"Incident bot sandbox: open http://localhost:{sandbox.port}/ · listening on "
                f"127.0.0.1 only · state in the Redis at {redis_url}"
            )
            await declare(sandbox, "SEV2 Kept in Redis")
            # Ctrl-C the moment it is recorded: its set-up is under way, against the fake
            # Slack this very process serves
            (incident,) = await eventually(store.recent_incidents, settle=False)  # a child
        assert sandbox.returncode == 0
        # the state outlives the process: it was in the real Redis all along, under the
        # sandbox's own prefix
        kept = await store.get(incident.id)
        assert kept is not None and kept.title == "Kept in Redis" and kept.severity == "SEV2"
        # and the stop let the set-up finish instead of cutting it off from its Slack
        assert kept.setup_missing == [] and kept.setup_errors == {}, kept
        assert all(key.startswith(SANDBOX_PREFIX) for key in await redis.keys())
        # the db is the sandbox's now (it claimed it empty): a restart uses it again
        with SandboxProcess("sandbox", env=env) as again:
            assert again.line.endswith(f"state in the Redis at {redis_url}")
            assert [i.id for i in await store.recent_incidents()] == [incident.id]
    finally:
        await redis.aclose()


def test_an_explicit_redis_that_does_not_answer_stops_the_start() -> None:
    env = child_env(PORT=str(free_port()), REDIS_URL=f"redis://:hunter2@127.0.0.1:{free_port()}/0")
    done = subprocess.run(
        [sys.executable, "-m", "bot"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("Cannot start the sandbox: the Redis at redis://:***@127.0.0.1:")
    assert "does not answer" in done.stderr and "hunter2" not in done.stderr
