"""No secret from a URL reaches a reader: the doctor (over Slack and on the command line)
shows REDIS_URL without its password, in either form redis-py reads; /readyz says what is
wrong with Redis without saying where it is.

A real redis-server with `requirepass`, so the password is needed and works."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Iterator

import aiohttp
import pytest

from tests.conftest import RedisServer, free_port
from tests.integration.harness import eventually, start
from tests.sandbox_process import ROOT, child_env

PASSWORD = "s3cr3t-hunter2"


@pytest.fixture(scope="module")
def locked() -> Iterator[RedisServer]:
    server = RedisServer(password=PASSWORD)
    yield server
    server.stop()


def both_forms(server: RedisServer) -> dict[str, str]:
    where = f"127.0.0.1:{server.port}"
    return {
        "user:password@": f"redis://default:{PASSWORD}@{where}/0",
        "?password=": f"redis://{where}/0?password={PASSWORD}",
    }


FORMS = ["user:password@", "?password="]


@pytest.mark.parametrize("form", FORMS)
async def test_the_doctor_in_slack_shows_where_redis_is_but_not_its_password(
    locked: RedisServer, form: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    h = await start(both_forms(locked)[form])
    try:
        await h.command("doctor")
        [reply] = await eventually(lambda: [m for m in h.ephemerals() if "Set-up check" in m.text])
        shown = reply.text + str(reply.blocks)
        assert "reachable at redis://" in shown and f":{locked.port}/0" in shown  # where
        assert "***" in shown
        assert PASSWORD not in shown
    finally:
        await h.stop()
    assert not [r for r in caplog.records if PASSWORD in r.getMessage()]


async def _doctor_cli(redis_url: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "doctor",
        "--timeout",
        "2",
        cwd=ROOT,
        env=child_env(REDIS_URL=redis_url),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode()


@pytest.mark.parametrize("form", FORMS)
async def test_python_m_bot_doctor_shows_no_password(locked: RedisServer, form: str) -> None:
    _, out = await _doctor_cli(both_forms(locked)[form])
    assert "Redis: reachable at redis://" in out, out
    assert PASSWORD not in out


@pytest.mark.parametrize("form", FORMS)
async def test_an_unreachable_redis_is_reported_without_its_password(form: str) -> None:
    nowhere = f"127.0.0.1:{free_port()}"
    url = {
        "user:password@": f"redis://default:{PASSWORD}@{nowhere}/0",
        "?password=": f"redis://{nowhere}/0?password={PASSWORD}",
    }[form]
    code, out = await _doctor_cli(url)
    assert code == 1 and "cannot reach Redis at redis://" in out, out
    assert PASSWORD not in out


async def _readyz(url: str) -> tuple[int, dict[str, object]]:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/readyz") as r:
        return r.status, await r.json()


async def test_readyz_says_what_is_wrong_with_redis_but_never_where_it_is(
    locked: RedisServer,
) -> None:
    server = RedisServer()
    h = await start(server.url)
    try:
        assert await _readyz(h.url) == (200, {"ok": True})
        server.stop()
        # the whole answer: no host, no port (it used to be redis-py's "Error 111 connecting
        # to 127.0.0.1:<port>. Connection refused.")
        status, answer = await _readyz(h.url)
        assert (status, answer) == (503, {"ok": False, "reason": "redis: unreachable"})
    finally:
        await h.stop()

    wrong = f"redis://default:not-the-password@127.0.0.1:{locked.port}/0"
    h = await start(wrong)
    try:
        status, answer = await _readyz(h.url)
        assert (status, answer) == (503, {"ok": False, "reason": "redis: authentication failed"})
    finally:
        await h.stop()
