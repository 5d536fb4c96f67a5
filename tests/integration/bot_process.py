"""One `python -m bot` serving HTTP against a fake Slack started by the test, on the
session's redis-server: for tests of what only a real process shows (a kill, several
replicas, its log). Its settle signal is in its own process: waits on it end on the hang
guard (settle=False)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import IO

import aiohttp

from bot.fakes.slack import FakeSlack
from tests.integration.harness import eventually
from tests.sandbox_process import ROOT, child_env, free_port


class BotProcess:
    """One `python -m bot` serving HTTP against the fake Slack."""

    def __init__(
        self,
        fake: FakeSlack,
        redis_url: str,
        config: Path,
        *,
        log: IO[bytes] | None = None,  # its stderr; else this process's
        **env: str,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = child_env(
            **{
                "SLACK_BOT_TOKEN": fake.bot_token,
                "SLACK_SIGNING_SECRET": fake.signing_secret,
                "SLACK_API_URL": fake.api_url,
                "REDIS_URL": redis_url,
                "INCIDENT_CONFIG": str(config),
                "PORT": str(self.port),
                "HOST": "127.0.0.1",
                "LOG_LEVEL": "WARNING",
                **env,
            }
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot"], cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stderr=log
        )

    async def ready(self) -> None:
        async def up() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"the bot exited with {self.proc.returncode}")
            try:
                async with aiohttp.ClientSession() as http, http.get(f"{self.url}/readyz") as r:
                    return r.status == 200
            except aiohttp.ClientError:
                return False

        await eventually(up, settle=False)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
